package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/parkcarbon/parkcarbon/devices/simulator"
	"github.com/parkcarbon/parkcarbon/internal/servers"
	"github.com/parkcarbon/parkcarbon/internal/testenv"
)

var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "parkcarbon-e2e-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	out, err := exec.Command("go", "build", "-o", dir, "../../cmd/edge-agent", "../../cmd/park-collector").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "build binaries: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// process is a binary under test; its output is shown if the test fails.
type process struct {
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan error
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

func start(t *testing.T, name string, args ...string) *process {
	t.Helper()
	p := &process{cmd: exec.Command(filepath.Join(binDir, name), args...), out: &syncBuffer{}, done: make(chan error, 1)}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("%s output:\n%s", name, p.out.String())
		}
	})
	return p
}

// stop sends SIGTERM and requires a clean exit within the timeout.
func (p *process) stop(t *testing.T, timeout time.Duration) {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		if err != nil {
			t.Errorf("%s exited with %v after SIGTERM", p.cmd.Path, err)
		}
	case <-time.After(timeout):
		t.Errorf("%s did not stop within %s of SIGTERM", p.cmd.Path, timeout)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func waitHTTP(t *testing.T, url string, want int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == want {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not answer %d within %s (last: %v)", url, want, timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestMeterToInflux runs the walking skeleton: simulated SDM630 meters →
// edge-agent → Mosquitto → park-collector → influxd, then checks with Flux
// that each meter's consumption adds up to its counter's advance and that
// CO2 is the amount times the cited factor.
func TestMeterToInflux(t *testing.T) {
	influx := testenv.Influx(t)
	broker := testenv.Mosquitto(t)
	ctx := t.Context()
	sim, err := simulator.Start(ctx, simulator.Config{Addr: "127.0.0.1:0", Units: []byte{1, 2, 3, 4}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })

	dir := t.TempDir()
	edgeMetrics, collectorHTTP := freeAddr(t), freeAddr(t)
	writeFile(t, filepath.Join(dir, "edge.yaml"), fmt.Sprintf(`
gateway: gw-01
uplink:
  broker: %s
  topic_prefix: park
  linger: 200ms
buffer:
  dir: ./data/edge
modbus:
  - name: workshop-1
    url: tcp://%s
    devices:
      - {meter: m-101, enterprise: ent-001, unit: 1, profile: eastron-sdm630, interval: 500ms}
      - {meter: m-102, enterprise: ent-001, unit: 2, profile: eastron-sdm630, interval: 500ms}
      - {meter: m-201, enterprise: ent-002, unit: 3, profile: eastron-sdm630, interval: 500ms}
      - {meter: m-202, enterprise: ent-002, unit: 4, profile: eastron-sdm630, interval: 1s}
metrics:
  listen: %s
`, broker.URL, sim.Addr(), edgeMetrics))
	writeFile(t, filepath.Join(dir, "collector.yaml"), fmt.Sprintf(`
mqtt:
  broker: %s
  topic_prefix: park
influxdb:
  url: %s
  token: ${INFLUX_TOKEN}
  org: park
  bucket: %s
carbon:
  region: CN
enterprises: %s
alerts: %s
http:
  listen: %s
`, broker.URL, influx.URL, influx.Bucket, repoFile(t, "configs/enterprises.yaml"), repoFile(t, "configs/alerts.yaml"), collectorHTTP))

	t.Setenv("INFLUX_TOKEN", "user:password")
	collector := start(t, "park-collector", "-config", filepath.Join(dir, "collector.yaml"))
	waitHTTP(t, "http://"+collectorHTTP+"/readyz", 200, 15*time.Second)
	agent := start(t, "edge-agent", "-config", filepath.Join(dir, "edge.yaml"))
	waitHTTP(t, "http://"+edgeMetrics+"/healthz", 200, 15*time.Second)

	// Let every meter give at least five intervals.
	waitRows(t, influx, `from(bucket: "`+influx.Bucket+`") |> range(start: -1h)
  |> filter(fn: (r) => r._measurement == "consumption" and r._field == "amount")
  |> group(columns: ["meter"]) |> count()`, 4, 5, 30*time.Second)

	// The alert engine is wired: /api/alerts answers with JSON.
	resp, err := http.Get("http://" + collectorHTTP + "/api/alerts")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !json.Valid(body) {
		t.Errorf("/api/alerts: %d %s", resp.StatusCode, body)
	}
	// And the status page lists the park's enterprises.
	resp, err = http.Get("http://" + collectorHTTP + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Contains(body, []byte("ent-001")) || !bytes.Contains(body, []byte("m-101")) {
		t.Errorf("status page: %d\n%.500s", resp.StatusCode, body)
	}

	agent.stop(t, 10*time.Second)
	// Stored readings reach InfluxDB only after the agent published them;
	// give the collector a moment to write the last envelopes.
	time.Sleep(time.Second)
	collector.stop(t, 10*time.Second)

	metersChecked := 0
	for _, meter := range []string{"m-101", "m-102", "m-201", "m-202"} {
		total := queryFloat(t, influx, fmt.Sprintf(`from(bucket: %q) |> range(start: -1h)
  |> filter(fn: (r) => r._measurement == "consumption" and r._field == "amount" and r.meter == %q)
  |> group() |> sum()`, influx.Bucket, meter))
		first := queryFloat(t, influx, fmt.Sprintf(`from(bucket: %q) |> range(start: -1h)
  |> filter(fn: (r) => r._measurement == "reading" and r.quantity == "energy_import_total" and r.meter == %q)
  |> group() |> first()`, influx.Bucket, meter))
		last := queryFloat(t, influx, fmt.Sprintf(`from(bucket: %q) |> range(start: -1h)
  |> filter(fn: (r) => r._measurement == "reading" and r.quantity == "energy_import_total" and r.meter == %q)
  |> group() |> last()`, influx.Bucket, meter))
		advance := last - first
		if advance <= 0 {
			t.Errorf("%s: counter did not advance (%v → %v)", meter, first, last)
			continue
		}
		if rel := math.Abs(total-advance) / advance; rel > 1e-9 {
			t.Errorf("%s: sum(consumption.amount) = %v, counter advanced %v (relative error %g)", meter, total, advance, rel)
		}

		// co2_kg = amount × factor, point by point, with the CN 2023 factor
		// (MEE/NBS announcement 2025 No. 47) still in force.
		rows, err := influx.Query(ctx, fmt.Sprintf(`from(bucket: %q) |> range(start: -1h)
  |> filter(fn: (r) => r._measurement == "consumption" and r.meter == %q)
  |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")`, influx.Bucket, meter))
		if err != nil {
			t.Fatal(err)
		}
		for _, row := range rows {
			amount, co2, factor := num(t, row["amount"]), num(t, row["co2_kg"]), num(t, row["factor_kg_per_unit"])
			if factor != 0.5306 || math.Abs(co2-amount*0.5306) > 1e-12 || row["scope"] != "2" {
				t.Errorf("%s at %s: amount %v co2_kg %v factor %v scope %s", meter, row["_time"], amount, co2, factor, row["scope"])
			}
			if coal := num(t, row["coal_kgce"]); math.Abs(coal-amount*0.1229) > 1e-12 {
				t.Errorf("%s at %s: coal_kgce %v for %v kWh", meter, row["_time"], coal, amount)
			}
		}
		metersChecked++
		t.Logf("%s: %d intervals, %.6f kWh = %.6f − %.6f", meter, len(rows), total, last, first)
	}
	if metersChecked != 4 {
		t.Fatalf("checked %d of 4 meters", metersChecked)
	}

	// consumption_hourly, recomputed from the stored intervals, adds up to
	// them per enterprise, for amount, CO2 and standard coal.
	for _, ent := range []string{"ent-001", "ent-002"} {
		for _, field := range []string{"amount", "co2_kg", "coal_kgce"} {
			sum := func(measurement string) float64 {
				return queryFloat(t, influx, fmt.Sprintf(`from(bucket: %q) |> range(start: -1d)
  |> filter(fn: (r) => r._measurement == %q and r._field == %q and r.enterprise == %q)
  |> group() |> sum()`, influx.Bucket, measurement, field, ent))
			}
			hourly, intervals := sum("consumption_hourly"), sum("consumption")
			if rel := math.Abs(hourly-intervals) / intervals; rel > 1e-9 {
				t.Errorf("%s %s: hourly %v, intervals %v", ent, field, hourly, intervals)
			}
		}
	}
}

// repoFile is the absolute path of a file of the repository.
func repoFile(t *testing.T, rel string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("..", "..", rel))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func num(t *testing.T, s string) float64 {
	t.Helper()
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatalf("parse %q: %v", s, err)
	}
	return v
}

func queryFloat(t *testing.T, influx *servers.Influx, flux string) float64 {
	t.Helper()
	rows, err := influx.Query(t.Context(), flux)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 {
		t.Fatalf("want 1 row, got %d for\n%s", len(rows), flux)
	}
	return num(t, rows[0]["_value"])
}

// waitRows waits until the query returns want rows whose _value is at least min.
func waitRows(t *testing.T, influx *servers.Influx, flux string, want int, min float64, timeout time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	for {
		rows, err := influx.Query(ctx, flux)
		ok := err == nil && len(rows) == want
		for _, r := range rows {
			if v, perr := strconv.ParseFloat(r["_value"], 64); perr != nil || v < min {
				ok = false
			}
		}
		if ok {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %d rows ≥ %v (last: %v, %v)", want, min, rows, err)
		case <-time.After(250 * time.Millisecond):
		}
	}
}
