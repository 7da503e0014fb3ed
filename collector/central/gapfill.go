package central

import (
	"context"
	"fmt"
	"time"

	"github.com/parkcarbon/parkcarbon/internal/wire"
)

// gapFillWindow is how far back the collector looks for a meter's last
// stored total when an agent lost its state.
const gapFillWindow = 7 * 24 * time.Hour

// fillGap books the one interval an edge agent could not: after its store
// was lost, a meter's first sample has no baseline at the edge (a "gap"
// event), but the collector has the meter's last stored total. The interval
// from that total to the new one is written like any other: same points, same
// timestamps, so doing it twice changes nothing.
func (s *Service) fillGap(ctx context.Context, gateway string, ev wire.Event) error {
	q := fmt.Sprintf(`from(bucket: %q)
  |> range(start: %s, stop: %s)
  |> filter(fn: (r) => r._measurement == "reading" and r.meter == %q and r._field == "value")
  |> filter(fn: (r) => r.quantity == "energy_import_total" or r.quantity == "volume_total" or r.quantity == "energy_total")
  |> group() |> last()`,
		s.cfg.InfluxDB.Bucket, fluxTime(ev.TS-gapFillWindow.Milliseconds()), fluxTimeBefore(ev.TS), ev.Meter)
	res, err := s.influx.QueryAPI(s.cfg.InfluxDB.Org).Query(ctx, q)
	if err != nil {
		return fmt.Errorf("last total of %s: %w", ev.Meter, err)
	}
	defer res.Close()
	if !res.Next() {
		return res.Err() // a new meter: nothing before it
	}
	rec := res.Record()
	prev, ok := rec.Value().(float64)
	energy, _ := rec.ValueByKey("energy").(string)
	quantity, _ := rec.ValueByKey("quantity").(string)
	if !ok || ev.Value < prev {
		s.m.gapFills.WithLabelValues("not_fillable").Inc()
		return nil // a reset or swap during the gap: nothing to book
	}
	d := ev.Value - prev
	r := wire.Reading{Meter: ev.Meter, Enterprise: ev.Enterprise, Energy: energy, Quantity: quantity,
		Value: ev.Value, TS: ev.TS, Quality: "good", Delta: &d, Since: rec.Time().UnixMilli()}
	env := &wire.Envelope{V: wire.Version, Gateway: gateway, Readings: []wire.Reading{r}}
	if err := env.Validate(); err != nil {
		return fmt.Errorf("fill gap of %s: %w", ev.Meter, err)
	}
	if err := s.writer.WriteRecord(ctx, string(s.conv.AppendLines(nil, env))); err != nil {
		return fmt.Errorf("fill gap of %s: %w", ev.Meter, err)
	}
	hours, _ := touchedHours(env, nil)
	s.rollups.touch(hours...)
	s.m.gapFills.WithLabelValues("filled").Inc()
	s.log.Info("filled a meter's interval across a lost edge state", "meter", ev.Meter, "since", r.Since, "amount", d)
	return nil
}
