package wire

// Envelope decode and encode as the collector and the edge agent do them,
// on the envelope size of issue 8's measurements (50 readings):
//
//	go test ./internal/wire -run '^$' -bench . -benchmem -count 3
//	GOEXPERIMENT=jsonv2 go test ./internal/wire -run '^$' -bench . -benchmem -count 3
//
// The second line measures the same code with encoding/json running on the
// json/v2 engine (Go 1.25+), and json/v2's own Unmarshal
// (wire_jsonv2_bench_test.go).

import (
	"fmt"
	"testing"
)

// benchEnvelope is n readings of one enterprise: every other one a meter's
// total with its interval, the others its active power.
func benchEnvelope(n int) *Envelope {
	ts := int64(1764000000000)
	env := &Envelope{V: 1, Gateway: "gw-01", Seq: 42, SentAt: ts + 60_000}
	for i := range n {
		r := Reading{Meter: fmt.Sprintf("m-%03d", i/2), Enterprise: "ent-001", Energy: Electricity, TS: ts + int64(i), Quality: "good"}
		if i%2 == 0 {
			d := 0.137 + float64(i)/1000
			r.Quantity, r.Unit, r.Value, r.Delta, r.Since = "energy_import_total", "kWh", 123456.78+float64(i), &d, r.TS-10_000
		} else {
			r.Quantity, r.Unit, r.Value = "active_power", "kW", 49.3+float64(i)/10
		}
		env.Readings = append(env.Readings, r)
	}
	return env
}

// benchDecode times decode of the 50-reading envelope.
func benchDecode(b *testing.B, decode func([]byte) (*Envelope, error)) {
	payload, err := Encode(benchEnvelope(50))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(payload)))
	for b.Loop() {
		if _, err := decode(payload); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecode50(b *testing.B) { benchDecode(b, Decode) }

func BenchmarkEncode50(b *testing.B) {
	env := benchEnvelope(50)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Encode(env); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkValidID(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if !ValidID("m-101") {
			b.Fatal("invalid")
		}
	}
}

// BenchmarkDecode50Std is the same envelope through encoding/json, the path
// anything unusual takes.
func BenchmarkDecode50Std(b *testing.B) { benchDecode(b, decodeStd) }
