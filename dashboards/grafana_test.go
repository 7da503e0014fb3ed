package dashboards_test

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// This file does to a query what Grafana does before InfluxDB sees it, so
// that the tests run the queries as a browser would send them:
//   - the time range: the dashboard's, or the panel's relative time
//     override (timeFrom: "now/d" is "today so far"), in the dashboard's
//     time zone (rangeutil.describeTextRange and datemath in Grafana);
//   - v.windowPeriod: range ÷ max data points, rounded to a nice interval,
//     at least the panel's interval (rangeutil.calculateInterval);
//   - ${name} variables (templateSrv.replace, default format: the raw
//     value), then the Flux macros the way pkg/tsdb/influxdb/flux/macros.go
//     replaces them: every word.timeRangeStart, word.timeRangeStop,
//     word.windowPeriod, word.bucket, word.defaultBucket, word.organization,
//     whatever the word before the dot.

// timeRange is one query's range.
type timeRange struct{ from, to time.Time }

// panelRange is the range a panel queries: Grafana's timeFrom override
// replaces the dashboard range by "now-<timeFrom>" (or "now/d" as written)
// to now.
func panelRange(dashFrom, dashTo, timeFrom string, now time.Time, loc *time.Location) (timeRange, error) {
	from, to := dashFrom, dashTo
	if timeFrom != "" {
		from, to = timeFrom, "now"
		if !strings.HasPrefix(timeFrom, "now") {
			from = "now-" + timeFrom
		}
	}
	f, err := dateMath(from, now, loc, false)
	if err != nil {
		return timeRange{}, err
	}
	t, err := dateMath(to, now, loc, true)
	if err != nil {
		return timeRange{}, err
	}
	return timeRange{f, t}, nil
}

var mathStep = regexp.MustCompile(`^([-+/])(\d*)([smhdwMy])`)

// dateMath evaluates Grafana's relative time (now, now-7d, now/M,
// now-1d/d); a rounding rounds down, or up to the unit's end for the end of
// a range, in loc.
func dateMath(s string, now time.Time, loc *time.Location, roundUp bool) (time.Time, error) {
	if !strings.HasPrefix(s, "now") {
		return time.Time{}, fmt.Errorf("time %q: only relative times are supported", s)
	}
	t := now.In(loc)
	rest := s[len("now"):]
	for rest != "" {
		m := mathStep.FindStringSubmatch(rest)
		if m == nil {
			return time.Time{}, fmt.Errorf("time %q: cannot parse %q", s, rest)
		}
		rest = rest[len(m[0]):]
		n := 1
		if m[2] != "" {
			n, _ = strconv.Atoi(m[2])
		}
		unit := m[3]
		switch m[1] {
		case "/":
			t = roundTo(t, unit, roundUp)
		case "-":
			t = addUnits(t, unit, -n)
		case "+":
			t = addUnits(t, unit, n)
		}
	}
	return t, nil
}

func addUnits(t time.Time, unit string, n int) time.Time {
	switch unit {
	case "s":
		return t.Add(time.Duration(n) * time.Second)
	case "m":
		return t.Add(time.Duration(n) * time.Minute)
	case "h":
		return t.Add(time.Duration(n) * time.Hour)
	case "d":
		return t.AddDate(0, 0, n)
	case "w":
		return t.AddDate(0, 0, 7*n)
	case "M":
		return t.AddDate(0, n, 0)
	}
	return t.AddDate(n, 0, 0)
}

func roundTo(t time.Time, unit string, up bool) time.Time {
	y, mo, d := t.Date()
	var start time.Time
	switch unit {
	case "s":
		start = t.Truncate(time.Second)
	case "m":
		start = time.Date(y, mo, d, t.Hour(), t.Minute(), 0, 0, t.Location())
	case "h":
		start = time.Date(y, mo, d, t.Hour(), 0, 0, 0, t.Location())
	case "d":
		start = time.Date(y, mo, d, 0, 0, 0, 0, t.Location())
	case "M":
		start = time.Date(y, mo, 1, 0, 0, 0, 0, t.Location())
	case "y":
		start = time.Date(y, 1, 1, 0, 0, 0, 0, t.Location())
	default: // weeks depend on the browser's locale; no dashboard rounds to them
		start = t
	}
	if !up {
		return start
	}
	// Grafana's end of a unit is its last millisecond.
	return addUnits(start, unit, 1).Add(-time.Millisecond)
}

// windowPeriod is Grafana's interval for a range: range ÷ resolution
// rounded to a nice value, at least min ("1h", or "" for none).
func windowPeriod(r timeRange, resolution int, minInterval string) (time.Duration, error) {
	ms := roundInterval(float64(r.to.Sub(r.from).Milliseconds()) / float64(resolution))
	if minInterval != "" {
		d, err := time.ParseDuration(minInterval)
		if err != nil {
			return 0, fmt.Errorf("interval %q: %w", minInterval, err)
		}
		ms = max(ms, d.Milliseconds())
	}
	return time.Duration(ms) * time.Millisecond, nil
}

// roundInterval is Grafana's ladder (rangeutil.roundInterval), in ms.
func roundInterval(ms float64) int64 {
	ladder := []struct{ below, to float64 }{
		{10, 1}, {15, 10}, {35, 20}, {75, 50}, {150, 100}, {350, 200}, {750, 500}, {1500, 1000},
		{3500, 2000}, {7500, 5000}, {12500, 10000}, {17500, 15000}, {25000, 20000}, {45000, 30000},
		{90000, 60000}, {210000, 120000}, {450000, 300000}, {750000, 600000}, {1050000, 900000},
		{1500000, 1200000}, {2700000, 1800000}, {5400000, 3600000}, {9000000, 7200000},
		{16200000, 10800000}, {32400000, 21600000}, {86400000, 43200000}, {604800000, 86400000},
		{1814400000, 604800000}, {3628800000, 2592000000},
	}
	for _, step := range ladder {
		if ms < step.below {
			return int64(step.to)
		}
	}
	return 31536000000
}

var templateVar = regexp.MustCompile(`\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]`)

// interpolate replaces template variables by their values and leaves the
// unknown ones, as Grafana does.
func interpolate(q string, vars map[string]string) string {
	return templateVar.ReplaceAllStringFunc(q, func(m string) string {
		sub := templateVar.FindStringSubmatch(m)
		name := sub[1] + sub[2] + sub[3]
		if v, ok := vars[name]; ok {
			return v
		}
		return m
	})
}

var fluxMacro = regexp.MustCompile(`([a-zA-Z]+)\.([a-zA-Z]+)`)

// fluxMacros replaces the Flux macros as Grafana's backend does.
func fluxMacros(q string, r timeRange, window time.Duration, bucket, org string) string {
	for _, m := range fluxMacro.FindAllStringSubmatch(q, -1) {
		var v string
		switch m[2] {
		case "timeRangeStart":
			v = r.from.UTC().Format(time.RFC3339Nano)
		case "timeRangeStop":
			v = r.to.UTC().Format(time.RFC3339Nano)
		case "windowPeriod":
			v = window.String()
		case "bucket", "defaultBucket":
			v = strconv.Quote(bucket)
		case "organization":
			v = strconv.Quote(org)
		default:
			continue
		}
		q = strings.ReplaceAll(q, m[0], v)
	}
	return q
}

func TestGrafanaEmulation(t *testing.T) {
	sh, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 10, 15, 9, 30, 0, 0, sh)
	for _, c := range []struct {
		from, to, timeFrom string
		want               timeRange
	}{
		{"now/M", "now", "", timeRange{time.Date(2026, 10, 1, 0, 0, 0, 0, sh), now}},
		{"now-7d", "now", "", timeRange{time.Date(2026, 10, 8, 9, 30, 0, 0, sh), now}},
		{"now-7d", "now", "now/d", timeRange{time.Date(2026, 10, 15, 0, 0, 0, 0, sh), now}},
		{"now-7d", "now", "1h", timeRange{now.Add(-time.Hour), now}},
		{"now-1M/M", "now-1M/M", "", timeRange{time.Date(2026, 9, 1, 0, 0, 0, 0, sh),
			time.Date(2026, 10, 1, 0, 0, 0, 0, sh).Add(-time.Millisecond)}},
	} {
		got, err := panelRange(c.from, c.to, c.timeFrom, now, sh)
		if err != nil {
			t.Fatalf("%s..%s (%s): %v", c.from, c.to, c.timeFrom, err)
		}
		if !got.from.Equal(c.want.from) || !got.to.Equal(c.want.to) {
			t.Errorf("%s..%s (%s) = %v..%v, want %v..%v", c.from, c.to, c.timeFrom, got.from, got.to, c.want.from, c.want.to)
		}
	}
	if _, err := panelRange("2026-10-01", "now", "", now, sh); err == nil {
		t.Error("an absolute time was accepted")
	}

	week := timeRange{now.Add(-7 * 24 * time.Hour), now}
	for _, c := range []struct {
		res  int
		min  string
		want time.Duration
	}{
		{1000, "", 10 * time.Minute}, // 604.8 s → 10m
		{1000, "1h", time.Hour},
		{100, "1h", 2 * time.Hour}, // 6048 s → 2h
	} {
		got, err := windowPeriod(week, c.res, c.min)
		if err != nil || got != c.want {
			t.Errorf("windowPeriod(7d, %d, %q) = %v, %v; want %v", c.res, c.min, got, err, c.want)
		}
	}

	q := `x = "${registry}" y = "$enterprise" z = "[[enterprise]]" w = "${enterprise:raw}" u = "${unknown}"`
	if got, want := interpolate(q, map[string]string{"registry": ";a|1;", "enterprise": "e-1"}),
		`x = ";a|1;" y = "e-1" z = "e-1" w = "e-1" u = "${unknown}"`; got != want {
		t.Errorf("interpolate = %s, want %s", got, want)
	}
	r := timeRange{time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 10, 2, 0, 0, 0, 500, time.UTC)}
	got := fluxMacros(`from(bucket: v.defaultBucket) |> range(start: v.timeRangeStart, stop: v.timeRangeStop) |> aggregateWindow(every: v.windowPeriod) |> filter(fn: (r) => r.bucket == "")`,
		r, time.Hour, "energy/autogen", "park")
	want := `from(bucket: "energy/autogen") |> range(start: 2026-10-01T00:00:00Z, stop: 2026-10-02T00:00:00.0000005Z) |> aggregateWindow(every: 1h0m0s) |> filter(fn: (r) => "energy/autogen" == "")`
	if got != want {
		t.Errorf("fluxMacros =\n%s\nwant\n%s", got, want)
	}
}
