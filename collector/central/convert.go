package central

import (
	"slices"
	"time"

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

// Hour is the rollup period.
const Hour = int64(time.Hour / time.Millisecond)

// hourOf is the start of the hour an instant belongs to, for an interval
// (since, end]: its end instant belongs to the hour before a boundary.
func hourOf(endMs int64) int64 { return (endMs - 1) / Hour * Hour }

// touchedHours appends to into, once each, the hours whose rollup an
// envelope's intervals change, and returns the number of intervals. Most
// envelopes touch one hour: a slice, not a map per message.
func touchedHours(env *wire.Envelope, into []int64) (_ []int64, intervals int) {
	for i := range env.Readings {
		r := &env.Readings[i]
		if r.Delta == nil {
			continue
		}
		intervals++
		for h := hourOf(r.Since + 1); h <= hourOf(r.TS); h += Hour {
			into = addHour(into, h)
		}
	}
	return into, intervals
}

// addHour appends h to hours unless it is there: a set that is nearly
// always one or two long.
func addHour(hours []int64, h int64) []int64 {
	if slices.Contains(hours, h) {
		return hours
	}
	return append(hours, h)
}
