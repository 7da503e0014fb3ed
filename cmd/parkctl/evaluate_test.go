package main

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parkcarbon/parkcarbon/carbon"
)

var updateGolden = flag.Bool("update", false, "rewrite the golden files under testdata/")

// goldenInput is the demo park (configs/enterprises.yaml, scored by
// configs/evaluation.yaml) in October 2026 with fixed meter totals: the
// shipped files go through the whole report path.
func goldenInput(t *testing.T, format string) (*evaluateInput, map[string]carbon.Totals) {
	t.Helper()
	f := evaluateFlags{period: "2026-10", format: format, config: "../../configs/evaluation.yaml",
		enterprises: "../../configs/enterprises.yaml", bucket: "energy/autogen", source: "hourly", tz: "Asia/Shanghai"}
	in, err := f.load()
	if err != nil {
		t.Fatal(err)
	}
	add := func(t *testing.T, tot *carbon.Totals, energy string, amount, factor float64) {
		if err := tot.Add(energy, amount, amount*factor, amount*carbon.CoalCoefficient(energy)); err != nil {
			t.Fatal(err)
		}
	}
	totals := map[string]carbon.Totals{}
	for _, m := range []struct {
		ent, energy string
		amount      float64
	}{
		{"ent-001", carbon.Electricity, 1_480_000}, {"ent-001", carbon.Gas, 96_000}, {"ent-001", carbon.Water, 5_200},
		{"ent-002", carbon.Electricity, 610_000}, {"ent-002", carbon.Heat, 5_400}, {"ent-002", carbon.Water, 41_000},
		{"ent-003", carbon.Electricity, 905_000}, {"ent-003", carbon.Water, 2_100},
		// ent-004 sent nothing this month.
		{"ent-005", carbon.Gas, 310_000}, {"ent-005", carbon.Electricity, 120_000},
		{"ent-999", carbon.Electricity, 1_000}, // not in the registry
	} {
		tot := totals[m.ent]
		factor := map[string]float64{carbon.Electricity: 0.5306, carbon.Gas: 2.1622, carbon.Heat: 110}[m.energy]
		add(t, &tot, m.energy, m.amount, factor)
		totals[m.ent] = tot
	}
	return in, totals
}

func TestEvaluateGolden(t *testing.T) {
	for _, format := range []string{"table", "md", "csv", "json"} {
		t.Run(format, func(t *testing.T) {
			in, totals := goldenInput(t, format)
			var out, errOut bytes.Buffer
			if err := report(&out, &errOut, in, totals); err != nil {
				t.Fatal(err)
			}
			if got := errOut.String(); !strings.Contains(got, "not in the registry, left out: ent-999") {
				t.Errorf("stderr %q should name the unregistered enterprise", got)
			}
			ext := map[string]string{"table": "txt", "md": "md", "csv": "csv", "json": "json"}[format]
			golden := filepath.Join("testdata", "evaluate", "report."+ext)
			if *updateGolden {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, out.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -run TestEvaluateGolden ./cmd/parkctl -update to create it)", err)
			}
			if !bytes.Equal(out.Bytes(), want) {
				t.Errorf("%s differs from the output (rerun with -update if the change is intended):\n%s", golden, out.String())
			}
		})
	}
}

// The demo park's classes, by hand, so that the goldens cannot drift into
// nonsense unnoticed. Per-mu figures are annual; energy is October's ÷ 31/365.
//
//	ent-001 42 mu:   tax 9.8 M → 233,333/mu → 1.556×45 = 70.00; sales 279 M → 6.643 M/mu → 2.214, capped 2 ×35 = 70;
//	                 energy 1,480,000×0.1229 + 96,000×1.2143 kgce = 298.46 t → ×365/31 = 3,514.2 tce → 2,789/tce → 0.2789×20 = 5.58  → 145.58
//	ent-002 35.5 mu: tax 3.9 M → 109,859/mu → 0.7324×45 = 32.96; sales 148.5 M → 4.183 M/mu → 1.394×35 = 48.80;
//	                 610,000×0.1229 + 5,400×34.12 = 259.22 t → 3,052.1 tce → 1,278/tce → 0.1278×20 = 2.56  → 84.31
//	ent-003 18 mu:   tax 12.6 M → 700,000/mu → capped 2 ×45 = 90; sales 230.1 M → 12.78 M/mu → capped 70;
//	                 905,000×0.1229 = 111.22 t → 1,309.6 tce → 9,621/tce → 0.9621×20 = 19.24 → 179.24
//	ent-004 2.6 mu:  tax 0.41 M → 157,692/mu → 1.0513×45 = 47.31; sales 14.1 M → 5.423 M/mu → 1.808×35 = 63.27;
//	                 no meter data: 0 → 110.58
//	ent-005 utility: T
//
// Ranks (n = 4): ent-003 A, ent-001 B, ent-004 B (⌈2.4⌉ = 3), ent-002 C.
func TestEvaluateDemoParkClasses(t *testing.T) {
	in, totals := goldenInput(t, "json")
	ev, err := carbon.Evaluate(in.scheme, in.registry, totals, in.period)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		id, class string
		score     float64
	}{{"ent-003", "A", 179.24}, {"ent-001", "B", 145.58}, {"ent-004", "B", 110.58}, {"ent-002", "C", 84.31}, {"ent-005", "T", 0}}
	if len(ev.Rows) != len(want) {
		t.Fatalf("%d rows", len(ev.Rows))
	}
	for i, w := range want {
		r := ev.Rows[i]
		if r.ID != w.id || r.Class != w.class || (w.class != "T" && (r.Score.V < w.score-0.01 || r.Score.V > w.score+0.01)) {
			t.Errorf("row %d: %s %s %.2f, want %s %s %.2f", i, r.ID, r.Class, r.Score.V, w.id, w.class, w.score)
		}
	}
}

func TestEvaluateFlagErrors(t *testing.T) {
	dir := t.TempDir()
	badReg := filepath.Join(dir, "enterprises.yaml")
	if err := os.WriteFile(badReg, []byte("enterprises:\n  - id: ent-001\n    name: A\n    land_area_mu: 1\n    scale: above\n    tax_paid: 3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	badCfg := filepath.Join(dir, "evaluation.yaml")
	if err := os.WriteFile(badCfg, []byte("groups: []\nclasses: {by: score, bands: [{class: A}]}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ok := []string{"--period", "2026-10", "--bucket", "energy/autogen", "--enterprises", "../../configs/enterprises.yaml",
		"--influx-url", "http://127.0.0.1:1"}
	with := func(extra ...string) []string { return append(append([]string{}, ok...), extra...) }
	cases := []struct {
		name string
		args []string
		want []string
	}{
		{"no period", []string{"--bucket", "b"}, []string{"--period is required"}},
		{"bad period", with("--period", "2026-13"), []string{"--period", "2026-13"}},
		{"no bucket", []string{"--period", "2026-10"}, []string{"--bucket is required"}},
		{"bad format", with("--format", "xml"), []string{`--format "xml"`}},
		{"bad source", with("--source", "daily"), []string{`--source "daily"`}},
		{"bad tz", with("--tz", "Mars/Olympus"), []string{"--tz"}},
		{"no registry", with("--enterprises", filepath.Join(dir, "none.yaml")), []string{"registry", "none.yaml"}},
		{"registry error names file and line", with("--enterprises", badReg), []string{badReg, "line 6", `enterprise "ent-001"`, `unknown key "tax_paid"`}},
		{"bad scheme", with("--config", badCfg), []string{badCfg, "no groups"}},
		{"unknown flag", with("--colour"), []string{"colour"}},
		{"stray argument", with("now"), []string{`unexpected argument "now"`}},
		{"influx down", with("--config", "../../configs/evaluation.yaml", "--timeout", "5s"), []string{"read consumption_hourly from http://127.0.0.1:1"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			err := evaluateCommand(context.Background(), c.args, &out, &errOut)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if out.Len() > 0 {
				t.Errorf("nothing should be printed on failure, got %q", out.String())
			}
		})
	}
}

func TestEvaluateHelp(t *testing.T) {
	var out, errOut bytes.Buffer
	if err := evaluateCommand(context.Background(), []string{"-h"}, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"usage: parkctl evaluate", "-period", "-source", "-tz"} {
		if !strings.Contains(errOut.String(), w) {
			t.Errorf("usage lacks %q:\n%s", w, errOut.String())
		}
	}
}

func TestTotalsQuery(t *testing.T) {
	sh, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	p, err := carbon.ParsePeriod("2026-10", sh)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct{ measurement, want string }{
		// Hourly points are stamped at the hour's start: [start, end), with a
		// stop that no hourly point has, as 1.8 includes the stop.
		{"consumption_hourly", `range(start: 2026-09-30T16:00:00Z, stop: 2026-10-31T15:59:59.999999999Z)`},
		// Raw intervals at their end: (start, end].
		{"consumption", `range(start: 2026-09-30T16:00:00.000000001Z, stop: 2026-10-31T16:00:00.000000001Z)`},
	}
	for _, c := range cases {
		q := totalsQuery(`energy/autogen`, c.measurement, p)
		if !strings.Contains(q, c.want) || !strings.Contains(q, `r._measurement == "`+c.measurement+`"`) || !strings.Contains(q, `from(bucket: "energy/autogen")`) {
			t.Errorf("%s:\n%s", c.measurement, q)
		}
	}
	if got := fluxString(`a"b\c${d}`); got != `"a\"b\\c\${d}"` {
		t.Errorf("fluxString: %s", got)
	}
}

func TestHuman(t *testing.T) {
	cases := []struct {
		v    float64
		want string
	}{{0, "0"}, {3_000_000, "3,000,000"}, {-1234.6, "-1,235"}, {999.94, "999.9"}, {100, "100.0"}, {2.345, "2.35"}, {0.030249, "0.03025"}, {1e-7, "1e-07"}}
	for _, c := range cases {
		if got := human(c.v); got != c.want {
			t.Errorf("human(%v) = %q, want %q", c.v, got, c.want)
		}
	}
}
