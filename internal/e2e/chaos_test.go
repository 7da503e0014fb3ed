package e2e

import (
	"bufio"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/parkcarbon/parkcarbon/devices/simulator"
	"github.com/parkcarbon/parkcarbon/internal/servers"
	"github.com/parkcarbon/parkcarbon/internal/testenv"
)

// chaosDuration is how long the faults go on: short inside `make test`,
// PARKCARBON_CHAOS=5m (make chaos) for the long run.
func chaosDuration(t *testing.T) (run, influxOutage time.Duration) {
	if v := os.Getenv("PARKCARBON_CHAOS"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("PARKCARBON_CHAOS=%q: %v", v, err)
		}
		return d, 60 * time.Second
	}
	return 40 * time.Second, 6 * time.Second
}

// metric reads one unlabelled sample from a /metrics endpoint.
func metric(addr, name string) (float64, bool) {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			return f, err == nil
		}
	}
	return 0, false
}

// TestChaos: simulated meters → edge-agent → Mosquitto → park-collector →
// influxd while the agent and the collector are killed with SIGKILL at
// random moments, Mosquitto restarts, and influxd stops for a while. Then,
// per meter, the stored totals form an unbroken chain of intervals — every
// interval between two stored samples is stored once, none is missing — and
// sum(consumption) equals last − first total.
func TestChaos(t *testing.T) {
	run, outage := chaosDuration(t)
	influx := testenv.Influx(t)
	broker := testenv.Mosquitto(t)
	sim, err := simulator.Start(t.Context(), simulator.Config{Units: []byte{1, 2, 3}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })

	dir := t.TempDir()
	edgeAddr, collAddr := freeAddr(t), freeAddr(t)
	writeFile(t, filepath.Join(dir, "edge.yaml"), fmt.Sprintf(`
gateway: gw-chaos
uplink: {broker: %s, linger: 200ms}
buffer: {dir: ./edge-data}
modbus:
  - name: bus-1
    url: tcp://%s
    devices:
      - {meter: m-1, enterprise: ent-001, unit: 1, profile: eastron-sdm630, interval: 500ms}
      - {meter: m-2, enterprise: ent-001, unit: 2, profile: eastron-sdm630, interval: 500ms}
      - {meter: m-3, enterprise: ent-002, unit: 3, profile: eastron-sdm630, interval: 1s}
metrics: {listen: %s}
`, broker.URL, sim.Addr(), edgeAddr))
	writeFile(t, filepath.Join(dir, "collector.yaml"), fmt.Sprintf(`
mqtt: {broker: %s}
influxdb: {url: %s, token: x, bucket: %s, timeout: 2s}
spool: {dir: ./collector-data}
http: {listen: %s}
`, broker.URL, influx.URL, influx.Bucket, collAddr))

	startAgent := func() *process { return start(t, "edge-agent", "-config", filepath.Join(dir, "edge.yaml")) }
	startCollector := func() *process {
		return start(t, "park-collector", "-config", filepath.Join(dir, "collector.yaml"))
	}
	agent, collector := startAgent(), startCollector()
	kill := func(p *process) {
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
		<-p.done
	}

	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	counts := map[string]int{}
	deadline := time.Now().Add(run)
	influxDownUntil := time.Time{}
	for time.Now().Before(deadline) {
		time.Sleep(time.Duration(500+rng.IntN(2500)) * time.Millisecond)
		if !influxDownUntil.IsZero() && time.Now().After(influxDownUntil) {
			if err := influx.Start(t.Context()); err != nil {
				t.Fatal(err)
			}
			influxDownUntil = time.Time{}
			counts["influxd back"]++
		}
		switch rng.IntN(5) {
		case 0, 1:
			kill(agent)
			agent = startAgent()
			counts["kill -9 edge-agent"]++
		case 2:
			kill(collector)
			collector = startCollector()
			counts["kill -9 park-collector"]++
		case 3:
			if err := broker.Restart(t.Context()); err != nil {
				t.Fatal(err)
			}
			counts["restart mosquitto"]++
		case 4:
			if influxDownUntil.IsZero() && counts["stop influxd"] == 0 {
				if err := influx.Stop(); err != nil {
					t.Fatal(err)
				}
				influxDownUntil = time.Now().Add(outage)
				counts["stop influxd"]++
			}
		}
	}
	if !influxDownUntil.IsZero() {
		time.Sleep(time.Until(influxDownUntil))
		if err := influx.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("faults: %v", counts)
	phase := time.Now()
	step := func(what string) { t.Logf("%s after %s", what, time.Since(phase).Round(100*time.Millisecond)) }

	// Quiesce: stop polling, let every queue drain. A just-restarted agent
	// must be up (its signal handler installed) before it is asked to stop.
	waitHTTP(t, "http://"+edgeAddr+"/healthz", 200, 15*time.Second)
	agent.stop(t, 15*time.Second)
	agent = start(t, "edge-agent", "-config", filepath.Join(dir, "edge.yaml"))
	waitHTTP(t, "http://"+edgeAddr+"/healthz", 200, 15*time.Second)
	waitDrained := func(addr, name string) {
		t.Helper()
		end := time.Now().Add(90 * time.Second)
		for {
			if v, ok := metric(addr, name); ok && v == 0 {
				return
			}
			if time.Now().After(end) {
				t.Fatalf("%s on %s did not drain", name, addr)
			}
			time.Sleep(300 * time.Millisecond)
		}
	}
	time.Sleep(2 * time.Second)
	agent.stop(t, 15*time.Second)
	step("agent stopped twice")
	// A last start publishes whatever the stops left queued.
	agent = start(t, "edge-agent", "-config", filepath.Join(dir, "edge.yaml"))
	waitHTTP(t, "http://"+edgeAddr+"/healthz", 200, 15*time.Second)
	agent.stop(t, 15*time.Second)
	step("agent drained")
	waitDrained(collAddr, "parkcarbon_collector_spool_batches")
	step("collector spool drained")
	time.Sleep(2 * time.Second) // the collector's last writes and rollups
	collector.stop(t, 15*time.Second)

	verifyChains(t, influx, "m-1", "m-2", "m-3")
}

// verifyChains proves, per meter, that the stored totals form an unbroken
// chain: each total after the first closes exactly one stored interval that
// starts at the total before it, with the amount the totals differ by; so
// nothing was lost or doubled, and sum(consumption) = last − first total.
func verifyChains(t *testing.T, influx *servers.Influx, meters ...string) {
	t.Helper()
	for _, meter := range meters {
		readings, err := influx.Query(t.Context(), fmt.Sprintf(`from(bucket: %q) |> range(start: -1h)
  |> filter(fn: (r) => r._measurement == "reading" and r.quantity == "energy_import_total" and r.meter == %q)
  |> group() |> sort(columns: ["_time"])`, influx.Bucket, meter))
		if err != nil {
			t.Fatal(err)
		}
		intervals, err := influx.Query(t.Context(), fmt.Sprintf(`from(bucket: %q) |> range(start: -1h)
  |> filter(fn: (r) => r._measurement == "consumption" and r.meter == %q)
  |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")
  |> group() |> sort(columns: ["_time"])`, influx.Bucket, meter))
		if err != nil {
			t.Fatal(err)
		}
		ts := func(s string) int64 {
			tt, err := time.Parse(time.RFC3339Nano, s)
			if err != nil {
				t.Fatal(err)
			}
			return tt.UnixMilli()
		}
		var times []int64
		values := map[int64]float64{}
		for _, r := range readings {
			at := ts(r["_time"])
			times = append(times, at)
			values[at] = num(t, r["_value"])
		}
		if len(times) < 10 {
			t.Fatalf("%s: only %d totals stored", meter, len(times))
		}
		sinceOf := map[int64]int64{}
		sum := 0.0
		for _, r := range intervals {
			end := ts(r["_time"])
			since := end - int64(math.Round(num(t, r["duration_s"])*1000))
			sinceOf[end] = since
			sum += num(t, r["amount"])
			if d := values[end] - values[since]; math.Abs(d-num(t, r["amount"])) > 1e-9 {
				t.Errorf("%s interval (%d, %d]: amount %v but totals differ by %v", meter, since, end, r["amount"], d)
			}
		}
		// Unbroken chain: each stored total after the first closes the
		// interval that starts at the total before it.
		for i := 1; i < len(times); i++ {
			if s, ok := sinceOf[times[i]]; !ok || s != times[i-1] {
				t.Errorf("%s: total at %d has interval since %d (ok=%v), want since %d", meter, times[i], s, ok, times[i-1])
			}
		}
		if len(intervals) != len(times)-1 {
			t.Errorf("%s: %d intervals for %d totals", meter, len(intervals), len(times))
		}
		first, last := values[times[0]], values[times[len(times)-1]]
		if math.Abs(sum-(last-first))/(last-first) > 1e-9 {
			t.Errorf("%s: sum %v, counter advanced %v", meter, sum, last-first)
		}
		t.Logf("%s: %d totals, %d intervals, %.6f kWh", meter, len(times), len(intervals), sum)
	}
}
