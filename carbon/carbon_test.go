package carbon

import (
	"math"
	"testing"
	"time"
)

func date(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }

func TestLookup(t *testing.T) {
	tab := DefaultTable()
	cases := []struct {
		energy, region string
		at             time.Time
		want           float64
	}{
		{Electricity, "CN", date(2023, 6, 1), 0.5306},
		{Electricity, "CN", date(2026, 10, 1), 0.5306}, // newest stays in force
		{Electricity, "CN", date(2022, 12, 31), 0.5366},
		{Electricity, "CN", date(2021, 3, 1), 0.5568},
		{Electricity, "CN", date(2019, 3, 1), 0.5568}, // oldest open at the start
		{Electricity, "CN-FJ", date(2024, 1, 1), 0.4211},
		{Electricity, "CN-NORTH", date(2021, 5, 1), 0.5568}, // no 2021 regional: national
		{Electricity, "CN-XX", date(2024, 1, 1), 0},         // unknown region: none
		{Heat, "CN-FJ", date(2024, 1, 1), 110},
	}
	for _, c := range cases {
		f, ok := tab.Lookup(c.energy, c.region, c.at)
		got := 0.0
		if ok {
			got = f.Value
		}
		if got != c.want {
			t.Errorf("Lookup(%s, %s, %s) = %v, want %v", c.energy, c.region, c.at.Format(time.DateOnly), got, c.want)
		}
	}
}

// Cross-checks from docs/domain/meters.md §4.5.
func TestConvertCrossChecks(t *testing.T) {
	tab := DefaultTable()
	at := date(2023, 7, 1)
	cases := []struct {
		energy, region string
		amount         float64
		co2, coal      float64
	}{
		{Electricity, "CN-FJ", 1234.56, 519.873216, 1234.56 * 0.1229},
		{Electricity, "CN", 1234.56, 655.057536, 151.727424},
		{Gas, "CN", 1000, 2162.2, 1214.3},
		{Heat, "CN", 100, 11000, 3412},
		{Electricity, "CN", 10000, 5306, 1229},
		{Water, "CN", 50, 0, 0},
	}
	for _, c := range cases {
		r := tab.Convert(c.energy, c.region, c.amount, at.Add(-10*time.Second), at)
		// Gas comes from its inputs: 2.16222… kgCO2/m³, printed as 2.1622.
		tol := 1e-9
		if c.energy == Gas {
			tol = 1e-4
		}
		if math.Abs(r.CO2kg-c.co2) > tol*math.Max(1, c.co2) || !near(r.CoalKgce, c.coal) {
			t.Errorf("%s %s %v: co2 %v coal %v, want %v %v", c.energy, c.region, c.amount, r.CO2kg, r.CoalKgce, c.co2, c.coal)
		}
	}
	if r := tab.Convert(Water, "CN", 50, time.Time{}, at); r.HasFactor || r.Scope != 3 {
		t.Errorf("water should ship without a factor, in scope 3: %+v", r)
	}
	if r := tab.Convert(Gas, "CN", 1, time.Time{}, at); r.Scope != 1 {
		t.Errorf("gas scope %d", r.Scope)
	}
}

func TestConvertSplitsAtFactorChange(t *testing.T) {
	tab := DefaultTable()
	// One hour across the 2022→2023 new year: half at 0.5366, half at 0.5306.
	since, end := date(2023, 1, 1).Add(-30*time.Minute), date(2023, 1, 1).Add(30*time.Minute)
	r := tab.Convert(Electricity, "CN", 100, since, end)
	if want := 50*0.5366 + 50*0.5306; !near(r.CO2kg, want) {
		t.Fatalf("co2 %v, want %v", r.CO2kg, want)
	}
	if !near(r.FactorKgPerUnit, (0.5366+0.5306)/2) {
		t.Fatalf("factor %v", r.FactorKgPerUnit)
	}
	// An interval inside one year uses exactly that year's factor.
	r = tab.Convert(Electricity, "CN", 100, date(2023, 3, 1), date(2023, 3, 2))
	if r.FactorKgPerUnit != 0.5306 || !near(r.CO2kg, 100*0.5306) {
		t.Fatalf("%+v", r)
	}
}

func TestParseTableRejects(t *testing.T) {
	for name, doc := range map[string]string{
		"unknown key":  "factors:\n  - {energy: gas, value: 1, source: x, colour: red}\n",
		"energy":       "factors:\n  - {energy: steam, value: 1, source: x}\n",
		"no source":    "factors:\n  - {energy: gas, value: 1}\n",
		"negative":     "factors:\n  - {energy: gas, value: -1, source: x}\n",
		"bad interval": "factors:\n  - {energy: gas, value: 1, source: x, valid_from: 2024-01-01, valid_to: 2023-01-01}\n",
		"scope":        "factors:\n  - {energy: gas, value: 1, source: x, scope: 4}\n",
	} {
		if _, err := ParseTable([]byte(doc)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func BenchmarkConvert(b *testing.B) {
	tab := DefaultTable()
	end := date(2024, 5, 1)
	since := end.Add(-10 * time.Second)
	b.ReportAllocs()
	for b.Loop() {
		tab.Convert(Electricity, "CN-FJ", 0.42, since, end)
	}
}
