// Package profile describes meters: which register of a meter holds which quantity and how
// to decode it. Profiles are YAML files; the ones shipped with the project are embedded.
package profile

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"path"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

//go:embed profiles/*.yaml
var builtin embed.FS

// Profile is the register map of one meter model.
type Profile struct {
	Name        string
	Description string
	Source      string // where the register map comes from (manual, driver)
	Energy      string // electricity, gas, water or heat
	Registers   []Register
}

// Register is one quantity read from one place of a device.
// Its value in Unit is Decode(raw, Type, Order)*Scale + Offset.
type Register struct {
	Quantity string  // e.g. energy_import_total
	Function string  // coil, discrete, holding or input
	Address  uint16  // 0-based protocol address
	Type     string  // bool, int16, uint16, int32, uint32, int64, uint64, float32, float64
	Order    string  // ABCD (big-endian), CDAB (word swap), BADC (byte swap), DCBA (little-endian)
	Scale    float64 // multiplier from the raw value to Unit
	Offset   float64 // added after scaling
	Unit     string  // unit of the scaled value, a base unit of the quantity
}

// Words is how many registers (or, for bool, coils) the value spans; 0 for an unknown type.
func (r Register) Words() uint16 {
	switch r.Type {
	case "bool", "int16", "uint16":
		return 1
	case "int32", "uint32", "float32":
		return 2
	case "int64", "uint64", "float64":
		return 4
	}
	return 0
}

// Parse decodes and validates one profile. file names the source in errors.
func Parse(data []byte, file string) (*Profile, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, yamlError(file, err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil, fmt.Errorf("%s: empty profile", file)
	}

	// A second, typed pass: yaml.Node.Decode cannot reject unknown keys, a Decoder can.
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var raw rawProfile
	if err := dec.Decode(&raw); err != nil {
		return nil, yamlError(file, err)
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case err == nil:
		return nil, fmt.Errorf("%s:%d: more than one YAML document", file, extra.Line)
	case !errors.Is(err, io.EOF):
		return nil, yamlError(file, err)
	}

	p, errs := raw.validate(file, locate(doc.Content[0]))
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return p, nil
}

// Builtin returns a fresh copy of an embedded profile.
func Builtin(name string) (*Profile, error) {
	file := "profiles/" + name + ".yaml"
	data, err := builtin.ReadFile(file)
	if err != nil || !validName(name) {
		return nil, fmt.Errorf("unknown profile %q (known: %s)", name, strings.Join(BuiltinNames(), ", "))
	}
	p, err := Parse(data, file)
	if err != nil {
		return nil, err
	}
	if p.Name != name {
		return nil, fmt.Errorf("%s: name %q does not match the file name", file, p.Name)
	}
	return p, nil
}

// BuiltinNames lists the embedded profiles, sorted.
func BuiltinNames() []string {
	files, _ := fs.Glob(builtin, "profiles/*.yaml") // the pattern is constant and valid
	names := make([]string, 0, len(files))
	for _, f := range files {
		names = append(names, strings.TrimSuffix(path.Base(f), ".yaml"))
	}
	slices.Sort(names)
	return names
}

type rawProfile struct {
	Name        string        `yaml:"name"`
	Description string        `yaml:"description"`
	Source      string        `yaml:"source"`
	Energy      string        `yaml:"energy"`
	Registers   []rawRegister `yaml:"registers"`
}

type rawRegister struct {
	Quantity string   `yaml:"quantity"`
	Function string   `yaml:"function"`
	Address  *uint16  `yaml:"address"` // pointer: 0 is a valid address, absence is not
	Type     string   `yaml:"type"`
	Order    string   `yaml:"order"`
	Scale    *float64 `yaml:"scale"` // pointer: absent means 1, an explicit 0 is a mistake
	Offset   float64  `yaml:"offset"`
	Unit     string   `yaml:"unit"`
}

func (raw *rawProfile) validate(file string, at lines) (*Profile, []error) {
	var errs []error
	fail := func(line int, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s:%d: %s", file, line, fmt.Sprintf(format, args...)))
	}

	if !validName(raw.Name) {
		fail(at.key("name"), "name %q: want lower-case letters, digits, '.', '_' or '-'", raw.Name)
	}
	switch raw.Energy {
	case "electricity", "gas", "water", "heat":
	default:
		fail(at.key("energy"), "energy %q: want electricity, gas, water or heat", raw.Energy)
	}
	if len(raw.Registers) == 0 {
		fail(at.key("registers"), "no registers")
	}

	p := &Profile{Name: raw.Name, Description: raw.Description, Source: raw.Source, Energy: raw.Energy}
	seen := make(map[string]int) // quantity → index
	for i, rr := range raw.Registers {
		line := func(key string) int { return at.register(i, key) }
		what := fmt.Sprintf("register %d (%s)", i+1, rr.Quantity)
		r := Register{
			Quantity: rr.Quantity, Function: rr.Function, Type: rr.Type, Order: rr.Order,
			Scale: 1, Offset: rr.Offset, Unit: rr.Unit,
		}
		if !validQuantity(rr.Quantity) {
			fail(line("quantity"), "%s: quantity %q: want lower-case snake_case", what, rr.Quantity)
		} else if j, dup := seen[rr.Quantity]; dup {
			fail(line("quantity"), "%s: quantity %q already read by register %d", what, rr.Quantity, j+1)
		} else {
			seen[rr.Quantity] = i
		}
		switch rr.Function {
		case "coil", "discrete", "holding", "input":
		default:
			fail(line("function"), "%s: function %q: want coil, discrete, holding or input", what, rr.Function)
		}
		if rr.Address == nil {
			fail(line(""), "%s: address missing", what)
		} else {
			r.Address = *rr.Address
		}
		bits := rr.Function == "coil" || rr.Function == "discrete"
		switch {
		case r.Words() == 0:
			fail(line("type"), "%s: type %q: want bool, int16, uint16, int32, uint32, int64, uint64, float32 or float64", what, rr.Type)
		case bits != (rr.Type == "bool"):
			fail(line("type"), "%s: type %q does not fit function %q: coils and discrete inputs are bool, registers are numbers", what, rr.Type, rr.Function)
		}
		switch rr.Order {
		case "":
			r.Order = "ABCD"
		case "ABCD", "CDAB", "BADC", "DCBA":
		default:
			fail(line("order"), "%s: order %q: want ABCD, CDAB, BADC or DCBA", what, rr.Order)
		}
		if rr.Scale != nil {
			r.Scale = *rr.Scale
			if r.Scale == 0 || math.IsNaN(r.Scale) || math.IsInf(r.Scale, 0) {
				fail(line("scale"), "%s: scale %v: want a finite non-zero number", what, r.Scale)
			}
		}
		if math.IsNaN(r.Offset) || math.IsInf(r.Offset, 0) {
			fail(line("offset"), "%s: offset %v: want a finite number", what, r.Offset)
		}
		if strings.TrimSpace(rr.Unit) == "" {
			fail(line("unit"), "%s: unit missing (use \"1\" for a dimensionless quantity)", what)
		}
		if rr.Address != nil && r.Words() > 0 && int(r.Address)+int(r.Words()) > 0x10000 {
			fail(line("address"), "%s: address 0x%04X + %d registers runs past 0xFFFF", what, r.Address, r.Words())
		}
		p.Registers = append(p.Registers, r)
	}
	if len(errs) > 0 {
		return nil, errs
	}

	// Overlaps are checked on valid registers only, so each is reported once and precisely.
	idx := make([]int, len(p.Registers))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int {
		ra, rb := p.Registers[a], p.Registers[b]
		if c := strings.Compare(ra.Function, rb.Function); c != 0 {
			return c
		}
		return int(ra.Address) - int(rb.Address)
	})
	for k := 1; k < len(idx); k++ {
		prev, cur := p.Registers[idx[k-1]], p.Registers[idx[k]]
		if prev.Function == cur.Function && int(prev.Address)+int(prev.Words()) > int(cur.Address) {
			fail(at.register(idx[k], "address"), "register %d (%s): %s 0x%04X overlaps register %d (%s) at 0x%04X+%d",
				idx[k]+1, cur.Quantity, cur.Function, cur.Address, idx[k-1]+1, prev.Quantity, prev.Address, prev.Words())
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return p, nil
}

func validName(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// validQuantity keeps quantities usable as InfluxDB tag values and metric names.
func validQuantity(s string) bool {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// lines remembers where keys sit in the YAML so validation errors can point at them.
type lines struct {
	top  int
	keys map[string]int
	regs []regLines
}

type regLines struct {
	line int
	keys map[string]int
}

func locate(root *yaml.Node) lines {
	l := lines{top: root.Line, keys: keyLines(root)}
	if root.Kind != yaml.MappingNode {
		return l
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value != "registers" || root.Content[i+1].Kind != yaml.SequenceNode {
			continue
		}
		for _, item := range root.Content[i+1].Content {
			l.regs = append(l.regs, regLines{line: item.Line, keys: keyLines(item)})
		}
	}
	return l
}

func keyLines(n *yaml.Node) map[string]int {
	m := make(map[string]int)
	if n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			m[n.Content[i].Value] = n.Content[i].Line
		}
	}
	return m
}

func (l lines) key(k string) int {
	if n, ok := l.keys[k]; ok {
		return n
	}
	return l.top
}

func (l lines) register(i int, k string) int {
	if i >= len(l.regs) {
		return l.key("registers")
	}
	if n, ok := l.regs[i].keys[k]; ok {
		return n
	}
	return l.regs[i].line
}

// yamlError turns yaml's "line N: msg" into "file:N: msg", the form editors jump to.
func yamlError(file string, err error) error {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		errs := make([]error, 0, len(te.Errors))
		for _, m := range te.Errors {
			errs = append(errs, located(file, m))
		}
		return errors.Join(errs...)
	}
	return located(file, strings.TrimPrefix(err.Error(), "yaml: "))
}

func located(file, msg string) error {
	rest, ok := strings.CutPrefix(msg, "line ")
	if !ok {
		return fmt.Errorf("%s: %s", file, msg)
	}
	n, m, ok := strings.Cut(rest, ": ")
	if _, err := strconv.Atoi(n); !ok || err != nil {
		return fmt.Errorf("%s: %s", file, msg)
	}
	// "field foo not found in type profile.rawRegister" names our internals, not the user's mistake.
	if f, _, ok := strings.Cut(m, " not found in type "); ok && strings.HasPrefix(f, "field ") {
		m = fmt.Sprintf("unknown key %q", strings.TrimPrefix(f, "field "))
	}
	m = strings.NewReplacer("[]profile.rawRegister", "a list of registers",
		"profile.rawRegister", "a register", "profile.rawProfile", "a profile").Replace(m)
	return fmt.Errorf("%s:%s: %s", file, n, m)
}
