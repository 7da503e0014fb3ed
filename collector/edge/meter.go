package edge

import "github.com/parkcarbon/parkcarbon/internal/wire"

// lastTotal is the previous sample of a meter's cumulative quantity.
type lastTotal struct {
	value float64
	ts    int64
}

// meterState turns consecutive totals of a meter into interval consumption.
// It is owned by one bus goroutine, so it needs no lock.
type meterState struct {
	last map[string]lastTotal // by meter
}

func newMeterState() *meterState { return &meterState{last: map[string]lastTotal{}} }

// observe sets r.Delta and r.Since from the meter's previous total. The first
// sample of a meter has no interval. A sample not newer than the last one is
// left without an interval and does not move the baseline, so the same
// interval is never counted twice. A drop (reset or meter swap) starts a new
// baseline without an interval: booking it would be a negative or a huge
// spurious delta. Rollover, glitch and reset events come with the carbon
// engine's meter-state work.
func (s *meterState) observe(r *wire.Reading) {
	prev, ok := s.last[r.Meter]
	if ok && r.TS <= prev.ts {
		return
	}
	s.last[r.Meter] = lastTotal{value: r.Value, ts: r.TS}
	if !ok || r.Value < prev.value {
		return
	}
	d := r.Value - prev.value
	r.Delta, r.Since = &d, prev.ts
}
