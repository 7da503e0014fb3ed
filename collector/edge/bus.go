package edge

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"time"

	"github.com/parkcarbon/parkcarbon/carbon"
	"github.com/parkcarbon/parkcarbon/devices/modbus"
	"github.com/parkcarbon/parkcarbon/devices/profile"
	"github.com/parkcarbon/parkcarbon/internal/wire"
)

// maxGap is how many unused registers a read may bridge to save a request.
const maxGap = 64

// device is one configured meter with its profile and read plan.
type device struct {
	cfg     DeviceConfig
	profile *profile.Profile
	plan    []modbus.Request
	level   int    // planBridged, planContiguous or planPerRegister
	cum     string // the energy's cumulative quantity
	spec    carbon.CounterSpec
	next    time.Time
	up      bool
	polled  bool  // at least one poll done: the first failure is always logged
	lastTS  int64 // ts of the last queued poll, epoch ms
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
}

// newBus builds the bus of one endpoint.
func newBus(cfg ModbusConfig, rec *recorder, log *slog.Logger, m *metrics) (*bus, error) {
	u, err := ParseModbusURL(cfg.URL)
	if err != nil {
		return nil, err
	}
	b := &bus{
		cfg: cfg, conn: modbus.DialTCP(u.Addr, cfg.Timeout), rec: rec,
		log: log.With("endpoint", cfg.Name), m: m, now: time.Now,
	}
	for _, dc := range cfg.Devices {
		p, err := profile.Builtin(dc.Profile)
		if err != nil {
			return nil, fmt.Errorf("meter %s: %w", dc.Meter, err)
		}
		cum, _ := wire.CumulativeQuantity(p.Energy)
		spec := counterSpec(p, cum, dc.MaxRate)
		st := rec.meter(dc.Meter, spec)
		d := &device{cfg: dc, profile: p, cum: cum, spec: spec, lastTS: max(st.counter.LastTS, st.counter.SuspectTS)}
		d.replan()
		b.devices = append(b.devices, d)
	}
	return b, nil
}

// nextSlot is the first multiple of interval after t: polls line up with the
// wall clock (10s polls at :00, :10, …) so that meters sampled by different
// gateways share timestamps' cadence.
func nextSlot(t time.Time, interval time.Duration) time.Time {
	return t.Truncate(interval).Add(interval)
}

// run polls until ctx is done.
func (b *bus) run(ctx context.Context) {
	defer b.conn.Close()
	now := b.now()
	for _, d := range b.devices {
		d.next = nextSlot(now, d.cfg.Interval)
	}
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		d := b.devices[0]
		for _, c := range b.devices[1:] {
			if c.next.Before(d.next) {
				d = c
			}
		}
		timer.Reset(time.Until(d.next))
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		b.poll(ctx, d)
		// A poll that overran its slot skips the missed slots rather than
		// bursting to catch up.
		d.next = nextSlot(b.now(), d.cfg.Interval)
	}
}

// poll reads one device and queues its readings. A device that fails is
// logged, counted and retried on its next slot.
func (b *bus) poll(ctx context.Context, d *device) {
	pollCtx, cancel := context.WithTimeout(ctx, d.cfg.Interval)
	defer cancel()
	start := time.Now()
	b.m.polls.WithLabelValues(b.cfg.Name).Inc()
	samples, err := b.read(pollCtx, d)
	// A reading's ts is when its response arrived, at ms precision, and
	// strictly after the meter's previous one: a gateway clock stepping back
	// must not overwrite stored points of the same series and time.
	ts := b.now().UnixMilli()
	if ts <= d.lastTS {
		b.m.clockSteps.Inc()
		b.log.Warn("clock stepped back; keeping the meter's timestamps increasing", "meter", d.cfg.Meter, "by_ms", d.lastTS-ts)
		ts = d.lastTS + 1
	}
	b.m.pollDuration.WithLabelValues(b.cfg.Name).Observe(time.Since(start).Seconds())
	if err != nil {
		b.m.pollErrors.WithLabelValues(b.cfg.Name).Inc()
		b.m.deviceUp.WithLabelValues(d.cfg.Meter).Set(0)
		// Log the change to down, not every failed poll of a dead meter:
		// the counter and the gauge carry the rest.
		if d.up || !d.polled {
			b.log.Warn("poll failed", "meter", d.cfg.Meter, "unit", d.cfg.Unit, "err", err)
		} else {
			b.log.Debug("poll failed", "meter", d.cfg.Meter, "unit", d.cfg.Unit, "err", err)
		}
		d.up, d.polled = false, true
		return
	}
	if !d.up {
		b.log.Info("device up", "meter", d.cfg.Meter, "unit", d.cfg.Unit)
	}
	d.up, d.polled = true, true
	b.m.deviceUp.WithLabelValues(d.cfg.Meter).Set(1)
	if err := b.commit(d, samples, ts); err != nil {
		b.m.pollErrors.WithLabelValues(b.cfg.Name).Inc()
		b.log.Error("cannot queue readings", "meter", d.cfg.Meter, "err", err)
		return
	}
	d.lastTS = ts
}

// commit queues the poll's readings through the recorder.
func (b *bus) commit(d *device, samples []modbus.Sample, ts int64) error {
	readings := make([]wire.Reading, 0, len(samples))
	for _, s := range samples {
		if math.IsNaN(s.Value) || math.IsInf(s.Value, 0) {
			b.log.Debug("value is not finite; dropped", "meter", d.cfg.Meter, "quantity", s.Quantity, "raw", fmt.Sprintf("%X", s.Raw))
		}
		readings = append(readings, wire.Reading{
			Meter: d.cfg.Meter, Enterprise: d.cfg.Enterprise, Energy: d.profile.Energy,
			Quantity: s.Quantity, Value: s.Value, Unit: s.Unit, TS: ts, Quality: "good",
		})
	}
	return b.rec.record(d.cfg.Meter, d.spec, d.cum, d.cfg.Swap, readings)
}
