package alert

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	firing     *prometheus.GaugeVec
	sent       *prometheus.CounterVec
	errors     *prometheus.CounterVec
	dropped    *prometheus.CounterVec
	evalErrors *prometheus.CounterVec
}

// newMetrics registers on reg; a nil reg keeps them unregistered.
func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		firing: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "parkcarbon_alerts_firing", Help: "Alerts firing, by rule and severity.",
		}, []string{"rule", "severity"}),
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "parkcarbon_alert_notifications_total", Help: "Notifications delivered, by notifier (the alert measurement counts as influxdb).",
		}, []string{"notifier"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "parkcarbon_alert_notification_errors_total", Help: "Delivery attempts that failed, by notifier (each retry counts).",
		}, []string{"notifier"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "parkcarbon_alert_notifications_dropped_total", Help: "Notifications given up after their retries, or pushed out of a full queue.",
		}, []string{"notifier"}),
		evalErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "parkcarbon_alert_evaluation_errors_total", Help: "Rule evaluations that failed (the rollup query), by rule; the rule's alerts keep their state.",
		}, []string{"rule"}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.firing, m.sent, m.errors, m.dropped, m.evalErrors} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
