package edge

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/parkcarbon/parkcarbon/carbon"
	"github.com/parkcarbon/parkcarbon/devices/modbus"
	"github.com/parkcarbon/parkcarbon/devices/profile"
	"github.com/parkcarbon/parkcarbon/internal/wire"
)

// device is one configured meter with its profile and read plan.
type device struct {
	cfg     DeviceConfig
	profile *profile.Profile
	quirks  profile.Quirks
	plan    []modbus.Request
	level   int    // planBridged, planContiguous or planPerRegister
	cum     string // the energy's cumulative quantity
	spec    carbon.CounterSpec
	next    time.Time
	up      bool
	polled  bool             // at least one poll done: the first failure is always logged
	fails   int              // consecutive failed polls
	behind  bool             // the wall clock is behind lastTS (a backward step)
	lastTS  int64            // ts of the last queued poll, epoch ms
	up1     prometheus.Gauge // deviceUp of the meter
}

// bus polls the devices of one endpoint, one request at a time: a Modbus
// endpoint (and the RS-485 bus behind a gateway) answers one master request
// at a time, and a slow endpoint only delays its own devices.
type bus struct {
	cfg     ModbusConfig
	conn    modbus.Conn
	devices []*device
	rec     *recorder
	log     *slog.Logger
	m       *metrics
	now     func() time.Time
	rng     *rand.Rand
	// The endpoint's series, looked up once rather than at every poll.
	polls, requests, queueErrors prometheus.Counter
	pollDuration                 prometheus.Observer
	// readings is reused by each poll (the recorder does not keep it): one
	// per bus, as a bus polls one device at a time; so are the reader's
	// buffers and the poll's context.
	readings []wire.Reading
	reader   modbus.Reader
	pollCtx  pollContext
}

// pollContext is a bus's context with the deadline of the running poll: the
// Modbus connection bounds each request by ctx.Deadline(), so it does what
// context.WithTimeout did without a context, a timer and a registration with
// the parent per poll. Done and Err are the parent's: nothing in the poll
// path waits past the deadline (the connection's pauses check it first).
type pollContext struct {
	context.Context
	deadline time.Time
}

func (c *pollContext) Deadline() (time.Time, bool) { return c.deadline, true }

// newBus builds the bus of one endpoint; it dials nothing yet.
func newBus(cfg ModbusConfig, user map[string]*profile.Profile, rec *recorder, log *slog.Logger, m *metrics) (*bus, error) {
	b := &bus{cfg: cfg, rec: rec, log: log.With("endpoint", cfg.Name), m: m, now: time.Now,
		rng:   rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 0)),
		polls: m.polls.WithLabelValues(cfg.Name), requests: m.requests.WithLabelValues(cfg.Name),
		queueErrors: m.pollErrors.WithLabelValues(cfg.Name, "queue"), pollDuration: m.pollDuration.WithLabelValues(cfg.Name)}
	opts := modbus.Options{Timeout: cfg.Timeout, PauseBetweenRequests: cfg.PauseBetweenRequests}
	// Devices of one model share their profile and, while identical, their
	// read plan (read-only; a device that steps down gets its own): 20
	// copies of a 20-register plan per bus would be live memory for nothing.
	profiles := map[string]*profile.Profile{}
	var plans [][]modbus.Request
	for _, dc := range cfg.Devices {
		p := profiles[dc.Profile]
		if p == nil {
			var err error
			if p, err = profile.Lookup(dc.Profile, user); err != nil {
				return nil, fmt.Errorf("meter %s: %w", dc.Meter, err)
			}
			profiles[dc.Profile] = p
		}
		cum, _ := wire.CumulativeQuantity(p.Energy)
		spec := counterSpec(p, cum, dc.MaxRate)
		st := rec.meter(dc.Meter, spec)
		d := &device{cfg: dc, profile: p, quirks: dc.quirks(p.Quirks), cum: cum, spec: spec,
			lastTS: max(st.counter.LastTS, st.counter.SuspectTS), up1: m.deviceUp.WithLabelValues(dc.Meter)}
		d.replan()
		if i := slices.IndexFunc(plans, func(pl []modbus.Request) bool { return reflect.DeepEqual(pl, d.plan) }); i >= 0 {
			d.plan = plans[i]
		} else {
			plans = append(plans, d.plan)
		}
		b.devices = append(b.devices, d)
		// One connection serves every device of the endpoint: the strictest
		// device's pauses apply to all.
		opts.PauseAfterConnect = max(opts.PauseAfterConnect, d.quirks.PauseAfterConnect)
		opts.PauseBetweenRequests = max(opts.PauseBetweenRequests, d.quirks.PauseBetweenRequests)
	}
	conn, err := modbus.DialWith(cfg.URL, opts)
	if err != nil {
		return nil, err
	}
	b.conn = conn
	return b, nil
}

// nextSlot is the first multiple of interval after t: polls line up with the
// wall clock (10s polls at :00, :10, …).
func nextSlot(t time.Time, interval time.Duration) time.Time {
	return t.Truncate(interval).Add(interval)
}

// Backoff of a failing device: after suspendAfter failed polls in a row it is
// polled only every interval × 2^k (k growing with each failure, up to
// maxBackoff, with ±20 % jitter), so that a dead unit's timeouts do not eat
// into the schedule of the healthy ones on the same bus.
const (
	suspendAfter = 2
	maxBackoff   = 2 * time.Minute
)

func (b *bus) schedule(d *device) {
	now := b.now()
	if d.fails < suspendAfter {
		d.next = nextSlot(now, d.cfg.Interval)
		return
	}
	wait := time.Duration(float64(d.cfg.Interval) * math.Pow(2, float64(d.fails-suspendAfter+1)))
	wait = min(wait, maxBackoff)
	wait = time.Duration(float64(wait) * (0.8 + 0.4*b.rng.Float64()))
	d.next = nextSlot(now.Add(wait), d.cfg.Interval)
}

// run polls until ctx is done.
func (b *bus) run(ctx context.Context) {
	defer b.conn.Close()
	now := b.now()
	for _, d := range b.devices {
		d.next = nextSlot(now, d.cfg.Interval)
	}
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		d := b.devices[0]
		for _, c := range b.devices[1:] {
			if c.next.Before(d.next) {
				d = c
			}
		}
		if wait := time.Until(d.next); wait > 0 {
			timer.Reset(wait)
			select {
			case <-ctx.Done():
				return
			case <-timer.C:
			}
		} else if ctx.Err() != nil {
			// Devices due together (the same slot) are polled back to back:
			// no timer and no wake-up for each.
			return
		}
		b.poll(ctx, d)
		// A poll that overran its slot skips the missed slots rather than
		// bursting to catch up.
		b.schedule(d)
	}
}

// poll reads one device and queues its readings. A device that fails is
// logged, counted and retried on its schedule.
func (b *bus) poll(ctx context.Context, d *device) {
	start := time.Now()
	b.pollCtx = pollContext{Context: ctx, deadline: start.Add(d.cfg.Interval)}
	if dl, ok := ctx.Deadline(); ok && dl.Before(b.pollCtx.deadline) {
		b.pollCtx.deadline = dl
	}
	b.polls.Inc()
	b.requests.Add(float64(len(d.plan)))
	samples, err := b.read(&b.pollCtx, d)
	if d.quirks.CloseAfterCycle {
		// The device serves one master at a time: let the others in.
		_ = b.conn.Disconnect()
	}
	// A reading's ts is when its response arrived, at ms precision, and
	// strictly after the meter's previous one: a gateway clock stepping back
	// must not overwrite stored points of the same series and time.
	ts := b.now().UnixMilli()
	if ts <= d.lastTS && !d.behind {
		// Report the step once; while the clock catches up, readings are
		// stamped just after the meter's last one.
		d.behind = true
		b.m.clockSteps.Inc()
		b.m.clockSkew.Set(float64(ts-d.lastTS) / 1000)
		b.log.Warn("clock stepped back; keeping the meter's timestamps increasing", "meter", d.cfg.Meter, "by_ms", d.lastTS-ts)
		if err == nil {
			_ = b.rec.event(wire.Event{Meter: d.cfg.Meter, Enterprise: d.cfg.Enterprise, Kind: "clock_step",
				Value: float64(ts-d.lastTS) / 1000, TS: d.lastTS + 1,
				Message: "the gateway clock is behind this meter's last reading; readings are stamped just after it until the clock catches up"})
		}
	}
	if ts <= d.lastTS {
		ts = d.lastTS + 1
	} else {
		d.behind = false
	}
	b.pollDuration.Observe(time.Since(start).Seconds())
	if err != nil {
		if ctx.Err() != nil {
			return // stopping, not a device fault
		}
		b.m.pollErrors.WithLabelValues(b.cfg.Name, modbus.ErrorKind(err)).Inc()
		d.up1.Set(0)
		d.fails++
		// Log the change to down, not every failed poll of a dead meter:
		// the counter and the gauge carry the rest.
		if d.up || !d.polled {
			b.log.Warn("poll failed", "meter", d.cfg.Meter, "unit", d.cfg.Unit, "err", err)
		} else {
			b.log.Debug("poll failed", "meter", d.cfg.Meter, "unit", d.cfg.Unit, "fails", d.fails, "err", err)
		}
		d.up, d.polled = false, true
		return
	}
	if !d.up {
		b.log.Info("device up", "meter", d.cfg.Meter, "unit", d.cfg.Unit, "after_failures", d.fails)
	}
	d.up, d.polled, d.fails = true, true, 0
	d.up1.Set(1)
	if err := b.commit(d, samples, ts); err != nil {
		b.queueErrors.Inc()
		b.log.Error("cannot queue readings", "meter", d.cfg.Meter, "err", err)
		return
	}
	d.lastTS = ts
}

// commit hands the poll's readings to the recorder, which commits them with
// the next group (a failed commit is counted there, in queueErrors).
func (b *bus) commit(d *device, samples []modbus.Sample, ts int64) error {
	readings := b.readings[:0]
	for _, s := range samples {
		if math.IsNaN(s.Value) || math.IsInf(s.Value, 0) {
			b.log.Debug("value is not finite; dropped", "meter", d.cfg.Meter, "quantity", s.Quantity, "raw", fmt.Sprintf("%X", s.Raw))
		}
		readings = append(readings, wire.Reading{
			Meter: d.cfg.Meter, Enterprise: d.cfg.Enterprise, Energy: d.profile.Energy,
			Quantity: s.Quantity, Value: s.Value, Unit: s.Unit, TS: ts, Quality: "good",
		})
	}
	b.readings = readings
	return b.rec.record(d.cfg.Meter, d.spec, d.cum, d.cfg.Swap, readings, b.queueErrors)
}
