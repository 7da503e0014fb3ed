package carbon

import (
	"math"
	"math/rand/v2"
	"testing"
)

const minute = 60_000 // ms

func TestCounterTable(t *testing.T) {
	type sample struct {
		v  float64
		ts int64
	}
	cases := []struct {
		name    string
		spec    CounterSpec
		samples []sample
		deltas  []float64 // per sample; NaN: no delta
		events  []string
	}{
		{"plain", CounterSpec{}, []sample{{100, 1}, {100.5, 2}, {100.5, 3}, {102, 4}},
			[]float64{nan, 0.5, 0, 1.5}, []string{"", "", "", ""}},
		{"uint32 rollover of 11", CounterSpec{Wrap: 4294967296}, []sample{{4294967290, 1}, {5, 2}},
			[]float64{nan, 11}, []string{"", EventRollover}},
		{"glitch 1000 0 1001", CounterSpec{}, []sample{{1000, 1}, {0, 2}, {1001, 3}},
			[]float64{nan, nan, 1}, []string{"", "", EventGlitch}},
		{"replacement 123456 12 15", CounterSpec{}, []sample{{123456, 1}, {12, 2}, {15, 3}},
			[]float64{nan, nan, 3}, []string{"", "", EventReset}},
		{"duplicate and out of order ignored", CounterSpec{}, []sample{{10, 5}, {11, 5}, {9, 4}, {12, 6}},
			[]float64{nan, nan, nan, 2}, []string{"", "", "", ""}},
		{"implausible spike is a glitch", CounterSpec{MaxRate: 100}, []sample{{10, minute}, {1e6, 2 * minute}, {11, 3 * minute}},
			[]float64{nan, nan, 1}, []string{"", "", EventGlitch}},
		{"implausible jump that stays", CounterSpec{MaxRate: 100}, []sample{{10, minute}, {1e6, 2 * minute}, {1e6 + 1, 3 * minute}},
			[]float64{nan, nan, 1}, []string{"", "", EventImplausible}},
		{"long gap keeps the whole delta", CounterSpec{MaxRate: 100}, []sample{{10, minute}, {500, 361 * minute}},
			[]float64{nan, 490}, []string{"", ""}},
		{"float32 near 2^24 quantized", CounterSpec{}, []sample{{16777216, 1}, {16777218, 2}, {16777218, 3}, {16777220, 4}},
			[]float64{nan, 2, 0, 2}, []string{"", "", "", ""}},
		{"scale 0.01 kWh", CounterSpec{Wrap: 4294967296 * 0.01}, []sample{{scaled(123456), 1}, {scaled(123457), 2}},
			[]float64{nan, scaled(123457) - scaled(123456)}, []string{"", ""}},
		{"two drops in a row: the later continues", CounterSpec{}, []sample{{100, 1}, {0, 2}, {5, 3}, {7, 4}},
			[]float64{nan, nan, 5, 2}, []string{"", "", EventReset, ""}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var s CounterState
			for i, smp := range c.samples {
				st := s.Observe(smp.v, smp.ts, c.spec)
				want := c.deltas[i]
				if math.IsNaN(want) != !st.HasDelta || (st.HasDelta && st.Delta != want) || st.Event != c.events[i] {
					t.Fatalf("sample %d (%v): got %+v, want delta %v event %q", i, smp.v, st, want, c.events[i])
				}
				if st.HasDelta && (st.Delta < 0 || st.Since >= smp.ts) {
					t.Fatalf("sample %d: bad interval %+v", i, st)
				}
			}
		})
	}
}

var nan = math.NaN()

// scaled is a uint32 register of 0.01 kWh as the decoder computes it.
func scaled(raw uint32) float64 { return float64(raw) * 0.01 }

func TestCounterDeclaredSwap(t *testing.T) {
	var s CounterState
	s.Observe(5000, 1, CounterSpec{})
	if st := s.Rebase(0, 2); st.Event != EventSwap {
		t.Fatal(st)
	}
	if st := s.Observe(3, 3, CounterSpec{}); !st.HasDelta || st.Delta != 3 || st.Event != "" {
		t.Fatal(st)
	}
}

// The property of issue #4: over random sequences with rollovers, resets,
// glitches, long gaps, duplicates and reordering, the deltas add up to the
// true consumption, except for the interval in which each reset happened
// (unknowable, booked 0), and no delta is ever negative or implausible.
func TestCounterProperty(t *testing.T) {
	const wrap = 1 << 32 // a uint32 Wh register, integer valued: sums are exact
	rng := rand.New(rand.NewPCG(1, 2))
	for run := range 10000 {
		spec := CounterSpec{Wrap: wrap, MaxRate: 50_000 * 1.2} // 50 kW rated, in Wh/h
		var s CounterState
		counter := float64(rng.Uint64N(wrap))
		ts := int64(1_000_000)
		s.Observe(counter, ts, spec) // the baseline
		var booked, truth, lostToResets float64
		prevOK, prevReset := false, false
		var lastSent [2]float64 // for duplicates/reordering
		var lastSentTS [2]int64
		for range 200 {
			gap := int64(10_000)
			if rng.IntN(50) == 0 {
				gap *= int64(1 + rng.IntN(1000)) // a long outage
			}
			used := math.Floor(rng.Float64() * 40_000 * float64(gap) / 3.6e6) // up to 40 kW
			ts += gap
			// A reset to a small value looks like a rollover when the register
			// is near its top, and like a rise when it is near 0: real
			// ambiguities, kept out of the property.
			reset := rng.IntN(100) == 0 && counter > 0.1*wrap && counter < 0.9*wrap
			if reset {
				// The energy of this interval is unknowable: the meter restarts
				// from a small value (a swap to a meter with factory kWh).
				counter = float64(rng.IntN(1000))
				lostToResets += used
			} else {
				counter = math.Mod(counter+used, wrap)
			}
			truth += used
			afterReset := prevReset
			prevReset = reset
			// A glitch read between two good ones (never right after a reset:
			// two unknowns in a row cannot be told apart).
			if !reset && !afterReset && rng.IntN(30) == 0 {
				st := s.Observe([]float64{0, float64(rng.Uint64N(wrap))}[rng.IntN(2)], ts-gap/2, spec)
				booked += check(t, run, st, spec)
			}
			st := s.Observe(counter, ts, spec)
			booked += check(t, run, st, spec)
			if reset && st.HasDelta {
				t.Fatalf("run %d: booked %v across a reset", run, st.Delta)
			}
			// Replays: a duplicate or an older sample must change nothing.
			if prevOK && rng.IntN(10) == 0 {
				i := rng.IntN(2)
				booked += check(t, run, s.Observe(lastSent[i], lastSentTS[i], spec), spec)
			}
			lastSent[0], lastSentTS[0] = lastSent[1], lastSentTS[1]
			lastSent[1], lastSentTS[1] = counter, ts
			prevOK = true
		}
		// Integer Wh: exact. Only each reset's own interval is missing.
		if booked != truth-lostToResets {
			t.Fatalf("run %d: booked %v, truth %v, lost to resets %v", run, booked, truth, lostToResets)
		}
	}
}

func check(t *testing.T, run int, st Step, spec CounterSpec) float64 {
	t.Helper()

	if !st.HasDelta {
		return 0
	}
	if st.Delta < 0 || math.IsNaN(st.Delta) {
		t.Fatalf("run %d: delta %v", run, st.Delta)
	}
	return st.Delta
}

func BenchmarkCounterObserve(b *testing.B) {
	var s CounterState
	spec := CounterSpec{Wrap: 1 << 32, MaxRate: 60_000}
	v, ts := 1000.0, int64(1)
	b.ReportAllocs()
	for b.Loop() {
		v += 3
		ts += 10_000
		s.Observe(v, ts, spec)
	}
}
