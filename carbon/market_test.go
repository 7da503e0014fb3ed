package carbon

import (
	"testing"
	"time"
)

func TestConvertForOverrides(t *testing.T) {
	tab := DefaultTable()
	at := date(2024, 6, 1)
	since := at.Add(-time.Hour)
	contract := 0.2
	cases := []struct {
		name   string
		o      *Override
		co2    float64
		factor float64
	}{
		{"none", nil, 100 * 0.5306, 0.5306},
		{"region", &Override{Region: "CN-FJ"}, 100 * 0.4211, 0.4211},
		{"contract", &Override{ContractFactor: &contract, Source: "PPA 2024"}, 20, 0.2},
		{"green 40% on residual", &Override{GreenShare: 0.4, Source: "GEC 2024"}, 60 * 0.6096, 0.6 * 0.6096},
		{"all green", &Override{GreenShare: 1, Source: "GEC"}, 0, 0},
	}
	for _, c := range cases {
		r := tab.ConvertFor(Electricity, "CN", c.o, 100, since, at)
		if !near(r.CO2kg, c.co2) || !near(r.FactorKgPerUnit, c.factor) || !near(r.CoalKgce, 12.29) || r.Scope != 2 {
			t.Errorf("%s: %+v, want co2 %v factor %v", c.name, r, c.co2, c.factor)
		}
	}
	// Gas is never overridden by an electricity contract.
	if r := tab.ConvertFor(Gas, "CN", &Override{ContractFactor: &contract, Source: "x"}, 10, since, at); !near(r.CO2kg, 10*GasInputs{0.038931, 0.0153, 0.99}.KgCO2PerM3()) {
		t.Errorf("gas: %+v", r)
	}
}

func TestOverrideValidate(t *testing.T) {
	tab := DefaultTable()
	neg, ok := -1.0, 0.3
	for name, o := range map[string]Override{
		"unknown region":        {Region: "CN-XX"},
		"negative contract":     {ContractFactor: &neg, Source: "x"},
		"share above 1":         {GreenShare: 1.5, Source: "x"},
		"both":                  {ContractFactor: &ok, GreenShare: 0.2, Source: "x"},
		"market without source": {GreenShare: 0.2},
	} {
		if err := o.Validate(tab, date(2024, 1, 1)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	good := Override{GreenShare: 0.3, Source: "GEC 2024"}
	if err := good.Validate(tab, date(2024, 1, 1)); err != nil {
		t.Error(err)
	}
}

func TestTableWithParkFactors(t *testing.T) {
	park, err := ParseTable([]byte(`
factors:
  - {energy: electricity, region: CN-ZJ, scope: 2, value: 0.48, valid_from: 2024-01-01, unit: kgCO2/kWh, source: "Zhejiang DRC 2024 (park's choice)"}
  - {energy: water, scope: 3, value: 0.1913, unit: kgCO2e/m3, source: "UK DEFRA water supply"}
`))
	if err != nil {
		t.Fatal(err)
	}
	tab := DefaultTable().With(park)
	if f, _ := tab.Lookup(Electricity, "CN-ZJ", date(2024, 5, 1)); f.Value != 0.48 {
		t.Errorf("park factor not in front: %v", f.Value)
	}
	if f, _ := tab.Lookup(Electricity, "CN-ZJ", date(2023, 5, 1)); f.Value != 0.4974 {
		t.Errorf("built-in 2023 lost: %v", f.Value)
	}
	if r := tab.Convert(Water, "CN", 10, time.Time{}, date(2024, 5, 1)); !r.HasFactor || !near(r.CO2kg, 1.913) || r.Scope != 3 {
		t.Errorf("water: %+v", r)
	}
}
