package central

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/parkcarbon/parkcarbon/internal/testenv"
)

// BenchmarkIngestToSink is the collector's own ceiling, InfluxDB's cost left
// out: b.N envelopes of 50 readings go through a real Mosquitto into a
// running Service whose InfluxDB is an HTTP sink that takes every write and
// answers every query with nothing. Four clients publish at full speed (QoS
// 1, up to 64 unacknowledged each); readings/s runs from the first publish
// until the Service counted the last reading written. The publishers and
// the broker share the cores, so this is a lower bound.
//
//	go test ./collector/central -run '^$' -bench IngestToSink -benchtime 20000x -count 3
func BenchmarkIngestToSink(b *testing.B) {
	broker := testenv.Mosquitto(b)
	var lines atomic.Int64
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/api/v2/write":
			body, _ := io.ReadAll(r.Body)
			lines.Add(int64(bytes.Count(body, []byte{'\n'})))
			w.WriteHeader(http.StatusNoContent)
		case "/api/v2/query":
			w.Header().Set("Content-Type", "text/csv")
		default:
			w.WriteHeader(http.StatusNoContent)
		}
	}))
	defer sink.Close()
	cfg := &Config{
		MQTT:     MQTTConfig{Broker: broker.URL, ClientID: "collector-bench"},
		InfluxDB: InfluxConfig{URL: sink.URL, Token: "bench:unused", Bucket: "energy/autogen", Timeout: 5 * time.Second},
		Spool:    SpoolConfig{Dir: filepath.Join(b.TempDir(), "spool")},
	}
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		b.Fatal(err)
	}
	svc, err := New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = svc.Run(ctx) })
	for deadline := time.Now().Add(10 * time.Second); !svc.connected.Load(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			b.Fatal("collector not subscribed")
		}
	}
	payload := benchPayload(b, benchEnvelope(50))
	const clients, window = 4, 64

	b.ResetTimer()
	start := time.Now()
	var pubs sync.WaitGroup
	for c := range clients {
		pubs.Go(func() {
			pub := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(broker.URL).SetClientID("bench-pub-" + string(rune('a'+c))))
			if tok := pub.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
				b.Errorf("connect publisher: %v", tok.Error())
				return
			}
			defer pub.Disconnect(100)
			var inflight []mqtt.Token
			for i := c; i < b.N; i += clients {
				if len(inflight) == window {
					inflight[0].Wait()
					inflight = inflight[1:]
				}
				inflight = append(inflight, pub.Publish(benchTopic, 1, false, payload))
			}
			for _, t := range inflight {
				t.Wait()
			}
		})
	}
	pubs.Wait()
	want := float64(b.N * 50)
	for deadline := time.Now().Add(5 * time.Minute); testutil.ToFloat64(svc.m.readings) < want; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			b.Fatalf("%v of %v readings written", testutil.ToFloat64(svc.m.readings), want)
		}
	}
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(want/elapsed.Seconds(), "readings/s")
	b.ReportMetric(float64(lines.Load())/elapsed.Seconds(), "points/s")
	cancel()
	wg.Wait()
}
