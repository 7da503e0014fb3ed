package configfile

import (
	"os"
	"strings"
	"testing"
	"time"
)

type sample struct {
	Name     string        `yaml:"name"`
	Interval time.Duration `yaml:"interval"`
	Token    string        `yaml:"token"`
}

func TestDecodeStrict(t *testing.T) {
	var s sample
	err := Decode("x.yaml", []byte("name: a\ninterval: 10s\ncolour: red\n"), &s)
	if err == nil || !strings.Contains(err.Error(), "line 3") || !strings.Contains(err.Error(), "x.yaml") {
		t.Fatalf("unknown key: %v", err)
	}
	if err := Decode("x.yaml", []byte("name: a\ninterval: 10s\n"), &s); err != nil || s.Interval != 10*time.Second {
		t.Fatalf("%v %+v", err, s)
	}
	if err := Decode("x.yaml", nil, &s); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Fatalf("empty: %v", err)
	}
}

func TestExpand(t *testing.T) {
	env := map[string]string{"TOKEN": "u:p$w"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	out, unset := Expand([]byte("token: ${TOKEN}\nother: $TOKEN\n"), lookup)
	if unset != nil || string(out) != "token: u:p$w\nother: $TOKEN\n" {
		t.Fatalf("%q %v", out, unset)
	}
	out, unset = Expand([]byte("token: ${NOPE}"), lookup)
	if string(out) != "token: " || len(unset) != 1 || unset[0] != "NOPE" {
		t.Fatalf("unset: %q %v", out, unset)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte("name: a\ninterval: 10s\n"))
	f.Add([]byte("token: ${X}\n"))
	f.Add([]byte("- [\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var s sample
		_ = Decode("fuzz.yaml", data, &s)
		_, _ = Expand(data, func(string) (string, bool) { return "v", true })
	})
}

func TestLiteralSecrets(t *testing.T) {
	doc := "mqtt:\n  password: hunter2\n  username: gw\ninfluxdb:\n  token: ${INFLUX_TOKEN}\n  # token: old\n  password_file: /etc/pw\nwebhook:\n  secret: \"\"\n"
	got := LiteralSecrets([]byte(doc))
	if len(got) != 1 || got[0] != "password" {
		t.Fatalf("%v", got)
	}
}

func TestLoadWarnsOnWorldReadableSecret(t *testing.T) {
	dir := t.TempDir()
	p := dir + "/c.yaml"
	if err := os.WriteFile(p, []byte("name: a\ntoken: abc\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var v struct {
		Name  string `yaml:"name"`
		Token string `yaml:"token"`
	}
	w, err := Load(p, &v)
	if err != nil || len(w) != 1 || !strings.Contains(w[0], "world-readable") {
		t.Fatalf("%v %v", w, err)
	}
	if err := os.Chmod(p, 0o600); err != nil {
		t.Fatal(err)
	}
	if w, err := Load(p, &v); err != nil || len(w) != 0 {
		t.Fatalf("%v %v", w, err)
	}
}
