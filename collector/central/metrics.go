package central

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/parkcarbon/parkcarbon/internal/queue"
)

type metrics struct {
	messages         *prometheus.CounterVec
	readings         prometheus.Counter
	intervals        prometheus.Counter
	writes           prometheus.Counter
	writeErrors      prometheus.Counter
	writeDuration    prometheus.Histogram
	connected        prometheus.Gauge
	rejectedPoints   prometheus.Counter
	gapFills         *prometheus.CounterVec
	clockSkew        *prometheus.GaugeVec
	rejectedReadings *prometheus.CounterVec
	seqGaps          *prometheus.CounterVec
	rollups          prometheus.Counter
	rollupErrors     prometheus.Counter
	unacked          prometheus.Gauge
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
		unacked: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "parkcarbon_collector_unacked_messages",
			Help: "Envelopes received and held, not yet acknowledged (waiting to be stored); at most ingest.max_inflight.",
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
		rejectedPoints: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "parkcarbon_collector_influx_rejected_points_total", Help: "Points InfluxDB refused as malformed (400/422), dropped.",
		}),
		clockSkew: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "parkcarbon_collector_clock_skew_seconds", Help: "Received minus sent time of a gateway's last envelope: transit time plus the gateway clock's error.",
		}, []string{"gateway"}),
		rejectedReadings: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "parkcarbon_collector_readings_rejected_total", Help: "Readings dropped from otherwise valid envelopes, by reason.",
		}, []string{"reason"}),
		gapFills: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "parkcarbon_collector_gap_fills_total", Help: "Intervals across a lost edge state, by result (filled, not_fillable).",
		}, []string{"result"}),
		seqGaps: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "parkcarbon_collector_seq_anomalies_total", Help: "Envelopes whose per-gateway seq skipped ahead (gap) or did not advance (repeat). Normal after an agent restart or with several collectors sharing a subscription.",
		}, []string{"gateway", "kind"}),
		rollups: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "parkcarbon_collector_rollups_total", Help: "Hours of consumption_hourly recomputed (for every enterprise at once).",
		}),
		rollupErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "parkcarbon_collector_rollup_errors_total", Help: "Hourly rollup recomputations that failed and were retried.",
		}),
	}
	reg.MustRegister(m.messages, m.readings, m.intervals, m.writes, m.writeErrors, m.writeDuration, m.connected,
		m.rollups, m.rollupErrors, m.unacked, m.rejectedPoints, m.gapFills, m.seqGaps, m.clockSkew, m.rejectedReadings)
	return m
}

func registerSpool(reg prometheus.Registerer, spool *queue.Store) {
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "parkcarbon_collector_spool_batches", Help: "Batches waiting on disk for InfluxDB.",
		}, func() float64 { return float64(spool.Stats().Records) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "parkcarbon_collector_spool_bytes", Help: "Bytes waiting on disk for InfluxDB.",
		}, func() float64 { return float64(spool.Stats().Bytes) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "parkcarbon_collector_spool_dropped_total", Help: "Spooled batches dropped, oldest first, because spool.max_size was reached.",
		}, func() float64 { return float64(spool.Stats().Dropped) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "parkcarbon_collector_spool_corrupt_records_total", Help: "Spooled batches cut out because their checksum failed.",
		}, func() float64 { return float64(spool.Stats().Corrupt) }),
	)
}
