package central

import (
	"encoding/json"
	"fmt"
	"sync"
	"time"
	"unicode/utf8"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/parkcarbon/parkcarbon/internal/wire"
)

// rejection says why a message is not stored; reason is a metric label.
type rejection struct {
	reason string
	err    error
}

func (r *rejection) Error() string { return r.reason + ": " + r.err.Error() }

func reject(reason string, format string, args ...any) *rejection {
	return &rejection{reason: reason, err: fmt.Errorf(format, args...)}
}

// admit checks one message before anything of it is stored: the topic, the
// payload's size and form, that the envelope speaks for the topic's
// enterprise and gateway, that the gateway is registered for the enterprise,
// and bounds on every reading. Readings that are out of range or stamped too
// far from now are dropped (counted by reason); the rest of the envelope is
// kept. It never panics, whatever the input.
func (s *Service) admit(topic string, payload []byte, now time.Time) (*wire.Envelope, *rejection) {
	enterprise, gateway, err := wire.ParseTopic(s.cfg.MQTT.TopicPrefix, topic)
	if err != nil {
		return nil, &rejection{"topic", err}
	}
	if !wire.ValidID(enterprise) || !wire.ValidID(gateway) {
		return nil, reject("topic", "topic %q has an invalid enterprise or gateway id", topic)
	}
	if len(payload) > int(s.cfg.Ingest.MaxPayload) {
		return nil, reject("too_large", "payload of %d bytes, more than %d", len(payload), s.cfg.Ingest.MaxPayload)
	}
	env, err := wire.DecodeShared(payload) // paho never writes a payload it has handed over
	if err != nil {
		return nil, &rejection{"malformed", err}
	}
	if env.Gateway != gateway {
		return nil, reject("gateway_mismatch", "envelope of gateway %q on topic %q", env.Gateway, topic)
	}
	for i := range env.Readings {
		if env.Readings[i].Enterprise != enterprise {
			return nil, reject("enterprise_mismatch", "reading %d of enterprise %q on topic %q", i, env.Readings[i].Enterprise, topic)
		}
	}
	for i := range env.Events {
		if env.Events[i].Enterprise != enterprise {
			return nil, reject("enterprise_mismatch", "event %d of enterprise %q on topic %q", i, env.Events[i].Enterprise, topic)
		}
	}
	if rej := s.registered(enterprise, gateway); rej != nil {
		return nil, rej
	}
	s.trim(env, now)
	if len(env.Readings)+len(env.Events) == 0 {
		return nil, reject("no_valid_reading", "every reading was out of range or stamped too far from now")
	}
	return env, nil
}

// registered enforces enterprise isolation when a registry is loaded: the
// enterprise must be in it, and if it lists gateways, the gateway must be
// one of them. Without a registry every enterprise is accepted.
func (s *Service) registered(enterprise, gateway string) *rejection {
	if s.registry == nil {
		return nil
	}
	e, ok := s.registry.Lookup(enterprise)
	if !ok {
		return reject("unknown_enterprise", "enterprise %q is not in the registry", enterprise)
	}
	if len(e.Gateways) == 0 {
		return nil
	}
	for _, g := range e.Gateways {
		if g == gateway {
			return nil
		}
	}
	return reject("gateway_not_registered", "gateway %q is not registered for enterprise %q", gateway, enterprise)
}

// trim drops readings (and events) out of physical range, with an
// implausible interval, stamped more than maxFuture ahead or older than
// ingest.max_age, counting each by reason.
func (s *Service) trim(env *wire.Envelope, now time.Time) {
	future := now.Add(maxFuture).UnixMilli()
	oldest := int64(0)
	if s.cfg.Ingest.MaxAge > 0 {
		oldest = now.Add(-s.cfg.Ingest.MaxAge).UnixMilli()
	}
	kept := env.Readings[:0]
	for _, r := range env.Readings {
		reason := ""
		switch {
		case r.TS > future:
			reason = "future_timestamp"
		case r.TS < oldest:
			reason = "too_old"
		case !wire.Plausible(r.Quantity, r.Value):
			reason = "out_of_range"
		case r.Delta != nil && *r.Delta > wire.MaxDelta:
			reason = "implausible_delta"
		}
		if reason != "" {
			s.m.rejectedReadings.WithLabelValues(reason).Inc()
			continue
		}
		kept = append(kept, r)
	}
	if n := len(env.Readings) - len(kept); n > 0 {
		s.log.Warn("readings dropped from an envelope; see parkcarbon_collector_readings_rejected_total", "gateway", env.Gateway, "readings", n)
	}
	env.Readings = kept
	keptEv := env.Events[:0]
	for _, e := range env.Events {
		if e.TS <= future && e.TS >= oldest {
			keptEv = append(keptEv, e)
		}
	}
	env.Events = keptEv
}

// deadLetter is what the collector publishes for a rejected message, so that
// an operator can see what a gateway sent and why it was refused.
type deadLetter struct {
	Reason  string `json:"reason"`
	Error   string `json:"error"`
	Topic   string `json:"topic"`
	Payload string `json:"payload,omitempty"` // as text when it is UTF-8, cut at 64 KiB
	At      int64  `json:"at"`
}

const deadLetterMax = 64 << 10

// publishDeadLetter sends a rejection to {prefix}/deadletter/{reason},
// without waiting: the dead-letter topic is for people, not for delivery
// guarantees.
func (s *Service) publishDeadLetter(topic string, payload []byte, rej *rejection) {
	if s.client == nil || !s.client.IsConnectionOpen() {
		return
	}
	dl := deadLetter{Reason: rej.reason, Error: rej.err.Error(), Topic: topic, At: time.Now().UnixMilli()}
	if utf8.Valid(payload) {
		dl.Payload = string(payload[:min(len(payload), deadLetterMax)])
	}
	b, err := json.Marshal(dl)
	if err != nil {
		return
	}
	s.client.Publish(s.cfg.MQTT.TopicPrefix+"/deadletter/"+rej.reason, 0, false, b)
}

// rejectMessage is the reject path of onMessage: count, log, dead-letter, and
// acknowledge, so that a poison message is not redelivered forever.
func (s *Service) rejectMessage(msg mqtt.Message, rej *rejection) {
	s.m.messages.WithLabelValues(rej.reason).Inc()
	if s.logThrottle.allow(rej.reason+" "+msg.Topic(), time.Now()) {
		s.log.Warn("message rejected (further ones of this topic and reason are only counted for 5 minutes)",
			"topic", msg.Topic(), "reason", rej.reason, "err", rej.err)
	}
	s.publishDeadLetter(msg.Topic(), msg.Payload(), rej)
	msg.Ack()
	s.release()
}

// throttle lets a repeating log line through once per window per key: a
// misconfigured gateway sending every second must not flood the log, and
// the counters carry the rest (they are never throttled).
type throttle struct {
	mu   sync.Mutex
	last map[string]time.Time
}

const throttleWindow = 5 * time.Minute

func (t *throttle) allow(key string, now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.last == nil {
		t.last = map[string]time.Time{}
	}
	if now.Sub(t.last[key]) < throttleWindow {
		return false
	}
	if len(t.last) > 10000 { // bounded: forget everything rather than grow
		clear(t.last)
	}
	t.last[key] = now
	return true
}
