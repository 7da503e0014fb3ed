package central

import (
	"bytes"
	"context"
	"fmt"
	"image/png"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	influxdb2 "github.com/influxdata/influxdb-client-go/v2"

	"github.com/parkcarbon/parkcarbon/carbon"
	"github.com/parkcarbon/parkcarbon/internal/testenv"
)

// A small park of its own for the status page: three registered
// enterprises and one that is not, two gateways, one meter gone silent,
// hourly rollups from before the month began, and alert state changes.

const statusTestRegistry = `enterprises:
  - {id: alpha-steel, name: Alpha Steel Works, land_area_mu: 40, tier: key, scale: above,
     output_value_cny: 1, sales_revenue_cny: 1, tax_paid_cny: 1, value_added_cny: 1, employees: 1}
  - {id: beta-foods, name: Beta Foods, land_area_mu: 20, tier: general, scale: above,
     output_value_cny: 1, sales_revenue_cny: 1, tax_paid_cny: 1, value_added_cny: 1, employees: 1}
  - {id: gamma-heat, name: Gamma Heat Plant, land_area_mu: 10, tier: utility, scale: above, not_rated: utility}
`

// statusTestKWhPerHour is each enterprise's electricity per hour; the
// unregistered delta-new has some too.
var statusTestKWhPerHour = map[string]float64{"alpha-steel": 80, "beta-foods": 30, "gamma-heat": 10, "delta-new": 4}

type statusTestPark struct {
	now   time.Time
	loc   *time.Location
	lp    bytes.Buffer
	kwh   map[string][2]float64 // enterprise → today, this month
	meter map[string]time.Time  // meter → newest reading
}

func newStatusTestPark(t *testing.T) *statusTestPark {
	t.Helper()
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	// A fixed instant in the past: the handler takes it from cfg.Now and
	// passes explicit ranges, so the page is the same on every run.
	p := &statusTestPark{now: time.Date(2026, 3, 2, 9, 41, 30, 0, loc), loc: loc,
		kwh: map[string][2]float64{}, meter: map[string]time.Time{}}
	dayStart := time.Date(2026, 3, 2, 0, 0, 0, 0, loc)
	monthStart := time.Date(2026, 3, 1, 0, 0, 0, 0, loc)
	// Hours from three days before the month to the current one; the hour
	// after now must not count (it cannot exist yet, but a bad range would
	// take it, so it is written).
	for h := monthStart.Add(-72 * time.Hour); !h.After(p.now.Add(time.Hour)); h = h.Add(time.Hour) {
		for ent, kwh := range statusTestKWhPerHour {
			a := kwh * (1 + float64(h.Hour()%5)/10)
			fmt.Fprintf(&p.lp, "consumption_hourly,enterprise=%s,energy=electricity,scope=2 amount=%v,co2_kg=%v,coal_kgce=%v %d\n",
				ent, a, a*0.5306, a*0.1229, h.UnixMilli())
			if ent == "gamma-heat" {
				fmt.Fprintf(&p.lp, "consumption_hourly,enterprise=%s,energy=heat,scope=2 amount=2,co2_kg=220,coal_kgce=68.24 %d\n", ent, h.UnixMilli())
			}
			if h.After(p.now) {
				continue
			}
			sums := p.kwh[ent]
			if !h.Before(monthStart) {
				sums[1] += a
			}
			if !h.Before(dayStart) {
				sums[0] += a
			}
			p.kwh[ent] = sums
		}
	}
	reading := func(ent, gw, meter string, last time.Time) {
		for ts := last.Add(-10 * time.Minute); !ts.After(last); ts = ts.Add(time.Minute) {
			fmt.Fprintf(&p.lp, "reading,enterprise=%s,gateway=%s,meter=%s,energy=electricity,quantity=energy_import_total value=%v %d\n",
				ent, gw, meter, 1000+float64(ts.Minute()), ts.UnixMilli())
			fmt.Fprintf(&p.lp, "reading,enterprise=%s,gateway=%s,meter=%s,energy=electricity,quantity=active_power value=42 %d\n",
				ent, gw, meter, ts.UnixMilli())
		}
		p.meter[meter] = last
	}
	reading("alpha-steel", "gw-east", "as-main", p.now.Add(-20*time.Second))
	reading("alpha-steel", "gw-east", "as-furnace", p.now.Add(-40*time.Second))
	reading("beta-foods", "gw-east", "bf-main", p.now.Add(-50*time.Second))
	reading("gamma-heat", "gw-west", "gh-main", p.now.Add(-30*time.Second))
	reading("delta-new", "gw-west", "dn-main", p.now.Add(-3*time.Hour)) // silent
	alert := func(rule, ent, sev, state string, v, limit float64, msg string, at time.Time) {
		tags := fmt.Sprintf("rule=%s,enterprise=%s,severity=%s,state=%s", rule, ent, sev, state)
		if rule, subject, ok := strings.Cut(rule, "/"); ok { // meter alerts carry a subject
			tags = fmt.Sprintf("rule=%s,enterprise=%s,severity=%s,state=%s,subject=%s", rule, ent, sev, state, subject)
		}
		fmt.Fprintf(&p.lp, "alert,%s value=%v,limit=%v,message=%q %d\n", tags, v, limit, msg, at.UnixMilli())
	}
	alert("monthly_kwh_per_mu", "alpha-steel", "critical", "pending", 95, 100, "pending", p.now.Add(-3*time.Hour))
	alert("monthly_kwh_per_mu", "alpha-steel", "critical", "firing", 101, 100, "Alpha over its monthly limit", p.now.Add(-2*time.Hour))
	alert("daily_kwh_per_mu", "beta-foods", "warning", "firing", 40, 36, "Beta over today", p.now.Add(-30*time.Hour))
	alert("daily_kwh_per_mu", "beta-foods", "warning", "resolved", 30, 36, "Beta back under", p.now.Add(-26*time.Hour))
	// The silent meter fires under a rule whose other subject resolved later.
	alert("meter_silent/dn-main", "delta-new", "warning", "firing", 170, 30, "dn-main silent", p.now.Add(-2*time.Hour))
	alert("meter_silent/as-main", "alpha-steel", "warning", "firing", 31, 30, "as-main silent", p.now.Add(-90*time.Minute))
	alert("meter_silent/as-main", "alpha-steel", "warning", "resolved", 0, 30, "as-main back", p.now.Add(-60*time.Minute))
	return p
}

func (p *statusTestPark) load(t *testing.T) (influxdb2.Client, string) {
	t.Helper()
	inf := testenv.Influx(t)
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost,
		inf.URL+"/api/v2/write?bucket="+inf.Bucket+"&precision=ms", bytes.NewReader(p.lp.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("write: %s: %s", resp.Status, body)
	}
	c := influxdb2.NewClient(inf.URL, inf.Token)
	t.Cleanup(c.Close)
	return c, inf.Bucket
}

func statusTestLimits() map[string]TierLimit {
	return map[string]TierLimit{"key": {DailyKWhPerMu: 40, MonthlyKWhPerMu: 60}, "general": {DailyKWhPerMu: 30, MonthlyKWhPerMu: 900}}
}

func statusTestConfig(t *testing.T, p *statusTestPark, client influxdb2.Client, bucket string) StatusConfig {
	t.Helper()
	reg, err := carbon.ParseRegistry([]byte(statusTestRegistry))
	if err != nil {
		t.Fatal(err)
	}
	return StatusConfig{Query: client.QueryAPI(""), Bucket: bucket, Registry: reg, Limits: statusTestLimits(),
		Now: func() time.Time { return p.now }, Location: p.loc}
}

// TestStatusCollect checks the page's numbers against the simulated park,
// with the alerts read from the alert measurement.
func TestStatusCollect(t *testing.T) {
	p := newStatusTestPark(t)
	client, bucket := p.load(t)
	h, err := NewStatusHandler(statusTestConfig(t, p, client, bucket))
	if err != nil {
		t.Fatal(err)
	}
	page := h.(*statusHandler).collect(t.Context())
	if len(page.Errors) > 0 {
		t.Fatalf("errors: %v", page.Errors)
	}
	got := map[string]*statusEnterprise{}
	for _, e := range page.Enterprises {
		got[e.ID] = e
	}
	near := func(what string, got, want float64) {
		t.Helper()
		if d := got - want; d > 1e-6 || d < -1e-6 {
			t.Errorf("%s = %v, want %v", what, got, want)
		}
	}
	for ent, sums := range p.kwh {
		e := got[ent]
		if e == nil {
			t.Errorf("%s is not on the page", ent)
			continue
		}
		near(ent+" today kWh", e.Today.ElectricityKWh, sums[0])
		near(ent+" month kWh", e.Month.ElectricityKWh, sums[1])
		co2 := sums[1] * 0.5306
		if ent == "gamma-heat" { // and its heat: 220 kg an hour
			co2 += 220 * float64(countHours(p))
		}
		near(ent+" month CO2", e.Month.CO2kg, co2)
	}
	if len(got) != 4 {
		t.Errorf("enterprises %v, want 4", len(got))
	}
	alpha := got["alpha-steel"]
	if alpha == nil {
		t.FailNow()
	}
	if !alpha.Today.Intensity.OK || alpha.Today.Limit != 40 || alpha.Month.Limit != 60 {
		t.Errorf("alpha: intensity %+v limit %v / %v", alpha.Today.Intensity, alpha.Today.Limit, alpha.Month.Limit)
	}
	near("alpha today kWh/mu", alpha.Today.Intensity.V, p.kwh["alpha-steel"][0]/40)
	near("alpha month % of limit", alpha.Month.Pct.V, 100*p.kwh["alpha-steel"][1]/40/60)
	// About 80 kWh an hour for 34 hours over 40 mu: some 80 kWh/mu of the month's 60; today's
	// 10 hours some 24 of 40.
	if alpha.Month.Level() != "over" || alpha.Today.Level() != "ok" {
		t.Errorf("alpha: month %s (%v %%), today %s (%v %%); want over and ok", alpha.Month.Level(), alpha.Month.Pct.V, alpha.Today.Level(), alpha.Today.Pct.V)
	}
	if d := got["delta-new"]; d.Registered || d.Today.Intensity.OK || d.Today.Level() != "na" {
		t.Errorf("delta-new: registered %v, intensity %+v, level %s: want unregistered, N/A", d.Registered, d.Today.Intensity, d.Today.Level())
	}
	if g := got["gamma-heat"]; g.Month.Limit != 0 || g.Month.Pct.OK || g.Month.HeatGJ == 0 {
		t.Errorf("gamma-heat (tier without limits): limit %v pct %+v heat %v", g.Month.Limit, g.Month.Pct, g.Month.HeatGJ)
	}
	// Firing enterprises first, most over their limit first.
	if page.Enterprises[0].ID != "alpha-steel" || page.Enterprises[1].ID != "delta-new" {
		t.Errorf("enterprises begin %s, %s; want alpha-steel and delta-new (firing)", page.Enterprises[0].ID, page.Enterprises[1].ID)
	}

	// Critical first; beta's and as-main's resolved.
	if len(page.Alerts) != 2 || page.Alerts[0].Enterprise != "alpha-steel" || page.Alerts[0].Rule != "monthly_kwh_per_mu" ||
		page.Alerts[0].Value != 101 || page.Alerts[0].Name != "Alpha Steel Works" || !page.Alerts[0].Since.Equal(p.now.Add(-2*time.Hour)) ||
		page.Alerts[1].Subject != "dn-main" || page.Alerts[1].Enterprise != "delta-new" {
		t.Errorf("alerts %+v, want alpha-steel's monthly_kwh_per_mu firing since 2 h, then delta-new's dn-main silent", page.Alerts)
	}

	meters := map[string]statusMeter{}
	gateways := map[string]int{}
	for _, g := range page.Gateways {
		gateways[g.ID] = len(g.Meters)
		for _, m := range g.Meters {
			meters[m.ID] = m
		}
	}
	if fmt.Sprint(gateways) != "map[gw-east:3 gw-west:2]" {
		t.Errorf("gateways %v", gateways)
	}
	for id, last := range p.meter {
		if m, ok := meters[id]; !ok || !m.LastSeen.Equal(last) {
			t.Errorf("meter %s last seen %v, want %v", id, m.LastSeen, last)
		}
	}
	if page.Stale != 1 || page.Gateways[0].ID != "gw-west" {
		t.Errorf("stale %d, first gateway %s: want 1 (dn-main) and gw-west first", page.Stale, page.Gateways[0].ID)
	}

	// LimitFor (alerts.yaml's resolution) wins over the tier map.
	cfg := statusTestConfig(t, p, client, bucket)
	cfg.LimitFor = func(e *carbon.Enterprise) TierLimit {
		if e.ID == "beta-foods" {
			return TierLimit{DailyKWhPerMu: 10, MonthlyKWhPerMu: 50}
		}
		return cfg.Limits[e.Tier]
	}
	h, err = NewStatusHandler(cfg)
	if err != nil {
		t.Fatal(err)
	}
	page = h.(*statusHandler).collect(t.Context())
	for _, e := range page.Enterprises {
		if e.ID == "beta-foods" && (e.Today.Limit != 10 || e.Month.Limit != 50 || e.Month.Level() != "over") {
			t.Errorf("beta-foods with its own limits: today %v, month %v (%s)", e.Today.Limit, e.Month.Limit, e.Month.Level())
		}
		if e.ID == "alpha-steel" && e.Month.Limit != 60 {
			t.Errorf("alpha-steel: month limit %v, want its tier's 60", e.Month.Limit)
		}
	}
}

// countHours is the number of rollup hours in the month so far.
func countHours(p *statusTestPark) int {
	monthStart := time.Date(2026, 3, 1, 0, 0, 0, 0, p.loc)
	return int(p.now.Sub(monthStart)/time.Hour) + 1
}

// TestStatusPageInChromium renders the page in a real browser at a phone's
// size: the enterprises and the firing alert must be in the rendered DOM,
// and the screenshot a PNG.
func TestStatusPageInChromium(t *testing.T) {
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("chromium not found; install it: apt-get install -y chromium")
	}
	p := newStatusTestPark(t)
	client, bucket := p.load(t)
	cfg := statusTestConfig(t, p, client, bucket)
	cfg.Alerts = func() []StatusAlert {
		return []StatusAlert{{Rule: "daily_kwh_per_mu", Enterprise: "beta-foods", Severity: "warning", Value: 41.5, Limit: 30,
			Message: "Beta Foods used 41.5 kWh/mu today, over its tier's 30", Since: p.now.Add(-95 * time.Minute)}}
	}
	h, err := NewStatusHandler(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()

	dir := t.TempDir()
	shot := filepath.Join(dir, "status.png")
	run := func(args ...string) []byte {
		t.Helper()
		ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
		defer cancel()
		args = append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
			"--no-first-run", "--hide-scrollbars", "--user-data-dir=" + filepath.Join(dir, "profile")}, args...)
		cmd := exec.CommandContext(ctx, chromium, append(args, srv.URL+"/")...)
		cmd.WaitDelay = 5 * time.Second
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("chromium %v: %v\n%s", args, err, stderr.Bytes())
		}
		return out
	}
	run("--screenshot="+shot, "--window-size=412,915")
	dom := string(run("--dump-dom", "--window-size=412,915"))

	for _, want := range []string{"Alpha Steel Works", "Beta Foods", "Gamma Heat Plant", "delta-new", "not in the registry",
		`data-enterprise="beta-foods" data-rule="daily_kwh_per_mu"`, "Beta Foods used 41.5 kWh/mu today, over its tier&#39;s 30",
		"gw-east", "gw-west", `data-meter="dn-main"`, "1 late or silent"} {
		if !strings.Contains(dom, want) && !strings.Contains(dom, strings.ReplaceAll(want, "&#39;", "'")) {
			t.Errorf("rendered DOM lacks %q", want)
		}
	}
	// The page's script ran and rewrote the ages against the server's clock
	// (the alert started 95 minutes before the page's "now", which is months
	// before the browser's).
	if !strings.Contains(dom, `data-live="1"`) {
		t.Error("the page's script did not run")
	}
	if !strings.Contains(dom, "firing for <span class=\"age\" data-ts=\""+strconv.FormatInt(p.now.Add(-95*time.Minute).UnixMilli(), 10)+"\">1 h</span>") {
		t.Errorf("the alert's age is not 1 h in the rendered DOM:\n%s", between(dom, "firing for", "</p>"))
	}
	if strings.Contains(dom, "Some data could not be read") {
		t.Errorf("the page reports errors:\n%s", between(dom, "role=\"alert\"", "</section>"))
	}

	f, err := os.Open(shot)
	if err != nil {
		t.Fatalf("no screenshot: %v", err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("screenshot %s is not a PNG: %v", shot, err)
	}
	if b := img.Bounds(); b.Dx() != 412 || b.Dy() != 915 {
		t.Errorf("screenshot is %dx%d, want the window's 412x915", b.Dx(), b.Dy())
	}
	t.Logf("screenshot: %s", shot)
}

func between(s, from, to string) string {
	i := strings.Index(s, from)
	if i < 0 {
		return "(" + from + " not found)"
	}
	j := strings.Index(s[i:], to)
	if j < 0 {
		return s[i:]
	}
	return s[i : i+j]
}

// TestStatusHandlerErrors: a dead InfluxDB gives a 503 page that says why;
// other paths and methods are refused.
func TestStatusHandlerErrors(t *testing.T) {
	if _, err := NewStatusHandler(StatusConfig{}); err == nil {
		t.Error("a config without query API and bucket was accepted")
	}
	dead := httptest.NewServer(http.NotFoundHandler())
	url := dead.URL
	dead.Close()
	client := influxdb2.NewClientWithOptions(url, "x", influxdb2.DefaultOptions().SetHTTPRequestTimeout(2))
	defer client.Close()
	h, err := NewStatusHandler(StatusConfig{Query: client.QueryAPI(""), Bucket: "energy/autogen"})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		method, path string
		code         int
		body         string
	}{
		{"GET", "/", http.StatusServiceUnavailable, "Some data could not be read"},
		{"GET", "/nope", http.StatusNotFound, ""},
		{"POST", "/", http.StatusMethodNotAllowed, ""},
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(c.method, c.path, nil))
		if rec.Code != c.code || !strings.Contains(rec.Body.String(), c.body) {
			t.Errorf("%s %s: %d, want %d with %q", c.method, c.path, rec.Code, c.code, c.body)
		}
	}
}

func TestStatusFormat(t *testing.T) {
	for _, c := range []struct {
		v    float64
		d    int
		want string
	}{{1234567.891, 1, "1,234,567.9"}, {999, 0, "999"}, {-1234, 0, "-1,234"}, {-0.01, 1, "0.0"}, {0, 2, "0.00"}} {
		if got := statusNum(c.v, c.d); got != c.want {
			t.Errorf("statusNum(%v, %d) = %s, want %s", c.v, c.d, got, c.want)
		}
	}
	for _, c := range []struct {
		d    time.Duration
		want string
	}{{-time.Second, "0 s"}, {59 * time.Second, "59 s"}, {61 * time.Minute, "1 h"}, {47 * time.Hour, "47 h"}, {72 * time.Hour, "3 d"}} {
		if got := statusAge(c.d); got != c.want {
			t.Errorf("statusAge(%v) = %s, want %s", c.d, got, c.want)
		}
	}
}
