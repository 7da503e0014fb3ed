package central

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// The collector's metric names follow Prometheus' conventions (promtool's lint).
func TestMetricsLint(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := newMetrics(reg)
	m.messages.WithLabelValues("written").Inc()
	m.gapFills.WithLabelValues("filled").Inc()
	m.seqGaps.WithLabelValues("g", "gap").Inc()
	m.clockSkew.WithLabelValues("g").Set(1)
	m.rejectedReadings.WithLabelValues("out_of_range").Inc()
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
}
