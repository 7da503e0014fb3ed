package servers_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parkcarbon/parkcarbon/internal/servers"
)

func TestMosquittoStartRestartStop(t *testing.T) {
	logs := &syncBuffer{}
	dir := t.TempDir()
	start := time.Now()
	m, err := servers.StartMosquitto(t.Context(), dir, logs)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("mosquitto ready in %v at %s", time.Since(start).Round(time.Millisecond), m.URL)
	t.Cleanup(func() { _ = m.Stop() })

	if want := "tcp://" + m.Addr; m.URL != want {
		t.Errorf("URL = %q, want %q", m.URL, want)
	}
	dial(t, m.Addr)

	oldPID, addr := m.PID(), m.Addr
	start = time.Now()
	if err := m.Restart(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Logf("mosquitto restarted in %v", time.Since(start).Round(time.Millisecond))
	if m.Addr != addr {
		t.Errorf("Restart moved the broker from %s to %s", addr, m.Addr)
	}
	if m.PID() == oldPID {
		t.Errorf("Restart kept pid %d", oldPID)
	}
	assertGone(t, oldPID)
	dial(t, m.Addr)

	pid := m.PID()
	if err := m.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	assertGone(t, pid)
	if err := m.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
	// Persistence is on, so a clean shutdown leaves the database behind.
	if _, err := os.Stat(filepath.Join(dir, "mosquitto.db")); err != nil {
		t.Errorf("persistence file: %v", err)
	}
	if !strings.Contains(logs.String(), "mosquitto: ") {
		t.Errorf("expected prefixed broker output in logw, got %q", logs.String())
	}
}

func TestInfluxWriteAndFluxQuery(t *testing.T) {
	start := time.Now()
	inf, err := servers.StartInflux(t.Context(), t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("influxd ready (incl. CREATE DATABASE) in %v at %s", time.Since(start).Round(time.Millisecond), inf.URL)
	t.Cleanup(func() { _ = inf.Stop() })

	if inf.Database != "energy" || inf.Bucket != "energy/autogen" {
		t.Errorf("Database, Bucket = %q, %q", inf.Database, inf.Bucket)
	}

	// The Flux endpoint is off by default in 1.8; buckets() proves it's on.
	status, body := post(t, inf.URL+"/api/v2/query", "application/vnd.flux", "buckets()")
	if status != http.StatusOK || !strings.Contains(body, "energy/autogen") {
		t.Fatalf("buckets(): %d %s", status, body)
	}

	status, body = post(t, inf.URL+"/api/v2/write?bucket=energy/autogen&precision=ms", "text/plain; charset=utf-8",
		"reading,meter=m1 value=1.5 1764000000000")
	if status != http.StatusNoContent {
		t.Fatalf("write: %d %s", status, body)
	}

	const q = `from(bucket: "energy/autogen")
  |> range(start: 2025-11-24T00:00:00Z, stop: 2025-11-25T00:00:00Z)
  |> filter(fn: (r) => r._measurement == "reading" and r.meter == "m1")`

	// 1.8 ignores org entirely, so the value the real client sends is fine.
	status, body = post(t, inf.URL+"/api/v2/query?org=park", "application/vnd.flux", q)
	if status != http.StatusOK || !strings.Contains(body, ",2025-11-24T16:00:00Z,1.5,value,reading,m1") {
		t.Fatalf("raw flux query: %d\n%s", status, body)
	}

	rows, err := inf.Query(t.Context(), q)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 {
		t.Fatalf("got %d rows, want 1: %v", len(rows), rows)
	}
	want := map[string]string{"_value": "1.5", "_time": "2025-11-24T16:00:00Z", "_field": "value", "_measurement": "reading", "meter": "m1"}
	for k, v := range want {
		if rows[0][k] != v {
			t.Errorf("row[%q] = %q, want %q (row %v)", k, rows[0][k], v, rows[0])
		}
	}

	if _, err := inf.Query(t.Context(), `from(bucket: "nope") |> range(start: -1h)`); err == nil {
		t.Error("query of a missing bucket: want error")
	}
	if err := inf.CreateDatabase(t.Context(), "energy"); err != nil {
		t.Errorf("CreateDatabase is not idempotent: %v", err)
	}

	pid := inf.PID()
	start = time.Now()
	if err := inf.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	t.Logf("influxd stopped in %v", time.Since(start).Round(time.Millisecond))
	assertGone(t, pid)
}

func TestPreferPort(t *testing.T) {
	held, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	heldPort := held.Addr().(*net.TCPAddr).Port

	m, err := servers.StartMosquitto(t.Context(), t.TempDir(), nil, servers.PreferPort(heldPort))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Stop()
	if m.Port == heldPort {
		t.Fatalf("got busy preferred port %d", heldPort)
	}

	// A free preferred port is honoured.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	freePort := l.Addr().(*net.TCPAddr).Port
	l.Close()
	m2, err := servers.StartMosquitto(t.Context(), t.TempDir(), nil, servers.PreferPort(freePort))
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Stop()
	if m2.Port != freePort {
		t.Fatalf("port = %d, want preferred %d", m2.Port, freePort)
	}
}

func TestMissingBinary(t *testing.T) {
	t.Setenv("PARKCARBON_MOSQUITTO", filepath.Join(t.TempDir(), "no-such-mosquitto"))
	t.Setenv("PARKCARBON_INFLUXD", filepath.Join(t.TempDir(), "no-such-influxd"))

	_, err := servers.StartMosquitto(t.Context(), t.TempDir(), nil)
	if !errors.Is(err, servers.ErrNotInstalled) || !strings.Contains(err.Error(), "apt-get install -y mosquitto") {
		t.Errorf("mosquitto: got %v", err)
	}
	_, err = servers.StartInflux(t.Context(), t.TempDir(), nil)
	if !errors.Is(err, servers.ErrNotInstalled) || !strings.Contains(err.Error(), "go install github.com/influxdata/influxdb/cmd/influxd@v1.8.10") {
		t.Errorf("influxd: got %v", err)
	}
}

// A server that dies during startup must surface its last output lines.
func TestStartupFailureShowsOutput(t *testing.T) {
	fake := filepath.Join(t.TempDir(), "mosquitto")
	script := "#!/bin/sh\necho 'Error: something specific went wrong' >&2\nexit 3\n"
	if err := os.WriteFile(fake, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PARKCARBON_MOSQUITTO", fake)
	_, err := servers.StartMosquitto(t.Context(), t.TempDir(), nil)
	if err == nil || !strings.Contains(err.Error(), "something specific went wrong") || !strings.Contains(err.Error(), "exit status 3") {
		t.Fatalf("got %v", err)
	}
}

// Children must die with their parent even if it never calls Stop. The
// helper re-runs this test binary, which starts a broker and is SIGKILLed.
func TestChildDiesWithParent(t *testing.T) {
	if os.Getenv("SERVERS_TEST_ORPHAN_HELPER") == "1" {
		m, err := servers.StartMosquitto(context.Background(), os.Getenv("SERVERS_TEST_DIR"), nil)
		if err != nil {
			t.Fatal(err)
		}
		os.Stdout.WriteString("PID " + strconv.Itoa(m.PID()) + "\n")
		select {} // wait to be killed
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestChildDiesWithParent$")
	cmd.Env = append(os.Environ(), "SERVERS_TEST_ORPHAN_HELPER=1", "SERVERS_TEST_DIR="+t.TempDir())
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatalf("helper did not report a pid: %v (%q)", err, line)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(line, "PID ")))
	if err != nil {
		t.Fatalf("bad helper line %q", line)
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	assertGone(t, pid)
}

// assertGone waits briefly for pid to stop being a live process.
func assertGone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !processGone(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("process %d still alive", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// processGone treats a zombie as gone: an orphan's reaping depends on
// whatever PID 1 the container has, not on us.
func processGone(pid int) bool {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	// The state follows the parenthesised command name.
	i := bytes.LastIndexByte(stat, ')')
	return i >= 0 && i+2 < len(stat) && (stat[i+2] == 'Z' || stat[i+2] == 'X')
}

func dial(t *testing.T, addr string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	c.Close()
}

func post(t *testing.T, url, contentType, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Authorization", "Token x:y")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("POST %s: read body: %v", url, err)
	}
	return resp.StatusCode, string(b)
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
