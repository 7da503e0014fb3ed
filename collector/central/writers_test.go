package central

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// ackedMessage records the order in which the collector acknowledges.
type ackedMessage struct {
	fakeMessage
	id    int
	mu    *sync.Mutex
	acked *[]int
}

func (m ackedMessage) Ack() {
	m.mu.Lock()
	defer m.mu.Unlock()
	*m.acked = append(*m.acked, m.id)
}

// TestWritersOverlapAndAckInOrder: with ingest.writers 2 the second batch is
// written while InfluxDB still holds the first (a fake InfluxDB answers the
// first write only once the second has arrived, and the second at once), and
// yet the messages are acknowledged in the order they came. With one writer
// the fake never sees two writes at once and the test fails.
func TestWritersOverlapAndAckInOrder(t *testing.T) {
	var mu sync.Mutex
	inFlight, most, writes := 0, 0, 0
	second := make(chan struct{})
	influx := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		mu.Lock()
		inFlight++
		most = max(most, inFlight)
		writes++
		n := writes
		mu.Unlock()
		if n == 1 {
			select {
			case <-second:
			case <-time.After(10 * time.Second): // one writer: give up, most stays 1
			}
		} else if n == 2 {
			close(second)
		}
		mu.Lock()
		inFlight--
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	defer influx.Close()

	cfg := &Config{
		MQTT:     MQTTConfig{Broker: "tcp://127.0.0.1:1"},
		InfluxDB: InfluxConfig{URL: influx.URL, Bucket: "energy/autogen"},
		Spool:    SpoolConfig{Dir: filepath.Join(t.TempDir(), "spool")},
		Ingest:   IngestConfig{Writers: 2, BatchPoints: 1}, // a batch per message
	}
	cfg.setDefaults()
	s, err := New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	defer s.spool.Close()
	defer s.influx.Close()

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.writeLoop(ctx) }()

	var ackMu sync.Mutex
	var acked []int
	payload := benchPayload(t, benchEnvelope(4))
	const n = 6
	for i := range n {
		s.onMessage(nil, ackedMessage{fakeMessage{benchTopic, payload}, i, &ackMu, &acked})
	}
	waitFor(t, "every message acknowledged", 30*time.Second, func() bool {
		ackMu.Lock()
		defer ackMu.Unlock()
		return len(acked) == n
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if most != 2 {
		t.Errorf("at most %d writes in flight, want 2 (ingest.writers)", most)
	}
	for i, id := range acked {
		if id != i {
			t.Fatalf("acknowledged in the order %v, want the order received", acked)
		}
	}
	if got := len(s.slots); got != 0 {
		t.Errorf("%d max_inflight slots still taken after every ack", got)
	}
}
