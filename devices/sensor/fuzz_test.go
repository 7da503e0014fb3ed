package sensor

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parkcarbon/parkcarbon/internal/wire"
)

// fuzzTopics is a topic each shipped mapping accepts.
var fuzzTopics = map[string]string{
	"tasmota-energy": "tele/tasmota_5A9AE8/SENSOR",
	"shelly-em":      "shellypro3em-0cb815fc3e5c/status/em:0",
	"shelly-emdata":  "shellypro3em-0cb815fc3e5c/status/emdata:0",
	"generic-water":  "sensors/water/wm-0042",
	"generic-gas":    "sensors/gas/gm-7",
}

// FuzzReadings feeds every shipped mapping arbitrary topics, payloads and arrival times:
// Readings must never panic, must leave dst alone when it rejects a message, and
// everything it accepts must be a valid reading in a base unit.
func FuzzReadings(f *testing.F) {
	names := BuiltinNames()
	arrival := ms("2026-11-26T02:00:07Z").UnixMilli()
	for i, name := range names {
		files, err := filepath.Glob(filepath.Join("testdata", "samples", name, "*.json"))
		if err != nil || len(files) == 0 {
			f.Fatalf("no samples for %s: %v", name, err)
		}
		for _, file := range files {
			data, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(uint8(i), fuzzTopics[name], data, arrival)
		}
	}
	f.Add(uint8(0), "sensors/gas/x", []byte(`{"time":"2026-11-26T02:00:00Z","volume_m3":-0}`), arrival)
	f.Add(uint8(4), "tele/x/SENSOR", []byte(`{"Time":"2026-11-26T10:00:00.123+08:00","ENERGY":{"Total":1e308}}`), arrival)

	mappings := make([]*Mapping, len(names))
	for i, name := range names {
		mappings[i] = builtinFor(f, name)
	}
	f.Fuzz(func(t *testing.T, which uint8, topic string, payload []byte, arrivalMS int64) {
		m := mappings[int(which)%len(mappings)]
		arrival := time.UnixMilli(arrivalMS)
		prev := wire.Reading{Meter: "prev", Value: 1}
		dst := []wire.Reading{prev}
		got, err := m.Readings(topic, payload, arrival, dst)
		if len(got) == 0 || got[0] != prev {
			t.Fatalf("dst[0] changed: %+v", got)
		}
		if err != nil {
			if len(got) != 1 {
				t.Errorf("rejected message appended %+v", got[1:])
			}
			if !strings.HasPrefix(err.Error(), "mapping "+m.name+": ") {
				t.Errorf("error %q does not name the mapping", err)
			}
			if !errors.Is(err, ErrTopic) && !errors.Is(err, ErrPayload) && !errors.Is(err, ErrValue) && !errors.Is(err, ErrTimestamp) {
				t.Errorf("error %q has no reason", err)
			}
			return
		}
		if len(got) < 2 || len(got)-1 > len(m.values) {
			t.Fatalf("accepted message gave %d readings", len(got)-1)
		}
		seen := make(map[string]bool)
		for _, r := range got[1:] {
			if err := r.Validate(); err != nil {
				t.Errorf("invalid reading %+v: %v", r, err)
			}
			if base, err := baseUnit(r.Energy, r.Quantity, r.Unit); err != nil || base != r.Unit {
				t.Errorf("reading %+v is not in its base unit (%s, %v)", r, base, err)
			}
			if r.Energy != m.energy || r.Enterprise != "ent-001" || r.Quality != "good" || r.Delta != nil || r.Since != 0 || seen[r.Quantity] {
				t.Errorf("reading %+v breaks the contract", r)
			}
			seen[r.Quantity] = true
			if r.TS != got[1].TS || r.Meter != got[1].Meter {
				t.Errorf("one message gave readings of different meters or times: %+v", got[1:])
			}
			if m.ts.format == tsArrival && r.TS != arrivalMS {
				t.Errorf("ts %d, want the arrival %d", r.TS, arrivalMS)
			}
			if r.TS < minTS || r.TS > arrival.Add(maxAhead).UnixMilli() {
				t.Errorf("ts %d outside the plausible range", r.TS)
			}
			if !strings.Contains(topic, r.Meter) {
				t.Errorf("meter %q is not from topic %q", r.Meter, topic)
			}
		}
	})
}

// FuzzParse checks that Parse never panics, that its errors name the file, and that a
// mapping it accepts maps messages without panicking and only into valid readings.
func FuzzParse(f *testing.F) {
	f.Add([]byte(validYAML))
	for _, name := range BuiltinNames() {
		data, err := builtin.ReadFile("mappings/" + name + ".yaml")
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, y := range []string{customSegmentsYAML, customNumberYAML, customFixedYAML} {
		f.Add([]byte(y))
	}
	f.Add([]byte("name: n\ntopic: heat/#\nmeter: {segment: 3}\nenergy: heat\npayload: number\nvalues:\n  - {quantity: energy_total, unit: Gcal}\n"))
	f.Add([]byte("name: n\ntopic: a/+/+\nmeter: {segment: 2, prefix: p-}\nenterprise: {segment: 1}\nenergy: water\ntimestamp: {path: t, format: epoch_ms}\nvalues:\n  - {quantity: flow_rate, path: f, unit: L/s}\n"))

	payloads := []string{
		`{"Time":"2026-11-26T10:00:00","ENERGY":{"Total":1.5,"Power":150}}`,
		`{"ts":1795658400,"t":1795658400000,"time":"2026-11-26T02:00:00Z","volume_l":5,"f":1,"P":2,"p":3}`,
		`42.5`,
		`{"a":[1,2,{"b":null}],"c":"x"}`,
	}
	arrival := ms("2026-11-26T02:00:07Z")
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Parse(data, "fuzz.yaml")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.yaml") {
				t.Errorf("error %q does not name the file", err)
			}
			return
		}
		if !validName(m.name) || strings.Join(m.levels, "/") != m.filter || len(m.values) == 0 {
			t.Fatalf("accepted an invalid mapping %+v", m)
		}
		for _, v := range m.values {
			if base, err := baseUnit(m.energy, v.quantity, v.unit); err != nil || base != v.unit || v.p == 0 || v.q == 0 {
				t.Errorf("accepted value %+v (%s, %v)", v, base, err)
			}
		}
		if m.NeedsEnterprise() {
			if m, err = m.WithEnterprise("ent-001"); err != nil {
				t.Fatal(err)
			}
		}
		// A topic the filter matches: wildcards filled in with an id.
		topic := strings.NewReplacer("+", "id1", "#", "id1/id2").Replace(m.filter)
		for _, p := range payloads {
			got, err := m.Readings(topic, []byte(p), arrival, nil)
			if err != nil {
				continue
			}
			for _, r := range got {
				if err := r.Validate(); err != nil {
					t.Errorf("invalid reading %+v: %v", r, err)
				}
			}
		}
	})
}
