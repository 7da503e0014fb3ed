// Package board builds the Grafana dashboards of dashboards/ as Go values:
// the Flux and PromQL stay readable in review, and `go generate ./dashboards`
// writes the JSON that Grafana provisions. The JSON files are the product;
// dashboards_test.go checks that they are what this package generates.
package board

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// Datasource uids, as provisioned in dashboards/provisioning/datasources.
const (
	InfluxUID     = "parkcarbon-influx"
	PrometheusUID = "parkcarbon-prometheus"
)

// SchemaVersion is the Grafana dashboard schema the JSON follows (Grafana 10.4–11).
const SchemaVersion = 39

// Ref names a datasource.
type Ref struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

func influx() *Ref     { return &Ref{Type: "influxdb", UID: InfluxUID} }
func prometheus() *Ref { return &Ref{Type: "prometheus", UID: PrometheusUID} }

// Dashboard is Grafana's dashboard JSON model, with the fields these
// dashboards use. File is where it is written, not part of the model.
type Dashboard struct {
	File string `json:"-"`

	UID           string      `json:"uid"`
	Title         string      `json:"title"`
	Description   string      `json:"description,omitempty"`
	Tags          []string    `json:"tags"`
	Timezone      string      `json:"timezone"`
	SchemaVersion int         `json:"schemaVersion"`
	Version       int         `json:"version"`
	Editable      bool        `json:"editable"`
	GraphTooltip  int         `json:"graphTooltip"`
	LiveNow       bool        `json:"liveNow"`
	Time          TimeRange   `json:"time"`
	Refresh       string      `json:"refresh"`
	Templating    Templating  `json:"templating"`
	Annotations   Annotations `json:"annotations"`
	Links         []Link      `json:"links"`
	Panels        []Panel     `json:"panels"`
}

// TimeRange is Grafana's relative time syntax (now-7d, now/M).
type TimeRange struct {
	From string `json:"from"`
	To   string `json:"to"`
}

// Templating holds the dashboard's variables.
type Templating struct {
	List []Variable `json:"list"`
}

// Variable is a template variable: a query (Flux returning _value) or a
// constant.
type Variable struct {
	Name        string     `json:"name"`
	Label       string     `json:"label,omitempty"`
	Description string     `json:"description,omitempty"`
	Type        string     `json:"type"`
	Datasource  *Ref       `json:"datasource,omitempty"`
	Query       string     `json:"query"`
	Definition  string     `json:"definition,omitempty"`
	Hide        int        `json:"hide"`
	Refresh     int        `json:"refresh,omitempty"`
	Sort        int        `json:"sort,omitempty"`
	Multi       bool       `json:"multi"`
	IncludeAll  bool       `json:"includeAll"`
	Current     *Current   `json:"current,omitempty"`
	Options     []struct{} `json:"options"`
	SkipURLSync bool       `json:"skipUrlSync"`
}

// Current is a variable's selected value.
type Current struct {
	Text  string `json:"text"`
	Value string `json:"value"`
}

// Annotations are the dashboard's annotation queries.
type Annotations struct {
	List []Annotation `json:"list"`
}

// Annotation is one annotation query. Grafana maps the result's columns by
// name: the first time column, "text", "title" and "tags" (comma-separated).
type Annotation struct {
	Name       string  `json:"name"`
	Datasource *Ref    `json:"datasource"`
	Enable     bool    `json:"enable"`
	Hide       bool    `json:"hide"`
	IconColor  string  `json:"iconColor"`
	BuiltIn    int     `json:"builtIn,omitempty"`
	Type       string  `json:"type,omitempty"`
	Target     *Target `json:"target,omitempty"`
}

// Link is a dashboard link; with Tags it lists the dashboards carrying them.
type Link struct {
	Title       string   `json:"title"`
	Type        string   `json:"type"`
	Tags        []string `json:"tags"`
	AsDropdown  bool     `json:"asDropdown"`
	IncludeVars bool     `json:"includeVars"`
	KeepTime    bool     `json:"keepTime"`
}

// Panel is one panel, or a row when Type is "row".
type Panel struct {
	ID              int              `json:"id"`
	Type            string           `json:"type"`
	Title           string           `json:"title"`
	Description     string           `json:"description,omitempty"`
	GridPos         GridPos          `json:"gridPos"`
	Datasource      *Ref             `json:"datasource,omitempty"`
	Targets         []Target         `json:"targets,omitempty"`
	FieldConfig     *FieldConfig     `json:"fieldConfig,omitempty"`
	Options         map[string]any   `json:"options,omitempty"`
	Transformations []Transformation `json:"transformations,omitempty"`
	// TimeFrom overrides the dashboard's time range ("now/d": today so far).
	TimeFrom string `json:"timeFrom,omitempty"`
	// Interval is the lower bound of v.windowPeriod: the hourly rollups
	// cannot be shown finer than an hour.
	Interval  string  `json:"interval,omitempty"`
	Collapsed *bool   `json:"collapsed,omitempty"`
	Panels    []Panel `json:"panels,omitempty"` // of a collapsed row
}

// GridPos places a panel on the 24-column grid.
type GridPos struct {
	H int `json:"h"`
	W int `json:"w"`
	X int `json:"x"`
	Y int `json:"y"`
}

// Target is one query: Flux in Query, or PromQL in Expr.
type Target struct {
	RefID        string `json:"refId"`
	Datasource   *Ref   `json:"datasource,omitempty"`
	Query        string `json:"query,omitempty"`
	Expr         string `json:"expr,omitempty"`
	LegendFormat string `json:"legendFormat,omitempty"`
	Range        bool   `json:"range,omitempty"`
	Instant      bool   `json:"instant,omitempty"`
	Format       string `json:"format,omitempty"`
}

// FieldConfig is a panel's field defaults and per-field overrides.
type FieldConfig struct {
	Defaults  Defaults   `json:"defaults"`
	Overrides []Override `json:"overrides"`
}

// Defaults apply to every field of a panel.
type Defaults struct {
	Unit        string         `json:"unit"`
	Decimals    *int           `json:"decimals,omitempty"`
	Min         *float64       `json:"min,omitempty"`
	Max         *float64       `json:"max,omitempty"`
	DisplayName string         `json:"displayName,omitempty"`
	NoValue     string         `json:"noValue,omitempty"`
	Color       map[string]any `json:"color"`
	Thresholds  Thresholds     `json:"thresholds"`
	Mappings    []Mapping      `json:"mappings"`
	Custom      map[string]any `json:"custom,omitempty"`
}

// Thresholds color values by steps; the first step's Value is null.
type Thresholds struct {
	Mode  string `json:"mode"`
	Steps []Step `json:"steps"`
}

// Step is one threshold step.
type Step struct {
	Color string   `json:"color"`
	Value *float64 `json:"value"`
}

// Mapping is a value mapping (type "value" or "special").
type Mapping struct {
	Type    string         `json:"type"`
	Options map[string]any `json:"options"`
}

// Override changes properties of the fields a matcher selects.
type Override struct {
	Matcher    Matcher    `json:"matcher"`
	Properties []Property `json:"properties"`
}

// Matcher selects fields, e.g. {id: byName, options: "pct"}.
type Matcher struct {
	ID      string `json:"id"`
	Options string `json:"options"`
}

// Property is one overridden field property.
type Property struct {
	ID    string `json:"id"`
	Value any    `json:"value"`
}

// Transformation is a Grafana data transformation.
type Transformation struct {
	ID      string         `json:"id"`
	Options map[string]any `json:"options"`
}

// Marshal is the dashboard's JSON as written to its file: indented, with a
// trailing newline, and without HTML escaping (Flux has < and >).
func Marshal(d *Dashboard) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(d); err != nil {
		return nil, fmt.Errorf("dashboard %s: %w", d.UID, err)
	}
	return b.Bytes(), nil
}

// grid lays panels out left to right, wrapping at 24 columns, and numbers
// them: ids are unique within a dashboard, which is what Grafana needs.
type grid struct {
	panels  []Panel
	x, y, h int // h: height of the current line
	id      int
}

// row starts a new line with a row header.
func (g *grid) row(title string) {
	g.newline()
	g.id++
	collapsed := false
	g.panels = append(g.panels, Panel{ID: g.id, Type: "row", Title: title,
		GridPos: GridPos{H: 1, W: 24, X: 0, Y: g.y}, Collapsed: &collapsed})
	g.y++
}

func (g *grid) newline() {
	g.y += g.h
	g.x, g.h = 0, 0
}

// add places p with width w and height h.
func (g *grid) add(w, h int, p Panel) {
	if g.x+w > 24 {
		g.newline()
	}
	g.id++
	p.ID = g.id
	p.GridPos = GridPos{H: h, W: w, X: g.x, Y: g.y}
	for i := range p.Targets {
		p.Targets[i].RefID = string(rune('A' + i))
		p.Targets[i].Datasource = p.Datasource
	}
	g.panels = append(g.panels, p)
	g.x += w
	g.h = max(g.h, h)
}

func ptr[T any](v T) *T { return &v }

// steps builds thresholds: a base color, then (value, color) pairs.
func steps(base string, pairs ...any) Thresholds {
	t := Thresholds{Mode: "absolute", Steps: []Step{{Color: base}}}
	for i := 0; i+1 < len(pairs); i += 2 {
		t.Steps = append(t.Steps, Step{Value: ptr(toFloat(pairs[i])), Color: pairs[i+1].(string)})
	}
	return t
}

func toFloat(v any) float64 {
	switch x := v.(type) {
	case int:
		return float64(x)
	case float64:
		return x
	}
	panic(fmt.Sprintf("threshold %v: not a number", v))
}

// defaults is the field config most panels start from.
func defaults(unit string) *FieldConfig {
	return &FieldConfig{Defaults: Defaults{
		Unit:       unit,
		Color:      map[string]any{"mode": "palette-classic"},
		Thresholds: steps("green"),
		Mappings:   []Mapping{},
	}, Overrides: []Override{}}
}

// byName overrides properties of one column.
func byName(name string, props ...Property) Override {
	return Override{Matcher: Matcher{ID: "byName", Options: name}, Properties: props}
}

func prop(id string, v any) Property { return Property{ID: id, Value: v} }

// nanAsNA shows NaN, which the queries use for "not available" (Flux of
// InfluxDB 1.8 has no null literal), as N/A.
func nanAsNA() Mapping {
	return Mapping{Type: "special", Options: map[string]any{
		"match": "nan", "result": map[string]any{"text": "N/A", "index": 0}}}
}
