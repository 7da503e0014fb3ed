package alert

import (
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/parkcarbon/parkcarbon/carbon"
)

// windowPeriod is an intensity window at now: whole calendar days in loc,
// ending at the end of today.
func windowPeriod(window string, now time.Time, loc *time.Location) carbon.Period {
	n := now.In(loc)
	y, m, d := n.Date()
	p := carbon.Period{Label: window, End: time.Date(y, m, d+1, 0, 0, 0, 0, loc)}
	switch window {
	case WindowToday:
		p.Start = time.Date(y, m, d, 0, 0, 0, 0, loc)
	case WindowLast30Days:
		p.Start = time.Date(y, m, d-29, 0, 0, 0, 0, loc)
	case WindowYearToDate:
		p.Start = time.Date(y, 1, 1, 0, 0, 0, 0, loc)
	}
	return p
}

// intensityValue is an enterprise's figure for a limit over a period, in the
// limit's unit. Per-day and per-year figures divide by the period's days or
// year fraction (carbon.Period), so today counts as one day and year to date
// is annualized over the days begun. N/A (no land, no output) is !ok.
func intensityValue(limit string, t carbon.Totals, e *carbon.Enterprise, p carbon.Period) (v float64, unit string, ok bool) {
	in := carbon.Intensities(t, e, p)
	var n carbon.Num
	switch limit {
	case LimitDailyKWhPerMu:
		n, unit = in.KWhPerMu, "kWh/mu/day"
		n.V /= float64(p.Days())
	case LimitMonthlyKWhPerMu:
		n, unit = in.KWhPerMu, "kWh/mu/month"
		n.V /= p.YearFraction() * 12
	case LimitKgCO2PerMuYear:
		n, unit = in.KgCO2PerMu, "kgCO2/mu/year"
		n.V /= p.YearFraction()
	case LimitTCO2Per10kCNYOutput:
		n, unit = in.TCO2Per10kCNYOutput, "tCO2/10k CNY"
	}
	if !n.OK || math.IsNaN(n.V) || math.IsInf(n.V, 0) {
		return 0, unit, false
	}
	return n.V, unit, true
}

// overLimit applies a rule's comparison and hysteresis.
func overLimit(r *Rule, value, limit float64) (over, clear bool) {
	return value > limit, value < limit*(1-r.hysteresis)
}

func intensityObservation(r *Rule, e *carbon.Enterprise, t carbon.Totals, p carbon.Period, limit float64) (observation, bool) {
	v, unit, ok := intensityValue(r.Limit, t, e, p)
	if !ok {
		return observation{}, false
	}
	o := observation{rule: r, enterprise: e.ID, value: v, limit: limit, unit: unit,
		labels: map[string]string{"tier": e.Tier, "window": r.Window}}
	o.over, o.clear = overLimit(r, v, limit)
	last := p.End.Add(-time.Nanosecond)
	o.annotations = map[string]string{
		"tier": e.Tier, "window": r.Window,
		"window_start": p.Start.Format(time.DateOnly), "window_end": last.Format(time.DateOnly),
		"land_area_mu":    formatNum(e.LandAreaMu),
		"electricity_kwh": formatNum(t.ElectricityKWh), "co2_kg": formatNum(t.CO2kg), "coal_kgce": formatNum(t.CoalKgce),
		"summary": fmt.Sprintf("%s %s: %s %s over %s, tier %s limit %s (%+.1f %%)",
			e.ID, r.Name, formatNum(v), unit, windowText(r.Window), e.Tier, formatNum(limit), 100*(v/limit-1)),
		"description": fmt.Sprintf("%s (%s, tier %s) used %s kWh, %s kgCO2 and %s kgce from %s to %s on %s mu: %s %s, against the limit %s %s.",
			e.Name, e.ID, e.Tier, formatNum(t.ElectricityKWh), formatNum(t.CO2kg), formatNum(t.CoalKgce),
			p.Start.Format(time.DateOnly), last.Format(time.DateOnly), formatNum(e.LandAreaMu), formatNum(v), unit, formatNum(limit), unit),
	}
	if r.Limit == LimitTCO2Per10kCNYOutput {
		o.annotations["output_value_cny_per_year"] = formatNum(e.OutputValueCNY)
	}
	return o, true
}

func windowText(w string) string {
	switch w {
	case WindowToday:
		return "today"
	case WindowLast30Days:
		return "the last 30 days"
	}
	return "the year to date, annualized"
}

// liveValue is the latest reading of one quantity of one meter.
type liveValue struct {
	Enterprise, Meter, Energy, Quantity, Unit string
	Value                                     float64
	TS                                        int64 // epoch ms
}

type liveKey struct{ enterprise, meter, energy, quantity string }

// liveObservation sums (or takes the largest of) the fresh latest values of
// the rule's quantity over the enterprise's meters (values holds that
// enterprise's). No fresh value: !ok.
func liveObservation(r *Rule, enterprise string, values map[liveKey]*liveValue, limit float64, now time.Time) (observation, bool) {
	fresh := now.Add(-r.MaxAge).UnixMilli()
	var (
		v      float64
		n      int
		unit   string
		newest int64
		meters []string
	)
	for k, lv := range values {
		if k.quantity != r.Quantity || k.energy != r.Energy || lv.TS < fresh {
			continue
		}
		if len(r.Meters) > 0 && !slices.Contains(r.Meters, k.meter) {
			continue
		}
		if r.Aggregate == "max" {
			if n == 0 || lv.Value > v {
				v = lv.Value
			}
		} else {
			v += lv.Value
		}
		n++
		unit = lv.Unit
		newest = max(newest, lv.TS)
		meters = append(meters, k.meter)
	}
	if n == 0 {
		return observation{}, false
	}
	slices.Sort(meters)
	o := observation{rule: r, enterprise: enterprise, value: v, limit: limit, unit: unit,
		labels: map[string]string{"quantity": r.Quantity}}
	o.over, o.clear = overLimit(r, v, limit)
	o.annotations = map[string]string{
		"meters": fmt.Sprint(meters), "aggregate": r.Aggregate,
		"reading_at": time.UnixMilli(newest).UTC().Format(time.RFC3339),
		"summary": fmt.Sprintf("%s %s: %s %s %s, limit %s (%+.1f %%)", enterprise, r.Name, r.Quantity,
			formatNum(v), unit, formatNum(limit), 100*(v/limit-1)),
		"description": fmt.Sprintf("%s of %s's meters %v (%s) is %s %s, over %s %s for at least %v.",
			r.Quantity, enterprise, meters, r.Aggregate, formatNum(v), unit, formatNum(limit), unit, r.forDur),
	}
	return o, true
}

// meterTrack is what the stream tells about one meter: when it last
// reported (reading time) and the recent gaps between its samples.
type meterTrack struct {
	Enterprise string  `json:"enterprise"`
	Meter      string  `json:"meter"`
	Gateway    string  `json:"gateway"`
	Last       int64   `json:"last"` // epoch ms of the newest reading
	Gaps       []int64 `json:"gaps"` // ms, the last maxGaps
}

// maxGaps keeps the median robust to a lost sample or two.
const maxGaps = 15

func (m *meterTrack) see(ts int64) {
	if ts <= m.Last {
		return // the same poll's other quantities, or a replay
	}
	if m.Last > 0 {
		m.Gaps = append(m.Gaps, ts-m.Last)
		if len(m.Gaps) > maxGaps {
			m.Gaps = m.Gaps[len(m.Gaps)-maxGaps:]
		}
	}
	m.Last = ts
}

// interval is the median gap, or 0 before three gaps are known.
func (m *meterTrack) interval() time.Duration {
	if len(m.Gaps) < 3 {
		return 0
	}
	g := slices.Clone(m.Gaps)
	slices.Sort(g)
	return time.Duration(g[len(g)/2]) * time.Millisecond
}

// silenceObservation: the subject has been silent since last (or since the
// engine started, whichever is later: a restart must not look like silence).
func silenceObservation(r *Rule, enterprise, subject string, last int64, interval time.Duration, started, now time.Time) (observation, bool) {
	if r.Interval > 0 {
		interval = r.Interval
	}
	if interval <= 0 {
		return observation{}, false // not enough samples to know the meter's pace
	}
	since := time.UnixMilli(last)
	silent := now.Sub(since)
	if s := now.Sub(started); s < silent {
		silent = s
	}
	limit := time.Duration(r.Intervals * float64(interval))
	o := observation{rule: r, enterprise: enterprise, subject: subject, value: silent.Seconds(), limit: limit.Seconds(), unit: "s",
		over: silent > limit, clear: silent <= limit, labels: map[string]string{r.Target: subject}}
	o.annotations = map[string]string{
		"last_seen": since.UTC().Format(time.RFC3339), "interval": interval.String(),
		"summary": fmt.Sprintf("%s %s %s silent for %v (%v intervals of %v)", enterprise, r.Target, subject,
			silent.Round(time.Second), r.Intervals, interval),
		"description": fmt.Sprintf("%s %s of %s last reported at %s; it reports every %v, and %v of silence is %v of its intervals.",
			r.Target, subject, enterprise, since.UTC().Format(time.RFC3339), interval, silent.Round(time.Second), r.Intervals),
	}
	return o, true
}

// eventTrack counts one meter's data-quality events for one rule.
type eventTrack struct {
	Rule       string   `json:"rule"`
	Enterprise string   `json:"enterprise"`
	Meter      string   `json:"meter"`
	TS         []int64  `json:"ts"` // epoch ms, the events within the rule's window
	Kinds      []string `json:"kinds"`
	LastMsg    string   `json:"last_message,omitempty"`
}

// maxEvents bounds a track: a meter spewing events still costs little.
const maxEvents = 1000

func (t *eventTrack) prune(from int64) {
	i := 0
	for i < len(t.TS) && t.TS[i] < from {
		i++
	}
	t.TS, t.Kinds = t.TS[i:], t.Kinds[i:]
}

func qualityObservation(r *Rule, t *eventTrack, now time.Time) observation {
	t.prune(now.Add(-r.Within).UnixMilli())
	n := len(t.TS)
	o := observation{rule: r, enterprise: t.Enterprise, subject: t.Meter, value: float64(n), limit: float64(r.MinCount),
		unit: "events", over: n >= r.MinCount, clear: n < r.MinCount, labels: map[string]string{"meter": t.Meter}}
	counts := map[string]int{}
	for _, k := range t.Kinds {
		counts[k]++
	}
	o.annotations = map[string]string{
		"summary": fmt.Sprintf("%s meter %s: %d data-quality events in %v %v", t.Enterprise, t.Meter, n, r.Within, counts),
		"description": fmt.Sprintf("Meter %s of %s reported %d events of kinds %v within %v (alert from %d); last: %s",
			t.Meter, t.Enterprise, n, r.Events, r.Within, r.MinCount, t.LastMsg),
	}
	return o
}
