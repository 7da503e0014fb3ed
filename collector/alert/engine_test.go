package alert

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/influxdata/influxdb-client-go/v2/api/write"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/parkcarbon/parkcarbon/carbon"
	"github.com/parkcarbon/parkcarbon/internal/wire"
)

// t0 is a Monday morning in the park (Asia/Shanghai).
var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.FixedZone("CST", 8*3600))

const intensityCfg = `
tiers:
  key: {daily_kwh_per_mu: 100}
  general: {daily_kwh_per_mu: 300}
rules:
  - name: daily
    kind: intensity
    limit: daily_kwh_per_mu
    window: today
    for: %s
    hysteresis: %s
    repeat_interval: %s
`

// cfgf fills intensityCfg's for, hysteresis and repeat_interval.
func cfgf(format string, args ...any) string { return fmt.Sprintf(format, args...) }

// The lifecycle, step by step: each step moves the clock, sets ent-a's
// kWh per mu today, evaluates, and checks the state and what was notified.
func TestIntensityLifecycle(t *testing.T) {
	type step struct {
		after  time.Duration
		value  float64 // ent-a, kWh/mu today; limit 100
		state  string  // "" is none
		notify []string
	}
	for _, tc := range []struct {
		name, forDur, hyst, repeat string
		steps                      []step
	}{
		{"for, hysteresis band, repeat, resolve", "1h", "0.05", "4h", []step{
			{0, 90, "", nil},
			{10 * time.Minute, 101, StatePending, nil},
			{30 * time.Minute, 102, StatePending, nil},
			{30 * time.Minute, 103, StateFiring, []string{"ent-a:firing"}}, // 60 min after it began
			{30 * time.Minute, 97, StateFiring, nil},                       // under the limit, above 95: held
			{30 * time.Minute, 95.5, StateFiring, nil},
			{4 * time.Hour, 98, StateFiring, []string{"ent-a:firing(repeat)"}},
			{10 * time.Minute, 99, StateFiring, nil},
			{10 * time.Minute, 94.9, "", []string{"ent-a:resolved"}},
			{10 * time.Minute, 101, StatePending, nil},
		}},
		{"pending cancelled before for", "1h", "0.05", "4h", []step{
			{0, 101, StatePending, nil},
			{50 * time.Minute, 99.9, "", nil},
			{20 * time.Minute, 101, StatePending, nil}, // a new pending: for counts again
			{50 * time.Minute, 101, StatePending, nil},
			{10 * time.Minute, 101, StateFiring, []string{"ent-a:firing"}},
		}},
		{"for 0 fires at once; no repeat", "0s", "0.05", "0s", []step{
			{0, 100, "", nil}, // at the limit is not over it
			{time.Minute, 100.1, StateFiring, []string{"ent-a:firing"}},
			{24 * time.Hour, 150, StateFiring, nil},
			{time.Minute, 10, "", []string{"ent-a:resolved"}},
		}},
		// The same hovering series with and without hysteresis: without it
		// every dip under the limit resolves and every rise fires again.
		{"hovering without hysteresis flaps", "0s", "0", "0s", []step{
			{0, 101, StateFiring, []string{"ent-a:firing"}},
			{time.Hour, 98, "", []string{"ent-a:resolved"}},
			{time.Hour, 102, StateFiring, []string{"ent-a:firing"}},
			{time.Hour, 97, "", []string{"ent-a:resolved"}},
		}},
		{"hovering with hysteresis holds", "0s", "0.05", "0s", []step{
			{0, 101, StateFiring, []string{"ent-a:firing"}},
			{time.Hour, 98, StateFiring, nil},
			{time.Hour, 102, StateFiring, nil},
			{time.Hour, 97, StateFiring, nil},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := newClock(t0)
			src := &fakeSource{}
			pts := &pointRecorder{}
			e := newEngine(t, cfgf(intensityCfg, tc.forDur, tc.hyst, tc.repeat), clock,
				engineOpts{reg: parseRegistry(t, testRegistry), src: src, points: pts})
			src.setKWh("ent-b", 4, 10) // far below its own limit throughout
			for i, s := range tc.steps {
				clock.Advance(s.after)
				src.setKWh("ent-a", 10, s.value)
				e.evaluate(t.Context())
				got := ""
				if a := e.alerts["daily/ent-a"]; a != nil {
					got = a.State
				}
				if got != s.state {
					t.Errorf("step %d (%v): state %q, want %q", i, s.value, got, s.state)
				}
				if n := summary(queued(e.outs[0])); !slices.Equal(n, s.notify) {
					t.Errorf("step %d (%v): notified %v, want %v", i, s.value, n, s.notify)
				}
				if a := e.alerts["daily/ent-b"]; a != nil {
					t.Errorf("step %d: ent-b is %s", i, a.State)
				}
			}
		})
	}
}

// Every state change is a point of the alert measurement, stamped when it
// happened; the firing notification carries the numbers behind it.
func TestIntensityPointsAndNumbers(t *testing.T) {
	clock := newClock(t0)
	src := &fakeSource{}
	e := newEngine(t, cfgf(intensityCfg, "30m", "0.05", "0s"), clock,
		engineOpts{reg: parseRegistry(t, testRegistry), src: src, points: &pointRecorder{}})
	src.setKWh("ent-a", 10, 130)
	e.evaluate(t.Context())
	clock.Advance(30 * time.Minute)
	e.evaluate(t.Context())
	clock.Advance(time.Hour)
	src.setKWh("ent-a", 10, 20)
	e.evaluate(t.Context())

	var states []string
	for _, n := range queued(e.points) {
		p := alertPoint(&n.Alert, n.At)
		lp := strings.TrimSpace(write.PointToLineProtocol(p, time.Millisecond))
		states = append(states, n.Alert.State)
		if !strings.HasPrefix(lp, "alert,enterprise=ent-a,rule=daily,severity=warning,state="+n.Alert.State+" ") {
			t.Errorf("point %q", lp)
		}
	}
	if want := []string{StatePending, StateFiring, StateResolved}; !slices.Equal(states, want) {
		t.Errorf("points for states %v, want %v", states, want)
	}

	ns := queued(e.outs[0])
	if len(ns) != 2 {
		t.Fatalf("notified %v", summary(ns))
	}
	f := ns[0].Alert
	if f.Value != 130 || f.Limit != 100 || f.Unit != "kWh/mu/day" || !f.StartsAt.Equal(t0.Add(30*time.Minute)) || !f.ActiveAt.Equal(t0) {
		t.Errorf("firing alert %+v", f)
	}
	for k, want := range map[string]string{
		"value": "130", "limit": "100", "tier": "key", "window": "today", "electricity_kwh": "1300",
		"land_area_mu": "10", "window_start": "2026-03-02", "window_end": "2026-03-02",
	} {
		if f.Annotations[k] != want {
			t.Errorf("annotation %s = %q, want %q", k, f.Annotations[k], want)
		}
	}
	for k, want := range map[string]string{"alertname": "daily", "enterprise": "ent-a", "severity": "warning", "tier": "key", "window": "today"} {
		if f.Labels[k] != want {
			t.Errorf("label %s = %q, want %q", k, f.Labels[k], want)
		}
	}
	if !strings.Contains(f.Annotations["summary"], "130 kWh/mu/day") || !strings.Contains(f.Annotations["summary"], "+30.0 %") {
		t.Errorf("summary %q", f.Annotations["summary"])
	}
	if r := ns[1].Alert; r.State != StateResolved || !r.EndsAt.Equal(t0.Add(90*time.Minute)) || r.Value != 20 {
		t.Errorf("resolved alert %+v", r)
	}
	if len(ns[0].Firing) != 1 || len(ns[1].Firing) != 0 {
		t.Errorf("enterprise firing sets %d then %d, want 1 then 0", len(ns[0].Firing), len(ns[1].Firing))
	}
}

// Windows are whole civil days in the park's zone; per-day and per-year
// figures divide by the window's days and year fraction.
func TestIntensityWindows(t *testing.T) {
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 3, 2, 1, 30, 0, 0, loc) // 17:30 UTC the day before
	for _, tc := range []struct {
		window     string
		start, end string
		days       int
	}{
		{WindowToday, "2026-03-02", "2026-03-03", 1},
		{WindowLast30Days, "2026-02-01", "2026-03-03", 30},
		{WindowYearToDate, "2026-01-01", "2026-03-03", 61},
	} {
		p := windowPeriod(tc.window, now, loc)
		if p.Start.Format(time.DateOnly) != tc.start || p.End.Format(time.DateOnly) != tc.end || p.Days() != tc.days ||
			p.Start.Location() != loc || p.Start.Hour() != 0 {
			t.Errorf("%s: %v – %v (%d days)", tc.window, p.Start, p.End, p.Days())
		}
	}
	e := &carbon.Enterprise{ID: "x", LandAreaMu: 10, OutputValueCNY: 365e4}
	tot := carbon.Totals{ElectricityKWh: 30 * 10 * 50, CO2kg: 3650}
	p := windowPeriod(WindowLast30Days, now, loc)
	for _, tc := range []struct {
		limit string
		want  float64
	}{
		{LimitDailyKWhPerMu, 50},
		{LimitMonthlyKWhPerMu, 50 * 365.0 / 12},
		{LimitKgCO2PerMuYear, 365.0 * 365 / 30},
		{LimitTCO2Per10kCNYOutput, 3.65 / (365 * 30.0 / 365)},
	} {
		v, _, ok := intensityValue(tc.limit, tot, e, p)
		if !ok || math.Abs(v-tc.want) > 1e-9*tc.want {
			t.Errorf("%s = %v (%v), want %v", tc.limit, v, ok, tc.want)
		}
	}
	if _, _, ok := intensityValue(LimitDailyKWhPerMu, tot, &carbon.Enterprise{ID: "no-land"}, p); ok {
		t.Error("per-mu figure of an enterprise without land is not N/A")
	}
}

// A rollup query that fails leaves the rule's alerts as they are (no
// resolution for lack of data), counts, and evaluation goes on.
func TestIntensitySourceDown(t *testing.T) {
	clock := newClock(t0)
	src := &fakeSource{}
	reg := prometheus.NewRegistry()
	cfg, err := Parse([]byte(cfgf(intensityCfg, "0s", "0.05", "0s")), "alerts.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg.StateDir = t.TempDir()
	rec := &recorder{name: "rec"}
	e, err := New(cfg, parseRegistry(t, testRegistry), src, nil, []Notifier{rec}, clock.Now, nil, reg)
	if err != nil {
		t.Fatal(err)
	}
	src.setKWh("ent-a", 10, 120)
	e.evaluate(t.Context())
	if got := testutil.ToFloat64(e.m.firing.WithLabelValues("daily", "warning")); got != 1 {
		t.Errorf("parkcarbon_alerts_firing = %v, want 1", got)
	}
	src.err = errors.New("influxdb: connection refused")
	clock.Advance(time.Hour)
	e.evaluate(t.Context())
	if a := e.alerts["daily/ent-a"]; a == nil || a.State != StateFiring {
		t.Errorf("alert after a failed query: %+v", a)
	}
	if got := testutil.ToFloat64(e.m.evalErrors.WithLabelValues("daily")); got != 1 {
		t.Errorf("evaluation errors = %v, want 1", got)
	}
	src.err = nil
	src.setKWh("ent-a", 10, 10)
	clock.Advance(time.Hour)
	e.evaluate(t.Context())
	if got := testutil.ToFloat64(e.m.firing.WithLabelValues("daily", "warning")); got != 0 {
		t.Errorf("parkcarbon_alerts_firing = %v after resolving, want 0", got)
	}
	if err := testutil.CollectAndCompare(e.m.firing, strings.NewReader(`
# HELP parkcarbon_alerts_firing Alerts firing, by rule and severity.
# TYPE parkcarbon_alerts_firing gauge
parkcarbon_alerts_firing{rule="daily",severity="warning"} 0
`)); err != nil {
		t.Error(err)
	}
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
		t.Errorf("metrics lint: %v %v", problems, err)
	}
}

const liveCfg = `
tiers:
  key: {contracted_demand_kw: 1000}
enterprises:
  ent-a: {contracted_demand_kw: 500}
rules:
  - name: demand
    kind: live
    quantity: active_power
    limit: contracted_demand_kw
    meters: [m1, m2]
    for: 15m
    max_age: 2m
    hysteresis: 0.05
    repeat_interval: 0s
`

// Active power of the incomers summed against the enterprise's contracted
// demand, for 15 minutes; a sub-meter does not count twice; stale readings
// end the alert.
func TestLiveDemand(t *testing.T) {
	clock := newClock(t0)
	e := newEngine(t, liveCfg, clock, engineOpts{reg: parseRegistry(t, testRegistry)})
	feed := func(m1, m2, sub float64) {
		now := clock.Now()
		e.ObserveReadings("gw-1", []wire.Reading{
			reading("ent-a", "m1", "active_power", m1, now), reading("ent-a", "m2", "active_power", m2, now),
			reading("ent-a", "m3", "active_power", sub, now), // a sub-meter behind m1
			reading("ent-a", "m1", "voltage_l1", 230, now),
		})
	}
	state := func() string {
		if a := e.alerts["demand/ent-a"]; a != nil {
			return a.State
		}
		return ""
	}
	feed(200, 200, 300) // 400 of 500: the sub-meter would make it 700
	if s := state(); s != "" {
		t.Fatalf("under the contracted demand: %s", s)
	}
	for i := range 16 {
		clock.Advance(time.Minute)
		feed(300, 250, 300)
		want := StatePending
		if i == 15 { // 15 minutes after the first reading over
			want = StateFiring
		}
		if s := state(); s != want {
			t.Fatalf("minute %d over: %s, want %s", i+1, s, want)
		}
	}
	ns := queued(e.outs[0])
	if len(ns) != 1 || ns[0].Alert.Value != 550 || ns[0].Alert.Limit != 500 || ns[0].Alert.Labels["quantity"] != "active_power" ||
		ns[0].Alert.Annotations["meters"] != "[m1 m2]" {
		t.Fatalf("notified %v: %+v", summary(ns), ns)
	}
	clock.Advance(time.Minute)
	feed(260, 220, 300) // 480: under 500, above 475
	if s := state(); s != StateFiring {
		t.Fatalf("in the hysteresis band: %s", s)
	}
	clock.Advance(time.Minute)
	feed(250, 220, 300) // 470
	if s := state(); s != "" {
		t.Fatalf("below 475: %s", s)
	}
	// Over again, then the readings stop: after max_age the value is
	// unknown, and the alert ends at the next evaluation.
	for range 16 {
		clock.Advance(time.Minute)
		feed(400, 400, 0)
	}
	if s := state(); s != StateFiring {
		t.Fatalf("over again: %s", s)
	}
	clock.Advance(time.Minute)
	e.evaluate(t.Context())
	if s := state(); s != StateFiring {
		t.Fatalf("readings 1 min old: %s", s)
	}
	clock.Advance(2 * time.Minute)
	e.evaluate(t.Context())
	if s := state(); s != "" {
		t.Fatalf("readings 3 min old: %s", s)
	}
	ns = queued(e.outs[0])
	if got := summary(ns); !slices.Equal(got, []string{"ent-a:resolved", "ent-a:firing", "ent-a:resolved"}) {
		t.Errorf("notified %v", got)
	}
	if why := ns[2].Alert.Annotations["ended_because"]; why == "" {
		t.Error("a resolution for lack of data does not say so")
	}
}

// max takes the largest meter; a rule with a threshold needs no registry.
func TestLiveMaxThreshold(t *testing.T) {
	clock := newClock(t0)
	e := newEngine(t, `
rules:
  - {name: hot, kind: live, quantity: flow_rate, energy: gas, aggregate: max, threshold: 50}
`, clock, engineOpts{})
	now := clock.Now()
	gas := func(meter string, v float64) wire.Reading {
		r := reading("ent-z", meter, "flow_rate", v, now)
		r.Energy, r.Unit = wire.Gas, "m3/h"
		return r
	}
	e.ObserveReadings("gw-9", []wire.Reading{gas("g1", 30), gas("g2", 40)})
	if len(e.alerts) != 0 {
		t.Fatalf("max 40 of threshold 50 fired: %v", e.alerts)
	}
	e.ObserveReadings("gw-9", []wire.Reading{gas("g2", 51)})
	a := e.alerts["hot/ent-z"]
	if a == nil || a.State != StateFiring || a.Value != 51 || a.Unit != "m3/h" {
		t.Fatalf("alert %+v", a)
	}
}

// A restart must not resolve live alerts before readings had a chance to
// arrive.
func TestLiveGraceAfterRestart(t *testing.T) {
	clock := newClock(t0)
	dir := t.TempDir()
	reg := parseRegistry(t, testRegistry)
	e := newEngine(t, liveCfg, clock, engineOpts{reg: reg, dir: dir})
	for range 16 {
		e.ObserveReadings("gw-1", []wire.Reading{reading("ent-a", "m1", "active_power", 600, clock.Now())})
		clock.Advance(time.Minute)
	}
	e.evaluate(t.Context())
	if a := e.alerts["demand/ent-a"]; a == nil || a.State != StateFiring {
		t.Fatalf("before the restart: %+v", a)
	}
	clock.Advance(10 * time.Minute) // down for 10 minutes
	e2 := newEngine(t, liveCfg, clock, engineOpts{reg: reg, dir: dir})
	clock.Advance(time.Minute)
	e2.evaluate(t.Context())
	if a := e2.alerts["demand/ent-a"]; a == nil || a.State != StateFiring {
		t.Fatalf("1 min after the restart, no reading yet: %+v", a)
	}
	e2.ObserveReadings("gw-1", []wire.Reading{reading("ent-a", "m1", "active_power", 610, clock.Now())})
	if n := summary(queued(e2.outs[0])); len(n) != 0 {
		t.Errorf("the restart notified %v", n)
	}
	clock.Advance(3 * time.Minute)
	e2.evaluate(t.Context())
	if a := e2.alerts["demand/ent-a"]; a != nil {
		t.Errorf("readings stopped 3 min ago, after the grace: %+v", a)
	}
}

const silenceCfg = `
rules:
  - {name: meter-silent, kind: silence, target: meter, intervals: 3}
  - {name: gateway-silent, kind: silence, target: gateway, intervals: 3, severity: critical}
`

// A meter is silent after 3 of its intervals (the median gap between its
// readings); a gateway when none of its meters reports, against its slowest
// meter's interval; both end when a reading arrives.
func TestSilence(t *testing.T) {
	clock := newClock(t0)
	e := newEngine(t, silenceCfg, clock, engineOpts{})
	// m1 every 10 s with one late sample; m2 every 60 s; m1's energy and
	// power readings share their poll's timestamp.
	for i := range 13 {
		now := clock.Now()
		rs := []wire.Reading{reading("ent-a", "m1", "active_power", 5, now), reading("ent-a", "m1", "energy_import_total", 5, now)}
		if i%6 == 0 {
			rs = append(rs, reading("ent-a", "m2", "active_power", 5, now))
		}
		e.ObserveReadings("gw-1", rs)
		clock.Advance(10 * time.Second)
		if i == 5 {
			clock.Advance(7 * time.Second)
		}
	}
	last := clock.Now().Add(-10 * time.Second) // m1's last reading, m2's too
	if iv := e.meters["ent-a"]["m1"].interval(); iv != 10*time.Second {
		t.Fatalf("m1 interval %v, want the median 10s", iv)
	}
	if iv := e.meters["ent-a"]["m2"].interval(); iv != 0 {
		t.Fatalf("m2 interval %v from 2 gaps, want unknown", iv)
	}
	state := func(fp string) string {
		if a := e.alerts[fp]; a != nil {
			return a.State
		}
		return ""
	}
	clock.Set(last.Add(30 * time.Second))
	e.evaluate(t.Context())
	if s := state("meter-silent/ent-a/m1"); s != "" {
		t.Fatalf("30 s silent (3 intervals exactly): %s", s)
	}
	clock.Set(last.Add(31 * time.Second))
	e.evaluate(t.Context())
	if s := state("meter-silent/ent-a/m1"); s != StateFiring {
		t.Fatalf("31 s silent: %q", s)
	}
	// m2's pace is not known yet, so neither its silence nor the
	// gateway's (whose slowest meter it is) is judged.
	if s := state("gateway-silent/ent-a/gw-1"); s != "" {
		t.Errorf("gateway with a meter of unknown pace: %s", s)
	}
	a := e.alerts["meter-silent/ent-a/m1"]
	if a.Labels["meter"] != "m1" || a.Value != 31 || a.Limit != 30 || a.Annotations["interval"] != "10s" {
		t.Errorf("alert %+v", a)
	}
	e.ObserveReadings("gw-1", []wire.Reading{reading("ent-a", "m1", "active_power", 5, clock.Now())})
	if s := state("meter-silent/ent-a/m1"); s != "" {
		t.Errorf("after a reading: %s", s)
	}
	if got := summary(queued(e.outs[0])); !slices.Equal(got, []string{"ent-a:firing", "ent-a:resolved"}) {
		t.Errorf("notified %v", got)
	}

	// With configured intervals, a gateway whose meters all stopped.
	e2 := newEngine(t, `
rules:
  - {name: gw, kind: silence, target: gateway, interval: 10s}
  - {name: meter, kind: silence, target: meter, interval: 60s}
`, clock, engineOpts{})
	start := clock.Now()
	e2.ObserveReadings("gw-1", []wire.Reading{reading("ent-a", "m1", "active_power", 5, start), reading("ent-a", "m2", "active_power", 5, start)})
	clock.Set(start.Add(25 * time.Second))
	e2.ObserveReadings("gw-1", []wire.Reading{reading("ent-a", "m2", "active_power", 5, clock.Now())}) // m1 fails alone
	clock.Set(start.Add(45 * time.Second))
	e2.evaluate(t.Context())
	if len(e2.alerts) != 0 {
		t.Errorf("gateway with a live meter: %v", e2.alerts)
	}
	clock.Set(start.Add(25*time.Second + 31*time.Second))
	e2.evaluate(t.Context())
	if a := e2.alerts["gw/ent-a/gw-1"]; a == nil || a.State != StateFiring || a.Labels["gateway"] != "gw-1" {
		t.Errorf("gateway silent 31 s of 30: %+v", a)
	}
}

// A restart (or a meter that died while the collector was down) counts
// silence only from the start, not from the last reading before it.
func TestSilenceAfterRestart(t *testing.T) {
	clock := newClock(t0)
	dir := t.TempDir()
	e := newEngine(t, silenceCfg, clock, engineOpts{dir: dir})
	for range 5 {
		e.ObserveReadings("gw-1", []wire.Reading{reading("ent-a", "m1", "active_power", 5, clock.Now())})
		clock.Advance(10 * time.Second)
	}
	e.evaluate(t.Context()) // saves the meters
	clock.Advance(2 * time.Hour)
	e2 := newEngine(t, silenceCfg, clock, engineOpts{dir: dir})
	clock.Advance(20 * time.Second)
	e2.evaluate(t.Context())
	if len(e2.alerts) != 0 {
		t.Fatalf("20 s after the start: %v", e2.alerts)
	}
	clock.Advance(11 * time.Second)
	e2.evaluate(t.Context())
	if a := e2.alerts["meter-silent/ent-a/m1"]; a == nil || a.State != StateFiring || a.Value != 31 {
		t.Fatalf("a meter known from the state file and silent since the start: %+v", a)
	}
	// A meter silent past forget_after is dropped, and its alert ends.
	clock.Advance(8 * 24 * time.Hour)
	e2.evaluate(t.Context())
	if len(e2.alerts) != 0 || len(e2.meters) != 0 {
		t.Errorf("after forget_after: alerts %v meters %v", e2.alerts, e2.meters)
	}
}

const qualityCfg = `
rules:
  - {name: counter, kind: quality, events: [reset, implausible], within: 1h}
  - {name: glitches, kind: quality, events: [glitch], min_count: 3, within: 1h, severity: info}
`

func TestQuality(t *testing.T) {
	clock := newClock(t0)
	e := newEngine(t, qualityCfg, clock, engineOpts{})
	ev := func(kind string, at time.Time) wire.Event {
		return wire.Event{Meter: "m1", Enterprise: "ent-a", Kind: kind, Value: 12, Message: "counter 123456 → 12", TS: at.UnixMilli()}
	}
	reset := ev("reset", clock.Now())
	e.ObserveEvents("gw-1", []wire.Event{reset, ev("rollover", clock.Now())})
	a := e.alerts["counter/ent-a/m1"]
	if a == nil || a.State != StateFiring || a.Value != 1 || !strings.Contains(a.Annotations["description"], "123456") {
		t.Fatalf("after a reset: %+v", a)
	}
	e.ObserveEvents("gw-1", []wire.Event{reset}) // replayed envelope
	if a.Value != 1 {
		t.Errorf("a replayed event counted again: %v", a.Value)
	}
	clock.Advance(10 * time.Minute)
	e.ObserveEvents("gw-1", []wire.Event{ev("implausible", clock.Now()), ev("glitch", clock.Now()), ev("glitch", clock.Now().Add(time.Second))})
	if a.Value != 2 {
		t.Errorf("count %v, want 2", a.Value)
	}
	if e.alerts["glitches/ent-a/m1"] != nil {
		t.Error("2 glitches fired a rule needing 3")
	}
	// An old event (a backlog replayed long after) does not count.
	e.ObserveEvents("gw-1", []wire.Event{ev("glitch", clock.Now().Add(-2*time.Hour))})
	if e.alerts["glitches/ent-a/m1"] != nil {
		t.Error("an event older than within counted")
	}
	e.ObserveEvents("gw-1", []wire.Event{ev("glitch", clock.Now().Add(2*time.Second))})
	if g := e.alerts["glitches/ent-a/m1"]; g == nil || g.State != StateFiring || g.Severity != "info" {
		t.Fatalf("3 glitches: %+v", g)
	}
	clock.Advance(55 * time.Minute) // the reset is 65 min old, the implausible jump 55
	e.evaluate(t.Context())
	if a := e.alerts["counter/ent-a/m1"]; a == nil || a.Value != 1 {
		t.Fatalf("one event left in the hour: %+v", a)
	}
	clock.Advance(6 * time.Minute)
	e.evaluate(t.Context())
	if len(e.alerts) != 0 {
		t.Errorf("an hour after the last events: %v", e.alerts)
	}
	if got := summary(queued(e.outs[0])); !slices.Equal(got, []string{"ent-a:firing", "ent-a:firing", "ent-a:resolved", "ent-a:resolved"}) {
		t.Errorf("notified %v", got)
	}
	e.evaluate(t.Context())
	if len(e.events) != 0 {
		t.Errorf("empty event tracks kept: %v", e.events)
	}
}

// A restart in the middle of `for` keeps the time the condition began:
// the alert fires when `for` has passed since then, not since the restart.
func TestRestartMidPending(t *testing.T) {
	clock := newClock(t0)
	dir := t.TempDir()
	src := &fakeSource{}
	reg := parseRegistry(t, testRegistry)
	cfg := cfgf(intensityCfg, "1h", "0.05", "0s")
	e := newEngine(t, cfg, clock, engineOpts{reg: reg, src: src, dir: dir})
	src.setKWh("ent-a", 10, 110)
	e.evaluate(t.Context())
	if a := e.alerts["daily/ent-a"]; a == nil || a.State != StatePending {
		t.Fatalf("before the restart: %+v", a)
	}
	clock.Advance(40 * time.Minute)
	e2 := newEngine(t, cfg, clock, engineOpts{reg: reg, src: src, dir: dir})
	e2.evaluate(t.Context())
	if a := e2.alerts["daily/ent-a"]; a == nil || a.State != StatePending || !a.ActiveAt.Equal(t0) {
		t.Fatalf("after the restart: %+v", a)
	}
	clock.Advance(20 * time.Minute)
	e2.evaluate(t.Context())
	a := e2.alerts["daily/ent-a"]
	if a == nil || a.State != StateFiring || !a.StartsAt.Equal(t0.Add(time.Hour)) {
		t.Fatalf("an hour after the condition began: %+v", a)
	}
	// The state file is what a third instance sees, and it is whole JSON.
	data, err := os.ReadFile(filepath.Join(dir, stateFileName))
	if err != nil {
		t.Fatal(err)
	}
	var doc stateDoc
	if err := json.Unmarshal(data, &doc); err != nil || len(doc.Alerts) != 1 || doc.Alerts[0].State != StateFiring {
		t.Errorf("state file: %v %s", err, data)
	}
	if tmp, _ := filepath.Glob(filepath.Join(dir, "*.tmp")); len(tmp) > 0 {
		t.Errorf("temporary files left: %v", tmp)
	}
}

// An unreadable state file is set aside, not fatal.
func TestStateUnreadable(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, stateFileName), []byte("{half a fi"), 0o600); err != nil {
		t.Fatal(err)
	}
	e := newEngine(t, silenceCfg, newClock(t0), engineOpts{dir: dir})
	if len(e.alerts) != 0 {
		t.Error("alerts from a broken file")
	}
	if _, err := os.Stat(filepath.Join(dir, stateFileName+".unreadable")); err != nil {
		t.Errorf("not set aside: %v", err)
	}
}

// Two instances split the enterprises: each evaluates only its own, and
// together they evaluate every one exactly once.
func TestShardedEngines(t *testing.T) {
	clock := newClock(t0)
	src := &fakeSource{}
	reg := parseRegistry(t, testRegistry)
	src.setKWh("ent-a", 10, 500)
	src.setKWh("ent-b", 4, 500)
	owners := map[string][]int{}
	for i := range 2 {
		cfg := cfgf(intensityCfg, "0s", "0.05", "0s") + "  - {name: quiet, kind: silence, target: meter}\n"
		e := newEngine(t, cfg, clock, engineOpts{reg: reg, src: src, shard: Shard{Index: i, Count: 2}})
		e.evaluate(t.Context())
		for _, a := range e.Active() {
			owners[a.Enterprise] = append(owners[a.Enterprise], i)
		}
		// Readings of enterprises it does not own leave no trace.
		e.ObserveReadings("gw-1", []wire.Reading{reading("ent-a", "m1", "active_power", 1, clock.Now()), reading("ent-b", "m2", "active_power", 1, clock.Now())})
		if _, ok := e.meters["ent-a"]; ok != (Shard{Index: i, Count: 2}).Owns("ent-a") {
			t.Errorf("shard %d tracks ent-a: %v", i, ok)
		}
	}
	for _, ent := range []string{"ent-a", "ent-b"} {
		if len(owners[ent]) != 1 {
			t.Errorf("%s evaluated by shards %v, want exactly one", ent, owners[ent])
		}
	}
	if (Shard{Index: 0, Count: 2}).Owns("ent-a") == (Shard{Index: 0, Count: 2}).Owns("ent-b") {
		t.Log("both test enterprises hash to one shard; the split is still checked per enterprise")
	}
}

// Moving an enterprise to another shard drops its alerts here without a
// resolution: the new owner takes them over.
func TestShardHandover(t *testing.T) {
	clock := newClock(t0)
	dir := t.TempDir()
	src := &fakeSource{}
	reg := parseRegistry(t, testRegistry)
	src.setKWh("ent-a", 10, 500)
	cfg := cfgf(intensityCfg, "0s", "0.05", "0s")
	e := newEngine(t, cfg, clock, engineOpts{reg: reg, src: src, dir: dir})
	e.evaluate(t.Context())
	queued(e.outs[0])
	other := 0
	if (Shard{Index: 0, Count: 2}).Owns("ent-a") {
		other = 1
	}
	e2 := newEngine(t, cfg, clock, engineOpts{reg: reg, src: src, dir: dir, shard: Shard{Index: other, Count: 2}})
	e2.evaluate(t.Context())
	if _, ok := e2.alerts["daily/ent-a"]; ok {
		t.Error("the alert stayed on a shard that no longer owns the enterprise")
	}
	if n := summary(queued(e2.outs[0])); len(n) != 0 {
		t.Errorf("handover notified %v", n)
	}
}

// A rule removed from the config ends its alerts (they would otherwise
// stay firing forever).
func TestRuleRemoved(t *testing.T) {
	clock := newClock(t0)
	dir := t.TempDir()
	e := newEngine(t, qualityCfg, clock, engineOpts{dir: dir})
	e.ObserveEvents("gw", []wire.Event{{Meter: "m1", Enterprise: "ent-a", Kind: "reset", TS: clock.Now().UnixMilli()}})
	e.evaluate(t.Context())
	e2 := newEngine(t, silenceCfg, clock, engineOpts{dir: dir})
	e2.evaluate(t.Context())
	if got := summary(queued(e2.outs[0])); !slices.Equal(got, []string{"ent-a:resolved"}) || len(e2.alerts) != 0 {
		t.Errorf("notified %v, alerts %v", got, e2.alerts)
	}
}

func TestNewErrors(t *testing.T) {
	cfg, err := Parse([]byte(cfgf(intensityCfg, "0s", "0", "0s")), "alerts.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := New(cfg, nil, nil, nil, nil, nil, nil, nil); err == nil || !strings.Contains(err.Error(), "state dir") {
		t.Errorf("without a state dir: %v", err)
	}
	cfg.StateDir = t.TempDir()
	if _, err := New(cfg, nil, nil, nil, nil, nil, nil, nil); err == nil || !strings.Contains(err.Error(), `rule "daily" needs the enterprise registry`) {
		t.Errorf("intensity without a registry: %v", err)
	}
	cfg.Shard = Shard{Index: 3, Count: 2}
	if _, err := New(cfg, parseRegistry(t, testRegistry), &fakeSource{}, nil, nil, nil, nil, nil); err == nil || !strings.Contains(err.Error(), "shard") {
		t.Errorf("bad shard: %v", err)
	}
	cfg.Shard = Shard{}
	cfg.Enterprises = map[string]Limits{"ent-zz": {ContractedDemandKW: ptr(5.0)}}
	if _, err := New(cfg, parseRegistry(t, testRegistry), &fakeSource{}, nil, nil, nil, nil, nil); err == nil || !strings.Contains(err.Error(), `"ent-zz" is not in the registry`) {
		t.Errorf("limits of an unknown enterprise: %v", err)
	}
	if _, err := New(&Config{StateDir: t.TempDir()}, nil, nil, nil, nil, nil, nil, nil); err == nil {
		t.Error("a Config not from Parse was accepted")
	}
}

func TestHandler(t *testing.T) {
	clock := newClock(t0)
	src := &fakeSource{}
	e := newEngine(t, cfgf(intensityCfg, "1h", "0.05", "0s"), clock, engineOpts{reg: parseRegistry(t, testRegistry), src: src})
	src.setKWh("ent-a", 10, 120)
	src.setKWh("ent-b", 4, 120) // general: 300
	e.evaluate(t.Context())
	src.setKWh("ent-b", 4, 400)
	clock.Advance(time.Hour)
	e.evaluate(t.Context())
	get := func(target string) (int, AlertList) {
		rec := httptest.NewRecorder()
		e.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, target, nil))
		var l AlertList
		if rec.Code == http.StatusOK {
			if err := json.Unmarshal(rec.Body.Bytes(), &l); err != nil {
				t.Fatal(err)
			}
		}
		return rec.Code, l
	}
	code, all := get("/api/alerts")
	if code != http.StatusOK || len(all.Alerts) != 2 || all.Alerts[0].Enterprise != "ent-a" || all.Alerts[0].State != StateFiring ||
		all.Alerts[1].State != StatePending || all.Alerts[0].Annotations["limit"] != "100" {
		t.Errorf("GET /api/alerts: %d %+v", code, all)
	}
	if _, l := get("/api/alerts?state=pending"); len(l.Alerts) != 1 || l.Alerts[0].Enterprise != "ent-b" {
		t.Errorf("?state=pending: %+v", l)
	}
	if _, l := get("/api/alerts?enterprise=ent-c"); l.Alerts == nil || len(l.Alerts) != 0 {
		t.Errorf("?enterprise=ent-c: %+v (want an empty list, not null)", l)
	}
	if code, _ := get("/api/alerts?state=resolved"); code != http.StatusBadRequest {
		t.Errorf("?state=resolved: %d", code)
	}
	rec := httptest.NewRecorder()
	e.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/api/alerts", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d", rec.Code)
	}
}

// closingRecorder is a recorder that notes being closed.
type closingRecorder struct {
	recorder
	closed chan struct{}
}

func (c *closingRecorder) Close() error { close(c.closed); return nil }

// Run evaluates at once, delivers through the workers, and on stop saves
// the state and closes the notifiers.
func TestRun(t *testing.T) {
	clock := newClock(t0)
	src := &fakeSource{}
	src.setKWh("ent-a", 10, 150)
	dir := t.TempDir()
	rec := &closingRecorder{recorder: recorder{name: "rec"}, closed: make(chan struct{})}
	cfg := cfgf(intensityCfg, "0s", "0.05", "0s")
	// An hour between ticks: the only evaluation is the one at the start.
	e := newEngine(t, "interval: 1h\n"+cfg, clock, engineOpts{reg: parseRegistry(t, testRegistry), src: src, dir: dir, notifiers: []Notifier{rec}})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	waitFor(t, "the notification", func() bool {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		return len(rec.got) == 1
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	select {
	case <-rec.closed:
	default:
		t.Error("the notifier was not closed")
	}
	e2 := newEngine(t, cfg, clock, engineOpts{reg: parseRegistry(t, testRegistry), src: src, dir: dir})
	if a := e2.alerts["daily/ent-a"]; a == nil || a.State != StateFiring {
		t.Errorf("state after Run stopped: %+v", a)
	}
}
