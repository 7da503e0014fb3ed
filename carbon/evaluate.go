package carbon

// The per-mu benefit evaluation (亩均效益综合评价), as in
// docs/domain/evaluation.md:
//
//	score = Σ_i min(ratio_i, cap_i) × weight_i
//	ratio_i = indicator ÷ benchmark, or benchmark ÷ indicator when lower is better
//
// then a class per enterprise, by rank percentile within its group or by
// fixed score cut-offs. Everything a park decides (indicators, benchmarks,
// weights, caps, groups, classes) is configuration: evaluation.yaml.
//
// Indicators are on an annual basis, because benchmarks are published that
// way (150,000 CNY of tax per mu and year). Registry figures are annual as
// given; metered quantities of a shorter period are scaled to a year by the
// period's calendar days (÷ Period.YearFraction: October × 365/31). For every
// ratio of an economic figure to a metered one this is the same as pro-rating
// the registry figure to the period, and it keeps the benchmarks in the units
// parks publish.

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Direction says which way an indicator is better.
type Direction string

// Directions.
const (
	HigherIsBetter Direction = "higher"
	LowerIsBetter  Direction = "lower"
)

// Missing says how an indicator that is N/A for an enterprise is scored.
type Missing string

// Ways to score an N/A indicator.
const (
	// MissingZero earns no points: data a park lacks cannot lift a score.
	MissingZero Missing = "zero"
	// MissingAverage earns the average points of the enterprises in the same
	// group that have the indicator, as Huangyan does for enterprises without
	// emission data.
	MissingAverage Missing = "average"
)

// ClassNotRated is class T, kept for enterprises not suited to evaluation
// (registry not_rated): they are listed, never ranked.
const ClassNotRated = "T"

// IndicatorDef is an indicator the evaluation can compute.
type IndicatorDef struct {
	Name      string
	Unit      string
	Direction Direction
	Doc       string
	value     func(in *indicatorInput) Num
}

// indicatorInput is one enterprise's data, annualised.
type indicatorInput struct {
	e *Enterprise
	// annual metered quantities
	kWh, tce, tCO2, waterM3 float64
}

// Indicators lists every indicator an evaluation.yaml may use.
func Indicators() []IndicatorDef {
	land := func(in *indicatorInput) Num { return Of(in.e.LandAreaMu) }
	tax := func(in *indicatorInput) Num { return Of(in.e.TaxPaidCNY) }
	sales := func(in *indicatorInput) Num { return Of(in.e.SalesRevenueCNY) }
	va := func(in *indicatorInput) Num { return Of(in.e.ValueAddedCNY) }
	tce := func(in *indicatorInput) Num { return Of(in.tce) }
	per := func(a, b func(*indicatorInput) Num) func(*indicatorInput) Num {
		return func(in *indicatorInput) Num { return div(a(in), b(in)) }
	}
	return []IndicatorDef{
		{"tax_per_mu", "CNY/mu", HigherIsBetter, "tax paid ÷ land area (亩均税收)", per(tax, land)},
		{"sales_per_mu", "CNY/mu", HigherIsBetter, "sales revenue ÷ land area (亩均销售收入)", per(sales, land)},
		{"value_added_per_mu", "CNY/mu", HigherIsBetter, "industrial value added ÷ land area (亩均增加值)", per(va, land)},
		{"output_per_mu", "CNY/mu", HigherIsBetter, "output value ÷ land area", per(func(in *indicatorInput) Num { return Of(in.e.OutputValueCNY) }, land)},
		{"tax_per_tce", "CNY/tce", HigherIsBetter, "tax paid ÷ energy consumed (Huai'an 绿色发展)", per(tax, tce)},
		{"tax_per_kwh", "CNY/kWh", HigherIsBetter, "tax paid ÷ electricity consumed (单位电耗税收)", per(tax, func(in *indicatorInput) Num { return Of(in.kWh) })},
		{"value_added_per_tce", "CNY/tce", HigherIsBetter, "value added ÷ energy consumed (单位能耗增加值)", per(va, tce)},
		{"sales_per_tce", "CNY/tce", HigherIsBetter, "sales revenue ÷ energy consumed (单位能耗销售收入)", per(sales, tce)},
		{"value_added_per_water_m3", "CNY/m3", HigherIsBetter, "value added ÷ water consumed", per(va, func(in *indicatorInput) Num { return Of(in.waterM3) })},
		{"value_added_per_t_cod", "CNY/t", HigherIsBetter, "value added ÷ COD discharged (单位排放增加值)", per(va, func(in *indicatorInput) Num { return in.e.CODDischargedT })},
		{"labour_productivity", "CNY/person", HigherIsBetter, "value added ÷ employees (全员劳动生产率)", per(va, func(in *indicatorInput) Num { return Of(float64(in.e.Employees)) })},
		{"rd_intensity", "ratio", HigherIsBetter, "R&D spend ÷ sales revenue (研发经费投入强度), a fraction", per(func(in *indicatorInput) Num { return in.e.RDSpendCNY }, sales)},
		{"co2_per_mu", "tCO2/mu", LowerIsBetter, "CO2 emitted ÷ land area", per(func(in *indicatorInput) Num { return Of(in.tCO2) }, land)},
		{"tce_per_10k_cny_value_added", "tce/10k CNY", LowerIsBetter, "energy consumed ÷ value added (energy intensity)", per(tce, func(in *indicatorInput) Num { return Of(in.e.ValueAddedCNY / 1e4) })},
		{"co2_per_10k_cny_value_added", "tCO2/10k CNY", LowerIsBetter, "CO2 emitted ÷ value added (carbon intensity)", per(func(in *indicatorInput) Num { return Of(in.tCO2) }, func(in *indicatorInput) Num { return Of(in.e.ValueAddedCNY / 1e4) })},
	}
}

func lookupIndicator(name string) (IndicatorDef, bool) {
	for _, d := range Indicators() {
		if d.Name == name {
			return d, true
		}
	}
	return IndicatorDef{}, false
}

// EvaluationConfig is evaluation.yaml: the scheme a park evaluates by.
type EvaluationConfig struct {
	Scheme string `yaml:"scheme"`
	// RatioCap bounds each ratio so one indicator cannot dominate; an
	// indicator may set its own. Default 2.
	RatioCap float64 `yaml:"ratio_cap"`
	// Missing is how N/A indicators score unless an indicator says
	// otherwise. Default zero.
	Missing Missing `yaml:"missing"`
	// ElectricityKgcePerKWh is the coefficient electricity enters energy
	// (tce) with. Default CoalElectricity, the equivalent value (当量值) the
	// collector stores; schemes that ask for the equal value (等价值,
	// ~0.30, the year's coal rate of power supply) set it here.
	ElectricityKgcePerKWh float64 `yaml:"electricity_kgce_per_kwh"`
	// Classes is the default class rule of every group.
	Classes ClassRule `yaml:"classes"`
	// Groups are evaluated and ranked separately, each with its indicator
	// set; an enterprise belongs to the first group that matches it.
	Groups []Group `yaml:"groups"`
}

// ClassRule turns scores into classes.
type ClassRule struct {
	// By is "percentile" (by rank within the group) or "score" (fixed
	// cut-offs).
	By    string `yaml:"by"`
	Bands []Band `yaml:"bands"`
}

// Band is one class. By percentile, UpToPercent is the band's lower edge in
// the ranking, as a percentage from the top: A up to 20, B up to 60, ….
// By score, MinScore is the least score of the band; the last band has none.
type Band struct {
	Class       string   `yaml:"class" json:"class"`
	UpToPercent *float64 `yaml:"up_to_percent,omitempty" json:"up_to_percent,omitempty"`
	MinScore    *float64 `yaml:"min_score,omitempty" json:"min_score,omitempty"`
}

// Group is a set of enterprises evaluated with one indicator set. Empty
// filters match everything.
type Group struct {
	Name              string          `yaml:"name"`
	Scale             []Scale         `yaml:"scale"`
	LandAreaMuAtLeast *float64        `yaml:"land_area_mu_at_least"`
	LandAreaMuBelow   *float64        `yaml:"land_area_mu_below"`
	Indicators        []IndicatorSpec `yaml:"indicators"`
	Classes           *ClassRule      `yaml:"classes"`
}

// IndicatorSpec is one indicator of a group, with the park's benchmark (in
// the indicator's unit, annual basis) and weight.
type IndicatorSpec struct {
	Indicator string  `yaml:"indicator"`
	Benchmark float64 `yaml:"benchmark"`
	Weight    float64 `yaml:"weight"`
	// Direction is optional and must agree with the indicator's: it lets
	// evaluation.yaml say so for its readers.
	Direction Direction `yaml:"direction"`
	Cap       float64   `yaml:"cap"`     // 0: the config's ratio_cap
	Missing   Missing   `yaml:"missing"` // "": the config's
}

// DefaultEvaluation is the shipped scheme: Huai'an's 2024 weights (tax per
// mu 45, sales revenue per mu 35, tax per unit of energy 20) and classes by
// rank (A top 20 %, B to 60 %, C to 95 %, D the bottom 5 %). The benchmarks
// are PLACEHOLDERS every park must replace: Huai'an sets each near twice the
// county average of the previous year. Tax and sales per mu are Linhai's
// published benchmarks; tax per tce is a round figure of the same order.
// configs/evaluation.yaml holds the same scheme.
func DefaultEvaluation() *EvaluationConfig {
	pct := func(v float64) *float64 { return &v }
	return &EvaluationConfig{
		Scheme:                "Huai'an 2024 weights, placeholder benchmarks",
		RatioCap:              2,
		Missing:               MissingZero,
		ElectricityKgcePerKWh: CoalElectricity,
		Classes: ClassRule{By: "percentile", Bands: []Band{
			{Class: "A", UpToPercent: pct(20)},
			{Class: "B", UpToPercent: pct(60)},
			{Class: "C", UpToPercent: pct(95)},
			{Class: "D", UpToPercent: pct(100)},
		}},
		Groups: []Group{{
			Name: "all",
			Indicators: []IndicatorSpec{
				{Indicator: "tax_per_mu", Benchmark: 150000, Weight: 45, Direction: HigherIsBetter},
				{Indicator: "sales_per_mu", Benchmark: 3000000, Weight: 35, Direction: HigherIsBetter},
				{Indicator: "tax_per_tce", Benchmark: 10000, Weight: 20, Direction: HigherIsBetter},
			},
		}},
	}
}

// ParseEvaluation decodes evaluation.yaml strictly (an unknown key is an
// error with its line), fills defaults and validates it.
func ParseEvaluation(data []byte) (*EvaluationConfig, error) {
	var c EvaluationConfig
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("evaluation: empty file")
		}
		return nil, fmt.Errorf("evaluation: %s", cleanYAMLError(err.Error()))
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

// Validate fills defaults and checks the scheme.
func (c *EvaluationConfig) Validate() error {
	if c.RatioCap == 0 {
		c.RatioCap = 2
	}
	if c.Missing == "" {
		c.Missing = MissingZero
	}
	if c.ElectricityKgcePerKWh == 0 {
		c.ElectricityKgcePerKWh = CoalElectricity
	}
	if !(c.RatioCap > 0) || math.IsInf(c.RatioCap, 0) {
		return fmt.Errorf("evaluation: ratio_cap %v is not a positive number", c.RatioCap)
	}
	if err := c.Missing.validate(); err != nil {
		return fmt.Errorf("evaluation: %w", err)
	}
	if !(c.ElectricityKgcePerKWh > 0) || math.IsInf(c.ElectricityKgcePerKWh, 0) {
		return fmt.Errorf("evaluation: electricity_kgce_per_kwh %v is not a positive number", c.ElectricityKgcePerKWh)
	}
	if err := c.Classes.validate(); err != nil {
		return fmt.Errorf("evaluation: classes: %w", err)
	}
	if len(c.Groups) == 0 {
		return errors.New("evaluation: no groups")
	}
	seen := map[string]bool{}
	for gi := range c.Groups {
		g := &c.Groups[gi]
		if g.Name == "" {
			return fmt.Errorf("evaluation: group %d: missing name", gi+1)
		}
		if seen[g.Name] {
			return fmt.Errorf("evaluation: group %q: duplicate name", g.Name)
		}
		seen[g.Name] = true
		if err := g.validate(); err != nil {
			return fmt.Errorf("evaluation: group %q: %w", g.Name, err)
		}
	}
	return nil
}

func (m Missing) validate() error {
	switch m {
	case MissingZero, MissingAverage:
		return nil
	}
	return fmt.Errorf("missing %q is not zero or average", m)
}

func (g *Group) validate() error {
	for _, s := range g.Scale {
		if s != AboveDesignatedSize && s != BelowDesignatedSize {
			return fmt.Errorf("scale %q is not above or below", s)
		}
	}
	for _, b := range []*float64{g.LandAreaMuAtLeast, g.LandAreaMuBelow} {
		if b != nil && (math.IsNaN(*b) || *b < 0) {
			return fmt.Errorf("land area bound %v is negative", *b)
		}
	}
	if len(g.Indicators) == 0 {
		return errors.New("no indicators")
	}
	seen := map[string]bool{}
	for i := range g.Indicators {
		s := &g.Indicators[i]
		def, ok := lookupIndicator(s.Indicator)
		if !ok {
			return fmt.Errorf("indicator %d: unknown indicator %q (known: %s)", i+1, s.Indicator, knownIndicators())
		}
		if seen[s.Indicator] {
			return fmt.Errorf("indicator %s: listed twice", s.Indicator)
		}
		seen[s.Indicator] = true
		switch {
		case s.Direction != "" && s.Direction != def.Direction:
			return fmt.Errorf("indicator %s: direction %q, but %s is better for it", s.Indicator, s.Direction, def.Direction)
		case !(s.Benchmark > 0) || math.IsInf(s.Benchmark, 0):
			return fmt.Errorf("indicator %s: benchmark %v is not a positive number (%s)", s.Indicator, s.Benchmark, def.Unit)
		case !(s.Weight > 0) || math.IsInf(s.Weight, 0):
			return fmt.Errorf("indicator %s: weight %v is not a positive number", s.Indicator, s.Weight)
		case s.Cap < 0 || math.IsNaN(s.Cap) || math.IsInf(s.Cap, 0):
			return fmt.Errorf("indicator %s: cap %v is not a positive number", s.Indicator, s.Cap)
		}
		if s.Missing != "" {
			if err := s.Missing.validate(); err != nil {
				return fmt.Errorf("indicator %s: %w", s.Indicator, err)
			}
		}
	}
	if g.Classes != nil {
		if err := g.Classes.validate(); err != nil {
			return fmt.Errorf("classes: %w", err)
		}
	}
	return nil
}

func knownIndicators() string {
	var names []string
	for _, d := range Indicators() {
		names = append(names, d.Name)
	}
	return strings.Join(names, ", ")
}

func (r *ClassRule) validate() error {
	if len(r.Bands) == 0 {
		return errors.New("no bands")
	}
	seen := map[string]bool{}
	for i, b := range r.Bands {
		if b.Class == "" || b.Class == ClassNotRated {
			return fmt.Errorf("band %d: class %q (empty, or T, which is kept for not-rated enterprises)", i+1, b.Class)
		}
		if seen[b.Class] {
			return fmt.Errorf("class %s: listed twice", b.Class)
		}
		seen[b.Class] = true
	}
	last := len(r.Bands) - 1
	switch r.By {
	case "percentile":
		prev := 0.0
		for i, b := range r.Bands {
			if b.UpToPercent == nil || b.MinScore != nil {
				return fmt.Errorf("class %s: a percentile band needs up_to_percent and no min_score", b.Class)
			}
			p := *b.UpToPercent
			if !(p > prev) || p > 100 {
				return fmt.Errorf("class %s: up_to_percent %v must exceed the band before (%v) and be at most 100", b.Class, p, prev)
			}
			if i == last && p != 100 {
				return fmt.Errorf("class %s: the last band must go up to 100 percent", b.Class)
			}
			prev = p
		}
	case "score":
		for i, b := range r.Bands {
			if b.UpToPercent != nil {
				return fmt.Errorf("class %s: a score band takes min_score, not up_to_percent", b.Class)
			}
			if i == last {
				if b.MinScore != nil {
					return fmt.Errorf("class %s: the last band takes every score below the others: no min_score", b.Class)
				}
				continue
			}
			if b.MinScore == nil || math.IsNaN(*b.MinScore) || math.IsInf(*b.MinScore, 0) {
				return fmt.Errorf("class %s: needs a min_score", b.Class)
			}
			if i > 0 && !(*b.MinScore < *r.Bands[i-1].MinScore) {
				return fmt.Errorf("class %s: min_score %v must be below the band before (%v)", b.Class, *b.MinScore, *r.Bands[i-1].MinScore)
			}
		}
	default:
		return fmt.Errorf("by %q is not percentile or score", r.By)
	}
	return nil
}

// String describes the rule in one line, for reports.
func (r ClassRule) String() string {
	var parts []string
	for _, b := range r.Bands {
		switch {
		case b.UpToPercent != nil:
			parts = append(parts, fmt.Sprintf("%s ≤ %s %%", b.Class, strconv.FormatFloat(*b.UpToPercent, 'f', -1, 64)))
		case b.MinScore != nil:
			parts = append(parts, fmt.Sprintf("%s ≥ %s", b.Class, strconv.FormatFloat(*b.MinScore, 'f', -1, 64)))
		default:
			parts = append(parts, b.Class+" below")
		}
	}
	by := "by rank percentile"
	if r.By == "score" {
		by = "by score"
	}
	return by + ": " + strings.Join(parts, ", ")
}

func (g *Group) matches(e *Enterprise) bool {
	if len(g.Scale) > 0 && !slices.Contains(g.Scale, e.Scale) {
		return false
	}
	if g.LandAreaMuAtLeast != nil && e.LandAreaMu < *g.LandAreaMuAtLeast {
		return false
	}
	if g.LandAreaMuBelow != nil && e.LandAreaMu >= *g.LandAreaMuBelow {
		return false
	}
	return true
}

// Evaluation is the result: every enterprise of the registry with the
// numbers behind its score and class.
type Evaluation struct {
	Scheme                string         `json:"scheme"`
	Period                string         `json:"period"`
	Start                 string         `json:"start"` // RFC 3339, in the park's time zone
	End                   string         `json:"end"`
	Days                  int            `json:"days"`
	YearFraction          float64        `json:"year_fraction"`
	ElectricityKgcePerKWh float64        `json:"electricity_kgce_per_kwh"`
	Groups                []GroupSummary `json:"groups"`
	// Rows: each group's rated enterprises by rank, then the not-rated
	// (class T), then those no group matches.
	Rows []Row `json:"rows"`
	// Unregistered are enterprises with metered data but no registry entry.
	Unregistered []string `json:"unregistered,omitempty"`
}

// GroupSummary is a group's scheme as applied.
type GroupSummary struct {
	Name       string        `json:"name"`
	Filter     string        `json:"filter"`
	Rated      int           `json:"rated"`
	Classes    string        `json:"classes"`
	Bands      []Band        `json:"bands"`
	Indicators []AppliedSpec `json:"indicators"`
}

// AppliedSpec is an indicator of a group with its defaults resolved.
type AppliedSpec struct {
	Indicator string    `json:"indicator"`
	Unit      string    `json:"unit"`
	Direction Direction `json:"direction"`
	Benchmark float64   `json:"benchmark"`
	Weight    float64   `json:"weight"`
	Cap       float64   `json:"cap"`
	Missing   Missing   `json:"missing"`
}

// Row is one enterprise's evaluation.
type Row struct {
	ID         string  `json:"id"`
	Name       string  `json:"name"`
	Scale      Scale   `json:"scale"`
	LandAreaMu float64 `json:"land_area_mu"`
	Group      string  `json:"group,omitempty"`
	Rank       int     `json:"rank,omitempty"`    // 1-based within the group; ties share the best rank
	RankOf     int     `json:"rank_of,omitempty"` // rated enterprises in the group
	Score      Num     `json:"score"`
	Class      string  `json:"class"` // a band's class, T (not rated) or "" (no group matches)
	Reason     string  `json:"reason,omitempty"`
	// Indicators hold the numbers behind the score.
	Indicators []Scored  `json:"indicators,omitempty"`
	Metered    bool      `json:"metered"` // any consumption data in the period
	Totals     Totals    `json:"totals"`
	Intensity  Intensity `json:"intensity"`
	Notes      []string  `json:"notes,omitempty"`
}

// Scored is one indicator of one enterprise.
type Scored struct {
	Indicator string    `json:"indicator"`
	Unit      string    `json:"unit"`
	Direction Direction `json:"direction"`
	Value     Num       `json:"value"`
	Benchmark float64   `json:"benchmark"`
	// Ratio is value ÷ benchmark, or benchmark ÷ value when lower is better,
	// before the cap.
	Ratio  Num     `json:"ratio"`
	Cap    float64 `json:"cap"`
	Capped bool    `json:"capped"`
	Weight float64 `json:"weight"`
	// Points is min(ratio, cap) × weight; for an N/A ratio, what the
	// missing rule gave.
	Points float64 `json:"points"`
	NA     string  `json:"na,omitempty"` // why the ratio is N/A and how it was scored
}

// scoreKey rounds a score for comparison so that sums that differ only by
// floating-point order (1e-13) rank as ties.
func scoreKey(s float64) float64 { return math.Round(s * 1e6) }

// Evaluate scores and classes every enterprise of reg over period p from
// its metered totals (enterprises absent from totals have no consumption).
func Evaluate(cfg *EvaluationConfig, reg *Registry, totals map[string]Totals, p Period) (*Evaluation, error) {
	if cfg == nil || reg == nil {
		return nil, errors.New("evaluate: no scheme or no registry")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	f := p.YearFraction()
	if !(f > 0) {
		return nil, fmt.Errorf("evaluate: period %s is empty", p.Label)
	}
	ev := &Evaluation{
		Scheme: cfg.Scheme, Period: p.Label, Days: p.Days(), YearFraction: f,
		Start: p.Start.Format("2006-01-02T15:04:05Z07:00"), End: p.End.Format("2006-01-02T15:04:05Z07:00"),
		ElectricityKgcePerKWh: cfg.ElectricityKgcePerKWh,
	}
	type member struct {
		row *Row
		in  indicatorInput
	}
	groups := make([][]member, len(cfg.Groups))
	var notRated, outOfScope []Row
	rows := make([]Row, len(reg.Enterprises))
	for i := range reg.Enterprises {
		e := &reg.Enterprises[i]
		t, metered := totals[e.ID]
		r := &rows[i]
		*r = Row{ID: e.ID, Name: e.Name, Scale: e.Scale, LandAreaMu: e.LandAreaMu, Metered: metered,
			Totals: t, Intensity: Intensities(t, e, p)}
		if !metered {
			r.Notes = append(r.Notes, "no metered consumption in the period")
		}
		if e.NotRated != "" {
			r.Class, r.Reason = ClassNotRated, "not rated: "+e.NotRated
			notRated = append(notRated, *r)
			continue
		}
		gi := slices.IndexFunc(cfg.Groups, func(g Group) bool { return g.matches(e) })
		if gi < 0 {
			r.Reason = fmt.Sprintf("no group matches (scale %s, %v mu)", e.Scale, e.LandAreaMu)
			outOfScope = append(outOfScope, *r)
			continue
		}
		r.Group = cfg.Groups[gi].Name
		// Electricity enters energy at the scheme's coefficient instead of
		// the stored equivalent value.
		kgce := t.CoalKgce + t.ElectricityKWh*(cfg.ElectricityKgcePerKWh-CoalElectricity)
		groups[gi] = append(groups[gi], member{row: r, in: indicatorInput{
			e: e, kWh: t.ElectricityKWh / f, tce: kgce / 1000 / f, tCO2: t.CO2kg / 1000 / f, waterM3: t.WaterM3 / f,
		}})
	}
	ev.Unregistered = totalsNotIn(totals, reg)

	for gi := range cfg.Groups {
		g := &cfg.Groups[gi]
		rule := cfg.Classes
		if g.Classes != nil {
			rule = *g.Classes
		}
		specs := applied(cfg, g)
		defs := make([]IndicatorDef, len(specs))
		for k, sp := range specs {
			defs[k], _ = lookupIndicator(sp.Indicator)
		}
		members := groups[gi]
		sum := GroupSummary{Name: g.Name, Filter: g.filterString(), Rated: len(members), Classes: rule.String(),
			Indicators: specs, Bands: rule.Bands}
		ev.Groups = append(ev.Groups, sum)

		// Score what can be scored; N/A ratios wait for the group average.
		var total, count = make([]float64, len(specs)), make([]int, len(specs))
		for _, m := range members {
			m.row.Indicators = make([]Scored, len(specs))
			for k, s := range specs {
				sc := score(s, defs[k], &m.in)
				m.row.Indicators[k] = sc
				if sc.Ratio.OK {
					total[k] += sc.Points
					count[k]++
				}
			}
		}
		for _, m := range members {
			var points float64
			for k := range m.row.Indicators {
				sc := &m.row.Indicators[k]
				if !sc.Ratio.OK {
					switch {
					case specs[k].Missing == MissingAverage && count[k] > 0:
						sc.Points = total[k] / float64(count[k])
						sc.NA += fmt.Sprintf("; scored the group average of %d", count[k])
					case specs[k].Missing == MissingAverage:
						sc.NA += "; no enterprise of the group has it: scored 0"
					default:
						sc.NA += "; scored 0"
					}
				}
				points += sc.Points
			}
			m.row.Score = Of(points)
		}

		ranked := make([]*Row, len(members))
		for k, m := range members {
			ranked[k] = m.row
		}
		slices.SortStableFunc(ranked, func(a, b *Row) int {
			if c := cmpFloat(scoreKey(b.Score.V), scoreKey(a.Score.V)); c != 0 {
				return c
			}
			return strings.Compare(a.ID, b.ID)
		})
		for k, r := range ranked {
			r.Rank, r.RankOf = k+1, len(ranked)
			if k > 0 && scoreKey(r.Score.V) == scoreKey(ranked[k-1].Score.V) {
				r.Rank = ranked[k-1].Rank
			}
			r.Class = rule.class(r.Rank, len(ranked), r.Score.V)
			ev.Rows = append(ev.Rows, *r)
		}
	}
	byID := func(a, b Row) int { return strings.Compare(a.ID, b.ID) }
	slices.SortFunc(notRated, byID)
	slices.SortFunc(outOfScope, byID)
	ev.Rows = append(ev.Rows, notRated...)
	ev.Rows = append(ev.Rows, outOfScope...)
	return ev, nil
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func totalsNotIn(totals map[string]Totals, reg *Registry) []string {
	var ids []string
	for id := range totals {
		if _, ok := reg.Lookup(id); !ok {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

func applied(cfg *EvaluationConfig, g *Group) []AppliedSpec {
	out := make([]AppliedSpec, len(g.Indicators))
	for i, s := range g.Indicators {
		def, _ := lookupIndicator(s.Indicator)
		a := AppliedSpec{Indicator: s.Indicator, Unit: def.Unit, Direction: def.Direction,
			Benchmark: s.Benchmark, Weight: s.Weight, Cap: s.Cap, Missing: s.Missing}
		if a.Cap == 0 {
			a.Cap = cfg.RatioCap
		}
		if a.Missing == "" {
			a.Missing = cfg.Missing
		}
		out[i] = a
	}
	return out
}

func (g *Group) filterString() string {
	var parts []string
	if len(g.Scale) > 0 {
		var s []string
		for _, sc := range g.Scale {
			s = append(s, string(sc))
		}
		parts = append(parts, "scale "+strings.Join(s, "|"))
	}
	if g.LandAreaMuAtLeast != nil {
		parts = append(parts, fmt.Sprintf("land ≥ %v mu", *g.LandAreaMuAtLeast))
	}
	if g.LandAreaMuBelow != nil {
		parts = append(parts, fmt.Sprintf("land < %v mu", *g.LandAreaMuBelow))
	}
	if len(parts) == 0 {
		return "every rated enterprise"
	}
	return strings.Join(parts, ", ")
}

// score computes one indicator's ratio and points; an N/A ratio is left at
// 0 points with the reason, for the caller to apply the missing rule.
func score(s AppliedSpec, def IndicatorDef, in *indicatorInput) Scored {
	sc := Scored{Indicator: s.Indicator, Unit: s.Unit, Direction: s.Direction, Benchmark: s.Benchmark,
		Cap: s.Cap, Weight: s.Weight, Value: def.value(in)}
	switch {
	case !sc.Value.OK:
		sc.NA = "N/A: " + naReason(s.Indicator, in)
		return sc
	case s.Direction == LowerIsBetter:
		// A lower-is-better ratio is inverted; a value of 0 cannot be.
		if sc.Value.V == 0 {
			sc.NA = "N/A: value 0 cannot be inverted"
			return sc
		}
		sc.Ratio = Of(s.Benchmark / sc.Value.V)
	default:
		sc.Ratio = Of(sc.Value.V / s.Benchmark)
	}
	r := sc.Ratio.V
	if r > s.Cap {
		r, sc.Capped = s.Cap, true
	}
	sc.Points = r * s.Weight
	return sc
}

// naReason says which denominator (or optional figure) is missing.
func naReason(indicator string, in *indicatorInput) string {
	switch {
	case strings.HasSuffix(indicator, "_per_mu") && in.e.LandAreaMu == 0:
		return "no land area"
	case strings.HasSuffix(indicator, "_per_tce") && in.tce == 0:
		return "no energy consumed"
	case indicator == "tax_per_kwh" && in.kWh == 0:
		return "no electricity consumed"
	case indicator == "value_added_per_water_m3" && in.waterM3 == 0:
		return "no water consumed"
	case indicator == "value_added_per_t_cod" && !in.e.CODDischargedT.OK:
		return "no cod_discharged_t in the registry"
	case indicator == "value_added_per_t_cod":
		return "no COD discharged"
	case indicator == "labour_productivity":
		return "no employees"
	case indicator == "rd_intensity" && !in.e.RDSpendCNY.OK:
		return "no rd_spend_cny in the registry"
	case indicator == "rd_intensity":
		return "no sales revenue"
	case strings.Contains(indicator, "per_10k_cny_value_added"):
		return "no value added"
	}
	return "denominator is zero"
}

// class gives the band of rank (1-based, ties sharing the best rank) among
// n, or of score. By percentile, an enterprise holds the slice
// [(rank−1)/n, rank/n) of the ranking and gets the band its slice starts in:
// the best band it touches. So band P% holds ranks ≤ ⌈P·n/100⌉: A (20 %) is
// ⌈0.2n⌉ enterprises, and D (the bottom 5 %) is ⌊0.05n⌋ — none below 20
// enterprises, since a whole class given to a fifth of a small park would
// overstate "the bottom 5 %" fourfold.
func (r *ClassRule) class(rank, n int, score float64) string {
	for _, b := range r.Bands {
		switch {
		case b.UpToPercent != nil:
			if float64(100*(rank-1)) < *b.UpToPercent*float64(n) {
				return b.Class
			}
		case b.MinScore != nil:
			if scoreKey(score) >= scoreKey(*b.MinScore) {
				return b.Class
			}
		default:
			return b.Class
		}
	}
	return r.Bands[len(r.Bands)-1].Class
}
