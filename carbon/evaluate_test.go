package carbon

import (
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"
)

func mkRegistry(es ...Enterprise) *Registry {
	r := &Registry{Enterprises: es, byID: map[string]int{}}
	for i, e := range es {
		r.byID[e.ID] = i
	}
	return r
}

func loadEvaluation(t testing.TB, path string) *EvaluationConfig {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := ParseEvaluation(data)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func period(t testing.TB, s string) Period {
	t.Helper()
	p, err := ParsePeriod(s, mustLoc(t, "Asia/Shanghai"))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// metered builds the period's totals from annual quantities: October meters
// 31/365 of a year's consumption, and the evaluation scales it back.
func metered(p Period, tce, kWh, waterM3, tCO2 float64) Totals {
	f := p.YearFraction()
	return Totals{CoalKgce: tce * 1000 * f, ElectricityKWh: kWh * f, WaterM3: waterM3 * f, CO2kg: tCO2 * 1000 * f}
}

func row(t *testing.T, ev *Evaluation, id string) Row {
	t.Helper()
	for _, r := range ev.Rows {
		if r.ID == id {
			return r
		}
	}
	t.Fatalf("no row for %s", id)
	return Row{}
}

func indicator(t *testing.T, r Row, name string) Scored {
	t.Helper()
	for _, s := range r.Indicators {
		if s.Indicator == name {
			return s
		}
	}
	t.Fatalf("%s has no indicator %s", r.ID, name)
	return Scored{}
}

type wantRow struct {
	id    string
	rank  int
	score float64
	class string
}

func checkRows(t *testing.T, ev *Evaluation, want []wantRow) {
	t.Helper()
	if len(ev.Rows) != len(want) {
		t.Fatalf("%d rows, want %d", len(ev.Rows), len(want))
	}
	for i, w := range want {
		r := ev.Rows[i]
		score := r.Score.V
		if r.ID != w.id || r.Rank != w.rank || r.Class != w.class || (w.class != ClassNotRated && (!r.Score.OK || !near(score, w.score))) {
			t.Errorf("row %d: got %s rank %d score %v class %q, want %s rank %d score %v class %q",
				i, r.ID, r.Rank, r.Score, r.Class, w.id, w.rank, w.score, w.class)
		}
	}
	// Whatever happened, the result must be representable: no NaN or Inf.
	if _, err := json.Marshal(ev); err != nil {
		t.Errorf("marshal: %v", err)
	}
}

// The shipped default (Huai'an weights, placeholder benchmarks: tax per mu
// 150,000 ×45, sales per mu 3,000,000 ×35, tax per tce 10,000 ×20, cap 2) on
// a small park in October, computed by hand:
//
//	H1 20 mu  tax 4.0 M  → 200,000/mu → 1.333×45 = 60   sales 60 M  → 3 M/mu   → 1.0×35 = 35    500 tce → 8,000/tce  → 0.8×20 = 16   = 111
//	H2 10 mu  tax 1.0 M  → 100,000/mu → 0.667×45 = 30   sales 45 M  → 4.5 M/mu → 1.5×35 = 52.5   40 tce → 25,000/tce → 2.5, capped 2 ×20 = 40 = 122.5
//	H3  8 mu  tax 0.48 M →  60,000/mu → 0.4×45   = 18   sales 12 M  → 1.5 M/mu → 0.5×35 = 17.5   96 tce → 5,000/tce  → 0.5×20 = 10   = 45.5
//	H4  5 mu  tax 1.5 M  → 300,000/mu → 2×45     = 90   sales 7.5 M → 1.5 M/mu → 0.5×35 = 17.5   no meter data: N/A → 0        = 107.5
//	H5  0 mu  per-mu N/A → 0                            per-mu N/A → 0                            15 tce → 20,000/tce → 2×20 = 40    = 40
//	H6  a utility: T
//
// Ranks: H2 122.5, H1 111, H4 107.5, H3 45.5, H5 40. With n = 5, band P %
// holds ranks ≤ ⌈P·5/100⌉: A rank 1, B ranks 2–3, C ranks 4–5, no D.
func TestEvaluateHuaianSmallPark(t *testing.T) {
	cfg := loadEvaluation(t, "../configs/evaluation.yaml")
	oct := period(t, "2026-10")
	ent := func(id string, mu, tax, sales float64) Enterprise {
		return Enterprise{ID: id, Name: "Enterprise " + id, LandAreaMu: mu, Scale: AboveDesignatedSize, TaxPaidCNY: tax,
			SalesRevenueCNY: sales, OutputValueCNY: sales, ValueAddedCNY: sales / 4, Employees: 100}
	}
	utility := ent("H6", 12, 9e5, 4e7)
	utility.NotRated = "utility"
	reg := mkRegistry(ent("H1", 20, 4e6, 60e6), ent("H2", 10, 1e6, 45e6), ent("H3", 8, 480000, 12e6),
		ent("H4", 5, 1.5e6, 7.5e6), ent("H5", 0, 300000, 3e6), utility)
	totals := map[string]Totals{
		"H1": metered(oct, 500, 0, 0, 0), "H2": metered(oct, 40, 0, 0, 0), "H3": metered(oct, 96, 0, 0, 0),
		"H5": metered(oct, 15, 0, 0, 0), "H6": metered(oct, 3000, 0, 0, 0), "ent-999": metered(oct, 1, 0, 0, 0),
	}
	ev, err := Evaluate(cfg, reg, totals, oct)
	if err != nil {
		t.Fatal(err)
	}
	checkRows(t, ev, []wantRow{
		{"H2", 1, 122.5, "A"}, {"H1", 2, 111, "B"}, {"H4", 3, 107.5, "B"}, {"H3", 4, 45.5, "C"}, {"H5", 5, 40, "C"},
		{"H6", 0, 0, ClassNotRated},
	})
	if h2 := indicator(t, row(t, ev, "H2"), "tax_per_tce"); !h2.Capped || !near(h2.Ratio.V, 2.5) || !near(h2.Points, 40) || !near(h2.Value.V, 25000) {
		t.Errorf("H2 tax per tce: %+v", h2)
	}
	h4 := row(t, ev, "H4")
	if s := indicator(t, h4, "tax_per_tce"); s.Value.OK || s.Ratio.OK || s.Points != 0 || !strings.Contains(s.NA, "no energy consumed; scored 0") {
		t.Errorf("H4 without meter data: %+v", s)
	}
	if h4.Metered || len(h4.Notes) != 1 || !strings.Contains(h4.Notes[0], "no metered consumption") {
		t.Errorf("H4 notes: metered %v %q", h4.Metered, h4.Notes)
	}
	h5 := row(t, ev, "H5")
	for _, name := range []string{"tax_per_mu", "sales_per_mu"} {
		if s := indicator(t, h5, name); s.Value.OK || !strings.Contains(s.NA, "no land area") {
			t.Errorf("H5 %s: %+v", name, s)
		}
	}
	if h5.Intensity.KgcePerMu.OK {
		t.Error("H5 has no land: kgce per mu should be N/A")
	}
	if h6 := row(t, ev, "H6"); h6.Reason != "not rated: utility" || h6.Score.OK || len(h6.Indicators) != 0 || h6.Totals.CoalKgce == 0 {
		t.Errorf("H6: %+v", h6)
	}
	if strings.Join(ev.Unregistered, ",") != "ent-999" {
		t.Errorf("unregistered %v", ev.Unregistered)
	}
	if len(ev.Groups) != 1 || ev.Groups[0].Rated != 5 || ev.Days != 31 || !near(ev.YearFraction, 31.0/365) {
		t.Errorf("summary %+v days %d fraction %v", ev.Groups, ev.Days, ev.YearFraction)
	}
}

// Linhai's published set (docs/domain/evaluation.md) with its under-3-mu
// variant, in October. Hand computation:
//
//	at least 3 mu: tax/mu 150,000 ×40, sales/mu 3 M ×10, VA/tce 30,000 ×20, VA/t COD 5 M ×15, VA/m³ water 1,000 ×5, VA/person 150,000 ×10
//	L1 10 mu: tax 1.8 M → 180,000 → 1.2×40 = 48; sales 24 M → 2.4 M → 0.8×10 = 8; VA 9 M / 450 tce = 20,000 → 0.667×20 = 13.333;
//	          9 M / 2 t COD = 4.5 M → 0.9×15 = 13.5; 9 M / 6,000 m³ = 1,500 → 1.5×5 = 7.5; 9 M / 50 = 180,000 → 1.2×10 = 12   = 102.333
//	L3  3 mu (the boundary belongs to this group): tax 1.2 M → 400,000 → 2.667, capped 2 ×40 = 80; sales 6 M → 2 M → 6.667;
//	          VA 3 M / 60 tce = 50,000 → 1.667×20 = 33.333; no COD figure → N/A → 0; 3 M / 1,500 m³ = 2,000 → 2 (at the cap) ×5 = 10;
//	          3 M / 20 = 150,000 → 1×10 = 10                                                                              = 140
//	under 3 mu: tax/mu 150,000 ×50, sales/mu 3 M ×20, tax/kWh 2 ×30
//	L2 2.5 mu: tax 0.5 M → 200,000 → 1.333×50 = 66.667; sales 5 M → 2 M → 0.667×20 = 13.333; 0.5 M / 200,000 kWh = 2.5 → 1.25×30 = 37.5 = 117.5
//	L4 2.9 mu (above designated size, but land decides): tax 0 → 0; sales 2.9 M → 1 M → 0.333×20 = 6.667; no kWh → N/A → 0 = 6.667
//
// Classes by score: A ≥ 120, B ≥ 100, C ≥ 60, D below.
func TestEvaluateLinhai(t *testing.T) {
	cfg := loadEvaluation(t, "testdata/linhai.yaml")
	oct := period(t, "2026-10")
	reg := mkRegistry(
		Enterprise{ID: "L1", LandAreaMu: 10, Scale: AboveDesignatedSize, TaxPaidCNY: 1.8e6, SalesRevenueCNY: 24e6, ValueAddedCNY: 9e6, Employees: 50, CODDischargedT: Of(2)},
		Enterprise{ID: "L2", LandAreaMu: 2.5, Scale: BelowDesignatedSize, TaxPaidCNY: 0.5e6, SalesRevenueCNY: 5e6, ValueAddedCNY: 1e6, Employees: 10},
		Enterprise{ID: "L3", LandAreaMu: 3, Scale: AboveDesignatedSize, TaxPaidCNY: 1.2e6, SalesRevenueCNY: 6e6, ValueAddedCNY: 3e6, Employees: 20},
		Enterprise{ID: "L4", LandAreaMu: 2.9, Scale: AboveDesignatedSize, TaxPaidCNY: 0, SalesRevenueCNY: 2.9e6, ValueAddedCNY: 0.5e6, Employees: 8},
	)
	totals := map[string]Totals{
		"L1": metered(oct, 450, 0, 6000, 0),
		"L2": metered(oct, 30, 200000, 0, 0),
		"L3": metered(oct, 60, 0, 1500, 0),
		"L4": metered(oct, 5, 0, 0, 0),
	}
	ev, err := Evaluate(cfg, reg, totals, oct)
	if err != nil {
		t.Fatal(err)
	}
	checkRows(t, ev, []wantRow{
		{"L3", 1, 140, "A"}, {"L1", 2, 102 + 1.0/3, "B"},
		{"L2", 1, 117.5, "B"}, {"L4", 2, 6 + 2.0/3, "D"},
	})
	l3 := row(t, ev, "L3")
	if l3.Group != "at least 3 mu" || len(l3.Indicators) != 6 {
		t.Errorf("L3 group %q with %d indicators", l3.Group, len(l3.Indicators))
	}
	if s := indicator(t, l3, "value_added_per_water_m3"); s.Capped || !near(s.Ratio.V, 2) || !near(s.Points, 10) {
		t.Errorf("L3 water exactly at the cap: %+v", s)
	}
	if s := indicator(t, l3, "value_added_per_t_cod"); s.Value.OK || !strings.Contains(s.NA, "no cod_discharged_t") {
		t.Errorf("L3 COD: %+v", s)
	}
	if l4 := row(t, ev, "L4"); l4.Group != "under 3 mu" || !strings.Contains(indicator(t, l4, "tax_per_kwh").NA, "no electricity consumed") {
		t.Errorf("L4: %+v", l4)
	}
	if s := indicator(t, row(t, ev, "L4"), "tax_per_mu"); !s.Value.OK || s.Value.V != 0 || s.Points != 0 {
		t.Errorf("L4 pays no tax: a real 0, not N/A: %+v", s)
	}
}

// Huangyan: separate formulas above and below designated size, a score
// rule for the small ones, and the average score for missing emission data.
func TestEvaluateHuangyan(t *testing.T) {
	cfg := loadEvaluation(t, "testdata/huangyan.yaml")
	y := period(t, "2026")
	reg := mkRegistry(
		Enterprise{ID: "Y1", LandAreaMu: 10, Scale: AboveDesignatedSize, TaxPaidCNY: 2409700, ValueAddedCNY: 13616000,
			SalesRevenueCNY: 50e6, Employees: 100, RDSpendCNY: Of(1.51e6), CODDischargedT: Of(0.5)},
		Enterprise{ID: "Y2", LandAreaMu: 10, Scale: AboveDesignatedSize, TaxPaidCNY: 1204850, ValueAddedCNY: 6808000,
			SalesRevenueCNY: 25e6, Employees: 50},
		Enterprise{ID: "Y3", LandAreaMu: 4, Scale: BelowDesignatedSize, TaxPaidCNY: 463728, SalesRevenueCNY: 3e6, ValueAddedCNY: 1e6, Employees: 9},
	)
	totals := map[string]Totals{"Y1": metered(y, 1010.8389, 0, 0, 0), "Y2": metered(y, 252.7097, 0, 0, 0), "Y3": metered(y, 100, 1e6, 0, 0)}
	ev, err := Evaluate(cfg, reg, totals, y)
	if err != nil {
		t.Fatal(err)
	}
	// Y1: tax/mu 240,970 → 1×30; VA/mu 1,361,600 → 1×20; VA/tce 13,616,000/1,010.8389 = 13,470 → 0.5×20 = 10;
	//     VA/t COD 27,232,000 / 49,298,100 = 0.5524×10 = 5.524; VA/person 136,160/181,400 = 0.7506×10 = 7.506;
	//     R&D 1.51 M / 50 M = 0.0302 → 1×10.
	// Y2: half of Y1 per mu: 15 + 10; VA/tce 6,808,000/252.7097 = 26,940 → 1×20; no COD: Y1's 5.524 (the
	//     average of the one enterprise that has it); VA/person the same as Y1: 7.506; no R&D figure: 0.
	cod := 10 * 27232000.0 / 49298100
	lab := 10 * 136160.0 / 181400
	y1 := 30 + 20 + 10*13616000/1010.8389/13470 + cod + lab + 10
	y2 := 15 + 10 + 20*6808000/252.7097/26940 + cod + lab + 0
	// Y3: tax/mu 115,932 → 1×50; tax/kWh 0.463728/0.2352 = 1.9716×50 = 98.58 → 148.58 ≥ 100: A.
	y3 := 50 + 50*0.463728/0.2352
	checkRows(t, ev, []wantRow{{"Y1", 1, y1, "A"}, {"Y2", 2, y2, "B"}, {"Y3", 1, y3, "A"}})
	s := indicator(t, row(t, ev, "Y2"), "value_added_per_t_cod")
	if !near(s.Points, cod) || !strings.Contains(s.NA, "scored the group average of 1") {
		t.Errorf("Y2 COD: %+v", s)
	}
	if s := indicator(t, row(t, ev, "Y2"), "rd_intensity"); s.Points != 0 || !strings.Contains(s.NA, "no rd_spend_cny") {
		t.Errorf("Y2 R&D: %+v", s)
	}
	if g := ev.Groups[1]; g.Name != "below designated size" || !strings.HasPrefix(g.Classes, "by score") || g.Filter != "scale below" {
		t.Errorf("group summary %+v", g)
	}
}

// Equal scores share a rank and a class; the next rank skips (1, 1, 1, 4).
// Scores that differ only by floating-point order are equal.
func TestEvaluateTies(t *testing.T) {
	cfg := DefaultEvaluation()
	y := period(t, "2026")
	same := func(id string) Enterprise {
		return Enterprise{ID: id, LandAreaMu: 10, Scale: AboveDesignatedSize, TaxPaidCNY: 1e6, SalesRevenueCNY: 2e7}
	}
	low := same("T4")
	low.TaxPaidCNY = 1e5
	reg := mkRegistry(same("T3"), low, same("T1"), same("T2"))
	tot := map[string]Totals{"T1": metered(y, 100, 0, 0, 0), "T2": metered(y, 100, 0, 0, 0), "T3": metered(y, 100, 0, 0, 0), "T4": metered(y, 100, 0, 0, 0)}
	ev, err := Evaluate(cfg, reg, tot, y)
	if err != nil {
		t.Fatal(err)
	}
	// tax/mu 100,000 → 30; sales/mu 2 M → 23.333; tax/tce 10,000 → 20. T4: 3 + 23.333 + 2.
	// n = 4: A holds rank 1 (⌈0.8⌉), B ranks ≤ ⌈2.4⌉ = 3, C ≤ ⌈3.8⌉ = 4.
	s := 30 + 35*2.0/3 + 20
	checkRows(t, ev, []wantRow{{"T1", 1, s, "A"}, {"T2", 1, s, "A"}, {"T3", 1, s, "A"}, {"T4", 4, 3 + 35*2.0/3 + 2, "C"}})

	// 0.1 + 0.2 != 0.3 in floating point; as scores they tie.
	cfg = &EvaluationConfig{Classes: DefaultEvaluation().Classes, Groups: []Group{{Name: "g", Indicators: []IndicatorSpec{
		{Indicator: "tax_per_mu", Benchmark: 100000, Weight: 1}, {Indicator: "sales_per_mu", Benchmark: 100000, Weight: 1}}}}}
	reg = mkRegistry(Enterprise{ID: "F2", LandAreaMu: 1, TaxPaidCNY: 30000},
		Enterprise{ID: "F1", LandAreaMu: 1, TaxPaidCNY: 10000, SalesRevenueCNY: 20000})
	ev, err = Evaluate(cfg, reg, nil, y)
	if err != nil {
		t.Fatal(err)
	}
	if a, b := ev.Rows[0], ev.Rows[1]; a.Score.V == b.Score.V || a.Rank != 1 || b.Rank != 1 || a.ID != "F1" {
		t.Fatalf("float tie: %s %v rank %d, %s %v rank %d", a.ID, a.Score.V, a.Rank, b.ID, b.Score.V, b.Rank)
	}
}

// Zero land, zero energy, zero value added and a lower-is-better value of 0
// are N/A with the reason, never a division by zero.
func TestEvaluateNoDivisionByZero(t *testing.T) {
	cfg := &EvaluationConfig{Classes: DefaultEvaluation().Classes, Groups: []Group{{Name: "g", Indicators: []IndicatorSpec{
		{Indicator: "co2_per_mu", Benchmark: 10, Weight: 10},
		{Indicator: "tce_per_10k_cny_value_added", Benchmark: 0.5, Weight: 10},
		{Indicator: "value_added_per_tce", Benchmark: 30000, Weight: 10},
		{Indicator: "labour_productivity", Benchmark: 150000, Weight: 10},
		{Indicator: "rd_intensity", Benchmark: 0.03, Weight: 10},
		{Indicator: "tax_per_kwh", Benchmark: 2, Weight: 10},
	}}}}
	y := period(t, "2026")
	reg := mkRegistry(
		Enterprise{ID: "Z-land", LandAreaMu: 0, ValueAddedCNY: 1e6, Employees: 10, RDSpendCNY: Of(0)},
		Enterprise{ID: "Z-energy", LandAreaMu: 5, ValueAddedCNY: 1e6, Employees: 0, RDSpendCNY: Of(1)},
		Enterprise{ID: "Z-va", LandAreaMu: 5, ValueAddedCNY: 0, Employees: 3},
	)
	tot := map[string]Totals{
		"Z-land":   metered(y, 10, 1000, 0, 20),
		"Z-energy": {WaterM3: 100}, // metered, but only water: no energy, no CO2
		"Z-va":     metered(y, 10, 0, 0, 20),
	}
	ev, err := Evaluate(cfg, reg, tot, y)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct{ id, indicator, na string }{
		{"Z-land", "co2_per_mu", "no land area"},
		{"Z-land", "rd_intensity", "no sales revenue"},
		{"Z-energy", "co2_per_mu", "value 0 cannot be inverted"},
		{"Z-energy", "tce_per_10k_cny_value_added", "value 0 cannot be inverted"},
		{"Z-energy", "value_added_per_tce", "no energy consumed"},
		{"Z-energy", "labour_productivity", "no employees"},
		{"Z-energy", "tax_per_kwh", "no electricity consumed"},
		{"Z-va", "tce_per_10k_cny_value_added", "no value added"},
		{"Z-va", "rd_intensity", "no rd_spend_cny"},
	}
	for _, c := range cases {
		s := indicator(t, row(t, ev, c.id), c.indicator)
		if s.Ratio.OK || s.Points != 0 || !strings.HasPrefix(s.NA, "N/A: "+c.na) {
			t.Errorf("%s %s: %+v, want N/A %q", c.id, c.indicator, s, c.na)
		}
	}
	// Z-land's energy intensity exists: 10 tce / 100 × 10,000 CNY = 0.1 → 0.5/0.1 = 5, capped 2 → 20.
	if s := indicator(t, row(t, ev, "Z-land"), "tce_per_10k_cny_value_added"); !near(s.Value.V, 0.1) || !s.Capped || !near(s.Points, 20) {
		t.Errorf("Z-land energy intensity: %+v", s)
	}
	if _, err := json.Marshal(ev); err != nil {
		t.Fatal(err)
	}
}

// Schemes that count electricity at the equal value (等价值) replace the
// stored equivalent value (0.1229 kgce/kWh).
func TestEvaluateElectricityCoefficient(t *testing.T) {
	cfg := DefaultEvaluation()
	cfg.ElectricityKgcePerKWh = 0.3
	y := period(t, "2026")
	reg := mkRegistry(Enterprise{ID: "E", LandAreaMu: 10, TaxPaidCNY: 3.1e6, SalesRevenueCNY: 1})
	// 1,000,000 kWh stored as 122,900 kgce plus 10,000 kgce of gas: at 0.3 it is 310 tce.
	ev, err := Evaluate(cfg, reg, map[string]Totals{"E": {ElectricityKWh: 1e6, CoalKgce: 122900 + 10000}}, y)
	if err != nil {
		t.Fatal(err)
	}
	if s := indicator(t, ev.Rows[0], "tax_per_tce"); !near(s.Value.V, 10000) {
		t.Fatalf("tax per tce %v, want 3.1 M / 310 tce = 10,000", s.Value.V)
	}
}

// Band P % holds ranks ≤ ⌈P·n/100⌉: A gets ⌈0.2n⌉, D (bottom 5 %) ⌊0.05n⌋.
func TestPercentileBoundaries(t *testing.T) {
	rule := DefaultEvaluation().Classes
	cases := []struct {
		n          int
		a, b, c, d int
	}{
		{1, 1, 0, 0, 0},
		{2, 1, 1, 0, 0},
		{3, 1, 1, 1, 0},
		{4, 1, 2, 1, 0},
		{5, 1, 2, 2, 0},
		{6, 2, 2, 2, 0}, // ⌈1.2⌉ = 2 A, ⌈3.6⌉ = 4
		{10, 2, 4, 4, 0},
		{19, 4, 8, 7, 0}, // 0.95 of an enterprise is not a whole D
		{20, 4, 8, 7, 1},
		{21, 5, 8, 7, 1},
		{39, 8, 16, 14, 1},
		{40, 8, 16, 14, 2},
		{500, 100, 200, 175, 25},
	}
	for _, c := range cases {
		count := map[string]int{}
		for r := 1; r <= c.n; r++ {
			count[rule.class(r, c.n, 0)]++
		}
		if count["A"] != c.a || count["B"] != c.b || count["C"] != c.c || count["D"] != c.d {
			t.Errorf("n=%d: A %d B %d C %d D %d, want %d %d %d %d", c.n, count["A"], count["B"], count["C"], count["D"], c.a, c.b, c.c, c.d)
		}
	}
	// Exactly on an edge: with n = 10, rank 2 ends the top 20 % and rank 3 starts B.
	for _, c := range []struct {
		rank  int
		class string
	}{{2, "A"}, {3, "B"}, {6, "B"}, {7, "C"}, {10, "C"}} {
		if got := rule.class(c.rank, 10, 0); got != c.class {
			t.Errorf("rank %d of 10: %s, want %s", c.rank, got, c.class)
		}
	}
}

func TestScoreCutoffs(t *testing.T) {
	cfg := loadEvaluation(t, "testdata/linhai.yaml")
	for _, c := range []struct {
		score float64
		class string
	}{{150, "A"}, {120, "A"}, {120 - 1e-12, "A"}, {119.99, "B"}, {100, "B"}, {60, "C"}, {59.9, "D"}, {0, "D"}} {
		if got := cfg.Classes.class(1, 1, c.score); got != c.class {
			t.Errorf("score %v: %s, want %s", c.score, got, c.class)
		}
	}
}

func TestShippedEvaluationIsTheDefault(t *testing.T) {
	got := loadEvaluation(t, "../configs/evaluation.yaml")
	want := DefaultEvaluation()
	if err := want.Validate(); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("configs/evaluation.yaml\n%+v\nbuilt-in\n%+v", got, want)
	}
	var w float64
	for _, s := range want.Groups[0].Indicators {
		w += s.Weight
	}
	if w != 100 {
		t.Fatalf("Huai'an weights sum to %v", w)
	}
}

func TestParseEvaluationErrors(t *testing.T) {
	const base = `classes: {by: percentile, bands: [{class: A, up_to_percent: 50}, {class: B, up_to_percent: 100}]}
groups:
  - name: g
    indicators:
      - {indicator: tax_per_mu, benchmark: 1, weight: 1}
`
	cases := []struct{ name, yaml, want string }{
		{"empty", "", "empty file"},
		{"unknown key", base + "ratio_capp: 3\n", `line 6: unknown key "ratio_capp"`},
		{"no groups", "classes: {by: score, bands: [{class: A}]}\n", "no groups"},
		{"unknown indicator", strings.Replace(base, "tax_per_mu", "tax_per_acre", 1), `unknown indicator "tax_per_acre"`},
		{"zero benchmark", strings.Replace(base, "benchmark: 1", "benchmark: 0", 1), "benchmark 0 is not a positive number (CNY/mu)"},
		{"negative weight", strings.Replace(base, "weight: 1", "weight: -1", 1), "weight -1"},
		{"wrong direction", strings.Replace(base, "weight: 1}", "weight: 1, direction: lower}", 1), `direction "lower", but higher is better`},
		{"twice", base + "      - {indicator: tax_per_mu, benchmark: 1, weight: 1}\n", "listed twice"},
		{"bad missing", base + "missing: guess\n", `missing "guess"`},
		{"bad cap", base + "ratio_cap: -1\n", "ratio_cap -1"},
		{"percent not rising", strings.Replace(base, "up_to_percent: 100", "up_to_percent: 40", 1), "must exceed"},
		{"percent short of 100", strings.Replace(base, "up_to_percent: 100", "up_to_percent: 90", 1), "up to 100"},
		{"class T", strings.Replace(base, "class: B", "class: T", 1), "T"},
		{"by", strings.Replace(base, "by: percentile", "by: vibes", 1), `by "vibes"`},
		{"score bands", "classes: {by: score, bands: [{class: A, min_score: 50}, {class: B, min_score: 60}, {class: C}]}\ngroups: [{name: g, indicators: [{indicator: tax_per_mu, benchmark: 1, weight: 1}]}]\n",
			"must be below"},
		{"score last band", "classes: {by: score, bands: [{class: A, min_score: 50}, {class: B, min_score: 10}]}\ngroups: [{name: g, indicators: [{indicator: tax_per_mu, benchmark: 1, weight: 1}]}]\n",
			"no min_score"},
		{"duplicate group", base + "  - name: g\n    indicators: [{indicator: tax_per_mu, benchmark: 1, weight: 1}]\n", "duplicate name"},
		{"bad scale", strings.Replace(base, "  - name: g\n", "  - name: g\n    scale: [huge]\n", 1), `scale "huge"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseEvaluation([]byte(c.yaml))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error containing %q", err, c.want)
			}
		})
	}
	if _, err := ParseEvaluation([]byte(base)); err != nil {
		t.Fatalf("the base case must parse: %v", err)
	}
}

// BenchmarkEvaluate500 scores a park of 500 enterprises over a month with
// the shipped scheme and with Huangyan's two-group one.
func BenchmarkEvaluate500(b *testing.B) {
	oct := period(b, "2026-10")
	es := make([]Enterprise, 500)
	tot := make(map[string]Totals, 500)
	for i := range es {
		id := fmt.Sprintf("ent-%03d", i)
		x := float64(i%97 + 1)
		es[i] = Enterprise{ID: id, Name: id, LandAreaMu: 2 + x/3, Scale: []Scale{AboveDesignatedSize, BelowDesignatedSize}[i%2],
			TaxPaidCNY: 1e5 * x, SalesRevenueCNY: 2e6 * (98 - x), ValueAddedCNY: 5e5 * x, OutputValueCNY: 2.1e6 * (98 - x),
			Employees: 10 + i%50, RDSpendCNY: Of(1e4 * x), CODDischargedT: Of(x / 10)}
		tot[id] = metered(oct, 10*x, 5e4*x, 100*x, 20*x)
	}
	reg := mkRegistry(es...)
	for _, cfg := range []struct {
		name string
		c    *EvaluationConfig
	}{{"huaian", DefaultEvaluation()}, {"huangyan", loadEvaluation(b, "testdata/huangyan.yaml")}} {
		b.Run(cfg.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Evaluate(cfg.c, reg, tot, oct); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// Land filters: at_least is inclusive, below exclusive, so 3 mu is never in
// both of Linhai's groups nor in neither.
func TestGroupMatches(t *testing.T) {
	three := 3.0
	atLeast := Group{LandAreaMuAtLeast: &three}
	below := Group{LandAreaMuBelow: &three}
	small := Group{Scale: []Scale{BelowDesignatedSize}}
	cases := []struct {
		g    Group
		e    Enterprise
		want bool
	}{
		{atLeast, Enterprise{LandAreaMu: 3}, true},
		{atLeast, Enterprise{LandAreaMu: 2.999}, false},
		{below, Enterprise{LandAreaMu: 3}, false},
		{below, Enterprise{LandAreaMu: 2.999}, true},
		{below, Enterprise{LandAreaMu: 0}, true},
		{small, Enterprise{Scale: BelowDesignatedSize}, true},
		{small, Enterprise{Scale: AboveDesignatedSize}, false},
		{Group{}, Enterprise{Scale: AboveDesignatedSize, LandAreaMu: 1000}, true},
	}
	for i, c := range cases {
		if got := c.g.matches(&c.e); got != c.want {
			t.Errorf("case %d: %s matches %+v = %v", i, c.g.filterString(), c.e, got)
		}
	}
}

// An enterprise no group matches is listed, not dropped.
func TestEvaluateOutOfScope(t *testing.T) {
	cfg := loadEvaluation(t, "testdata/huangyan.yaml")
	cfg.Groups = cfg.Groups[:1] // above designated size only
	reg := mkRegistry(Enterprise{ID: "small", LandAreaMu: 2, Scale: BelowDesignatedSize})
	ev, err := Evaluate(cfg, reg, nil, period(t, "2026"))
	if err != nil {
		t.Fatal(err)
	}
	if r := ev.Rows[0]; len(ev.Rows) != 1 || r.Class != "" || r.Score.OK || r.Reason != "no group matches (scale below, 2 mu)" {
		t.Fatalf("%+v", ev.Rows)
	}
}
