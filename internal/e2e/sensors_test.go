package e2e

import (
	"fmt"
	"math"
	"path/filepath"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/parkcarbon/parkcarbon/internal/testenv"
)

// TestSensorsToInflux: a Tasmota plug publishing on the factory broker →
// edge-agent (sensor mapping) → park-collector → influxd; its counter's
// advance becomes consumption like a Modbus meter's.
func TestSensorsToInflux(t *testing.T) {
	influx := testenv.Influx(t)
	broker := testenv.Mosquitto(t)
	dir := t.TempDir()
	edgeAddr, collAddr := freeAddr(t), freeAddr(t)
	writeFile(t, filepath.Join(dir, "edge.yaml"), fmt.Sprintf(`
gateway: gw-plugs
uplink: {broker: %s, linger: 100ms}
sensors:
  - {name: plugs, mapping: tasmota-energy, enterprise: ent-007}
metrics: {listen: %s}
`, broker.URL, edgeAddr))
	writeFile(t, filepath.Join(dir, "collector.yaml"), fmt.Sprintf(`
mqtt: {broker: %s}
influxdb: {url: %s, token: x, bucket: %s}
http: {listen: %s}
`, broker.URL, influx.URL, influx.Bucket, collAddr))
	collector := start(t, "park-collector", "-config", filepath.Join(dir, "collector.yaml"))
	waitHTTP(t, "http://"+collAddr+"/readyz", 200, 15*time.Second)
	agent := start(t, "edge-agent", "-config", filepath.Join(dir, "edge.yaml"))
	waitHTTP(t, "http://"+edgeAddr+"/healthz", 200, 15*time.Second)

	pub := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(broker.URL).SetClientID("tasmota-sim"))
	if tok := pub.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer pub.Disconnect(100)
	shanghai := time.FixedZone("CST", 8*3600)
	base := time.Now().Add(-10 * time.Minute).Truncate(time.Second)
	totals := []float64{12.5, 12.625, 12.75, 13.0, 13.5}
	publish := func(i int) {
		payload := fmt.Sprintf(`{"Time":"%s","ENERGY":{"TotalStartTime":"2024-01-01T00:00:00","Total":%v,"Yesterday":1.2,"Today":0.5,"Power":150,"Factor":0.94,"Voltage":230,"Current":0.652}}`,
			base.Add(time.Duration(i)*time.Minute).In(shanghai).Format("2006-01-02T15:04:05"), totals[i])
		tok := pub.Publish("tele/plug-1/SENSOR", 1, false, payload)
		if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			t.Fatal(tok.Error())
		}
	}
	// The agent subscribes with a clean session once connected: send the
	// first message until it is stored (a repeat is the same point).
	for tries := 0; ; tries++ {
		publish(0)
		rows, err := influx.Query(t.Context(), `from(bucket: "`+influx.Bucket+`") |> range(start: -1h)
  |> filter(fn: (r) => r._measurement == "reading" and r.meter == "plug-1")`)
		if err == nil && len(rows) > 0 {
			break
		}
		if tries == 60 {
			t.Fatalf("the plug's first message never arrived (%v)", err)
		}
		time.Sleep(500 * time.Millisecond)
	}
	for i := 1; i < len(totals); i++ {
		publish(i)
	}
	waitRows(t, influx, `from(bucket: "`+influx.Bucket+`") |> range(start: -1h)
  |> filter(fn: (r) => r._measurement == "consumption" and r.meter == "plug-1" and r._field == "amount") |> count()`, 1, 4, 30*time.Second)
	sum := queryFloat(t, influx, `from(bucket: "`+influx.Bucket+`") |> range(start: -1h)
  |> filter(fn: (r) => r._measurement == "consumption" and r.meter == "plug-1" and r._field == "amount" and r.enterprise == "ent-007")
  |> group() |> sum()`)
	if math.Abs(sum-1.0) > 1e-9 {
		t.Fatalf("plug-1 consumption %v kWh, want 1.0", sum)
	}
	// The payload's local time became UTC: the first total is stamped at base.
	first := queryFloat(t, influx, `from(bucket: "`+influx.Bucket+`") |> range(start: -1h)
  |> filter(fn: (r) => r._measurement == "reading" and r.meter == "plug-1" and r.quantity == "active_power")
  |> group() |> first() |> map(fn: (r) => ({r with _value: float(v: uint(v: r._time)) / 1000000.0}))`)
	if int64(first) != base.UnixMilli() {
		t.Fatalf("first reading at %v ms, want %v", int64(first), base.UnixMilli())
	}
	agent.stop(t, 10*time.Second)
	collector.stop(t, 10*time.Second)
}
