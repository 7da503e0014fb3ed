package board

// Panel constructors. Every panel states its unit: Grafana's ids (kwatth,
// m3, masst, percent, s, cps) or "suffix: …" where Grafana has none (GJ,
// tce, kWh/mu).

const (
	unitKWh      = "kwatth"
	unitM3       = "m3"
	unitGJ       = "suffix: GJ"
	unitTonnes   = "masst"
	unitTce      = "suffix: tce"
	unitKWhPerMu = "suffix: kWh/mu"
	unitMu       = "suffix: mu"
	unitPercent  = "percent"
	unitSeconds  = "s"
	unitPerSec   = "cps"
	unitCount    = "short"
	unitNone     = "none"
	unitFromNow  = "dateTimeFromNow"
)

func fluxTarget(q string) []Target { return []Target{{Query: q}} }

// stat is a single number (the last value of the query's _value).
func stat(title, desc, unit string, decimals int, q string) Panel {
	fc := defaults(unit)
	fc.Defaults.Decimals = ptr(decimals)
	fc.Defaults.Color = map[string]any{"mode": "fixed", "fixedColor": "text"}
	return Panel{Type: "stat", Title: title, Description: desc, Datasource: influx(), Targets: fluxTarget(q),
		FieldConfig: fc, Options: statOptions()}
}

func statOptions() map[string]any {
	return map[string]any{
		"reduceOptions": map[string]any{"calcs": []string{"lastNotNull"}, "fields": "", "values": false},
		"colorMode":     "value", "graphMode": "none", "justifyMode": "auto", "textMode": "auto",
		"orientation": "auto", "wideLayout": true, "showPercentChange": false,
	}
}

// timeseries draws each table of the result as a series; bars for sums per
// window (stacked), lines otherwise.
func timeseries(title, desc, unit string, bars bool, q string) Panel {
	fc := defaults(unit)
	custom := map[string]any{"drawStyle": "line", "lineWidth": 1, "fillOpacity": 10, "showPoints": "never",
		"spanNulls": false, "stacking": map[string]any{"mode": "none", "group": "A"}}
	if bars {
		custom["drawStyle"] = "bars"
		custom["fillOpacity"] = 80
		custom["stacking"] = map[string]any{"mode": "normal", "group": "A"}
	}
	fc.Defaults.Custom = custom
	return Panel{Type: "timeseries", Title: title, Description: desc, Datasource: influx(), Targets: fluxTarget(q),
		FieldConfig: fc, Interval: "1h", Options: map[string]any{
			"legend":  map[string]any{"displayMode": "list", "placement": "bottom", "showLegend": true, "calcs": []string{}},
			"tooltip": map[string]any{"mode": "multi", "sort": "desc"},
		}}
}

// column describes one column of a table panel.
type column struct {
	name, display, unit string
	decimals            int
	props               []Property
}

// table shows the result's rows; every column the query returns is named
// in cols (the dashboard test checks that they exist). sortBy is a display
// name, sorted descending.
func table(title, desc, sortBy string, q string, cols ...column) Panel {
	fc := defaults(unitNone)
	fc.Defaults.Custom = map[string]any{"align": "auto", "filterable": true,
		"cellOptions": map[string]any{"type": "auto"}, "inspect": false}
	fc.Defaults.Color = map[string]any{"mode": "thresholds"}
	fc.Defaults.Mappings = []Mapping{nanAsNA()}
	for _, c := range cols {
		props := []Property{prop("displayName", c.display), prop("unit", c.unit)}
		if c.decimals >= 0 {
			props = append(props, prop("decimals", c.decimals))
		}
		fc.Overrides = append(fc.Overrides, byName(c.name, append(props, c.props...)...))
	}
	opts := map[string]any{"showHeader": true, "cellHeight": "sm",
		"footer": map[string]any{"show": false, "reducer": []string{"sum"}, "countRows": false, "fields": ""}}
	if sortBy != "" {
		opts["sortBy"] = []map[string]any{{"displayName": sortBy, "desc": true}}
	}
	return Panel{Type: "table", Title: title, Description: desc, Datasource: influx(), Targets: fluxTarget(q),
		FieldConfig: fc, Options: opts}
}

// text is a text column (no unit applies; "none" says so).
func text(name, display string, props ...Property) column {
	return column{name: name, display: display, unit: unitNone, decimals: -1, props: props}
}

func num(name, display, unit string, decimals int, props ...Property) column {
	return column{name: name, display: display, unit: unit, decimals: decimals, props: props}
}

// colored paints a cell's background by its thresholds (or value mappings).
func colored(t Thresholds) []Property {
	return []Property{prop("thresholds", t), prop("custom.cellOptions", map[string]any{"type": "color-background", "mode": "basic"})}
}

// pie splits a total by the result's series (one table per energy).
func pie(title, desc, unit string, decimals int, q string) Panel {
	fc := defaults(unit)
	fc.Defaults.Decimals = ptr(decimals)
	fc.Defaults.DisplayName = "${__field.labels.energy}"
	return Panel{Type: "piechart", Title: title, Description: desc, Datasource: influx(), Targets: fluxTarget(q),
		FieldConfig: fc, Options: map[string]any{
			"reduceOptions": map[string]any{"calcs": []string{"lastNotNull"}, "fields": "", "values": false},
			"pieType":       "donut",
			"legend": map[string]any{"displayMode": "table", "placement": "right", "showLegend": true,
				"values": []string{"value", "percent"}},
			"tooltip": map[string]any{"mode": "single", "sort": "none"},
		}}
}

// promExpr is one PromQL query with its legend.
type promExpr struct{ expr, legend string }

// promTimeseries plots PromQL range queries.
func promTimeseries(title, desc, unit string, exprs ...promExpr) Panel {
	fc := defaults(unit)
	fc.Defaults.Custom = map[string]any{"drawStyle": "line", "lineWidth": 1, "fillOpacity": 10, "showPoints": "never",
		"spanNulls": false}
	p := Panel{Type: "timeseries", Title: title, Description: desc, Datasource: prometheus(), FieldConfig: fc,
		Options: map[string]any{
			"legend":  map[string]any{"displayMode": "list", "placement": "bottom", "showLegend": true, "calcs": []string{}},
			"tooltip": map[string]any{"mode": "multi", "sort": "desc"},
		}}
	for _, e := range exprs {
		p.Targets = append(p.Targets, Target{Expr: e.expr, LegendFormat: e.legend, Range: true})
	}
	return p
}

// promStat is one number from an instant PromQL query.
func promStat(title, desc, unit string, t Thresholds, mappings []Mapping, e promExpr) Panel {
	fc := defaults(unit)
	fc.Defaults.Thresholds = t
	fc.Defaults.Color = map[string]any{"mode": "thresholds"}
	if mappings != nil {
		fc.Defaults.Mappings = mappings
	}
	opts := statOptions()
	opts["colorMode"] = "background"
	return Panel{Type: "stat", Title: title, Description: desc, Datasource: prometheus(), FieldConfig: fc,
		Targets: []Target{{Expr: e.expr, LegendFormat: e.legend, Instant: true}}, Options: opts}
}

// valueText maps exact values to a text and color: value, text, color, ….
func valueText(pairs ...string) Mapping {
	opts := map[string]any{}
	for i := 0; i+2 < len(pairs); i += 3 {
		opts[pairs[i]] = map[string]any{"text": pairs[i+1], "color": pairs[i+2], "index": i / 3}
	}
	return Mapping{Type: "value", Options: opts}
}
