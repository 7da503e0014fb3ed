package central

import (
	"strconv"
	"time"

	"github.com/influxdata/influxdb-client-go/v2/api/write"

	"github.com/parkcarbon/parkcarbon/internal/wire"
)

// The reference encoding: the same points as AppendLines, built as the
// client library's write.Point values. Tests compare AppendLines with it
// byte for byte and use it to write test data.

// Points appends the points of one envelope, as AppendLines writes them: a `reading` point per reading
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
		dst = c.splitPoints(dst, r, tags, fields)
	}
	for i := range env.Events {
		ev := &env.Events[i]
		dst = append(dst, write.NewPoint("data_quality",
			map[string]string{"enterprise": ev.Enterprise, "meter": ev.Meter, "kind": ev.Kind},
			map[string]any{"value": ev.Value, "message": ev.Message}, time.UnixMilli(ev.TS)))
	}
	return dst
}

// splitPoints writes, for an interval that crosses hour boundaries, its share
// of each hour as a consumption_split point stamped at the hour's start, in
// proportion to time. The hourly rollup adds them to the intervals that lie
// within the hour. The part tag keeps the pieces of one meter apart: in one
// hour a meter has at most one interval coming in (tail), one going out
// (head), or one spanning it (full).
func (c *Converter) splitPoints(dst []*write.Point, r *wire.Reading, tags map[string]string, whole map[string]any) []*write.Point {
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
		if h == last {
			for _, k := range []string{"amount", "co2_kg", "coal_kgce"} {
				if v, ok := whole[k]; ok {
					fields["interval_"+k] = v
				}
			}
		}
		dst = append(dst, write.NewPoint("consumption_split", ptags, fields, time.UnixMilli(h)))
	}
	return dst
}
