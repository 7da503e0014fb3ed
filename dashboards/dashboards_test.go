package dashboards_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/parkcarbon/parkcarbon/carbon"
	"github.com/parkcarbon/parkcarbon/collector/alert"
	"github.com/parkcarbon/parkcarbon/dashboards/internal/board"
)

// The dashboards as Grafana reads them: parsed from the files, not taken
// from the generator, so that what is checked is what is provisioned.

type dashboard struct {
	file        string
	UID         string `json:"uid"`
	Title       string `json:"title"`
	Timezone    string `json:"timezone"`
	Schema      int    `json:"schemaVersion"`
	Time        struct{ From, To string }
	Panels      []panel `json:"panels"`
	Templating  struct{ List []variable }
	Annotations struct{ List []annotation }
}

type ref struct{ Type, UID string }

type panel struct {
	ID          int      `json:"id"`
	Type        string   `json:"type"`
	Title       string   `json:"title"`
	Datasource  *ref     `json:"datasource"`
	Targets     []target `json:"targets"`
	TimeFrom    string   `json:"timeFrom"`
	Interval    string   `json:"interval"`
	MaxPoints   int      `json:"maxDataPoints"`
	GridPos     struct{ H, W, X, Y int }
	Panels      []panel `json:"panels"`
	FieldConfig *struct {
		Defaults struct {
			Unit        string `json:"unit"`
			DisplayName string `json:"displayName"`
		} `json:"defaults"`
		Overrides []struct {
			Matcher    struct{ ID, Options string }
			Properties []struct {
				ID    string `json:"id"`
				Value any    `json:"value"`
			}
		} `json:"overrides"`
	} `json:"fieldConfig"`
	Options map[string]any `json:"options"`
}

type target struct {
	RefID      string `json:"refId"`
	Datasource *ref   `json:"datasource"`
	Query      string `json:"query"`
	Expr       string `json:"expr"`
}

type variable struct {
	Name       string `json:"name"`
	Type       string `json:"type"`
	Query      string `json:"query"`
	Datasource *ref   `json:"datasource"`
}

type annotation struct {
	Name       string  `json:"name"`
	Datasource *ref    `json:"datasource"`
	BuiltIn    int     `json:"builtIn"`
	Target     *target `json:"target"`
}

// allPanels flattens rows (a collapsed row holds its panels).
func (d *dashboard) allPanels() []panel {
	var out []panel
	for _, p := range d.Panels {
		out = append(out, p)
		out = append(out, p.Panels...)
	}
	return out
}

func loadDashboards(t *testing.T) []*dashboard {
	t.Helper()
	files, err := filepath.Glob("*.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no dashboards (*.json) in dashboards/")
	}
	var out []*dashboard
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := json.NewDecoder(bytes.NewReader(data))
		d := &dashboard{file: f}
		if err := dec.Decode(d); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out = append(out, d)
	}
	return out
}

// datasources are the uids and types the provisioning defines.
func datasources(t *testing.T) map[string]string {
	t.Helper()
	files, err := filepath.Glob("provisioning/datasources/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			Datasources []struct{ UID, Type, URL string }
		}
		if err := yaml.Unmarshal(data, &doc); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, ds := range doc.Datasources {
			if _, dup := out[ds.UID]; dup || ds.UID == "" {
				t.Fatalf("%s: datasource uid %q empty or defined twice", f, ds.UID)
			}
			out[ds.UID] = ds.Type
		}
	}
	return out
}

// grafanaUnits are the unit ids the dashboards may use: Grafana's own
// (valueFormats) or its custom "suffix:" form. A typo ("kwh") would show
// raw numbers, so it fails here.
var grafanaUnits = map[string]bool{
	"kwatth": true, "m3": true, "masst": true, "masskg": true, "percent": true, "s": true, "ms": true,
	"cps": true, "short": true, "none": true, "bytes": true, "dateTimeFromNow": true, "dateTimeAsIso": true,
}

func validUnit(u string) bool {
	return grafanaUnits[u] || (strings.HasPrefix(u, "suffix:") && len(u) > len("suffix:"))
}

// queries lists every query text of a dashboard with where it is.
func (d *dashboard) queries() map[string]string {
	out := map[string]string{}
	for _, p := range d.allPanels() {
		for _, tg := range p.Targets {
			out[fmt.Sprintf("panel %d %q %s", p.ID, p.Title, tg.RefID)] = tg.Query + tg.Expr
		}
	}
	for _, v := range d.Templating.List {
		if v.Type == "query" {
			out["variable "+v.Name] = v.Query
		}
	}
	for _, a := range d.Annotations.List {
		if a.Target != nil {
			out["annotation "+a.Name] = a.Target.Query
		}
	}
	return out
}

// hardCodedID matches the demo's ids (ent-001, m-101, gw-01).
var hardCodedID = regexp.MustCompile(`\b(ent|m|gw)-\d`)

// grafanaMacro matches what Grafana's backend replaces in Flux, whatever
// the word before the dot: r.bucket would silently become a string.
var grafanaMacro = regexp.MustCompile(`([a-zA-Z]+)\.(timeRangeStart|timeRangeStop|windowPeriod|bucket|defaultBucket|organization)\b`)

// builtinVars are Grafana's own variables that may appear in queries.
var builtinVars = map[string]bool{"__rate_interval": true, "__interval": true, "__range": true}

func TestLint(t *testing.T) {
	dashes := loadDashboards(t)
	ds := datasources(t)
	for _, want := range []string{board.InfluxUID, board.PrometheusUID} {
		if ds[want] == "" {
			t.Errorf("provisioning defines no datasource %s", want)
		}
	}
	registryIDs := demoIDs(t)
	metricNames := registeredMetrics(t)
	uids := map[string]string{}
	for _, d := range dashes {
		if prev, dup := uids[d.UID]; dup || d.UID == "" {
			t.Errorf("%s: uid %q empty or also in %s", d.file, d.UID, prev)
		}
		uids[d.UID] = d.file
		if d.Schema != board.SchemaVersion {
			t.Errorf("%s: schemaVersion %d, want %d", d.file, d.Schema, board.SchemaVersion)
		}
		checkRef := func(where string, r *ref) {
			if r == nil {
				t.Errorf("%s: %s has no datasource", d.file, where)
				return
			}
			if typ, ok := ds[r.UID]; !ok || typ != r.Type {
				t.Errorf("%s: %s uses datasource %s (%s), not one the provisioning defines (%v)", d.file, where, r.UID, r.Type, ds)
			}
		}
		ids := map[int]string{}
		for _, p := range d.allPanels() {
			where := fmt.Sprintf("panel %d %q", p.ID, p.Title)
			if prev, dup := ids[p.ID]; dup || p.ID <= 0 {
				t.Errorf("%s: %s: id not positive or also used by %q", d.file, where, prev)
			}
			ids[p.ID] = p.Title
			if p.Type == "row" {
				continue
			}
			checkRef(where, p.Datasource)
			if len(p.Targets) == 0 {
				t.Errorf("%s: %s has no query", d.file, where)
			}
			for _, tg := range p.Targets {
				checkRef(where+" "+tg.RefID, tg.Datasource)
				if tg.Datasource != nil && p.Datasource != nil && *tg.Datasource != *p.Datasource {
					t.Errorf("%s: %s %s: target datasource differs from the panel's", d.file, where, tg.RefID)
				}
				if (tg.Query == "") == (tg.Expr == "") {
					t.Errorf("%s: %s %s: want exactly one of query (Flux) and expr (PromQL)", d.file, where, tg.RefID)
				}
				if tg.Expr != "" {
					for _, m := range promMetric.FindAllString(tg.Expr, -1) {
						name := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(m, "_bucket"), "_sum"), "_count")
						if !metricNames[name] && !metricNames[m] {
							t.Errorf("%s: %s: metric %s is registered by no binary", d.file, where, m)
						}
					}
				}
			}
			if p.FieldConfig == nil || !validUnit(p.FieldConfig.Defaults.Unit) {
				t.Errorf("%s: %s: no unit, or not a Grafana unit", d.file, where)
			}
			if p.FieldConfig != nil {
				for _, o := range p.FieldConfig.Overrides {
					for _, pr := range o.Properties {
						if u, _ := pr.Value.(string); pr.ID == "unit" && !validUnit(u) {
							t.Errorf("%s: %s: column %s: unit %v is not a Grafana unit", d.file, where, o.Matcher.Options, pr.Value)
						}
					}
				}
			}
		}
		vars := map[string]bool{}
		for _, v := range d.Templating.List {
			vars[v.Name] = true
			if v.Type == "query" {
				checkRef("variable "+v.Name, v.Datasource)
			}
		}
		for _, a := range d.Annotations.List {
			if a.BuiltIn == 0 {
				checkRef("annotation "+a.Name, a.Datasource)
			}
		}
		for where, q := range d.queries() {
			if m := hardCodedID.FindString(q); m != "" {
				t.Errorf("%s: %s: hard-coded id %q", d.file, where, m)
			}
			for _, id := range registryIDs {
				if strings.Contains(q, id) {
					t.Errorf("%s: %s: hard-coded id %q", d.file, where, id)
				}
			}
			for _, m := range grafanaMacro.FindAllStringSubmatch(q, -1) {
				if m[1] != "v" {
					t.Errorf("%s: %s: Grafana replaces %q as a macro", d.file, where, m[0])
				}
			}
			for _, m := range templateVar.FindAllStringSubmatch(q, -1) {
				name := m[1] + m[2] + m[3]
				if !vars[name] && !builtinVars[name] {
					t.Errorf("%s: %s: variable %s is not defined", d.file, where, name)
				}
			}
		}
	}
}

var promMetric = regexp.MustCompile(`parkcarbon_[a-z0-9_]+`)

// registeredMetrics are the parkcarbon_ metric names the binaries register:
// every "parkcarbon_…" string literal in the non-test Go source. README's
// table is prose and has lagged the code (parkcarbon_edge_pending_readings
// is parkcarbon_edge_buffer_records); the code is what Prometheus scrapes.
func registeredMetrics(t *testing.T) map[string]bool {
	t.Helper()
	lit := regexp.MustCompile(`"(parkcarbon_[a-z0-9_]+)"`)
	out := map[string]bool{}
	for _, dir := range []string{"../collector", "../cmd", "../internal"} {
		err := filepath.WalkDir(dir, func(path string, e fs.DirEntry, err error) error {
			if err != nil || e.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			for _, m := range lit.FindAllSubmatch(data, -1) {
				out[string(m[1])] = true
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, must := range []string{"parkcarbon_edge_buffer_records", "parkcarbon_collector_messages_total"} {
		if !out[must] {
			t.Fatalf("found no registration of %s in the source: the metric scan is broken (found %v)", must, slices.Sorted(maps.Keys(out)))
		}
	}
	return out
}

// demoIDs are the ids of configs/ that a query must not name.
func demoIDs(t *testing.T) []string {
	t.Helper()
	reg := demoRegistry(t)
	var ids []string
	for _, e := range reg.Enterprises {
		ids = append(ids, e.ID)
		ids = append(ids, e.Gateways...)
	}
	return ids
}

func demoRegistry(t *testing.T) *carbon.Registry {
	t.Helper()
	data, err := os.ReadFile("../configs/enterprises.yaml")
	if err != nil {
		t.Fatal(err)
	}
	reg, err := carbon.ParseRegistry(data)
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

// TestGenerated checks that the JSON files are what internal/board makes
// of configs/enterprises.yaml and configs/alerts.yaml, and that there are
// no others.
func TestGenerated(t *testing.T) {
	acfg, _, err := alert.Load("../configs/alerts.yaml")
	if err != nil {
		t.Fatal(err)
	}
	all, err := board.All(board.Options{Registry: board.FromRegistry(demoRegistry(t), board.DailyLimits(acfg))})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for _, d := range all {
		want[d.File] = true
		b, err := board.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(d.File)
		if errors.Is(err, fs.ErrNotExist) || (err == nil && !bytes.Equal(got, b)) {
			t.Errorf("%s is not what internal/board generates: run go generate ./dashboards", d.File)
		} else if err != nil {
			t.Fatal(err)
		}
	}
	files, _ := filepath.Glob("*.json")
	for _, f := range files {
		if !want[f] {
			t.Errorf("%s is not generated by internal/board: add it there or remove it", f)
		}
	}
}
