package alert

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/influxdata/influxdb-client-go/v2/api"

	"github.com/parkcarbon/parkcarbon/carbon"
)

// InfluxSource reads the hourly rollups (consumption_hourly) from InfluxDB.
type InfluxSource struct {
	q      api.QueryAPI
	bucket string
}

// NewInfluxSource reads from bucket (for InfluxDB 1.8: db/rp).
func NewInfluxSource(q api.QueryAPI, bucket string) *InfluxSource {
	return &InfluxSource{q: q, bucket: bucket}
}

// totalsQuery sums each enterprise's energies over [from, to). Rollups are
// stamped at their hour's start, so the range holds exactly the window's
// hours. The stop is put 1 ns before to, an instant no rollup has, because
// InfluxDB 1.8 treats stop as inclusive and 2.x as exclusive
// (influxdata/influxdb#19966). group |> sum is a storage pushdown in 2.x.
func (s *InfluxSource) totalsQuery(from, to time.Time) string {
	return fmt.Sprintf(`from(bucket: %s)
  |> range(start: %s, stop: %s)
  |> filter(fn: (r) => r._measurement == "consumption_hourly")
  |> filter(fn: (r) => r._field == "amount" or r._field == "co2_kg" or r._field == "coal_kgce")
  |> group(columns: ["enterprise", "energy", "_field"])
  |> sum()`, fluxString(s.bucket), from.UTC().Format(time.RFC3339Nano), to.UTC().Add(-time.Nanosecond).Format(time.RFC3339Nano))
}

// Totals returns each enterprise's consumption over [from, to).
func (s *InfluxSource) Totals(ctx context.Context, from, to time.Time) (map[string]carbon.Totals, error) {
	res, err := s.q.Query(ctx, s.totalsQuery(from, to))
	if err != nil {
		return nil, fmt.Errorf("query rollups: %w", err)
	}
	defer res.Close()
	type key struct{ enterprise, energy string }
	sums := map[key]*[3]float64{} // amount, co2_kg, coal_kgce
	for res.Next() {
		rec := res.Record()
		ent, _ := rec.ValueByKey("enterprise").(string)
		energy, _ := rec.ValueByKey("energy").(string)
		if ent == "" || energy == "" {
			continue // a point without the tags is nobody's consumption
		}
		var v float64
		switch x := rec.Value().(type) {
		case float64:
			v = x
		case int64:
			v = float64(x)
		default:
			return nil, fmt.Errorf("query rollups: %s %s %s: value %v (%T) is not a number", ent, energy, rec.Field(), x, x)
		}
		k := key{ent, energy}
		if sums[k] == nil {
			sums[k] = &[3]float64{}
		}
		switch rec.Field() {
		case "amount":
			sums[k][0] += v
		case "co2_kg":
			sums[k][1] += v
		case "coal_kgce":
			sums[k][2] += v
		}
	}
	if err := res.Err(); err != nil {
		return nil, fmt.Errorf("query rollups: %w", err)
	}
	totals := map[string]carbon.Totals{}
	for k, s := range sums {
		t := totals[k.enterprise]
		if err := t.Add(k.energy, s[0], s[1], s[2]); err != nil {
			continue // an energy this version does not know is not counted
		}
		totals[k.enterprise] = t
	}
	return totals, nil
}

// fluxString quotes s as a Flux string literal; Flux interpolates "${",
// which Go's %q would leave live.
func fluxString(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "${", `\${`, "\n", `\n`, "\r", `\r`, "\t", `\t`)
	return `"` + r.Replace(s) + `"`
}
