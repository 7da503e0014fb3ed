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
		res := c.Factors.Convert(r.Energy, c.Region, amount, time.UnixMilli(r.Since), ts)
		fields := map[string]any{"amount": amount, "coal_kgce": res.CoalKgce}
		if res.HasFactor {
			fields["co2_kg"] = res.CO2kg
			fields["factor_kg_per_unit"] = res.FactorKgPerUnit
		}
		dst = append(dst, write.NewPoint("consumption",
			map[string]string{
				"enterprise": r.Enterprise, "meter": r.Meter, "energy": r.Energy,
				"scope": strconv.Itoa(res.Scope),
			},
			fields, ts))
	}
	for i := range env.Events {
		ev := &env.Events[i]
		dst = append(dst, write.NewPoint("data_quality",
			map[string]string{"enterprise": ev.Enterprise, "meter": ev.Meter, "kind": ev.Kind},
			map[string]any{"value": ev.Value, "message": ev.Message}, time.UnixMilli(ev.TS)))
	}
	return dst
}
