package alert

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/influxdata/influxdb-client-go/v2/api/write"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/parkcarbon/parkcarbon/carbon"
	"github.com/parkcarbon/parkcarbon/internal/wire"
)

// RollupSource gives each enterprise's consumption over [from, to) from the
// hourly rollups. One call covers every enterprise, so a tick costs one
// query per window, however large the park.
type RollupSource interface {
	Totals(ctx context.Context, from, to time.Time) (map[string]carbon.Totals, error)
}

// PointWriter stores points; the collector's InfluxDB WriteAPIBlocking is one.
type PointWriter interface {
	WritePoint(ctx context.Context, point ...*write.Point) error
}

// Engine evaluates the rules and delivers the changes. Intensity and
// silence rules run on a schedule (Run); live, silence and quality rules
// also run as the collector hands over readings and events.
type Engine struct {
	cfg      *Config
	reg      *carbon.Registry
	src      RollupSource
	clock    func() time.Time
	log      *slog.Logger
	m        *metrics
	rules    map[string]*Rule
	liveQty  map[string]bool // quantities live rules read
	tracking bool            // some rule is a silence rule
	outs     []*outbox       // notifiers
	resends  map[*outbox]time.Duration
	closers  []io.Closer
	points   *outbox // the alert measurement; nil without a writer
	saveKick chan struct{}

	evalMu sync.Mutex // one scheduled evaluation at a time
	saveMu sync.Mutex // state writes in order

	mu         sync.Mutex                        // guards everything below
	alerts     map[string]*Alert                 // pending and firing, by fingerprint
	meters     map[string]map[string]*meterTrack // enterprise → meter
	live       map[string]map[liveKey]*liveValue // by enterprise
	events     map[string]*eventTrack            // quality rule fingerprint
	started    time.Time
	lastResend map[*outbox]time.Time
	lastErrLog time.Time
	dirty      bool
}

// New builds an engine from a parsed config (Parse or Load) and loads its
// state from cfg.StateDir. reg and src are needed by intensity rules (reg
// also gives live rules their tier limits); out, if not nil, receives a
// point per state change; clock nil is time.Now; metrics nil registers
// nothing. It connects to nothing: notifiers work once Run starts.
func New(cfg *Config, reg *carbon.Registry, src RollupSource, out PointWriter, notifiers []Notifier,
	clock func() time.Time, log *slog.Logger, metrics prometheus.Registerer) (*Engine, error) {
	if cfg == nil || cfg.loc == nil {
		return nil, errors.New("alerts: the config must come from alert.Parse or alert.Load")
	}
	if err := cfg.Shard.Validate(); err != nil {
		return nil, fmt.Errorf("alerts: %w", err)
	}
	if cfg.StateDir == "" {
		return nil, errors.New("alerts: a state dir is required (alert state survives restarts there)")
	}
	if clock == nil {
		clock = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	e := &Engine{cfg: cfg, reg: reg, src: src, clock: clock, log: log, rules: map[string]*Rule{},
		liveQty: map[string]bool{}, resends: map[*outbox]time.Duration{}, saveKick: make(chan struct{}, 1),
		alerts: map[string]*Alert{}, meters: map[string]map[string]*meterTrack{}, live: map[string]map[liveKey]*liveValue{},
		events: map[string]*eventTrack{}, lastResend: map[*outbox]time.Time{}}
	for _, r := range cfg.Rules {
		e.rules[r.Name] = r
		switch {
		case r.Kind == KindIntensity && (reg == nil || src == nil):
			return nil, fmt.Errorf("alerts: line %d: rule %q needs the enterprise registry and the rollups (collector.yaml enterprises)", r.Line, r.Name)
		case r.Kind == KindLive:
			e.liveQty[r.Quantity] = true
		case r.Kind == KindSilence:
			e.tracking = true
		}
	}
	if err := e.checkRegistry(); err != nil {
		return nil, err
	}
	m, err := newMetrics(metrics)
	if err != nil {
		return nil, fmt.Errorf("alerts: register metrics: %w", err)
	}
	e.m = m
	for _, r := range cfg.Rules {
		m.firing.WithLabelValues(r.Name, r.Severity).Set(0)
	}
	for _, n := range notifiers {
		var opt Delivery
		if t, ok := n.(DeliveryTuner); ok {
			opt = t.DeliveryOptions()
		}
		o := newOutbox(n.Name(), n.Notify, opt, log, m)
		e.outs = append(e.outs, o)
		if r, ok := n.(Resender); ok && r.ResendInterval() > 0 {
			e.resends[o] = r.ResendInterval()
		}
		if c, ok := n.(io.Closer); ok {
			e.closers = append(e.closers, c)
		}
	}
	if out != nil {
		e.points = newOutbox("influxdb", func(ctx context.Context, n *Notification) error {
			return out.WritePoint(ctx, alertPoint(&n.Alert, n.At))
		}, Delivery{Queue: 10000}, log, m)
	}
	if err := os.MkdirAll(cfg.StateDir, 0o750); err != nil {
		return nil, fmt.Errorf("alerts: state dir: %w", err)
	}
	doc, aside, err := loadState(cfg.StateDir)
	if err != nil {
		return nil, fmt.Errorf("alerts: %w", err)
	}
	if aside != "" {
		log.Error("alert state was unreadable: set aside, starting without it", "file", aside)
	}
	e.restore(doc)
	e.started = clock()
	return e, nil
}

// checkRegistry refuses per-enterprise limits for unknown enterprises (a
// typo would silently lose a limit) and warns of tiers without limits.
func (e *Engine) checkRegistry() error {
	if e.reg == nil {
		return nil
	}
	for _, id := range sortedKeys(e.cfg.Enterprises) {
		if _, ok := e.reg.Lookup(id); !ok {
			return fmt.Errorf("alerts: enterprises: %q is not in the registry", id)
		}
	}
	warned := map[string]bool{}
	for i := range e.reg.Enterprises {
		t := e.reg.Enterprises[i].Tier
		if _, ok := e.cfg.Tiers[t]; !ok && !warned[t] {
			warned[t] = true
			e.log.Warn("registry tier has no limits in the alert config; its enterprises get no tier alerts", "tier", t)
		}
	}
	return nil
}

func (e *Engine) restore(doc *stateDoc) {
	for _, a := range doc.Alerts {
		if a != nil && (a.State == StatePending || a.State == StateFiring) {
			e.alerts[a.Fingerprint] = a
		}
	}
	for _, m := range doc.Meters {
		if m != nil {
			e.meterMap(m.Enterprise)[m.Meter] = m
		}
	}
	for _, t := range doc.Events {
		if t != nil {
			e.events[fingerprint(t.Rule, t.Enterprise, t.Meter)] = t
		}
	}
}

func (e *Engine) meterMap(enterprise string) map[string]*meterTrack {
	ms := e.meters[enterprise]
	if ms == nil {
		ms = map[string]*meterTrack{}
		e.meters[enterprise] = ms
	}
	return ms
}

// Run evaluates every cfg.Interval and delivers notifications until ctx is
// done; then it saves the state and gives the notifiers a few seconds to
// deliver what is queued.
func (e *Engine) Run(ctx context.Context) error {
	e.mu.Lock()
	e.started = e.clock()
	e.mu.Unlock()
	wait := e.startWorkers(ctx)
	t := time.NewTicker(e.cfg.Interval)
	defer t.Stop()
	e.evaluate(ctx)
	for {
		select {
		case <-ctx.Done():
			err := e.save()
			wait()
			return err
		case <-t.C:
			e.evaluate(ctx)
		case <-e.saveKick:
			_ = e.save() // logged; retried on the next change or tick
		}
	}
}

// startWorkers runs one delivery worker per notifier; the returned func
// waits for them (they stop with ctx, after a short flush) and closes the
// notifiers.
func (e *Engine) startWorkers(ctx context.Context) (wait func()) {
	var wg sync.WaitGroup
	outs := e.outs
	if e.points != nil {
		outs = append(slices.Clone(outs), e.points)
	}
	for _, o := range outs {
		wg.Go(func() { o.run(ctx) })
	}
	return func() {
		wg.Wait()
		for _, c := range e.closers {
			if err := c.Close(); err != nil {
				e.log.Warn("closing a notifier", "err", err)
			}
		}
	}
}

// windowTotals is one window's rollup sums at one evaluation.
type windowTotals struct {
	p      carbon.Period
	totals map[string]carbon.Totals
	err    error
}

// evaluate runs every rule once.
func (e *Engine) evaluate(ctx context.Context) {
	e.evalMu.Lock()
	defer e.evalMu.Unlock()
	now := e.clock()
	windows := map[string]*windowTotals{}
	// A query that hangs must not hold up the next tick's silence checks.
	qctx, cancel := context.WithTimeout(ctx, e.cfg.Interval)
	defer cancel()
	for _, r := range e.cfg.Rules {
		if r.Kind != KindIntensity || windows[r.Window] != nil {
			continue
		}
		w := &windowTotals{p: windowPeriod(r.Window, now, e.cfg.loc)}
		w.totals, w.err = e.src.Totals(qctx, w.p.Start, w.p.End)
		windows[r.Window] = w
	}
	if ctx.Err() != nil {
		return // stopping: a cancelled query says nothing about the alerts
	}

	e.mu.Lock()
	seen := map[string]bool{}
	hold := map[string]bool{} // rules whose unobserved alerts keep their state this time
	var trs []transition
	apply := func(o observation) {
		fp := o.fingerprint()
		seen[fp] = true
		a, t := step(e.alerts[fp], &o, now)
		if a == nil {
			delete(e.alerts, fp)
		} else {
			e.alerts[fp] = a
		}
		trs = append(trs, t...)
	}
	for _, r := range e.cfg.Rules {
		switch r.Kind {
		case KindIntensity:
			w := windows[r.Window]
			if w.err != nil {
				hold[r.Name] = true
				e.m.evalErrors.WithLabelValues(r.Name).Inc()
				e.logThrottled(now, "cannot read the rollups; intensity alerts keep their state", "rule", r.Name, "err", w.err)
				continue
			}
			for i := range e.reg.Enterprises {
				ent := &e.reg.Enterprises[i]
				if !e.cfg.Shard.Owns(ent.ID) {
					continue
				}
				limit, ok := e.cfg.LimitFor(r.Limit, ent.ID, ent.Tier, ent.Industry)
				if !ok {
					continue
				}
				if o, ok := intensityObservation(r, ent, w.totals[ent.ID], w.p, limit); ok {
					apply(o)
				}
			}
		case KindLive:
			// Just after a start the latest values are not known yet: no
			// reading is not yet "no data".
			if now.Sub(e.started) < r.MaxAge {
				hold[r.Name] = true
			}
			for _, ent := range sortedKeys(e.live) {
				e.observeLive(r, ent, now, apply)
			}
		case KindSilence:
			for _, ent := range sortedKeys(e.meters) {
				e.observeSilence(r, ent, now, apply)
			}
		case KindQuality:
			for _, fp := range sortedKeys(e.events) {
				t := e.events[fp]
				if t.Rule != r.Name {
					continue
				}
				o := qualityObservation(r, t, now)
				if len(t.TS) == 0 && e.alerts[fp] == nil {
					delete(e.events, fp)
					continue
				}
				apply(o)
			}
		}
	}
	trs = append(trs, e.dropUnobserved(now, seen, hold)...)
	e.prune(now)
	e.dispatch(trs, now)
	e.resend(now)
	e.updateGauges()
	e.dirty = true // trackers change on every batch; a tick is when they are saved
	e.mu.Unlock()
	_ = e.save()
}

// dropUnobserved ends the alerts no rule observed: the rule was removed, its
// subject has no data any more, its limit was removed, or the enterprise
// moved to another shard (dropped without a notification: its new owner
// takes it over).
func (e *Engine) dropUnobserved(now time.Time, seen, hold map[string]bool) []transition {
	var trs []transition
	for _, fp := range sortedKeys(e.alerts) {
		a := e.alerts[fp]
		if seen[fp] || hold[a.Rule] {
			continue
		}
		delete(e.alerts, fp)
		if !e.cfg.Shard.Owns(a.Enterprise) {
			e.log.Info("alert handed over to the enterprise's shard", "alert", fp, "state", a.State)
			continue
		}
		a.Annotations = maps.Clone(a.Annotations)
		if a.Annotations == nil {
			a.Annotations = map[string]string{}
		}
		a.Annotations["ended_because"] = "no longer evaluated (rule, limit or data gone)"
		if a.State == StatePending {
			a.State, a.EndsAt = StateInactive, now
			trs = append(trs, transition{alert: a.clone()})
			continue
		}
		trs = append(trs, resolve(a, now))
	}
	return trs
}

// prune forgets live values no rule would read any more.
func (e *Engine) prune(now time.Time) {
	var maxAge time.Duration
	for _, r := range e.cfg.Rules {
		if r.Kind == KindLive {
			maxAge = max(maxAge, r.MaxAge)
		}
	}
	cut := now.Add(-maxAge).UnixMilli()
	for ent, vs := range e.live {
		for k, v := range vs {
			if v.TS < cut {
				delete(vs, k)
			}
		}
		if len(vs) == 0 {
			delete(e.live, ent)
		}
	}
}

func (e *Engine) observeLive(r *Rule, ent string, now time.Time, apply func(observation)) {
	if !e.cfg.Shard.Owns(ent) {
		return
	}
	var tier, industry string
	if e.reg != nil {
		if en, ok := e.reg.Lookup(ent); ok {
			tier, industry = en.Tier, en.Industry
		}
	}
	limit, ok := 0.0, true
	if r.Threshold != nil {
		limit = *r.Threshold
	} else {
		limit, ok = e.cfg.LimitFor(r.Limit, ent, tier, industry)
	}
	if !ok {
		return
	}
	if o, ok := liveObservation(r, ent, e.live[ent], limit, now); ok {
		if tier != "" {
			o.labels["tier"], o.annotations["tier"] = tier, tier
		}
		apply(o)
	}
}

// observeSilence observes the enterprise's meters, or its gateways: a
// gateway is silent when none of its meters reports, measured against the
// slowest meter's pace (a fast meter failing alone is a meter alert).
func (e *Engine) observeSilence(r *Rule, ent string, now time.Time, apply func(observation)) {
	ms := e.meters[ent]
	if !e.cfg.Shard.Owns(ent) {
		return
	}
	type gw struct {
		last     int64
		interval time.Duration
		unknown  bool // a recent meter's pace is not known yet
	}
	gws := map[string]*gw{}
	for _, id := range sortedKeys(ms) {
		m := ms[id]
		silent := now.Sub(time.UnixMilli(m.Last))
		if silent > r.ForgetAfter {
			delete(ms, id) // decommissioned, most likely; its alert ends as unobserved
			continue
		}
		if r.Target == "meter" {
			if o, ok := silenceObservation(r, ent, m.Meter, m.Last, m.interval(), e.started, now); ok {
				apply(o)
			}
			continue
		}
		g := gws[m.Gateway]
		if g == nil {
			g = &gw{}
			gws[m.Gateway] = g
		}
		g.last = max(g.last, m.Last)
		iv := m.interval()
		g.interval = max(g.interval, iv)
		// A new meter may be the slowest: judge the gateway once its pace is
		// known. One that spoke once and went quiet for an hour (no meter
		// polls that slowly) no longer holds the gateway's judgment back.
		if iv == 0 && silent < time.Hour {
			g.unknown = true
		}
	}
	if len(ms) == 0 {
		delete(e.meters, ent)
	}
	for _, id := range sortedKeys(gws) {
		g := gws[id]
		if g.unknown && r.Interval == 0 {
			continue
		}
		if o, ok := silenceObservation(r, ent, id, g.last, g.interval, e.started, now); ok {
			apply(o)
		}
	}
}

// ObserveReadings takes a batch of one gateway's readings once the collector
// has made it durable: it records the meters' last readings and pace, keeps
// the latest values live rules read, and evaluates the live and silence
// rules of the enterprises in the batch. It does not block on delivery.
func (e *Engine) ObserveReadings(gateway string, rs []wire.Reading) {
	now := e.clock()
	e.mu.Lock()
	touched := map[string]bool{}
	for i := range rs {
		r := &rs[i]
		if !e.cfg.Shard.Owns(r.Enterprise) {
			continue
		}
		touched[r.Enterprise] = true
		if e.tracking {
			ms := e.meterMap(r.Enterprise)
			m := ms[r.Meter]
			if m == nil {
				m = &meterTrack{Enterprise: r.Enterprise, Meter: r.Meter}
				ms[r.Meter] = m
			}
			m.Gateway = gateway
			m.see(r.TS)
		}
		if e.liveQty[r.Quantity] {
			vs := e.live[r.Enterprise]
			if vs == nil {
				vs = map[liveKey]*liveValue{}
				e.live[r.Enterprise] = vs
			}
			k := liveKey{r.Enterprise, r.Meter, r.Energy, r.Quantity}
			if v := vs[k]; v == nil || r.TS >= v.TS {
				vs[k] = &liveValue{Enterprise: r.Enterprise, Meter: r.Meter, Energy: r.Energy, Quantity: r.Quantity,
					Unit: r.Unit, Value: r.Value, TS: r.TS}
			}
		}
	}
	var trs []transition
	apply := func(o observation) {
		fp := o.fingerprint()
		a, t := step(e.alerts[fp], &o, now)
		if a == nil {
			delete(e.alerts, fp)
		} else {
			e.alerts[fp] = a
		}
		trs = append(trs, t...)
	}
	for _, ent := range sortedKeys(touched) {
		for _, r := range e.cfg.Rules {
			switch r.Kind {
			case KindLive:
				e.observeLive(r, ent, now, apply)
			case KindSilence:
				e.observeSilence(r, ent, now, apply)
			}
		}
	}
	e.finish(trs, now)
}

// ObserveEvents takes a batch of data-quality events (reset, implausible,
// glitch, …) and evaluates the quality rules they concern. A replayed event
// (same meter, kind and time) is counted once.
func (e *Engine) ObserveEvents(gateway string, evs []wire.Event) {
	now := e.clock()
	e.mu.Lock()
	touched := map[string]*Rule{}
	for i := range evs {
		ev := &evs[i]
		if !e.cfg.Shard.Owns(ev.Enterprise) {
			continue
		}
		for _, r := range e.cfg.Rules {
			if r.Kind != KindQuality || !slices.Contains(r.Events, ev.Kind) || ev.TS < now.Add(-r.Within).UnixMilli() {
				continue
			}
			fp := fingerprint(r.Name, ev.Enterprise, ev.Meter)
			t := e.events[fp]
			if t == nil {
				t = &eventTrack{Rule: r.Name, Enterprise: ev.Enterprise, Meter: ev.Meter}
				e.events[fp] = t
			}
			if t.add(ev) {
				touched[fp] = r
			}
		}
	}
	var trs []transition
	for _, fp := range sortedKeys(touched) {
		o := qualityObservation(touched[fp], e.events[fp], now)
		a, t := step(e.alerts[fp], &o, now)
		if a == nil {
			delete(e.alerts, fp)
		} else {
			e.alerts[fp] = a
		}
		trs = append(trs, t...)
	}
	e.finish(trs, now)
}

// add inserts an event in time order; false if it was already there.
func (t *eventTrack) add(ev *wire.Event) bool {
	i, found := slices.BinarySearch(t.TS, ev.TS)
	for j := i; found && j < len(t.TS) && t.TS[j] == ev.TS; j++ {
		if t.Kinds[j] == ev.Kind {
			return false
		}
	}
	t.TS = slices.Insert(t.TS, i, ev.TS)
	t.Kinds = slices.Insert(t.Kinds, i, ev.Kind)
	if len(t.TS) > maxEvents {
		t.TS, t.Kinds = t.TS[len(t.TS)-maxEvents:], t.Kinds[len(t.Kinds)-maxEvents:]
	}
	t.LastMsg = fmt.Sprintf("%s at %s: %s", ev.Kind, time.UnixMilli(ev.TS).UTC().Format(time.RFC3339), ev.Message)
	return true
}

// finish delivers the transitions of a stream evaluation and unlocks; the
// state is saved by Run's loop, off the collector's path.
func (e *Engine) finish(trs []transition, now time.Time) {
	e.dispatch(trs, now)
	if len(trs) > 0 {
		e.updateGauges()
		e.dirty = true
	}
	e.mu.Unlock()
	if len(trs) > 0 {
		select {
		case e.saveKick <- struct{}{}:
		default:
		}
	}
}

// dispatch queues each transition to the notifiers (firing, resolved and
// repeats) and the alert measurement (every state change). Call with e.mu.
func (e *Engine) dispatch(trs []transition, now time.Time) {
	for _, t := range trs {
		a := t.alert
		if e.points != nil && !t.repeat {
			e.points.push(&Notification{Alert: a, At: now})
		}
		switch {
		case a.State == StateFiring && !t.repeat:
			e.log.Info("alert firing", "alert", a.Fingerprint, "value", a.Value, "limit", a.Limit, "unit", a.Unit)
		case a.State == StateResolved:
			e.log.Info("alert resolved", "alert", a.Fingerprint, "value", a.Value, "limit", a.Limit, "unit", a.Unit)
		default:
			e.log.Debug("alert state", "alert", a.Fingerprint, "state", a.State, "repeat", t.repeat, "value", a.Value)
		}
		if a.State != StateFiring && a.State != StateResolved {
			continue
		}
		n := &Notification{Alert: a, Repeat: t.repeat, Firing: e.firingOf(a.Enterprise), At: now}
		for _, o := range e.outs {
			o.push(n)
		}
	}
}

// resend queues every firing alert to the notifiers that need it again.
func (e *Engine) resend(now time.Time) {
	for o, every := range e.resends {
		// A tenth of a tick of slack: a resend due every tick must not slip
		// to every other tick because the ticker came a hair early.
		if last, ok := e.lastResend[o]; ok && now.Sub(last)+e.cfg.Interval/10 < every {
			continue
		}
		e.lastResend[o] = now
		for _, fp := range sortedKeys(e.alerts) {
			if a := e.alerts[fp]; a.State == StateFiring {
				o.push(&Notification{Alert: a.clone(), Repeat: true, Firing: e.firingOf(a.Enterprise), At: now})
			}
		}
	}
}

func (e *Engine) firingOf(enterprise string) []Alert {
	var out []Alert
	for _, fp := range sortedKeys(e.alerts) {
		if a := e.alerts[fp]; a.Enterprise == enterprise && a.State == StateFiring {
			out = append(out, a.clone())
		}
	}
	return out
}

func (e *Engine) updateGauges() {
	n := map[string]int{}
	for _, a := range e.alerts {
		if a.State == StateFiring {
			n[a.Rule]++
		}
	}
	for _, r := range e.cfg.Rules {
		e.m.firing.WithLabelValues(r.Name, r.Severity).Set(float64(n[r.Name]))
	}
}

// logThrottled logs a repeated failure once, then at most every 5 minutes.
func (e *Engine) logThrottled(now time.Time, msg string, args ...any) {
	if !e.lastErrLog.IsZero() && now.Sub(e.lastErrLog) < 5*time.Minute && now.After(e.lastErrLog) {
		return
	}
	e.lastErrLog = now
	e.log.Warn(msg, args...)
}

// save writes the state if it changed.
func (e *Engine) save() error {
	e.saveMu.Lock()
	defer e.saveMu.Unlock()
	e.mu.Lock()
	if !e.dirty {
		e.mu.Unlock()
		return nil
	}
	doc := stateDoc{Version: stateVersion, SavedAt: e.clock().UTC()}
	for _, fp := range sortedKeys(e.alerts) {
		doc.Alerts = append(doc.Alerts, e.alerts[fp])
	}
	for _, ent := range sortedKeys(e.meters) {
		for _, id := range sortedKeys(e.meters[ent]) {
			doc.Meters = append(doc.Meters, e.meters[ent][id])
		}
	}
	for _, fp := range sortedKeys(e.events) {
		doc.Events = append(doc.Events, e.events[fp])
	}
	data, err := json.Marshal(&doc)
	e.dirty = false
	e.mu.Unlock()
	if err == nil {
		err = writeState(e.cfg.StateDir, data)
	}
	if err != nil {
		e.mu.Lock()
		e.dirty = true
		e.mu.Unlock()
		e.log.Error("cannot save the alert state", "dir", e.cfg.StateDir, "err", err)
		return fmt.Errorf("save alert state: %w", err)
	}
	return nil
}

// Active returns the pending and firing alerts, by enterprise, rule and
// subject.
func (e *Engine) Active() []Alert {
	e.mu.Lock()
	out := make([]Alert, 0, len(e.alerts))
	for _, a := range e.alerts {
		out = append(out, a.clone())
	}
	e.mu.Unlock()
	slices.SortFunc(out, func(a, b Alert) int {
		return cmp.Or(cmp.Compare(a.Enterprise, b.Enterprise), cmp.Compare(a.Rule, b.Rule), cmp.Compare(a.Subject, b.Subject))
	})
	return out
}

// alertPoint is one state change in the alert measurement. The subject tag
// (meter or gateway) keeps two meters' changes at the same instant apart.
func alertPoint(a *Alert, at time.Time) *write.Point {
	t := at
	switch a.State {
	case StatePending:
		t = a.ActiveAt
	case StateFiring:
		t = a.StartsAt
	case StateResolved, StateInactive:
		t = a.EndsAt
	}
	tags := map[string]string{"rule": a.Rule, "enterprise": a.Enterprise, "severity": a.Severity, "state": a.State}
	if a.Subject != "" {
		tags["subject"] = a.Subject
	}
	msg := a.Annotations["summary"]
	if why := a.Annotations["ended_because"]; why != "" {
		msg += " — " + why
	}
	return write.NewPoint("alert", tags, map[string]any{"value": a.Value, "limit": a.Limit, "message": msg}, t)
}
