package edge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/parkcarbon/parkcarbon/carbon"
	"github.com/parkcarbon/parkcarbon/devices/sensor"
	"github.com/parkcarbon/parkcarbon/internal/mqttclient"
	"github.com/parkcarbon/parkcarbon/internal/wire"
)

// sensorSub subscribes to one mapping's topic and records what the sensors
// publish, like a meter's polls: the cumulative quantity gives intervals.
type sensorSub struct {
	cfg    SensorConfig
	client mqtt.Client
	rec    *recorder
	log    *slog.Logger
	m      *metrics
	now    func() time.Time
	// queueErrors counts messages whose readings could not be committed.
	queueErrors prometheus.Counter
}

func newSensorSub(cfg SensorConfig, rec *recorder, log *slog.Logger, m *metrics) (*sensorSub, error) {
	s := &sensorSub{cfg: cfg, rec: rec, log: log.With("sensors", cfg.Name, "mapping", cfg.mapping.Name()), m: m, now: time.Now,
		queueErrors: m.sensorMessages.WithLabelValues(cfg.Name, "queue_error")}
	opts, err := mqttclient.Options(cfg.Broker, cfg.ClientID, cfg.TLS, cfg.Auth)
	if err != nil {
		return nil, fmt.Errorf("sensors %s: %w", cfg.Name, err)
	}
	filter := cfg.mapping.Filter()
	opts.
		// A clean session: a sensor's backlog replayed after an outage would
		// be stamped with its arrival time by mappings without a timestamp.
		SetCleanSession(true).
		SetAutoAckDisabled(true).
		SetAutoReconnect(true).
		SetMaxReconnectInterval(30 * time.Second).
		SetConnectionLostHandler(func(_ mqtt.Client, err error) {
			s.log.Warn("sensor broker connection lost", "err", err)
		}).
		SetOnConnectHandler(func(c mqtt.Client) {
			tok := c.Subscribe(filter, 1, s.handle)
			go func() {
				tok.Wait()
				if err := tok.Error(); err != nil {
					s.log.Error("subscribe failed", "filter", filter, "err", err)
					return
				}
				s.log.Info("subscribed to sensors", "broker", cfg.Broker, "filter", filter)
			}()
		})
	s.client = mqtt.NewClient(opts)
	return s, nil
}

// reason names a rejected message's cause, for the metric label.
func reason(err error) string {
	switch {
	case errors.Is(err, sensor.ErrTopic):
		return "topic"
	case errors.Is(err, sensor.ErrPayload):
		return "payload"
	case errors.Is(err, sensor.ErrValue):
		return "value"
	case errors.Is(err, sensor.ErrTimestamp):
		return "timestamp"
	}
	return "other"
}

// handle maps one message and records its readings before acknowledging it.
func (s *sensorSub) handle(_ mqtt.Client, msg mqtt.Message) {
	defer msg.Ack()
	if msg.Retained() {
		// A retained message is an old state: stamping it now would be wrong.
		s.m.sensorMessages.WithLabelValues(s.cfg.Name, "retained").Inc()
		return
	}
	readings, err := s.cfg.mapping.Readings(msg.Topic(), msg.Payload(), s.now(), nil)
	if err != nil {
		s.m.sensorMessages.WithLabelValues(s.cfg.Name, reason(err)).Inc()
		s.log.Debug("sensor message rejected", "topic", msg.Topic(), "err", err)
		return
	}
	// A message holds one device's values, but group by meter to be safe.
	for start := 0; start < len(readings); {
		end := start + 1
		for end < len(readings) && readings[end].Meter == readings[start].Meter {
			end++
		}
		r := readings[start]
		cum, _ := wire.CumulativeQuantity(r.Energy)
		spec := carbon.CounterSpec{MaxRate: s.cfg.MaxRate}
		if err := s.rec.record(r.Meter, spec, cum, nil, readings[start:end], s.queueErrors); err != nil {
			s.queueErrors.Inc()
			s.log.Error("cannot queue sensor readings", "meter", r.Meter, "err", err)
			return
		}
		start = end
	}
	s.m.sensorMessages.WithLabelValues(s.cfg.Name, "recorded").Inc()
}

// run subscribes until ctx is done.
func (s *sensorSub) run(ctx context.Context) {
	if err := mqttclient.Connect(ctx, s.client, s.log); err != nil {
		return
	}
	<-ctx.Done()
	s.client.Disconnect(250)
}
