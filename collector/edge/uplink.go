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

	// One drain's envelopes, reused from drain to drain.
	envs  map[string]*envElements
	order []*envElements
	seqs  []uint64
	drain uint64 // counts drains: an envelope of an older drain is stale
	take  func(seq uint64, data []byte)
}

// envElements are one enterprise's elements of a drain, JSON joined by ','.
type envElements struct {
	enterprise       string
	readings, events []byte
	items            int
	drain            uint64
}

func appendElements(dst, elems []byte) []byte {
	if len(elems) == 0 {
		return dst
	}
	if len(dst) > 0 {
		dst = append(dst, ',')
	}
	return append(dst, elems...)
}

func newUplink(cfg UplinkConfig, gateway string, store *queue.Store, log *slog.Logger, m *metrics) (*uplink, error) {
	u := &uplink{cfg: cfg, gateway: gateway, store: store, log: log.With("broker", cfg.Broker), m: m,
		envs: map[string]*envElements{}}
	u.take = u.add
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
		if n > 0 && u.store.Stats().Items >= u.cfg.BatchSize {
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
			if u.store.Stats().Items < u.cfg.BatchSize {
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
// once acknowledged. It returns how many readings and events it sent.
func (u *uplink) drainOnce(ctx context.Context) (int, error) {
	u.seqs, u.order = u.seqs[:0], u.order[:0]
	u.drain++
	if len(u.envs) > 1000 {
		clear(u.envs) // enterprises come and go (sensor topics): stay bounded
	}
	// Records are spliced in place, inside the queue's read transaction.
	if _, _, err := u.store.PeekItems(u.cfg.BatchSize, u.take); err != nil {
		return 0, fmt.Errorf("read queue: %w", err)
	}
	if len(u.seqs) == 0 {
		return 0, nil
	}
	start := time.Now()
	items := 0
	for _, env := range u.order {
		items += env.items
		if !u.publish(ctx, env) {
			return 0, nil // stopping: the records stay queued
		}
	}
	if err := u.store.Delete(u.seqs); err != nil {
		return 0, fmt.Errorf("delete acknowledged records: %w", err)
	}
	u.m.published.Add(float64(items))
	u.m.ackLag.Observe(time.Since(start).Seconds())
	// Pace a backlog: no more than max_rate readings per second.
	if pause := time.Duration(float64(items) / float64(u.cfg.MaxRate) * float64(time.Second)); pause > time.Since(start) {
		select {
		case <-ctx.Done():
		case <-time.After(pause - time.Since(start)):
		}
	}
	return items, nil
}

// add puts one queued record's elements into its enterprise's envelope,
// grouped by enterprise in order. data is only valid during the call.
func (u *uplink) add(seq uint64, data []byte) {
	u.seqs = append(u.seqs, seq)
	if len(data) > 0 && data[0] == pollFormat {
		p, err := parsePollRecord(data)
		if err != nil {
			u.undecodable(seq, err)
			return
		}
		env := u.env(p.enterprise)
		env.readings = appendElements(env.readings, p.readings)
		env.events = appendElements(env.events, p.events)
		env.items += p.nReadings + p.nEvts
		return
	}
	// A record of the format before one record per poll.
	r, err := decodeRecord(data)
	if err != nil {
		u.undecodable(seq, err)
		return
	}
	env := u.env([]byte(r.enterprise()))
	if r.R != nil {
		if len(env.readings) > 0 {
			env.readings = append(env.readings, ',')
		}
		env.readings = wire.AppendReading(env.readings, r.R)
	} else {
		if len(env.events) > 0 {
			env.events = append(env.events, ',')
		}
		env.events = wire.AppendEvent(env.events, r.E)
	}
	env.items++
}

func (u *uplink) undecodable(seq uint64, err error) {
	u.m.corrupt.Inc()
	u.log.Error("dropping an undecodable queued record", "seq", seq, "err", err)
}

// env returns the drain's envelope of an enterprise, started empty.
func (u *uplink) env(enterprise []byte) *envElements {
	env := u.envs[string(enterprise)]
	if env == nil {
		env = &envElements{enterprise: string(enterprise)}
		u.envs[env.enterprise] = env
	}
	if env.drain != u.drain {
		env.drain, env.readings, env.events, env.items = u.drain, env.readings[:0], env.events[:0], 0
		u.order = append(u.order, env)
	}
	return env
}

// publish sends one envelope and waits for its PUBACK, retrying with
// backoff. It returns false if ctx ended first.
func (u *uplink) publish(ctx context.Context, env *envElements) bool {
	u.seq++
	seq := u.seq
	// A new payload each time: paho keeps it until the broker's PUBACK, and
	// may resend it after a reconnect.
	payload := make([]byte, 0, 128+len(u.gateway)+len(env.readings)+len(env.events))
	payload = wire.AppendEnvelope(payload, u.gateway, seq, time.Now().UnixMilli(), env.readings, env.events)
	topic := wire.Topic(u.cfg.TopicPrefix, env.enterprise, u.gateway)
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
			u.log.Warn("publish failed, retrying", "topic", topic, "seq", seq, "attempt", attempt, "err", err)
		}
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return false
		}
		backoff = min(backoff*2, 10*time.Second)
	}
}
