package central

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	messages      *prometheus.CounterVec
	readings      prometheus.Counter
	intervals     prometheus.Counter
	writes        prometheus.Counter
	writeErrors   prometheus.Counter
	writeDuration prometheus.Histogram
	connected     prometheus.Gauge
	rollups       prometheus.Counter
	rollupErrors  prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "parkcarbon_collector_messages_total",
			Help: "Envelopes received, by result (written, or the reason they were rejected).",
		}, []string{"result"}),
		readings: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "parkcarbon_collector_readings_written_total", Help: "Readings written to InfluxDB.",
		}),
		intervals: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "parkcarbon_collector_consumption_points_total", Help: "Consumption intervals written to InfluxDB.",
		}),
		writes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "parkcarbon_collector_influx_writes_total", Help: "Batches written to InfluxDB.",
		}),
		writeErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "parkcarbon_collector_influx_write_errors_total", Help: "InfluxDB writes that failed and were retried.",
		}),
		writeDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "parkcarbon_collector_influx_write_duration_seconds", Help: "Duration of one batch write to InfluxDB.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2.5, 10),
		}),
		connected: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "parkcarbon_collector_mqtt_connected", Help: "1 while the broker connection is up.",
		}),
		rollups: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "parkcarbon_collector_rollup_buckets_total", Help: "Enterprise × hour buckets of consumption_hourly recomputed.",
		}),
		rollupErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "parkcarbon_collector_rollup_errors_total", Help: "Hourly rollup recomputations that failed and were retried.",
		}),
	}
	reg.MustRegister(m.messages, m.readings, m.intervals, m.writes, m.writeErrors, m.writeDuration, m.connected,
		m.rollups, m.rollupErrors)
	return m
}
