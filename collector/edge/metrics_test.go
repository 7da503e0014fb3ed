package edge

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// The agent's metric names follow Prometheus' conventions (promtool's lint).
func TestMetricsLint(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := newMetrics(reg)
	m.polls.WithLabelValues("e").Inc()
	m.pollErrors.WithLabelValues("e", "timeout").Inc()
	m.pollDuration.WithLabelValues("e").Observe(0.1)
	m.deviceUp.WithLabelValues("m").Set(1)
	m.events.WithLabelValues("reset").Inc()
	m.sensorMessages.WithLabelValues("s", "recorded").Inc()
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
}
