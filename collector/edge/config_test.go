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
// error; runtime.gc_percent is 25 unless set, -1 or more;
// runtime.release_startup_pages is true unless set false.
func TestRuntimeConfig(t *testing.T) {
	for _, tc := range []struct {
		extra     string
		procs, gc int
		release   bool
		err       string
	}{
		{"", 1, 25, true, ""},
		{"runtime: {max_procs: 0}\n", 0, 25, true, ""},
		{"runtime: {max_procs: 4, gc_percent: 100}\n", 4, 100, true, ""},
		{"runtime: {gc_percent: -1}\n", 1, -1, true, ""},
		{"runtime: {release_startup_pages: false}\n", 1, 25, false, ""},
		{"runtime: {release_startup_pages: true}\n", 1, 25, true, ""},
		{"runtime: {max_procs: -1}\n", 0, 0, false, "runtime.max_procs -1 is negative"},
		{"runtime: {gc_percent: -2}\n", 0, 0, false, "runtime.gc_percent -2"},
		{"runtime: {release_startup_pages: 1}\n", 0, 0, false, "line 9: cannot unmarshal !!int `1` into bool"},
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
		case cfg.Runtime.Procs() != tc.procs || cfg.Runtime.GOGC() != tc.gc || cfg.Runtime.ReleasePages() != tc.release:
			t.Errorf("%q: max_procs %d, gc_percent %d, release_startup_pages %v, want %d, %d, %v", tc.extra,
				cfg.Runtime.Procs(), cfg.Runtime.GOGC(), cfg.Runtime.ReleasePages(), tc.procs, tc.gc, tc.release)
		}
	}
}
