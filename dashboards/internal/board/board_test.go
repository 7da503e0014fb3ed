package board

import (
	"strings"
	"testing"

	"github.com/parkcarbon/parkcarbon/carbon"
	"github.com/parkcarbon/parkcarbon/collector/alert"
)

func TestEncodeRegistry(t *testing.T) {
	got, err := EncodeRegistry([]Entry{
		{ID: "a-1", Name: `Bad "name"; with|separators=and ${vars}\`, Tier: "key", LandAreaMu: 42.5, Rated: true, DailyKWhPerMu: 120},
		{ID: "util", Name: "Utility", Tier: "", LandAreaMu: 0, Rated: false},
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := ";a-1|42.5|key|1|120|Bad name withseparatorsand {vars};util|0||0|0|Utility;"; got != want {
		t.Errorf("EncodeRegistry = %q, want %q", got, want)
	}
	for _, bad := range []Entry{{ID: "has space"}, {ID: "x", LandAreaMu: -1}, {ID: "x", DailyKWhPerMu: -3}} {
		if _, err := EncodeRegistry([]Entry{bad}); err == nil {
			t.Errorf("EncodeRegistry(%+v) accepted", bad)
		}
	}
}

// TestDailyLimits: the enterprise's own limit, then the longest industry
// prefix in its tier, then the tier; a monthly limit alone is spread over
// the days.
func TestDailyLimits(t *testing.T) {
	cfg, err := alert.Parse([]byte(`
tiers:
  key:
    daily_kwh_per_mu: 100
    industries:
      C3: {daily_kwh_per_mu: 150}
      C33: {daily_kwh_per_mu: 200}
      C34: {monthly_kwh_per_mu: 3650}
  monthly:
    monthly_kwh_per_mu: 730
enterprises:
  own: {daily_kwh_per_mu: 50}
rules:
  - {name: today, kind: intensity, window: today, limit: daily_kwh_per_mu}
`), "alerts.yaml")
	if err != nil {
		t.Fatal(err)
	}
	limit := DailyLimits(cfg)
	for _, c := range []struct {
		e    carbon.Enterprise
		want float64
	}{
		{carbon.Enterprise{ID: "own", Tier: "key", Industry: "C3391"}, 50},
		{carbon.Enterprise{ID: "a", Tier: "key", Industry: "C3391"}, 200},
		{carbon.Enterprise{ID: "b", Tier: "key", Industry: "C3011"}, 150},
		{carbon.Enterprise{ID: "c", Tier: "key", Industry: "C3401"}, 120},
		{carbon.Enterprise{ID: "d", Tier: "key", Industry: "D4430"}, 100},
		{carbon.Enterprise{ID: "e", Tier: "monthly"}, 24},
		{carbon.Enterprise{ID: "f", Tier: "none"}, 0},
	} {
		if got := limit(&c.e); got != c.want {
			t.Errorf("%s (%s, %s): %v, want %v", c.e.ID, c.e.Tier, c.e.Industry, got, c.want)
		}
	}
}

func TestAllPanelsNumbered(t *testing.T) {
	all, err := All(Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range all {
		for i, p := range d.Panels {
			if p.ID != i+1 {
				t.Errorf("%s: panel %q has id %d, want %d", d.UID, p.Title, p.ID, i+1)
			}
			if p.GridPos.X+p.GridPos.W > 24 {
				t.Errorf("%s: panel %q reaches past the grid: %+v", d.UID, p.Title, p.GridPos)
			}
			for _, tg := range p.Targets {
				if strings.TrimSpace(tg.Query+tg.Expr) == "" || tg.RefID == "" {
					t.Errorf("%s: panel %q: empty query or refId", d.UID, p.Title)
				}
			}
		}
	}
}
