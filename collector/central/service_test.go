package central

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"path/filepath"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/parkcarbon/parkcarbon/internal/servers"
	"github.com/parkcarbon/parkcarbon/internal/testenv"
	"github.com/parkcarbon/parkcarbon/internal/wire"
)

func publisher(t *testing.T, broker string, id string) mqtt.Client {
	t.Helper()
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(broker).SetClientID(id))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connect publisher: %v", tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return c
}

// envelope i of meter m-1: one total and its interval of 0.5 kWh, 10 s apart.
func envelope(i int) []byte {
	ts := time.Now().Add(-time.Hour).Truncate(time.Hour).UnixMilli() + int64(i)*10_000
	d := 0.5
	env := &wire.Envelope{V: 1, Gateway: "gw-01", Seq: uint64(i), Readings: []wire.Reading{{
		Meter: "m-1", Enterprise: "ent-001", Energy: "electricity", Quantity: "energy_import_total",
		Value: 1000 + 0.5*float64(i), Unit: "kWh", TS: ts, Delta: &d, Since: ts - 10_000,
	}}}
	b, _ := wire.Encode(env)
	return b
}

func publish(t *testing.T, c mqtt.Client, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		tok := c.Publish("park/ent-001/gw-01/readings", 1, false, envelope(i))
		if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatalf("publish %d: %v", i, tok.Error())
		}
	}
}

func startService(t *testing.T, broker *servers.Mosquitto, influx *servers.Influx) (*Service, func()) {
	t.Helper()
	return startServiceWith(t, broker, influx, nil)
}

// startServiceWith is startService with a config change before defaults.
func startServiceWith(t *testing.T, broker *servers.Mosquitto, influx *servers.Influx, change func(*Config)) (*Service, func()) {
	t.Helper()
	cfg := &Config{
		MQTT:     MQTTConfig{Broker: broker.URL, ClientID: "collector-test"},
		InfluxDB: InfluxConfig{URL: influx.URL, Token: influx.Token, Bucket: influx.Bucket, Timeout: 2 * time.Second},
		Spool:    SpoolConfig{Dir: filepath.Join(t.TempDir(), "spool")},
		Ingest:   IngestConfig{RollupInterval: time.Second},
	}
	if change != nil {
		change(cfg)
	}
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	svc, err := New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := svc.Run(ctx); err != nil {
			t.Errorf("run: %v", err)
		}
	})
	stop := func() { cancel(); wg.Wait() }
	t.Cleanup(stop)
	waitFor(t, "collector subscribed", 10*time.Second, func() bool { return svc.connected.Load() })
	return svc, stop
}

func waitFor(t *testing.T, what string, timeout time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func count(t *testing.T, influx *servers.Influx, measurement, field string) (n int, sum float64) {
	t.Helper()
	rows, err := influx.Query(t.Context(), fmt.Sprintf(`from(bucket: %q) |> range(start: -1d)
  |> filter(fn: (r) => r._measurement == %q and r._field == %q) |> group()`, influx.Bucket, measurement, field))
	if err != nil {
		return -1, 0
	}
	for _, r := range rows {
		sum += num(t, r["_value"])
	}
	return len(rows), sum
}

// InfluxDB down: the collector spools to disk, acknowledges what it spooled,
// says it is not ready, and drains in order when InfluxDB is back; the hourly
// rollups include what was spooled.
func TestInfluxOutageSpoolsAndDrains(t *testing.T) {
	influx, broker := testenv.Influx(t), testenv.Mosquitto(t)
	svc, _ := startService(t, broker, influx)
	pub := publisher(t, broker.URL, "gw-test")

	publish(t, pub, 0, 10)
	waitFor(t, "10 intervals stored", 20*time.Second, func() bool { n, _ := count(t, influx, "consumption", "amount"); return n == 10 })
	if err := svc.Ready(); err != nil {
		t.Fatalf("not ready with InfluxDB up: %v", err)
	}

	if err := influx.Stop(); err != nil {
		t.Fatal(err)
	}
	publish(t, pub, 10, 30)
	spooledMsgs := func() float64 { return testutil.ToFloat64(svc.m.messages.WithLabelValues("spooled")) }
	waitFor(t, "20 envelopes spooled and acknowledged", 30*time.Second, func() bool {
		return spooledMsgs()+testutil.ToFloat64(svc.m.messages.WithLabelValues("written")) == 30 && spooledMsgs() > 0
	})
	if svc.Ready() == nil {
		t.Fatal("ready while InfluxDB is down")
	}
	if svc.spool.Stats().Records == 0 {
		t.Fatal("nothing in the spool")
	}

	if err := influx.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "spool drained", 60*time.Second, func() bool { return svc.spool.Stats().Records == 0 && svc.Ready() == nil })
	n, sum := count(t, influx, "consumption", "amount")
	if n != 30 || math.Abs(sum-15) > 1e-9 {
		t.Fatalf("after the outage: %d intervals, %v kWh; want 30, 15", n, sum)
	}
	waitFor(t, "hourly rollup caught up", 20*time.Second, func() bool {
		_, hourly := count(t, influx, "consumption_hourly", "amount")
		return math.Abs(hourly-15) < 1e-9
	})
}

// What the design relies on: with a persistent session and manual
// acknowledgement, a message received but not acknowledged is delivered
// again to the next connection of the same client id.
func TestUnackedMessageIsRedelivered(t *testing.T) {
	broker := testenv.Mosquitto(t)
	got := make(chan mqtt.Message, 10)
	connect := func() mqtt.Client {
		opts := mqtt.NewClientOptions().AddBroker(broker.URL).SetClientID("redeliver-test").
			SetCleanSession(false).SetAutoAckDisabled(true)
		opts.SetDefaultPublishHandler(func(_ mqtt.Client, m mqtt.Message) { got <- m })
		c := mqtt.NewClient(opts)
		if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatal(tok.Error())
		}
		if tok := c.Subscribe("park/+/+/readings", 1, nil); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatal(tok.Error())
		}
		return c
	}
	sub := connect()
	publish(t, publisher(t, broker.URL, "gw-test"), 0, 1)
	first := <-got // received, never acknowledged
	sub.Disconnect(0)

	sub = connect()
	defer sub.Disconnect(100)
	select {
	case again := <-got:
		if string(again.Payload()) != string(first.Payload()) || !again.Duplicate() {
			t.Fatalf("redelivered %q dup=%v", again.Payload(), again.Duplicate())
		}
		again.Ack()
	case <-time.After(10 * time.Second):
		t.Fatal("the unacknowledged message did not come back")
	}
}

// With ingest.linger, messages arriving one after another go to InfluxDB in
// one write, not one write each.
func TestLingerBatchesWrites(t *testing.T) {
	influx, broker := testenv.Influx(t), testenv.Mosquitto(t)
	svc, _ := startServiceWith(t, broker, influx, func(c *Config) { c.Ingest.Linger = 2 * time.Second })
	pub := publisher(t, broker.URL, "linger-pub")
	publish(t, pub, 0, 10) // each waits for its PUBACK: 10 arrivals, not a burst
	waitFor(t, "10 readings stored", 20*time.Second, func() bool {
		n, _ := count(t, influx, "reading", "value")
		return n == 10
	})
	if w := testutil.ToFloat64(svc.m.writes); w != 1 {
		t.Fatalf("%v writes for 10 messages within the linger, want 1", w)
	}
}
