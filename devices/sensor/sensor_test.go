package sensor

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/parkcarbon/parkcarbon/internal/wire"
)

// q is a reading of the test's meter and enterprise, to keep the tables short.
type q struct {
	quantity string
	value    float64
	unit     string
}

// builtinFor returns a shipped mapping bound to enterprise ent-001.
func builtinFor(t testing.TB, name string) *Mapping {
	t.Helper()
	m, err := Builtin(name)
	if err != nil {
		t.Fatal(err)
	}
	m, err = m.WithEnterprise("ent-001")
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func ms(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

func checkReadings(t *testing.T, got []wire.Reading, meter, energy string, ts int64, want []q) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d readings %+v, want %d", len(got), got, len(want))
	}
	for i, w := range want {
		g := got[i]
		// Values compare exactly: a conversion divides by an exact integer, so 123456 L
		// is the float64 nearest 123.456 m³, as the literal in the table is.
		exp := wire.Reading{Meter: meter, Enterprise: "ent-001", Energy: energy, Quantity: w.quantity,
			Value: w.value, Unit: w.unit, TS: ts, Quality: "good"}
		if !reflect.DeepEqual(g, exp) {
			t.Errorf("reading %d:\n got %+v\nwant %+v", i, g, exp)
		}
		if err := g.Validate(); err != nil {
			t.Errorf("reading %d does not validate: %v", i, err)
		}
	}
}

// TestSamples maps every recorded payload under testdata/samples and asserts the exact
// readings or the reason for rejecting it.
func TestSamples(t *testing.T) {
	tests := []struct {
		file    string // under testdata/samples; the folder names the mapping
		topic   string
		arrival time.Time
		meter   string
		ts      int64 // epoch ms
		want    []q
		err     error // reason, when the payload is rejected
		errText string
	}{
		{
			file: "tasmota-energy/localbytes.json", topic: "tele/livingroom-lamp/SENSOR",
			arrival: ms("2022-01-11T13:57:40Z"), meter: "livingroom-lamp",
			ts: 1641909458000, // 2022-01-11T21:57:38 in Asia/Shanghai
			want: []q{
				{"energy_import_total", 3.705, "kWh"}, {"active_power", 0.005, "kW"},
				{"reactive_power", 0, "kvar"}, {"power_factor", 1, "1"},
				{"voltage_l1", 233, "V"}, {"current_l1", 0.021, "A"},
			},
		},
		{
			file: "tasmota-energy/brief.json", topic: "tele/tasmota_5A9AE8/SENSOR",
			arrival: ms("2026-11-26T02:00:07Z"), meter: "tasmota_5A9AE8",
			ts: 1795658400000, // 2026-11-26T10:00:00 in Asia/Shanghai
			want: []q{
				{"energy_import_total", 123.456, "kWh"}, {"active_power", 0.15, "kW"},
				{"reactive_power", 0.055, "kvar"}, {"power_factor", 0.94, "1"},
				{"voltage_l1", 230, "V"}, {"current_l1", 0.652, "A"},
			},
		},
		{
			file: "tasmota-energy/hatasmota-setoption52.json", topic: "tele/tasmota_0A1B2C/SENSOR",
			arrival: ms("2018-11-23T15:40:02Z"), meter: "tasmota_0A1B2C",
			ts: 1542987600000, // the payload's +01:00 wins over the mapping's zone
			want: []q{
				{"energy_import_total", 0.017, "kWh"}, {"energy_export_total", 0, "kWh"},
				{"active_power", 0, "kW"}, {"reactive_power", -0.00721, "kvar"},
				{"power_factor", 0.39, "1"}, {"voltage_l1", 234.31, "V"},
				{"current_l1", 0.039, "A"}, {"frequency", 50, "Hz"},
			},
		},
		{
			file: "tasmota-energy/clock-unset.json", topic: "tele/tasmota_5014E2/SENSOR",
			arrival: ms("2026-11-26T02:00:00Z"), err: ErrTimestamp, errText: "before 2000",
		},
		{
			file: "tasmota-energy/two-channel.json", topic: "tele/tasmota_2CH/SENSOR",
			arrival: ms("2026-11-26T02:05:01Z"), err: ErrValue, errText: "ENERGY.Total is an array, not a number",
		},
		{
			file: "tasmota-energy/docs-ds18b20.json", topic: "tele/tasmota/SENSOR",
			arrival: ms("2017-02-16T02:13:53Z"), err: ErrPayload, errText: "none of ENERGY.Total, ENERGY.ExportActive",
		},
		{
			file: "shelly-em/docs-example.json", topic: "shellypro3em-0cb815fc3e5c/status/em:0",
			arrival: ms("2026-11-26T02:00:00.25Z"), meter: "shellypro3em-0cb815fc3e5c", ts: 1795658400250,
			want: []q{
				{"active_power", 2.484782, "kW"},
				{"voltage_l1", 236.1, "V"}, {"voltage_l2", 236.201, "V"}, {"voltage_l3", 236.402, "V"},
				{"current_l1", 4.029, "A"}, {"current_l2", 4.027, "A"}, {"current_l3", 3.03, "A"},
			},
		},
		{
			file: "shelly-em/recorded-null-neutral.json", topic: "shellypro3em-8813bfe14804/status/em:0",
			arrival: ms("2025-09-05T08:10:29.08Z"), meter: "shellypro3em-8813bfe14804", ts: 1757059829080,
			want: []q{
				{"active_power", -0.018017, "kW"},
				{"voltage_l1", 0, "V"}, {"voltage_l2", 0, "V"}, {"voltage_l3", 228.3, "V"},
				{"current_l1", 0.027, "A"}, {"current_l2", 0.027, "A"}, {"current_l3", 0.476, "A"},
			},
		},
		{
			file: "shelly-emdata/docs-example.json", topic: "shellypro3em-0cb815fc3e5c/status/emdata:0",
			arrival: ms("2026-11-26T02:01:00Z"), meter: "shellypro3em-0cb815fc3e5c", ts: 1795658460000,
			want: []q{{"energy_import_total", 0, "kWh"}, {"energy_export_total", 0, "kWh"}},
		},
		{
			file: "shelly-emdata/recorded.json", topic: "shellypro3em-8813bfe14804/status/emdata:0",
			arrival: ms("2025-09-05T08:18:00.21Z"), meter: "shellypro3em-8813bfe14804", ts: 1757060280210,
			want: []q{{"energy_import_total", 26.28957, "kWh"}, {"energy_export_total", 131.88186, "kWh"}},
		},
		{
			file: "generic-water/brief.json", topic: "sensors/water/wm-0042",
			arrival: ms("2025-11-24T16:00:02Z"), meter: "wm-0042", ts: 1764000000000,
			want: []q{{"volume_total", 123.456, "m³"}},
		},
		{
			file: "generic-water/with-flow.json", topic: "sensors/water/wm-0042",
			arrival: ms("2025-11-24T16:01:01Z"), meter: "wm-0042", ts: 1764000060000,
			want: []q{{"volume_total", 123.4685, "m³"}, {"flow_rate", 0.75, "m³/h"}},
		},
		{
			file: "generic-gas/brief.json", topic: "sensors/gas/gm-7",
			arrival: ms("2026-11-26T10:00:01Z"), meter: "gm-7", ts: 1795687200000,
			want: []q{{"volume_total", 42.1, "m³"}},
		},
		{
			file: "generic-gas/with-flow.json", topic: "sensors/gas/gm-7",
			arrival: ms("2026-11-26T10:00:31Z"), meter: "gm-7", ts: 1795687230000,
			want: []q{{"volume_total", 42.37, "m³"}, {"flow_rate", 1.25, "m³/h"}},
		},
	}

	covered := make(map[string]bool)
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			covered[tt.file] = true
			name := filepath.Dir(tt.file)
			m := builtinFor(t, name)
			payload, err := os.ReadFile(filepath.Join("testdata", "samples", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			energy := map[string]string{"generic-water": "water", "generic-gas": "gas"}[name]
			if energy == "" {
				energy = "electricity"
			}
			got, err := m.Readings(tt.topic, payload, tt.arrival, nil)
			if tt.err != nil {
				if !errors.Is(err, tt.err) || !strings.Contains(err.Error(), tt.errText) {
					t.Fatalf("err = %v, want %v containing %q", err, tt.err, tt.errText)
				}
				if len(got) != 0 {
					t.Errorf("rejected payload returned readings %+v", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			checkReadings(t, got, tt.meter, energy, tt.ts, tt.want)
		})
	}

	// A sample without a case would be a payload nobody checks.
	files, err := filepath.Glob(filepath.Join("testdata", "samples", "*", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		rel := filepath.ToSlash(strings.TrimPrefix(f, filepath.Join("testdata", "samples")+string(filepath.Separator)))
		if !covered[rel] {
			t.Errorf("sample %s has no case in TestSamples", rel)
		}
	}
}

// TestReadingsRejects checks each reason a message is turned down, and that a rejected
// message leaves dst as it was.
func TestReadingsRejects(t *testing.T) {
	arrival := ms("2026-11-26T02:00:07Z")
	const tasmota = `{"Time":"2026-11-26T10:00:00","ENERGY":{"Total":1.5,"Power":150}}`
	tests := []struct {
		name, mapping, topic, payload string
		arrival                       time.Time
		err                           error
		text                          string
	}{
		{"other topic", "tasmota-energy", "stat/tasmota_1/RESULT", tasmota, arrival, ErrTopic, `"stat/tasmota_1/RESULT" does not match tele/+/SENSOR`},
		{"longer topic", "tasmota-energy", "tele/a/SENSOR/x", tasmota, arrival, ErrTopic, "does not match"},
		{"empty meter level", "tasmota-energy", "tele//SENSOR", tasmota, arrival, ErrTopic, `meter id "" from topic level 1`},
		{"meter id with a space", "tasmota-energy", "tele/my plug/SENSOR", tasmota, arrival, ErrTopic, `meter id "my plug"`},
		{"$SYS under a first-level wildcard", "shelly-em", "$SYS/status/em:0", `{"total_act_power":1}`, arrival, ErrTopic, "does not match"},
		{"not JSON", "tasmota-energy", "tele/p1/SENSOR", `{"Time":`, arrival, ErrPayload, "not JSON"},
		{"too large", "generic-gas", "sensors/gas/g1", `{"volume_m3":1,"pad":"` + strings.Repeat("x", MaxPayload) + `"}`, arrival, ErrPayload, "more than 65536"},
		{"none of the values", "generic-gas", "sensors/gas/g1", `{"time":"2026-11-26T02:00:00Z"}`, arrival, ErrPayload, "none of volume_m3, flow_m3_h"},
		{"string value", "tasmota-energy", "tele/p1/SENSOR", `{"Time":"2026-11-26T10:00:00","ENERGY":{"Total":"1.5"}}`, arrival, ErrValue, `ENERGY.Total is the string "1.5", not a number`},
		{"boolean value", "shelly-emdata", "s1/status/emdata:0", `{"total_act":true}`, arrival, ErrValue, "total_act is a boolean"},
		{"object value", "shelly-emdata", "s1/status/emdata:0", `{"total_act":{"v":1}}`, arrival, ErrValue, "total_act is an object"},
		{"overflowing value", "shelly-emdata", "s1/status/emdata:0", `{"total_act":1e400}`, arrival, ErrValue, "not a finite number of kWh"},
		{"one bad value spoils the message", "shelly-em", "s1/status/em:0", `{"total_act_power":5,"a_voltage":"n/a"}`, arrival, ErrValue, "a_voltage"},
		{"timestamp missing", "tasmota-energy", "tele/p1/SENSOR", `{"ENERGY":{"Total":1.5}}`, arrival, ErrTimestamp, "Time missing"},
		{"timestamp not a string", "tasmota-energy", "tele/p1/SENSOR", `{"Time":1764000000,"ENERGY":{"Total":1.5}}`, arrival, ErrTimestamp, "Time is a number, not a date-time string"},
		{"timestamp not a date", "tasmota-energy", "tele/p1/SENSOR", `{"Time":"yesterday","ENERGY":{"Total":1.5}}`, arrival, ErrTimestamp, `"yesterday" is not RFC 3339`},
		{"rfc3339 without a zone", "generic-gas", "sensors/gas/g1", `{"time":"2026-11-26T10:00:00","volume_m3":1}`, arrival, ErrTimestamp, "not RFC 3339"},
		{"epoch not a number", "generic-water", "sensors/water/w1", `{"ts":"1764000000","volume_l":1}`, arrival, ErrTimestamp, "not a number"},
		{"epoch in ms where s is due", "generic-water", "sensors/water/w1", `{"ts":1764000000000,"volume_l":1}`, ms("2025-11-24T16:00:02Z"), ErrTimestamp, "more than 1h0m0s after arrival"},
		{"timestamp two hours ahead", "generic-water", "sensors/water/w1", `{"ts":1764007200,"volume_l":1}`, ms("2025-11-24T16:00:00Z"), ErrTimestamp, "after arrival"},
		{"huge epoch", "generic-water", "sensors/water/w1", `{"ts":1e300,"volume_l":1}`, arrival, ErrTimestamp, "after arrival"},
		{"negative epoch", "generic-water", "sensors/water/w1", `{"ts":-5,"volume_l":1}`, arrival, ErrTimestamp, "before 2000"},
		{"arrival unset", "shelly-emdata", "s1/status/emdata:0", `{"total_act":1}`, time.Time{}, ErrTimestamp, "is the gateway clock set"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := builtinFor(t, tt.mapping)
			before := wire.Reading{Meter: "kept", Value: 7}
			dst := []wire.Reading{before}
			got, err := m.Readings(tt.topic, []byte(tt.payload), tt.arrival, dst)
			if !errors.Is(err, tt.err) || !strings.Contains(err.Error(), tt.text) {
				t.Fatalf("err = %v, want %v containing %q", err, tt.err, tt.text)
			}
			if !strings.HasPrefix(err.Error(), "mapping "+tt.mapping+": ") {
				t.Errorf("error %q does not name the mapping", err)
			}
			if len(got) != 1 || got[0] != before {
				t.Errorf("dst changed to %+v", got)
			}
		})
	}
}

func TestReadingsAppends(t *testing.T) {
	m := builtinFor(t, "shelly-emdata")
	dst := make([]wire.Reading, 1, 8)
	dst[0].Meter = "kept"
	got, err := m.Readings("s1/status/emdata:0", []byte(`{"total_act":1500,"total_act_ret":null}`), ms("2026-11-26T02:00:00Z"), dst)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Meter != "kept" || &got[0] != &dst[0] {
		t.Fatalf("did not append in place: %+v", got)
	}
	checkReadings(t, got[1:], "s1", "electricity", 1795658400000, []q{{"energy_import_total", 1.5, "kWh"}})
}

func TestEnterprise(t *testing.T) {
	m, err := Builtin("generic-gas")
	if err != nil {
		t.Fatal(err)
	}
	if !m.NeedsEnterprise() {
		t.Fatal("a shipped mapping has an enterprise of its own")
	}
	_, err = m.Readings("sensors/gas/g1", []byte(`{"time":"2026-11-26T02:00:00Z","volume_m3":1}`), ms("2026-11-26T02:00:01Z"), nil)
	if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "no enterprise") {
		t.Fatalf("without an enterprise: err = %v", err)
	}
	if _, err := m.WithEnterprise("ent 1"); err == nil || !strings.Contains(err.Error(), `invalid enterprise "ent 1"`) {
		t.Errorf("WithEnterprise(\"ent 1\"): err = %v", err)
	}
	b, err := m.WithEnterprise("ent-002")
	if err != nil {
		t.Fatal(err)
	}
	if b.NeedsEnterprise() || !m.NeedsEnterprise() {
		t.Error("WithEnterprise changed the original or did not bind the copy")
	}
	got, err := b.Readings("sensors/gas/g1", []byte(`{"time":"2026-11-26T02:00:00Z","volume_m3":1}`), ms("2026-11-26T02:00:01Z"), nil)
	if err != nil || len(got) != 1 || got[0].Enterprise != "ent-002" {
		t.Errorf("Readings = %+v, %v", got, err)
	}
}

// Mappings using what the shipped ones do not; FuzzParse starts from them too.
const customSegmentsYAML = `name: park-power
topic: park/+/+/power
meter: {segment: 2, prefix: "pm-"}
enterprise: {segment: 1}
energy: electricity
timestamp: {path: t, format: epoch_ms}
values:
  - {quantity: active_power, path: p, unit: MW}
  - {quantity: power_factor, path: pf, unit: "%"}
`

const customNumberYAML = `name: heat-number
topic: heat/#
meter: {segment: 3}
enterprise: {value: ent-009}
energy: heat
payload: number
values:
  - {quantity: energy_total, unit: kWh}
`

const customFixedYAML = `name: one-meter
topic: factory/boiler/steam
meter: {value: boiler-1}
enterprise: {value: ent-003}
energy: heat
timestamp: {path: at, format: "local:UTC"}
values:
  - {quantity: mass_total, path: "totals.steam_kg", unit: kg}
  - {quantity: energy_total, path: "totals.heat_gcal", unit: Gcal}
`

// TestCustomMappings covers ids from several segments with a prefix, a fixed meter, '#',
// epoch_ms, a local zone with fractional seconds, a plain-number payload and heat
// converted from kWh and Gcal to GJ.
func TestCustomMappings(t *testing.T) {
	arrival := ms("2026-11-26T02:00:00Z")
	tests := []struct {
		name, yaml, topic, payload string
		want                       []wire.Reading
		err                        error
	}{
		{"ids from segments", customSegmentsYAML, "park/ent-004/17/power", `{"t":1795658399500,"p":0.0125,"pf":93}`, []wire.Reading{
			{Meter: "pm-17", Enterprise: "ent-004", Energy: "electricity", Quantity: "active_power", Value: 12.5, Unit: "kW", TS: 1795658399500, Quality: "good"},
			{Meter: "pm-17", Enterprise: "ent-004", Energy: "electricity", Quantity: "power_factor", Value: 0.93, Unit: "1", TS: 1795658399500, Quality: "good"},
		}, nil},
		{"invalid enterprise from a segment", customSegmentsYAML, "park/ent:4=x/17/power", `{"t":1795658399500,"p":1}`, nil, ErrTopic},
		{"plain number under #", customNumberYAML, "heat/plant/b/hm-1", " 1000\n", []wire.Reading{
			{Meter: "hm-1", Enterprise: "ent-009", Energy: "heat", Quantity: "energy_total", Value: 3.6, Unit: "GJ", TS: 1795658400000, Quality: "good"},
		}, nil},
		{"# level missing", customNumberYAML, "heat/plant", "1000", nil, ErrTopic},
		{"plain number that is JSON", customNumberYAML, "heat/plant/b/hm-1", `{"v":1000}`, nil, ErrValue},
		{"plain number that is not JSON", customNumberYAML, "heat/plant/b/hm-1", "1,5", nil, ErrPayload},
		{"plain NaN", customNumberYAML, "heat/plant/b/hm-1", "NaN", nil, ErrPayload},
		{"plain null", customNumberYAML, "heat/plant/b/hm-1", "null", nil, ErrPayload},
		{"fixed meter, local UTC with fraction", customFixedYAML, "factory/boiler/steam", `{"at":"2026-11-26T01:59:59.5","totals":{"steam_kg":2500,"heat_gcal":2}}`, []wire.Reading{
			{Meter: "boiler-1", Enterprise: "ent-003", Energy: "heat", Quantity: "mass_total", Value: 2.5, Unit: "t", TS: 1795658399500, Quality: "good"},
			{Meter: "boiler-1", Enterprise: "ent-003", Energy: "heat", Quantity: "energy_total", Value: 8.3736, Unit: "GJ", TS: 1795658399500, Quality: "good"},
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Parse([]byte(tt.yaml), "custom.yaml")
			if err != nil {
				t.Fatal(err)
			}
			got, err := m.Readings(tt.topic, []byte(tt.payload), arrival, nil)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("err = %v, want %v", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
			for i := range got {
				if !reflect.DeepEqual(got[i], tt.want[i]) {
					t.Errorf("reading %d:\n got %+v\nwant %+v", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func TestBuiltins(t *testing.T) {
	names := BuiltinNames()
	want := []string{"generic-gas", "generic-water", "shelly-em", "shelly-emdata", "tasmota-energy"}
	if !reflect.DeepEqual(names, want) {
		t.Errorf("BuiltinNames() = %v, want %v", names, want)
	}
	for _, name := range names {
		m, err := Builtin(name)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		data, err := builtin.ReadFile("mappings/" + name + ".yaml")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(data), "\nsource: ") || m.Description() == "" || m.Name() != name {
			t.Errorf("%s: every shipped mapping needs a name, description and source", name)
		}
		if !m.NeedsEnterprise() {
			t.Errorf("%s: a shipped mapping must leave the enterprise to the edge config", name)
		}
		if _, _, ok := match(m.levels, fuzzTopics[name], -1, -1); !ok {
			t.Errorf("%s: FuzzReadings has no topic %s matches", name, m.Filter())
		}
	}
	filters := map[string]string{
		"tasmota-energy": "tele/+/SENSOR", "shelly-em": "+/status/em:0", "shelly-emdata": "+/status/emdata:0",
		"generic-water": "sensors/water/+", "generic-gas": "sensors/gas/+",
	}
	for name, f := range filters {
		m, err := Builtin(name)
		if err != nil {
			t.Fatal(err)
		}
		if m.Filter() != f {
			t.Errorf("%s: Filter() = %q, want %q", name, m.Filter(), f)
		}
	}
	for _, bad := range []string{"nope", "../mappings/tasmota-energy", "Tasmota-Energy"} {
		if _, err := Builtin(bad); err == nil || !strings.Contains(err.Error(), "known: generic-gas") {
			t.Errorf("Builtin(%q): err = %v", bad, err)
		}
	}
}
