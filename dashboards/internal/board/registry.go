package board

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/parkcarbon/parkcarbon/carbon"
	"github.com/parkcarbon/parkcarbon/collector/alert"
	"github.com/parkcarbon/parkcarbon/internal/wire"
)

// Entry is what the dashboards know of an enterprise: the registry's facts
// and its electricity limit.
type Entry struct {
	ID         string
	Name       string
	Tier       string
	LandAreaMu float64
	Rated      bool // false for registry not_rated (class T)
	// DailyKWhPerMu is its limit, kWh per mu and day (0: none); a period's
	// limit is this × the period's days.
	DailyKWhPerMu float64
}

// FromRegistry takes the entries of enterprises.yaml; limit gives each
// enterprise's daily limit in kWh per mu (nil: none).
func FromRegistry(reg *carbon.Registry, limit func(*carbon.Enterprise) float64) []Entry {
	out := make([]Entry, 0, len(reg.Enterprises))
	for i := range reg.Enterprises {
		e := &reg.Enterprises[i]
		en := Entry{ID: e.ID, Name: e.Name, Tier: e.Tier, LandAreaMu: e.LandAreaMu, Rated: e.NotRated == ""}
		if limit != nil {
			en.DailyKWhPerMu = limit(e)
		}
		out = append(out, en)
	}
	return out
}

// Options are the park-specific facts the dashboards carry as a constant.
type Options struct {
	Registry []Entry
}

// EncodeRegistry is the value of the registry constant:
// ";id|land_mu|tier|rated|daily_kwh_per_mu|name;…". The queries look an enterprise up by
// searching for ";id|": Flux of InfluxDB 1.8 has neither dict nor
// array.from, and a string works in every Flux since. Characters that
// would break the format, a Flux string or Grafana's interpolation are
// dropped from names and tiers; ids are already safe (wire.ValidID).
func EncodeRegistry(entries []Entry) (string, error) {
	var b strings.Builder
	b.WriteString(";")
	for _, e := range entries {
		if !wire.ValidID(e.ID) {
			return "", fmt.Errorf("registry: enterprise id %q is not a valid id", e.ID)
		}
		if bad(e.LandAreaMu) || bad(e.DailyKWhPerMu) {
			return "", fmt.Errorf("registry: enterprise %s: land area %v or limit %v is not a finite non-negative number", e.ID, e.LandAreaMu, e.DailyKWhPerMu)
		}
		rated := "1"
		if !e.Rated {
			rated = "0"
		}
		fmt.Fprintf(&b, "%s|%s|%s|%s|%s|%s;", e.ID, strconv.FormatFloat(e.LandAreaMu, 'f', -1, 64),
			clean(e.Tier), rated, strconv.FormatFloat(e.DailyKWhPerMu, 'f', -1, 64), clean(e.Name))
	}
	return b.String(), nil
}

// clean drops separators, quotes, backslashes, '$' and control characters.
func clean(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == ';' || r == '|' || r == '"' || r == '\\' || r == '$' || r == '=' || r < ' ' || r == 0x7f:
			return -1
		}
		return r
	}, s)
}

func bad(v float64) bool { return math.IsNaN(v) || math.IsInf(v, 0) || v < 0 }

// DailyLimits resolves each enterprise's daily electricity limit (kWh per
// mu) from alerts.yaml as the alert engine does: the enterprise's own, then
// its industry's within its tier (longest prefix of the registry's industry
// code), then its tier's. Only a monthly limit: that × 12 ÷ 365 (alerts.yaml
// takes a month as 1/12 year). Neither: 0, no limit. The engine's resolver
// differs: it does not fall back from daily to monthly limits (alert.Config.LimitFor).
func DailyLimits(c *alert.Config) func(*carbon.Enterprise) float64 {
	return func(e *carbon.Enterprise) float64 {
		pick := func(l *alert.Limits) (float64, bool) {
			switch {
			case l == nil:
			case l.DailyKWhPerMu != nil:
				return *l.DailyKWhPerMu, true
			case l.MonthlyKWhPerMu != nil:
				return *l.MonthlyKWhPerMu * 12 / 365, true
			}
			return 0, false
		}
		if l, ok := c.Enterprises[e.ID]; ok {
			if v, ok := pick(&l); ok {
				return v
			}
		}
		t := c.Tiers[e.Tier]
		if t == nil {
			return 0
		}
		best, v, found := -1, 0.0, false
		for prefix, l := range t.Industries {
			if e.Industry != "" && strings.HasPrefix(e.Industry, prefix) && len(prefix) > best {
				if x, ok := pick(&l); ok {
					best, v, found = len(prefix), x, true
				}
			}
		}
		if found {
			return v
		}
		v, _ = pick(&t.Limits)
		return v
	}
}
