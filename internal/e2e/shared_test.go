package e2e

import (
	"fmt"
	"math"
	"net/http"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/parkcarbon/parkcarbon/devices/simulator"
	"github.com/parkcarbon/parkcarbon/internal/testenv"
)

// TestTwoCollectorsShareASubscription: two park-collector instances split
// $share/collectors/park/+/+/readings; one is killed with SIGKILL mid-run and
// comes back. Nothing is lost or doubled, and the hourly rollups that both
// recompute add up to the intervals.
func TestTwoCollectorsShareASubscription(t *testing.T) {
	influx := testenv.Influx(t)
	broker := testenv.Mosquitto(t)
	sim, err := simulator.Start(t.Context(), simulator.Config{Units: []byte{1, 2, 3, 4}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	dir := t.TempDir()
	edgeAddr := freeAddr(t)
	// Small envelopes, so that both collectors get work.
	writeFile(t, filepath.Join(dir, "edge.yaml"), fmt.Sprintf(`
gateway: gw-01  # registered for ent-001..005 in configs/enterprises.yaml
uplink: {broker: %s, linger: 50ms, batch_size: 12}
buffer: {dir: ./edge-data}
modbus:
  - name: bus-1
    url: tcp://%s
    devices:
      - {meter: s-1, enterprise: ent-001, unit: 1, profile: eastron-sdm630, interval: 300ms}
      - {meter: s-2, enterprise: ent-002, unit: 2, profile: eastron-sdm630, interval: 300ms}
      - {meter: s-3, enterprise: ent-003, unit: 3, profile: eastron-sdm630, interval: 300ms}
      - {meter: s-4, enterprise: ent-004, unit: 4, profile: eastron-sdm630, interval: 300ms}
metrics: {listen: %s}
`, broker.URL, sim.Addr(), edgeAddr))
	var addrs [2]string
	for i := range addrs {
		addrs[i] = freeAddr(t)
		writeFile(t, filepath.Join(dir, fmt.Sprintf("c%d.yaml", i)), fmt.Sprintf(`
mqtt: {broker: %s, client_id: collector-%d, share_group: collectors}
influxdb: {url: %s, token: x, bucket: %s}
spool: {dir: ./c%d-data}
enterprises: %s
alerts: %s
alerts_shard: {index: %d, count: 2}
http: {listen: %s}
`, broker.URL, i, influx.URL, influx.Bucket, i, repoFile(t, "configs/enterprises.yaml"), repoFile(t, "configs/alerts.yaml"), i, addrs[i]))
	}
	startC := func(i int) *process {
		return start(t, "park-collector", "-config", filepath.Join(dir, fmt.Sprintf("c%d.yaml", i)))
	}
	c0, c1 := startC(0), startC(1)
	for _, a := range addrs {
		waitHTTP(t, "http://"+a+"/readyz", 200, 15*time.Second)
	}
	agent := start(t, "edge-agent", "-config", filepath.Join(dir, "edge.yaml"))
	time.Sleep(5 * time.Second)
	_ = c1.cmd.Process.Signal(syscall.SIGKILL)
	<-c1.done
	time.Sleep(3 * time.Second)
	c1 = startC(1)
	time.Sleep(5 * time.Second)
	agent.stop(t, 15*time.Second)
	time.Sleep(3 * time.Second) // the last envelopes and the rollups' debounce
	for i, a := range addrs {
		if n, ok := metric(a, `parkcarbon_collector_messages_total{result="written"}`); !ok || n == 0 {
			t.Errorf("collector %d wrote no message (%v, %v): the subscription is not shared", i, n, ok)
		}
		// Each instance runs the alerts of its shard, fed by its observer.
		if resp, err := http.Get("http://" + a + "/api/alerts"); err != nil || resp.StatusCode != 200 {
			t.Errorf("collector %d /api/alerts: %v", i, err)
		} else {
			resp.Body.Close()
		}
	}
	c0.stop(t, 15*time.Second)
	c1.stop(t, 15*time.Second)

	verifyChains(t, influx, "s-1", "s-2", "s-3", "s-4")
	for _, ent := range []string{"ent-001", "ent-002", "ent-003", "ent-004"} {
		sum := func(m string) float64 {
			return queryFloat(t, influx, fmt.Sprintf(`from(bucket: %q) |> range(start: -1d)
  |> filter(fn: (r) => r._measurement == %q and r._field == "amount" and r.enterprise == %q) |> group() |> sum()`, influx.Bucket, m, ent))
		}
		if h, c := sum("consumption_hourly"), sum("consumption"); math.Abs(h-c)/c > 1e-9 {
			t.Errorf("%s: hourly %v, intervals %v", ent, h, c)
		}
	}
}
