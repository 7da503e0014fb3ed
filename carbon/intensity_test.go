package carbon

import (
	"encoding/json"
	"testing"
	"time"
	_ "time/tzdata" // the DST case needs America/New_York on any machine
)

func mustLoc(t testing.TB, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func TestParsePeriod(t *testing.T) {
	sh := mustLoc(t, "Asia/Shanghai")
	cases := []struct {
		in, label  string
		start, end string // UTC
		days       int
		fraction   float64
	}{
		// Parks report in local time: October in Shanghai starts 8 h before UTC's.
		{"2026-10", "2026-10", "2026-09-30T16:00:00Z", "2026-10-31T16:00:00Z", 31, 31.0 / 365},
		{"2024-02", "2024-02", "2024-01-31T16:00:00Z", "2024-02-29T16:00:00Z", 29, 29.0 / 366},
		{"2026-Q3", "2026-Q3", "2026-06-30T16:00:00Z", "2026-09-30T16:00:00Z", 92, 92.0 / 365},
		{"2026-q4", "2026-Q4", "2026-09-30T16:00:00Z", "2026-12-31T16:00:00Z", 92, 92.0 / 365},
		{"2026", "2026", "2025-12-31T16:00:00Z", "2026-12-31T16:00:00Z", 365, 1},
		{"2024", "2024", "2023-12-31T16:00:00Z", "2024-12-31T16:00:00Z", 366, 1},
	}
	for _, c := range cases {
		p, err := ParsePeriod(c.in, sh)
		if err != nil {
			t.Errorf("%s: %v", c.in, err)
			continue
		}
		if p.Label != c.label || p.Start.UTC().Format(time.RFC3339) != c.start || p.End.UTC().Format(time.RFC3339) != c.end ||
			p.Days() != c.days || !near(p.YearFraction(), c.fraction) {
			t.Errorf("%s: got %s [%s, %s) %d days %v, want %s [%s, %s) %d %v", c.in, p.Label, p.Start.UTC().Format(time.RFC3339),
				p.End.UTC().Format(time.RFC3339), p.Days(), p.YearFraction(), c.label, c.start, c.end, c.days, c.fraction)
		}
	}
	for _, bad := range []string{"", "26", "2026-13", "2026-00", "2026-Q5", "2026-Q0", "2026-10-01", "abcd", "2026/10", "1969"} {
		if _, err := ParsePeriod(bad, sh); err == nil {
			t.Errorf("ParsePeriod(%q) should fail", bad)
		}
	}
	if _, err := ParsePeriod("2026-10", nil); err == nil {
		t.Error("no location should fail")
	}
}

// A month with a DST change has 30 or 31 calendar days all the same.
func TestPeriodDaysAcrossDST(t *testing.T) {
	p, err := ParsePeriod("2026-03", mustLoc(t, "America/New_York"))
	if err != nil {
		t.Fatal(err)
	}
	if p.Days() != 31 || !near(p.YearFraction(), 31.0/365) {
		t.Fatalf("%d days, fraction %v", p.Days(), p.YearFraction())
	}
	if h := p.End.Sub(p.Start).Hours(); h != 31*24-1 {
		t.Fatalf("March in New York should be one hour short, got %v h", h)
	}
}

// A period across a new year takes each year's share with that year's length.
func TestYearFractionAcrossYears(t *testing.T) {
	p := Period{Start: date(2023, 12, 15), End: date(2024, 1, 15)}
	if want := 17.0/365 + 14.0/366; !near(p.YearFraction(), want) || p.Days() != 31 {
		t.Fatalf("fraction %v days %d, want %v 31", p.YearFraction(), p.Days(), want)
	}
}

func TestTotalsAdd(t *testing.T) {
	var tot Totals
	for _, a := range []struct {
		energy            string
		amount, co2, coal float64
	}{
		{Electricity, 1000, 530.6, 122.9},
		{Gas, 100, 216.22, 121.43},
		{Water, 50, 0, 0},
		{Heat, 2, 220, 68.24},
		{Electricity, 500, 265.3, 61.45},
	} {
		if err := tot.Add(a.energy, a.amount, a.co2, a.coal); err != nil {
			t.Fatal(err)
		}
	}
	want := Totals{ElectricityKWh: 1500, GasM3: 100, WaterM3: 50, HeatGJ: 2, CO2kg: 530.6 + 216.22 + 220 + 265.3, CoalKgce: 122.9 + 121.43 + 68.24 + 61.45}
	if !near(tot.ElectricityKWh, want.ElectricityKWh) || tot.GasM3 != want.GasM3 || tot.WaterM3 != want.WaterM3 ||
		tot.HeatGJ != want.HeatGJ || !near(tot.CO2kg, want.CO2kg) || !near(tot.CoalKgce, want.CoalKgce) {
		t.Fatalf("got %+v, want %+v", tot, want)
	}
	if err := tot.Add("steam", 1, 0, 0); err == nil {
		t.Fatal("unknown energy should fail")
	}
}

func TestIntensities(t *testing.T) {
	oct, err := ParsePeriod("2026-10", mustLoc(t, "Asia/Shanghai"))
	if err != nil {
		t.Fatal(err)
	}
	// Annual output 36.5 M CNY and value added 7.3 M CNY; October is 31/365 of
	// them: 3.1 M and 0.62 M CNY, i.e. 310 and 62 × 10,000 CNY.
	e := &Enterprise{ID: "e", LandAreaMu: 20, OutputValueCNY: 36.5e6, ValueAddedCNY: 7.3e6}
	tot := Totals{ElectricityKWh: 100000, CoalKgce: 12290 + 2000, CO2kg: 62000}
	got := Intensities(tot, e, oct)
	want := []struct {
		name string
		got  Num
		want float64
	}{
		{"kgce/mu", got.KgcePerMu, 14290.0 / 20},                 // 714.5
		{"kgCO2/mu", got.KgCO2PerMu, 62000.0 / 20},               // 3100
		{"kWh/mu", got.KWhPerMu, 100000.0 / 20},                  // 5000
		{"tCO2/10k output", got.TCO2Per10kCNYOutput, 62.0 / 310}, // 0.2
		{"tCO2/10k VA", got.TCO2Per10kCNYValueAdded, 62.0 / 62},  // 1
		{"tce/10k VA", got.TcePer10kCNYValueAdded, 14.29 / 62},   // 0.2305
	}
	for _, w := range want {
		if !w.got.OK || !near(w.got.V, w.want) {
			t.Errorf("%s = %+v, want %v", w.name, w.got, w.want)
		}
	}

	// No land, no value added: N/A, not Inf.
	zero := Intensities(tot, &Enterprise{ID: "z", OutputValueCNY: 1e6}, oct)
	for name, n := range map[string]Num{"kgce/mu": zero.KgcePerMu, "kgCO2/mu": zero.KgCO2PerMu, "kWh/mu": zero.KWhPerMu,
		"tCO2/10k VA": zero.TCO2Per10kCNYValueAdded, "tce/10k VA": zero.TcePer10kCNYValueAdded} {
		if n.OK {
			t.Errorf("%s should be N/A, got %v", name, n.V)
		}
	}
	if !zero.TCO2Per10kCNYOutput.OK {
		t.Error("output is known: tCO2 per output should be available")
	}
	// No consumption on known land is a real 0.
	if n := Intensities(Totals{}, e, oct).KgcePerMu; !n.OK || n.V != 0 {
		t.Errorf("no consumption: %+v, want 0", n)
	}
}

func TestNumJSON(t *testing.T) {
	b, err := json.Marshal([]Num{Of(1.5), {}, Of(0)})
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != "[1.5,null,0]" {
		t.Fatalf("got %s", b)
	}
	var back []Num
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if len(back) != 3 || back[0] != Of(1.5) || back[1].OK || back[2] != Of(0) {
		t.Fatalf("round trip: %+v", back)
	}
	if err := json.Unmarshal([]byte(`["x"]`), &back); err == nil {
		t.Fatal("a string is not a figure")
	}
}
