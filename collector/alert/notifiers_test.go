package alert

import (
	"context"
	"crypto/hmac"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/parkcarbon/parkcarbon/internal/testenv"
	"github.com/parkcarbon/parkcarbon/internal/wire"
)

// hookReceiver is a webhook endpoint that checks every signature.
type hookReceiver struct {
	t      testing.TB
	secret []byte
	srv    *httptest.Server

	mu      sync.Mutex
	bodies  []WebhookBody
	bad     int      // requests with a wrong signature
	fail    int      // answer 500 to this many more requests
	status  int      // answer this instead of 200 (when set)
	hold    chan int // when set, requests wait for it to close
	answers []int
}

func newHookReceiver(t testing.TB, secret string) *hookReceiver {
	h := &hookReceiver{t: t, secret: []byte(secret)}
	h.srv = httptest.NewServer(http.HandlerFunc(h.serve))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *hookReceiver) serve(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	hold := h.hold
	h.mu.Unlock()
	if hold != nil {
		<-hold
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	answer := http.StatusOK
	switch {
	case !hmac.Equal([]byte(r.Header.Get(SignatureHeader)), []byte(Sign(h.secret, body))):
		h.bad++
		answer = http.StatusUnauthorized
	case h.fail > 0:
		h.fail--
		answer = http.StatusInternalServerError
	case h.status != 0:
		answer = h.status
	default:
		var b WebhookBody
		if err := json.Unmarshal(body, &b); err != nil {
			h.t.Errorf("webhook body %s: %v", body, err)
		}
		h.bodies = append(h.bodies, b)
	}
	h.answers = append(h.answers, answer)
	w.WriteHeader(answer)
}

func (h *hookReceiver) got() []WebhookBody {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.bodies)
}

func (h *hookReceiver) statuses() []string {
	var out []string
	for _, b := range h.got() {
		s := b.Alert.Enterprise + ":" + b.Status
		if b.Repeat {
			s += "(repeat)"
		}
		out = append(out, s)
	}
	return out
}

const hookCfg = `
tiers:
  key: {daily_kwh_per_mu: 100}
  general: {daily_kwh_per_mu: 300}
rules:
  - {name: daily, kind: intensity, limit: daily_kwh_per_mu, window: today, repeat_interval: 0s}
notifiers:
  webhooks:
    - name: ops
      url: %s
      secret_env: %s
      timeout: %s
      retries: %d
      backoff: 10ms
`

// hookEngine builds an engine whose only notifier is a webhook built from
// config (secret from the environment), with its workers running.
func hookEngine(t *testing.T, url, timeout string, retries int) (*Engine, *fakeSource, *fakeClock) {
	t.Setenv("PARKCARBON_TEST_HOOK_SECRET", "s3cret-key")
	cfg, err := Parse(fmt.Appendf(nil, hookCfg, url, "PARKCARBON_TEST_HOOK_SECRET", timeout, retries), "alerts.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg.StateDir = t.TempDir()
	ns, err := NewNotifiers(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	clock := newClock(t0)
	src := &fakeSource{}
	e, err := New(cfg, parseRegistry(t, testRegistry), src, nil, ns, clock.Now, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	wait := e.startWorkers(ctx)
	t.Cleanup(func() { cancel(); wait() })
	return e, src, clock
}

// A webhook that fails twice gets the notification on the third attempt,
// signed; the failures are counted.
func TestWebhookRetriesAndSignature(t *testing.T) {
	h := newHookReceiver(t, "s3cret-key")
	h.fail = 2
	e, src, _ := hookEngine(t, h.srv.URL, "5s", 3)
	src.setKWh("ent-a", 10, 123.4)
	e.evaluate(t.Context())
	settled(t, e)
	if n := len(h.got()); n != 1 {
		t.Fatalf("the webhook got %d notifications, want 1", n)
	}
	b := h.got()[0]
	if b.Version != WebhookVersion || b.Status != StateFiring || b.Repeat || b.Alert.Value != 123.4 || b.Alert.Limit != 100 ||
		b.Alert.Enterprise != "ent-a" || b.Alert.Annotations["electricity_kwh"] != "1234" || !b.At.Equal(t0) {
		t.Errorf("body %+v", b)
	}
	if h.bad != 0 {
		t.Errorf("%d requests with a wrong signature", h.bad)
	}
	if got := testutil.ToFloat64(e.m.errors.WithLabelValues("webhook:ops")); got != 2 {
		t.Errorf("errors = %v, want 2", got)
	}
	if got := testutil.ToFloat64(e.m.sent.WithLabelValues("webhook:ops")); got != 1 {
		t.Errorf("sent = %v, want 1", got)
	}
	// The signature covers the body: another body does not verify.
	body := []byte(`{"alert":{"value":1}}`)
	if Sign([]byte("s3cret-key"), body) == Sign([]byte("s3cret-key"), append(body, ' ')) || Sign([]byte("a"), body) == Sign([]byte("b"), body) {
		t.Error("signature does not depend on body and key")
	}
}

// A receiver that hangs holds up only its own queue: evaluation goes on,
// and once it answers it gets every change, in order.
func TestWebhookStuckDoesNotBlockEvaluation(t *testing.T) {
	h := newHookReceiver(t, "s3cret-key")
	release := make(chan int)
	h.hold = release
	defer func() { // a test failing early must not leave the server's handlers hanging
		select {
		case <-release:
		default:
			close(release)
		}
	}()
	e, src, clock := hookEngine(t, h.srv.URL, "1m", 3)
	src.setKWh("ent-a", 10, 150)
	e.evaluate(t.Context()) // ent-a fires; its delivery hangs
	for _, v := range []float64{160, 400, 50} {
		clock.Advance(time.Hour)
		src.setKWh("ent-b", 4, v*2)
		src.setKWh("ent-a", 10, v)
		e.evaluate(t.Context())
		e.ObserveReadings("gw-1", []wire.Reading{reading("ent-a", "m1", "active_power", 1, clock.Now())})
	}
	active := e.Active()
	if len(active) != 0 || e.outs[0].pending() == 0 {
		t.Fatalf("while the receiver hangs: active %v, queued %d", active, e.outs[0].pending())
	}
	if len(h.got()) != 0 {
		t.Fatal("delivered while the receiver hangs")
	}
	close(release)
	want := []string{"ent-a:firing", "ent-b:firing", "ent-a:resolved", "ent-b:resolved"}
	settled(t, e)
	if got := h.statuses(); !slices.Equal(got, want) {
		t.Errorf("delivered %v, want %v", got, want)
	}
}

// A closed port: each attempt fails fast and is retried with backoff until
// the retries are spent, then the notification is dropped and counted.
// A 4xx answer is not retried.
func TestWebhookDown(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + l.Addr().String() + "/hook"
	l.Close()
	e, src, clock := hookEngine(t, closed, "2s", 3)
	src.setKWh("ent-a", 10, 150)
	e.evaluate(t.Context())
	waitFor(t, "the retries to be spent", func() bool {
		return testutil.ToFloat64(e.m.dropped.WithLabelValues("webhook:ops")) == 1
	})
	if got := testutil.ToFloat64(e.m.errors.WithLabelValues("webhook:ops")); got != 4 {
		t.Errorf("attempts failed = %v, want 1 + 3 retries", got)
	}
	clock.Advance(time.Hour)
	src.setKWh("ent-a", 10, 10)
	e.evaluate(t.Context())
	if len(e.Active()) != 0 {
		t.Errorf("evaluation did not go on: %v", e.Active())
	}

	h := newHookReceiver(t, "s3cret-key")
	h.status = http.StatusUnprocessableEntity
	e2, src2, _ := hookEngine(t, h.srv.URL, "2s", 3)
	src2.setKWh("ent-a", 10, 150)
	e2.evaluate(t.Context())
	waitFor(t, "the refused notification to be dropped", func() bool {
		return testutil.ToFloat64(e2.m.dropped.WithLabelValues("webhook:ops")) == 1
	})
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.answers) != 1 {
		t.Errorf("a 422 was tried %d times, want once", len(h.answers))
	}
}

// A full queue drops the oldest notification, and counts it.
func TestOutboxOverflow(t *testing.T) {
	m, err := newMetrics(nil)
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{name: "rec"}
	o := newOutbox("rec", rec.Notify, Delivery{Queue: 2}, testLogger(t), m)
	for i := range 3 {
		o.push(&Notification{Alert: Alert{Fingerprint: fmt.Sprint(i)}})
	}
	q := queued(o)
	if len(q) != 2 || q[0].Alert.Fingerprint != "1" || testutil.ToFloat64(m.dropped.WithLabelValues("rec")) != 1 {
		t.Errorf("queue %v, dropped %v", q, testutil.ToFloat64(m.dropped.WithLabelValues("rec")))
	}
}

func TestNewNotifiersSecrets(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "hook.key")
	if err := os.WriteFile(key, []byte("from-a-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Parse([]byte(`
rules: [{name: x, kind: silence, target: meter}]
notifiers:
  webhooks: [{name: a, url: "http://127.0.0.1:1/", secret_file: hook.key}]
  mqtt: {broker: "tcp://127.0.0.1:1", password_env: PARKCARBON_TEST_UNSET_PASSWORD}
`), filepath.Join(dir, "alerts.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Notifiers.MQTT.PasswordEnv = ""
	cfg.Shard = Shard{Index: 1, Count: 3}
	ns, err := NewNotifiers(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if w := ns[0].(*Webhook); string(w.secret) != "from-a-file" {
		t.Errorf("secret %q: the file's trailing newline must go", w.secret)
	}
	if len(ns) != 2 || ns[1].Name() != "mqtt" {
		t.Errorf("notifiers %v", ns)
	}
	cfg.Notifiers.MQTT.PasswordEnv = "PARKCARBON_TEST_UNSET_PASSWORD"
	if _, err := NewNotifiers(cfg, nil); err == nil || !strings.Contains(err.Error(), "PARKCARBON_TEST_UNSET_PASSWORD is not set") {
		t.Errorf("unset password variable: %v", err)
	}
	cfg.Notifiers.MQTT = nil
	cfg.Notifiers.Webhooks[0].SecretFile = filepath.Join(dir, "missing.key")
	if _, err := NewNotifiers(cfg, nil); err == nil || !strings.Contains(err.Error(), `webhook "a": secret file`) {
		t.Errorf("missing secret file: %v", err)
	}
}

// mqttWatcher collects every message on a filter, in order.
type mqttWatcher struct {
	mu   sync.Mutex
	msgs []mqtt.Message
}

func (w *mqttWatcher) all() []mqtt.Message {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.msgs)
}

func mqttClient(t *testing.T, url, id string) mqtt.Client {
	t.Helper()
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(url).SetClientID(id).SetCleanSession(true))
	if tok := c.Connect(); !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
		t.Fatalf("connect %s: %v", id, tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return c
}

func (w *mqttWatcher) subscribe(t *testing.T, c mqtt.Client, filter string) {
	t.Helper()
	tok := c.Subscribe(filter, 1, func(_ mqtt.Client, m mqtt.Message) {
		w.mu.Lock()
		w.msgs = append(w.msgs, m)
		w.mu.Unlock()
	})
	if !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe %s: %v", filter, tok.Error())
	}
}

// retainedOn reads what the broker retains on a topic: a fresh client
// subscribes to it and then to a marker topic the test retained; the
// broker answers subscriptions in order, so whatever is retained on the
// topic arrives before the marker.
func retainedOn(t *testing.T, url, topic string) []byte {
	t.Helper()
	pub := mqttClient(t, url, "marker-pub")
	marker := "test/marker/" + fmt.Sprint(time.Now().UnixNano())
	if tok := pub.Publish(marker, 1, true, "m"); !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
		t.Fatalf("publish marker: %v", tok.Error())
	}
	c := mqttClient(t, url, "retained-reader")
	w := &mqttWatcher{}
	w.subscribe(t, c, topic)
	w.subscribe(t, c, marker)
	waitFor(t, "the marker", func() bool {
		for _, m := range w.all() {
			if m.Topic() == marker {
				return true
			}
		}
		return false
	})
	var got []byte
	for _, m := range w.all() {
		if m.Topic() == topic {
			if !m.Retained() {
				t.Errorf("message on %s is not retained", topic)
			}
			got = m.Payload()
		}
	}
	c.Disconnect(100)
	pub.Disconnect(100)
	return got
}

// An enterprise's firing alerts are retained on park/alerts/{enterprise};
// each change republishes the whole set, and the last resolution clears it.
func TestMQTTRetained(t *testing.T) {
	broker := testenv.Mosquitto(t)
	cfg, err := Parse(fmt.Appendf(nil, `
rules:
  - {name: counter, kind: quality, events: [reset], within: 1h}
  - {name: glitches, kind: quality, events: [glitch], within: 2h}
notifiers:
  mqtt: {broker: %q, topic_prefix: park, backoff: 10ms}
`, broker.URL), "alerts.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg.StateDir = t.TempDir()
	ns, err := NewNotifiers(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	clock := newClock(t0)
	e, err := New(cfg, nil, nil, nil, ns, clock.Now, testLogger(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	wait := e.startWorkers(ctx)
	defer func() { cancel(); wait() }()

	live := &mqttWatcher{}
	live.subscribe(t, mqttClient(t, broker.URL, "watcher"), "park/alerts/#")
	const topic = "park/alerts/ent-a"
	// last waits for at least n messages and returns the newest as a state
	// (an empty payload is the zero state).
	last := func(n int) MQTTState {
		waitFor(t, fmt.Sprintf("%d messages on %s", n, topic), func() bool { return len(live.all()) >= n })
		msgs := live.all()
		for _, m := range msgs {
			if m.Topic() != topic {
				t.Errorf("message on %s", m.Topic())
			}
		}
		var s MQTTState
		if p := msgs[len(msgs)-1].Payload(); len(p) > 0 {
			if err := json.Unmarshal(p, &s); err != nil {
				t.Fatalf("payload %q: %v", p, err)
			}
		}
		return s
	}
	rules := func(s MQTTState) []string {
		var out []string
		for _, a := range s.Alerts {
			out = append(out, a.Rule)
		}
		return out
	}
	ev := func(kind string) wire.Event {
		return wire.Event{Meter: "m1", Enterprise: "ent-a", Kind: kind, TS: clock.Now().UnixMilli()}
	}
	e.ObserveEvents("gw-1", []wire.Event{ev("reset")})
	if got := rules(last(1)); !slices.Equal(got, []string{"counter"}) {
		t.Fatalf("after the first alert: %v", got)
	}
	e.ObserveEvents("gw-1", []wire.Event{ev("glitch")})
	if got := rules(last(2)); !slices.Equal(got, []string{"counter", "glitches"}) {
		t.Fatalf("after the second alert: %v", got)
	}
	clock.Advance(61 * time.Minute)
	// The reset is an hour old: counter resolves, glitches fires on. This
	// first evaluation also republishes the firing state (resend).
	e.evaluate(t.Context())
	if got := rules(last(4)); !slices.Equal(got, []string{"glitches"}) {
		t.Fatalf("after one resolution: %v", got)
	}
	var kept MQTTState
	if err := json.Unmarshal(retainedOn(t, broker.URL, topic), &kept); err != nil || !slices.Equal(rules(kept), []string{"glitches"}) {
		t.Fatalf("retained while glitches fires: %+v (%v)", kept, err)
	}
	clock.Advance(time.Hour)
	e.evaluate(t.Context())
	waitFor(t, "the clearing message", func() bool {
		msgs := live.all()
		return len(msgs) == 5 && len(msgs[4].Payload()) == 0
	})
	if p := retainedOn(t, broker.URL, topic); p != nil {
		t.Errorf("still retained after every alert resolved: %q", p)
	}
}

// Firing and resolution reach a real Alertmanager through its v2 API.
func TestAlertmanagerNotifier(t *testing.T) {
	am := testenv.Alertmanager(t)
	cfg, err := Parse(fmt.Appendf(nil, `
generator_url: http://127.0.0.1:9100/api/alerts
rules:
  - {name: counter, kind: quality, events: [reset], within: 1h, labels: {team: energy}}
notifiers:
  alertmanagers: [{name: park, url: %q, backoff: 10ms}]
`, am.URL), "alerts.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg.StateDir = t.TempDir()
	ns, err := NewNotifiers(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Alertmanager judges endsAt by its own clock: the alert's times are
	// put in the past, where it knows them to be over.
	clock := newClock(time.Now().Add(-3 * time.Hour).Truncate(time.Second))
	e, err := New(cfg, nil, nil, nil, ns, clock.Now, testLogger(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	wait := e.startWorkers(ctx)
	defer func() { cancel(); wait() }()

	e.ObserveEvents("gw-1", []wire.Event{{Meter: "m7", Enterprise: "ent-a", Kind: "reset", Value: 3, TS: clock.Now().UnixMilli()}})
	var listed []Alert
	var generator string
	// A new alert is "unprocessed" until Alertmanager's dispatcher has
	// routed it; wait for it to be active.
	waitFor(t, "Alertmanager to list the alert as active", func() bool {
		as, err := am.Alerts(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		listed = nil
		for _, a := range as {
			listed = append(listed, Alert{Labels: a.Labels, Annotations: a.Annotations, StartsAt: a.StartsAt, EndsAt: a.EndsAt, State: a.Status.State})
			generator = a.GeneratorURL
		}
		return len(listed) == 1 && listed[0].State == "active"
	})
	if generator != "http://127.0.0.1:9100/api/alerts" {
		t.Errorf("generatorURL %q", generator)
	}
	a := listed[0]
	for k, want := range map[string]string{"alertname": "counter", "enterprise": "ent-a", "meter": "m7", "severity": "warning", "kind": "quality", "team": "energy"} {
		if a.Labels[k] != want {
			t.Errorf("label %s = %q, want %q", k, a.Labels[k], want)
		}
	}
	if a.Annotations["value"] != "1" || a.Annotations["limit"] != "1" || !a.StartsAt.Equal(clock.Now()) || !a.EndsAt.After(time.Now()) {
		t.Errorf("listed %+v", a)
	}
	clock.Advance(61 * time.Minute)
	e.evaluate(t.Context())
	waitFor(t, "Alertmanager to drop the resolved alert", func() bool {
		as, err := am.Alerts(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		return len(as) == 0
	})
	if got := testutil.ToFloat64(e.m.sent.WithLabelValues("alertmanager:park")); got != 2 {
		t.Errorf("sent %v, want the firing and the resolution", got)
	}
}

// A broker that is not there: each attempt gives up at its timeout, the
// retries are spent, the notification is dropped, and evaluation goes on.
func TestMQTTDown(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "tcp://" + l.Addr().String()
	l.Close()
	cfg, err := Parse(fmt.Appendf(nil, `
rules: [{name: counter, kind: quality, events: [reset]}]
notifiers:
  mqtt: {broker: %q, timeout: 50ms, retries: 2, backoff: 10ms}
`, closed), "alerts.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg.StateDir = t.TempDir()
	ns, err := NewNotifiers(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	clock := newClock(t0)
	e, err := New(cfg, nil, nil, nil, ns, clock.Now, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	wait := e.startWorkers(ctx)
	defer func() { cancel(); wait() }()
	e.ObserveEvents("gw-1", []wire.Event{{Meter: "m1", Enterprise: "ent-a", Kind: "reset", TS: clock.Now().UnixMilli()}})
	e.ObserveEvents("gw-1", []wire.Event{{Meter: "m2", Enterprise: "ent-a", Kind: "reset", TS: clock.Now().UnixMilli()}})
	if n := len(e.Active()); n != 2 {
		t.Fatalf("%d alerts while the broker is down, want 2", n)
	}
	settled(t, e)
	if d, errs := testutil.ToFloat64(e.m.dropped.WithLabelValues("mqtt")), testutil.ToFloat64(e.m.errors.WithLabelValues("mqtt")); d != 2 || errs != 6 {
		t.Errorf("dropped %v, failed attempts %v; want 2 and 2 × (1 + 2 retries)", d, errs)
	}
}
