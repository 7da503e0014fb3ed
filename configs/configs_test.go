// Package configs holds the commented example configs; its test loads them,
// and DESIGN.md's minimal files, exactly as a user would.
package configs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parkcarbon/parkcarbon/carbon"
	"github.com/parkcarbon/parkcarbon/collector/alert"
	"github.com/parkcarbon/parkcarbon/collector/central"
	"github.com/parkcarbon/parkcarbon/collector/edge"
)

// The minimal files of DESIGN.md, verbatim: they must work as written.
const minimalEdge = `# edge.yaml — one gateway
gateway: gw-01
uplink:
  broker: tcp://127.0.0.1:1883        # tcp:// or ssl://
  topic_prefix: park                  # publishes park/{enterprise}/{gateway}/readings
buffer:
  dir: ./data/edge
modbus:
  - name: workshop-1
    url: tcp://127.0.0.1:5020         # tcp://host:port, rtu:///dev/ttyUSB0?baud=9600&parity=N, rtuovertcp://host:port
    devices:
      - {meter: m-101, enterprise: ent-001, unit: 1, profile: eastron-sdm630, interval: 10s}
metrics:
  listen: 127.0.0.1:9101
`

const minimalCollector = `# collector.yaml — the central service
mqtt:
  broker: tcp://127.0.0.1:1883
  topic_prefix: park
influxdb:
  url: http://127.0.0.1:8086
  token: ${INFLUX_TOKEN}              # for InfluxDB 1.8: user:password
  org: park
  bucket: energy                      # for InfluxDB 1.8: db/rp
carbon:
  region: CN                          # grid region for the electricity factor
enterprises: enterprises.yaml         # optional; relative to this file; needed for intensity and tiers
http:
  listen: 127.0.0.1:9100
`

func write(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestMinimalConfigsFromDesign(t *testing.T) {
	p := write(t, "edge.yaml", minimalEdge)
	e, _, err := edge.LoadConfig(p)
	if err != nil {
		t.Fatal(err)
	}
	if e.Gateway != "gw-01" || e.Buffer.Dir != filepath.Join(filepath.Dir(p), "data/edge") ||
		e.Modbus[0].Devices[0].Interval.String() != "10s" || e.Uplink.ClientID != "edge-gw-01" {
		t.Fatalf("edge: %+v", e)
	}
	t.Setenv("INFLUX_TOKEN", "user:password")
	p = write(t, "collector.yaml", minimalCollector)
	c, unset, err := central.LoadConfig(p)
	if err != nil {
		t.Fatal(err)
	}
	if c.InfluxDB.Token != "user:password" || len(unset) != 0 || c.Enterprises != filepath.Join(filepath.Dir(p), "enterprises.yaml") {
		t.Fatalf("collector: %+v unset %v", c, unset)
	}
}

func TestExampleConfigs(t *testing.T) {
	if _, _, err := edge.LoadConfig("edge.yaml"); err != nil {
		t.Error(err)
	}
	t.Setenv("INFLUX_TOKEN", "x")
	if _, _, err := central.LoadConfig("collector.yaml"); err != nil {
		t.Error(err)
	}
	for _, f := range []string{"compose/collector.yaml"} {
		if _, _, err := central.LoadConfig(f); err != nil {
			t.Error(err)
		}
	}
	if _, _, err := edge.LoadConfig("compose/edge.yaml"); err != nil {
		t.Error(err)
	}
	if _, _, err := alert.Load("alerts.yaml"); err != nil {
		t.Error(err)
	}
	data, err := os.ReadFile("enterprises.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := carbon.ParseRegistry(data); err != nil {
		t.Error(err)
	}
}

// A typo is an error that names the file and the line.
func TestConfigErrors(t *testing.T) {
	cases := []struct {
		name, file, content, want string
		collector                 bool
	}{
		{"edge typo", "edge.yaml", minimalEdge + "metrcs: {}\n", "line 15: unknown key \"metrcs\"", false},
		{"edge bad unit key", "edge.yaml", replace(minimalEdge, "interval: 10s", "intervall: 10s"), "line 12", false},
		{"edge unknown profile", "edge.yaml", replace(minimalEdge, "eastron-sdm630", "acme-9000"), "acme-9000", false},
		{"edge bad meter id", "edge.yaml", replace(minimalEdge, "m-101", `"m 101"`), "invalid meter id", false},
		{"edge bad broker", "edge.yaml", replace(minimalEdge, "tcp://127.0.0.1:1883", "127.0.0.1:1883"), "uplink: broker", false},
		{"edge unknown transport", "edge.yaml", replace(minimalEdge, "url: tcp://127.0.0.1:5020", "url: udp://127.0.0.1:5020"), "udp", false},
		{"edge bad serial", "edge.yaml", replace(minimalEdge, "url: tcp://127.0.0.1:5020", "url: rtu:///dev/ttyUSB0?baud=fast"), "baud", false},
		{"collector typo", "collector.yaml", replace(minimalCollector, "bucket:", "buckett:"), "line 9", true},
		{"collector region", "collector.yaml", replace(minimalCollector, "region: CN", "region: MARS"), "MARS", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := write(t, c.file, c.content)
			var err error
			if c.collector {
				_, _, err = central.LoadConfig(p)
			} else {
				_, _, err = edge.LoadConfig(p)
			}
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), c.file) {
				t.Fatalf("got %v, want an error naming %s and %q", err, c.file, c.want)
			}
		})
	}
}

func replace(s, old, new string) string {
	if !strings.Contains(s, old) {
		panic("no " + old)
	}
	return strings.Replace(s, old, new, 1)
}
