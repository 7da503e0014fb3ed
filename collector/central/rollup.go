package central

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/influxdata/influxdb-client-go/v2/api"
	"github.com/influxdata/influxdb-client-go/v2/api/write"
)

// rollups recomputes consumption_hourly for the (enterprise, hour) buckets
// that written batches touched, from what is stored: idempotent under
// replays, late data and several collectors, since every recompute reads the
// same stored points and writes the same point (series + hour).
type rollups struct {
	query    api.QueryAPI
	write    api.WriteAPIBlocking
	bucket   string
	debounce time.Duration
	log      *slog.Logger
	m        *metrics

	mu      sync.Mutex
	pending map[string]map[int64]struct{} // enterprise → hour starts (epoch ms)
	kick    chan struct{}
}

func newRollups(q api.QueryAPI, w api.WriteAPIBlocking, bucket string, log *slog.Logger, m *metrics) *rollups {
	return &rollups{query: q, write: w, bucket: bucket, debounce: time.Second, log: log, m: m,
		pending: map[string]map[int64]struct{}{}, kick: make(chan struct{}, 1)}
}

// touch marks buckets to recompute; call it once their points are stored.
func (r *rollups) touch(t map[string]map[int64]struct{}) {
	if len(t) == 0 {
		return
	}
	r.mu.Lock()
	for ent, hours := range t {
		p := r.pending[ent]
		if p == nil {
			p = map[int64]struct{}{}
			r.pending[ent] = p
		}
		for h := range hours {
			p[h] = struct{}{}
		}
	}
	r.mu.Unlock()
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// run recomputes pending buckets until ctx is done. It waits debounce after
// a kick so that a busy hour is recomputed once per second, not per batch.
// At start it recomputes the recent hours (a collector that stopped or
// crashed between a write and its rollup leaves them stale); when stopping,
// it recomputes what is pending, for at most flushTimeout.
func (r *rollups) run(ctx context.Context) {
	if err := r.touchRecent(ctx, 3); err != nil && ctx.Err() == nil {
		r.log.Warn("cannot list recent enterprises for the hourly rollup", "err", err)
	}
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
		case <-time.After(r.debounce):
		}
		r.runPending(ctx)
	}
}

const flushTimeout = 5 * time.Second

// touchRecent marks the last n hours of every enterprise with consumption in them.
func (r *rollups) touchRecent(ctx context.Context, n int64) error {
	now := time.Now().UnixMilli()
	from := hourOf(now+1) - (n-1)*Hour
	q := fmt.Sprintf(`from(bucket: %q)
  |> range(start: %s)
  |> filter(fn: (r) => r._measurement == "consumption" and r._field == "amount")
  |> keep(columns: ["enterprise"]) |> distinct(column: "enterprise")`, r.bucket, fluxTime(from))
	res, err := r.query.Query(ctx, q)
	if err != nil {
		return err
	}
	defer res.Close()
	touched := map[string]map[int64]struct{}{}
	for res.Next() {
		ent, _ := res.Record().Value().(string)
		if ent == "" {
			continue
		}
		hours := map[int64]struct{}{}
		for h := from; h <= hourOf(now+1); h += Hour {
			hours[h] = struct{}{}
		}
		touched[ent] = hours
	}
	if err := res.Err(); err != nil {
		return err
	}
	r.touch(touched)
	return nil
}

func (r *rollups) runPending(ctx context.Context) {
	r.mu.Lock()
	work := r.pending
	r.pending = map[string]map[int64]struct{}{}
	r.mu.Unlock()
	for ent, hours := range work {
		hs := make([]int64, 0, len(hours))
		for h := range hours {
			hs = append(hs, h)
		}
		slices.Sort(hs)
		if err := r.recompute(ctx, ent, hs); err != nil {
			if ctx.Err() != nil {
				r.log.Warn("hourly rollup not recomputed before stopping", "enterprise", ent, "hours", len(hs))
				continue
			}
			r.m.rollupErrors.Inc()
			r.log.Warn("hourly rollup failed; will retry", "enterprise", ent, "hours", len(hs), "err", err)
			r.touch(map[string]map[int64]struct{}{ent: hours})
			continue
		}
		r.m.rollups.Add(float64(len(hs)))
	}
}

type sums struct{ amount, co2, coal float64 }

type hourKey struct {
	hour          int64
	energy, scope string
}

func fluxTime(ms int64) string { return time.UnixMilli(ms).UTC().Format(time.RFC3339Nano) }

// fluxTimeBefore is half a millisecond before ms: as a range stop it excludes
// a point at ms and keeps one a millisecond earlier whether the stop is
// exclusive (Flux) or inclusive (InfluxDB 1.8, influxdata/influxdb#19966).
func fluxTimeBefore(ms int64) string {
	return time.UnixMilli(ms).Add(-500 * time.Microsecond).UTC().Format(time.RFC3339Nano)
}

// recompute sums, for each hour, the intervals lying within it and the
// shares of those crossing into it (consumption_split), and writes them.
func (r *rollups) recompute(ctx context.Context, enterprise string, hours []int64) error {
	want := map[int64]bool{}
	for _, h := range hours {
		want[h] = true
	}
	first, last := hours[0], hours[len(hours)-1]
	acc := map[hourKey]*sums{}
	add := func(k hourKey, amount, co2, coal float64) {
		s := acc[k]
		if s == nil {
			s = &sums{}
			acc[k] = s
		}
		s.amount += amount
		s.co2 += co2
		s.coal += coal
	}
	// Intervals ending in (first, last+1h]: an end on a boundary belongs to the hour before it.
	q := fmt.Sprintf(`from(bucket: %q)
  |> range(start: %s, stop: %s)
  |> filter(fn: (r) => r._measurement == "consumption" and r.enterprise == %q)
  |> filter(fn: (r) => r._field == "amount" or r._field == "co2_kg" or r._field == "coal_kgce" or r._field == "duration_s")
  |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")`,
		r.bucket, fluxTime(first+1), fluxTimeBefore(last+Hour+1), enterprise)
	if err := r.each(ctx, q, func(t int64, energy, scope string, f map[string]float64) {
		h := hourOf(t)
		since := t - int64(math.Round(f["duration_s"]*1000))
		if want[h] && since >= h {
			add(hourKey{h, energy, scope}, f["amount"], f["co2_kg"], f["coal_kgce"])
		}
	}); err != nil {
		return err
	}
	q = fmt.Sprintf(`from(bucket: %q)
  |> range(start: %s, stop: %s)
  |> filter(fn: (r) => r._measurement == "consumption_split" and r.enterprise == %q)
  |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")`,
		r.bucket, fluxTime(first), fluxTimeBefore(last+1), enterprise)
	if err := r.each(ctx, q, func(t int64, energy, scope string, f map[string]float64) {
		if want[t] {
			add(hourKey{t, energy, scope}, f["amount"], f["co2_kg"], f["coal_kgce"])
		}
	}); err != nil {
		return err
	}
	points := make([]*write.Point, 0, len(acc))
	for k, s := range acc {
		points = append(points, write.NewPoint("consumption_hourly",
			map[string]string{"enterprise": enterprise, "energy": k.energy, "scope": k.scope},
			map[string]any{"amount": s.amount, "co2_kg": s.co2, "coal_kgce": s.coal},
			time.UnixMilli(k.hour)))
	}
	if len(points) == 0 {
		return nil
	}
	if err := r.write.WritePoint(ctx, points...); err != nil {
		return fmt.Errorf("write %d hourly points: %w", len(points), err)
	}
	return nil
}

// each runs a pivoted query and calls fn per row with its numeric fields.
func (r *rollups) each(ctx context.Context, q string, fn func(t int64, energy, scope string, f map[string]float64)) error {
	res, err := r.query.Query(ctx, q)
	if err != nil {
		return fmt.Errorf("query: %w", err)
	}
	defer res.Close()
	f := map[string]float64{}
	for res.Next() {
		rec := res.Record()
		clear(f)
		for k, v := range rec.Values() {
			if x, ok := v.(float64); ok && !strings.HasPrefix(k, "_") {
				f[k] = x
			}
		}
		energy, _ := rec.ValueByKey("energy").(string)
		scope, _ := rec.ValueByKey("scope").(string)
		fn(rec.Time().UnixMilli(), energy, scope, f)
	}
	if err := res.Err(); err != nil {
		return fmt.Errorf("query: %w", err)
	}
	return nil
}
