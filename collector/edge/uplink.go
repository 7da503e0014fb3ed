package edge

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/parkcarbon/parkcarbon/internal/mqttclient"
	"github.com/parkcarbon/parkcarbon/internal/queue"
	"github.com/parkcarbon/parkcarbon/internal/wire"
)

// uplink drains the disk queue in order: it takes the oldest records, sends
// them as envelopes (one enterprise per envelope) at QoS 1, and deletes them
// from the queue only after the broker's PUBACK. paho's own store is no
// outbound queue (Publish fails while disconnected), so the disk queue is.
type uplink struct {
	cfg     UplinkConfig
	gateway string
	client  mqtt.Client
	store   *queue.Store
	seq     uint64
	log     *slog.Logger
	m       *metrics
}

func newUplink(cfg UplinkConfig, gateway string, store *queue.Store, log *slog.Logger, m *metrics) (*uplink, error) {
	u := &uplink{cfg: cfg, gateway: gateway, store: store, log: log.With("broker", cfg.Broker), m: m}
	opts, err := mqttclient.Options(cfg.Broker, cfg.ClientID, cfg.TLS, cfg.Auth)
	if err != nil {
		return nil, fmt.Errorf("uplink: %w", err)
	}
	opts.
		// A persistent session: QoS 1 messages in flight at a disconnect are
		// resent by paho on reconnect (and by us, from the queue, after a restart).
		SetCleanSession(false).
		SetAutoReconnect(true).
		SetMaxReconnectInterval(30 * time.Second).
		SetOrderMatters(false).
		SetConnectionLostHandler(func(_ mqtt.Client, err error) {
			m.uplinkConnected.Set(0)
			u.log.Warn("uplink connection lost", "err", err)
		}).
		SetOnConnectHandler(func(mqtt.Client) {
			m.uplinkConnected.Set(1)
			u.log.Info("uplink connected")
		})
	u.client = mqtt.NewClient(opts)
	// The seq carries on from the wall clock so that it keeps increasing
	// across restarts without storing it: ms since epoch × 1000 leaves room
	// for 1000 envelopes per ms.
	u.seq = uint64(time.Now().UnixMilli()) * 1000
	return u, nil
}

// run drains the queue until ctx is done, or until stopping is closed and the
// queue is empty.
func (u *uplink) run(ctx context.Context, stopping <-chan struct{}) error {
	// Readings queue on disk meanwhile; a stop before the first connection
	// leaves them there.
	connecting := make(chan struct{})
	go func() {
		defer close(connecting)
		_ = mqttclient.Connect(ctx, u.client, u.log)
	}()
	defer func() { <-connecting }()
	defer u.client.Disconnect(250)
	tick := time.NewTicker(u.cfg.Linger)
	defer tick.Stop()
	for {
		n, err := u.drainOnce(ctx)
		if err != nil {
			return err
		}
		if n >= u.cfg.BatchSize {
			continue // a backlog: keep going (paced by max_rate)
		}
		select {
		case <-stopping:
			// Drained, or the drain time is up (the broker may be down): what
			// is left stays on disk for the next start.
			if u.store.Stats().Records == 0 || ctx.Err() != nil {
				return nil
			}
			// Still queued: one more round, until drained or ctx ends.
			continue
		default:
		}
		select {
		case <-ctx.Done():
			return nil
		case <-stopping:
		case <-tick.C:
		case <-u.store.Notify():
			// Let a batch fill for up to linger, unless it is full already.
			if u.store.Stats().Records < u.cfg.BatchSize {
				select {
				case <-ctx.Done():
					return nil
				case <-time.After(u.cfg.Linger):
				}
			}
		}
	}
}

// drainOnce sends up to one batch of the oldest records and deletes them
// once acknowledged. It returns how many records it sent.
func (u *uplink) drainOnce(ctx context.Context) (int, error) {
	recs, err := u.store.Peek(u.cfg.BatchSize)
	if err != nil {
		return 0, fmt.Errorf("read queue: %w", err)
	}
	if len(recs) == 0 {
		return 0, nil
	}
	start := time.Now()
	// Group by enterprise, keeping each one's order.
	var order []string
	envs := map[string]*wire.Envelope{}
	seqs := make([]uint64, 0, len(recs))
	for _, q := range recs {
		seqs = append(seqs, q.Seq)
		r, err := decodeRecord(q.Data)
		if err != nil {
			u.m.corrupt.Inc()
			u.log.Error("dropping an undecodable queued record", "seq", q.Seq, "err", err)
			continue
		}
		ent := r.enterprise()
		env := envs[ent]
		if env == nil {
			env = &wire.Envelope{V: wire.Version, Gateway: u.gateway}
			envs[ent] = env
			order = append(order, ent)
		}
		if r.R != nil {
			env.Readings = append(env.Readings, *r.R)
		} else {
			env.Events = append(env.Events, *r.E)
		}
	}
	for _, ent := range order {
		if !u.publish(ctx, ent, envs[ent]) {
			return 0, nil // stopping: the records stay queued
		}
	}
	if err := u.store.Delete(seqs); err != nil {
		return 0, fmt.Errorf("delete acknowledged records: %w", err)
	}
	u.m.published.Add(float64(len(recs)))
	u.m.ackLag.Observe(time.Since(start).Seconds())
	// Pace a backlog: no more than max_rate records per second.
	if pause := time.Duration(float64(len(recs)) / float64(u.cfg.MaxRate) * float64(time.Second)); pause > time.Since(start) {
		select {
		case <-ctx.Done():
		case <-time.After(pause - time.Since(start)):
		}
	}
	return len(recs), nil
}

// publish sends one envelope and waits for its PUBACK, retrying with
// backoff. It returns false if ctx ended first.
func (u *uplink) publish(ctx context.Context, enterprise string, env *wire.Envelope) bool {
	u.seq++
	env.Seq, env.SentAt = u.seq, time.Now().UnixMilli()
	payload, err := wire.Encode(env)
	if err != nil {
		// Only non-finite floats fail to encode, and they are filtered at
		// acquisition; dropping beats blocking the queue forever.
		u.log.Error("cannot encode envelope; dropped", "enterprise", enterprise, "err", err)
		return true
	}
	topic := wire.Topic(u.cfg.TopicPrefix, enterprise, u.gateway)
	backoff := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		tok := u.client.Publish(topic, 1, false, payload)
		select {
		case <-tok.Done():
		case <-ctx.Done():
			return false
		}
		err := tok.Error()
		if err == nil {
			return true
		}
		u.m.publishErrors.Inc()
		if attempt == 1 || attempt%50 == 0 {
			u.log.Warn("publish failed, retrying", "topic", topic, "seq", env.Seq, "attempt", attempt, "err", err)
		}
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return false
		}
		backoff = min(backoff*2, 10*time.Second)
	}
}
