package board

// Tag marks every parkcarbon dashboard; the dashboards link to each other by it.
const Tag = "parkcarbon"

// All builds the five dashboards.
func All(o Options) ([]*Dashboard, error) {
	consts, err := constants(o)
	if err != nil {
		return nil, err
	}
	return []*Dashboard{overview(consts), ranking(consts), detail(consts), meters(), alerts()}, nil
}

func base(file, uid, title, desc string, from, refresh string) *Dashboard {
	return &Dashboard{File: file, UID: uid, Title: title, Description: desc, Tags: []string{Tag},
		Timezone: "browser", SchemaVersion: SchemaVersion, Version: 1, Editable: true, GraphTooltip: 1,
		Time: TimeRange{From: from, To: "now"}, Refresh: refresh,
		Templating:  Templating{List: []Variable{}},
		Annotations: Annotations{List: []Annotation{builtInAnnotations()}},
		Links: []Link{{Title: "Park dashboards", Type: "dashboards", Tags: []string{Tag}, AsDropdown: true,
			IncludeVars: true, KeepTime: true}},
	}
}

// builtInAnnotations is Grafana's own (annotations made by hand in the UI).
func builtInAnnotations() Annotation {
	return Annotation{Name: "Annotations & Alerts", BuiltIn: 1, Type: "dashboard", Enable: true, Hide: true,
		IconColor: "rgba(0, 211, 255, 1)", Datasource: &Ref{Type: "grafana", UID: "-- Grafana --"}}
}

func constants(o Options) ([]Variable, error) {
	reg, err := EncodeRegistry(o.Registry)
	if err != nil {
		return nil, err
	}
	return []Variable{{Name: "registry", Type: "constant", Query: reg, Hide: 2,
		Description: "Enterprises from enterprises.yaml with their daily limit from alerts.yaml (id|land_mu|tier|rated|daily_kwh_per_mu|name), written by dashboards/gen.",
		Current:     &Current{Text: reg, Value: reg}, Options: []struct{}{}, SkipURLSync: true}}, nil
}

const (
	energyDesc = "From the hourly rollups (consumption_hourly), in base units."
	co2Desc    = "kgCO2 of every energy, from the factors valid at each interval (carbon/factors.yaml), in tonnes."
	tceDesc    = "Comprehensive energy consumption at GB/T 2589-2020 coefficients (electricity at the equivalent value), in tonnes of standard coal."
)

// totals adds the six headline numbers of a period to g.
func totals(g *grid, timeFrom, when, extra string) {
	add := func(title, desc, unit string, decimals int, q string) {
		p := stat(title+when, desc, unit, decimals, q)
		p.TimeFrom = timeFrom
		g.add(4, 4, p)
	}
	add("Electricity", energyDesc, unitKWh, 0, total("electricity", "amount", 1, extra))
	add("Gas", energyDesc+" Normal cubic metres.", unitM3, 1, total("gas", "amount", 1, extra))
	add("Water", energyDesc, unitM3, 1, total("water", "amount", 1, extra))
	add("Heat", energyDesc, unitGJ, 2, total("heat", "amount", 1, extra))
	add("CO₂", co2Desc, unitTonnes, 2, total("", "co2_kg", 1000, extra))
	add("Energy", tceDesc, unitTce, 2, total("", "coal_kgce", 1000, extra))
}

func overview(consts []Variable) *Dashboard {
	d := base("park-overview.json", "parkcarbon-park-overview", "Park overview",
		"The park's electricity, gas, water, heat, CO₂ and standard coal today and this month, split by energy, and the enterprises that use most.",
		"now/M", "5m")
	d.Templating.List = append(d.Templating.List, consts...)
	g := &grid{}
	g.row("Today")
	totals(g, "now/d", " today", "")
	g.row("This month")
	totals(g, "now/M", " this month", "")

	g.row("Split by energy")
	p := pie("Energy by type this month (tce)", tceDesc, unitTce, 2, byEnergy("coal_kgce", 1000, ""))
	p.TimeFrom = "now/M"
	g.add(8, 9, p)
	p = pie("CO₂ by energy this month", co2Desc, unitTonnes, 2, byEnergy("co2_kg", 1000, ""))
	p.TimeFrom = "now/M"
	g.add(8, 9, p)
	p = table("Top enterprises this month", "The ten enterprises with the most energy use (tce) this month.", "Energy",
		registryFlux+from+perEnterprise+`  |> map(fn: (r) => ({enterprise: r.enterprise, name: part(e: r._e, n: 5), tce: r.tce, co2_t: r.co2_t, kwh: r.kwh}))
  |> sort(columns: ["tce"], desc: true)
  |> limit(n: 10)
`,
		text("enterprise", "Enterprise", enterpriseLink()),
		text("name", "Name"),
		num("tce", "Energy", unitTce, 2, prop("custom.cellOptions", map[string]any{"type": "gauge", "mode": "basic"})),
		num("co2_t", "CO₂", unitTonnes, 2),
		num("kwh", "Electricity", unitKWh, 0))
	p.TimeFrom = "now/M"
	g.add(8, 9, p)

	g.row("Over the selected period")
	g.add(12, 9, energySeries(timeseries("Energy by type (tce)", tceDesc, unitTce, true, trendByEnergy("coal_kgce", 1000, ""))))
	g.add(12, 9, energySeries(timeseries("CO₂ by energy", co2Desc, unitTonnes, true, trendByEnergy("co2_kg", 1000, ""))))
	d.Panels = g.panels
	return d
}

// energySeries names each series by its energy (its group key), not
// "_value electricity".
func energySeries(p Panel) Panel {
	p.FieldConfig.Defaults.DisplayName = "${__field.labels.energy}"
	return p
}

// enterpriseLink makes an enterprise cell open its detail dashboard.
func enterpriseLink() Property {
	return prop("links", []map[string]any{{
		"title": "Enterprise detail",
		"url":   "/d/parkcarbon-enterprise-detail?var-enterprise=${__value.raw}&${__url_time_range}",
	}})
}

// classMappings color the A–D classes (and T, –, ?).
func classMappings() []Mapping {
	return []Mapping{valueText(
		"A", "A", "green",
		"B", "B", "#73BF69",
		"C", "C", "orange",
		"D", "D", "red",
		"T", "T (not rated)", "blue",
		"–", "– (no limit)", "text",
		"?", "? (not in registry)", "purple",
	)}
}

// pctThresholds color a share of the tier limit.
func pctThresholds() Thresholds { return steps("green", 60, "#73BF69", 80, "orange", 100, "red") }

const classDesc = "Class against the limit, computed here (not the per-mu evaluation of `parkctl evaluate`): " +
	"share of the period's limit (the enterprise's daily kWh/mu from alerts.yaml × days) A ≤ 60 %, B ≤ 80 %, C ≤ 100 %, D over; " +
	"T not rated (registry not_rated), – no land area or no limit, ? not in the registry."

func ranking(consts []Variable) *Dashboard {
	d := base("enterprise-ranking.json", "parkcarbon-enterprise-ranking", "Enterprise ranking",
		"Electricity intensity (kWh per mu of land) of every enterprise over the selected period against its limit. "+classDesc,
		"now/M", "5m")
	d.Templating.List = append(d.Templating.List, consts...)
	g := &grid{}
	q := registryFlux + daysFlux + from + perEnterprise + intensityFlux + classFlux +
		`  |> keep(columns: ["enterprise", "name", "tier", "land_mu", "kwh", "tce", "intensity", "limit", "pct", "class"])
  |> sort(columns: ["pct"], desc: true)
`
	g.add(24, 12, table("Ranking by share of the limit", classDesc, "Of limit", q,
		text("enterprise", "Enterprise", enterpriseLink()),
		text("name", "Name"),
		text("tier", "Tier"),
		num("land_mu", "Land", unitMu, 1),
		num("kwh", "Electricity", unitKWh, 0),
		num("tce", "Energy", unitTce, 2),
		num("intensity", "Intensity", unitKWhPerMu, 1),
		num("limit", "Limit", unitKWhPerMu, 1),
		num("pct", "Of limit", unitPercent, 0, colored(pctThresholds())...),
		text("class", "Class", append(colored(steps("text")), prop("mappings", classMappings()))...)))

	bars := registryFlux + daysFlux + from + perEnterprise + intensityFlux +
		`  |> filter(fn: (r) => r.pct >= 0.0)
  |> map(fn: (r) => ({enterprise: r.enterprise, _value: r.pct}))
  |> group(columns: ["enterprise"])
`
	p := Panel{Type: "bargauge", Title: "Share of the limit",
		Description: "Intensity ÷ the period's limit; enterprises without land area, limit or registry entry are left out.",
		Datasource:  influx(), Targets: fluxTarget(bars), FieldConfig: defaults(unitPercent),
		Options: map[string]any{
			"reduceOptions": map[string]any{"calcs": []string{"lastNotNull"}, "fields": "", "values": false},
			"orientation":   "horizontal", "displayMode": "gradient", "showUnfilled": true, "valueMode": "color",
			"namePlacement": "left", "sizing": "auto", "minVizHeight": 16, "maxVizHeight": 300,
		}}
	p.FieldConfig.Defaults.Thresholds = pctThresholds()
	p.FieldConfig.Defaults.Color = map[string]any{"mode": "thresholds"}
	p.FieldConfig.Defaults.Min = ptr(0.0)
	p.FieldConfig.Defaults.Max = ptr(150.0)
	p.FieldConfig.Defaults.Decimals = ptr(0)
	p.FieldConfig.Defaults.DisplayName = "${__field.labels.enterprise}"
	g.add(12, 12, p)

	trend := registryFlux + `window = float(v: int(v: v.windowPeriod)) / 86400000000000.0
` + hourly("electricity", "amount", "") + `  |> group(columns: ["enterprise"])
  |> aggregateWindow(every: v.windowPeriod, fn: sum, createEmpty: false)
  |> map(fn: (r) => ({r with _e: entry(id: r.enterprise)}))
  |> filter(fn: (r) => float(v: part(e: r._e, n: 1)) > 0.0)
  |> map(fn: (r) => ({_time: r._time, enterprise: r.enterprise, _value: r._value / float(v: part(e: r._e, n: 1))}))
`
	p = timeseries("Intensity per window (kWh/mu)", "Electricity per mu of land in each window (v.windowPeriod, at least an hour).",
		unitKWhPerMu, false, trend)
	p.FieldConfig.Defaults.DisplayName = "${__field.labels.enterprise}"
	g.add(12, 12, p)
	d.Panels = g.panels
	return d
}

// enterpriseVar lists the enterprises with hourly rollups in the last
// year, whatever the range: one can pick an enterprise, then move in time.
// (A relative start also keeps it valid for the Flux of InfluxDB 1.8, whose
// older name for the function, v1.tagValues, takes only a duration.)
const enterpriseVar = `import "influxdata/influxdb/schema"

schema.tagValues(bucket: v.defaultBucket, tag: "enterprise", predicate: (r) => r._measurement == "consumption_hourly", start: -1y)
`

// alertFields pivots the alert measurement's fields (value, limit,
// message) next to its tags. The subject tag (the meter or gateway of
// silence and data-quality alerts) is absent on enterprise-wide alerts and
// stays null there: Flux 0.65 cannot test for a column no table has
// (exists is a type error), while a plain r.subject is null or dropped.
const alertFields = `  |> filter(fn: (r) => r._measurement == "alert")
  |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")
`

func detail(consts []Variable) *Dashboard {
	d := base("enterprise-detail.json", "parkcarbon-enterprise-detail", "Enterprise detail",
		"One enterprise: consumption, CO₂, intensity against its limit, its meters and its alerts (annotations).",
		"now-7d", "5m")
	d.Templating.List = append(d.Templating.List, Variable{Name: "enterprise", Label: "Enterprise", Type: "query",
		Datasource: influx(), Query: enterpriseVar, Definition: enterpriseVar, Refresh: 1, Sort: 1,
		Options: []struct{}{}})
	d.Templating.List = append(d.Templating.List, consts...)
	d.Annotations.List = append(d.Annotations.List, Annotation{Name: "Alerts", Datasource: influx(), Enable: true,
		IconColor: "red", Target: &Target{RefID: "Anno", Query: from + alertFields +
			`  |> filter(fn: (r) => r.enterprise == "${enterprise}")
  |> group()
  |> map(fn: (r) => ({_time: r._time, title: r.rule + " " + r.state,
      text: r.rule + " " + r.state + ": " + r.message + " (value " + string(v: r.value) + ", limit " + string(v: r.limit) + ")",
      tags: r.severity + "," + r.state + "," + r.rule}))
`}})

	g := &grid{}
	g.row("Over the selected period")
	totals(g, "", "", ofEnterprise)

	g.row("Intensity against the limit")
	intensity := registryFlux + daysFlux + from +
		`  |> filter(fn: (r) => r._measurement == "consumption_hourly" and r._field == "amount" and r.energy == "electricity" and r.enterprise == "${enterprise}")
  |> group(columns: ["enterprise"])
  |> sum()
  |> map(fn: (r) => ({enterprise: r.enterprise, _e: entry(id: r.enterprise), kwh: r._value}))
` + intensityFlux
	g.add(4, 5, stat("Intensity", "Electricity per mu of land over the period.", unitKWhPerMu, 1,
		intensity+"  |> map(fn: (r) => ({enterprise: r.enterprise, _value: r.intensity}))\n"))
	g.add(4, 5, stat("Limit for the period", "The enterprise's daily limit (alerts.yaml) × the period's days.", unitKWhPerMu, 1,
		intensity+"  |> map(fn: (r) => ({enterprise: r.enterprise, _value: r.limit}))\n"))
	p := stat("Of the limit", classDesc, unitPercent, 0,
		intensity+"  |> map(fn: (r) => ({enterprise: r.enterprise, _value: r.pct}))\n")
	p.FieldConfig.Defaults.Thresholds = pctThresholds()
	p.FieldConfig.Defaults.Color = map[string]any{"mode": "thresholds"}
	p.FieldConfig.Defaults.Mappings = []Mapping{nanAsNA()}
	p.Options["colorMode"] = "background"
	g.add(4, 5, p)
	p = stat("Class", classDesc, unitNone, 0,
		intensity+classFlux+"  |> map(fn: (r) => ({enterprise: r.enterprise, class: r.class}))\n")
	p.FieldConfig.Defaults.Mappings = classMappings()
	p.FieldConfig.Defaults.Color = map[string]any{"mode": "thresholds"}
	p.Options["colorMode"] = "background"
	p.Options["reduceOptions"] = map[string]any{"calcs": []string{"lastNotNull"}, "fields": "/^class$/", "values": false}
	g.add(4, 5, p)
	trend := registryFlux + `window = float(v: int(v: v.windowPeriod)) / 86400000000000.0
` + hourly("electricity", "amount", ofEnterprise) + `  |> group(columns: ["enterprise"])
  |> aggregateWindow(every: v.windowPeriod, fn: sum, createEmpty: false)
  |> map(fn: (r) => ({r with _e: entry(id: r.enterprise)}))
  |> map(fn: (r) => ({_time: r._time, land_mu: float(v: part(e: r._e, n: 1)), limit: float(v: part(e: r._e, n: 4)) * window, kwh: r._value}))
  |> map(fn: (r) => ({_time: r._time, intensity: if r.land_mu > 0.0 then r.kwh / r.land_mu else nan,
      limit: if r.limit > 0.0 then r.limit else nan}))
`
	p = timeseries("Intensity per window against the limit", "Electricity per mu in each window (v.windowPeriod, at least an hour), and the daily limit scaled to the window.",
		unitKWhPerMu, false, trend)
	p.FieldConfig.Overrides = append(p.FieldConfig.Overrides,
		byName("intensity", prop("displayName", "Intensity")),
		byName("limit", prop("displayName", "Limit"), prop("color", map[string]any{"mode": "fixed", "fixedColor": "red"}),
			prop("custom.lineStyle", map[string]any{"fill": "dash", "dash": []int{10, 10}}), prop("custom.fillOpacity", 0)))
	g.add(8, 5, p)

	g.row("Consumption")
	g.add(8, 9, energySeries(timeseries("Energy by type (tce)", tceDesc, unitTce, true, trendByEnergy("coal_kgce", 1000, ofEnterprise))))
	g.add(8, 9, energySeries(timeseries("CO₂ by energy", co2Desc, unitTonnes, true, trendByEnergy("co2_kg", 1000, ofEnterprise))))
	p = timeseries("Electricity by meter", "Interval consumption of each electricity meter (the consumption measurement), summed per window.",
		unitKWh, true, from+`  |> filter(fn: (r) => r._measurement == "consumption" and r._field == "amount" and r.energy == "electricity" and r.enterprise == "${enterprise}")
  |> group(columns: ["meter"])
  |> aggregateWindow(every: v.windowPeriod, fn: sum, createEmpty: false)
  |> map(fn: (r) => ({_time: r._time, meter: r.meter, kwh: r._value}))
`)
	p.Interval = "1m"
	p.FieldConfig.Defaults.DisplayName = "${__field.labels.meter}"
	g.add(8, 9, p)

	g.row("Meters and alerts")
	g.add(12, 8, table("Meters", "Every meter of the enterprise seen in the range, with its last cumulative reading.", "Age",
		from+cumulativeReadings+ofEnterprise+`)
  |> last()
  |> group()
`+ageFlux+`  |> keep(columns: ["meter", "gateway", "energy", "_value", "last_seen", "age_s"])
  |> rename(columns: {_value: "total"})
  |> sort(columns: ["age_s"], desc: true)
`,
		text("meter", "Meter"), text("gateway", "Gateway"), text("energy", "Energy"),
		num("total", "Last total (base unit)", unitNone, 1),
		num("last_seen", "Last seen", unitFromNow, -1),
		num("age_s", "Age", unitSeconds, 0, colored(ageThresholds())...)))
	g.add(12, 8, table("Alert state changes", "Every state change of the enterprise's alerts in the range (alert measurement).", "",
		from+alertFields+`  |> filter(fn: (r) => r.enterprise == "${enterprise}")
  |> group()
  |> keep(columns: ["_time", "rule", "subject", "severity", "state", "value", "limit", "message"])
  |> sort(columns: ["_time"], desc: true)
`,
		num("_time", "Time", "dateTimeAsIso", -1),
		text("rule", "Rule"), text("subject", "Meter or gateway"), text("severity", "Severity"),
		text("state", "State", append(colored(steps("text")), prop("mappings", stateMappings()))...),
		num("value", "Value", unitNone, 2), num("limit", "Limit", unitNone, 2), text("message", "Message")))
	d.Panels = g.panels
	return d
}

// ageThresholds color a last-seen age: fine up to 2 minutes (a few poll
// intervals), late up to 15, then stale.
func ageThresholds() Thresholds { return steps("green", 120, "orange", 900, "red") }

func stateMappings() []Mapping {
	return []Mapping{valueText("firing", "firing", "red", "pending", "pending", "orange", "resolved", "resolved", "green")}
}

func meters() *Dashboard {
	d := base("meters-gateways.json", "parkcarbon-meters-gateways", "Meters and gateways",
		"Is every meter and gateway reporting? Last seen from InfluxDB (readings), and the pipeline's health from Prometheus (edge agents and collector).",
		"now-6h", "1m")
	g := &grid{}
	g.row("Last seen (InfluxDB readings)")
	g.add(8, 9, table("Gateways", "Every gateway with readings in the range: when it was last heard and how many meters it reports.", "Age",
		from+cumulativeReadings+`)
  |> last()
  |> group(columns: ["gateway"])
  |> reduce(identity: {meters: 0, newest: 0}, fn: (r, accumulator) => ({meters: accumulator.meters + 1,
      newest: if int(v: r._time) > accumulator.newest then int(v: r._time) else accumulator.newest}))
  |> group()
  |> map(fn: (r) => ({gateway: r.gateway, meters: r.meters, last_seen: time(v: r.newest), age_s: float(v: uint(v: now()) - uint(v: r.newest)) / 1000000000.0}))
  |> sort(columns: ["age_s"], desc: true)
`,
		text("gateway", "Gateway"), num("meters", "Meters", unitCount, 0),
		num("last_seen", "Last seen", unitFromNow, -1),
		num("age_s", "Age", unitSeconds, 0, colored(ageThresholds())...)))
	g.add(16, 9, table("Meters", "Every meter with readings of its cumulative register in the range, the stalest first.", "Age",
		from+cumulativeReadings+`)
  |> last()
  |> group()
`+ageFlux+`  |> keep(columns: ["enterprise", "gateway", "meter", "energy", "last_seen", "age_s"])
  |> sort(columns: ["age_s"], desc: true)
`,
		text("enterprise", "Enterprise", enterpriseLink()), text("gateway", "Gateway"), text("meter", "Meter"),
		text("energy", "Energy"),
		num("last_seen", "Last seen", unitFromNow, -1),
		num("age_s", "Age", unitSeconds, 0, colored(ageThresholds())...)))
	g.add(24, 8, table("Data-quality events", "Counter resets, rollovers, meter swaps, gaps and implausible values seen at the edge or the centre (data_quality).", "",
		from+`  |> filter(fn: (r) => r._measurement == "data_quality")
  |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")
  |> group()
  |> keep(columns: ["_time", "enterprise", "meter", "kind", "value", "message"])
  |> sort(columns: ["_time"], desc: true)
`,
		num("_time", "Time", "dateTimeAsIso", -1),
		text("enterprise", "Enterprise"), text("meter", "Meter"), text("kind", "Kind"),
		num("value", "Value", unitNone, 2), text("message", "Message")))

	upDown := []Mapping{valueText("0", "down", "red", "1", "up", "green")}
	g.row("Edge agents (Prometheus)")
	g.add(6, 5, promStat("Uplinks down", "Edge agents not connected to the broker now.", unitCount,
		steps("green", 1, "red"), nil, promExpr{"count(parkcarbon_edge_uplink_connected == 0) or vector(0)", ""}))
	g.add(6, 5, promStat("Meters down", "Meters whose last poll failed.", unitCount,
		steps("green", 1, "red"), nil, promExpr{"count(parkcarbon_edge_device_up == 0) or vector(0)", ""}))
	g.add(6, 5, promStat("Records waiting at the edge", "Readings and events queued on the gateways' disks, not yet acknowledged by the broker.", unitCount,
		steps("green", 1000, "orange", 100000, "red"), nil, promExpr{"sum(parkcarbon_edge_buffer_records) or vector(0)", ""}))
	g.add(6, 5, promStat("Oldest waiting record", "Age of the oldest record queued at any gateway (0 when all are delivered).", unitSeconds,
		steps("green", 60, "orange", 900, "red"), nil, promExpr{"max(parkcarbon_edge_buffer_oldest_age_seconds) or vector(0)", ""}))
	g.add(8, 8, promTimeseries("Poll latency (p95)", "Time to read all registers of one device, 95th percentile per endpoint.", unitSeconds,
		promExpr{"histogram_quantile(0.95, sum by (instance, endpoint, le) (rate(parkcarbon_edge_poll_duration_seconds_bucket[$__rate_interval])))", "{{instance}} {{endpoint}}"}))
	g.add(8, 8, promTimeseries("Poll errors", "Failed device polls per second, by endpoint and kind (exception, timeout, frame, connection, queue).", unitPerSec,
		promExpr{"sum by (instance, endpoint, kind) (rate(parkcarbon_edge_poll_errors_total[$__rate_interval]))", "{{instance}} {{endpoint}} {{kind}}"},
		promExpr{"sum by (instance) (rate(parkcarbon_edge_publish_errors_total[$__rate_interval]))", "{{instance}} publish"}))
	g.add(8, 8, promTimeseries("Buffer depth", "Records queued on each gateway's disk (store and forward).", unitCount,
		promExpr{"parkcarbon_edge_buffer_records", "{{instance}}"}))
	g.add(8, 8, promTimeseries("Readings", "Readings acquired and acknowledged by the broker, per second.", unitPerSec,
		promExpr{"sum by (instance) (rate(parkcarbon_edge_readings_total[$__rate_interval]))", "{{instance}} acquired"},
		promExpr{"sum by (instance) (rate(parkcarbon_edge_records_published_total[$__rate_interval]))", "{{instance}} acknowledged"}))
	p := promTimeseries("Meters up", "1 if the meter's last poll succeeded.", unitNone,
		promExpr{"parkcarbon_edge_device_up", "{{instance}} {{meter}}"})
	p.FieldConfig.Defaults.Mappings = upDown
	p.FieldConfig.Defaults.Custom["drawStyle"] = "line"
	p.FieldConfig.Defaults.Custom["lineInterpolation"] = "stepAfter"
	g.add(8, 8, p)
	p = promTimeseries("Uplink", "1 while the agent is connected to the broker.", unitNone,
		promExpr{"parkcarbon_edge_uplink_connected", "{{instance}}"})
	p.FieldConfig.Defaults.Mappings = upDown
	p.FieldConfig.Defaults.Custom["lineInterpolation"] = "stepAfter"
	g.add(8, 8, p)

	g.row("Collector (Prometheus)")
	g.add(8, 8, promTimeseries("Envelopes", "Envelopes received per second: written, spooled, or the reason they were rejected.", unitPerSec,
		promExpr{"sum by (result) (rate(parkcarbon_collector_messages_total[$__rate_interval]))", "{{result}}"}))
	g.add(8, 8, promTimeseries("InfluxDB write latency (p95)", "One batch write to InfluxDB.", unitSeconds,
		promExpr{"histogram_quantile(0.95, sum by (instance, le) (rate(parkcarbon_collector_influx_write_duration_seconds_bucket[$__rate_interval])))", "{{instance}}"}))
	g.add(8, 8, promTimeseries("Write and rollup errors", "Failed InfluxDB writes (retried or spooled) and failed hourly rollups (retried), per second.", unitPerSec,
		promExpr{"sum by (instance) (rate(parkcarbon_collector_influx_write_errors_total[$__rate_interval]))", "{{instance}} write"},
		promExpr{"sum by (instance) (rate(parkcarbon_collector_rollup_errors_total[$__rate_interval]))", "{{instance}} rollup"},
		promExpr{"sum by (instance) (rate(parkcarbon_collector_influx_rejected_points_total[$__rate_interval]))", "{{instance}} refused points"}))
	g.add(8, 8, promTimeseries("Spool", "Batches waiting on the collector's disk for InfluxDB.", unitCount,
		promExpr{"parkcarbon_collector_spool_batches", "{{instance}}"}))
	g.add(8, 8, promTimeseries("Stored", "Readings and consumption intervals written to InfluxDB per second.", unitPerSec,
		promExpr{"sum by (instance) (rate(parkcarbon_collector_readings_written_total[$__rate_interval]))", "{{instance}} readings"},
		promExpr{"sum by (instance) (rate(parkcarbon_collector_consumption_points_total[$__rate_interval]))", "{{instance}} intervals"}))
	p = promTimeseries("Broker subscription", "1 while the collector is subscribed.", unitNone,
		promExpr{"parkcarbon_collector_mqtt_connected", "{{instance}}"})
	p.FieldConfig.Defaults.Mappings = upDown
	p.FieldConfig.Defaults.Custom["lineInterpolation"] = "stepAfter"
	g.add(8, 8, p)
	d.Panels = g.panels
	return d
}

// alertState is the newest state of each alert (rule × enterprise ×
// subject) from the state changes of the last year, whatever the
// dashboard's range: an alert firing for weeks has its last change long
// before the range starts.
const alertState = `from(bucket: v.defaultBucket)
  |> range(start: -1y, stop: v.timeRangeStop)
` + alertFields + `  |> group(columns: ["rule", "enterprise", "subject"])
  |> sort(columns: ["_time"])
  |> last(column: "_time")
  |> group()
`

func alerts() *Dashboard {
	d := base("alerts.json", "parkcarbon-alerts", "Alerts",
		"Overconsumption and data alerts: what fires now, and every state change (the alert measurement written by the collector's alert rules).",
		"now-7d", "1m")
	d.Annotations.List = append(d.Annotations.List, Annotation{Name: "Alerts fired", Datasource: influx(), Enable: true,
		IconColor: "red", Target: &Target{RefID: "Anno", Query: from + alertFields +
			`  |> filter(fn: (r) => r.state == "firing")
  |> group()
  |> map(fn: (r) => ({_time: r._time, title: r.rule, text: r.enterprise + ": " + r.message, tags: r.severity + "," + r.enterprise + "," + r.rule}))
`}})
	g := &grid{}
	p := stat("Alerts firing", "Alerts whose newest state change is to firing.", unitCount, 0,
		alertState+`  |> filter(fn: (r) => r.state == "firing")
  |> map(fn: (r) => ({_value: 1}))
  |> sum()
`)
	p.FieldConfig.Defaults.NoValue = "0"
	p.FieldConfig.Defaults.Thresholds = steps("green", 1, "red")
	p.FieldConfig.Defaults.Color = map[string]any{"mode": "thresholds"}
	p.Options["colorMode"] = "background"
	g.add(4, 8, p)
	g.add(20, 8, table("Firing now", "Alerts whose newest state change is to firing, with the numbers that justify them.", "Firing for",
		alertState+`  |> filter(fn: (r) => r.state == "firing")
  |> map(fn: (r) => ({since: r._time, firing_s: float(v: uint(v: now()) - uint(v: r._time)) / 1000000000.0,
      enterprise: r.enterprise, rule: r.rule, subject: r.subject, severity: r.severity, value: r.value, limit: r.limit, message: r.message}))
  |> sort(columns: ["firing_s"], desc: true)
`,
		num("since", "Since", "dateTimeAsIso", -1), num("firing_s", "Firing for", unitSeconds, 0),
		text("enterprise", "Enterprise", enterpriseLink()), text("rule", "Rule"), text("subject", "Meter or gateway"),
		text("severity", "Severity", append(colored(steps("text")), prop("mappings", severityMappings()))...),
		num("value", "Value", unitNone, 2), num("limit", "Limit", unitNone, 2), text("message", "Message")))
	g.add(12, 9, timeseries("Alerts fired", "Alerts that started firing per window, by severity.", unitCount, true,
		from+`  |> filter(fn: (r) => r._measurement == "alert" and r._field == "value" and r.state == "firing")
  |> group(columns: ["severity"])
  |> aggregateWindow(every: v.windowPeriod, fn: count, createEmpty: false)
  |> map(fn: (r) => ({_time: r._time, severity: r.severity, fired: r._value}))
`))
	g.panels[len(g.panels)-1].FieldConfig.Defaults.DisplayName = "${__field.labels.severity}"
	g.add(12, 9, table("State changes", "Every alert state change in the range, newest first.", "",
		from+alertFields+`  |> group()
  |> keep(columns: ["_time", "enterprise", "rule", "subject", "severity", "state", "value", "limit", "message"])
  |> sort(columns: ["_time"], desc: true)
`,
		num("_time", "Time", "dateTimeAsIso", -1),
		text("enterprise", "Enterprise", enterpriseLink()), text("rule", "Rule"), text("subject", "Meter or gateway"),
		text("severity", "Severity"),
		text("state", "State", append(colored(steps("text")), prop("mappings", stateMappings()))...),
		num("value", "Value", unitNone, 2), num("limit", "Limit", unitNone, 2), text("message", "Message")))

	g.row("Alert engine (Prometheus)")
	g.add(12, 8, promTimeseries("Firing by rule", "Alerts firing, by rule and severity, summed over the collector instances (each evaluates its shard).", unitCount,
		promExpr{"sum by (rule, severity) (parkcarbon_alerts_firing)", "{{rule}} {{severity}}"}))
	g.add(12, 8, promTimeseries("Notifications", "Notifications delivered, failed attempts (retried) and given up, per second, by notifier.", unitPerSec,
		promExpr{"sum by (notifier) (rate(parkcarbon_alert_notifications_total[$__rate_interval]))", "{{notifier}} delivered"},
		promExpr{"sum by (notifier) (rate(parkcarbon_alert_notification_errors_total[$__rate_interval]))", "{{notifier}} failed"},
		promExpr{"sum by (notifier) (rate(parkcarbon_alert_notifications_dropped_total[$__rate_interval]))", "{{notifier}} dropped"},
		promExpr{"sum by (rule) (rate(parkcarbon_alert_evaluation_errors_total[$__rate_interval]))", "{{rule}} evaluation errors"}))
	d.Panels = g.panels
	return d
}

func severityMappings() []Mapping {
	return []Mapping{valueText("critical", "critical", "red", "warning", "warning", "orange", "info", "info", "blue")}
}
