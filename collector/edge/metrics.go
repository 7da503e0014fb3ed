package edge

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/parkcarbon/parkcarbon/internal/queue"
)

// metrics are the agent's own series; label values are bounded by the config
// (endpoints, meters) or by code (event kinds), never by payloads.
type metrics struct {
	polls           *prometheus.CounterVec
	requests        *prometheus.CounterVec
	pollErrors      *prometheus.CounterVec
	pollDuration    *prometheus.HistogramVec
	deviceUp        *prometheus.GaugeVec
	readings        prometheus.Counter
	invalid         prometheus.Counter
	events          *prometheus.CounterVec
	clockSteps      prometheus.Counter
	clockSkew       prometheus.Gauge
	published       prometheus.Counter
	publishErrors   prometheus.Counter
	corrupt         prometheus.Counter
	ackLag          prometheus.Histogram
	uplinkConnected prometheus.Gauge
	sensorMessages  *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		polls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "parkcarbon_edge_polls_total", Help: "Device polls attempted, by endpoint.",
		}, []string{"endpoint"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "parkcarbon_edge_requests_total", Help: "Modbus requests planned for polls, by endpoint (the cost of a poll cycle).",
		}, []string{"endpoint"}),
		pollErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "parkcarbon_edge_poll_errors_total", Help: "Device polls that failed, by endpoint and kind (exception, timeout, frame, connection, queue).",
		}, []string{"endpoint", "kind"}),
		pollDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "parkcarbon_edge_poll_duration_seconds", Help: "Time to read all registers of one device.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"endpoint"}),
		deviceUp: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "parkcarbon_edge_device_up", Help: "1 if the last poll of the meter succeeded.",
		}, []string{"meter"}),
		readings: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "parkcarbon_edge_readings_total", Help: "Readings acquired and queued on disk.",
		}),
		invalid: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "parkcarbon_edge_invalid_values_total", Help: "Values read as NaN or infinite, dropped.",
		}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "parkcarbon_edge_data_quality_events_total", Help: "Counter events seen at the edge, by kind (reset, rollover, glitch, implausible, swap, gap).",
		}, []string{"kind"}),
		clockSteps: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "parkcarbon_edge_clock_steps_total", Help: "Polls whose wall-clock time was not after the meter's previous one.",
		}),
		clockSkew: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "parkcarbon_edge_clock_step_seconds", Help: "The last backward clock step seen (negative seconds: how far the wall clock was behind a meter's last reading).",
		}),
		published: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "parkcarbon_edge_records_published_total", Help: "Queued readings and events acknowledged by the broker (PUBACK) and removed from the queue.",
		}),
		publishErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "parkcarbon_edge_publish_errors_total", Help: "Envelope publishes that failed and will be retried.",
		}),
		corrupt: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "parkcarbon_edge_buffer_undecodable_records_total", Help: "Queued records that passed their checksum but could not be decoded.",
		}),
		ackLag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "parkcarbon_edge_publish_ack_seconds", Help: "From taking a batch off the queue to the broker's last PUBACK for it.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 9),
		}),
		uplinkConnected: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "parkcarbon_edge_uplink_connected", Help: "1 while the uplink broker connection is up.",
		}),
		sensorMessages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "parkcarbon_edge_sensor_messages_total", Help: "MQTT sensor messages, by subscription and result (recorded, retained, or why rejected).",
		}, []string{"sensors", "result"}),
	}
	reg.MustRegister(m.sensorMessages, m.polls, m.requests, m.pollErrors, m.pollDuration, m.deviceUp, m.readings, m.invalid, m.events,
		m.clockSteps, m.clockSkew, m.published, m.publishErrors, m.corrupt, m.ackLag, m.uplinkConnected)
	return m
}

// registerQueue exposes the disk queue's state, read at scrape time.
func registerQueue(reg prometheus.Registerer, store *queue.Store, oldestAge func() float64) {
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "parkcarbon_edge_buffer_records", Help: "Readings and events queued on disk, not yet acknowledged by the broker.",
		}, func() float64 { return float64(store.Stats().Items) }), // a record holds many readings
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "parkcarbon_edge_buffer_bytes", Help: "Bytes of queued records.",
		}, func() float64 { return float64(store.Stats().Bytes) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "parkcarbon_edge_buffer_oldest_age_seconds", Help: "Age of the oldest queued record (0 when empty).",
		}, oldestAge),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "parkcarbon_edge_buffer_dropped_total", Help: "Queued readings and events dropped, oldest first, because buffer.max_size was reached.",
		}, func() float64 { return float64(store.Stats().DroppedItems) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "parkcarbon_edge_buffer_corrupt_records_total", Help: "Queued records cut out because their checksum failed.",
		}, func() float64 { return float64(store.Stats().Corrupt) }),
	)
}
