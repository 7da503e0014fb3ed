package board

import (
	"fmt"
	"strings"
)

// The Flux here runs on InfluxDB 2.x (production, docker-compose.yml) and on
// the InfluxDB 1.8.10 of the tests and `make demo` (Flux 0.65): no dict, no
// array.from, no null literal (NaN stands for "not available" and the panels
// map it to N/A), no block bodies inside map(). Grafana replaces
// v.timeRangeStart, v.timeRangeStop, v.windowPeriod and v.defaultBucket (the
// datasource's bucket) before the query leaves it, and ${name} variables
// in the browser.

// registryFlux defines, from the dashboard constant, entry(id) →
// "id|land_mu|tier|rated|daily_kwh_per_mu|name" ("?|0|||0|…" when not
// registered) and part(e, n), the n-th of those.
const registryFlux = `import "strings"

// The registry's facts and each enterprise's daily limit (kWh per mu, from
// alerts.yaml) are the hidden dashboard constant registry
// (";id|land_mu|tier|rated|daily_kwh_per_mu|name;…"), written by
// dashboards/gen. Flux of InfluxDB 1.8 has no dict: hence the string lookup.
registry = "${registry}"
entry = (id) => {
  i = strings.index(v: registry, substr: ";" + id + "|")
  return if i < 0 then "?|0|||0|(not in the registry)" else strings.split(v: strings.substring(v: registry, start: i + 1, end: strings.strlen(v: registry)), t: ";")[0]
}
part = (e, n) => strings.split(v: e, t: "|")[n]
nan = float(v: "NaN")
`

// daysFlux is the length of the panel's time range in days: a period's
// limit is the daily limit × its days, so month-to-date is judged at its pace.
const daysFlux = `days = float(v: uint(v: v.timeRangeStop) - uint(v: v.timeRangeStart)) / 86400000000000.0
`

// classFlux adds class from pct (intensity ÷ limit, in %): A ≤ 60, B ≤ 80,
// C ≤ 100, D above; T when the registry marks the enterprise not rated, "–"
// without land area or limit, "?" when it is not in the registry.
const classFlux = `  |> map(fn: (r) => ({r with class: if part(e: r._e, n: 0) == "?" then "?"
      else if part(e: r._e, n: 3) == "0" then "T"
      else if r.land_mu <= 0.0 or r.limit <= 0.0 then "–"
      else if r.pct <= 60.0 then "A" else if r.pct <= 80.0 then "B" else if r.pct <= 100.0 then "C" else "D"}))
`

// from starts every InfluxDB query.
const from = `from(bucket: v.defaultBucket)
  |> range(start: v.timeRangeStart, stop: v.timeRangeStop)
`

// ofEnterprise filters to the enterprise variable.
const ofEnterprise = ` and r.enterprise == "${enterprise}"`

// hourly filters the hourly rollups: energy "" means every energy; extra is
// appended to the predicate.
func hourly(energy, field, extra string) string {
	pred := `r._measurement == "consumption_hourly" and r._field == "` + field + `"`
	if energy != "" {
		pred += ` and r.energy == "` + energy + `"`
	}
	return from + "  |> filter(fn: (r) => " + pred + extra + ")\n"
}

// total sums one field of the hourly rollups over the range, divided by div
// (1000: kg → t).
func total(energy, field string, div float64, extra string) string {
	q := hourly(energy, field, extra) + "  |> group()\n  |> sum()\n"
	if div != 1 {
		q += fmt.Sprintf("  |> map(fn: (r) => ({r with _value: r._value / %s}))\n", fluxFloat(div))
	}
	return q
}

// byEnergy sums a field per energy over the range (one series per energy).
func byEnergy(field string, div float64, extra string) string {
	q := hourly("", field, extra) + "  |> group(columns: [\"energy\"])\n  |> sum()\n"
	if div != 1 {
		q += fmt.Sprintf("  |> map(fn: (r) => ({r with _value: r._value / %s}))\n", fluxFloat(div))
	}
	return q
}

// trendByEnergy is a field per energy per window (v.windowPeriod, at least
// the panel's interval of 1h).
func trendByEnergy(field string, div float64, extra string) string {
	q := hourly("", field, extra) +
		"  |> group(columns: [\"energy\"])\n  |> aggregateWindow(every: v.windowPeriod, fn: sum, createEmpty: false)\n"
	if div != 1 {
		q += fmt.Sprintf("  |> map(fn: (r) => ({r with _value: r._value / %s}))\n", fluxFloat(div))
	}
	return q
}

// perEnterprise pivots, per enterprise, the electricity (amount), CO2 and
// energy (coal_kgce) over the range into columns kwh, co2_t and tce, and
// looks the enterprise up in the registry (_e).
const perEnterprise = `  |> filter(fn: (r) => r._measurement == "consumption_hourly" and (r._field == "coal_kgce" or r._field == "co2_kg" or (r._field == "amount" and r.energy == "electricity")))
  |> group(columns: ["enterprise", "_field"])
  |> sum()
  |> group()
  |> pivot(rowKey: ["enterprise"], columnKey: ["_field"], valueColumn: "_value")
  |> map(fn: (r) => ({enterprise: r.enterprise, _e: entry(id: r.enterprise),
      kwh: if exists r.amount then r.amount else 0.0,
      co2_t: if exists r.co2_kg then r.co2_kg / 1000.0 else 0.0,
      tce: if exists r.coal_kgce then r.coal_kgce / 1000.0 else 0.0}))
`

// intensityFlux adds name, tier, land_mu, the period's limit (kWh/mu),
// intensity (kWh/mu) and pct (intensity ÷ limit, %) to rows with _e and kwh.
const intensityFlux = `  |> map(fn: (r) => ({r with name: part(e: r._e, n: 5), tier: part(e: r._e, n: 2), land_mu: float(v: part(e: r._e, n: 1)),
      limit: float(v: part(e: r._e, n: 4)) * days}))
  |> map(fn: (r) => ({r with intensity: if r.land_mu > 0.0 then r.kwh / r.land_mu else nan}))
  |> map(fn: (r) => ({r with pct: if r.land_mu > 0.0 and r.limit > 0.0 then 100.0 * r.intensity / r.limit else nan}))
`

// cumulativeReadings filters the readings of the meters' cumulative
// registers (wire.CumulativeQuantity): one series per meter, so that "last
// seen" does not scan every quantity of every meter.
const cumulativeReadings = `  |> filter(fn: (r) => r._measurement == "reading" and r._field == "value" and (r.quantity == "energy_import_total" or r.quantity == "volume_total" or r.quantity == "energy_total")`

// ageFlux adds last_seen (the newest _time) and age_s (seconds since).
const ageFlux = `  |> map(fn: (r) => ({r with last_seen: r._time, age_s: float(v: uint(v: now()) - uint(v: r._time)) / 1000000000.0}))
`

func fluxFloat(f float64) string {
	s := fmt.Sprint(f)
	if !strings.ContainsAny(s, ".eE") {
		s += ".0"
	}
	return s
}
