package edge

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/parkcarbon/parkcarbon/internal/wire"
)

// uplink batches readings into envelopes, one enterprise per envelope, and
// publishes them at QoS 1. A batch leaves memory only after the broker's
// PUBACK; until then it is retried with backoff. (The disk queue that makes
// this survive a restart comes with the store-and-forward work.)
type uplink struct {
	cfg     UplinkConfig
	gateway string
	client  mqtt.Client
	in      <-chan wire.Reading
	seq     uint64
	log     *slog.Logger
	m       *metrics
}

func newUplink(cfg UplinkConfig, gateway string, in <-chan wire.Reading, log *slog.Logger, m *metrics) *uplink {
	u := &uplink{cfg: cfg, gateway: gateway, in: in, log: log.With("broker", cfg.Broker), m: m}
	opts := mqtt.NewClientOptions().
		AddBroker(cfg.Broker).
		SetClientID(cfg.ClientID).
		SetUsername(cfg.Username).
		SetPassword(cfg.Password).
		// A persistent session keeps QoS 1 messages in flight across a
		// reconnect; paho resends them itself.
		SetCleanSession(false).
		SetAutoReconnect(true).
		SetConnectRetry(true).
		SetConnectRetryInterval(2 * time.Second).
		SetMaxReconnectInterval(30 * time.Second).
		SetOrderMatters(false).
		SetConnectionLostHandler(func(_ mqtt.Client, err error) {
			m.uplinkConnects.Set(0)
			u.log.Warn("uplink connection lost", "err", err)
		}).
		SetOnConnectHandler(func(mqtt.Client) {
			m.uplinkConnects.Set(1)
			u.log.Info("uplink connected")
		})
	u.client = mqtt.NewClient(opts)
	return u
}

// run publishes until its input is closed (the buses stopped) and drained,
// or until ctx is done.
func (u *uplink) run(ctx context.Context) error {
	// With ConnectRetry the token completes only once connected; publishing
	// before that fails and is retried by publish.
	u.client.Connect()
	defer u.client.Disconnect(250)

	batches := map[string][]wire.Reading{} // by enterprise
	n := 0
	linger := time.NewTimer(u.cfg.Linger)
	defer linger.Stop()
	flush := func() error {
		for ent, rs := range batches {
			if err := u.publish(ctx, ent, rs); err != nil {
				return err
			}
			delete(batches, ent)
		}
		n = 0
		return nil
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case r, ok := <-u.in:
			if !ok {
				return flush()
			}
			batches[r.Enterprise] = append(batches[r.Enterprise], r)
			n++
			if len(batches[r.Enterprise]) >= u.cfg.BatchSize {
				if err := u.publish(ctx, r.Enterprise, batches[r.Enterprise]); err != nil {
					return err
				}
				n -= len(batches[r.Enterprise])
				delete(batches, r.Enterprise)
			}
		case <-linger.C:
			if n > 0 {
				if err := flush(); err != nil {
					return err
				}
			}
			linger.Reset(u.cfg.Linger)
		}
	}
}

// publish sends one envelope and waits for its PUBACK, retrying with
// backoff until it is acknowledged or ctx is done.
func (u *uplink) publish(ctx context.Context, enterprise string, rs []wire.Reading) error {
	u.seq++
	env := &wire.Envelope{V: wire.Version, Gateway: u.gateway, Seq: u.seq, Readings: rs}
	payload, err := wire.Encode(env)
	if err != nil {
		return fmt.Errorf("encode envelope for %s: %w", enterprise, err)
	}
	topic := wire.Topic(u.cfg.TopicPrefix, enterprise, u.gateway)
	backoff := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		tok := u.client.Publish(topic, 1, false, payload)
		select {
		case <-tok.Done():
		case <-ctx.Done():
			return nil
		}
		if err := tok.Error(); err == nil {
			u.m.published.Add(float64(len(rs)))
			u.m.pending.Sub(float64(len(rs)))
			return nil
		} else if attempt == 1 || attempt%50 == 0 {
			u.log.Warn("publish failed, retrying", "topic", topic, "seq", env.Seq, "attempt", attempt, "err", err)
		}
		u.m.publishErrors.Inc()
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return nil
		}
		backoff = min(backoff*2, 10*time.Second)
	}
}
