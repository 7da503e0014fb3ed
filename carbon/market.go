package carbon

import (
	"fmt"
	"math"
	"time"
)

// Override is how one enterprise's electricity is accounted when it differs
// from the park's location-based default: another grid region, or the
// market-based method of the GHG Protocol Scope 2 Guidance (a supplier or
// PPA contract factor, or a share of green power with certificates and the
// residual mix for the rest).
type Override struct {
	Region string `yaml:"region"` // grid region instead of the park's
	// ContractFactor is a supplier-specific or contract emission factor,
	// kgCO2/kWh, for all of the enterprise's electricity.
	ContractFactor *float64 `yaml:"contract_factor"`
	// GreenShare (0–1) of the electricity is green power backed by
	// certificates (zero emissions); the rest takes the residual mix of
	// ResidualRegion (default CN-RESIDUAL, the national factor excluding
	// market-traded non-fossil power).
	GreenShare     float64 `yaml:"green_share"`
	ResidualRegion string  `yaml:"residual_region"`
	Source         string  `yaml:"source"` // the contract or certificate it rests on
}

// Validate checks an override against the table.
func (o *Override) Validate(t *Table, at time.Time) error {
	if o.Region != "" {
		if _, ok := t.Lookup(Electricity, o.Region, at); !ok {
			return fmt.Errorf("region %q has no electricity factor", o.Region)
		}
	}
	if o.ContractFactor != nil && (*o.ContractFactor < 0 || math.IsNaN(*o.ContractFactor) || *o.ContractFactor > 5) {
		return fmt.Errorf("contract_factor %v: want 0 to 5 kgCO2/kWh", *o.ContractFactor)
	}
	if o.GreenShare < 0 || o.GreenShare > 1 {
		return fmt.Errorf("green_share %v: want 0 to 1", o.GreenShare)
	}
	if o.ContractFactor != nil && o.GreenShare > 0 {
		return fmt.Errorf("contract_factor and green_share exclude each other")
	}
	if (o.ContractFactor != nil || o.GreenShare > 0) && o.Source == "" {
		return fmt.Errorf("a market-based factor needs its source (the contract or certificates)")
	}
	if o.GreenShare > 0 {
		if _, ok := t.Lookup(Electricity, o.residual(), at); !ok {
			return fmt.Errorf("residual_region %q has no electricity factor", o.residual())
		}
	}
	return nil
}

func (o *Override) residual() string {
	if o.ResidualRegion != "" {
		return o.ResidualRegion
	}
	return "CN-RESIDUAL"
}

// ConvertFor converts like Convert, applying an enterprise's override (nil:
// none) to electricity.
func (t *Table) ConvertFor(energy, region string, o *Override, amount float64, since, end time.Time) Result {
	if o == nil || energy != Electricity {
		return t.Convert(energy, region, amount, since, end)
	}
	if o.Region != "" {
		region = o.Region
	}
	switch {
	case o.ContractFactor != nil:
		res := t.Convert(energy, region, amount, since, end) // for coal and scope
		res.CO2kg, res.FactorKgPerUnit, res.HasFactor = amount**o.ContractFactor, *o.ContractFactor, true
		return res
	case o.GreenShare > 0:
		res := t.Convert(energy, o.residual(), amount*(1-o.GreenShare), since, end)
		res.CoalKgce = amount * CoalCoefficient(energy)
		if amount != 0 {
			res.FactorKgPerUnit = res.CO2kg / amount
		}
		return res
	}
	return t.Convert(energy, region, amount, since, end)
}

// With returns a table whose extra factors take precedence over t's (a
// park's own factors in front of the built-in ones) and whose parents add to
// t's.
func (t *Table) With(extra *Table) *Table {
	out := &Table{Parents: map[string]string{}, Factors: append(append([]Factor{}, extra.Factors...), t.Factors...)}
	for k, v := range t.Parents {
		out.Parents[k] = v
	}
	for k, v := range extra.Parents {
		out.Parents[k] = v
	}
	out.buildIndex()
	return out
}
