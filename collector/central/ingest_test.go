package central

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/parkcarbon/parkcarbon/carbon"
	"github.com/parkcarbon/parkcarbon/internal/wire"
)

var ingestNow = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

func testService(t testing.TB, registry string) *Service {
	t.Helper()
	cfg := &Config{MQTT: MQTTConfig{Broker: "tcp://127.0.0.1:1", TopicPrefix: "park"}, InfluxDB: InfluxConfig{URL: "http://127.0.0.1:1", Bucket: "b"}}
	cfg.setDefaults()
	s := &Service{cfg: cfg, m: newMetrics(prometheus.NewRegistry()), log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if registry != "" {
		reg, err := carbon.ParseRegistry([]byte(registry))
		if err != nil {
			t.Fatal(err)
		}
		s.registry = reg
	}
	return s
}

const isolationRegistry = `enterprises:
  - {id: ent-a, name: A, land_area_mu: 10, industry: x, tier: 1, scale: above, output_value_cny: 1, sales_revenue_cny: 1, tax_paid_cny: 1, value_added_cny: 1, employees: 1, gateways: [gw-a]}
  - {id: ent-b, name: B, land_area_mu: 10, industry: x, tier: 1, scale: above, output_value_cny: 1, sales_revenue_cny: 1, tax_paid_cny: 1, value_added_cny: 1, employees: 1, gateways: [gw-b]}
`

func payload(gateway, enterprise, meter, quantity string, value float64, ts time.Time) string {
	return fmt.Sprintf(`{"v":1,"gateway":%q,"seq":1,"readings":[{"meter":%q,"enterprise":%q,"energy":"electricity","quantity":%q,"value":%v,"unit":"kWh","ts":%d}]}`,
		gateway, meter, enterprise, quantity, value, ts.UnixMilli())
}

// Hostile input: every bad message is refused with a reason and never
// reaches InfluxDB; a forged envelope cannot speak for another enterprise.
func TestAdmitRejects(t *testing.T) {
	s := testService(t, isolationRegistry)
	ok := payload("gw-a", "ent-a", "m-1", "energy_import_total", 12.5, ingestNow)
	cases := []struct {
		name, topic, payload, reason string
	}{
		{"topic shape", "park/ent-a/readings", ok, "topic"},
		{"topic wildcard id", "park/ent+a/gw-a/readings", ok, "topic"},
		{"too large", "park/ent-a/gw-a/readings", ok + strings.Repeat(" ", 1<<20), "too_large"},
		{"not json", "park/ent-a/gw-a/readings", "{{{", "malformed"},
		{"line protocol injection in meter", "park/ent-a/gw-a/readings", payload("gw-a", "ent-a", "m-1,enterprise=ent-b value=1", "energy_import_total", 1, ingestNow), "malformed"},
		{"newline in meter", "park/ent-a/gw-a/readings", payload("gw-a", "ent-a", "m\n1", "energy_import_total", 1, ingestNow), "malformed"},
		{"space in quantity", "park/ent-a/gw-a/readings", payload("gw-a", "ent-a", "m-1", "energy import", 1, ingestNow), "malformed"},
		{"NaN", "park/ent-a/gw-a/readings", strings.Replace(ok, "12.5", "NaN", 1), "malformed"},
		{"gateway A as gateway B", "park/ent-a/gw-b/readings", ok, "gateway_mismatch"},
		{"enterprise B's reading on A's topic", "park/ent-a/gw-a/readings", payload("gw-a", "ent-b", "m-1", "energy_import_total", 1, ingestNow), "enterprise_mismatch"},
		{"gateway A under enterprise B", "park/ent-b/gw-a/readings", payload("gw-a", "ent-b", "m-1", "energy_import_total", 1, ingestNow), "gateway_not_registered"},
		{"unknown enterprise", "park/ent-z/gw-a/readings", payload("gw-a", "ent-z", "m-1", "energy_import_total", 1, ingestNow), "unknown_enterprise"},
		{"out of range only", "park/ent-a/gw-a/readings", payload("gw-a", "ent-a", "m-1", "power_factor", 7, ingestNow), "no_valid_reading"},
		{"future only", "park/ent-a/gw-a/readings", payload("gw-a", "ent-a", "m-1", "energy_import_total", 1, ingestNow.Add(10*time.Minute)), "no_valid_reading"},
		{"ancient only", "park/ent-a/gw-a/readings", payload("gw-a", "ent-a", "m-1", "energy_import_total", 1, ingestNow.Add(-2*365*24*time.Hour)), "no_valid_reading"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			env, rej := s.admit(c.topic, []byte(c.payload), ingestNow)
			if rej == nil || rej.reason != c.reason {
				t.Fatalf("got %v %v, want rejection %q", env, rej, c.reason)
			}
		})
	}
	if env, rej := s.admit("park/ent-a/gw-a/readings", []byte(ok), ingestNow); rej != nil || len(env.Readings) != 1 {
		t.Fatalf("good message: %v", rej)
	}
}

// Out-of-range readings are dropped one by one; the rest of the envelope is kept.
func TestAdmitTrims(t *testing.T) {
	s := testService(t, "")
	mk := func(q string, v float64, ts time.Time) string {
		return fmt.Sprintf(`{"meter":"m","enterprise":"e","energy":"electricity","quantity":%q,"value":%v,"unit":"x","ts":%d}`, q, v, ts.UnixMilli())
	}
	body := fmt.Sprintf(`{"v":1,"gateway":"g","seq":1,"readings":[%s,%s,%s,%s,%s]}`,
		mk("active_power", 5, ingestNow), mk("active_power", 5, ingestNow.Add(4*time.Minute)),
		mk("active_power", 5, ingestNow.Add(6*time.Minute)), mk("voltage_l1", -3, ingestNow), mk("x_custom", -3, ingestNow))
	env, rej := s.admit("park/e/g/readings", []byte(body), ingestNow)
	if rej != nil || len(env.Readings) != 3 ||
		testutil.ToFloat64(s.m.rejectedReadings.WithLabelValues("future_timestamp")) != 1 ||
		testutil.ToFloat64(s.m.rejectedReadings.WithLabelValues("out_of_range")) != 1 {
		t.Fatalf("kept %v, %v", env, rej)
	}
}

// FuzzAdmit: the whole ingest path, from topic and payload to points, never
// panics, and whatever it lets through has tags that are safe in line
// protocol and speaks for the topic's enterprise.
func FuzzAdmit(f *testing.F) {
	f.Add("park/ent-a/gw-a/readings", []byte(payload("gw-a", "ent-a", "m-1", "energy_import_total", 12.5, ingestNow)))
	f.Add("park/ent-a/gw-a/readings", []byte(`{"v":1,"gateway":"gw-a","seq":3,"readings":[{"meter":"m","enterprise":"ent-a","energy":"gas","quantity":"volume_total","value":3,"unit":"m3","ts":1795699200000,"delta":0.5,"since":1795699190000}],"events":[{"meter":"m","enterprise":"ent-a","kind":"reset","value":1,"ts":1795699200000}]}`))
	f.Add("park/ent-b/gw-a/readings", []byte(`{"v":1}`))
	f.Add("park/+/#/readings", []byte(`[]`))
	s := testService(f, isolationRegistry)
	conv := Converter{Factors: carbon.DefaultTable(), Region: "CN"}
	f.Fuzz(func(t *testing.T, topic string, data []byte) {
		env, rej := s.admit(topic, data, ingestNow)
		if rej != nil {
			return
		}
		ent, gw, err := wire.ParseTopic("park", topic)
		if err != nil || env.Gateway != gw {
			t.Fatalf("admitted %q for topic %q", env.Gateway, topic)
		}
		for _, p := range conv.Points(nil, env) {
			for _, tag := range p.TagList() {
				if strings.ContainsAny(tag.Value, ", =\n\"\\") {
					t.Fatalf("unsafe tag %s=%q", tag.Key, tag.Value)
				}
				if tag.Key == "enterprise" && tag.Value != ent {
					t.Fatalf("point for %s on %s's topic", tag.Value, ent)
				}
			}
		}
	})
}
