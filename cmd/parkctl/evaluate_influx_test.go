package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parkcarbon/parkcarbon/carbon"
	"github.com/parkcarbon/parkcarbon/internal/servers"
	"github.com/parkcarbon/parkcarbon/internal/testenv"
)

// evalWriteLines posts line protocol (seconds) to influxd in batches. A
// batch that times out on a busy machine is sent again: rewriting the same
// points is harmless.
func evalWriteLines(tb testing.TB, inf *servers.Influx, lines []string) {
	tb.Helper()
	const batch = 5000
	for len(lines) > 0 {
		n := min(batch, len(lines))
		body := strings.Join(lines[:n], "\n")
		lines = lines[n:]
		for attempt := 1; ; attempt++ {
			status, msg := evalPost(tb, inf, body)
			if status == http.StatusNoContent {
				break
			}
			if status < 500 || attempt == 5 {
				tb.Fatalf("write: %d: %s", status, msg)
			}
			time.Sleep(time.Duration(attempt) * time.Second)
		}
	}
}

func evalPost(tb testing.TB, inf *servers.Influx, body string) (int, string) {
	tb.Helper()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost,
		inf.URL+"/api/v2/write?bucket="+inf.Bucket+"&precision=s", strings.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Authorization", "Token "+inf.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(msg)
}

// point is one consumption point as the collector writes it.
func evalPoint(measurement, tags, energy string, amount float64, at string) string {
	factor := map[string]float64{carbon.Electricity: 0.5306, carbon.Gas: 2.1622, carbon.Heat: 110}[energy]
	ts, err := time.Parse(time.RFC3339, at)
	if err != nil {
		panic(err)
	}
	return fmt.Sprintf("%s,%s,energy=%s,scope=%d amount=%v,co2_kg=%v,coal_kgce=%v %d", measurement, tags, energy,
		carbon.DefaultScope(energy), amount, amount*factor, amount*carbon.CoalCoefficient(energy), ts.Unix())
}

// runJSON runs the command in-process and decodes its JSON report.
func runEvaluateJSON(t *testing.T, args ...string) (*carbon.Evaluation, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	if err := evaluateCommand(t.Context(), append(args, "--format", "json"), &out, &errOut); err != nil {
		t.Fatalf("evaluate: %v\nstderr: %s", err, errOut.String())
	}
	var ev carbon.Evaluation
	if err := json.Unmarshal(out.Bytes(), &ev); err != nil {
		t.Fatalf("decode report: %v\n%s", err, out.String())
	}
	return &ev, errOut.String()
}

// End to end against a real influxd: October 2026 in Shanghai is
// [2026-09-30T16:00Z, 2026-10-31T16:00Z); hourly points just outside it
// must not count, those on its first and last hour must.
func TestEvaluateAgainstInfluxDB(t *testing.T) {
	t.Parallel()
	inf := testenv.Influx(t)
	h := func(tags, energy string, amount float64, at string) string {
		return evalPoint("consumption_hourly", "enterprise="+tags, energy, amount, at)
	}
	evalWriteLines(t, inf, []string{
		h("ent-001", carbon.Electricity, 9999, "2026-09-30T15:00:00Z"), // Sep 30 23:00 local: September
		h("ent-001", carbon.Electricity, 1000, "2026-09-30T16:00:00Z"), // Oct 1 00:00 local: first hour
		h("ent-001", carbon.Electricity, 2000, "2026-10-15T04:00:00Z"),
		h("ent-001", carbon.Electricity, 500, "2026-10-31T15:00:00Z"),  // Oct 31 23:00 local: last hour
		h("ent-001", carbon.Electricity, 8888, "2026-10-31T16:00:00Z"), // Nov 1 00:00 local: November
		h("ent-001", carbon.Gas, 100, "2026-10-10T00:00:00Z"),
		h("ent-002", carbon.Electricity, 800, "2026-10-02T01:00:00Z"),
		h("ent-002", carbon.Heat, 10, "2026-10-02T01:00:00Z"),
		h("ent-002", carbon.Water, 50, "2026-10-03T01:00:00Z"),
		h("ent-003", carbon.Electricity, 1200, "2026-10-20T08:00:00Z"),
		h("ent-005", carbon.Gas, 5000, "2026-10-20T08:00:00Z"),
		h("ent-999", carbon.Electricity, 10, "2026-10-20T08:00:00Z"),
	})
	args := []string{"--period", "2026-10", "--influx-url", inf.URL, "--bucket", inf.Bucket, "--token", inf.Token,
		"--enterprises", "../../configs/enterprises.yaml", "--config", "../../configs/evaluation.yaml"}
	ev, stderr := runEvaluateJSON(t, args...)
	if !strings.Contains(stderr, "left out: ent-999") {
		t.Errorf("stderr should name ent-999: %q", stderr)
	}

	want := map[string]carbon.Totals{}
	for _, m := range []struct {
		ent, energy string
		amount      float64
	}{
		{"ent-001", carbon.Electricity, 3500}, {"ent-001", carbon.Gas, 100},
		{"ent-002", carbon.Electricity, 800}, {"ent-002", carbon.Heat, 10}, {"ent-002", carbon.Water, 50},
		{"ent-003", carbon.Electricity, 1200}, {"ent-005", carbon.Gas, 5000},
	} {
		tot := want[m.ent]
		factor := map[string]float64{carbon.Electricity: 0.5306, carbon.Gas: 2.1622, carbon.Heat: 110}[m.energy]
		if err := tot.Add(m.energy, m.amount, m.amount*factor, m.amount*carbon.CoalCoefficient(m.energy)); err != nil {
			t.Fatal(err)
		}
		want[m.ent] = tot
	}
	got := map[string]carbon.Row{}
	for _, r := range ev.Rows {
		got[r.ID] = r
	}
	for _, id := range []string{"ent-001", "ent-002", "ent-003", "ent-004", "ent-005"} {
		r, ok := got[id]
		w, metered := want[id]
		if !ok || r.Metered != metered || !evalTotalsNear(r.Totals, w) {
			t.Errorf("%s: metered %v totals %+v, want %v %+v", id, r.Metered, r.Totals, metered, w)
		}
	}

	// The scores follow from those totals; the scoring itself is tested in carbon.
	in, _ := goldenInput(t, "json")
	expect, err := carbon.Evaluate(in.scheme, in.registry, want, in.period)
	if err != nil {
		t.Fatal(err)
	}
	var gotRanks, wantRanks []string
	for i := range ev.Rows {
		gotRanks = append(gotRanks, fmt.Sprintf("%s %s %d", ev.Rows[i].ID, ev.Rows[i].Class, ev.Rows[i].Rank))
		wantRanks = append(wantRanks, fmt.Sprintf("%s %s %d", expect.Rows[i].ID, expect.Rows[i].Class, expect.Rows[i].Rank))
	}
	if strings.Join(gotRanks, ", ") != strings.Join(wantRanks, ", ") {
		t.Errorf("ranking %v, want %v", gotRanks, wantRanks)
	}

	// The same command prints the other formats from the same data.
	for _, format := range []string{"table", "md", "csv"} {
		var out, errOut bytes.Buffer
		if err := evaluateCommand(t.Context(), append(append([]string{}, args...), "--format", format), &out, &errOut); err != nil {
			t.Fatalf("%s: %v", format, err)
		}
		if !strings.Contains(out.String(), "ent-003") || !strings.Contains(out.String(), "tax_per_tce") {
			t.Errorf("%s output lacks the ranking:\n%s", format, out.String())
		}
	}

	// A quarter and a year are read the same way: the year 2026 holds both
	// out-of-October points too.
	ev, _ = runEvaluateJSON(t, append(append([]string{}, args...), "--period", "2026")...)
	if r := evalRow(ev, "ent-001"); r.Totals.ElectricityKWh != 3500+9999+8888 {
		t.Errorf("2026: ent-001 %v kWh, want %v", r.Totals.ElectricityKWh, 3500+9999+8888)
	}
	ev, _ = runEvaluateJSON(t, append(append([]string{}, args...), "--period", "2026-Q3")...)
	if r := evalRow(ev, "ent-001"); r.Totals.ElectricityKWh != 9999 {
		t.Errorf("2026-Q3: ent-001 %v kWh, want 9999", r.Totals.ElectricityKWh)
	}
	// In UTC the boundaries move by 8 hours: the points at 15:00Z and
	// 16:00Z on Sep 30 are September's, the one at 16:00Z on Oct 31 October's.
	ev, _ = runEvaluateJSON(t, append(append([]string{}, args...), "--tz", "UTC")...)
	if r := evalRow(ev, "ent-001"); r.Totals.ElectricityKWh != 2000+500+8888 {
		t.Errorf("UTC: ent-001 %v kWh, want %v", r.Totals.ElectricityKWh, 2000+500+8888)
	}
}

// --source consumption reads the raw intervals, each booked to the period
// its end falls in, with an end on the boundary belonging to the period
// before.
func TestEvaluateFromRawConsumption(t *testing.T) {
	t.Parallel()
	inf := testenv.Influx(t)
	c := func(meter string, amount float64, at string) string {
		return evalPoint("consumption", "enterprise=ent-001,meter="+meter, carbon.Electricity, amount, at)
	}
	evalWriteLines(t, inf, []string{
		c("m-101", 7, "2026-09-30T16:00:00Z"),  // ends as October starts: September's
		c("m-101", 3, "2026-09-30T16:00:10Z"),  // October
		c("m-102", 4, "2026-10-12T03:00:00Z"),  // October, another meter
		c("m-101", 5, "2026-10-31T16:00:00Z"),  // ends as October ends: October's
		c("m-101", 11, "2026-10-31T16:00:10Z"), // November
		evalPoint("consumption_hourly", "enterprise=ent-001", carbon.Electricity, 1e6, "2026-10-12T03:00:00Z"), // not read
	})
	ev, _ := runEvaluateJSON(t, "--period", "2026-10", "--influx-url", inf.URL, "--bucket", inf.Bucket,
		"--enterprises", "../../configs/enterprises.yaml", "--source", "consumption")
	r := evalRow(ev, "ent-001")
	if !r.Metered || r.Totals.ElectricityKWh != 3+4+5 || !evalNear(r.Totals.CO2kg, 12*0.5306) || !evalNear(r.Totals.CoalKgce, 12*0.1229) {
		t.Fatalf("ent-001 totals %+v, want 12 kWh", r.Totals)
	}
	if evalRow(ev, "ent-002").Metered {
		t.Error("ent-002 has no data")
	}
}

func evalRow(ev *carbon.Evaluation, id string) carbon.Row {
	for _, r := range ev.Rows {
		if r.ID == id {
			return r
		}
	}
	return carbon.Row{}
}

func evalNear(a, b float64) bool { d := a - b; return d < 1e-9*max(1, b) && -d < 1e-9*max(1, b) }

func evalTotalsNear(a, b carbon.Totals) bool {
	return evalNear(a.ElectricityKWh, b.ElectricityKWh) && evalNear(a.GasM3, b.GasM3) && evalNear(a.WaterM3, b.WaterM3) &&
		evalNear(a.HeatGJ, b.HeatGJ) && evalNear(a.CoalKgce, b.CoalKgce) && evalNear(a.CO2kg, b.CO2kg)
}

// BenchmarkEvaluateInflux500 is the whole command over a year of hourly
// rollups of 500 enterprises (electricity: 4.38 million points) in a real
// influxd: the Flux read, the evaluation and the report. Setup (writing the
// points) is not timed and takes a while; run it on its own:
//
//	go test ./cmd/parkctl -run '^$' -bench EvaluateInflux500 -benchtime 3x
func BenchmarkEvaluateInflux500(b *testing.B) {
	const enterprises = 500
	inf := testenv.Influx(b)
	dir := b.TempDir()
	var reg strings.Builder
	reg.WriteString("enterprises:\n")
	for i := range enterprises {
		fmt.Fprintf(&reg, "  - {id: ent-%03d, name: Enterprise %d, land_area_mu: %d, scale: above, output_value_cny: %d, "+
			"sales_revenue_cny: %d, tax_paid_cny: %d, value_added_cny: %d, employees: %d}\n",
			i, i, 5+i%40, 1e7*(1+i%13), 1e7*(1+i%11), 1e5*(1+i%17), 2e6*(1+i%7), 20+i%90)
	}
	regPath := filepath.Join(dir, "enterprises.yaml")
	if err := os.WriteFile(regPath, []byte(reg.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	// 2025 in Shanghai: 8760 hours from 2024-12-31T16:00Z.
	start := time.Date(2024, 12, 31, 16, 0, 0, 0, time.UTC)
	lines := make([]string, 0, 50000)
	flush := func() {
		evalWriteLines(b, inf, lines)
		lines = lines[:0]
	}
	for i := range enterprises {
		for hr := range 8760 {
			kwh := float64(50 + (i*7+hr)%100)
			lines = append(lines, fmt.Sprintf("consumption_hourly,enterprise=ent-%03d,energy=electricity,scope=2 amount=%v,co2_kg=%v,coal_kgce=%v %d",
				i, kwh, kwh*0.5306, kwh*0.1229, start.Add(time.Duration(hr)*time.Hour).Unix()))
			if len(lines) == cap(lines) {
				flush()
			}
		}
	}
	flush()
	args := []string{"--period", "2025", "--influx-url", inf.URL, "--bucket", inf.Bucket, "--enterprises", regPath,
		"--format", "csv", "--timeout", "10m"}
	b.ResetTimer()
	for b.Loop() {
		var out bytes.Buffer
		if err := evaluateCommand(context.Background(), args, &out, io.Discard); err != nil {
			b.Fatal(err)
		}
		// 500 enterprises × 3 indicators + the header.
		if n := strings.Count(out.String(), "\n"); n != 1+3*enterprises {
			b.Fatalf("%d lines of CSV", n)
		}
	}
}
