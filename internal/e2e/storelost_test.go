package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/parkcarbon/parkcarbon/devices/simulator"
	"github.com/parkcarbon/parkcarbon/internal/testenv"
)

// TestEdgeStoreLost: the gateway's disk is replaced between two runs, so the
// agent restarts without its meters' last totals. It reports a gap event for
// each meter and the collector books the interval across it from the last
// stored total: the chain of intervals stays unbroken.
func TestEdgeStoreLost(t *testing.T) {
	influx := testenv.Influx(t)
	broker := testenv.Mosquitto(t)
	sim, err := simulator.Start(t.Context(), simulator.Config{Units: []byte{1, 2}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	dir := t.TempDir()
	edgeAddr, collAddr := freeAddr(t), freeAddr(t)
	writeFile(t, filepath.Join(dir, "edge.yaml"), fmt.Sprintf(`
gateway: gw-lost
uplink: {broker: %s, linger: 100ms}
buffer: {dir: ./edge-data}
modbus:
  - name: bus-1
    url: tcp://%s
    devices:
      - {meter: l-1, enterprise: ent-001, unit: 1, profile: eastron-sdm630, interval: 300ms}
      - {meter: l-2, enterprise: ent-001, unit: 2, profile: eastron-sdm630, interval: 300ms}
metrics: {listen: %s}
`, broker.URL, sim.Addr(), edgeAddr))
	writeFile(t, filepath.Join(dir, "collector.yaml"), fmt.Sprintf(`
mqtt: {broker: %s}
influxdb: {url: %s, token: x, bucket: %s}
spool: {dir: ./collector-data}
http: {listen: %s}
`, broker.URL, influx.URL, influx.Bucket, collAddr))
	collector := start(t, "park-collector", "-config", filepath.Join(dir, "collector.yaml"))
	waitHTTP(t, "http://"+collAddr+"/readyz", 200, 15*time.Second)

	agent := start(t, "edge-agent", "-config", filepath.Join(dir, "edge.yaml"))
	time.Sleep(3 * time.Second)
	agent.stop(t, 15*time.Second)
	if err := os.RemoveAll(filepath.Join(dir, "edge-data")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second) // an outage: the counters move on meanwhile
	agent = start(t, "edge-agent", "-config", filepath.Join(dir, "edge.yaml"))
	time.Sleep(3 * time.Second)
	agent.stop(t, 15*time.Second)
	time.Sleep(2 * time.Second)
	if n, ok := metric(collAddr, `parkcarbon_collector_gap_fills_total{result="filled"}`); !ok || n != 2 {
		t.Errorf("gap fills: %v (%v), want 2", n, ok)
	}
	collector.stop(t, 15*time.Second)
	verifyChains(t, influx, "l-1", "l-2")
	rows, err := influx.Query(t.Context(), `from(bucket: "`+influx.Bucket+`") |> range(start: -1h)
  |> filter(fn: (r) => r._measurement == "data_quality" and r.kind == "gap" and r._field == "value")`)
	if err != nil || len(rows) != 4 { // the first run's first samples and the second run's
		t.Errorf("gap events: %d rows (%v), want 4", len(rows), err)
	}
}
