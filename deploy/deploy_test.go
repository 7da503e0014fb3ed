// Package deploy holds what operators install: the systemd units, the
// Prometheus configuration of docker-compose.yml. Its tests check those,
// the compose file, the Dockerfile and `make release` with the real tools
// (docker-compose, systemd-analyze, go build); a missing tool fails the
// test with the command that installs it.
package deploy

import (
	"bufio"
	"bytes"
	"debug/elf"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// root is the repository, where docker-compose.yml lives.
const root = ".."

func lookPath(t *testing.T, name, install string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s not found; install it: %s", name, install)
	}
	return p
}

// composeEnv is the environment docker-compose.yml needs, and nothing of
// the caller's that could change its meaning.
func composeEnv(drop string) []string {
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.TempDir()}
	for _, kv := range []string{"INFLUX_PASSWORD=compose-test-password", "INFLUX_TOKEN=compose-test-token", "GRAFANA_PASSWORD=compose-test"} {
		if !strings.HasPrefix(kv, drop+"=") {
			env = append(env, kv)
		}
	}
	return env
}

func compose(t *testing.T, env []string, args ...string) ([]byte, error) {
	t.Helper()
	bin := lookPath(t, "docker-compose", "apt-get install -y docker-compose")
	cmd := exec.CommandContext(t.Context(), bin, append([]string{"-f", filepath.Join(root, "docker-compose.yml")}, args...)...)
	cmd.Env = env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, errors.Join(err, errors.New(stderr.String()))
	}
	return out, nil
}

func TestComposeConfig(t *testing.T) {
	if _, err := compose(t, composeEnv(""), "config", "-q"); err != nil {
		t.Fatalf("docker-compose config -q: %v", err)
	}
	// Each secret is required: a stack without it must not start half-configured.
	for _, secret := range []string{"INFLUX_PASSWORD", "INFLUX_TOKEN", "GRAFANA_PASSWORD"} {
		_, err := compose(t, composeEnv(secret), "config", "-q")
		if err == nil || !strings.Contains(err.Error(), secret) {
			t.Errorf("without %s: %v, want an error naming it", secret, err)
		}
	}

	out, err := compose(t, composeEnv(""), "config")
	if err != nil {
		t.Fatalf("docker-compose config: %v", err)
	}
	var cfg struct {
		Services map[string]struct {
			Image   string
			Build   *struct{ Context, Target string }
			Command []string
			Restart string
			Volumes []string // docker-compose 1.29 renders source:target[:mode]
		}
	}
	if err := yaml.Unmarshal(out, &cfg); err != nil {
		t.Fatalf("docker-compose config output: %v", err)
	}
	want := []string{"edge-agent", "grafana", "influxdb", "meters", "mosquitto", "park-collector", "prometheus"}
	var got []string
	for name := range cfg.Services {
		got = append(got, name)
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("services %v, want %v", got, want)
	}
	stages := dockerStages(t)
	for name, s := range cfg.Services {
		if s.Restart != "unless-stopped" {
			t.Errorf("%s: restart %q, want unless-stopped", name, s.Restart)
		}
		if s.Build != nil && !slices.Contains(stages, s.Build.Target) {
			t.Errorf("%s: build target %q is no stage of the Dockerfile (%v)", name, s.Build.Target, stages)
		}
		// docker-compose does not check bind mounts; a missing file would be
		// created as an empty directory and the service would fail at start.
		for _, v := range s.Volumes {
			source, _, _ := strings.Cut(v, ":")
			if !filepath.IsAbs(source) {
				continue // a named volume
			}
			if _, err := os.Stat(source); err != nil {
				t.Errorf("%s: bind mount %s: %v", name, source, err)
			}
		}
	}
	if c := cfg.Services["meters"].Command; strings.Join(c, " ") != "simulate -listen 0.0.0.0:5020 -units 1-20" {
		t.Errorf("meters: command %v", c)
	}
}

var fromLine = regexp.MustCompile(`(?i)^FROM\s+(\S+)(?:\s+AS\s+(\S+))?`)

// dockerStages lists the Dockerfile's stage names and checks that it
// builds static binaries and runs them as a non-root user.
func dockerStages(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	var stages []string
	from := map[string]string{}
	var cgoOff, trimpath, user bool
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if m := fromLine.FindStringSubmatch(line); m != nil {
			stages = append(stages, m[2])
			from[m[2]] = m[1]
		}
		cgoOff = cgoOff || strings.Contains(line, "CGO_ENABLED=0")
		trimpath = trimpath || strings.Contains(line, "-trimpath")
		user = user || regexp.MustCompile(`^USER\s+(65532|nonroot)`).MatchString(line)
	}
	if !cgoOff || !trimpath || !user {
		t.Errorf("Dockerfile: CGO_ENABLED=0 %v, -trimpath %v, USER nonroot %v: want all", cgoOff, trimpath, user)
	}
	for _, s := range []string{"park-collector", "edge-agent", "parkctl"} {
		base := from[s]
		for from[base] != "" { // a stage built on another stage
			base = from[base]
		}
		if !strings.HasPrefix(base, "gcr.io/distroless/static") || !strings.HasSuffix(base, ":nonroot") {
			t.Errorf("Dockerfile: stage %s runs on %q, want distroless/static …:nonroot", s, base)
		}
	}
	return stages
}

// TestSystemdUnits verifies the units with systemd-analyze (pointing them at
// freshly built binaries, which verify requires to exist) and holds their
// sandbox to an exposure of at most 2.0 ("OK" on systemd's 0–10 scale).
func TestSystemdUnits(t *testing.T) {
	analyze := lookPath(t, "systemd-analyze", "apt-get install -y systemd")
	goBin := lookPath(t, "go", "see https://go.dev/doc/install")
	dir := t.TempDir()
	build := exec.CommandContext(t.Context(), goBin, "build", "-o", dir+"/", "./cmd/edge-agent", "./cmd/park-collector")
	build.Dir = root
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	required := []string{"NoNewPrivileges=yes", "ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes",
		"StateDirectory=", "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6", "CapabilityBoundingSet=",
		"SystemCallFilter=@system-service", "Restart=always"}
	units, err := filepath.Glob("systemd/*.service")
	if err != nil || len(units) != 2 {
		t.Fatalf("units %v (%v), want edge-agent.service and park-collector.service", units, err)
	}
	for _, unit := range units {
		data, err := os.ReadFile(unit)
		if err != nil {
			t.Fatal(err)
		}
		text := string(data)
		for _, r := range required {
			if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(r)).MatchString(text) {
				t.Errorf("%s: no %s", unit, r)
			}
		}
		if filepath.Base(unit) == "edge-agent.service" {
			for _, r := range []string{"StateDirectory=parkcarbon\n", "SupplementaryGroups=dialout", "DeviceAllow=char-ttyUSB rw", "DynamicUser=yes"} {
				if !strings.Contains(text, r) {
					t.Errorf("%s: no %s", unit, strings.TrimSpace(r))
				}
			}
		}
		local := filepath.Join(dir, filepath.Base(unit))
		if err := os.WriteFile(local, []byte(strings.ReplaceAll(text, "/usr/local/bin/", dir+"/")), 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.CommandContext(t.Context(), analyze, "verify", local).CombinedOutput(); err != nil || len(bytes.TrimSpace(out)) > 0 {
			t.Errorf("systemd-analyze verify %s: %v\n%s", unit, err, out)
		}
		out, err := exec.CommandContext(t.Context(), analyze, "security", "--offline=yes", "--no-pager", local).CombinedOutput()
		if err != nil {
			t.Fatalf("systemd-analyze security %s: %v\n%s", unit, err, out)
		}
		m := regexp.MustCompile(`Overall exposure level for \S+: (\d+\.\d+)`).FindSubmatch(out)
		if m == nil {
			t.Fatalf("systemd-analyze security %s: no exposure level in\n%s", unit, out)
		}
		if level, _ := strconv.ParseFloat(string(m[1]), 64); level > 2.0 {
			t.Errorf("%s: exposure %.1f, want ≤ 2.0:\n%s", unit, level, out)
		} else {
			t.Logf("%s: exposure %.1f", unit, level)
		}
	}
}

// TestRelease runs the release script for the agent and checks each binary:
// the target architecture, static (no interpreter, no shared libraries),
// stripped, and free of the build machine's paths.
func TestRelease(t *testing.T) {
	lookPath(t, "go", "see https://go.dev/doc/install")
	lookPath(t, "sha256sum", "apt-get install -y coreutils")
	dist := t.TempDir()
	cmd := exec.CommandContext(t.Context(), "./scripts/release.sh")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "DIST="+dist, "BINARIES=edge-agent")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("release.sh: %v\n%s", err, out)
	}
	src, err := filepath.Abs(root)
	if err != nil {
		t.Fatal(err)
	}
	sums, err := os.ReadFile(filepath.Join(dist, "SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		file    string
		machine elf.Machine
		armv7   bool
	}{
		{"edge-agent-linux-amd64", elf.EM_X86_64, false},
		{"edge-agent-linux-arm64", elf.EM_AARCH64, false},
		{"edge-agent-linux-armv7", elf.EM_ARM, true},
	} {
		path := filepath.Join(dist, c.file)
		f, err := elf.Open(path)
		if err != nil {
			t.Errorf("%s: %v", c.file, err)
			continue
		}
		if f.Machine != c.machine {
			t.Errorf("%s: machine %v, want %v", c.file, f.Machine, c.machine)
		}
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP {
				t.Errorf("%s: has an interpreter: not static", c.file)
			}
		}
		if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
			t.Errorf("%s: needs %v: not static", c.file, libs)
		}
		if f.Section(".symtab") != nil {
			t.Errorf("%s: has a symbol table: not built with -s", c.file)
		}
		if c.armv7 {
			// Go records GOARM in the build info; 7 means hardware floats.
			if !bytes.Contains(readAll(t, path), []byte("GOARM=7")) {
				t.Errorf("%s: not built with GOARM=7", c.file)
			}
		}
		f.Close()
		if bytes.Contains(readAll(t, path), []byte(src)) {
			t.Errorf("%s: contains the build path %s: not built with -trimpath", c.file, src)
		}
		if !bytes.Contains(sums, []byte("  "+c.file+"\n")) {
			t.Errorf("SHA256SUMS lacks %s", c.file)
		}
		if st, err := os.Stat(path); err == nil {
			t.Logf("%s: %.1f MiB", c.file, float64(st.Size())/(1<<20))
		}
	}
}

func readAll(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
