package carbon

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/parkcarbon/parkcarbon/internal/wire"
)

// Scale is the statistical size class of an enterprise. Chinese statistics
// split industry at "designated size" (规模以上, annual main-business revenue
// of 20 million CNY); evaluation schemes use different indicator sets on each
// side, so the registry records it rather than deriving it from revenue.
type Scale string

// The two scales, as written in enterprises.yaml.
const (
	AboveDesignatedSize Scale = "above"
	BelowDesignatedSize Scale = "below"
)

// Enterprise is one entry of the registry. Economic figures are annual, in
// CNY, for the year the park evaluates; they come from the enterprise's tax
// and statistics filings, not from meters.
type Enterprise struct {
	ID         string
	Name       string
	LandAreaMu float64 // land in use, mu (1 mu = 10,000/15 m²); 0 means none recorded: per-mu figures are N/A
	Industry   string  // free text, e.g. a GB/T 4754 code
	Tier       string  // park-defined tier label (alert limits per tier)
	Scale      Scale
	// NotRated, when set, is why the enterprise is not suited to evaluation
	// (a utility, in production for less than 2 years): it gets class T.
	NotRated string

	OutputValueCNY  float64
	SalesRevenueCNY float64
	TaxPaidCNY      float64
	ValueAddedCNY   float64
	Employees       int
	RDSpendCNY      Num // optional: R&D intensity is N/A without it
	CODDischargedT  Num // optional: annual COD discharged, t; value added per t of COD is N/A without it

	Gateways []string // gateways that may publish for this enterprise (for isolation)
	Region   string   // electricity factor region, overriding the collector's

	Line int // line of the entry in enterprises.yaml, for messages downstream
}

// Registry is the park's enterprises, in file order.
type Registry struct {
	Enterprises []Enterprise
	byID        map[string]int
}

// Lookup returns the enterprise with an id.
func (r *Registry) Lookup(id string) (*Enterprise, bool) {
	i, ok := r.byID[id]
	if !ok {
		return nil, false
	}
	return &r.Enterprises[i], true
}

// rawEnterprise is the YAML form. Required figures are pointers so that a
// missing key can be told from an honest 0.
type rawEnterprise struct {
	ID              string   `yaml:"id"`
	Name            string   `yaml:"name"`
	LandAreaMu      *float64 `yaml:"land_area_mu"`
	Industry        string   `yaml:"industry"`
	Tier            string   `yaml:"tier"`
	Scale           Scale    `yaml:"scale"`
	NotRated        string   `yaml:"not_rated"`
	OutputValueCNY  *float64 `yaml:"output_value_cny"`
	SalesRevenueCNY *float64 `yaml:"sales_revenue_cny"`
	TaxPaidCNY      *float64 `yaml:"tax_paid_cny"`
	ValueAddedCNY   *float64 `yaml:"value_added_cny"`
	Employees       *int     `yaml:"employees"`
	RDSpendCNY      *float64 `yaml:"rd_spend_cny"`
	CODDischargedT  *float64 `yaml:"cod_discharged_t"`
	Gateways        []string `yaml:"gateways"`
	Region          string   `yaml:"region"`
}

type rawRegistry struct {
	Enterprises []rawEnterprise `yaml:"enterprises"`
}

// regionPattern matches factor region codes (CN, CN-ZJ, CN-EAST); whether a
// region has a factor depends on the factor table, see CheckRegions.
var regionPattern = regexp.MustCompile(`^[A-Z][A-Z0-9-]{0,31}$`)

// ParseRegistry decodes and validates enterprises.yaml. Decoding is strict
// (an unknown key is an error) and every error names the line and, where
// there is one, the enterprise.
func ParseRegistry(data []byte) (*Registry, error) {
	// The node tree gives each entry's line and id for messages; the strict
	// decode below does the typing. Syntax errors surface here first.
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("enterprises: %s", cleanYAMLError(err.Error()))
	}
	entries := entryPositions(&doc)

	var raw rawRegistry
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&raw); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("enterprises: empty file")
		}
		var te *yaml.TypeError
		if errors.As(err, &te) {
			msgs := make([]string, len(te.Errors))
			for i, m := range te.Errors {
				msgs[i] = entries.annotate(cleanYAMLError(m))
			}
			return nil, fmt.Errorf("enterprises: %s", strings.Join(msgs, "; "))
		}
		return nil, fmt.Errorf("enterprises: %s", cleanYAMLError(err.Error()))
	}
	if len(raw.Enterprises) == 0 {
		return nil, errors.New("enterprises: no enterprises (want a list under the key enterprises)")
	}
	reg := &Registry{Enterprises: make([]Enterprise, 0, len(raw.Enterprises)), byID: make(map[string]int, len(raw.Enterprises))}
	for i := range raw.Enterprises {
		line := 0
		if i < len(entries) {
			line = entries[i].line
		}
		e, err := raw.Enterprises[i].validate(line)
		if err != nil {
			return nil, fmt.Errorf("enterprises: line %d: enterprise %s: %w", line, describe(raw.Enterprises[i].ID, i), err)
		}
		if first, dup := reg.byID[e.ID]; dup {
			return nil, fmt.Errorf("enterprises: line %d: enterprise %s: duplicate id (first at line %d)", line, e.ID, reg.Enterprises[first].Line)
		}
		reg.byID[e.ID] = len(reg.Enterprises)
		reg.Enterprises = append(reg.Enterprises, e)
	}
	return reg, nil
}

// describe names an entry by id, or by position when the id is missing.
func describe(id string, i int) string {
	if id == "" {
		return "#" + strconv.Itoa(i+1)
	}
	return strconv.Quote(id)
}

func (r *rawEnterprise) validate(line int) (Enterprise, error) {
	e := Enterprise{ID: r.ID, Name: r.Name, Industry: r.Industry, Tier: r.Tier, Scale: r.Scale,
		NotRated: r.NotRated, Gateways: r.Gateways, Region: r.Region, Line: line}
	if r.ID == "" {
		return e, errors.New("missing id")
	}
	if !wire.ValidID(r.ID) {
		return e, fmt.Errorf("id %q is not a valid identifier (letters, digits, _ . : -, at most 64)", r.ID)
	}
	if strings.TrimSpace(r.Name) == "" {
		return e, errors.New("missing name")
	}
	switch r.Scale {
	case AboveDesignatedSize, BelowDesignatedSize:
	case "":
		return e, errors.New("missing scale (above or below designated size)")
	default:
		return e, fmt.Errorf("scale %q is not above or below", r.Scale)
	}
	if r.LandAreaMu == nil {
		return e, errors.New("missing land_area_mu")
	}
	if err := nonNegative("land_area_mu", *r.LandAreaMu); err != nil {
		return e, err
	}
	e.LandAreaMu = *r.LandAreaMu
	// A not-rated enterprise (a utility, a start-up) may not have a year of
	// figures yet; everyone else is evaluated on them, so they are required.
	required := r.NotRated == ""
	for _, f := range []struct {
		key string
		src *float64
		dst *float64
	}{
		{"output_value_cny", r.OutputValueCNY, &e.OutputValueCNY},
		{"sales_revenue_cny", r.SalesRevenueCNY, &e.SalesRevenueCNY},
		{"tax_paid_cny", r.TaxPaidCNY, &e.TaxPaidCNY},
		{"value_added_cny", r.ValueAddedCNY, &e.ValueAddedCNY},
	} {
		if f.src == nil {
			if required {
				return e, fmt.Errorf("missing %s (annual, CNY)", f.key)
			}
			continue
		}
		if err := nonNegative(f.key, *f.src); err != nil {
			return e, err
		}
		*f.dst = *f.src
	}
	switch {
	case r.Employees == nil && required:
		return e, errors.New("missing employees (annual average headcount)")
	case r.Employees != nil && *r.Employees < 0:
		return e, fmt.Errorf("employees %d is negative", *r.Employees)
	case r.Employees != nil:
		e.Employees = *r.Employees
	}
	for _, f := range []struct {
		key string
		src *float64
		dst *Num
	}{
		{"rd_spend_cny", r.RDSpendCNY, &e.RDSpendCNY},
		{"cod_discharged_t", r.CODDischargedT, &e.CODDischargedT},
	} {
		if f.src == nil {
			continue
		}
		if err := nonNegative(f.key, *f.src); err != nil {
			return e, err
		}
		*f.dst = Num{V: *f.src, OK: true}
	}
	for _, gw := range r.Gateways {
		if !wire.ValidID(gw) {
			return e, fmt.Errorf("gateway %q is not a valid identifier", gw)
		}
	}
	if r.Region != "" && !regionPattern.MatchString(r.Region) {
		return e, fmt.Errorf("region %q is not a region code like CN or CN-ZJ", r.Region)
	}
	return e, nil
}

func nonNegative(key string, v float64) error {
	if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
		return fmt.Errorf("%s %v is not a finite non-negative number", key, v)
	}
	return nil
}

// CheckRegions reports enterprises whose region has no electricity factor
// at time at in t: their CO2 could not be computed.
func (r *Registry) CheckRegions(t *Table, at time.Time) error {
	var errs []error
	for i := range r.Enterprises {
		e := &r.Enterprises[i]
		if e.Region == "" {
			continue
		}
		if _, ok := t.Lookup(Electricity, e.Region, at); !ok {
			errs = append(errs, fmt.Errorf("line %d: enterprise %s: region %q has no electricity factor", e.Line, e.ID, e.Region))
		}
	}
	return errors.Join(errs...)
}

// entryPos is where an entry of the enterprises list starts, and its id.
type entryPos struct {
	line int
	id   string
}

type entryIndex []entryPos

// entryPositions walks the document to the enterprises sequence.
func entryPositions(doc *yaml.Node) entryIndex {
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil
	}
	var seq *yaml.Node
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == "enterprises" {
			seq = root.Content[i+1]
		}
	}
	if seq == nil || seq.Kind != yaml.SequenceNode {
		return nil
	}
	idx := make(entryIndex, 0, len(seq.Content))
	for _, item := range seq.Content {
		p := entryPos{line: item.Line}
		if item.Kind == yaml.MappingNode {
			for i := 0; i+1 < len(item.Content); i += 2 {
				if item.Content[i].Value == "id" {
					p.id = item.Content[i+1].Value
				}
			}
		}
		idx = append(idx, p)
	}
	return idx
}

var linePrefix = regexp.MustCompile(`^line (\d+): `)

// annotate adds the enterprise an error line falls in: the last entry
// starting at or before it.
func (idx entryIndex) annotate(msg string) string {
	m := linePrefix.FindStringSubmatch(msg)
	if m == nil {
		return msg
	}
	line, _ := strconv.Atoi(m[1])
	i := sort.Search(len(idx), func(i int) bool { return idx[i].line > line }) - 1
	if i < 0 {
		return msg
	}
	return m[0] + "enterprise " + describe(idx[i].id, i) + ": " + msg[len(m[0]):]
}

var unknownKey = regexp.MustCompile(`field (\S+) not found in type \S+`)

// cleanYAMLError speaks of keys, not of Go types.
func cleanYAMLError(msg string) string {
	msg = strings.TrimPrefix(msg, "yaml: ")
	msg = strings.Replace(msg, "unmarshal errors:\n  ", "", 1)
	msg = strings.ReplaceAll(msg, "\n  ", "; ")
	return unknownKey.ReplaceAllString(msg, `unknown key "$1"`)
}
