package carbon

import (
	"os"
	"strings"
	"testing"
	"time"
)

const sampleRegistry = `# two enterprises
enterprises:
  - id: ent-001
    name: Castings
    land_area_mu: 42
    industry: C3391
    tier: key
    scale: above
    output_value_cny: 286000000
    sales_revenue_cny: 279000000
    tax_paid_cny: 9800000
    value_added_cny: 64000000
    employees: 410
    rd_spend_cny: 8100000
    gateways: [gw-01, gw-02]
    region: CN-ZJ
  - id: ent-002
    name: Utility
    land_area_mu: 0
    scale: below
    not_rated: utility
`

func TestParseRegistry(t *testing.T) {
	reg, err := ParseRegistry([]byte(sampleRegistry))
	if err != nil {
		t.Fatal(err)
	}
	if len(reg.Enterprises) != 2 {
		t.Fatalf("%d enterprises", len(reg.Enterprises))
	}
	e, ok := reg.Lookup("ent-001")
	if !ok {
		t.Fatal("ent-001 not found")
	}
	want := Enterprise{ID: "ent-001", Name: "Castings", LandAreaMu: 42, Industry: "C3391", Tier: "key",
		Scale: AboveDesignatedSize, OutputValueCNY: 286e6, SalesRevenueCNY: 279e6, TaxPaidCNY: 9.8e6,
		ValueAddedCNY: 64e6, Employees: 410, RDSpendCNY: Of(8.1e6), Gateways: []string{"gw-01", "gw-02"},
		Region: "CN-ZJ", Line: 3}
	if e.ID != want.ID || e.Name != want.Name || e.LandAreaMu != want.LandAreaMu || e.Industry != want.Industry ||
		e.Tier != want.Tier || e.Scale != want.Scale || e.OutputValueCNY != want.OutputValueCNY ||
		e.SalesRevenueCNY != want.SalesRevenueCNY || e.TaxPaidCNY != want.TaxPaidCNY ||
		e.ValueAddedCNY != want.ValueAddedCNY || e.Employees != want.Employees || e.RDSpendCNY != want.RDSpendCNY ||
		e.CODDischargedT.OK || strings.Join(e.Gateways, ",") != "gw-01,gw-02" || e.Region != want.Region || e.Line != want.Line {
		t.Errorf("got  %+v\nwant %+v", *e, want)
	}
	u, _ := reg.Lookup("ent-002")
	if u.NotRated != "utility" || u.Line != 17 || u.LandAreaMu != 0 {
		t.Errorf("ent-002: %+v", *u)
	}
	if _, ok := reg.Lookup("ent-003"); ok {
		t.Error("ent-003 should not be found")
	}
}

func TestParseRegistryErrors(t *testing.T) {
	one := func(body string) string {
		return "enterprises:\n  - id: ent-001\n    name: A\n    land_area_mu: 10\n    scale: above\n" +
			"    output_value_cny: 1\n    sales_revenue_cny: 1\n    tax_paid_cny: 1\n    value_added_cny: 1\n    employees: 1\n" +
			"  - id: ent-002\n" + body
	}
	const figures = "    output_value_cny: 1\n    sales_revenue_cny: 1\n    tax_paid_cny: 1\n    value_added_cny: 1\n    employees: 1\n"
	cases := []struct {
		name, yaml string
		want       []string // every one must appear in the error
	}{
		{"empty", "", []string{"empty file"}},
		{"no list", "enterprises: []\n", []string{"no enterprises"}},
		{"syntax", "enterprises:\n  - id: [\n", []string{"line"}},
		{"unknown top key", "enterprise: []\n", []string{"line 1", `unknown key "enterprise"`}},
		{"unknown key names enterprise and line", one("    name: B\n    land_area_mu: 1\n    scale: above\n    landarea: 3\n" + figures),
			[]string{"line 15", `enterprise "ent-002"`, `unknown key "landarea"`}},
		{"type error", one("    name: B\n    land_area_mu: lots\n    scale: above\n" + figures),
			[]string{"line 13", `enterprise "ent-002"`, "lots"}},
		{"bad id", one("    name: B\n    land_area_mu: 1\n    scale: above\n"+figures) + "  - id: ent 3\n    name: C\n",
			[]string{"line 20", "ent 3", "not a valid identifier"}},
		{"missing id", "enterprises:\n  - name: B\n", []string{"line 2", "#1", "missing id"}},
		{"duplicate id", strings.Replace(one("    name: B\n    land_area_mu: 1\n    scale: above\n"+figures), "id: ent-002", "id: ent-001", 1),
			[]string{"line 11", "ent-001", "duplicate id (first at line 2)"}},
		{"missing name", one("    land_area_mu: 1\n    scale: above\n" + figures), []string{"line 11", "ent-002", "missing name"}},
		{"missing land", one("    name: B\n    scale: above\n" + figures), []string{"ent-002", "missing land_area_mu"}},
		{"negative land", one("    name: B\n    land_area_mu: -1\n    scale: above\n" + figures), []string{"ent-002", "land_area_mu -1"}},
		{"nan tax", one("    name: B\n    land_area_mu: 1\n    scale: above\n" + strings.Replace(figures, "tax_paid_cny: 1", "tax_paid_cny: .nan", 1)),
			[]string{"ent-002", "tax_paid_cny NaN"}},
		{"missing scale", one("    name: B\n    land_area_mu: 1\n" + figures), []string{"ent-002", "missing scale"}},
		{"bad scale", one("    name: B\n    land_area_mu: 1\n    scale: large\n" + figures), []string{"ent-002", `scale "large"`}},
		{"missing figure", one("    name: B\n    land_area_mu: 1\n    scale: above\n" + strings.Replace(figures, "    tax_paid_cny: 1\n", "", 1)),
			[]string{"ent-002", "missing tax_paid_cny"}},
		{"missing employees", one("    name: B\n    land_area_mu: 1\n    scale: above\n" + strings.Replace(figures, "    employees: 1\n", "", 1)),
			[]string{"ent-002", "missing employees"}},
		{"negative employees", one("    name: B\n    land_area_mu: 1\n    scale: above\n" + strings.Replace(figures, "employees: 1", "employees: -4", 1)),
			[]string{"ent-002", "employees -4"}},
		{"negative rd", one("    name: B\n    land_area_mu: 1\n    scale: above\n    rd_spend_cny: -5\n" + figures), []string{"ent-002", "rd_spend_cny -5"}},
		{"bad gateway", one("    name: B\n    land_area_mu: 1\n    scale: above\n    gateways: [gw/1]\n" + figures), []string{"ent-002", `gateway "gw/1"`}},
		{"bad region", one("    name: B\n    land_area_mu: 1\n    scale: above\n    region: zhejiang\n" + figures), []string{"ent-002", `region "zhejiang"`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseRegistry([]byte(c.yaml))
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

// A not-rated enterprise needs no figures; a rated one does (checked above).
func TestParseRegistryNotRatedWithoutFigures(t *testing.T) {
	reg, err := ParseRegistry([]byte("enterprises:\n  - {id: new-1, name: Start-up, land_area_mu: 5, scale: below, not_rated: in production since 2025}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if e := reg.Enterprises[0]; e.NotRated != "in production since 2025" || e.TaxPaidCNY != 0 {
		t.Fatalf("%+v", e)
	}
}

func TestCheckRegions(t *testing.T) {
	reg, err := ParseRegistry([]byte(strings.Replace(sampleRegistry, "region: CN-ZJ", "region: CN-XX", 1)))
	if err != nil {
		t.Fatal(err)
	}
	err = reg.CheckRegions(DefaultTable(), date(2026, 10, 1))
	if err == nil || !strings.Contains(err.Error(), "line 3: enterprise ent-001: region \"CN-XX\"") {
		t.Fatalf("got %v", err)
	}
	reg, _ = ParseRegistry([]byte(sampleRegistry))
	if err := reg.CheckRegions(DefaultTable(), date(2026, 10, 1)); err != nil {
		t.Fatal(err)
	}
}

// The shipped example is the demo park: ent-001..ent-005, one not rated.
func TestShippedRegistry(t *testing.T) {
	data, err := os.ReadFile("../configs/enterprises.yaml")
	if err != nil {
		t.Fatal(err)
	}
	reg, err := ParseRegistry(data)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, e := range reg.Enterprises {
		ids = append(ids, e.ID)
	}
	if got := strings.Join(ids, " "); got != "ent-001 ent-002 ent-003 ent-004 ent-005" {
		t.Fatalf("ids %s", got)
	}
	if e, _ := reg.Lookup("ent-005"); e.NotRated == "" {
		t.Error("ent-005 (the utility) should be not rated")
	}
	if err := reg.CheckRegions(DefaultTable(), time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)); err != nil {
		t.Error(err)
	}
}

// Whatever the bytes, ParseRegistry returns an error or a registry whose
// every entry is valid and findable by its id.
func FuzzParseRegistry(f *testing.F) {
	f.Add([]byte(sampleRegistry))
	f.Add([]byte("enterprises:\n  - {id: a, name: b, land_area_mu: 1, scale: below, not_rated: new}\n"))
	f.Add([]byte("enterprises: [{id: a}, {id: a}]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		reg, err := ParseRegistry(data)
		if err != nil {
			return
		}
		for i := range reg.Enterprises {
			e := &reg.Enterprises[i]
			if got, ok := reg.Lookup(e.ID); !ok || got != e {
				t.Fatalf("%q not found by id", e.ID)
			}
			if e.Name == "" || e.LandAreaMu < 0 || (e.Scale != AboveDesignatedSize && e.Scale != BelowDesignatedSize) {
				t.Fatalf("invalid entry accepted: %+v", *e)
			}
		}
	})
}
