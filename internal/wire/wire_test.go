package wire

import (
	"strings"
	"testing"
)

const good = `{"v":1,"gateway":"gw-01","seq":42,"readings":[
  {"meter":"m-101","enterprise":"ent-001","energy":"electricity","quantity":"energy_import_total",
   "value":1234.5,"unit":"kWh","ts":1764000000000,"quality":"good",
   "delta":0.42,"since":1763999990000}]}`

func TestDecodeDesignExample(t *testing.T) {
	env, err := Decode([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	r := env.Readings[0]
	if env.Gateway != "gw-01" || env.Seq != 42 || r.Meter != "m-101" || r.Value != 1234.5 ||
		r.TS != 1764000000000 || r.Delta == nil || *r.Delta != 0.42 || r.Since != 1763999990000 {
		t.Fatalf("decoded %+v %+v", env, r)
	}
	out, err := Encode(env)
	if err != nil {
		t.Fatal(err)
	}
	again, err := Decode(out)
	if err != nil || *again.Readings[0].Delta != 0.42 {
		t.Fatalf("round trip: %v %s", err, out)
	}
}

func TestDecodeRejects(t *testing.T) {
	cases := []struct{ name, from, to, want string }{
		{"version", `"v":1`, `"v":2`, "unsupported version"},
		{"gateway", `"gw-01"`, `"gw 01"`, "invalid gateway"},
		{"meter comma", `"m-101"`, `"m,101"`, "invalid meter"},
		{"meter newline", `"m-101"`, `"m\n101"`, "invalid meter"},
		{"enterprise slash", `"ent-001"`, `"ent/001"`, "invalid enterprise"},
		{"energy", `"electricity"`, `"steam"`, "unknown energy"},
		{"negative delta", `"delta":0.42`, `"delta":-1`, "non-negative"},
		{"since after ts", `"since":1763999990000`, `"since":1764000000001`, "not before ts"},
		{"delta on power", `"energy_import_total"`, `"active_power"`, "not the cumulative"},
		{"no ts", `"ts":1764000000000`, `"ts":0`, "missing ts"},
		{"truncated", `}]}`, `}]`, "decode envelope"},
		{"string value", `"value":1234.5`, `"value":"1234.5"`, "decode envelope"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := strings.Replace(good, c.from, c.to, 1)
			if in == good {
				t.Fatalf("replacement %q not applied", c.from)
			}
			_, err := Decode([]byte(in))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want error containing %q", err, c.want)
			}
		})
	}
	if _, err := Decode([]byte(`{"v":1,"gateway":"gw","seq":1,"readings":[]}`)); err == nil {
		t.Fatal("empty envelope accepted")
	}
}

func TestTopic(t *testing.T) {
	topic := Topic("park", "ent-001", "gw-01")
	if topic != "park/ent-001/gw-01/readings" {
		t.Fatal(topic)
	}
	e, g, err := ParseTopic("park", topic)
	if err != nil || e != "ent-001" || g != "gw-01" {
		t.Fatalf("%s %s %v", e, g, err)
	}
	for _, bad := range []string{"park/ent/readings", "other/e/g/readings", "park/e/g/alerts", "park/e/g/readings/x"} {
		if _, _, err := ParseTopic("park", bad); err == nil {
			t.Errorf("ParseTopic(%q) accepted", bad)
		}
	}
}

// FuzzDecode: no input may panic the decoder, and whatever it accepts must
// re-encode to something it accepts again with the same readings.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(good))
	f.Add([]byte(`{"v":1,"gateway":"g","seq":1,"readings":[{"meter":"m","enterprise":"e","energy":"gas","quantity":"volume_total","value":1,"unit":"m3","ts":5}]}`))
	f.Add([]byte(`{"v":1,"readings":null}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		env, err := Decode(data)
		if err != nil {
			return
		}
		out, err := Encode(env)
		if err != nil {
			t.Fatalf("encode accepted envelope: %v", err)
		}
		again, err := Decode(out)
		if err != nil {
			t.Fatalf("re-decode: %v\n%s", err, out)
		}
		if len(again.Readings) != len(env.Readings) {
			t.Fatalf("reading count changed")
		}
		for i := range env.Readings {
			if !ValidID(env.Readings[i].Meter) || strings.ContainsAny(env.Readings[i].Meter, ", =\n") {
				t.Fatalf("unsafe meter id accepted: %q", env.Readings[i].Meter)
			}
		}
	})
}
