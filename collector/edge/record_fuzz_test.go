package edge

import (
	"encoding/json"
	"math"
	"testing"

	"github.com/parkcarbon/parkcarbon/internal/wire"
)

// A queued record of any bytes is parsed and its readings written as JSON
// without a panic, and what is written is valid JSON holding the readings
// its head counts. (The queue's checksum keeps damaged records away; this
// is for a fault that writes a wrong record whole.)
func FuzzPollRecord(f *testing.F) {
	readings, events := recordFixture()
	f.Add(appendPollRecord(nil, "ent-1", readings, events))
	f.Add(appendPollRecord(nil, "ent-1", readings[:1], nil))
	f.Add(appendPollRecordJSON(nil, "ent-1", readings, events))
	f.Add([]byte(`{"r":{"meter":"m-1","enterprise":"e","energy":"gas","quantity":"volume_total","value":1,"unit":"m³","ts":1}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		_ = recordItems(b)
		_, _ = recordTS(b)
		p, err := parsePollRecord(b)
		if err != nil || p.format != pollFormat {
			return
		}
		js, err := appendReadingsJSON(nil, false, string(p.enterprise), p.readings, p.nReadings)
		if err != nil {
			return
		}
		var got []json.RawMessage
		if err := json.Unmarshal(append(append([]byte("["), js...), ']'), &got); err != nil || len(got) != p.nReadings {
			t.Fatalf("%d readings written as %d elements (%v):\n%s", p.nReadings, len(got), err, js)
		}
	})
}

// A reading made compact and written back is its wire.AppendReading JSON,
// byte for byte, whatever its strings and numbers.
func FuzzCompactReading(f *testing.F) {
	f.Add("m-1", "electricity", "energy_import_total", "kWh", "good", 10.5, 0.25, int64(1764000000000), int64(0), int64(1763999999000), true)
	f.Add("m-1", "water", "volume_total", "m³ <&>", "", -1e-7, math.Inf(1), int64(-1), int64(7), int64(0), false)
	f.Add("\xff", "\x00", "", "\u2028", "estimated", math.NaN(), 1e21, int64(math.MaxInt64), int64(math.MinInt64), int64(-5), true)
	f.Fuzz(func(t *testing.T, meter, energy, quantity, unit, quality string, value, delta float64, ts, dts, since int64, withDelta bool) {
		// Readings are finite when they are recorded; a delta may not be.
		if !finite(value) {
			value = 0
		}
		first := wire.Reading{Meter: meter, Enterprise: "ent", Energy: energy, Quantity: "q0", Value: 1, Unit: "V", TS: ts}
		r := wire.Reading{Meter: meter, Enterprise: "ent", Energy: energy, Quantity: quantity, Value: value, Unit: unit,
			TS: ts + dts, Quality: quality, Since: since}
		if withDelta {
			r.Delta = &delta
		}
		readings := []wire.Reading{first, r}
		p, err := parsePollRecord(appendPollRecord(nil, "ent", readings, nil))
		if err != nil {
			t.Fatal(err)
		}
		if got, want := mustJSON(t, p), joinJSON(readings); string(got) != string(want) {
			t.Fatalf("written\n%s\nwant\n%s", got, want)
		}
	})
}
