package central

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/influxdata/influxdb-client-go/v2/api"
	"github.com/influxdata/influxdb-client-go/v2/api/write"
)

// rollups recomputes consumption_hourly for the hours that written batches
// touched, from what is stored: idempotent under replays, late data and
// several collectors, since every recompute sums the same stored points and
// writes the same points (series + hour).
//
// InfluxDB does the sums (two Flux queries per hour, grouped by enterprise,
// energy and scope), so the collector reads a few rows per enterprise, not
// every interval of the hour: at 10,000 readings/s the old way of reading
// each interval back cost the collector half its CPU (BENCHMARKS.md).
type rollups struct {
	query    api.QueryAPI
	write    api.WriteAPIBlocking
	bucket   string
	debounce time.Duration
	// share bounds the time spent recomputing: after a pass that took d the
	// next waits at least d/share, so a busy hour with millions of intervals
	// costs InfluxDB a bounded share of its time, not all of it.
	share float64
	log   *slog.Logger
	m     *metrics

	mu      sync.Mutex
	pending map[int64]struct{} // hour starts, epoch ms
	kick    chan struct{}
}

func newRollups(q api.QueryAPI, w api.WriteAPIBlocking, bucket string, every time.Duration, log *slog.Logger, m *metrics) *rollups {
	return &rollups{query: q, write: w, bucket: bucket, debounce: every, share: 0.2, log: log, m: m,
		pending: map[int64]struct{}{}, kick: make(chan struct{}, 1)}
}

// touch marks hours to recompute; call it once their points are stored.
func (r *rollups) touch(hours ...int64) {
	if len(hours) == 0 {
		return
	}
	r.mu.Lock()
	for _, h := range hours {
		r.pending[h] = struct{}{}
	}
	r.mu.Unlock()
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// run recomputes pending hours until ctx is done. It waits debounce after a
// kick so that a busy hour is recomputed once per debounce, not per batch
// (longer if a pass is slow: see share). At start it recomputes the
// recent hours (a collector that stopped or crashed between a write and its
// rollup leaves them stale); when stopping, it recomputes what is pending,
// for at most flushTimeout.
func (r *rollups) run(ctx context.Context) {
	r.touchRecent(3, time.Now())
	wait := r.debounce
	for {
		select {
		case <-ctx.Done():
			flushCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), flushTimeout)
			r.runPending(flushCtx)
			cancel()
			return
		case <-r.kick:
		}
		select {
		case <-ctx.Done():
			continue // flush on the next turn
		case <-time.After(wait):
		}
		start := time.Now()
		r.runPending(ctx)
		wait = max(r.debounce, time.Duration(float64(time.Since(start))*(1-r.share)/r.share))
	}
}

const flushTimeout = 5 * time.Second

// touchRecent marks the last n hours up to now.
func (r *rollups) touchRecent(n int64, now time.Time) {
	last := hourOf(now.UnixMilli() + 1)
	hours := make([]int64, 0, n)
	for h := last - (n-1)*Hour; h <= last; h += Hour {
		hours = append(hours, h)
	}
	r.touch(hours...)
}

func (r *rollups) runPending(ctx context.Context) {
	r.mu.Lock()
	hours := make([]int64, 0, len(r.pending))
	for h := range r.pending {
		hours = append(hours, h)
	}
	clear(r.pending)
	r.mu.Unlock()
	slices.Sort(hours)
	for i, h := range hours {
		if err := r.recompute(ctx, h); err != nil {
			if ctx.Err() != nil {
				r.log.Warn("hourly rollup not recomputed before stopping", "hours", len(hours)-i)
				return
			}
			r.m.rollupErrors.Inc()
			r.log.Warn("hourly rollup failed; will retry", "hour", time.UnixMilli(h).UTC(), "err", err)
			r.touch(h)
			continue
		}
		r.m.rollups.Inc()
	}
}

type sums struct{ amount, co2, coal float64 }

type bucketKey struct{ enterprise, energy, scope string }

func fluxTime(ms int64) string { return time.UnixMilli(ms).UTC().Format(time.RFC3339Nano) }

// fluxTimeBefore is half a millisecond before ms: as a range stop it excludes
// a point at ms and keeps one a millisecond earlier whether the stop is
// exclusive (Flux) or inclusive (InfluxDB 1.8, influxdata/influxdb#19966).
func fluxTimeBefore(ms int64) string {
	return time.UnixMilli(ms).Add(-500 * time.Microsecond).UTC().Format(time.RFC3339Nano)
}

// recompute writes every enterprise's consumption_hourly of the hour h:
//
//	Σ consumption ending in (h, h+1h]                (an end on a boundary belongs to the hour before it)
//	− Σ interval_* of the consumption_split at h     (those of them that began in an earlier hour)
//	+ Σ consumption_split at h                       (the shares of crossing intervals in this hour)
//
// The split point of an interval's last hour carries the interval's whole
// amounts (interval_amount, interval_co2_kg, interval_coal_kgce) so that
// InfluxDB can do all three sums without the collector reading intervals.
func (r *rollups) recompute(ctx context.Context, h int64) error {
	acc := map[bucketKey]*sums{}
	add := func(k bucketKey, field string, v float64) {
		s := acc[k]
		if s == nil {
			s = &sums{}
			acc[k] = s
		}
		switch field {
		case "amount":
			s.amount += v
		case "co2_kg":
			s.co2 += v
		case "coal_kgce":
			s.coal += v
		case "interval_amount":
			s.amount -= v
		case "interval_co2_kg":
			s.co2 -= v
		case "interval_coal_kgce":
			s.coal -= v
		}
	}
	const sum = `
  |> group(columns: ["enterprise", "energy", "scope", "_field"])
  |> sum()`
	q := fmt.Sprintf(`from(bucket: %q)
  |> range(start: %s, stop: %s)
  |> filter(fn: (r) => r._measurement == "consumption" and (r._field == "amount" or r._field == "co2_kg" or r._field == "coal_kgce"))`+sum,
		r.bucket, fluxTime(h+1), fluxTimeBefore(h+Hour+1))
	if err := r.each(ctx, q, add); err != nil {
		return err
	}
	q = fmt.Sprintf(`from(bucket: %q)
  |> range(start: %s, stop: %s)
  |> filter(fn: (r) => r._measurement == "consumption_split")`+sum,
		r.bucket, fluxTime(h), fluxTimeBefore(h+1))
	if err := r.each(ctx, q, add); err != nil {
		return err
	}
	points := make([]*write.Point, 0, len(acc))
	for k, s := range acc {
		points = append(points, write.NewPoint("consumption_hourly",
			map[string]string{"enterprise": k.enterprise, "energy": k.energy, "scope": k.scope},
			map[string]any{"amount": tidy(s.amount), "co2_kg": tidy(s.co2), "coal_kgce": tidy(s.coal)},
			time.UnixMilli(h)))
	}
	if len(points) == 0 {
		return nil
	}
	if err := r.write.WritePoint(ctx, points...); err != nil {
		return fmt.Errorf("write %d hourly points: %w", len(points), err)
	}
	return nil
}

// tidy turns what the subtraction leaves of nothing (a few ulps either
// side of zero) into zero: an hour of only crossing intervals shows 0, not
// -1e-16.
func tidy(v float64) float64 {
	if v > -1e-9 && v < 1e-9 {
		return 0
	}
	return v
}

// each runs a summing query and calls fn per row.
func (r *rollups) each(ctx context.Context, q string, fn func(k bucketKey, field string, v float64)) error {
	res, err := r.query.Query(ctx, q)
	if err != nil {
		return fmt.Errorf("query: %w", err)
	}
	defer res.Close()
	for res.Next() {
		rec := res.Record()
		v, ok := rec.Value().(float64)
		if !ok {
			continue
		}
		ent, _ := rec.ValueByKey("enterprise").(string)
		energy, _ := rec.ValueByKey("energy").(string)
		scope, _ := rec.ValueByKey("scope").(string)
		fn(bucketKey{ent, energy, scope}, rec.Field(), v)
	}
	if err := res.Err(); err != nil {
		return fmt.Errorf("query: %w", err)
	}
	return nil
}
