package central

import (
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/parkcarbon/parkcarbon/carbon"
	"github.com/parkcarbon/parkcarbon/internal/wire"
)

func num(t *testing.T, s string) float64 {
	t.Helper()
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatalf("parse %q: %v", s, err)
	}
	return v
}

func TestPointsSchema(t *testing.T) {
	conv := Converter{Factors: carbon.DefaultTable(), Region: "CN-FJ"}
	d := 10.0
	env := &wire.Envelope{V: 1, Gateway: "gw-01", Seq: 7,
		Readings: []wire.Reading{
			{Meter: "m-1", Enterprise: "e-1", Energy: "electricity", Quantity: "active_power", Value: 5, Unit: "kW", TS: at(10, 0, 5)},
			{Meter: "m-1", Enterprise: "e-1", Energy: "electricity", Quantity: "energy_import_total", Value: 1234.5, Unit: "kWh", TS: at(10, 0, 5), Delta: &d, Since: at(9, 59, 55)},
		},
		Events: []wire.Event{{Meter: "m-1", Enterprise: "e-1", Kind: "reset", Value: 3, Message: "x", TS: at(10, 0, 5)}},
	}
	pts := conv.Points(nil, env)
	// reading ×2, consumption, two split halves (09:00 and 10:00), data_quality.
	if len(pts) != 6 {
		t.Fatalf("%d points", len(pts))
	}
	byName := map[string]int{}
	for _, p := range pts {
		byName[p.Name()]++
	}
	if byName["reading"] != 2 || byName["consumption"] != 1 || byName["consumption_split"] != 2 || byName["data_quality"] != 1 {
		t.Fatalf("%v", byName)
	}
	c := pts[2]
	fields := map[string]any{}
	for _, f := range c.FieldList() {
		fields[f.Key] = f.Value
	}
	tags := map[string]string{}
	for _, tg := range c.TagList() {
		tags[tg.Key] = tg.Value
	}
	// Fujian 2023: 0.4211 kgCO2/kWh; GB/T 2589: 0.1229 kgce/kWh.
	if fields["amount"] != 10.0 || math.Abs(fields["co2_kg"].(float64)-4.211) > 1e-12 || fields["factor_kg_per_unit"] != 0.4211 ||
		math.Abs(fields["coal_kgce"].(float64)-1.229) > 1e-12 || fields["duration_s"] != 10.0 || tags["scope"] != "2" || c.Time().UnixMilli() != at(10, 0, 5) {
		t.Fatalf("consumption %v %v %v", fields, tags, c.Time())
	}
	var split float64
	for _, p := range pts[3:5] {
		for _, f := range p.FieldList() {
			if f.Key == "amount" {
				split += f.Value.(float64)
			}
		}
	}
	if split != 10 {
		t.Fatalf("split parts add to %v", split)
	}
}

// Per-enterprise accounting: the registry's region, then the collector
// config's market-based overrides on top.
func TestConverterOverrides(t *testing.T) {
	dir := t.TempDir()
	reg := `enterprises:
  - {id: e-fj, name: Fujian Works, land_area_mu: 10, industry: textiles, tier: 2, scale: above, output_value_cny: 1, sales_revenue_cny: 1, tax_paid_cny: 1, value_added_cny: 1, employees: 1, region: CN-FJ}
  - {id: e-ppa, name: PPA Works, land_area_mu: 10, industry: textiles, tier: 2, scale: above, output_value_cny: 1, sales_revenue_cny: 1, tax_paid_cny: 1, value_added_cny: 1, employees: 1, region: CN-FJ}
`
	if err := os.WriteFile(filepath.Join(dir, "enterprises.yaml"), []byte(reg), 0o644); err != nil {
		t.Fatal(err)
	}
	contract := 0.1
	cfg := &Config{Enterprises: filepath.Join(dir, "enterprises.yaml"), Carbon: CarbonConfig{Region: "CN",
		Enterprises: map[string]carbon.Override{"e-ppa": {ContractFactor: &contract, Source: "PPA"}}}}
	registry, err := loadRegistry(cfg.Enterprises, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	conv := newConverter(cfg, registry)
	for ent, want := range map[string]float64{"e-fj": 0.4211, "e-ppa": 0.1, "e-other": 0.5306} {
		d := 10.0
		env := &wire.Envelope{V: 1, Gateway: "g", Readings: []wire.Reading{{Meter: "m", Enterprise: ent, Energy: "electricity",
			Quantity: "energy_import_total", Value: 5, Unit: "kWh", TS: at(10, 0, 5), Delta: &d, Since: at(10, 0, 0)}}}
		found := 0
		for _, p := range conv.Points(nil, env) {
			if p.Name() != "consumption" {
				continue
			}
			for _, f := range p.FieldList() {
				if f.Key == "factor_kg_per_unit" {
					found++
					if f.Value != want {
						t.Errorf("%s: factor %v, want %v", ent, f.Value, want)
					}
				}
			}
		}
		if found != 1 {
			t.Errorf("%s: %d consumption factors", ent, found)
		}
	}
}
