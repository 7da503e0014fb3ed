package main

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parkcarbon/parkcarbon/devices/profile"
	"github.com/parkcarbon/parkcarbon/devices/simulator"
)

// updating tells whether the test binary runs with -update. The flag is defined once for
// the package (evaluate_test.go); looking it up keeps these tests apart from that file.
func updating() bool {
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if updating() {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s (go test -update rewrites it):\n--- got\n%s--- want\n%s", path, got, want)
	}
}

func TestProfilesGolden(t *testing.T) {
	var out bytes.Buffer
	if err := listProfiles(&out, "", nil); err != nil {
		t.Fatal(err)
	}
	golden(t, "profiles.golden", out.Bytes())
	// Every shipped profile is listed.
	for _, name := range profile.BuiltinNames() {
		if !strings.Contains(out.String(), "\n"+name+" (electricity, builtin)") && !strings.HasPrefix(out.String(), name+" ") {
			t.Errorf("%s not listed", name)
		}
	}
}

func TestProfilesUserFolder(t *testing.T) {
	var out bytes.Buffer
	dir := filepath.Join("testdata", "profiles")
	if err := listProfiles(&out, dir, []string{"site-meter"}); err != nil {
		t.Fatal(err)
	}
	golden(t, "profiles-user.golden", out.Bytes())
	if err := listProfiles(&out, dir, []string{"nope"}); err == nil || !strings.Contains(err.Error(), "site-meter") {
		t.Errorf("unknown profile: error %v, want the known names", err)
	}
	if err := listProfiles(&out, filepath.Join(dir, "missing"), nil); err == nil {
		t.Error("missing folder: no error")
	}
}

func TestPlanGolden(t *testing.T) {
	var out bytes.Buffer
	if err := printPlan(&out, filepath.Join("testdata", "edge.yaml"), ""); err != nil {
		t.Fatal(err)
	}
	golden(t, "plan.golden", out.Bytes())
}

func TestPlanErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tt := range []struct{ yaml, want string }{
		{"gateway: g\nmodbus:\n  - {name: a, url: tcp://h:1, devices: [{meter: m, unit: 1, profile: nope}]}\n", `endpoint a meter m: unknown profile "nope"`},
		{"gateway: g\nmodbus:\n  - {name: a, url: 'udp://h:1', devices: []}\n", "endpoint a: endpoint url"},
		{"gateway: [\n", "plan: "},
	} {
		var out bytes.Buffer
		if err := printPlan(&out, write("e.yaml", tt.yaml), ""); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: error %v, want %q", tt.yaml, err, tt.want)
		}
	}
	if err := printPlan(&bytes.Buffer{}, filepath.Join(dir, "missing.yaml"), ""); err == nil {
		t.Error("missing file: no error")
	}
}

// timing hides what differs from run to run: the time a round took.
var timing = regexp.MustCompile(`in \d+(\.\d+)?(µs|ms|s),`)

func TestProbeGolden(t *testing.T) {
	t0 := time.Date(2025, 6, 1, 8, 0, 0, 0, time.UTC)
	clock := func() time.Time { return t0 }
	for _, tt := range []struct {
		golden, proto, profile string
	}{
		{"probe-sdm630-tcp.golden", "tcp", "eastron-sdm630"},
		{"probe-dtsu666-rtuovertcp.golden", "rtuovertcp", "chint-dtsu666"},
		{"probe-adl400-tcp.golden", "tcp", "acrel-adl400"},
		{"probe-pm5100-tcp.golden", "tcp", "schneider-pm5100"},
	} {
		t.Run(tt.golden, func(t *testing.T) {
			p, err := profile.Builtin(tt.profile)
			if err != nil {
				t.Fatal(err)
			}
			var cfgProfile *profile.Profile
			if tt.profile != "eastron-sdm630" {
				cfgProfile = p
			}
			sim, err := simulator.Start(t.Context(), simulator.Config{Protocol: tt.proto, Units: []byte{4}, Now: clock, Profile: cfgProfile})
			if err != nil {
				t.Fatal(err)
			}
			defer sim.Close()
			var out bytes.Buffer
			if err := probe(t.Context(), &out, probeArgs{url: sim.URL(), unit: 4, profile: p, timeout: 2 * time.Second, now: clock}); err != nil {
				t.Fatal(err)
			}
			got := timing.ReplaceAllString(strings.Replace(out.String(), sim.Addr(), "SIM", 1), "in T,")
			golden(t, tt.golden, []byte(got))
		})
	}
}

// A meter that refuses one register: the probe shows the others and names the refused one.
func TestProbeRefusedRegister(t *testing.T) {
	sim, err := simulator.Start(t.Context(), simulator.Config{Units: []byte{1}, Refuse: []uint16{0x004A}})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	p, _ := profile.Builtin("eastron-sdm630")
	var out bytes.Buffer
	err = probe(t.Context(), &out, probeArgs{url: sim.URL(), unit: 1, profile: p, timeout: 2 * time.Second})
	if err == nil || !strings.Contains(err.Error(), "1 of 12 quantities refused") {
		t.Errorf("error %v, want one refused quantity", err)
	}
	s := out.String()
	// One bridged request refused, then one per register.
	if !strings.Contains(s, "13 requests") ||
		!regexp.MustCompile(`energy_export_total +- +kWh +FC04 input 0x004A +modbus exception 2 \(illegal data address\)`).MatchString(s) ||
		!regexp.MustCompile(`energy_import_total +1000(\.\d+)? +kWh +FC04 input 0x0048 +447A`).MatchString(s) {
		t.Errorf("output:\n%s", s)
	}
}

// A dead meter fails the probe with the transport's error, not a table of guesses.
func TestProbeDeadMeter(t *testing.T) {
	sim, err := simulator.Start(t.Context(), simulator.Config{Units: []byte{1}})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	sim.SetFault(1, simulator.Fault{Kind: simulator.NoAnswer})
	p, _ := profile.Builtin("eastron-sdm630")
	var out bytes.Buffer
	err = probe(t.Context(), &out, probeArgs{url: sim.URL(), unit: 1, profile: p, timeout: 100 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "timeout") || strings.Contains(out.String(), "QUANTITY") {
		t.Errorf("error %v, output:\n%s", err, out.String())
	}
}

// --watch reads round after round, reporting a failing round and going on, until the
// context ends.
func TestProbeWatch(t *testing.T) {
	sim, err := simulator.Start(t.Context(), simulator.Config{Units: []byte{1}})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	p, _ := profile.Builtin("eastron-sdm630")
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	rounds := 0
	w := writerFunc(func(b []byte) (int, error) {
		if bytes.HasPrefix(b, []byte(sim.URL())) {
			rounds++
			switch rounds {
			case 1: // the next round fails
				sim.SetFault(1, simulator.Fault{Kind: simulator.Exception, Code: 4})
			case 2:
				sim.SetFault(1, simulator.Fault{})
			case 3:
				cancel()
			}
		}
		return len(b), nil
	})
	var out bytes.Buffer
	tee := writerFunc(func(b []byte) (int, error) { out.Write(b); return w.Write(b) })
	if err := probe(ctx, tee, probeArgs{url: sim.URL(), unit: 1, profile: p, watch: 10 * time.Millisecond, timeout: time.Second}); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	if rounds != 3 || strings.Count(s, "QUANTITY") != 2 || !strings.Contains(s, "error: ") || !strings.Contains(s, "server device failure") {
		t.Errorf("%d rounds, output:\n%s", rounds, s)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(b []byte) (int, error) { return f(b) }

func TestParseInterspersed(t *testing.T) {
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	unit := fs.Int("unit", 0, "")
	watch := fs.Duration("watch", 0, "")
	pos, err := parseInterspersed(fs, []string{"tcp://h:1", "--unit", "3", "extra", "--watch=2s"})
	if err != nil || !slices.Equal(pos, []string{"tcp://h:1", "extra"}) || *unit != 3 || *watch != 2*time.Second {
		t.Errorf("pos %v unit %d watch %v err %v", pos, *unit, *watch, err)
	}
}

func TestRunProbeArguments(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--unit", "1", "--profile", "eastron-sdm630"}, "want one endpoint URL"},
		{[]string{"tcp://h:1", "--unit", "0", "--profile", "eastron-sdm630"}, "unit 0: want 1 to 247"},
		{[]string{"tcp://h:1", "--unit", "1"}, "--profile is required"},
		{[]string{"tcp://h:1", "--profile", "nope"}, `unknown profile "nope"`},
		{[]string{"udp://h:1", "--profile", "eastron-sdm630"}, "endpoint url"},
	} {
		err := runProbe(context.Background(), tt.args)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("probe %v: error %v, want %q", tt.args, err, tt.want)
		}
	}
}
