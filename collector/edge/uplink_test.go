package edge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/parkcarbon/parkcarbon/internal/queue"
	"github.com/parkcarbon/parkcarbon/internal/wire"
)

// fakeClient stands in for paho: publishes succeed (and are kept) while up,
// fail at once while down, as paho's do when it is not connected.
type fakeClient struct {
	mqtt.Client // anything else panics

	mu        sync.Mutex
	up        bool
	published []message
	attempts  chan struct{} // if set, signalled at each publish attempt
}

type message struct {
	topic   string
	payload []byte
}

type doneToken struct{ err error }

var closedCh = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

func (t doneToken) Wait() bool                     { return true }
func (t doneToken) WaitTimeout(time.Duration) bool { return true }
func (t doneToken) Done() <-chan struct{}          { return closedCh }
func (t doneToken) Error() error                   { return t.err }

var errDown = errors.New("not connected")

func (c *fakeClient) Connect() mqtt.Token {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.up {
		return doneToken{errDown}
	}
	return doneToken{}
}

func (c *fakeClient) Disconnect(uint) {}

func (c *fakeClient) Publish(topic string, _ byte, _ bool, payload any) mqtt.Token {
	c.mu.Lock()
	up, attempts := c.up, c.attempts
	if up {
		c.published = append(c.published, message{topic, append([]byte(nil), payload.([]byte)...)})
	}
	c.mu.Unlock()
	if attempts != nil {
		attempts <- struct{}{}
	}
	if !up {
		return doneToken{errDown}
	}
	return doneToken{}
}

func testUplink(t *testing.T, store *queue.Store, client mqtt.Client, gateway string) *uplink {
	t.Helper()
	u, err := newUplink(UplinkConfig{Broker: "tcp://127.0.0.1:1", TopicPrefix: "park", BatchSize: 500, Linger: time.Second, MaxRate: 1e6},
		gateway, store, slog.New(slog.NewTextHandler(io.Discard, nil)), newMetrics(prometheus.NewRegistry()))
	if err != nil {
		t.Fatal(err)
	}
	u.client = client
	return u
}

// Records of the formats before (one JSON reading or event each, as agents
// up to 5f25674 queued them; readings as JSON, up to b113529) may still be
// queued after an upgrade: they are published with the new ones, in order,
// one envelope per enterprise, and every envelope decodes to exactly what
// was recorded.
func TestUplinkPublishesOldAndNewRecords(t *testing.T) {
	// The second gateway id does not fit the head room left in payloads.
	for _, gateway := range []string{"gw-1", strings.Repeat("g", 64)} {
		t.Run(gateway[:4], func(t *testing.T) { testUplinkOldAndNew(t, gateway) })
	}
}

func testUplinkOldAndNew(t *testing.T, gateway string) {
	store, err := queue.Open(filepath.Join(t.TempDir(), "q.db"), queue.Options{Items: recordItems})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	d := 0.5
	old := []record{
		{R: &wire.Reading{Meter: "m-1", Enterprise: "ent-a", Energy: wire.Electricity, Quantity: "energy_import_total",
			Value: 100.5, Unit: "kWh", TS: 1000, Quality: "good", Delta: &d, Since: 500}},
		{E: &wire.Event{Meter: "m-2", Enterprise: "ent-b", Kind: "gap", Value: 7, Message: `no "previous" total <&>`, TS: 1000}},
		{R: &wire.Reading{Meter: "m-2", Enterprise: "ent-b", Energy: wire.Water, Quantity: "volume_total", Value: 7, Unit: "m³", TS: 1000}},
	}
	want := map[string]*wire.Envelope{}
	env := func(ent string) *wire.Envelope {
		if want[ent] == nil {
			want[ent] = &wire.Envelope{V: wire.Version, Gateway: gateway, Readings: []wire.Reading{}}
		}
		return want[ent]
	}
	for _, r := range old {
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		if err := store.Commit([][]byte{b}, nil); err != nil {
			t.Fatal(err)
		}
		if r.R != nil {
			env(r.R.Enterprise).Readings = append(env(r.R.Enterprise).Readings, *r.R)
		} else {
			env(r.E.Enterprise).Events = append(env(r.E.Enterprise).Events, *r.E)
		}
	}
	// A record of one poll with its readings as JSON (pollFormatJSON), as
	// agents up to b113529 queued them.
	v1 := pollOf("m-5", 1500, 3)
	for j := range v1 {
		v1[j].Enterprise = "ent-a"
	}
	if err := store.Commit([][]byte{appendPollRecordJSON(nil, "ent-a", v1, nil)}, nil); err != nil {
		t.Fatal(err)
	}
	env("ent-a").Readings = append(env("ent-a").Readings, v1...)
	// New records: polls of two meters, one with an event.
	rc := testRecorder(store)
	for i, meter := range []string{"m-3", "m-4", "m-3"} {
		readings := pollOf(meter, int64(2000+i), float64(10+i))
		for j := range readings {
			readings[j].Enterprise = "ent-" + string(rune('a'+i%2))
		}
		if err := rc.record(meter, testSpec, "energy_import_total", nil, readings, nil); err != nil {
			t.Fatal(err)
		}
	}
	// The records as queued, recorded (the counter step set delta and since):
	// one per enterprise.
	recorded, _ := rc.pending.records(nil, nil)
	for _, b := range recorded {
		readings, events, err := decodePollRecord(b[queue.FrameRoom:])
		if err != nil {
			t.Fatal(err)
		}
		e := env(readings[0].Enterprise)
		e.Readings = append(e.Readings, readings...)
		e.Events = append(e.Events, events...)
	}
	rc.commitPending(false)
	if st := store.Stats(); st.Records != 3+1+2 || st.Items != 3+2+3*2+2 {
		t.Fatalf("queue: %+v", st)
	}

	client := &fakeClient{up: true}
	u := testUplink(t, store, client, gateway)
	n, err := u.drainOnce(t.Context())
	if err != nil || n != 13 {
		t.Fatalf("drained %d, %v", n, err)
	}
	if len(client.published) != 2 {
		t.Fatalf("%d envelopes, want one per enterprise", len(client.published))
	}
	for _, msg := range client.published {
		ent, _, err := wire.ParseTopic("park", msg.topic)
		if err != nil {
			t.Fatal(err)
		}
		got, err := wire.Decode(msg.payload)
		if err != nil {
			t.Fatalf("%s: %v\n%s", ent, err, msg.payload)
		}
		got.Seq, got.SentAt = 0, 0
		if !reflect.DeepEqual(got, want[ent]) {
			t.Errorf("%s: got\n%+v\nwant\n%+v", ent, got, want[ent])
		}
	}
	if st := store.Stats(); st.Records != 0 || st.Items != 0 {
		t.Fatalf("queue after the drain: %+v", st)
	}
}

// An agent stopped while the broker is unreachable and records are queued
// returns from Run once the drain time is up, leaving the records on disk.
// Before 5f25674 its uplink went on spinning: each round's publish failed at
// once on the cancelled context and the stopping branch went round again.
// A spin is told from a wait by counting publish attempts, not by time.
func TestStopWithBrokerDownReturns(t *testing.T) {
	dir := t.TempDir()
	cfg := &Config{Gateway: "gw-1",
		Uplink: UplinkConfig{Broker: "tcp://127.0.0.1:1", TopicPrefix: "park", BatchSize: 500, Linger: time.Second, MaxRate: 5000},
		Buffer: BufferConfig{Dir: dir, MaxSize: 1 << 30, Sync: "always"}}
	reg := prometheus.NewRegistry()
	a, err := New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), reg)
	if err != nil {
		t.Fatal(err)
	}
	client := &fakeClient{attempts: make(chan struct{})}
	a.uplink.client = client
	if err := a.store.Commit([][]byte{appendPollRecord(nil, "ent-1", pollOf("m-1", 1000, 1), nil)}, nil); err != nil {
		t.Fatal(err)
	}
	// The queue's depth is in readings and events, not records.
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP parkcarbon_edge_buffer_records Readings and events queued on disk, not yet acknowledged by the broker.
# TYPE parkcarbon_edge_buffer_records gauge
parkcarbon_edge_buffer_records 2
`), "parkcarbon_edge_buffer_records"); err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(t.Context())
	stop() // stopped at once: only the drain is left, against a dead broker
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	// The retries back off over the drain time: a handful of attempts. A
	// spinning uplink makes thousands.
	for attempts := 0; ; attempts++ {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			store, err := queue.Open(filepath.Join(dir, "queue.db"), queue.Options{Items: recordItems})
			if err != nil {
				t.Fatal(err)
			}
			defer store.Close()
			if st := store.Stats(); st.Records != 1 || st.Items != 2 {
				t.Fatalf("queue after the stop: %+v, want the record kept", st)
			}
			return
		case <-client.attempts:
			if attempts > 1000 {
				t.Fatalf("%d publish attempts after the stop: the uplink spins instead of returning", attempts)
			}
		}
	}
}

// A drain takes records in order while each enterprise's envelope stays
// within batch_size; the rest waits for the next drain.
func TestUplinkBatchPerEnterprise(t *testing.T) {
	store, err := queue.Open(filepath.Join(t.TempDir(), "q.db"), queue.Options{Items: recordItems})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	for i := range 6 {
		ent := []string{"ent-a", "ent-b"}[i%2]
		readings := pollOf("m-1", int64(1000+i), 1)
		for j := range readings {
			readings[j].Enterprise = ent
		}
		if err := store.Commit([][]byte{appendPollRecord(nil, ent, readings, nil)}, nil); err != nil {
			t.Fatal(err)
		}
	}
	client := &fakeClient{up: true}
	u := testUplink(t, store, client, "gw-1")
	u.cfg.BatchSize = 5
	var sizes []int
	var ts []int64
	for drain := 0; store.Stats().Records > 0; drain++ {
		if drain == 3 {
			t.Fatal("not drained in 2 drains")
		}
		client.published = nil
		if _, err := u.drainOnce(t.Context()); err != nil {
			t.Fatal(err)
		}
		for _, msg := range client.published {
			env, err := wire.Decode(msg.payload)
			if err != nil {
				t.Fatal(err)
			}
			sizes = append(sizes, len(env.Readings))
			for _, r := range env.Readings {
				if r.Quantity == "energy_import_total" {
					ts = append(ts, r.TS)
				}
			}
		}
	}
	if fmt.Sprint(sizes) != "[4 4 2 2]" || fmt.Sprint(ts) != "[1000 1002 1001 1003 1004 1005]" {
		t.Fatalf("envelope sizes %v, totals' ts %v", sizes, ts)
	}
}

// heldClient is paho as the uplink sees it: it keeps each payload it is
// given (paho holds it until the PUBACK, and after a failed attempt perhaps
// longer, to resend it), failing the first fail attempts.
type heldClient struct {
	mqtt.Client
	fail  int
	held  [][]byte // every payload passed, as passed
	given [][]byte // a copy of each, taken when passed
}

func (c *heldClient) Publish(_ string, _ byte, _ bool, payload any) mqtt.Token {
	p := payload.([]byte)
	c.held = append(c.held, p)
	c.given = append(c.given, append([]byte(nil), p...))
	if c.fail > 0 {
		c.fail--
		return doneToken{errDown}
	}
	return doneToken{}
}

// A payload acknowledged at the first attempt is reused by the next drain's
// envelope; one whose first attempt failed (paho may still resend it) is
// never written again.
func TestUplinkReusesOnlyAcknowledgedPayloads(t *testing.T) {
	store, err := queue.Open(filepath.Join(t.TempDir(), "q.db"), queue.Options{Items: recordItems})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	client := &heldClient{}
	u := testUplink(t, store, client, "gw-1")
	drain := func(ts int64) {
		t.Helper()
		if err := store.Commit([][]byte{appendPollRecord(nil, "ent-1", pollOf("m-1", ts, float64(ts)), nil)}, nil); err != nil {
			t.Fatal(err)
		}
		if n, err := u.drainOnce(t.Context()); err != nil || n != 2 {
			t.Fatalf("drained %d, %v", n, err)
		}
	}
	drain(1000)
	drain(1001) // reuses the first payload's buffer
	if len(client.held) != 2 || &client.held[0][0] != &client.held[1][0] {
		t.Fatalf("%d publishes; the second payload should reuse the first one's buffer", len(client.held))
	}
	client.fail = 1
	drain(1002)                    // fails once, then succeeds with the same payload
	failed := len(client.held) - 2 // the failed attempt and its retry
	drain(1003)
	drain(1004)
	for i := failed; i < failed+2; i++ {
		if string(client.held[i]) != string(client.given[i]) {
			t.Fatalf("payload %d changed after it was passed:\n%s\nwas\n%s", i, client.held[i], client.given[i])
		}
	}
	for i, p := range client.given {
		env, err := wire.Decode(p)
		if err != nil || len(env.Readings) != 2 {
			t.Fatalf("payload %d: %v\n%s", i, err, p)
		}
	}
}

// A record whose compact readings do not decode (written so by a fault, its
// checksum is right) is dropped and counted, without a trace in the
// envelope it would have joined: the records around it are published whole.
func TestUplinkDropsUndecodableRecord(t *testing.T) {
	store, err := queue.Open(filepath.Join(t.TempDir(), "q.db"), queue.Options{Items: recordItems})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	good := appendPollRecord(nil, "ent-1", pollOf("m-1", 1000, 1), nil)
	p, err := parsePollRecord(good)
	if err != nil {
		t.Fatal(err)
	}
	// Its second reading cut short: the first one decodes.
	cut := p.readings[:len(p.readings)-1]
	bad := append(appendRecordHead(nil, "ent-1", 2, 0, 1000, len(cut)), cut...)
	for _, rec := range [][]byte{good, bad, appendPollRecord(nil, "ent-1", pollOf("m-2", 1000, 2), nil)} {
		if err := store.Commit([][]byte{rec}, nil); err != nil {
			t.Fatal(err)
		}
	}
	client := &fakeClient{up: true}
	u := testUplink(t, store, client, "gw-1")
	if n, err := u.drainOnce(t.Context()); err != nil || n != 4 {
		t.Fatalf("drained %d, %v", n, err)
	}
	if len(client.published) != 1 {
		t.Fatalf("%d envelopes, want 1", len(client.published))
	}
	env, err := wire.Decode(client.published[0].payload)
	if err != nil {
		t.Fatalf("%v\n%s", err, client.published[0].payload)
	}
	want := append(pollOf("m-1", 1000, 1), pollOf("m-2", 1000, 2)...)
	if !reflect.DeepEqual(env.Readings, want) {
		t.Fatalf("readings\n%+v\nwant\n%+v", env.Readings, want)
	}
	if c := testutil.ToFloat64(u.m.corrupt); c != 1 {
		t.Fatalf("%v records counted undecodable, want 1", c)
	}
	if st := store.Stats(); st.Records != 0 {
		t.Fatalf("queue after the drain: %+v", st)
	}
}
