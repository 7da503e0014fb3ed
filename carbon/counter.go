package carbon

import "fmt"

// Counter events, as data_quality kinds (DESIGN.md).
const (
	EventRollover    = "rollover"    // the register wrapped; the interval was booked across the wrap
	EventGlitch      = "glitch"      // one read was off (a spurious 0, garbage) and was discarded
	EventReset       = "reset"       // the counter dropped and stayed down: reset or meter swap
	EventImplausible = "implausible" // the counter jumped further than the meter can count, and stayed
	EventSwap        = "swap"        // a declared meter replacement
)

// CounterSpec says what a meter's cumulative register can do.
type CounterSpec struct {
	// Wrap is the register's modulus in the reading's unit (2^32 × scale for a
	// uint32 register); 0 for a register that does not wrap (float32).
	Wrap float64
	// MaxRate is the most the meter can count per hour (rated power × 1.2, in
	// kWh/h for electricity); 0 disables the plausibility check.
	MaxRate float64
}

// CounterState is what the edge keeps per meter: the last accepted total and,
// after an unexpected drop or jump, the suspect sample that the next one will
// confirm or refute. It is a value, so that a store can persist it as is.
type CounterState struct {
	Last      float64 `json:"last"`
	LastTS    int64   `json:"last_ts"` // epoch ms; 0: no baseline yet
	Suspect   float64 `json:"suspect,omitempty"`
	SuspectTS int64   `json:"suspect_ts,omitempty"` // 0: none
}

// Step is the outcome of one sample.
type Step struct {
	HasDelta bool
	Delta    float64 // consumption over (Since, ts], in the reading's unit
	Since    int64
	Event    string // one of the Event kinds, or ""
	Message  string
}

// Observe feeds one sample of a cumulative register and returns the interval
// it closes. The rules (docs: ANCHORS F8, issue #4):
//   - a sample not newer than the last one (duplicate, out of order) is ignored;
//   - the first sample sets the baseline and books nothing;
//   - a rise within MaxRate is the interval's consumption;
//   - a drop near the top of a wrapping register is a rollover;
//   - any other drop, or a rise beyond MaxRate, makes the sample a suspect and
//     books nothing yet. The next sample decides: if it continues from the last
//     accepted total, the suspect was a glitch and the whole interval is booked;
//     if it continues from the suspect, the counter really was reset (or
//     jumped), the baseline moves to the suspect, and the energy between the
//     last total and the suspect — unknowable — is booked as 0 and reported.
//
// It never books a negative delta nor one above MaxRate.
func (s *CounterState) Observe(value float64, ts int64, spec CounterSpec) Step {
	if s.LastTS == 0 {
		s.Last, s.LastTS = value, ts
		return Step{}
	}
	if ts <= s.LastTS || (s.SuspectTS != 0 && ts <= s.SuspectTS) {
		return Step{}
	}
	if s.SuspectTS != 0 {
		return s.resolve(value, ts, spec)
	}
	if d, ok := spec.rise(s.Last, s.LastTS, value, ts); ok {
		step := Step{HasDelta: true, Delta: d, Since: s.LastTS}
		if value < s.Last {
			step.Event, step.Message = EventRollover, fmt.Sprintf("register wrapped from %v to %v", s.Last, value)
		}
		s.Last, s.LastTS = value, ts
		return step
	}
	s.Suspect, s.SuspectTS = value, ts
	return Step{}
}

// resolve decides a suspect sample with the sample after it.
func (s *CounterState) resolve(value float64, ts int64, spec CounterSpec) Step {
	suspect, suspectTS := s.Suspect, s.SuspectTS
	s.Suspect, s.SuspectTS = 0, 0
	if d, ok := spec.rise(s.Last, s.LastTS, value, ts); ok {
		step := Step{HasDelta: true, Delta: d, Since: s.LastTS, Event: EventGlitch,
			Message: fmt.Sprintf("read %v between %v and %v discarded", suspect, s.Last, value)}
		s.Last, s.LastTS = value, ts
		return step
	}
	if d, ok := spec.rise(suspect, suspectTS, value, ts); ok {
		kind := EventReset
		if suspect > s.Last {
			kind = EventImplausible
		}
		step := Step{HasDelta: true, Delta: d, Since: suspectTS, Event: kind,
			Message: fmt.Sprintf("counter went from %v to %v and continued at %v; the interval to %v is not booked", s.Last, suspect, value, suspect)}
		s.Last, s.LastTS = value, ts
		return step
	}
	// Neither: this one is the new suspect, still measured against the last good total.
	s.Suspect, s.SuspectTS = value, ts
	return Step{}
}

// rise is the consumption from (a, at) to (b, bt) if it is plausible.
func (spec CounterSpec) rise(a float64, at int64, b float64, bt int64) (float64, bool) {
	d := b - a
	if d < 0 {
		if spec.Wrap <= 0 || a < 0.9*spec.Wrap || b > 0.1*spec.Wrap {
			return 0, false
		}
		d = spec.Wrap - a + b
	}
	if spec.MaxRate > 0 && d > spec.MaxRate*float64(bt-at)/3.6e6 {
		return 0, false
	}
	return d, true
}

// Rebase declares a meter replacement or reset with the new meter's start
// value: the next sample is measured from it. Call it before that sample.
func (s *CounterState) Rebase(start float64, ts int64) Step {
	old := s.Last
	s.Last, s.LastTS, s.Suspect, s.SuspectTS = start, ts, 0, 0
	return Step{Event: EventSwap, Message: fmt.Sprintf("declared swap: old total %v, new start %v", old, start)}
}
