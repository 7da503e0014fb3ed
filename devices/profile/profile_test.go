package profile

import (
	"io/fs"
	"reflect"
	"strings"
	"testing"
)

const validYAML = `# a small valid profile
name: test-meter
description: a meter for tests
source: made up
energy: electricity
registers:
  - {quantity: energy_import_total, function: input, address: 0x0048, type: float32, order: ABCD, unit: kWh}
  - {quantity: active_power, function: holding, address: 0x0048, type: int32, order: CDAB, scale: 0.001, unit: kW}
  - quantity: voltage_l1
    function: holding
    address: 0x0061
    type: uint16
    scale: 0.1
    offset: -1.5
    unit: V
  - {quantity: energy_total, function: holding, address: 100, type: uint64, order: DCBA, unit: GJ}
  - {quantity: running, function: coil, address: 0, type: bool, unit: "1"}
`

func TestParseValid(t *testing.T) {
	p, err := Parse([]byte(validYAML), "test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := &Profile{
		Name: "test-meter", Description: "a meter for tests", Source: "made up", Energy: "electricity",
		Registers: []Register{
			{Quantity: "energy_import_total", Function: "input", Address: 0x48, Type: "float32", Order: "ABCD", Scale: 1, Unit: "kWh"},
			{Quantity: "active_power", Function: "holding", Address: 0x48, Type: "int32", Order: "CDAB", Scale: 0.001, Unit: "kW"},
			{Quantity: "voltage_l1", Function: "holding", Address: 0x61, Type: "uint16", Order: "ABCD", Scale: 0.1, Offset: -1.5, Unit: "V"},
			{Quantity: "energy_total", Function: "holding", Address: 100, Type: "uint64", Order: "DCBA", Scale: 1, Unit: "GJ"},
			{Quantity: "running", Function: "coil", Address: 0, Type: "bool", Order: "ABCD", Scale: 1, Unit: "1"},
		},
	}
	if !reflect.DeepEqual(p, want) {
		t.Errorf("Parse:\n got %+v\nwant %+v", p, want)
	}
}

func TestParseErrors(t *testing.T) {
	const head = "name: m\nenergy: electricity\nregisters:\n"
	reg := func(fields string) string { return head + "  - {" + fields + "}\n" }
	const ok = "quantity: q, function: input, address: 0, type: float32, unit: V"
	tests := []struct {
		name, yaml string
		want       []string // substrings of the error
	}{
		{"empty", "", []string{"p.yaml: empty profile"}},
		{"syntax", "name: [\n", []string{"p.yaml:"}},
		{"not a mapping", "- a\n", []string{"p.yaml:1:", "into a profile"}},
		{"unknown top key", "name: m\nenergy: gas\nmeter: x\nregisters:\n  - {" + ok + "}\n", []string{"p.yaml:3:", `unknown key "meter"`}},
		{"unknown register key", reg(ok + ", bits: 3"), []string{"p.yaml:4:", `unknown key "bits"`}},
		{"duplicate key", "name: m\nname: n\n", []string{"p.yaml:2:", `"name" already defined`}},
		{"two documents", head + "  - {" + ok + "}\n---\nname: x\n", []string{"p.yaml:5:", "more than one YAML document"}},
		{"address too large", reg("quantity: q, function: input, address: 0x10000, type: float32, unit: V"), []string{"p.yaml:4:", "uint16"}},
		{"missing name", "energy: gas\nregisters:\n  - {" + ok + "}\n", []string{"p.yaml:1:", `name ""`}},
		{"bad name", "name: My Meter\nenergy: gas\nregisters:\n  - {" + ok + "}\n", []string{"p.yaml:1:", `name "My Meter"`}},
		{"bad energy", "name: m\nenergy: steam\nregisters:\n  - {" + ok + "}\n", []string{"p.yaml:2:", `energy "steam"`}},
		{"no registers", "name: m\nenergy: gas\n", []string{"p.yaml:1:", "no registers"}},
		{"bad quantity", reg("quantity: Energy, function: input, address: 0, type: float32, unit: V"), []string{"p.yaml:4:", `quantity "Energy"`}},
		{"bad function", reg("quantity: q, function: holdings, address: 0, type: float32, unit: V"), []string{"p.yaml:4:", `function "holdings"`}},
		{"missing address", reg("quantity: q, function: input, type: float32, unit: V"), []string{"p.yaml:4:", "address missing"}},
		{"bad type", reg("quantity: q, function: input, address: 0, type: float, unit: V"), []string{"p.yaml:4:", `type "float"`}},
		{"bool register", reg("quantity: q, function: input, address: 0, type: bool, unit: V"), []string{`type "bool" does not fit function "input"`}},
		{"numeric coil", reg("quantity: q, function: coil, address: 0, type: uint16, unit: V"), []string{`type "uint16" does not fit function "coil"`}},
		{"bad order", reg(ok + ", order: abcd"), []string{"p.yaml:4:", `order "abcd"`}},
		{"zero scale", reg(ok + ", scale: 0"), []string{"p.yaml:4:", "scale 0"}},
		{"nan scale", reg(ok + ", scale: .nan"), []string{"scale NaN"}},
		{"inf offset", reg(ok + ", offset: .inf"), []string{"offset +Inf"}},
		{"missing unit", reg("quantity: q, function: input, address: 0, type: float32"), []string{"p.yaml:4:", "unit missing"}},
		{"blank unit", reg("quantity: q, function: input, address: 0, type: float32, unit: ' '"), []string{"unit missing"}},
		{"past 0xFFFF", reg("quantity: q, function: input, address: 0xFFFE, type: int64, unit: V"), []string{"runs past 0xFFFF"}},
		{
			"duplicate quantity",
			head + "  - {" + ok + "}\n  - {quantity: q, function: input, address: 8, type: float32, unit: V}\n",
			[]string{"p.yaml:5:", `quantity "q" already read by register 1`},
		},
		{
			"overlap",
			head + "  - {quantity: a, function: input, address: 0x10, type: float32, unit: V}\n" +
				"  - {quantity: b, function: input, address: 0x11, type: uint16, unit: V}\n",
			[]string{"p.yaml:5:", "register 2 (b): input 0x0011 overlaps register 1 (a) at 0x0010+2"},
		},
		{
			"overlap reported at the later register, block style",
			head + "  - quantity: a\n    function: holding\n    address: 4\n    type: uint16\n    unit: V\n" +
				"  - quantity: b\n    function: holding\n    address: 2\n    type: int64\n    unit: V\n",
			[]string{"p.yaml:6:", "register 1 (a): holding 0x0004 overlaps register 2 (b) at 0x0002+4"},
		},
		{
			"several errors at once",
			reg("quantity: q, function: x, address: 0, type: y, unit: V"),
			[]string{`function "x"`, `type "y"`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Parse([]byte(tt.yaml), "p.yaml")
			if err == nil {
				t.Fatalf("Parse = %+v, want an error", p)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestSameFunctionOnlyOverlaps(t *testing.T) {
	// Input 0x10 and holding 0x10 are different registers of the device.
	y := "name: m\nenergy: water\nregisters:\n" +
		"  - {quantity: a, function: input, address: 0x10, type: float32, unit: m3}\n" +
		"  - {quantity: b, function: holding, address: 0x10, type: float32, unit: m3}\n" +
		"  - {quantity: c, function: coil, address: 0x10, type: bool, unit: '1'}\n"
	if _, err := Parse([]byte(y), "p.yaml"); err != nil {
		t.Fatal(err)
	}
}

func TestWords(t *testing.T) {
	for typ, want := range map[string]uint16{
		"bool": 1, "int16": 1, "uint16": 1, "int32": 2, "uint32": 2, "float32": 2,
		"int64": 4, "uint64": 4, "float64": 4, "float": 0, "": 0,
	} {
		if got := (Register{Type: typ}).Words(); got != want {
			t.Errorf("Words(%q) = %d, want %d", typ, got, want)
		}
	}
}

func TestBuiltins(t *testing.T) {
	names := BuiltinNames()
	if len(names) == 0 || names[0] != "eastron-sdm630" {
		t.Fatalf("BuiltinNames = %v", names)
	}
	files, err := fs.Glob(builtin, "profiles/*")
	if err != nil || len(files) != len(names) {
		t.Fatalf("embedded files %v (err %v), names %v: every file must be a .yaml profile", files, err, names)
	}
	for _, name := range names {
		p, err := Builtin(name)
		if err != nil {
			t.Fatalf("Builtin(%q): %v", name, err)
		}
		if p.Source == "" || p.Description == "" {
			t.Errorf("%s: shipped profiles cite their source and describe the meter", name)
		}
		// Each call returns its own copy, so a caller may change it.
		p.Registers[0].Scale = 42
		if q, _ := Builtin(name); q.Registers[0].Scale == 42 {
			t.Errorf("%s: Builtin shares state between calls", name)
		}
	}
}

func TestBuiltinSDM630(t *testing.T) {
	p, err := Builtin("eastron-sdm630")
	if err != nil {
		t.Fatal(err)
	}
	if p.Energy != "electricity" {
		t.Errorf("energy = %q", p.Energy)
	}
	want := map[string]Register{
		"energy_import_total": {Quantity: "energy_import_total", Function: "input", Address: 0x0048, Type: "float32", Order: "ABCD", Scale: 1, Unit: "kWh"},
		"energy_export_total": {Quantity: "energy_export_total", Function: "input", Address: 0x004A, Type: "float32", Order: "ABCD", Scale: 1, Unit: "kWh"},
		"active_power":        {Quantity: "active_power", Function: "input", Address: 0x0034, Type: "float32", Order: "ABCD", Scale: 0.001, Unit: "kW"},
		"voltage_l1":          {Quantity: "voltage_l1", Function: "input", Address: 0x0000, Type: "float32", Order: "ABCD", Scale: 1, Unit: "V"},
		"voltage_l3":          {Quantity: "voltage_l3", Function: "input", Address: 0x0004, Type: "float32", Order: "ABCD", Scale: 1, Unit: "V"},
		"current_l3":          {Quantity: "current_l3", Function: "input", Address: 0x000A, Type: "float32", Order: "ABCD", Scale: 1, Unit: "A"},
		"frequency":           {Quantity: "frequency", Function: "input", Address: 0x0046, Type: "float32", Order: "ABCD", Scale: 1, Unit: "Hz"},
		"power_factor":        {Quantity: "power_factor", Function: "input", Address: 0x003E, Type: "float32", Order: "ABCD", Scale: 1, Unit: "1"},
	}
	got := make(map[string]Register)
	for _, r := range p.Registers {
		got[r.Quantity] = r
	}
	for q, w := range want {
		if got[q] != w {
			t.Errorf("%s = %+v, want %+v", q, got[q], w)
		}
	}
}

func TestBuiltinUnknown(t *testing.T) {
	for _, name := range []string{"nope", "../profiles/eastron-sdm630", ""} {
		_, err := Builtin(name)
		if err == nil || !strings.Contains(err.Error(), "eastron-sdm630") {
			t.Errorf("Builtin(%q) = %v, want an error listing the known names", name, err)
		}
	}
}
