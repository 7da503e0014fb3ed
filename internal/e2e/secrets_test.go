package e2e

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parkcarbon/parkcarbon/devices/simulator"
	"github.com/parkcarbon/parkcarbon/internal/servers"
	"github.com/parkcarbon/parkcarbon/internal/testenv"
)

// TestSecretsNeverLogged: a full run with passwords and a token given by
// file and by environment, logging at debug level, JSON and text: no secret
// appears in any output or on /metrics.
func TestSecretsNeverLogged(t *testing.T) {
	influx := testenv.Influx(t)
	dir := t.TempDir()
	secrets := map[string]string{
		"collector MQTT password": "coll-Pw-7f3a91",
		"gateway MQTT password":   "gw-Pw-c0ffee42",
		"InfluxDB token":          "influx-Tok-9d8e7f",
	}
	pw := filepath.Join(dir, "passwd")
	for i, u := range []struct{ user, pass string }{{"park-collector", secrets["collector MQTT password"]}, {"gw-sec", secrets["gateway MQTT password"]}} {
		args := []string{"-b", pw, u.user, u.pass}
		if i == 0 {
			args = append([]string{"-c"}, args...)
		}
		if out, err := exec.Command("mosquitto_passwd", args...).CombinedOutput(); err != nil {
			t.Fatalf("mosquitto_passwd (run 'make deps'): %v %s", err, out)
		}
	}
	acl := filepath.Join(dir, "acl")
	writeFile(t, acl, "user park-collector\ntopic read park/+/+/readings\ntopic write park/deadletter/#\nuser gw-sec\ntopic write park/ent-001/gw-sec/readings\n")
	broker := testenv.Mosquitto(t, servers.MosquittoAuth(pw, acl))
	sim, err := simulator.Start(t.Context(), simulator.Config{Units: []byte{1}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })

	collPw, tokenFile := filepath.Join(dir, "collector.pw"), filepath.Join(dir, "influx.token")
	if err := os.WriteFile(collPw, []byte(secrets["collector MQTT password"]+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tokenFile, []byte(secrets["InfluxDB token"]+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	edgeAddr, collAddr := freeAddr(t), freeAddr(t)
	writeFile(t, filepath.Join(dir, "edge.yaml"), fmt.Sprintf(`
gateway: gw-sec
uplink: {broker: %s, username: gw-sec, password: "${MQTT_PASSWORD}", linger: 100ms}
buffer: {dir: ./edge-data}
modbus:
  - name: bus
    url: %s
    devices: [{meter: sec-1, enterprise: ent-001, unit: 1, profile: eastron-sdm630, interval: 300ms}]
metrics: {listen: %s}
log: {level: debug, format: json}
`, broker.URL, sim.URL(), edgeAddr))
	writeFile(t, filepath.Join(dir, "collector.yaml"), fmt.Sprintf(`
mqtt: {broker: %s, username: park-collector, password_file: %s}
influxdb: {url: %s, token_file: %s, bucket: %s}
spool: {dir: ./collector-data}
http: {listen: %s}
log: {level: debug}
`, broker.URL, collPw, influx.URL, tokenFile, influx.Bucket, collAddr))
	t.Setenv("MQTT_PASSWORD", secrets["gateway MQTT password"])
	collector := start(t, "park-collector", "-config", filepath.Join(dir, "collector.yaml"))
	waitHTTP(t, "http://"+collAddr+"/readyz", 200, 15*time.Second)
	agent := start(t, "edge-agent", "-config", filepath.Join(dir, "edge.yaml"))
	waitRows(t, influx, `from(bucket: "`+influx.Bucket+`") |> range(start: -1h)
  |> filter(fn: (r) => r._measurement == "consumption" and r._field == "amount") |> count()`, 1, 3, 30*time.Second)
	scrape := func(addr string) string {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	outputs := map[string]string{"edge /metrics": scrape(edgeAddr), "collector /metrics": scrape(collAddr)}
	agent.stop(t, 10*time.Second)
	collector.stop(t, 10*time.Second)
	outputs["edge-agent log"], outputs["park-collector log"] = agent.out.String(), collector.out.String()
	for where, text := range outputs {
		if len(text) < 100 {
			t.Errorf("%s is nearly empty (%d bytes): nothing was checked", where, len(text))
		}
		for what, secret := range secrets {
			if strings.Contains(text, secret) {
				t.Errorf("the %s appears in the %s", what, where)
			}
		}
	}
}
