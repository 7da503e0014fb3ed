package e2e

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parkcarbon/parkcarbon/devices/simulator"
	"github.com/parkcarbon/parkcarbon/internal/testenv"
)

// vmHWM is a process's peak resident set size in bytes.
func vmHWM(pid int) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// TestLongBrokerOutage: the broker is away while the agent buffers more than
// 100,000 readings on disk (time compressed: 40 meters polled every 100 ms);
// when it is back the backlog drains in order with nothing lost, and the
// agent's memory stays bounded (its peak RSS is logged).
func TestLongBrokerOutage(t *testing.T) {
	const want = 100_000
	influx := testenv.Influx(t)
	broker := testenv.Mosquitto(t)
	dir := t.TempDir()
	var endpoints strings.Builder
	var ids []string
	for e := range 4 {
		units := []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
		sim, err := simulator.Start(t.Context(), simulator.Config{Units: units})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { sim.Close() })
		fmt.Fprintf(&endpoints, "  - name: ep-%d\n    url: %s\n    devices:\n", e, sim.URL())
		for _, u := range units {
			id := fmt.Sprintf("o-%d-%d", e, u)
			ids = append(ids, id)
			fmt.Fprintf(&endpoints, "      - {meter: %s, enterprise: ent-00%d, unit: %d, profile: eastron-sdm630, interval: 100ms}\n", id, e+1, u)
		}
	}
	edgeAddr, collAddr := freeAddr(t), freeAddr(t)
	writeFile(t, filepath.Join(dir, "edge.yaml"), fmt.Sprintf(`
gateway: gw-outage
uplink: {broker: %s, linger: 200ms, max_rate: 30000}
buffer: {dir: ./edge-data}
modbus:
%smetrics: {listen: %s}
`, broker.URL, endpoints.String(), edgeAddr))
	writeFile(t, filepath.Join(dir, "collector.yaml"), fmt.Sprintf(`
mqtt: {broker: %s}
influxdb: {url: %s, token: x, bucket: %s}
spool: {dir: ./collector-data}
http: {listen: %s}
`, broker.URL, influx.URL, influx.Bucket, collAddr))
	collector := start(t, "park-collector", "-config", filepath.Join(dir, "collector.yaml"))
	waitHTTP(t, "http://"+collAddr+"/readyz", 200, 15*time.Second)

	if err := broker.Stop(); err != nil {
		t.Fatal(err)
	}
	outageStart := time.Now()
	agent := start(t, "edge-agent", "-config", filepath.Join(dir, "edge.yaml"))
	deadline := time.Now().Add(3 * time.Minute)
	for {
		n, _ := metric(edgeAddr, "parkcarbon_edge_buffer_records")
		if n >= want {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %v readings buffered", n)
		}
		time.Sleep(500 * time.Millisecond)
	}
	buffered, _ := metric(edgeAddr, "parkcarbon_edge_buffer_records")
	bytes, _ := metric(edgeAddr, "parkcarbon_edge_buffer_bytes")
	rssOutage := vmHWM(agent.cmd.Process.Pid)
	t.Logf("outage of %s: %.0f readings (%.1f MiB) buffered, agent peak RSS %.1f MiB",
		time.Since(outageStart).Round(time.Second), buffered, bytes/(1<<20), float64(rssOutage)/(1<<20))

	if err := broker.Restart(t.Context()); err != nil {
		t.Fatal(err)
	}
	drainStart := time.Now()
	deadline = time.Now().Add(3 * time.Minute)
	for {
		// Polling goes on: drained means the backlog is gone, a batch or two remain.
		if n, ok := metric(edgeAddr, "parkcarbon_edge_buffer_records"); ok && n < 2000 {
			break
		}
		if time.Now().After(deadline) {
			n, _ := metric(edgeAddr, "parkcarbon_edge_buffer_records")
			t.Fatalf("backlog not drained: %v left", n)
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Logf("backlog drained in %s while polling went on; agent peak RSS %.1f MiB",
		time.Since(drainStart).Round(time.Second), float64(vmHWM(agent.cmd.Process.Pid))/(1<<20))
	// Read before the stop: polls go on until then, so stored ≥ acquired.
	acquired, _ := metric(edgeAddr, "parkcarbon_edge_readings_total")
	agent.stop(t, 20*time.Second)
	time.Sleep(3 * time.Second) // the collector's last writes
	collector.stop(t, 20*time.Second)

	stored := queryFloat(t, influx, `from(bucket: "`+influx.Bucket+`") |> range(start: -1h)
  |> filter(fn: (r) => r._measurement == "reading" and r._field == "value") |> group() |> count()`)
	if stored < acquired || acquired < want {
		t.Errorf("acquired %v readings, stored %v", acquired, stored)
	}
	verifyChains(t, influx, ids...)
}
