// Package carbon is the domain: emission factors versioned by region and
// period, standard-coal coefficients, and the conversion of consumption into
// kgCO2 and kgce. It is pure: no I/O, no clocks, no globals that change.
package carbon

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"go.yaml.in/yaml/v3"
)

// Energy kinds, as on the wire.
const (
	Electricity = "electricity"
	Gas         = "gas"
	Water       = "water"
	Heat        = "heat"
)

// Standard-coal coefficients, kgce per base unit, from GB/T 2589-2020
// "General principles for calculation of the comprehensive energy
// consumption" (1 kgce = 29.3076 MJ); see docs/domain/coal.md.
const (
	// CoalElectricity is the equivalent value (当量值) 3.6 MJ/kWh ÷ 29.3076 MJ/kgce,
	// the default for comprehensive energy consumption.
	CoalElectricity = 0.1229 // kgce/kWh
	// CoalGas is gas-field natural gas, 35,544 kJ/m³.
	CoalGas = 1.2143 // kgce/m³
	// CoalHeat is 0.03412 kgce/MJ.
	CoalHeat = 34.12 // kgce/GJ
)

// CoalCoefficient returns the kgce per base unit of an energy kind. Water is a
// purchased working medium, normally not added to comprehensive energy
// consumption (GB/T 2589-2020), so it counts zero.
func CoalCoefficient(energy string) float64 {
	switch energy {
	case Electricity:
		return CoalElectricity
	case Gas:
		return CoalGas
	case Heat:
		return CoalHeat
	}
	return 0
}

// DefaultScope is the GHG Protocol scope an energy kind is reported in when
// no factor says otherwise.
func DefaultScope(energy string) int {
	switch energy {
	case Gas:
		return 1
	case Water:
		return 3
	}
	return 2
}

// GasInputs keeps the inputs of the natural-gas factor so that a park can
// change one of them (its supplier's heating value, say).
type GasInputs struct {
	LHV       float64 `yaml:"lhv_gj_per_m3"`
	Carbon    float64 `yaml:"carbon_tc_per_gj"`
	Oxidation float64 `yaml:"oxidation"`
}

// KgCO2PerM3 is LHV × carbon content × oxidation × 44/12, in kg.
func (g GasInputs) KgCO2PerM3() float64 { return g.LHV * g.Carbon * g.Oxidation * 44 / 12 * 1000 }

// Factor is one emission factor: kgCO2 per base unit of an energy kind in a
// region over [ValidFrom, ValidTo). A zero bound is open.
type Factor struct {
	Energy    string     `yaml:"energy"`
	Region    string     `yaml:"region"` // empty: applies in every region
	Scope     int        `yaml:"scope"`
	Value     float64    `yaml:"value"` // kgCO2 per base unit
	Unit      string     `yaml:"unit"`
	ValidFrom time.Time  `yaml:"valid_from"`
	ValidTo   time.Time  `yaml:"valid_to"`
	Source    string     `yaml:"source"`
	GasInputs *GasInputs `yaml:"gas_inputs"`
}

func (f *Factor) covers(t time.Time) bool {
	return (f.ValidFrom.IsZero() || !t.Before(f.ValidFrom)) && (f.ValidTo.IsZero() || t.Before(f.ValidTo))
}

// Table is a set of factors with the region hierarchy used for fall-back.
// Build it with ParseTable, DefaultTable or With, and do not change it
// afterwards: its lookup index is made once.
type Table struct {
	Parents map[string]string `yaml:"parents"`
	Factors []Factor          `yaml:"factors"`

	index map[lookupKey][]int // candidates per (energy, region), in table order
}

type lookupKey struct{ energy, region string }

// buildIndex lists, for every energy and region named in the table, the
// factors Lookup would try there, in table order, so that a lookup on the
// hot path looks at a handful of factors instead of all of them.
func (t *Table) buildIndex() {
	t.index = map[lookupKey][]int{}
	regions := map[string]bool{"": true}
	for _, f := range t.Factors {
		regions[f.Region] = true
	}
	for k, v := range t.Parents {
		regions[k], regions[v] = true, true
	}
	for i, f := range t.Factors {
		for r := range regions {
			if f.Region == "" || f.Region == r {
				k := lookupKey{f.Energy, r}
				t.index[k] = append(t.index[k], i)
			}
		}
	}
}

//go:embed factors.yaml
var defaultFactors []byte

// DefaultTable returns the built-in factors (factors.yaml, each entry cited).
func DefaultTable() *Table {
	t, err := ParseTable(defaultFactors)
	if err != nil {
		panic("BUG: built-in factors.yaml: " + err.Error())
	}
	return t
}

// ParseTable decodes and validates a factor table in the factors.yaml format.
func ParseTable(data []byte) (*Table, error) {
	var t Table
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&t); err != nil {
		return nil, fmt.Errorf("decode factors: %w", err)
	}
	for i := range t.Factors {
		f := &t.Factors[i]
		if f.GasInputs != nil && f.Value == 0 {
			f.Value = f.GasInputs.KgCO2PerM3()
		}
		if f.Scope == 0 {
			f.Scope = DefaultScope(f.Energy)
		}
		if err := f.validate(); err != nil {
			return nil, fmt.Errorf("factor %d (%s %s): %w", i, f.Energy, f.Region, err)
		}
	}
	t.buildIndex()
	return &t, nil
}

func (f *Factor) validate() error {
	switch f.Energy {
	case Electricity, Gas, Water, Heat:
	default:
		return fmt.Errorf("unknown energy %q", f.Energy)
	}
	if f.Value < 0 || math.IsNaN(f.Value) || math.IsInf(f.Value, 0) {
		return fmt.Errorf("value %v is not a finite non-negative number", f.Value)
	}
	if f.Scope < 1 || f.Scope > 3 {
		return fmt.Errorf("scope %d is not 1, 2 or 3", f.Scope)
	}
	if !f.ValidFrom.IsZero() && !f.ValidTo.IsZero() && !f.ValidFrom.Before(f.ValidTo) {
		return errors.New("valid_from is not before valid_to")
	}
	if f.Source == "" {
		return errors.New("a factor needs its source")
	}
	return nil
}

// Lookup returns the factor of an energy kind valid at t, trying the region
// and then its parents. Factors without a region match any region.
func (t *Table) Lookup(energy, region string, at time.Time) (*Factor, bool) {
	for r, depth := region, 0; depth < 8; depth++ {
		if t.index != nil {
			cands, known := t.index[lookupKey{energy, r}]
			if !known {
				cands = t.index[lookupKey{energy, ""}] // a region the table does not name
			}
			for _, i := range cands {
				if f := &t.Factors[i]; f.covers(at) {
					return f, true
				}
			}
		} else {
			for i := range t.Factors {
				f := &t.Factors[i]
				if f.Energy == energy && (f.Region == "" || f.Region == r) && f.covers(at) {
					return f, true
				}
			}
		}
		parent, ok := t.Parents[r]
		if !ok {
			break
		}
		r = parent
	}
	return nil, false
}

// Result is one interval's consumption converted.
type Result struct {
	CO2kg    float64
	CoalKgce float64
	// FactorKgPerUnit is CO2kg / amount: the factor used, or the time-weighted
	// mean of the factors when the interval spans a factor change.
	FactorKgPerUnit float64
	Scope           int
	HasFactor       bool
}

// Convert turns amount (base unit) consumed over (since, end] into CO2 and
// standard coal. An interval that spans a factor change is split at the
// boundary in proportion to time. A zero since converts at end.
func (t *Table) Convert(energy, region string, amount float64, since, end time.Time) Result {
	res := Result{CoalKgce: amount * CoalCoefficient(energy), Scope: DefaultScope(energy)}
	if since.IsZero() || !since.Before(end) {
		since = end
	}
	f, ok := t.Lookup(energy, region, end)
	if !ok {
		return res
	}
	res.HasFactor, res.Scope = true, f.Scope
	// Fast path: the factor in force at the end also covers the start.
	if since.Equal(end) || f.covers(since) {
		res.CO2kg, res.FactorKgPerUnit = amount*f.Value, f.Value
		return res
	}
	total := end.Sub(since).Seconds()
	for _, seg := range t.segments(energy, region, since, end) {
		res.CO2kg += amount * seg.to.Sub(seg.from).Seconds() / total * seg.value
	}
	if amount != 0 {
		res.FactorKgPerUnit = res.CO2kg / amount
	}
	return res
}

type segment struct {
	from, to time.Time
	value    float64
}

// segments cuts (since, end] at every factor boundary that falls inside it.
func (t *Table) segments(energy, region string, since, end time.Time) []segment {
	cuts := []time.Time{since, end}
	for i := range t.Factors {
		f := &t.Factors[i]
		for _, b := range []time.Time{f.ValidFrom, f.ValidTo} {
			if !b.IsZero() && b.After(since) && b.Before(end) {
				cuts = append(cuts, b)
			}
		}
	}
	slices.SortFunc(cuts, func(a, b time.Time) int { return a.Compare(b) })
	cuts = slices.CompactFunc(cuts, func(a, b time.Time) bool { return a.Equal(b) })
	var segs []segment
	for i := 0; i+1 < len(cuts); i++ {
		var v float64
		// Half-open factor periods: a segment takes the factor of its start.
		if f, ok := t.Lookup(energy, region, cuts[i]); ok {
			v = f.Value
		}
		segs = append(segs, segment{cuts[i], cuts[i+1], v})
	}
	return segs
}
