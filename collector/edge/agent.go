// Package edge is the edge agent's runtime: it polls the configured meters,
// turns consecutive totals into interval consumption, and publishes the
// readings to the park's broker.
package edge

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/parkcarbon/parkcarbon/internal/wire"
)

// Agent is one gateway's edge agent.
type Agent struct {
	cfg      *Config
	log      *slog.Logger
	buses    []*bus
	uplink   *uplink
	readings chan wire.Reading
}

// New builds the agent from a validated config. It dials nothing: a dead
// meter or broker must not stop the agent from starting.
func New(cfg *Config, log *slog.Logger, reg prometheus.Registerer) (*Agent, error) {
	m := newMetrics(reg)
	readings := make(chan wire.Reading, 4*cfg.Uplink.BatchSize)
	a := &Agent{cfg: cfg, log: log, readings: readings}
	for _, mc := range cfg.Modbus {
		b, err := newBus(mc, readings, log, m)
		if err != nil {
			return nil, fmt.Errorf("endpoint %s: %w", mc.Name, err)
		}
		a.buses = append(a.buses, b)
	}
	a.uplink = newUplink(cfg.Uplink, cfg.Gateway, readings, log, m)
	return a, nil
}

// drainTimeout is how long a stopping agent keeps trying to publish what it
// has already acquired.
const drainTimeout = 5 * time.Second

// Run polls and publishes until ctx is done, then stops the buses, publishes
// what they acquired (for at most drainTimeout), and waits for every goroutine.
func (a *Agent) Run(ctx context.Context) error {
	upCtx, upCancel := context.WithCancel(context.WithoutCancel(ctx))
	defer upCancel()
	var buses, up sync.WaitGroup
	var upErr error
	up.Go(func() { upErr = a.uplink.run(upCtx) })
	for _, b := range a.buses {
		buses.Go(func() { b.run(ctx) })
	}
	a.log.Info("edge agent running", "gateway", a.cfg.Gateway, "endpoints", len(a.buses))
	buses.Wait()
	close(a.readings)
	timer := time.AfterFunc(drainTimeout, upCancel)
	defer timer.Stop()
	up.Wait()
	return upErr
}
