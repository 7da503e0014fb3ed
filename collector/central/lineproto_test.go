package central

import (
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/influxdata/influxdb-client-go/v2/api/write"

	"github.com/parkcarbon/parkcarbon/carbon"
	"github.com/parkcarbon/parkcarbon/internal/wire"
)

// AppendLines writes exactly what the client library writes for Points, over
// random envelopes: intervals crossing hours, factor changes, every energy,
// events, tiny and huge values.
func TestAppendLinesMatchesTheLibrary(t *testing.T) {
	contract := 0.3
	conv := Converter{Factors: carbon.DefaultTable(), Region: "CN-FJ",
		Overrides: map[string]*carbon.Override{"e-2": {ContractFactor: &contract, Source: "x"}}}
	rng := rand.New(rand.NewPCG(3, 4))
	energies := []string{"electricity", "gas", "water", "heat"}
	base := time.Date(2022, 12, 31, 22, 0, 0, 0, time.UTC).UnixMilli()
	for run := range 2000 {
		env := &wire.Envelope{V: 1, Gateway: "gw-1", Seq: uint64(run)}
		for i := range 1 + rng.IntN(5) {
			energy := energies[rng.IntN(4)]
			cum, _ := wire.CumulativeQuantity(energy)
			ts := base + rng.Int64N(4*3600_000)
			r := wire.Reading{Meter: "m-" + string(rune('a'+i)), Enterprise: []string{"e-1", "e-2"}[rng.IntN(2)], Energy: energy,
				Quantity: cum, Value: []float64{0, 1234.5, 1e-7, 3.4e12, rng.Float64() * 1e6}[rng.IntN(5)], Unit: "x", TS: ts}
			if rng.IntN(3) > 0 {
				d := rng.Float64() * []float64{1e-6, 1, 1e5}[rng.IntN(3)]
				r.Delta, r.Since = &d, ts-1-rng.Int64N(3*3600_000)
			}
			env.Readings = append(env.Readings, r)
		}
		if rng.IntN(4) == 0 {
			env.Events = append(env.Events, wire.Event{Meter: "m-a", Enterprise: "e-1", Kind: "reset", Value: 5,
				Message: `counter went from 9 to "0" \ back`, TS: base})
		}
		var want strings.Builder
		for _, p := range conv.Points(nil, env) {
			want.WriteString(write.PointToLineProtocol(p, time.Millisecond))
		}
		if got := string(conv.AppendLines(nil, env)); got != want.String() {
			t.Fatalf("run %d:\n got %s\nwant %s", run, got, want.String())
		}
	}
}

// No payload can add a line: newlines in a message become spaces.
func TestAppendLinesNewlineInMessage(t *testing.T) {
	conv := Converter{Factors: carbon.DefaultTable(), Region: "CN"}
	env := &wire.Envelope{V: 1, Gateway: "g", Events: []wire.Event{{Meter: "m", Enterprise: "e", Kind: "gap", Message: "a\nreading,meter=x value=1 1\n", TS: 5}}}
	out := string(conv.AppendLines(nil, env))
	if strings.Count(out, "\n") != 1 {
		t.Fatalf("%q", out)
	}
}

func BenchmarkAppendLines(b *testing.B) {
	conv := Converter{Factors: carbon.DefaultTable(), Region: "CN"}
	env := &wire.Envelope{V: 1, Gateway: "gw-01"}
	ts := time.Date(2026, 11, 26, 10, 0, 10, 0, time.UTC).UnixMilli()
	for i := range 50 {
		d := 0.42
		r := wire.Reading{Meter: "m-101", Enterprise: "ent-001", Energy: "electricity", Quantity: "energy_import_total", Value: 1234.5 + float64(i), Unit: "kWh", TS: ts}
		if i%2 == 0 {
			r.Delta, r.Since = &d, ts-10_000
		} else {
			r.Quantity = "active_power"
		}
		env.Readings = append(env.Readings, r)
	}
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		buf = conv.AppendLines(buf[:0], env)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/50, "ns/reading")
}

// Tag values reach AppendLines validated, but lpTag still escapes what line
// protocol would misread, and copies the rest as is.
func TestLPTagEscapes(t *testing.T) {
	for in, want := range map[string]string{
		"m-101":      `,k=m-101`,
		"a b,c=d":    `,k=a\ b\,c\=d`,
		"x\ny\rz\tw": `,k=x_y_z_w`,
		"":           `,k=`,
	} {
		if got := string(lpTag(nil, "k", in)); got != want {
			t.Errorf("lpTag(%q) = %s, want %s", in, got, want)
		}
	}
}
