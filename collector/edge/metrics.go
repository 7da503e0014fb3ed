package edge

import "github.com/prometheus/client_golang/prometheus"

// metrics are the agent's own series; label values are bounded by the config
// (endpoints and meters), never by payloads.
type metrics struct {
	polls          *prometheus.CounterVec
	pollErrors     *prometheus.CounterVec
	pollDuration   *prometheus.HistogramVec
	deviceUp       *prometheus.GaugeVec
	readings       prometheus.Counter
	published      prometheus.Counter
	publishErrors  prometheus.Counter
	pending        prometheus.Gauge
	uplinkConnects prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		polls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "parkcarbon_edge_polls_total", Help: "Device polls attempted, by endpoint.",
		}, []string{"endpoint"}),
		pollErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "parkcarbon_edge_poll_errors_total", Help: "Device polls that failed, by endpoint.",
		}, []string{"endpoint"}),
		pollDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "parkcarbon_edge_poll_duration_seconds", Help: "Time to read all registers of one device.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"endpoint"}),
		deviceUp: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "parkcarbon_edge_device_up", Help: "1 if the last poll of the meter succeeded.",
		}, []string{"meter"}),
		readings: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "parkcarbon_edge_readings_total", Help: "Readings acquired from devices.",
		}),
		published: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "parkcarbon_edge_readings_published_total", Help: "Readings acknowledged by the broker (PUBACK).",
		}),
		publishErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "parkcarbon_edge_publish_errors_total", Help: "Envelope publishes that failed and will be retried.",
		}),
		pending: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "parkcarbon_edge_pending_readings", Help: "Readings acquired but not yet acknowledged by the broker.",
		}),
		uplinkConnects: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "parkcarbon_edge_uplink_connected", Help: "1 while the uplink broker connection is up.",
		}),
	}
	reg.MustRegister(m.polls, m.pollErrors, m.pollDuration, m.deviceUp, m.readings, m.published,
		m.publishErrors, m.pending, m.uplinkConnects)
	return m
}
