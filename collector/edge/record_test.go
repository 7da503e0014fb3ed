package edge

import (
	"math"
	"reflect"
	"testing"

	"github.com/parkcarbon/parkcarbon/internal/wire"
)

// A poll record holds the finite readings and the events of one
// enterprise, as envelope elements that decode to exactly what was recorded
// (heads shared between readings of one meter, not between meters).
func TestPollRecordRoundTrip(t *testing.T) {
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
	b := appendPollRecord(nil, "ent-1", readings, events)
	gotR, gotE, err := decodePollRecord(b)
	if err != nil {
		t.Fatal(err)
	}
	want := []wire.Reading{readings[0], readings[1], readings[4], readings[5]}
	if !reflect.DeepEqual(gotR, want) || !reflect.DeepEqual(gotE, events) {
		t.Fatalf("got\n%+v\n%+v\nwant\n%+v\n%+v", gotR, gotE, want, events)
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
