package sensor

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/parkcarbon/parkcarbon/internal/wire"
)

// BenchmarkReadingsTasmota maps the brief's Tasmota message (six values, a local time)
// into a reused slice, as the edge agent does per message.
func BenchmarkReadingsTasmota(b *testing.B) {
	m := builtinFor(b, "tasmota-energy")
	payload, err := os.ReadFile(filepath.Join("testdata", "samples", "tasmota-energy", "brief.json"))
	if err != nil {
		b.Fatal(err)
	}
	arrival := ms("2026-11-26T02:00:07Z")
	dst := make([]wire.Reading, 0, 16)
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	for b.Loop() {
		dst, err = m.Readings("tele/tasmota_5A9AE8/SENSOR", payload, arrival, dst[:0])
		if err != nil || len(dst) != 6 {
			b.Fatalf("%d readings, %v", len(dst), err)
		}
	}
}
