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
	benchDecode(b, func(payload []byte) (*Envelope, error) {
		var env Envelope
		if err := jsonv2.Unmarshal(payload, &env); err != nil {
			return nil, err
		}
		return &env, env.Validate()
	})
}
