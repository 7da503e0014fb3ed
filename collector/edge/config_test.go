package edge

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const minimalConfig = `gateway: gw-01
uplink: {broker: tcp://127.0.0.1:1883}
buffer: {dir: ./data}
modbus:
  - name: bus-1
    url: tcp://127.0.0.1:5020
    devices:
      - {meter: m-1, enterprise: ent-1, unit: 1, profile: eastron-sdm630, interval: 10s}
`

// runtime.max_procs is 1 unless set, 0 leaves Go's default, negative is an
// error; runtime.gc_percent is 50 unless set, -1 or more.
func TestRuntimeConfig(t *testing.T) {
	for _, tc := range []struct {
		extra     string
		procs, gc int
		err       string
	}{
		{"", 1, 50, ""},
		{"runtime: {max_procs: 0}\n", 0, 50, ""},
		{"runtime: {max_procs: 4, gc_percent: 100}\n", 4, 100, ""},
		{"runtime: {gc_percent: -1}\n", 1, -1, ""},
		{"runtime: {max_procs: -1}\n", 0, 0, "runtime.max_procs -1 is negative"},
		{"runtime: {gc_percent: -2}\n", 0, 0, "runtime.gc_percent -2"},
	} {
		path := filepath.Join(t.TempDir(), "edge.yaml")
		if err := os.WriteFile(path, []byte(minimalConfig+tc.extra), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, _, err := LoadConfig(path)
		switch {
		case tc.err != "":
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: error %v, want %q", tc.extra, err, tc.err)
			}
		case err != nil:
			t.Errorf("%q: %v", tc.extra, err)
		case cfg.Runtime.Procs() != tc.procs || cfg.Runtime.GOGC() != tc.gc:
			t.Errorf("%q: max_procs %d, gc_percent %d, want %d, %d", tc.extra, cfg.Runtime.Procs(), cfg.Runtime.GOGC(), tc.procs, tc.gc)
		}
	}
}
