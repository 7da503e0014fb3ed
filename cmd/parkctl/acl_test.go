package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/parkcarbon/parkcarbon/carbon"
	"github.com/parkcarbon/parkcarbon/internal/servers"
	"github.com/parkcarbon/parkcarbon/internal/testenv"
)

// With the generated ACL on a real Mosquitto, gateway A can publish its own
// enterprise's readings but not under enterprise B, nor as gateway B.
func TestACLIsolatesEnterprisesAtTheBroker(t *testing.T) {
	reg, err := carbon.ParseRegistry([]byte(`enterprises:
  - {id: ent-a, name: A, land_area_mu: 10, industry: x, tier: 1, scale: above, output_value_cny: 1, sales_revenue_cny: 1, tax_paid_cny: 1, value_added_cny: 1, employees: 1, gateways: [gw-a]}
  - {id: ent-b, name: B, land_area_mu: 10, industry: x, tier: 1, scale: above, output_value_cny: 1, sales_revenue_cny: 1, tax_paid_cny: 1, value_added_cny: 1, employees: 1, gateways: [gw-b]}
`))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	aclPath, pwPath := filepath.Join(dir, "acl"), filepath.Join(dir, "passwd")
	f, err := os.Create(aclPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := writeACL(f, reg, "park", "park-collector", "test"); err != nil {
		t.Fatal(err)
	}
	f.Close()
	passwd, err := exec.LookPath("mosquitto_passwd")
	if err != nil {
		t.Fatalf("mosquitto_passwd not found: run 'make deps' (apt-get install -y mosquitto)")
	}
	for i, user := range []string{"park-collector", "gw-a", "gw-b"} {
		args := []string{"-b", pwPath, user, user + "-secret"}
		if i == 0 {
			args = append([]string{"-c"}, args...)
		}
		if out, err := exec.Command(passwd, args...).CombinedOutput(); err != nil {
			t.Fatalf("mosquitto_passwd: %v %s", err, out)
		}
	}
	broker := testenv.Mosquitto(t, servers.MosquittoAuth(pwPath, aclPath))

	client := func(user string) mqtt.Client {
		c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(broker.URL).SetClientID(user).
			SetUsername(user).SetPassword(user + "-secret"))
		if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatalf("%s: %v", user, tok.Error())
		}
		t.Cleanup(func() { c.Disconnect(50) })
		return c
	}
	got := make(chan string, 10)
	coll := client("park-collector")
	if tok := coll.Subscribe("park/+/+/readings", 1, func(_ mqtt.Client, m mqtt.Message) { got <- m.Topic() }); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	// Each publish on a connection of its own: a broker may close the
	// connection of a client that published where it may not.
	for _, topic := range []string{"park/ent-b/gw-a/readings", "park/ent-b/gw-b/readings", "park/ent-a/gw-b/readings"} {
		c := client("gw-a")
		c.Publish(topic, 1, false, "{}").WaitTimeout(2 * time.Second)
		c.Disconnect(50)
	}
	if tok := client("gw-a").Publish("park/ent-a/gw-a/readings", 1, false, "{}"); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("the allowed publish failed: %v", tok.Error())
	}
	// Only the last, allowed one arrives; the broker drops the others
	// silently (MQTT 3.1.1 has no negative acknowledgement).
	select {
	case topic := <-got:
		if topic != "park/ent-a/gw-a/readings" {
			t.Fatalf("the broker let through %s", topic)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the allowed message did not arrive")
	}
	select {
	case topic := <-got:
		t.Fatalf("the broker let through %s", topic)
	case <-time.After(500 * time.Millisecond):
	}
	// A wrong password is refused.
	bad := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(broker.URL).SetClientID("gw-b").SetUsername("gw-b").SetPassword("guess"))
	if tok := bad.Connect(); tok.WaitTimeout(10*time.Second) && tok.Error() == nil {
		t.Fatal("a wrong password was accepted")
	}
}
