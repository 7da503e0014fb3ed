// Package testenv gives tests real, throwaway Mosquitto and InfluxDB servers.
// A missing server binary fails the test with the install command: these
// tests are the point of the suite, so they are never skipped.
package testenv

import (
	"bytes"
	"sync"
	"testing"

	"github.com/parkcarbon/parkcarbon/internal/servers"
)

// Mosquitto starts a broker for t in a fresh temp dir and stops it when the
// test ends. Its output is shown only if the test fails.
func Mosquitto(t testing.TB, opts ...servers.Option) *servers.Mosquitto {
	t.Helper()
	// TempDir before Cleanup: cleanups run in reverse, so the server is
	// stopped before its dir is removed.
	dir := t.TempDir()
	logs := logOnFailure(t, "mosquitto")
	m, err := servers.StartMosquitto(t.Context(), dir, logs, opts...)
	if err != nil {
		t.Fatalf("start mosquitto: %v", err)
	}
	t.Cleanup(func() {
		if err := m.Stop(); err != nil {
			t.Errorf("stop mosquitto: %v", err)
		}
	})
	return m
}

// Influx starts influxd for t in a fresh temp dir, with the "energy"
// database created, and stops it when the test ends. Its output is shown
// only if the test fails.
func Influx(t testing.TB) *servers.Influx {
	t.Helper()
	dir := t.TempDir()
	logs := logOnFailure(t, "influxd")
	i, err := servers.StartInflux(t.Context(), dir, logs)
	if err != nil {
		t.Fatalf("start influxd: %v", err)
	}
	t.Cleanup(func() {
		if err := i.Stop(); err != nil {
			t.Errorf("stop influxd: %v", err)
		}
	})
	return i
}

// maxLog caps the buffered server output so a chatty server can't eat memory.
const maxLog = 1 << 20

// logOnFailure returns a writer that buffers server output and dumps it via
// t.Log if the test failed. It is registered before the server's Stop
// cleanup, so it runs after it and includes the shutdown output.
func logOnFailure(t testing.TB, name string) *capped {
	c := &capped{}
	t.Cleanup(func() {
		if t.Failed() && c.Len() > 0 {
			t.Logf("%s output:\n%s", name, c.String())
		}
	})
	return c
}

// capped is a concurrency-safe buffer that stops growing at maxLog bytes.
type capped struct {
	mu        sync.Mutex
	buf       bytes.Buffer
	truncated bool
}

func (c *capped) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if room := maxLog - c.buf.Len(); room < len(p) {
		c.truncated = true
		c.buf.Write(p[:max(room, 0)])
	} else {
		c.buf.Write(p)
	}
	return len(p), nil
}

func (c *capped) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.Len()
}

func (c *capped) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.truncated {
		return c.buf.String() + "... (truncated)\n"
	}
	return c.buf.String()
}
