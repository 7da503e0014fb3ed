package alert

import (
	"context"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	influxdb2 "github.com/influxdata/influxdb-client-go/v2"
	"github.com/influxdata/influxdb-client-go/v2/api"
	"github.com/influxdata/influxdb-client-go/v2/api/write"

	"github.com/parkcarbon/parkcarbon/carbon"
	"github.com/parkcarbon/parkcarbon/internal/servers"
	"github.com/parkcarbon/parkcarbon/internal/testenv"
)

// parkSim is the simulated park's electricity: per enterprise, the share of
// its daily limit it uses on each day (0 is the first simulated day,
// negative days are history). Each hour of a day gets 1/24 of it.
type parkSim struct {
	loc   *time.Location
	start time.Time // local midnight of day 0
	limit float64   // kWh per mu and day, the tier's
	land  map[string]float64
	share map[string]func(day int) float64
}

func (s *parkSim) hourKWh(ent string, hour time.Time) float64 {
	day := int(math.Floor(hour.Sub(s.start).Hours() / 24)) // the sim's days are whole 24 h: Asia/Shanghai has no DST
	return s.share[ent](day) * s.limit * s.land[ent] / 24
}

// hourPoints are consumption_hourly points, as the collector's rollup writes
// them, for the hours in [from, to).
func (s *parkSim) hourPoints(from, to time.Time) []*write.Point {
	var pts []*write.Point
	for h := from; h.Before(to); h = h.Add(time.Hour) {
		for _, ent := range sortedKeys(s.land) {
			kwh := s.hourKWh(ent, h)
			pts = append(pts, write.NewPoint("consumption_hourly",
				map[string]string{"enterprise": ent, "energy": "electricity", "scope": "2"},
				map[string]any{"amount": kwh, "co2_kg": kwh * 0.5306, "coal_kgce": kwh * carbon.CoalElectricity}, h))
		}
	}
	return pts
}

// oracle is the figure the rule should see at now: the last 30 calendar
// days' kWh (today's hours so far) per mu, over 30 days. Computed from the
// simulation, not from InfluxDB or the engine.
func (s *parkSim) oracle(ent string, now time.Time) (perMuDay, kwh float64) {
	n := now.In(s.loc)
	y, m, d := n.Date()
	for h := time.Date(y, m, d-29, 0, 0, 0, 0, s.loc); h.Before(now); h = h.Add(time.Hour) {
		kwh += s.hourKWh(ent, h)
	}
	return kwh / s.land[ent] / 30, kwh
}

func writePoints(t *testing.T, w api.WriteAPIBlocking, pts []*write.Point) {
	t.Helper()
	for len(pts) > 0 {
		n := min(len(pts), 5000)
		if err := w.WritePoint(t.Context(), pts[:n]...); err != nil {
			t.Fatalf("write %d points: %v", n, err)
		}
		pts = pts[n:]
	}
}

// The rollup source reads exactly [from, to): a rollup stamped at `to` is
// the next window's (InfluxDB 1.8's inclusive range stop notwithstanding).
func testInfluxSourceBounds(t *testing.T, src *InfluxSource, w api.WriteAPIBlocking) {
	from := time.Date(2020, 5, 1, 16, 0, 0, 0, time.UTC)
	to := from.Add(24 * time.Hour)
	var pts []*write.Point
	for _, p := range []struct {
		at     time.Time
		energy string
		amount float64
	}{
		{from.Add(-time.Hour), "electricity", 1}, {from, "electricity", 10}, {to.Add(-time.Hour), "electricity", 100},
		{to, "electricity", 1000}, {from.Add(time.Hour), "gas", 7},
	} {
		pts = append(pts, write.NewPoint("consumption_hourly", map[string]string{"enterprise": "ent-edge", "energy": p.energy, "scope": "2"},
			map[string]any{"amount": p.amount, "co2_kg": 2 * p.amount, "coal_kgce": 3 * p.amount}, p.at))
	}
	writePoints(t, w, pts)
	got, err := src.Totals(t.Context(), from, to)
	if err != nil {
		t.Fatal(err)
	}
	want := carbon.Totals{ElectricityKWh: 110, GasM3: 7, CO2kg: 2 * 117, CoalKgce: 3 * 117}
	if got["ent-edge"] != want || len(got) != 1 {
		t.Errorf("totals %+v, want ent-edge %+v", got, want)
	}
}

// The acceptance case, against real servers: a park where ent-001
// is pushed over its tier's limit for a few days and ent-002 hovers at its
// limit. ent-001 must fire once and resolve once, ent-002 must not flap;
// the alerts reach Alertmanager, a webhook (signed) and MQTT with the
// numbers that justify them, and every state change is a point in InfluxDB.
func TestParkEndToEnd(t *testing.T) {
	inf := testenv.Influx(t)
	am := testenv.Alertmanager(t)
	broker := testenv.Mosquitto(t)
	hook := newHookReceiver(t, "park-secret")
	t.Setenv("PARKCARBON_E2E_HOOK_SECRET", "park-secret")

	client := influxdb2.NewClientWithOptions(inf.URL, inf.Token, influxdb2.DefaultOptions().SetPrecision(time.Millisecond))
	defer client.Close()
	writer := client.WriteAPIBlocking("", inf.Bucket)
	source := NewInfluxSource(client.QueryAPI(""), inf.Bucket)
	testInfluxSourceBounds(t, source, writer)

	data, err := os.ReadFile(filepath.Join("..", "..", "configs", "enterprises.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	reg, err := carbon.ParseRegistry(data)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := Parse(fmt.Appendf(nil, `
interval: 6h
timezone: Asia/Shanghai
generator_url: http://127.0.0.1:9100/api/alerts
tiers:
  key: {daily_kwh_per_mu: 100}
rules:
  - name: electricity-30d
    kind: intensity
    limit: daily_kwh_per_mu
    window: last_30d
    hysteresis: 0.05
    repeat_interval: 0s
notifiers:
  webhooks: [{name: ops, url: %q, secret_env: PARKCARBON_E2E_HOOK_SECRET, backoff: 10ms}]
  mqtt: {broker: %q, backoff: 10ms}
  alertmanagers: [{name: park, url: %q, backoff: 10ms}]
`, hook.srv.URL, broker.URL, am.URL), "alerts.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg.StateDir = t.TempDir()
	notifiers, err := NewNotifiers(cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}

	loc := cfg.Location()
	// The simulation lies in the past: Alertmanager counts an alert resolved
	// once its endsAt has passed by its own clock.
	y, m, d := time.Now().In(loc).AddDate(0, 0, -20).Date()
	sim := &parkSim{
		loc: loc, start: time.Date(y, m, d, 0, 0, 0, 0, loc), limit: 100,
		land: map[string]float64{"ent-001": 42, "ent-002": 35.5},
		share: map[string]func(int) float64{
			"ent-001": func(day int) float64 {
				switch {
				case day < 0:
					return 0.9
				case day < 4:
					return 3 // a heat-treatment campaign
				}
				return 0.2 // then mostly idle
			},
			"ent-002": func(day int) float64 { return 1.02 + 0.01*math.Sin(float64(day)) },
		},
	}
	writePoints(t, writer, sim.hourPoints(sim.start.AddDate(0, 0, -30), sim.start))

	clock := newClock(sim.start)
	e, err := New(cfg, reg, source, writer, notifiers, clock.Now, testLogger(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	wait := e.startWorkers(ctx)
	defer func() { cancel(); wait() }()

	// What the oracle expects: ent-001 fires at the first step over 100
	// and resolves at the first step after that under 95.
	type mark struct {
		step  int
		value float64
		kwh   float64
	}
	var fire1, resolve1 *mark
	var firing2 bool
	min2, max2 := math.Inf(1), math.Inf(-1) // ent-002's figure while firing
	written := sim.start
	const steps = 18 * 4 // 18 days, every 6 hours
	for step := 0; step <= steps; step++ {
		now := sim.start.Add(time.Duration(step) * 6 * time.Hour)
		writePoints(t, writer, sim.hourPoints(written, now))
		written = now
		clock.Set(now)
		e.evaluate(t.Context())

		v1, kwh1 := sim.oracle("ent-001", now)
		switch {
		case fire1 == nil && v1 > 100:
			fire1 = &mark{step, v1, kwh1}
		case fire1 != nil && resolve1 == nil && v1 < 95:
			resolve1 = &mark{step, v1, kwh1}
		}
		state1 := ""
		if a := e.alerts["electricity-30d/ent-001"]; a != nil {
			state1 = a.State
			if math.Abs(a.Value-v1) > 1e-9*v1 {
				t.Fatalf("step %d: engine's figure %v, oracle %v", step, a.Value, v1)
			}
		}
		if want := map[bool]string{true: StateFiring, false: ""}[fire1 != nil && resolve1 == nil]; state1 != want {
			t.Fatalf("step %d (%s): ent-001 %q at %.2f, want %q", step, now.Format(time.DateTime), state1, v1, want)
		}
		v2, _ := sim.oracle("ent-002", now)
		firing2 = firing2 || v2 > 100
		if firing2 {
			min2, max2 = min(min2, v2), max(max2, v2)
		}

		// At the moments that matter, the alert must have reached
		// Alertmanager.
		if fire1 != nil && fire1.step == step {
			waitFor(t, "Alertmanager to list ent-001", func() bool { return amHas(t, am, "ent-001") })
		}
		if resolve1 != nil && resolve1.step == step {
			waitFor(t, "Alertmanager to drop ent-001", func() bool { return !amHas(t, am, "ent-001") })
		}
	}
	if fire1 == nil || resolve1 == nil || !firing2 {
		t.Fatalf("the scenario did not happen: fire %v resolve %v ent-002 over %v", fire1, resolve1, firing2)
	}
	t.Logf("ent-001 fires at step %d (%.2f kWh/mu/day), resolves at step %d (%.2f); ent-002 ranges %.2f–%.2f while firing",
		fire1.step, fire1.value, resolve1.step, resolve1.value, min2, max2)
	if min2 >= 100 {
		t.Fatalf("ent-002 never dipped under its limit (min %.2f): the scenario does not test flapping", min2)
	}

	// The webhook: signed, once each, with the numbers.
	settled(t, e)
	if got := hook.statuses(); !slices.Equal(got, []string{"ent-001:firing", "ent-002:firing", "ent-001:resolved"}) &&
		!slices.Equal(got, []string{"ent-002:firing", "ent-001:firing", "ent-001:resolved"}) {
		t.Errorf("webhook got %v: want ent-001 firing and resolved once, ent-002 firing once", got)
	}
	if hook.bad != 0 {
		t.Errorf("%d webhook requests with a bad signature", hook.bad)
	}
	for _, b := range hook.got() {
		if b.Alert.Enterprise != "ent-001" {
			continue
		}
		want := fire1
		if b.Status == StateResolved {
			want = resolve1
		}
		a := b.Alert
		wantAt := sim.start.Add(time.Duration(want.step) * 6 * time.Hour)
		kwh, _ := strconv.ParseFloat(a.Annotations["electricity_kwh"], 64)
		if math.Abs(a.Value-want.value) > 1e-9*want.value || a.Limit != 100 || math.Abs(kwh-want.kwh) > 1e-5*want.kwh ||
			a.Annotations["tier"] != "key" || a.Annotations["land_area_mu"] != "42" || a.Labels["window"] != WindowLast30Days {
			t.Errorf("%s: value %v limit %v kWh %v, want %v, 100, %v: %+v", b.Status, a.Value, a.Limit, kwh, want.value, want.kwh, a)
		}
		if (b.Status == StateFiring && !a.StartsAt.Equal(wantAt)) || (b.Status == StateResolved && !a.EndsAt.Equal(wantAt)) {
			t.Errorf("%s at %v %v, want %v", b.Status, a.StartsAt, a.EndsAt, wantAt)
		}
	}

	// Alertmanager still has ent-002, with its figures.
	as, err := am.Alerts(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(as) != 1 || as[0].Labels["enterprise"] != "ent-002" || as[0].Labels["alertname"] != "electricity-30d" ||
		as[0].Annotations["limit"] != "100" || as[0].Annotations["tier"] != "key" || as[0].GeneratorURL != "http://127.0.0.1:9100/api/alerts" {
		t.Errorf("Alertmanager lists %+v", as)
	}

	// MQTT retains ent-002's alert and nothing for ent-001.
	if p := retainedOn(t, broker.URL, "park/alerts/ent-001"); p != nil {
		t.Errorf("ent-001 still retained: %s", p)
	}
	if p := retainedOn(t, broker.URL, "park/alerts/ent-002"); len(p) == 0 {
		t.Error("ent-002's firing alert is not retained")
	}

	// The alert measurement: every state change, once.
	want := map[string]int{"ent-001/pending": 1, "ent-001/firing": 1, "ent-001/resolved": 1, "ent-002/pending": 1, "ent-002/firing": 1}
	rows, err := inf.Query(t.Context(), fmt.Sprintf(`from(bucket: %q) |> range(start: 2000-01-01T00:00:00Z)
  |> filter(fn: (r) => r._measurement == "alert" and r._field == "value")`, inf.Bucket))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, r := range rows {
		got[r["enterprise"]+"/"+r["state"]]++
	}
	if !maps.Equal(got, want) {
		t.Errorf("alert points %v, want %v", got, want)
	}
}

// amHas reports whether Alertmanager lists an active alert of an enterprise.
func amHas(t *testing.T, am *servers.Alertmanager, ent string) bool {
	as, err := am.Alerts(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range as {
		if a.Labels["enterprise"] == ent {
			return true
		}
	}
	return false
}
