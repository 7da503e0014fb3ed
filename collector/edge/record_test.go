package edge

import (
	"fmt"
	"math"
	"reflect"
	"testing"

	"github.com/parkcarbon/parkcarbon/internal/wire"
)

// A poll record holds the finite readings and the events of one
// enterprise, as envelope elements that decode to exactly what was recorded
// (heads shared between readings of one meter, not between meters).
func TestPollRecordRoundTrip(t *testing.T) {
	readings, events := recordFixture()
	b := appendPollRecord(nil, "ent-1", readings, events)
	gotR, gotE, err := decodePollRecord(b)
	if err != nil {
		t.Fatal(err)
	}
	want := []wire.Reading{readings[0], readings[1], readings[4], readings[5]}
	if !reflect.DeepEqual(gotR, want) || !reflect.DeepEqual(gotE, events) {
		t.Fatalf("got\n%+v\n%+v\nwant\n%+v\n%+v", gotR, gotE, want, events)
	}
	// The uplink writes the compact readings as the JSON of wire.Reading,
	// byte for byte.
	p, err := parsePollRecord(b)
	if err != nil || p.format != pollFormat {
		t.Fatalf("format %#x, %v", p.format, err)
	}
	if got, want := mustJSON(t, p), joinJSON(want); string(got) != string(want) {
		t.Fatalf("readings as JSON\n%s\nwant\n%s", got, want)
	}
	if n := recordItems(b); n != 5 {
		t.Fatalf("recordItems = %d, want 5", n)
	}
	if ts, err := recordTS(b); err != nil || ts != 2000 {
		t.Fatalf("recordTS = %d, %v", ts, err)
	}
	if b := appendPollRecord(nil, "ent-3", readings, events); len(b) != 0 {
		t.Fatalf("a record for an enterprise with nothing: %q", b)
	}
	for n := range len(b) {
		if _, err := parsePollRecord(b[:n]); err == nil && n < len(b)-1 {
			// A cut inside the events section still parses (it is the
			// rest of the record); the queue's checksum catches that.
			p, _ := parsePollRecord(b[:n])
			if len(p.events) == 0 {
				t.Fatalf("a record cut at %d of %d parses", n, len(b))
			}
		}
	}
}

// mustJSON writes a record's compact readings as JSON elements.
func mustJSON(t testing.TB, p pollRecord) []byte {
	t.Helper()
	b, err := appendReadingsJSON(nil, false, string(p.enterprise), p.readings, p.nReadings)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// joinJSON is readings as wire.AppendReading elements joined by ','.
func joinJSON(readings []wire.Reading) []byte {
	var b []byte
	for i := range readings {
		if i > 0 {
			b = append(b, ',')
		}
		b = wire.AppendReading(b, &readings[i])
	}
	return b
}

// appendPollRecordJSON appends a record as agents up to b113529 wrote them
// (pollFormatJSON: the readings as JSON elements), for the tests that such
// records still read.
func appendPollRecordJSON(b []byte, ent string, readings []wire.Reading, events []wire.Event) []byte {
	nr, ne, ts := countOf(ent, readings, events)
	if nr+ne == 0 {
		return b
	}
	var elems []wire.Reading
	for _, r := range readings {
		if r.Enterprise == ent && finite(r.Value) {
			elems = append(elems, r)
		}
	}
	js := joinJSON(elems)
	at := len(b)
	b = appendRecordHead(b, ent, nr, ne, ts, len(js))
	b[at] = pollFormatJSON
	b = append(b, js...)
	return appendEventsOf(b, false, ent, events)
}

// A record of pollFormatJSON, as older agents queued it, reads as before.
func TestPollRecordJSONFormat(t *testing.T) {
	d := 0.25
	readings := []wire.Reading{
		{Meter: "m-1", Enterprise: "ent-1", Energy: wire.Electricity, Quantity: "energy_import_total", Value: 10.5, Unit: "kWh", TS: 2000, Quality: "good", Delta: &d, Since: 1000},
		{Meter: "m-1", Enterprise: "ent-1", Energy: wire.Electricity, Quantity: "voltage_l1", Value: 230.1, Unit: "V", TS: 2000},
	}
	events := []wire.Event{{Meter: "m-1", Enterprise: "ent-1", Kind: "gap", Value: 10.5, TS: 2000}}
	b := appendPollRecordJSON(nil, "ent-1", readings, events)
	p, err := parsePollRecord(b)
	if err != nil || p.format != pollFormatJSON || string(p.readings) != string(joinJSON(readings)) {
		t.Fatalf("parsed %+v, %v", p, err)
	}
	gotR, gotE, err := decodePollRecord(b)
	if err != nil || !reflect.DeepEqual(gotR, readings) || !reflect.DeepEqual(gotE, events) {
		t.Fatalf("got %+v %+v, %v", gotR, gotE, err)
	}
	if n := recordItems(b); n != 3 {
		t.Fatalf("recordItems = %d, want 3", n)
	}
}

// Compact readings in every combination of their optional fields, and runs
// broken by meter and energy, write the JSON of the readings.
func TestCompactReadingsJSON(t *testing.T) {
	d, zero := 1.5, 0.0
	base := wire.Reading{Meter: "m-1", Enterprise: "e", Energy: wire.Electricity, Quantity: "q", Value: 1, Unit: "kWh", TS: 5000}
	var readings []wire.Reading
	for f := range 32 {
		r := base
		r.Value = float64(f) * -1.25e-7
		if f&1 != 0 {
			r.TS = 4000 - int64(f)
		}
		switch f >> 1 & 3 {
		case 1:
			r.Quality = "good"
		case 2:
			r.Quality = "estimated \"<&>\""
		case 3:
			r.Quality = "\xff"
		}
		if f&8 != 0 {
			r.Delta = &d
			if f&1 != 0 {
				r.Delta = &zero
			}
		}
		if f&16 != 0 {
			r.Since = -int64(f)
		}
		if f%5 == 0 {
			r.Meter = fmt.Sprintf("m-%d", f/10) // a new run, sometimes
		}
		if f%7 == 0 {
			r.Energy = wire.Water
		}
		readings = append(readings, r)
	}
	b := appendPollRecord(nil, "e", readings, nil)
	p, err := parsePollRecord(b)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := mustJSON(t, p), joinJSON(readings); string(got) != string(want) {
		t.Fatalf("readings as JSON\n%s\nwant\n%s", got, want)
	}
	// Cut or grown, or with a wrong count, the readings are refused.
	for n := range len(p.readings) {
		if _, err := appendReadingsJSON(nil, false, "e", p.readings[:n], p.nReadings); err == nil {
			t.Fatalf("readings cut at %d of %d written", n, len(p.readings))
		}
	}
	for _, c := range []struct {
		src []byte
		n   int
	}{{append(p.readings[:len(p.readings):len(p.readings)], 0), p.nReadings}, {p.readings, p.nReadings - 1}, {p.readings, p.nReadings + 1}, {p.readings, 0}} {
		if _, err := appendReadingsJSON(nil, false, "e", c.src, c.n); err == nil {
			t.Fatalf("%d bytes as %d readings written", len(c.src), c.n)
		}
	}
}

// recordFixture is a poll's readings of two enterprises, with a non-finite
// one, two meters and every optional field, and an event.
func recordFixture() ([]wire.Reading, []wire.Event) {
	d := 0.25
	readings := []wire.Reading{
		{Meter: "m-1", Enterprise: "ent-1", Energy: wire.Electricity, Quantity: "energy_import_total", Value: 10.5, Unit: "kWh", TS: 2000, Quality: "good", Delta: &d, Since: 1000},
		{Meter: "m-1", Enterprise: "ent-1", Energy: wire.Electricity, Quantity: "voltage_l1", Value: 230.10000610351562, Unit: "V", TS: 2000, Quality: "good"},
		{Meter: "m-1", Enterprise: "ent-1", Energy: wire.Electricity, Quantity: "bad", Value: math.NaN(), Unit: "V", TS: 2000},
		{Meter: "m-1", Enterprise: "ent-2", Energy: wire.Electricity, Quantity: "voltage_l2", Value: 1, Unit: "V", TS: 2000},
		{Meter: "m-2", Enterprise: "ent-1", Energy: wire.Water, Quantity: "volume_total", Value: 3, Unit: "m³", TS: 2001},
		{Meter: "m-2", Enterprise: "ent-1", Energy: wire.Water, Quantity: "flow", Value: 1e-7, Unit: "m³/h <&>", TS: 2001},
	}
	events := []wire.Event{{Meter: "m-1", Enterprise: "ent-1", Kind: "gap", Value: 10.5, Message: "no \"previous\" total", TS: 2000}}
	return readings, events
}
