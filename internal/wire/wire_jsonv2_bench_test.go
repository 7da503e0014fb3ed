//go:build goexperiment.jsonv2

package wire

import (
	jsonv2 "encoding/json/v2"
	"testing"
)

// BenchmarkDecode50JSONv2 is json/v2's Unmarshal plus Validate. json/v2
// differs from encoding/json where it matters for input from the field: it
// matches keys case-sensitively, rejects duplicate keys and invalid UTF-8.
// Those are stricter, arguably better, but a behaviour change to decide on.
func BenchmarkDecode50JSONv2(b *testing.B) {
	payload, err := Encode(benchEnvelope(50))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(payload)))
	for b.Loop() {
		var env Envelope
		if err := jsonv2.Unmarshal(payload, &env); err != nil {
			b.Fatal(err)
		}
		if err := env.Validate(); err != nil {
			b.Fatal(err)
		}
	}
}
