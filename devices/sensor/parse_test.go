package sensor

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

const validYAML = `# a mapping for tests
name: test-plug
description: a plug for tests
source: made up
topic: tele/+/SENSOR
meter: {segment: 1, prefix: "tp-"}
enterprise: {value: ent-001}
energy: electricity
timestamp:
  path: Time
  format: local:Asia/Shanghai
values:
  - {quantity: energy_import_total, path: ENERGY.Total, unit: Wh}
  - quantity: active_power
    path: ENERGY.Power
    unit: W
`

func TestParseValid(t *testing.T) {
	m, err := Parse([]byte(validYAML), "test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	shanghai, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	want := &Mapping{
		name: "test-plug", description: "a plug for tests",
		filter: "tele/+/SENSOR", levels: []string{"tele", "+", "SENSOR"},
		meter:      idSource{segment: 1, prefix: "tp-"},
		enterprise: idSource{segment: -1, value: "ent-001"},
		energy:     "electricity",
		ts:         tsSource{path: "Time", format: tsLocal, loc: shanghai},
		values: []value{
			{quantity: "energy_import_total", path: "ENERGY.Total", unit: "kWh", p: 1, q: 1000},
			{quantity: "active_power", path: "ENERGY.Power", unit: "kW", p: 1, q: 1000},
		},
	}
	if !reflect.DeepEqual(m, want) {
		t.Errorf("Parse:\n got %+v\nwant %+v", m, want)
	}
	if m.NeedsEnterprise() {
		t.Error("a mapping with a fixed enterprise needs one")
	}
}

func TestParseErrors(t *testing.T) {
	// head is lines 1-4; the line of each case's first extra line is 5.
	const head = "name: m\ntopic: tele/+/SENSOR\nmeter: {segment: 1}\nenergy: electricity\n"
	const vals = "values:\n  - {quantity: active_power, path: P, unit: W}\n"
	tests := []struct {
		name, yaml string
		want       []string // substrings of the error
	}{
		{"empty", "", []string{"m.yaml: empty mapping"}},
		{"syntax", "name: [\n", []string{"m.yaml:"}},
		{"not a mapping", "- a\n", []string{"m.yaml:1:", "into a mapping"}},
		{"unknown top key", head + "unit: W\n" + vals, []string{"m.yaml:5:", `unknown key "unit"`}},
		{"unknown value key", head + "values:\n  - {quantity: active_power, path: P, unit: W, scale: 2}\n", []string{"m.yaml:6:", `unknown key "scale"`}},
		{"unknown meter key", "name: m\ntopic: a/+\nmeter: {segment: 1, level: 2}\nenergy: gas\n" + vals, []string{"m.yaml:3:", `unknown key "level"`}},
		{"segment not a number", "name: m\ntopic: a/+\nmeter: {segment: one}\nenergy: gas\n" + vals, []string{"m.yaml:3:", "`one` into int"}},
		{"values not a list", head + "values: {quantity: q}\n", []string{"m.yaml:5:", "into a list of values"}},
		{"duplicate key", "name: m\nname: n\n", []string{"m.yaml:2:", `"name" already defined`}},
		{"two documents", head + vals + "---\nname: x\n", []string{"m.yaml:7:", "more than one YAML document"}},
		{"bad name", "name: Tasmota Plug\ntopic: a/+\nmeter: {segment: 1}\nenergy: gas\n" + vals, []string{"m.yaml:1:", `name "Tasmota Plug"`}},
		{"missing topic", "name: m\nmeter: {value: m1}\nenergy: electricity\n" + vals, []string{"m.yaml:1:", "topic filter missing"}},
		{"bad topic", "name: m\ntopic: tele/#/SENSOR\nmeter: {value: m1}\nenergy: electricity\n" + vals, []string{"m.yaml:2:", "'#' must be the last level"}},
		{"shared topic", "name: m\ntopic: $share/g/tele/+\nmeter: {value: m1}\nenergy: electricity\n" + vals, []string{"m.yaml:2:", "shared subscription"}},
		{"bad payload", head + "payload: xml\n" + vals, []string{"m.yaml:5:", `payload "xml": want json (the default) or number`}},
		{"bad energy", "name: m\ntopic: a/+\nmeter: {segment: 1}\nenergy: steam\n" + vals, []string{"m.yaml:4:", `energy "steam"`}},
		{"missing meter", "name: m\ntopic: a/+\nenergy: gas\n" + vals, []string{"m.yaml:1:", "meter missing"}},
		{"meter both", "name: m\ntopic: a/+\nmeter: {segment: 1, value: m1}\nenergy: gas\n" + vals, []string{"m.yaml:3:", "meter: give segment or value, not both"}},
		{"meter neither", "name: m\ntopic: a/+\nmeter: {prefix: x}\nenergy: gas\n" + vals, []string{"m.yaml:3:", "meter: want {segment: N}"}},
		{"meter fixed level", "name: m\ntopic: tele/+/SENSOR\nmeter: {segment: 2}\nenergy: gas\n" + vals, []string{"m.yaml:3:", `segment 2 is the fixed level "SENSOR"`}},
		{"meter beyond the filter", "name: m\ntopic: tele/+\nmeter: {segment: 2}\nenergy: gas\n" + vals, []string{"m.yaml:3:", "has only 2 levels"}},
		{"meter negative", "name: m\ntopic: tele/+\nmeter: {segment: -1}\nenergy: gas\n" + vals, []string{"m.yaml:3:", "segment -1"}},
		{"bad prefix", "name: m\ntopic: tele/+\nmeter: {segment: 1, prefix: 'a b'}\nenergy: gas\n" + vals, []string{"m.yaml:3:", `prefix "a b"`}},
		{"prefix with value", "name: m\ntopic: tele/+\nmeter: {value: m1, prefix: p-}\nenergy: gas\n" + vals, []string{"m.yaml:3:", "prefix goes with segment"}},
		{"bad meter value", "name: m\ntopic: tele/+\nmeter: {value: 'm/1'}\nenergy: gas\n" + vals, []string{"m.yaml:3:", `value "m/1" is not a valid id`}},
		{"bad enterprise", head + "enterprise: {value: 'ent 1'}\n" + vals, []string{"m.yaml:5:", `enterprise: value "ent 1"`}},
		{"enterprise fixed level", head + "enterprise: {segment: 0}\n" + vals, []string{"m.yaml:5:", `enterprise: segment 0 is the fixed level "tele"`}},
		{"timestamp path missing", head + "timestamp: {format: rfc3339}\n" + vals, []string{"m.yaml:5:", "timestamp: path missing"}},
		{"timestamp bad format", head + "timestamp: {path: t, format: iso}\n" + vals, []string{"m.yaml:5:", `format "iso": want rfc3339, epoch_s, epoch_ms or local:<IANA zone>`}},
		{"timestamp format missing", head + "timestamp: {path: t}\n" + vals, []string{"m.yaml:5:", `format ""`}},
		{"unknown zone", head + "timestamp: {path: t, format: 'local:Mars/Olympus'}\n" + vals, []string{"m.yaml:5:", `format "local:Mars/Olympus"`, "unknown time zone"}},
		{"gateway zone", head + "timestamp: {path: t, format: 'local:Local'}\n" + vals, []string{"m.yaml:5:", "name the devices' IANA zone"}},
		{"empty zone", head + "timestamp: {path: t, format: 'local:'}\n" + vals, []string{"m.yaml:5:", "name the devices' IANA zone"}},
		{"timestamp of a number", head + "payload: number\ntimestamp: {path: t, format: epoch_s}\nvalues:\n  - {quantity: active_power, unit: W}\n", []string{"m.yaml:6:", "a plain-number payload holds no timestamp"}},
		{"no values", head, []string{"m.yaml:1:", "no values"}},
		{"empty values", head + "values: []\n", []string{"m.yaml:5:", "no values"}},
		{"two values of a number", head + "payload: number\nvalues:\n  - {quantity: active_power, unit: W}\n  - {quantity: voltage_l1, unit: V}\n", []string{"m.yaml:6:", "holds one value, not 2"}},
		{"path of a number", head + "payload: number\nvalues:\n  - {quantity: active_power, path: p, unit: W}\n", []string{"m.yaml:7:", "value 1 (active_power): a plain-number payload has no paths"}},
		{"bad quantity", head + "values:\n  - {quantity: ActivePower, path: P, unit: W}\n", []string{"m.yaml:6:", `quantity "ActivePower"`}},
		{"long quantity", head + "values:\n  - {quantity: " + strings.Repeat("q", 65) + ", path: P, unit: W}\n", []string{"m.yaml:6:", "at most 64"}},
		{"duplicate quantity", head + "values:\n  - {quantity: active_power, path: P, unit: W}\n  - {quantity: active_power, path: Q, unit: W}\n", []string{"m.yaml:7:", "value 2 (active_power): quantity \"active_power\" already mapped by value 1"}},
		{"missing path", head + "values:\n  - {quantity: active_power, unit: W}\n", []string{"m.yaml:6:", "path missing"}},
		{"missing unit", head + "values:\n  - {quantity: active_power, path: P}\n", []string{"m.yaml:6:", `unknown unit ""`}},
		{"unknown unit", head + "values:\n  - {quantity: active_power, path: P, unit: watts}\n", []string{"m.yaml:6:", `value 1 (active_power): unknown unit "watts"`}},
		{"unit of another kind", head + "values:\n  - {quantity: active_power, path: P, unit: kWh}\n", []string{"m.yaml:6:", "unit kWh does not fit active_power"}},
		{"quantity of another energy", head + "values:\n  - {quantity: volume_total, path: P, unit: L}\n", []string{"m.yaml:6:", "volume_total belongs to gas meters, not electricity"}},
		{"every mistake at once", "name: M\ntopic: a/+\nmeter: {segment: 1}\nenergy: coal\nvalues:\n  - {quantity: Q, path: P, unit: x}\n",
			[]string{"m.yaml:1: name \"M\"", "m.yaml:4: energy \"coal\"", "m.yaml:6: value 1 (Q): quantity \"Q\""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Parse([]byte(tt.yaml), "m.yaml")
			if err == nil {
				t.Fatalf("Parse succeeded: %+v", m)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}
