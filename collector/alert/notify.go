package alert

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"
)

// Notification is what a notifier delivers: one alert's change.
type Notification struct {
	Alert Alert // its state is firing or resolved (pending and inactive reach only the alert measurement)
	// Repeat marks a reminder of a firing alert (repeat_interval) or a
	// resend to a notifier that needs one (Alertmanager, MQTT).
	Repeat bool
	// Firing is every alert of Alert.Enterprise firing after this change;
	// MQTT retains it as the enterprise's state.
	Firing []Alert
	At     time.Time // when the engine queued it (engine clock)
}

// Notifier delivers notifications. Notify is one attempt: the engine's
// worker retries a failed one with backoff, so it should not retry itself.
// A notifier that also implements io.Closer is closed when the engine stops.
type Notifier interface {
	Name() string // bounded: used as a metric label
	Notify(ctx context.Context, n *Notification) error
}

// Resender is a notifier that wants every firing alert again at least this
// often (Alertmanager forgets alerts that are not re-sent).
type Resender interface {
	ResendInterval() time.Duration
}

// DeliveryTuner is a notifier with its own queue and retry settings; others
// get the defaults.
type DeliveryTuner interface {
	DeliveryOptions() Delivery
}

// permanentError is a failure a retry cannot fix (a 4xx answer).
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// maxBackoff caps the wait between attempts.
const maxBackoff = time.Minute

// flushTimeout bounds delivering what is queued when the engine stops.
const flushTimeout = 5 * time.Second

// outbox is one notifier's bounded queue and its worker. Ordering is kept
// per notifier (a resolution never overtakes its firing); when the queue is
// full the oldest notification is dropped, as newer ones supersede it.
type outbox struct {
	name string
	send func(ctx context.Context, n *Notification) error
	opt  Delivery
	log  *slog.Logger
	m    *metrics

	mu   sync.Mutex
	q    []*Notification
	busy bool // a notification is being delivered
	kick chan struct{}
}

func newOutbox(name string, send func(context.Context, *Notification) error, opt Delivery, log *slog.Logger, m *metrics) *outbox {
	_ = opt.setDefaults(name) // fills only what is unset; negative values were refused by Parse
	return &outbox{name: name, send: send, opt: opt, log: log.With("notifier", name), m: m, kick: make(chan struct{}, 1)}
}

// push queues without blocking.
func (o *outbox) push(n *Notification) {
	o.mu.Lock()
	if len(o.q) >= o.opt.Queue {
		o.q = o.q[1:]
		o.m.dropped.WithLabelValues(o.name).Inc()
		o.log.Warn("notification queue full; dropped the oldest", "queue", o.opt.Queue)
	}
	o.q = append(o.q, n)
	o.mu.Unlock()
	select {
	case o.kick <- struct{}{}:
	default:
	}
}

func (o *outbox) pop() *Notification {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.q) == 0 {
		o.busy = false
		return nil
	}
	n := o.q[0]
	o.q[0] = nil
	o.q = o.q[1:]
	o.busy = true
	return n
}

// requeue puts back a notification interrupted by the stop, first in line
// for the flush.
func (o *outbox) requeue(n *Notification) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.q = append([]*Notification{n}, o.q...)
}

// idle reports whether everything queued has been delivered or dropped.
func (o *outbox) idle() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.q) == 0 && !o.busy
}

func (o *outbox) pending() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.q)
}

// run delivers until ctx is done, then tries once more what is left for at
// most flushTimeout.
func (o *outbox) run(ctx context.Context) {
	for {
		for n := o.pop(); n != nil; n = o.pop() {
			o.deliver(ctx, n, *o.opt.Retries)
			if ctx.Err() != nil {
				break
			}
		}
		select {
		case <-ctx.Done():
			flush, cancel := context.WithTimeout(context.WithoutCancel(ctx), flushTimeout)
			for flush.Err() == nil {
				n := o.pop()
				if n == nil {
					break
				}
				o.deliver(flush, n, 0)
			}
			cancel()
			if left := o.pending(); left > 0 {
				o.log.Warn("stopping with notifications undelivered", "left", left)
			}
			return
		case <-o.kick:
		}
	}
}

// deliver tries once and up to retries more times, waiting backoff,
// doubling, between attempts.
func (o *outbox) deliver(ctx context.Context, n *Notification, retries int) {
	wait := o.opt.Backoff
	for attempt := 0; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, o.opt.Timeout)
		err := o.send(actx, n)
		cancel()
		if err == nil {
			o.m.sent.WithLabelValues(o.name).Inc()
			return
		}
		o.m.errors.WithLabelValues(o.name).Inc()
		if ctx.Err() != nil && retries > 0 {
			o.requeue(n) // stopping: the flush tries it once more
			return
		}
		var perm *permanentError
		if errors.As(err, &perm) || attempt >= retries || ctx.Err() != nil {
			o.m.dropped.WithLabelValues(o.name).Inc()
			o.log.Error("notification not delivered; dropped", "alert", n.Alert.Fingerprint, "state", n.Alert.State, "attempts", attempt+1, "err", err)
			return
		}
		o.log.Warn("notification failed; retrying", "alert", n.Alert.Fingerprint, "attempt", attempt+1, "in", wait, "err", err)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			o.requeue(n)
			return
		case <-t.C:
		}
		wait = min(wait*2, maxBackoff)
	}
}
