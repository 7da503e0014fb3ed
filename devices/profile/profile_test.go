package profile

import (
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
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
  - {quantity: x_heat_total, function: holding, address: 100, type: uint64, order: DCBA, unit: GJ}
  - {quantity: x_running, function: coil, address: 0, type: bool, unit: "1"}
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
			{Quantity: "x_heat_total", Function: "holding", Address: 100, Type: "uint64", Order: "DCBA", Scale: 1, Unit: "GJ"},
			{Quantity: "x_running", Function: "coil", Address: 0, Type: "bool", Order: "ABCD", Scale: 1, Unit: "1"},
		},
	}
	if !reflect.DeepEqual(p, want) {
		t.Errorf("Parse:\n got %+v\nwant %+v", p, want)
	}
}

func TestParseErrors(t *testing.T) {
	// head reads the cumulative quantity, so each case fails for its own reason only.
	const head = "name: m\nenergy: electricity\nregisters:\n  - {quantity: energy_import_total, function: input, address: 0x100, type: float32, unit: kWh}\n"
	reg := func(fields string) string { return head + "  - {" + fields + "}\n" }
	const ok = "quantity: x_q, function: input, address: 0, type: float32, unit: V"
	quirk := func(lines string) string { return head + "  - {" + ok + "}\n" + lines }
	tests := []struct {
		name, yaml string
		want       []string // substrings of the error
	}{
		{"empty", "", []string{"p.yaml: empty profile"}},
		{"syntax", "name: [\n", []string{"p.yaml:"}},
		{"not a mapping", "- a\n", []string{"p.yaml:1:", "into a profile"}},
		{"unknown top key", "name: m\nenergy: gas\nmeter: x\nregisters:\n  - {" + ok + "}\n", []string{"p.yaml:3:", `unknown key "meter"`}},
		{"unknown register key", reg(ok + ", bits: 3"), []string{"p.yaml:5:", `unknown key "bits"`}},
		{"duplicate key", "name: m\nname: n\n", []string{"p.yaml:2:", `"name" already defined`}},
		{"two documents", head + "---\nname: x\n", []string{"p.yaml:5:", "more than one YAML document"}},
		{"address too large", reg("quantity: x_q, function: input, address: 0x10000, type: float32, unit: V"), []string{"p.yaml:5:", "uint16"}},
		{"missing name", "energy: gas\nregisters:\n  - {" + ok + "}\n", []string{"p.yaml:1:", `name ""`}},
		{"bad name", "name: My Meter\nenergy: gas\nregisters:\n  - {" + ok + "}\n", []string{"p.yaml:1:", `name "My Meter"`}},
		{"bad energy", "name: m\nenergy: steam\nregisters:\n  - {" + ok + "}\n", []string{"p.yaml:2:", `energy "steam"`}},
		{"no registers", "name: m\nenergy: gas\n", []string{"p.yaml:1:", "no registers"}},
		{"bad quantity", reg("quantity: Energy, function: input, address: 0, type: float32, unit: V"), []string{"p.yaml:5:", `quantity "Energy"`}},
		{"unknown quantity", reg("quantity: voltage, function: input, address: 0, type: float32, unit: V"),
			[]string{"p.yaml:5:", `quantity "voltage" is not one of electricity`, "voltage_l1", `prefix a quantity of your own with "x_"`}},
		{"quantity of another energy", reg("quantity: volume_total, function: input, address: 0, type: float32, unit: m³"),
			[]string{"p.yaml:5:", `quantity "volume_total" is not one of electricity`}},
		{"meter unit instead of base unit", reg("quantity: active_power, function: input, address: 0, type: float32, unit: W"),
			[]string{"p.yaml:5:", `unit "W": active_power is stored in kW; convert with scale`}},
		{"energy in Wh", "name: m\nenergy: electricity\nregisters:\n  - {quantity: energy_import_total, function: holding, address: 3203, type: int64, unit: Wh}\n",
			[]string{"p.yaml:4:", `unit "Wh": energy_import_total is stored in kWh`}},
		{"no cumulative quantity", "name: m\nenergy: gas\nregisters:\n  - {quantity: flow_rate, function: input, address: 0, type: float32, unit: m3/h}\n",
			[]string{"p.yaml:3:", "no register reads volume_total: consumption of gas is taken from it"}},
		{"bad function", reg("quantity: x_q, function: holdings, address: 0, type: float32, unit: V"), []string{"p.yaml:5:", `function "holdings"`}},
		{"missing address", reg("quantity: x_q, function: input, type: float32, unit: V"), []string{"p.yaml:5:", "address missing"}},
		{"bad type", reg("quantity: x_q, function: input, address: 0, type: float, unit: V"), []string{"p.yaml:5:", `type "float"`}},
		{"bool register", reg("quantity: x_q, function: input, address: 0, type: bool, unit: V"), []string{`type "bool" does not fit function "input"`}},
		{"numeric coil", reg("quantity: x_q, function: coil, address: 0, type: uint16, unit: V"), []string{`type "uint16" does not fit function "coil"`}},
		{"bad order", reg(ok + ", order: abcd"), []string{"p.yaml:5:", `order "abcd"`}},
		{"zero scale", reg(ok + ", scale: 0"), []string{"p.yaml:5:", "scale 0"}},
		{"nan scale", reg(ok + ", scale: .nan"), []string{"scale NaN"}},
		{"inf offset", reg(ok + ", offset: .inf"), []string{"offset +Inf"}},
		{"missing unit", reg("quantity: x_q, function: input, address: 0, type: float32"), []string{"p.yaml:5:", "unit missing"}},
		{"blank unit", reg("quantity: x_q, function: input, address: 0, type: float32, unit: ' '"), []string{"unit missing"}},
		{"past 0xFFFF", reg("quantity: x_q, function: input, address: 0xFFFE, type: int64, unit: V"), []string{"runs past 0xFFFF"}},
		{
			"duplicate quantity",
			head + "  - {" + ok + "}\n  - {quantity: x_q, function: input, address: 8, type: float32, unit: V}\n",
			[]string{"p.yaml:6:", `quantity "x_q" already read by register 2`},
		},
		{
			"overlap",
			head + "  - {quantity: x_a, function: input, address: 0x10, type: float32, unit: V}\n" +
				"  - {quantity: x_b, function: input, address: 0x11, type: uint16, unit: V}\n",
			[]string{"p.yaml:6:", "register 3 (x_b): input 0x0011 overlaps register 2 (x_a) at 0x0010+2"},
		},
		{
			"overlap reported at the later register, block style",
			head + "  - quantity: x_a\n    function: holding\n    address: 4\n    type: uint16\n    unit: V\n" +
				"  - quantity: x_b\n    function: holding\n    address: 2\n    type: int64\n    unit: V\n",
			[]string{"p.yaml:7:", "register 2 (x_a): holding 0x0004 overlaps register 3 (x_b) at 0x0002+4"},
		},
		{
			"several errors at once",
			reg("quantity: x_q, function: x, address: 0, type: y, unit: V"),
			[]string{`function "x"`, `type "y"`},
		},
		{"pause not a duration", quirk("pause_after_connect: 5\n"), []string{"p.yaml:6:", "time.Duration"}},
		{"negative pause", quirk("pause_after_connect: -1s\n"), []string{"p.yaml:6:", "pause_after_connect -1s: want 0 to 10s"}},
		{"pause too long", quirk("pause_between_requests: 1m\n"), []string{"p.yaml:6:", "pause_between_requests 1m0s: want 0 to 10s"}},
		{"max gap too large", quirk("max_gap: 2000\n"), []string{"p.yaml:6:", "max_gap 2000: want 0 to 1998"}},
		{"max gap negative", quirk("max_gap: -1\n"), []string{"p.yaml:6:", "uint16"}},
		{"close after cycle not a bool", quirk("close_after_cycle: sometimes\n"), []string{"p.yaml:6:", "bool"}},
		{"no read across zero", quirk("no_read_across: [0x10, 0]\n"), []string{"p.yaml:6:", "no_read_across 0x0000: no address lies below it"}},
		{"no read across twice", quirk("no_read_across:\n  - 0x10\n  - 0x20\n  - 0x10\n"), []string{"p.yaml:9:", "no_read_across 0x0010 given twice"}},
		{"no read across splits a value", quirk("no_read_across:\n  - 0x40\n  - 0x101\n"),
			[]string{"p.yaml:8:", "no_read_across 0x0101 splits register 1 (energy_import_total) at 0x0100+2"}},
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
		"  - {quantity: volume_total, function: input, address: 0x10, type: float32, unit: m3}\n" +
		"  - {quantity: flow_rate, function: holding, address: 0x10, type: float32, unit: m³/h}\n" +
		"  - {quantity: x_valve, function: coil, address: 0x10, type: bool, unit: '1'}\n"
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

func TestParseQuirks(t *testing.T) {
	y := validYAML + `close_after_cycle: true
pause_after_connect: 500ms
pause_between_requests: 20ms
one_register_per_request: true
max_gap: 0
no_read_across: [0x0100, 0x0050]
`
	p, err := Parse([]byte(y), "q.yaml")
	if err != nil {
		t.Fatal(err)
	}
	gap := uint16(0)
	want := Quirks{CloseAfterCycle: true, PauseAfterConnect: 500 * time.Millisecond, PauseBetweenRequests: 20 * time.Millisecond,
		OneRegisterPerRequest: true, MaxGap: &gap, NoReadAcross: []uint16{0x0050, 0x0100}}
	if !reflect.DeepEqual(p.Quirks, want) {
		t.Errorf("Quirks = %+v, want %+v", p.Quirks, want)
	}
	// Absent options are the well-behaved device, and an absent max_gap is not 0.
	p, err = Parse([]byte(validYAML), "q.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(p.Quirks, Quirks{}) {
		t.Errorf("Quirks without options = %+v, want the zero value", p.Quirks)
	}
}

func TestUnitsNormalized(t *testing.T) {
	y := "name: w\nenergy: water\nregisters:\n" +
		"  - {quantity: volume_total, function: input, address: 0, type: uint32, scale: 0.001, unit: m3}\n" +
		"  - {quantity: flow_rate, function: input, address: 2, type: float32, unit: ' m3/h '}\n"
	p, err := Parse([]byte(y), "w.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if p.Registers[0].Unit != "m³" || p.Registers[1].Unit != "m³/h" {
		t.Errorf("units %q, %q: want m³ and m³/h", p.Registers[0].Unit, p.Registers[1].Unit)
	}
}

func TestVocabulary(t *testing.T) {
	for _, energy := range []string{"electricity", "gas", "water", "heat"} {
		qs := Quantities(energy)
		if len(qs) == 0 {
			t.Errorf("%s: no quantities", energy)
		}
		for _, q := range qs {
			if u, ok := BaseUnit(energy, q); !ok || u == "" {
				t.Errorf("%s %s: BaseUnit = %q, %v", energy, q, u, ok)
			}
		}
	}
	if u, ok := BaseUnit("electricity", "active_power"); u != "kW" || !ok {
		t.Errorf("active_power in %q, %v", u, ok)
	}
	if _, ok := BaseUnit("gas", "active_power"); ok {
		t.Error("gas has no active_power")
	}
}

func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const userMeter = `name: site-meter
energy: electricity
registers:
  - {quantity: energy_import_total, function: holding, address: 0x10, type: uint32, order: CDAB, scale: 0.1, unit: kWh}
`

func TestLoadDir(t *testing.T) {
	sdm := strings.Replace(userMeter, "site-meter", "eastron-sdm630", 1)
	dir := writeFiles(t, map[string]string{
		"site-meter.yaml":     userMeter,
		"eastron-sdm630.yaml": sdm, // replaces the shipped one
		"README.md":           "not a profile",
		"notes.yml":           "not read either: profiles are *.yaml",
	})
	if err := os.Mkdir(filepath.Join(dir, "old.yaml"), 0o755); err != nil {
		t.Fatal(err)
	}
	user, err := LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(user) != 2 || user["site-meter"] == nil || user["site-meter"].Origin != filepath.Join(dir, "site-meter.yaml") {
		t.Fatalf("LoadDir = %v", user)
	}

	for _, tt := range []struct {
		name, origin string
		addr         uint16
	}{
		{"site-meter", filepath.Join(dir, "site-meter.yaml"), 0x10},
		{"eastron-sdm630", filepath.Join(dir, "eastron-sdm630.yaml"), 0x10}, // the user's wins
		{"chint-dtsu666", "builtin", 0x2006},
	} {
		p, err := Lookup(tt.name, user)
		if err != nil {
			t.Fatalf("Lookup(%s): %v", tt.name, err)
		}
		if p.Origin != tt.origin || p.Registers[0].Address != tt.addr {
			t.Errorf("Lookup(%s) = origin %s, first address 0x%04X; want %s, 0x%04X", tt.name, p.Origin, p.Registers[0].Address, tt.origin, tt.addr)
		}
		p.Registers[0].Address = 0xBEEF // a copy: the next lookup must not see this
	}
	if p, _ := Lookup("site-meter", user); p.Registers[0].Address != 0x10 {
		t.Error("Lookup shares the user profile")
	}
	if _, err := Lookup("nope", user); err == nil || !strings.Contains(err.Error(), "site-meter") || !strings.Contains(err.Error(), "acrel-adl400") {
		t.Errorf("Lookup(nope) error %v, want the known names of both kinds", err)
	}
	names := Names(user)
	if !slices.IsSorted(names) || len(names) != len(BuiltinNames())+1 || !slices.Contains(names, "site-meter") {
		t.Errorf("Names = %v", names)
	}
	if p, err := Lookup("chint-dtsu666", nil); err != nil || p.Origin != "builtin" {
		t.Errorf("Lookup without user profiles = %v, %v", p, err)
	}
}

func TestLoadDirErrors(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"ok.yaml":    strings.Replace(userMeter, "site-meter", "ok", 1),
		"wrong.yaml": userMeter,
		"bad.yaml":   userMeter + "  - {quantity: active_power, function: holding, address: 0x20, type: int32, unit: W}\n",
	})
	_, err := LoadDir(dir)
	if err == nil {
		t.Fatal("LoadDir accepted broken files")
	}
	for _, want := range []string{
		filepath.Join(dir, "wrong.yaml") + `:1: name "site-meter" does not match the file name (want "wrong")`,
		filepath.Join(dir, "bad.yaml") + `:5: register 2 (active_power): unit "W"`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
	if _, err := LoadDir(filepath.Join(dir, "missing")); err == nil || !strings.Contains(err.Error(), "load profiles") {
		t.Errorf("missing folder: error %v", err)
	}
}

func TestBuiltins(t *testing.T) {
	names := BuiltinNames()
	want := []string{"acrel-adl400", "chint-ddsu666", "chint-dtsu666", "eastron-sdm120", "eastron-sdm630", "schneider-pm5100"}
	if !slices.Equal(names, want) {
		t.Fatalf("BuiltinNames = %v, want %v", names, want)
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
		if p.Source == "" || p.Description == "" || p.Origin != "builtin" {
			t.Errorf("%s: shipped profiles cite their source and describe the meter (origin %q)", name, p.Origin)
		}
		// Each call returns its own copy, so a caller may change it.
		p.Registers[0].Scale = 42
		if q, _ := Builtin(name); q.Registers[0].Scale == 42 {
			t.Errorf("%s: Builtin shares state between calls", name)
		}
	}
}

// The shipped maps, register by register: a changed address or scale must be deliberate.
// Rows are quantity, function, address, type, scale, unit; every shipped order is ABCD.
func TestBuiltinMaps(t *testing.T) {
	type row struct {
		q, fn string
		addr  uint16
		typ   string
		scale float64
		unit  string
	}
	maps := map[string][]row{
		"eastron-sdm630": {
			{"voltage_l1", "input", 0x0000, "float32", 1, "V"}, {"voltage_l2", "input", 0x0002, "float32", 1, "V"},
			{"voltage_l3", "input", 0x0004, "float32", 1, "V"}, {"current_l1", "input", 0x0006, "float32", 1, "A"},
			{"current_l2", "input", 0x0008, "float32", 1, "A"}, {"current_l3", "input", 0x000A, "float32", 1, "A"},
			{"active_power", "input", 0x0034, "float32", 0.001, "kW"}, {"reactive_power", "input", 0x003C, "float32", 0.001, "kvar"},
			{"power_factor", "input", 0x003E, "float32", 1, "1"}, {"frequency", "input", 0x0046, "float32", 1, "Hz"},
			{"energy_import_total", "input", 0x0048, "float32", 1, "kWh"}, {"energy_export_total", "input", 0x004A, "float32", 1, "kWh"},
		},
		"eastron-sdm120": {
			{"voltage_l1", "input", 0x0000, "float32", 1, "V"}, {"current_l1", "input", 0x0006, "float32", 1, "A"},
			{"active_power", "input", 0x000C, "float32", 0.001, "kW"}, {"reactive_power", "input", 0x0018, "float32", 0.001, "kvar"},
			{"power_factor", "input", 0x001E, "float32", 1, "1"}, {"frequency", "input", 0x0046, "float32", 1, "Hz"},
			{"energy_import_total", "input", 0x0048, "float32", 1, "kWh"}, {"energy_export_total", "input", 0x004A, "float32", 1, "kWh"},
		},
		"chint-dtsu666": {
			{"voltage_l1", "holding", 0x2006, "float32", 0.1, "V"}, {"voltage_l2", "holding", 0x2008, "float32", 0.1, "V"},
			{"voltage_l3", "holding", 0x200A, "float32", 0.1, "V"}, {"current_l1", "holding", 0x200C, "float32", 0.001, "A"},
			{"current_l2", "holding", 0x200E, "float32", 0.001, "A"}, {"current_l3", "holding", 0x2010, "float32", 0.001, "A"},
			{"active_power", "holding", 0x2012, "float32", 0.0001, "kW"}, {"reactive_power", "holding", 0x201A, "float32", 0.0001, "kvar"},
			{"power_factor", "holding", 0x202A, "float32", 0.001, "1"}, {"frequency", "holding", 0x2044, "float32", 0.01, "Hz"},
			{"energy_import_total", "holding", 0x101E, "float32", 1, "kWh"}, {"energy_export_total", "holding", 0x1028, "float32", 1, "kWh"},
		},
		"chint-ddsu666": {
			{"voltage_l1", "holding", 0x2000, "float32", 1, "V"}, {"current_l1", "holding", 0x2002, "float32", 1, "A"},
			{"active_power", "holding", 0x2004, "float32", 1, "kW"}, {"reactive_power", "holding", 0x2006, "float32", 1, "kvar"},
			{"power_factor", "holding", 0x200A, "float32", 1, "1"}, {"frequency", "holding", 0x200E, "float32", 1, "Hz"},
			{"energy_import_total", "holding", 0x4000, "float32", 1, "kWh"}, {"energy_export_total", "holding", 0x400A, "float32", 1, "kWh"},
		},
		"acrel-adl400": {
			{"energy_import_total", "holding", 0x000A, "uint32", 0.01, "kWh"}, {"energy_export_total", "holding", 0x0014, "uint32", 0.01, "kWh"},
			{"voltage_l1", "holding", 0x0061, "uint16", 0.1, "V"}, {"voltage_l2", "holding", 0x0062, "uint16", 0.1, "V"},
			{"voltage_l3", "holding", 0x0063, "uint16", 0.1, "V"}, {"current_l1", "holding", 0x0064, "uint16", 0.01, "A"},
			{"current_l2", "holding", 0x0065, "uint16", 0.01, "A"}, {"current_l3", "holding", 0x0066, "uint16", 0.01, "A"},
			{"frequency", "holding", 0x0077, "uint16", 0.01, "Hz"}, {"active_power", "holding", 0x016A, "int32", 0.001, "kW"},
			{"reactive_power", "holding", 0x0172, "int32", 0.001, "kvar"}, {"power_factor", "holding", 0x017F, "int16", 0.001, "1"},
		},
		"schneider-pm5100": {
			{"current_l1", "holding", 2999, "float32", 1, "A"}, {"current_l2", "holding", 3001, "float32", 1, "A"},
			{"current_l3", "holding", 3003, "float32", 1, "A"}, {"voltage_l1", "holding", 3027, "float32", 1, "V"},
			{"voltage_l2", "holding", 3029, "float32", 1, "V"}, {"voltage_l3", "holding", 3031, "float32", 1, "V"},
			{"active_power", "holding", 3059, "float32", 1, "kW"}, {"reactive_power", "holding", 3067, "float32", 1, "kvar"},
			{"frequency", "holding", 3109, "float32", 1, "Hz"},
			{"energy_import_total", "holding", 3203, "int64", 0.001, "kWh"}, {"energy_export_total", "holding", 3207, "int64", 0.001, "kWh"},
		},
	}
	if len(maps) != len(BuiltinNames()) {
		t.Errorf("maps for %d profiles, %d shipped", len(maps), len(BuiltinNames()))
	}
	for name, rows := range maps {
		p, err := Builtin(name)
		if err != nil {
			t.Fatal(err)
		}
		var got []row
		for _, r := range p.Registers {
			if r.Order != "ABCD" || r.Offset != 0 {
				t.Errorf("%s %s: order %s offset %v", name, r.Quantity, r.Order, r.Offset)
			}
			got = append(got, row{r.Quantity, r.Function, r.Address, r.Type, r.Scale, r.Unit})
		}
		if !slices.Equal(got, rows) {
			t.Errorf("%s:\n got %v\nwant %v", name, got, rows)
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

func TestBitRegisters(t *testing.T) {
	ok := `name: flags
source: test
energy: electricity
registers:
  - {quantity: energy_import_total, function: input, address: 0, type: float32, unit: kWh}
  - {quantity: x_alarm_overvoltage, function: holding, address: 16, type: uint16, bit: 0, unit: "1"}
  - {quantity: x_alarm_overcurrent, function: holding, address: 16, type: uint16, bit: 1, unit: "1"}
`
	p, err := Parse([]byte(ok), "flags.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if p.Registers[2].Bit == nil || *p.Registers[2].Bit != 1 {
		t.Fatalf("%+v", p.Registers[2])
	}
	for name, bad := range map[string]string{
		"bit on a float":       strings.Replace(ok, "type: uint16, bit: 0", "type: float32, bit: 0", 1),
		"bit beyond type":      strings.Replace(ok, "bit: 1", "bit: 16", 1),
		"overlap without bits": strings.Replace(strings.Replace(ok, ", bit: 0", "", 1), ", bit: 1", "", 1),
	} {
		if _, err := Parse([]byte(bad), "flags.yaml"); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
