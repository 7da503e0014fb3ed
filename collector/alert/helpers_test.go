package alert

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/influxdata/influxdb-client-go/v2/api/write"

	"github.com/parkcarbon/parkcarbon/carbon"
	"github.com/parkcarbon/parkcarbon/internal/wire"
)

// fakeClock is the engine's clock in tests: it moves only when told.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock(t time.Time) *fakeClock { return &fakeClock{t: t} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
	return c.t
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// fakeSource serves fixed totals for any window, or an error.
type fakeSource struct {
	mu     sync.Mutex
	totals map[string]carbon.Totals
	err    error
	calls  int
}

func (s *fakeSource) Totals(_ context.Context, _, _ time.Time) (map[string]carbon.Totals, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if s.err != nil {
		return nil, s.err
	}
	out := map[string]carbon.Totals{}
	for k, v := range s.totals {
		out[k] = v
	}
	return out, nil
}

// setKWh sets an enterprise's electricity so that a daily-per-mu figure
// over one day (window today) is perMuDay.
func (s *fakeSource) setKWh(ent string, landMu, perMuDay float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.totals == nil {
		s.totals = map[string]carbon.Totals{}
	}
	kwh := landMu * perMuDay
	s.totals[ent] = carbon.Totals{ElectricityKWh: kwh, CO2kg: kwh * 0.5306, CoalKgce: kwh * carbon.CoalElectricity}
}

// recorder is a notifier that keeps what it is sent, and fails while fail
// is set.
type recorder struct {
	name string
	mu   sync.Mutex
	got  []*Notification
	fail error
}

func (r *recorder) Name() string { return r.name }

func (r *recorder) Notify(_ context.Context, n *Notification) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail != nil {
		return r.fail
	}
	r.got = append(r.got, n)
	return nil
}

// pointRecorder is a PointWriter that keeps the points.
type pointRecorder struct {
	mu     sync.Mutex
	points []*write.Point
}

func (p *pointRecorder) WritePoint(_ context.Context, pts ...*write.Point) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.points = append(p.points, pts...)
	return nil
}

// queued takes what the engine queued for delivery to an outbox (the
// workers are not running in these tests, so nothing else takes it).
func queued(o *outbox) []*Notification {
	o.mu.Lock()
	defer o.mu.Unlock()
	q := o.q
	o.q = nil
	return q
}

// summary is "state" per notification, "repeat" for repeats, for tables.
func summary(ns []*Notification) []string {
	var out []string
	for _, n := range ns {
		s := n.Alert.Enterprise + ":" + n.Alert.State
		if n.Repeat {
			s += "(repeat)"
		}
		out = append(out, s)
	}
	return out
}

const testRegistry = `
enterprises:
  - {id: ent-a, name: Alpha Castings, land_area_mu: 10, industry: C3391, tier: key, scale: above,
     output_value_cny: 100000000, sales_revenue_cny: 100000000, tax_paid_cny: 1000000, value_added_cny: 20000000, employees: 100}
  - {id: ent-b, name: Beta Paper, land_area_mu: 4, industry: C2231, tier: general, scale: below,
     output_value_cny: 10000000, sales_revenue_cny: 10000000, tax_paid_cny: 100000, value_added_cny: 2000000, employees: 20}
  - {id: ent-c, name: Gamma Steam, land_area_mu: 5, tier: utility, scale: above, not_rated: utility}
`

func parseRegistry(t testing.TB, yaml string) *carbon.Registry {
	t.Helper()
	reg, err := carbon.ParseRegistry([]byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

type engineOpts struct {
	reg       *carbon.Registry
	src       RollupSource
	points    PointWriter
	notifiers []Notifier
	dir       string
	shard     Shard
}

// newEngine builds an engine from an alerts.yaml text with a recorder
// notifier (unless others are given).
func newEngine(t testing.TB, cfgYAML string, clock *fakeClock, o engineOpts) *Engine {
	t.Helper()
	cfg, err := Parse([]byte(cfgYAML), "alerts.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg.StateDir = o.dir
	if cfg.StateDir == "" {
		cfg.StateDir = t.TempDir()
	}
	cfg.Shard = o.shard
	if o.notifiers == nil {
		o.notifiers = []Notifier{&recorder{name: "rec"}}
	}
	e, err := New(cfg, o.reg, o.src, o.points, o.notifiers, clock.Now, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// reading is one sample at the clock's time.
func reading(ent, meter, qty string, v float64, at time.Time) wire.Reading {
	return wire.Reading{Meter: meter, Enterprise: ent, Energy: wire.Electricity, Quantity: qty, Value: v, Unit: "kW", TS: at.UnixMilli()}
}

// settled waits until every notifier and the alert measurement have
// delivered (or dropped) everything queued.
func settled(t testing.TB, e *Engine) {
	t.Helper()
	waitFor(t, "the notifiers to deliver", func() bool {
		for _, o := range append(slices.Clone(e.outs), e.points) {
			if o != nil && !o.idle() {
				return false
			}
		}
		return true
	})
}

// testLogger logs into the test's output, shown when it fails or with -v.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// waitFor polls cond until it holds. The deadline only stops a hung test;
// nothing is asserted about how long it took.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
