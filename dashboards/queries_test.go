package dashboards_test

import (
	"context"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	influxdb2 "github.com/influxdata/influxdb-client-go/v2"
	"github.com/influxdata/influxdb-client-go/v2/api"

	"github.com/parkcarbon/parkcarbon/dashboards/internal/board"
	"github.com/parkcarbon/parkcarbon/internal/testenv"
)

// result is one query's answer: column types and rows.
type result struct {
	cols   map[string]string // name → Flux data type (double, long, string, dateTime:RFC3339)
	rows   []map[string]any
	tables int
}

func runFlux(ctx context.Context, q api.QueryAPI, flux string) (*result, error) {
	res, err := q.Query(ctx, flux)
	if err != nil {
		return nil, err
	}
	defer res.Close()
	r := &result{cols: map[string]string{}}
	for res.Next() {
		if res.TableChanged() {
			r.tables++
			for _, c := range res.TableMetadata().Columns() {
				r.cols[c.Name()] = c.DataType()
			}
		}
		r.rows = append(r.rows, res.Record().Values())
	}
	if err := res.Err(); err != nil {
		return nil, err
	}
	return r, nil
}

// on18 rewrites schema.tagValues, which the Flux of InfluxDB 1.8 (0.65)
// lacks, to v1.tagValues: the same function under its older name, still
// in InfluxDB 2.x. Production (2.7) runs the query as written.
func on18(q string) string {
	q = strings.ReplaceAll(q, `import "influxdata/influxdb/schema"`, `import "influxdata/influxdb/v1"`)
	return strings.ReplaceAll(q, "schema.tagValues(", "v1.tagValues(")
}

func numeric(typ string) bool { return typ == "double" || typ == "long" || typ == "unsignedLong" }

// columns the Flux CSV carries besides the data.
func meta(col string) bool { return col == "result" || col == "table" }

var labelRef = regexp.MustCompile(`\$\{__field\.labels\.(\w+)\}`)

// checkShape asserts what the panel type needs from a result.
func checkShape(p panel, r *result) error {
	if len(r.rows) == 0 {
		return fmt.Errorf("no rows")
	}
	var display string
	if p.FieldConfig != nil {
		display = p.FieldConfig.Defaults.DisplayName
	}
	if m := labelRef.FindStringSubmatch(display); m != nil {
		if _, ok := r.cols[m[1]]; !ok {
			return fmt.Errorf("series are named by label %s, which is no column (%v)", m[1], r.cols)
		}
	}
	hasNumber := func(except ...string) bool {
		for c, typ := range r.cols {
			if numeric(typ) && !slices.Contains(except, c) {
				return true
			}
		}
		return false
	}
	switch p.Type {
	case "stat":
		fields, _ := p.Options["reduceOptions"].(map[string]any)["fields"].(string)
		if fields == "" {
			if !hasNumber() {
				return fmt.Errorf("no number to show (%v)", r.cols)
			}
			return nil
		}
		re, err := regexp.Compile(strings.Trim(fields, "/"))
		if err != nil {
			return fmt.Errorf("reduceOptions.fields %q: %w", fields, err)
		}
		for c := range r.cols {
			if re.MatchString(c) {
				return nil
			}
		}
		return fmt.Errorf("no column matches %s (%v)", fields, r.cols)
	case "piechart", "bargauge":
		if !numeric(r.cols["_value"]) {
			return fmt.Errorf("no numeric _value (%v)", r.cols)
		}
	case "timeseries":
		if r.cols["_time"] != "dateTime:RFC3339" {
			return fmt.Errorf("no _time column (%v)", r.cols)
		}
		if !hasNumber() {
			return fmt.Errorf("no numeric column (%v)", r.cols)
		}
	case "table":
		// Every column is labelled and has its unit: nothing leaks in
		// (_start, _e) unnoticed, and every column the overrides style exists.
		named := map[string]bool{}
		for _, o := range p.FieldConfig.Overrides {
			if o.Matcher.ID != "byName" {
				continue
			}
			named[o.Matcher.Options] = true
			if _, ok := r.cols[o.Matcher.Options]; !ok {
				return fmt.Errorf("column %s is styled but not in the result (%v)", o.Matcher.Options, r.cols)
			}
		}
		for c := range r.cols {
			if !meta(c) && !named[c] {
				return fmt.Errorf("column %s is in the result but has no display name and unit", c)
			}
		}
	default:
		return fmt.Errorf("panel type %s has no shape check", p.Type)
	}
	return nil
}

// TestQueries runs every InfluxDB query of every dashboard (panels,
// variables, annotations) against a real InfluxDB holding a simulated park,
// with the template variables and time ranges substituted as Grafana does,
// and checks each result's shape and the numbers of the key panels.
func TestQueries(t *testing.T) {
	inf := testenv.Influx(t)
	ctx := t.Context()
	loc, err := time.LoadLocation("Asia/Shanghai") // the browser's zone: "today" is the park's day
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	park := newPark(now)
	if err := write(ctx, inf.URL, inf.Bucket, park.lineProtocol()); err != nil {
		t.Fatal(err)
	}
	client := influxdb2.NewClient(inf.URL, inf.Token)
	defer client.Close()
	qapi := client.QueryAPI("")

	// The constant as `go run ./dashboards/gen` writes it for this park.
	reg, err := board.EncodeRegistry(park.registry())
	if err != nil {
		t.Fatal(err)
	}

	results := map[string]*result{} // uid/title
	ranges := map[string]timeRange{}
	queried := 0
	for _, d := range loadDashboards(t) {
		vars := map[string]string{}
		for _, v := range d.Templating.List {
			switch {
			case v.Name == "registry":
				vars[v.Name] = reg
			case v.Type == "constant":
				vars[v.Name] = v.Query
			}
		}
		dashRange, err := panelRange(d.Time.From, d.Time.To, "", now, loc)
		if err != nil {
			t.Fatalf("%s: %v", d.file, err)
		}
		run := func(where, q string, r timeRange, window time.Duration) *result {
			flux := fluxMacros(interpolate(q, vars), r, window, inf.Bucket, "park")
			if m := templateVar.FindString(flux); m != "" {
				t.Errorf("%s: %s: %s left after substitution", d.file, where, m)
				return nil
			}
			queried++
			res, err := runFlux(ctx, qapi, on18(flux))
			if err != nil {
				t.Errorf("%s: %s: %v\nquery:\n%s", d.file, where, err, flux)
				return nil
			}
			return res
		}
		for _, v := range d.Templating.List {
			if v.Type != "query" {
				continue
			}
			res := run("variable "+v.Name, v.Query, dashRange, time.Minute)
			if res == nil {
				continue
			}
			var values []string
			for _, row := range res.rows {
				if s, ok := row["_value"].(string); ok {
					values = append(values, s)
				}
			}
			if v.Name == "enterprise" {
				var want []string
				for _, e := range park.enterprises {
					want = append(want, e.id)
				}
				slices.Sort(want)
				slices.Sort(values)
				if !slices.Equal(values, want) {
					t.Errorf("%s: variable enterprise = %v, want %v", d.file, values, want)
				}
				vars[v.Name] = firingEnterprise
			} else if len(values) == 0 {
				t.Errorf("%s: variable %s has no values", d.file, v.Name)
			} else {
				vars[v.Name] = values[0]
			}
		}
		for _, a := range d.Annotations.List {
			if a.Target == nil || a.Datasource == nil || a.Datasource.UID != board.InfluxUID {
				continue
			}
			res := run("annotation "+a.Name, a.Target.Query, dashRange, time.Minute)
			if res == nil {
				continue
			}
			for _, col := range []string{"_time", "text", "tags", "title"} {
				if _, ok := res.cols[col]; !ok || len(res.rows) == 0 {
					t.Errorf("%s: annotation %s: want rows with %s, got %d rows of %v", d.file, a.Name, col, len(res.rows), res.cols)
				}
			}
			results[d.UID+"/annotation "+a.Name] = res
		}
		for _, p := range d.allPanels() {
			if p.Type == "row" || p.Datasource == nil || p.Datasource.UID != board.InfluxUID {
				continue
			}
			where := fmt.Sprintf("panel %d %q", p.ID, p.Title)
			r, err := panelRange(d.Time.From, d.Time.To, p.TimeFrom, now, loc)
			if err != nil {
				t.Fatalf("%s: %s: %v", d.file, where, err)
			}
			resolution := p.MaxPoints
			if resolution == 0 {
				resolution = p.GridPos.W * 1920 / 24 // the panel's width in pixels on a 1920 px screen
			}
			window, err := windowPeriod(r, resolution, p.Interval)
			if err != nil {
				t.Fatalf("%s: %s: %v", d.file, where, err)
			}
			for _, tg := range p.Targets {
				res := run(where+" "+tg.RefID, tg.Query, r, window)
				if res == nil {
					continue
				}
				if err := checkShape(p, res); err != nil {
					t.Errorf("%s: %s: %v", d.file, where, err)
				}
				key := d.UID + "/" + p.Title
				if _, dup := results[key]; dup {
					t.Fatalf("%s: two panels titled %q: the checks below cannot tell them apart", d.file, p.Title)
				}
				results[key] = res
				ranges[key] = r
			}
		}
	}
	if queried < 40 {
		t.Errorf("ran %d queries; the dashboards have more: is the loop skipping panels?", queried)
	}
	checkNumbers(t, park, results, ranges)
}

// checkNumbers compares key panels with what the simulated park adds up to.
func checkNumbers(t *testing.T, park *simPark, results map[string]*result, ranges map[string]timeRange) {
	t.Helper()
	get := func(key string) *result {
		r := results[key]
		if r == nil {
			t.Errorf("no result for %s", key)
		}
		return r
	}
	near := func(what string, got any, want float64) {
		t.Helper()
		g, ok := got.(float64)
		if !ok || math.Abs(g-want) > 1e-6*math.Max(1, math.Abs(want)) {
			t.Errorf("%s = %v, want %v", what, got, want)
		}
	}
	energy := func(e string) func(hourPoint) bool { return func(h hourPoint) bool { return h.energy == e } }
	all := func(hourPoint) bool { return true }

	for _, c := range []struct {
		title string
		keep  func(hourPoint) bool
		pick  int // 0 amount, 1 co2 t, 2 tce
	}{
		{"Electricity today", energy("electricity"), 0},
		{"Heat today", energy("heat"), 0},
		{"CO₂ this month", all, 1},
		{"Energy this month", all, 2},
		{"Water this month", energy("water"), 0},
	} {
		key := "parkcarbon-park-overview/" + c.title
		r := get(key)
		if r == nil {
			continue
		}
		rg := ranges[key]
		a, co2, coal := park.sumHourly(rg.from, rg.to, c.keep)
		want := []float64{a, co2 / 1000, coal / 1000}[c.pick]
		if len(r.rows) != 1 {
			t.Errorf("%s: %d rows, want 1", key, len(r.rows))
			continue
		}
		near(key, r.rows[0]["_value"], want)
	}

	// Ranking: intensity, the period's limit and the class of every enterprise.
	key := "parkcarbon-enterprise-ranking/Ranking by share of the limit"
	if r := get(key); r != nil {
		rg := ranges[key]
		days := rg.to.Sub(rg.from).Hours() / 24
		byID := map[string]map[string]any{}
		for _, row := range r.rows {
			byID[row["enterprise"].(string)] = row
		}
		classes := map[string]bool{}
		for _, e := range park.enterprises {
			row := byID[e.id]
			if row == nil {
				t.Errorf("%s: %s missing", key, e.id)
				continue
			}
			kwh, _, _ := park.sumHourly(rg.from, rg.to, func(h hourPoint) bool { return h.enterprise == e.id && h.energy == "electricity" })
			near(key+" "+e.id+" kwh", row["kwh"], kwh)
			want := expectedClass(park, e, kwh, days)
			if row["class"] != want {
				t.Errorf("%s: %s class %v, want %s (row %v)", key, e.id, row["class"], want, row)
			}
			classes[want] = true
			if want >= "A" && want <= "D" {
				near(key+" "+e.id+" intensity", row["intensity"], kwh/e.landMu)
				near(key+" "+e.id+" limit", row["limit"], park.limits[e.tier]*days)
			} else if v, _ := row["pct"].(float64); !math.IsNaN(v) {
				t.Errorf("%s: %s: share of limit %v, want NaN (N/A)", key, e.id, row["pct"])
			}
		}
		for _, c := range []string{"T", "?"} {
			if !classes[c] {
				t.Errorf("%s: the park has no enterprise of class %s: the test lost its teeth", key, c)
			}
		}
	}

	// Enterprise detail of the firing enterprise: its meters, its class, its alert annotation.
	if r := get("parkcarbon-enterprise-detail/Meters"); r != nil {
		var got, want []string
		for _, row := range r.rows {
			got = append(got, row["meter"].(string))
		}
		for _, e := range park.enterprises {
			if e.id == firingEnterprise {
				for _, m := range e.meters {
					want = append(want, m.id)
				}
			}
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("enterprise detail: meters %v, want %v", got, want)
		}
	}
	if r := get("parkcarbon-enterprise-detail/annotation Alerts"); r != nil {
		found := false
		for _, row := range r.rows {
			text, _ := row["text"].(string)
			found = found || strings.Contains(text, "firing")
		}
		if !found {
			t.Errorf("enterprise detail: no firing alert among the annotations %v", r.rows)
		}
	}

	// Meters and gateways: both gateways with their meter counts; the stale meter is old.
	if r := get("parkcarbon-meters-gateways/Gateways"); r != nil {
		want := map[string]int64{}
		for _, e := range park.enterprises {
			want[e.gateway] += int64(len(e.meters))
		}
		got := map[string]int64{}
		for _, row := range r.rows {
			got[row["gateway"].(string)], _ = row["meters"].(int64)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("gateways: meters per gateway %v, want %v", got, want)
		}
	}
	if r := get("parkcarbon-meters-gateways/Meters"); r != nil {
		for _, row := range r.rows {
			age, _ := row["age_s"].(float64)
			stale := row["meter"] == staleMeter
			if stale != (age > 30*60) {
				t.Errorf("meters: %v is %v s old", row["meter"], age)
			}
		}
	}

	// Alerts: the firing enterprise's intensity alert and its silent gas
	// meter fire now; dyeworks and fn-water resolved, newcomer is pending.
	if r := get("parkcarbon-alerts/Alerts firing"); r != nil && len(r.rows) == 1 {
		near("alerts: alerts firing", toFloat(r.rows[0]["_value"]), 2)
	} else if r != nil {
		t.Errorf("alerts: alerts firing: %v, want one row", r.rows)
	}
	if r := get("parkcarbon-alerts/Firing now"); r != nil {
		var got []string
		for _, row := range r.rows {
			subject, _ := row["subject"].(string) // null (no subject tag) reads as nil
			got = append(got, fmt.Sprintf("%v %v %s", row["enterprise"], row["rule"], subject))
		}
		slices.Sort(got)
		want := []string{firingEnterprise + " daily_kwh_per_mu ", firingEnterprise + " meter_silent fn-gas"}
		if !slices.Equal(got, want) {
			t.Errorf("alerts: firing now %q, want %q", got, want)
		}
	}
}

func toFloat(v any) float64 {
	switch x := v.(type) {
	case float64:
		return x
	case int64:
		return float64(x)
	}
	return math.NaN()
}

// expectedClass is the ranking's class rule, applied in Go.
func expectedClass(p *simPark, e simEnterprise, kwh, days float64) string {
	limit := p.limits[e.tier] * days
	switch {
	case !e.registered:
		return "?"
	case !e.rated:
		return "T"
	case e.landMu <= 0 || limit <= 0:
		return "–"
	}
	pct := 100 * kwh / e.landMu / limit
	switch {
	case pct <= 60:
		return "A"
	case pct <= 80:
		return "B"
	case pct <= 100:
		return "C"
	}
	return "D"
}
