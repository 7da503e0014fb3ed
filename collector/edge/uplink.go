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
	head  []byte // scratch for an envelope's head
	items int    // readings and events in this drain
	// Payload buffers whose envelopes the broker acknowledged at the first
	// attempt, for the next drain's envelopes (at most maxFree, each at most
	// maxFreeSize): a drain reuses them rather than allocating a payload each.
	free    [][]byte
	scratch []byte
	drain   uint64 // counts drains: an envelope of an older drain is stale
	take    func(seq uint64, data []byte) bool
}

// envElements are one enterprise's elements of a drain, JSON joined by ','.
// The readings are written straight into the payload buffer, after room for
// the envelope's head.
type envElements struct {
	enterprise string
	buf        []byte // headRoom bytes, then the readings; from u.free or new
	events     []byte
	items      int
	drain      uint64
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

// headRoom is left before an envelope's readings for its head: 88 bytes of
// keys and numbers at most, and the quoted gateway id, enough for ids of up
// to 38 bytes (a longer one costs a copy).
const headRoom = 128

// maxDrainItems bounds one drain (its envelopes are built in memory):
// enough for 25 enterprises at the default batch size.
const maxDrainItems = 12500

// drainOnce sends the oldest records, as one envelope per enterprise of up
// to batch_size readings and events, and deletes them once acknowledged. It
// returns how many readings and events it sent.
func (u *uplink) drainOnce(ctx context.Context) (int, error) {
	u.seqs, u.order, u.items = u.seqs[:0], u.order[:0], 0
	u.drain++
	if len(u.envs) > 1000 {
		clear(u.envs) // enterprises come and go (sensor topics): stay bounded
	}
	// One pass reads the queue in place, copying the records' elements into
	// their envelopes' payloads.
	if err := u.store.PeekFunc(u.take); err != nil {
		return 0, fmt.Errorf("read queue: %w", err)
	}
	if len(u.seqs) == 0 {
		return 0, nil
	}
	start := time.Now()
	for _, env := range u.order {
		if !u.publish(ctx, env) {
			return 0, nil // stopping: the records stay queued
		}
	}
	if err := u.store.Delete(u.seqs); err != nil {
		return 0, fmt.Errorf("delete acknowledged records: %w", err)
	}
	u.m.published.Add(float64(u.items))
	u.m.ackLag.Observe(time.Since(start).Seconds())
	// Pace a backlog: no more than max_rate readings per second.
	if pause := time.Duration(float64(u.items) / float64(u.cfg.MaxRate) * float64(time.Second)); pause > time.Since(start) {
		select {
		case <-ctx.Done():
		case <-time.After(pause - time.Since(start)):
		}
	}
	return u.items, nil
}

// add takes one queued record into its enterprise's envelope, in order. It
// stops (returns false) where the envelope would go over batch_size or the
// drain over maxDrainItems, so that records leave the queue in order. data is
// only valid during the call: its elements are copied, or written from its
// compact readings.
func (u *uplink) add(seq uint64, data []byte) bool {
	var (
		p     pollRecord
		items int
		err   error
	)
	if isPollRecord(data) {
		if p, err = parsePollRecord(data); err == nil {
			items = p.nReadings + p.nEvts
		}
	} else {
		// A record of the format before one record per poll.
		var old record
		if old, err = decodeRecord(data); err == nil {
			p.enterprise, items = []byte(old.enterprise()), 1
			if old.R != nil {
				p.readings = wire.AppendReading(u.scratch[:0], old.R)
			} else {
				p.events = wire.AppendEvent(u.scratch[:0], old.E)
			}
			u.scratch = append(p.readings, p.events...)[:0]
			p.format = pollFormatJSON
		}
	}
	if err != nil {
		u.undecodable(seq, err)
		u.seqs = append(u.seqs, seq)
		return true
	}
	env := u.env(p.enterprise)
	if len(u.seqs) > 0 && (env.items+items > u.cfg.BatchSize || u.items+items > maxDrainItems) {
		return false
	}
	if env.items == 0 && env.buf == nil {
		// Compact readings take about a sixth of their JSON.
		hint := len(data)
		if p.format == pollFormat {
			hint *= 6
		}
		env.buf = u.payloadBuffer(hint)
	}
	if len(p.readings) > 0 {
		sep := len(env.buf) > headRoom
		if p.format == pollFormat {
			at := len(env.buf)
			if env.buf, err = appendReadingsJSON(env.buf, sep, env.enterprise, p.readings, p.nReadings); err != nil {
				env.buf = env.buf[:at]
				u.undecodable(seq, err)
				u.seqs = append(u.seqs, seq)
				return true
			}
		} else {
			if sep {
				env.buf = append(env.buf, ',')
			}
			env.buf = append(env.buf, p.readings...)
		}
	}
	u.seqs = append(u.seqs, seq)
	if env.items == 0 {
		u.order = append(u.order, env)
	}
	env.items += items
	u.items += items
	env.events = appendElements(env.events, p.events)
	return true
}

// Bounds of the free payload buffers: enough for a drain of 32 enterprises'
// envelopes of batch_size readings, without keeping a big one live for ever.
const (
	maxFree     = 32
	maxFreeSize = 256 << 10
)

// payloadBuffer returns an empty payload with headRoom bytes of room, from
// the free buffers if there is one.
func (u *uplink) payloadBuffer(hint int) []byte {
	if n := len(u.free); n > 0 {
		b := u.free[n-1]
		u.free[n-1] = nil
		u.free = u.free[:n-1]
		return b[:headRoom]
	}
	return make([]byte, headRoom, headRoom+hint)
}

// release keeps the payload buffer b for another envelope: paho no longer
// holds it (see publish).
func (u *uplink) release(b []byte) {
	if len(u.free) < maxFree && cap(b) <= maxFreeSize {
		u.free = append(u.free, b[:0])
	}
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
		env.drain, env.buf, env.events, env.items = u.drain, nil, env.events[:0], 0
	}
	return env
}

// publish sends one envelope and waits for its PUBACK, retrying with
// backoff. It returns false if ctx ended first. An envelope acknowledged at
// the first attempt gives its buffer back for reuse: paho takes a payload
// out of its store on the PUBACK, before the token completes, so nothing
// holds it any more. After a failed attempt paho may still hold it (to
// resend on reconnect), so it is left to the GC.
func (u *uplink) publish(ctx context.Context, env *envElements) bool {
	u.seq++
	seq := u.seq
	u.head = wire.AppendEnvelopeHead(u.head[:0], u.gateway, seq, time.Now().UnixMilli())
	var payload []byte
	if len(u.head) > headRoom {
		// A gateway id too long for the room: copy.
		u.head = append(u.head, env.buf[headRoom:]...)
		payload = append(make([]byte, 0, len(u.head)+len(env.events)+32), u.head...)
		payload = wire.AppendEnvelopeTail(payload, env.events)
	} else {
		copy(env.buf[headRoom-len(u.head):], u.head)
		// Appended to the whole buffer, so that a grown one is kept whole.
		env.buf = wire.AppendEnvelopeTail(env.buf, env.events)
		payload = env.buf[headRoom-len(u.head):]
	}
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
			if attempt == 1 {
				u.release(env.buf)
			}
			env.buf = nil
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
