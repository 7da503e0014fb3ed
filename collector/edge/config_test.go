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

// runtime.max_procs is 1 unless set; 0 leaves Go's default; negative is an
// error.
func TestRuntimeMaxProcs(t *testing.T) {
	for _, tc := range []struct {
		extra string
		want  int
		err   string
	}{
		{"", 1, ""},
		{"runtime: {max_procs: 0}\n", 0, ""},
		{"runtime: {max_procs: 4}\n", 4, ""},
		{"runtime: {max_procs: -1}\n", 0, "runtime.max_procs -1 is negative"},
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
		case cfg.Runtime.Procs() != tc.want:
			t.Errorf("%q: max_procs %d, want %d", tc.extra, cfg.Runtime.Procs(), tc.want)
		}
	}
}
