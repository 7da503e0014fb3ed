package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	t.Setenv("INFLUX_TOKEN", "x")
	for _, f := range []string{"../../configs/edge.yaml", "../../configs/collector.yaml", "../../configs/alerts.yaml",
		"../../configs/enterprises.yaml", "../../configs/evaluation.yaml", "../../carbon/factors.yaml",
		"../../devices/profile/profiles/chint-dtsu666.yaml", "../../devices/sensor/mappings/shelly-em.yaml"} {
		if kind, err := validateFile(f); err != nil {
			t.Errorf("%s (%s): %v", f, kind, err)
		}
	}
	dir := t.TempDir()
	bad := map[string]string{
		"edge.yaml":        "gateway: gw-01\nuplink: {broker: tcp://h:1}\nmodbus: []\nmetrcs: {}\n",
		"alerts.yaml":      "tiers: {}\nrules: [{name: x, kind: nonsense}]\n",
		"enterprises.yaml": "enterprises: [{id: \"bad id\"}]\n",
	}
	for name, body := range bad {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := validateFile(p); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if err := runValidate(t.Context(), []string{filepath.Join(dir, "edge.yaml")}); err == nil || !strings.Contains(err.Error(), "1 of 1") {
		t.Errorf("runValidate: %v", err)
	}
}
