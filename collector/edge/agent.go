// Package edge is the edge agent's runtime: it polls the configured meters,
// turns consecutive totals into interval consumption, queues everything on
// disk, and publishes it to the park's broker.
package edge

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/parkcarbon/parkcarbon/internal/queue"
)

// Agent is one gateway's edge agent.
type Agent struct {
	cfg     *Config
	log     *slog.Logger
	store   *queue.Store
	rec     *recorder
	buses   []*bus
	sensors []*sensorSub
	uplink  *uplink
}

// New opens the disk queue and builds the agent. It dials nothing: a dead
// meter or broker must not stop the agent from starting.
func New(cfg *Config, log *slog.Logger, reg prometheus.Registerer) (*Agent, error) {
	if err := os.MkdirAll(cfg.Buffer.Dir, 0o750); err != nil {
		return nil, fmt.Errorf("buffer dir: %w", err)
	}
	path := filepath.Join(cfg.Buffer.Dir, "queue.db")
	store, err := queue.Open(path, queue.Options{MaxBytes: int64(cfg.Buffer.MaxSize), NoSync: cfg.Buffer.Sync == "none", Items: recordItems})
	if err != nil {
		return nil, err
	}
	st := store.Stats()
	if st.Reopened {
		log.Error("disk queue was unreadable: set aside and started afresh; meters start new baselines", "path", path)
	}
	log.Info("disk queue open", "path", path, "records", st.Records, "readings_and_events", st.Items, "bytes", st.Bytes)
	states, err := store.State()
	if err != nil {
		store.Close()
		return nil, err
	}
	m := newMetrics(reg)
	a := &Agent{cfg: cfg, log: log, store: store}
	registerQueue(reg, store, a.oldestAge)
	rec := newRecorder(store, states, log, m)
	rec.maxItems = cfg.Uplink.BatchSize // a record fits an envelope
	a.rec = rec
	for _, mc := range cfg.Modbus {
		b, err := newBus(mc, cfg.userProfiles, rec, log, m)
		if err != nil {
			store.Close()
			return nil, fmt.Errorf("endpoint %s: %w", mc.Name, err)
		}
		a.buses = append(a.buses, b)
	}
	for _, sc := range cfg.Sensors {
		sub, err := newSensorSub(sc, rec, log, m)
		if err != nil {
			store.Close()
			return nil, err
		}
		a.sensors = append(a.sensors, sub)
	}
	if a.uplink, err = newUplink(cfg.Uplink, cfg.Gateway, store, log, m); err != nil {
		store.Close()
		return nil, err
	}
	return a, nil
}

func (a *Agent) oldestAge() float64 {
	rec, ok, err := a.store.Oldest()
	if err != nil || !ok {
		return 0
	}
	ts, err := recordTS(rec.Data)
	if err != nil {
		return 0
	}
	return max(0, time.Since(time.UnixMilli(ts)).Seconds())
}

// drainTimeout is how long a stopping agent keeps publishing what is queued;
// whatever is left stays on disk for the next start.
const drainTimeout = 3 * time.Second

// Run polls and publishes until ctx is done, then stops the buses, commits
// their last polls, publishes for at most drainTimeout, and closes the queue.
func (a *Agent) Run(ctx context.Context) error {
	defer a.store.Close()
	upCtx, upCancel := context.WithCancel(context.WithoutCancel(ctx))
	defer upCancel()
	recCtx, recStop := context.WithCancel(context.WithoutCancel(ctx))
	defer recStop()
	var buses, up, rec sync.WaitGroup
	var upErr error
	// The uplink drains until the last group is committed and published.
	flushed := make(chan struct{})
	up.Go(func() { upErr = a.uplink.run(upCtx, flushed) })
	rec.Go(func() { a.rec.run(recCtx) })
	for _, b := range a.buses {
		buses.Go(func() { b.run(ctx) })
	}
	for _, s := range a.sensors {
		buses.Go(func() { s.run(ctx) })
	}
	a.log.Info("edge agent running", "gateway", a.cfg.Gateway, "endpoints", len(a.buses), "sensor_subscriptions", len(a.sensors))
	buses.Wait()
	recStop()
	rec.Wait()
	close(flushed)
	timer := time.AfterFunc(drainTimeout, upCancel)
	defer timer.Stop()
	up.Wait()
	return upErr
}
