package central

import (
	"strconv"
	"time"

	"github.com/influxdata/influxdb-client-go/v2/api/write"

	"github.com/parkcarbon/parkcarbon/carbon"
	"github.com/parkcarbon/parkcarbon/internal/wire"
)

// Converter turns an envelope into InfluxDB points. It is stateless per
// message, so any number of collectors can share a subscription and a replay
// rewrites the same points (same series, same timestamps, same values).
type Converter struct {
	Factors *carbon.Table
	Region  string
	// Overrides are per-enterprise electricity accounting (region, contract
	// factor, green share); nil for none.
	Overrides map[string]*carbon.Override
}

func (c *Converter) convert(r *wire.Reading, amount float64, since, end time.Time) carbon.Result {
	return c.Factors.ConvertFor(r.Energy, c.Region, c.Overrides[r.Enterprise], amount, since, end)
}

// Points appends the points of one envelope: a `reading` point per reading
// and a `consumption` point per interval (DESIGN.md, storage schema).
func (c *Converter) Points(dst []*write.Point, env *wire.Envelope) []*write.Point {
	for i := range env.Readings {
		r := &env.Readings[i]
		ts := time.UnixMilli(r.TS)
		dst = append(dst, write.NewPoint("reading",
			map[string]string{
				"enterprise": r.Enterprise, "gateway": env.Gateway, "meter": r.Meter,
				"energy": r.Energy, "quantity": r.Quantity,
			},
			map[string]any{"value": r.Value}, ts))
		if r.Delta == nil {
			continue
		}
		amount := *r.Delta
		since := time.UnixMilli(r.Since)
		res := c.convert(r, amount, since, ts)
		fields := map[string]any{"amount": amount, "coal_kgce": res.CoalKgce, "duration_s": float64(r.TS-r.Since) / 1000}
		if res.HasFactor {
			fields["co2_kg"] = res.CO2kg
			fields["factor_kg_per_unit"] = res.FactorKgPerUnit
		}
		tags := map[string]string{
			"enterprise": r.Enterprise, "meter": r.Meter, "energy": r.Energy,
			"scope": strconv.Itoa(res.Scope),
		}
		dst = append(dst, write.NewPoint("consumption", tags, fields, ts))
		dst = c.splitPoints(dst, r, tags)
	}
	for i := range env.Events {
		ev := &env.Events[i]
		dst = append(dst, write.NewPoint("data_quality",
			map[string]string{"enterprise": ev.Enterprise, "meter": ev.Meter, "kind": ev.Kind},
			map[string]any{"value": ev.Value, "message": ev.Message}, time.UnixMilli(ev.TS)))
	}
	return dst
}

// Hour is the rollup period.
const Hour = int64(time.Hour / time.Millisecond)

// hourOf is the start of the hour an instant belongs to, for an interval
// (since, end]: its end instant belongs to the hour before a boundary.
func hourOf(endMs int64) int64 { return (endMs - 1) / Hour * Hour }

// splitPoints writes, for an interval that crosses hour boundaries, its share
// of each hour as a consumption_split point stamped at the hour's start, in
// proportion to time. The hourly rollup adds them to the intervals that lie
// within the hour. The part tag keeps the pieces of one meter apart: in one
// hour a meter has at most one interval coming in (tail), one going out
// (head), or one spanning it (full).
func (c *Converter) splitPoints(dst []*write.Point, r *wire.Reading, tags map[string]string) []*write.Point {
	first, last := hourOf(r.Since+1), hourOf(r.TS)
	if first == last {
		return dst
	}
	total := float64(r.TS - r.Since)
	for h := first; h <= last; h += Hour {
		from, to := max(r.Since, h), min(r.TS, h+Hour)
		share := *r.Delta * float64(to-from) / total
		res := c.convert(r, share, time.UnixMilli(from), time.UnixMilli(to))
		part := "full"
		switch {
		case r.Since > h:
			part = "head"
		case r.TS < h+Hour:
			part = "tail"
		}
		ptags := map[string]string{"part": part}
		for k, v := range tags {
			ptags[k] = v
		}
		fields := map[string]any{"amount": share, "coal_kgce": res.CoalKgce}
		if res.HasFactor {
			fields["co2_kg"] = res.CO2kg
		}
		dst = append(dst, write.NewPoint("consumption_split", ptags, fields, time.UnixMilli(h)))
	}
	return dst
}

// touchedHours lists, per enterprise, the hours whose rollup an envelope's
// intervals change, and returns the number of intervals.
func touchedHours(env *wire.Envelope, into map[string]map[int64]struct{}) (intervals int) {
	for i := range env.Readings {
		r := &env.Readings[i]
		if r.Delta == nil {
			continue
		}
		intervals++
		hours := into[r.Enterprise]
		if hours == nil {
			hours = map[int64]struct{}{}
			into[r.Enterprise] = hours
		}
		for h := hourOf(r.Since + 1); h <= hourOf(r.TS); h += Hour {
			hours[h] = struct{}{}
		}
	}
	return intervals
}
