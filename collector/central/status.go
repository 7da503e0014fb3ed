package central

import (
	"bytes"
	"cmp"
	"context"
	_ "embed" // the page template
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/influxdata/influxdb-client-go/v2/api"

	"github.com/parkcarbon/parkcarbon/carbon"
	"github.com/parkcarbon/parkcarbon/internal/wire"
)

// The status page: what a field engineer or an energy manager opens on a
// phone to see, without Grafana, that the park is metered and where it
// stands today. Server-rendered from InfluxDB on every request (the
// queries are aggregates that InfluxDB 2.x answers in storage), with a
// little JS that reloads it and keeps the ages ticking.

//go:embed status.html
var statusHTML string

// StatusAlert is a firing alert as the status page shows it.
type StatusAlert struct {
	Rule       string
	Enterprise string
	Subject    string // the meter or gateway of silence and data-quality alerts
	Severity   string // critical, warning, info
	Value      float64
	Limit      float64
	Message    string
	Since      time.Time // when it started firing
}

// TierLimit is a tier's electricity limits in kWh per mu of land: today's
// consumption is set against Daily, the month's so far against Monthly. A
// zero limit is none.
type TierLimit struct {
	DailyKWhPerMu   float64
	MonthlyKWhPerMu float64
}

// StatusConfig is what the status page reads. Query and Bucket are
// required; the rest is optional.
type StatusConfig struct {
	Query  api.QueryAPI
	Bucket string // for InfluxDB 1.8: db/rp
	// Registry gives names, land (for kWh per mu) and tiers; without it the
	// page lists the enterprises that have data, without intensities.
	Registry *carbon.Registry
	Limits   map[string]TierLimit // by tier
	// LimitFor, if set, gives a registered enterprise's limits instead of
	// Limits: alerts.yaml refines a tier's limits per industry and per
	// enterprise, and the page should judge as the alerts do.
	LimitFor func(e *carbon.Enterprise) TierLimit
	// Alerts lists the firing alerts. Nil reads them from the alert
	// measurement (an alert whose newest state change is to firing), which
	// also covers alerts evaluated by other collector instances.
	Alerts   func() []StatusAlert
	Now      func() time.Time // default time.Now
	Location *time.Location   // "today" and "this month" are civil days in it; default time.Local
	// SeenWithin is how far back meters are looked for; a meter silent for
	// longer drops off the page. Default 24h.
	SeenWithin time.Duration
	Refresh    time.Duration // the page reloads itself this often; default 30s
	Log        *slog.Logger  // default slog.Default()
}

// statusAlertLookback bounds the scan for the newest state of each alert:
// state changes are rare, and one firing for a year is news anyway.
const statusAlertLookback = 365 * 24 * time.Hour

// NewStatusHandler serves the status page at "/" (GET and HEAD).
func NewStatusHandler(cfg StatusConfig) (http.Handler, error) {
	if cfg.Query == nil || cfg.Bucket == "" {
		return nil, errors.New("status page: query API and bucket are required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Location == nil {
		cfg.Location = time.Local
	}
	if cfg.SeenWithin <= 0 {
		cfg.SeenWithin = 24 * time.Hour
	}
	if cfg.Refresh <= 0 {
		cfg.Refresh = 30 * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	tmpl, err := template.New("status").Funcs(statusFuncs()).Parse(statusHTML)
	if err != nil {
		return nil, fmt.Errorf("status page template: %w", err)
	}
	return &statusHandler{cfg: cfg, tmpl: tmpl}, nil
}

type statusHandler struct {
	cfg  StatusConfig
	tmpl *template.Template
}

func (h *statusHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/" {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 15*time.Second)
	defer cancel()
	page := h.collect(ctx)
	var b bytes.Buffer
	if err := h.tmpl.Execute(&b, page); err != nil {
		h.cfg.Log.Error("status page: render", "err", err)
		http.Error(w, "status page: render failed", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	// A page with a failed query still shows what it has, but says so, to
	// people and to whatever probes it.
	if len(page.Errors) > 0 {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	_, _ = w.Write(b.Bytes())
}

// statusPage is the template's data.
type statusPage struct {
	Now            time.Time
	Location       *time.Location
	Zone           string
	RefreshSeconds int
	Alerts         []statusAlertView
	Enterprises    []*statusEnterprise
	Gateways       []*statusGateway
	Meters         int
	Stale          int // meters late or silent
	Errors         []string
}

type statusAlertView struct {
	StatusAlert
	Name string // the enterprise's name, if registered
}

type statusEnterprise struct {
	ID, Name, Tier string
	Registered     bool
	NotRated       string
	LandAreaMu     float64
	Today, Month   statusPeriod
	Firing         int
}

type statusPeriod struct {
	carbon.Totals
	HasData   bool
	Intensity carbon.Num // kWh per mu
	Limit     float64    // kWh per mu; 0: none
	Pct       carbon.Num // intensity ÷ limit × 100
}

// Level is how the period stands against its limit: ok, near (≥ 80 %),
// over (> 100 %), or na.
func (p statusPeriod) Level() string {
	switch {
	case !p.Pct.OK:
		return "na"
	case p.Pct.V > 100:
		return "over"
	case p.Pct.V >= 80:
		return "near"
	}
	return "ok"
}

type statusGateway struct {
	ID       string
	LastSeen time.Time
	Meters   []statusMeter
	Stale    int
}

type statusMeter struct {
	ID, Enterprise, Energy string
	LastSeen               time.Time
	Total                  float64
}

// statusAgeLevel grades a last-seen age: meters poll every few seconds to a
// minute, so two minutes is late and a quarter of an hour silent.
func statusAgeLevel(age time.Duration) string {
	switch {
	case age > 15*time.Minute:
		return "silent"
	case age > 2*time.Minute:
		return "late"
	}
	return "ok"
}

// collect queries everything the page shows; a failed query leaves its
// part empty and an entry in Errors.
func (h *statusHandler) collect(ctx context.Context) *statusPage {
	now := h.cfg.Now()
	local := now.In(h.cfg.Location)
	page := &statusPage{Now: now, Location: h.cfg.Location, Zone: local.Format("MST"), RefreshSeconds: int(h.cfg.Refresh / time.Second)}
	fail := func(what string, err error) {
		h.cfg.Log.Warn("status page: query failed", "what", what, "err", err)
		page.Errors = append(page.Errors, fmt.Sprintf("%s: %v", what, err))
	}

	dayStart := time.Date(local.Year(), local.Month(), local.Day(), 0, 0, 0, 0, h.cfg.Location)
	monthStart := time.Date(local.Year(), local.Month(), 1, 0, 0, 0, 0, h.cfg.Location)
	// Hourly rollups are stamped at their hour's start: up to the current hour.
	end := now.Truncate(time.Hour).Add(time.Hour)
	today, err := h.totals(ctx, dayStart, end)
	if err != nil {
		fail("today's consumption", err)
	}
	month, err := h.totals(ctx, monthStart, end)
	if err != nil {
		fail("this month's consumption", err)
	}

	var alerts []StatusAlert
	if h.cfg.Alerts != nil {
		alerts = h.cfg.Alerts()
	} else if alerts, err = h.firing(ctx, now); err != nil {
		fail("firing alerts", err)
	}

	ents := map[string]*statusEnterprise{}
	get := func(id string) *statusEnterprise {
		if e := ents[id]; e != nil {
			return e
		}
		e := &statusEnterprise{ID: id, Name: id}
		if h.cfg.Registry != nil {
			if r, ok := h.cfg.Registry.Lookup(id); ok {
				e.Name, e.Tier, e.Registered, e.NotRated, e.LandAreaMu = r.Name, r.Tier, true, r.NotRated, r.LandAreaMu
			}
		}
		ents[id] = e
		return e
	}
	if h.cfg.Registry != nil {
		for _, r := range h.cfg.Registry.Enterprises {
			get(r.ID)
		}
	}
	for id, t := range today {
		get(id).Today = statusPeriod{Totals: t, HasData: true}
	}
	for id, t := range month {
		get(id).Month = statusPeriod{Totals: t, HasData: true}
	}
	for _, a := range alerts {
		e := get(a.Enterprise)
		e.Firing++
		page.Alerts = append(page.Alerts, statusAlertView{StatusAlert: a, Name: e.Name})
	}
	for _, e := range ents {
		limit := h.cfg.Limits[e.Tier]
		if h.cfg.LimitFor != nil && h.cfg.Registry != nil {
			if r, ok := h.cfg.Registry.Lookup(e.ID); ok {
				limit = h.cfg.LimitFor(r)
			}
		}
		e.Today.judge(e.LandAreaMu, limit.DailyKWhPerMu)
		e.Month.judge(e.LandAreaMu, limit.MonthlyKWhPerMu)
		page.Enterprises = append(page.Enterprises, e)
	}
	// Most at risk first: firing alerts, then the month's share of its limit.
	slices.SortFunc(page.Enterprises, func(a, b *statusEnterprise) int {
		return cmp.Or(
			cmp.Compare(b.Firing, a.Firing),
			cmp.Compare(pctOrMinus(b.Month.Pct), pctOrMinus(a.Month.Pct)),
			cmp.Compare(a.ID, b.ID))
	})
	slices.SortFunc(page.Alerts, func(a, b statusAlertView) int {
		return cmp.Or(cmp.Compare(statusSeverityRank(a.Severity), statusSeverityRank(b.Severity)),
			a.Since.Compare(b.Since), cmp.Compare(a.Enterprise, b.Enterprise), cmp.Compare(a.Rule, b.Rule), cmp.Compare(a.Subject, b.Subject))
	})

	meters, err := h.meters(ctx, now)
	if err != nil {
		fail("meters", err)
	}
	gws := map[string]*statusGateway{}
	for gw, list := range meters {
		g := &statusGateway{ID: gw, Meters: list}
		for _, m := range list {
			if m.LastSeen.After(g.LastSeen) {
				g.LastSeen = m.LastSeen
			}
			if statusAgeLevel(now.Sub(m.LastSeen)) != "ok" {
				g.Stale++
			}
		}
		// Stalest meters first: what needs a visit.
		slices.SortFunc(g.Meters, func(a, b statusMeter) int {
			return cmp.Or(a.LastSeen.Compare(b.LastSeen), cmp.Compare(a.ID, b.ID))
		})
		page.Meters += len(list)
		page.Stale += g.Stale
		gws[gw] = g
	}
	for _, g := range gws {
		page.Gateways = append(page.Gateways, g)
	}
	slices.SortFunc(page.Gateways, func(a, b *statusGateway) int {
		return cmp.Or(a.LastSeen.Compare(b.LastSeen), cmp.Compare(a.ID, b.ID))
	})
	return page
}

func pctOrMinus(n carbon.Num) float64 {
	if !n.OK {
		return -1
	}
	return n.V
}

func statusSeverityRank(s string) int {
	switch s {
	case "critical":
		return 0
	case "warning":
		return 1
	}
	return 2
}

// judge sets the period's intensity and its share of the limit.
func (p *statusPeriod) judge(landMu, limit float64) {
	p.Limit = limit
	if landMu <= 0 {
		return
	}
	p.Intensity = carbon.Of(p.ElectricityKWh / landMu)
	if limit > 0 {
		p.Pct = carbon.Of(100 * p.Intensity.V / limit)
	}
}

// statusFluxTime is an instant as a Flux time literal.
func statusFluxTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// statusFluxStop is a range stop half a millisecond before t: points at t
// are excluded whether the stop is exclusive (Flux) or inclusive
// (InfluxDB 1.8, influxdata/influxdb#19966), and millisecond stamps before
// it are kept.
func statusFluxStop(t time.Time) string { return statusFluxTime(t.Add(-500 * time.Microsecond)) }

// statusString quotes s as a Flux string; Flux interpolates "${".
func statusString(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "${", `\${`, "\n", `\n`, "\r", `\r`, "\t", `\t`)
	return `"` + r.Replace(s) + `"`
}

// totals sums the hourly rollups in [from, to) per enterprise.
func (h *statusHandler) totals(ctx context.Context, from, to time.Time) (map[string]carbon.Totals, error) {
	q := fmt.Sprintf(`from(bucket: %s)
  |> range(start: %s, stop: %s)
  |> filter(fn: (r) => r._measurement == "consumption_hourly")
  |> filter(fn: (r) => r._field == "amount" or r._field == "co2_kg" or r._field == "coal_kgce")
  |> group(columns: ["enterprise", "energy", "_field"])
  |> sum()`, statusString(h.cfg.Bucket), statusFluxTime(from), statusFluxStop(to))
	type key struct{ enterprise, energy string }
	sums := map[key]map[string]float64{}
	err := h.each(ctx, q, func(v map[string]any) {
		k := key{statusStr(v["enterprise"]), statusStr(v["energy"])}
		if sums[k] == nil {
			sums[k] = map[string]float64{}
		}
		sums[k][statusStr(v["_field"])], _ = v["_value"].(float64)
	})
	if err != nil {
		return nil, err
	}
	out := map[string]carbon.Totals{}
	for k, f := range sums {
		t := out[k.enterprise]
		// An energy the carbon package does not know is not the page's to
		// report: skip it rather than hide the rest.
		if err := t.Add(k.energy, f["amount"], f["co2_kg"], f["coal_kgce"]); err == nil {
			out[k.enterprise] = t
		}
	}
	return out, nil
}

// meters finds each meter's newest reading of its cumulative register (one
// series per meter: cheap, and InfluxDB 2.x answers last() from storage).
func (h *statusHandler) meters(ctx context.Context, now time.Time) (map[string][]statusMeter, error) {
	var quantities []string
	seen := map[string]bool{}
	for _, e := range []string{wire.Electricity, wire.Gas, wire.Water, wire.Heat} {
		if q, ok := wire.CumulativeQuantity(e); ok && !seen[q] {
			seen[q] = true
			quantities = append(quantities, "r.quantity == "+statusString(q))
		}
	}
	// Readings stamped a little ahead (a gateway's clock) still count.
	q := fmt.Sprintf(`from(bucket: %s)
  |> range(start: %s, stop: %s)
  |> filter(fn: (r) => r._measurement == "reading" and r._field == "value")
  |> filter(fn: (r) => %s)
  |> last()`, statusString(h.cfg.Bucket), statusFluxTime(now.Add(-h.cfg.SeenWithin)),
		statusFluxTime(now.Add(5*time.Minute)), strings.Join(quantities, " or "))
	byMeter := map[string]statusMeter{}
	gateway := map[string]string{}
	err := h.each(ctx, q, func(v map[string]any) {
		ts, _ := v["_time"].(time.Time)
		m := statusMeter{ID: statusStr(v["meter"]), Enterprise: statusStr(v["enterprise"]),
			Energy: statusStr(v["energy"]), LastSeen: ts}
		m.Total, _ = v["_value"].(float64)
		// A meter moved between gateways keeps its newest home.
		if prev, ok := byMeter[m.ID]; !ok || ts.After(prev.LastSeen) {
			byMeter[m.ID] = m
			gateway[m.ID] = statusStr(v["gateway"])
		}
	})
	if err != nil {
		return nil, err
	}
	out := map[string][]statusMeter{}
	for id, m := range byMeter {
		out[gateway[id]] = append(out[gateway[id]], m)
	}
	return out, nil
}

// firing reads the alerts whose newest state change is to firing; an
// alert is a rule × enterprise × subject (collector/alert writes the
// subject tag for meter and gateway alerts only).
func (h *statusHandler) firing(ctx context.Context, now time.Time) ([]StatusAlert, error) {
	q := fmt.Sprintf(`from(bucket: %s)
  |> range(start: %s, stop: %s)
  |> filter(fn: (r) => r._measurement == "alert")
  |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")
  |> group(columns: ["rule", "enterprise", "subject"])
  |> sort(columns: ["_time"])
  |> last(column: "_time")`, statusString(h.cfg.Bucket), statusFluxTime(now.Add(-statusAlertLookback)),
		statusFluxTime(now.Add(time.Minute)))
	var out []StatusAlert
	err := h.each(ctx, q, func(v map[string]any) {
		if statusStr(v["state"]) != "firing" {
			return
		}
		a := StatusAlert{Rule: statusStr(v["rule"]), Enterprise: statusStr(v["enterprise"]), Subject: statusStr(v["subject"]),
			Severity: statusStr(v["severity"]), Message: statusStr(v["message"])}
		a.Since, _ = v["_time"].(time.Time)
		a.Value, _ = v["value"].(float64)
		a.Limit, _ = v["limit"].(float64)
		out = append(out, a)
	})
	return out, err
}

func (h *statusHandler) each(ctx context.Context, q string, fn func(map[string]any)) error {
	res, err := h.cfg.Query.Query(ctx, q)
	if err != nil {
		return fmt.Errorf("query: %w", err)
	}
	defer res.Close()
	for res.Next() {
		fn(res.Record().Values())
	}
	if err := res.Err(); err != nil {
		return fmt.Errorf("query: %w", err)
	}
	return nil
}

func statusStr(v any) string { s, _ := v.(string); return s }

// statusFuncs are the template's formatting helpers.
func statusFuncs() template.FuncMap {
	return template.FuncMap{
		"num": statusNum,
		"kg": func(kg float64) string {
			if math.Abs(kg) >= 1000 {
				return statusNum(kg/1000, 2) + " t"
			}
			return statusNum(kg, 0) + " kg"
		},
		"age": func(now, t time.Time) string { return statusAge(now.Sub(t)) },
		"ageLevel": func(now, t time.Time) string {
			return statusAgeLevel(now.Sub(t))
		},
		"ms":    func(t time.Time) int64 { return t.UnixMilli() },
		"local": func(t time.Time, loc *time.Location) string { return t.In(loc).Format("2006-01-02 15:04") },
		"clock": func(t time.Time) string { return t.Format("2006-01-02 15:04:05") },
		"width": func(n carbon.Num) string {
			if !n.OK {
				return "0"
			}
			return strconv.FormatFloat(math.Min(n.V, 100), 'f', 1, 64)
		},
	}
}

// statusNum formats with thousands separators and d decimals.
func statusNum(v float64, d int) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "–"
	}
	s := strconv.FormatFloat(math.Abs(v), 'f', d, 64)
	whole, frac, _ := strings.Cut(s, ".")
	var b strings.Builder
	if v < 0 && strings.Trim(s, "0.") != "" {
		b.WriteByte('-')
	}
	for i, c := range whole {
		if i > 0 && (len(whole)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if frac != "" {
		b.WriteString("." + frac)
	}
	return b.String()
}

// statusAge is an age for people: 12 s, 4 min, 3 h, 2 d.
func statusAge(d time.Duration) string {
	switch {
	case d < 0:
		return "0 s"
	case d < time.Minute:
		return fmt.Sprintf("%d s", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%d min", int(d/time.Minute))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d h", int(d/time.Hour))
	}
	return fmt.Sprintf("%d d", int(d/(24*time.Hour)))
}
