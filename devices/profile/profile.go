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
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/parkcarbon/parkcarbon/internal/wire"
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
	Quirks      Quirks
	Origin      string // "builtin", or the file a user profile was loaded from; "" from Parse
}

// Quirks are a meter model's known deviations from a well-behaved Modbus device, as field
// users of other collectors met them. The zero value is a well-behaved device.
type Quirks struct {
	// CloseAfterCycle: the device serves one master at a time, so the connection is dropped
	// after each poll of it and others get their turn (Telegraf #8225).
	CloseAfterCycle bool
	// PauseAfterConnect: the device drops or garbles requests sent right after a connect.
	PauseAfterConnect time.Duration
	// PauseBetweenRequests: least silence between an answer and the next request (Telegraf #11919).
	PauseBetweenRequests time.Duration
	// OneRegisterPerRequest: the device rejects block reads; every register is read alone
	// (Telegraf #12071).
	OneRegisterPerRequest bool
	// MaxGap is the largest run of unused registers one read may bridge; nil leaves it to the
	// agent's default.
	MaxGap *uint16
	// NoReadAcross lists addresses the device refuses to read across: no read covers both
	// a-1 and a (a block boundary, or an unimplemented register that is not itself read).
	// Sorted, without duplicates.
	NoReadAcross []uint16
}

// Clone returns a deep copy, so a caller may change it.
func (p *Profile) Clone() *Profile {
	c := *p
	c.Registers = slices.Clone(p.Registers)
	c.Quirks.NoReadAcross = slices.Clone(p.Quirks.NoReadAcross)
	if p.Quirks.MaxGap != nil {
		g := *p.Quirks.MaxGap
		c.Quirks.MaxGap = &g
	}
	return &c
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
	// Bit, if set, takes one bit (0 = least significant) of an integer
	// register: a status flag. Several registers may then share an address.
	Bit *uint8
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
	p.Origin = "builtin"
	return p, nil
}

// LoadDir parses every *.yaml file of dir as a user profile, keyed by name. A file's name
// must be its profile's name plus ".yaml", so a config naming a profile names its file too.
// Other files and folders are ignored. All broken files are reported, each with its path.
func LoadDir(dir string) (map[string]*Profile, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("load profiles: %w", err)
	}
	profiles := make(map[string]*Profile)
	var errs []error
	for _, e := range entries {
		if e.IsDir() || filepath.Ext(e.Name()) != ".yaml" {
			continue
		}
		file := filepath.Join(dir, e.Name())
		data, err := os.ReadFile(file)
		if err != nil {
			errs = append(errs, fmt.Errorf("load profile: %w", err))
			continue
		}
		p, err := Parse(data, file)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if want := strings.TrimSuffix(e.Name(), ".yaml"); p.Name != want {
			errs = append(errs, fmt.Errorf("%s:%d: name %q does not match the file name (want %q)", file, nameLine(data), p.Name, want))
			continue
		}
		p.Origin = file
		profiles[p.Name] = p
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return profiles, nil
}

// nameLine finds the line of the name key in a profile that parsed, for an error about it.
func nameLine(data []byte) int {
	var doc yaml.Node
	if yaml.Unmarshal(data, &doc) != nil || len(doc.Content) == 0 {
		return 1
	}
	return locate(doc.Content[0]).key("name")
}

// Lookup returns a copy of the profile called name: the user's if user has one, else the
// built-in one. A user profile may thus replace a shipped one, so a map fixed on site needs
// no new release; Origin tells which one was taken.
func Lookup(name string, user map[string]*Profile) (*Profile, error) {
	if p, ok := user[name]; ok {
		return p.Clone(), nil
	}
	if slices.Contains(BuiltinNames(), name) {
		return Builtin(name)
	}
	return nil, fmt.Errorf("unknown profile %q (known: %s)", name, strings.Join(Names(user), ", "))
}

// Names lists the built-in and user profiles, sorted, each once.
func Names(user map[string]*Profile) []string {
	names := BuiltinNames()
	for n := range user {
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return names
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

	CloseAfterCycle       bool          `yaml:"close_after_cycle"`
	PauseAfterConnect     time.Duration `yaml:"pause_after_connect"`
	PauseBetweenRequests  time.Duration `yaml:"pause_between_requests"`
	OneRegisterPerRequest bool          `yaml:"one_register_per_request"`
	MaxGap                *uint16       `yaml:"max_gap"` // pointer: 0 is a choice, absence is the default
	NoReadAcross          []uint16      `yaml:"no_read_across"`
}

// Bounds of the quirk options: a longer pause would eat any poll interval, and no read
// spans more than 2000 bits, so a larger gap could never be bridged.
const (
	maxPause = 10 * time.Second
	maxGap   = 1998
)

type rawRegister struct {
	Quantity string   `yaml:"quantity"`
	Function string   `yaml:"function"`
	Address  *uint16  `yaml:"address"` // pointer: 0 is a valid address, absence is not
	Type     string   `yaml:"type"`
	Order    string   `yaml:"order"`
	Scale    *float64 `yaml:"scale"` // pointer: absent means 1, an explicit 0 is a mistake
	Offset   float64  `yaml:"offset"`
	Unit     string   `yaml:"unit"`
	Bit      *uint8   `yaml:"bit"`
}

func (raw *rawProfile) validate(file string, at lines) (*Profile, []error) {
	var errs []error
	fail := func(line int, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s:%d: %s", file, line, fmt.Sprintf(format, args...)))
	}

	if !validName(raw.Name) {
		fail(at.key("name"), "name %q: want lower-case letters, digits, '.', '_' or '-'", raw.Name)
	}
	knownEnergy := true
	switch raw.Energy {
	case "electricity", "gas", "water", "heat":
	default:
		knownEnergy = false
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
			Scale: 1, Offset: rr.Offset, Unit: normalUnit(strings.TrimSpace(rr.Unit)), Bit: rr.Bit,
		}
		if rr.Bit != nil {
			switch rr.Type {
			case "int16", "uint16", "int32", "uint32", "int64", "uint64":
				if int(*rr.Bit) >= 16*int(r.Words()) {
					fail(line("bit"), "%s: bit %d is beyond a %s", what, *rr.Bit, rr.Type)
				}
			default:
				fail(line("bit"), "%s: bit needs an integer register type, not %q", what, rr.Type)
			}
		}
		base, inVocabulary := BaseUnit(raw.Energy, rr.Quantity)
		switch {
		case !validQuantity(rr.Quantity):
			fail(line("quantity"), "%s: quantity %q: want lower-case snake_case", what, rr.Quantity)
		case !inVocabulary && !IsCustom(rr.Quantity) && knownEnergy:
			fail(line("quantity"), "%s: quantity %q is not one of %s (%s); prefix a quantity of your own with %q",
				what, rr.Quantity, raw.Energy, strings.Join(Quantities(raw.Energy), ", "), customPrefix)
		}
		if j, dup := seen[rr.Quantity]; dup && rr.Quantity != "" {
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
		switch {
		case r.Unit == "":
			fail(line("unit"), "%s: unit missing (use \"1\" for a dimensionless quantity)", what)
		case inVocabulary && r.Unit != base:
			// The classic mistake is the meter's unit (W, Wh) instead of the base unit: the
			// scale converts, the unit names the result.
			fail(line("unit"), "%s: unit %q: %s is stored in %s; convert with scale", what, rr.Unit, rr.Quantity, base)
		}
		if rr.Address != nil && r.Words() > 0 && int(r.Address)+int(r.Words()) > 0x10000 {
			fail(line("address"), "%s: address 0x%04X + %d registers runs past 0xFFFF", what, r.Address, r.Words())
		}
		p.Registers = append(p.Registers, r)
	}
	if cum, ok := wire.CumulativeQuantity(raw.Energy); ok && len(raw.Registers) > 0 {
		if _, has := seen[cum]; !has {
			fail(at.key("registers"), "no register reads %s: consumption of %s is taken from it", cum, raw.Energy)
		}
	}
	p.Quirks = raw.quirks(at, fail)
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
		sameFlags := prev.Bit != nil && cur.Bit != nil && prev.Address == cur.Address && prev.Type == cur.Type
		if prev.Function == cur.Function && int(prev.Address)+int(prev.Words()) > int(cur.Address) && !sameFlags {
			fail(at.register(idx[k], "address"), "register %d (%s): %s 0x%04X overlaps register %d (%s) at 0x%04X+%d",
				idx[k]+1, cur.Quantity, cur.Function, cur.Address, idx[k-1]+1, prev.Quantity, prev.Address, prev.Words())
		}
	}
	// A boundary inside a value cannot be honoured: the value must be read whole.
	for k, a := range raw.NoReadAcross {
		for i, r := range p.Registers {
			if r.Address < a && int(a) < int(r.Address)+int(r.Words()) {
				fail(at.item("no_read_across", k), "no_read_across 0x%04X splits register %d (%s) at 0x%04X+%d",
					a, i+1, r.Quantity, r.Address, r.Words())
			}
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return p, nil
}

// quirks validates the profile-level quirk options.
func (raw *rawProfile) quirks(at lines, fail func(int, string, ...any)) Quirks {
	q := Quirks{
		CloseAfterCycle: raw.CloseAfterCycle, PauseAfterConnect: raw.PauseAfterConnect,
		PauseBetweenRequests: raw.PauseBetweenRequests, OneRegisterPerRequest: raw.OneRegisterPerRequest,
		MaxGap: raw.MaxGap,
	}
	for _, p := range []struct {
		key string
		d   time.Duration
	}{{"pause_after_connect", raw.PauseAfterConnect}, {"pause_between_requests", raw.PauseBetweenRequests}} {
		if p.d < 0 || p.d > maxPause {
			fail(at.key(p.key), "%s %s: want 0 to %s", p.key, p.d, maxPause)
		}
	}
	if raw.MaxGap != nil && *raw.MaxGap > maxGap {
		fail(at.key("max_gap"), "max_gap %d: want 0 to %d (no read spans more than 2000 bits or 125 registers)", *raw.MaxGap, maxGap)
	}
	for k, a := range raw.NoReadAcross {
		switch {
		case a == 0:
			fail(at.item("no_read_across", k), "no_read_across 0x0000: no address lies below it to read across from")
		case slices.Contains(raw.NoReadAcross[:k], a):
			fail(at.item("no_read_across", k), "no_read_across 0x%04X given twice", a)
		}
	}
	if len(raw.NoReadAcross) > 0 {
		q.NoReadAcross = slices.Clone(raw.NoReadAcross)
		slices.Sort(q.NoReadAcross)
	}
	return q
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
	top   int
	keys  map[string]int
	regs  []regLines
	items map[string][]int // top-level key → line of each item of its sequence
}

type regLines struct {
	line int
	keys map[string]int
}

func locate(root *yaml.Node) lines {
	l := lines{top: root.Line, keys: keyLines(root), items: make(map[string][]int)}
	if root.Kind != yaml.MappingNode {
		return l
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		key, val := root.Content[i].Value, root.Content[i+1]
		if val.Kind != yaml.SequenceNode {
			continue
		}
		for _, item := range val.Content {
			l.items[key] = append(l.items[key], item.Line)
			if key == "registers" {
				l.regs = append(l.regs, regLines{line: item.Line, keys: keyLines(item)})
			}
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

// item is the line of the i-th item of a top-level sequence.
func (l lines) item(key string, i int) int {
	if i < len(l.items[key]) {
		return l.items[key][i]
	}
	return l.key(key)
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
