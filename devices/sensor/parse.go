package sensor

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/parkcarbon/parkcarbon/internal/wire"
)

type rawMapping struct {
	Name        string     `yaml:"name"`
	Description string     `yaml:"description"`
	Source      string     `yaml:"source"` // for the reader: where the payload shape comes from
	Topic       string     `yaml:"topic"`
	Payload     string     `yaml:"payload"`
	Meter       *rawID     `yaml:"meter"`
	Enterprise  *rawID     `yaml:"enterprise"`
	Energy      string     `yaml:"energy"`
	Timestamp   *rawTS     `yaml:"timestamp"`
	Values      []rawValue `yaml:"values"`
}

type rawID struct {
	Segment *int   `yaml:"segment"` // pointer: 0 is a valid level, absence is not
	Value   string `yaml:"value"`
	Prefix  string `yaml:"prefix"`
}

type rawTS struct {
	Path   string `yaml:"path"`
	Format string `yaml:"format"`
}

type rawValue struct {
	Quantity string `yaml:"quantity"`
	Path     string `yaml:"path"`
	Unit     string `yaml:"unit"`
}

// Parse decodes and validates one mapping. file names the source in errors, which
// point at the offending line ("file:line: message").
func Parse(data []byte, file string) (*Mapping, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, yamlError(file, err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil, fmt.Errorf("%s: empty mapping", file)
	}

	// A second, typed pass: yaml.Node.Decode cannot reject unknown keys, a Decoder can.
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var raw rawMapping
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

	m, errs := raw.compile(file, doc.Content[0])
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return m, nil
}

func (raw *rawMapping) compile(file string, root *yaml.Node) (*Mapping, []error) {
	var errs []error
	fail := func(line int, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s:%d: %s", file, line, fmt.Sprintf(format, args...)))
	}
	line := func(path ...any) int { return lineOf(root, path...) }

	m := &Mapping{name: raw.Name, description: raw.Description, filter: raw.Topic, energy: raw.Energy}
	if !validName(raw.Name) {
		fail(line("name"), "name %q: want lower-case letters, digits, '.', '_' or '-'", raw.Name)
	}
	levels, err := checkFilter(raw.Topic)
	if err != nil {
		fail(line("topic"), "%v", err)
	}
	m.levels = levels
	switch raw.Payload {
	case "", "json":
	case "number":
		m.number = true
	default:
		fail(line("payload"), "payload %q: want json (the default) or number", raw.Payload)
	}
	energyOK := true
	switch raw.Energy {
	case wire.Electricity, wire.Gas, wire.Water, wire.Heat:
	default:
		energyOK = false
		fail(line("energy"), "energy %q: want electricity, gas, water or heat", raw.Energy)
	}

	if raw.Meter == nil {
		fail(line("meter"), "meter missing: want {segment: N} (a topic level) or {value: ID}")
	} else if s, err := raw.Meter.compile(levels); err != nil {
		fail(line("meter"), "meter: %v", err)
	} else {
		m.meter = s
	}
	m.enterprise = idSource{segment: -1} // none: the edge config gives it
	if raw.Enterprise != nil {
		if s, err := raw.Enterprise.compile(levels); err != nil {
			fail(line("enterprise"), "enterprise: %v", err)
		} else {
			m.enterprise = s
		}
	}

	if t := raw.Timestamp; t != nil {
		ts, err := t.compile(m.number)
		if err != nil {
			fail(line("timestamp"), "timestamp: %v", err)
		}
		m.ts = ts
	}

	switch {
	case len(raw.Values) == 0:
		fail(line("values"), "no values")
	case m.number && len(raw.Values) > 1:
		fail(line("values"), "a plain-number payload holds one value, not %d", len(raw.Values))
	}
	seen := make(map[string]int) // quantity → index
	for i, rv := range raw.Values {
		at := func(key string) int { return line("values", i, key) }
		what := fmt.Sprintf("value %d (%s)", i+1, rv.Quantity)
		v := value{quantity: rv.Quantity, path: rv.Path}
		if !validQuantity(rv.Quantity) {
			fail(at("quantity"), "%s: quantity %q: want lower-case snake_case of at most 64 characters", what, rv.Quantity)
		} else if j, dup := seen[rv.Quantity]; dup {
			fail(at("quantity"), "%s: quantity %q already mapped by value %d", what, rv.Quantity, j+1)
		} else {
			seen[rv.Quantity] = i
		}
		switch {
		case m.number && rv.Path != "":
			fail(at("path"), "%s: a plain-number payload has no paths", what)
		case !m.number && strings.TrimSpace(rv.Path) == "":
			fail(at("quantity"), "%s: path missing (a gjson path such as ENERGY.Total)", what)
		}
		if energyOK && validQuantity(rv.Quantity) {
			if base, err := baseUnit(raw.Energy, rv.Quantity, rv.Unit); err != nil {
				fail(at("unit"), "%s: %v", what, err)
			} else {
				v.unit = base
				v.p, v.q, _ = factor(rv.Unit, base) // both units were just looked up
			}
		}
		m.values = append(m.values, v)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return m, nil
}

func (r *rawID) compile(levels []string) (idSource, error) {
	switch {
	case r.Segment != nil && r.Value != "":
		return idSource{}, errors.New("give segment or value, not both")
	case r.Segment != nil:
		if levels != nil { // an invalid filter has been reported already
			if err := checkSegment(levels, *r.Segment); err != nil {
				return idSource{}, err
			}
		}
		// "0" stands in for the topic level: the prefix must start a valid id.
		if r.Prefix != "" && !wire.ValidID(r.Prefix+"0") {
			return idSource{}, fmt.Errorf("prefix %q: want letters, digits, '_', '.', ':' or '-', starting with a letter or digit", r.Prefix)
		}
		return idSource{segment: *r.Segment, prefix: r.Prefix}, nil
	case r.Value != "":
		if r.Prefix != "" {
			return idSource{}, errors.New("prefix goes with segment; write the whole id as value")
		}
		if !wire.ValidID(r.Value) {
			return idSource{}, fmt.Errorf("value %q is not a valid id (letters, digits, '_', '.', ':' or '-', at most 64)", r.Value)
		}
		return idSource{segment: -1, value: r.Value}, nil
	}
	return idSource{}, errors.New("want {segment: N} (a 0-based topic level) or {value: ID}")
}

func (t *rawTS) compile(number bool) (tsSource, error) {
	if number {
		return tsSource{}, errors.New("a plain-number payload holds no timestamp: leave timestamp out to use the arrival time")
	}
	if strings.TrimSpace(t.Path) == "" {
		return tsSource{}, errors.New("path missing (leave timestamp out to use the arrival time)")
	}
	ts := tsSource{path: t.Path}
	switch zone, local := strings.CutPrefix(t.Format, "local:"); {
	case t.Format == "rfc3339":
		ts.format = tsRFC3339
	case t.Format == "epoch_s":
		ts.format = tsEpochS
	case t.Format == "epoch_ms":
		ts.format = tsEpochMS
	case local:
		// The gateway's own zone would make the mapping mean different things on
		// different machines.
		if zone == "" || zone == "Local" {
			return tsSource{}, fmt.Errorf("format %q: name the devices' IANA zone, e.g. local:Asia/Shanghai", t.Format)
		}
		loc, err := time.LoadLocation(zone)
		if err != nil {
			return tsSource{}, fmt.Errorf("format %q: %v", t.Format, err)
		}
		ts.format, ts.loc = tsLocal, loc
	default:
		return tsSource{}, fmt.Errorf("format %q: want rfc3339, epoch_s, epoch_ms or local:<IANA zone>", t.Format)
	}
	return ts, nil
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

// validQuantity keeps quantities usable as InfluxDB tag values and metric names,
// and within wire.ValidID's 64 characters.
func validQuantity(s string) bool {
	if s == "" || len(s) > 64 || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// lineOf is the line of what path (mapping keys as strings, sequence indices as ints)
// leads to from n, or of the deepest node on the way, so that errors point close to
// their cause even when the key is missing.
func lineOf(n *yaml.Node, path ...any) int {
	line := n.Line
	for _, step := range path {
		switch k := step.(type) {
		case string:
			if n.Kind != yaml.MappingNode {
				return line
			}
			found := false
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == k {
					line, n, found = n.Content[i].Line, n.Content[i+1], true
					break
				}
			}
			if !found {
				return line
			}
		case int:
			if n.Kind != yaml.SequenceNode || k >= len(n.Content) {
				return line
			}
			n = n.Content[k]
			line = n.Line
		}
	}
	return line
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
	// "field foo not found in type sensor.rawValue" names our internals, not the user's mistake.
	if f, _, ok := strings.Cut(m, " not found in type "); ok && strings.HasPrefix(f, "field ") {
		m = fmt.Sprintf("unknown key %q", strings.TrimPrefix(f, "field "))
	}
	m = strings.NewReplacer(
		"[]sensor.rawValue", "a list of values", "sensor.rawValue", "a value",
		"sensor.rawMapping", "a mapping", "sensor.rawID", "{segment: N} or {value: ID}",
		"sensor.rawTS", "{path: P, format: F}").Replace(m)
	return fmt.Errorf("%s:%s: %s", file, n, m)
}
