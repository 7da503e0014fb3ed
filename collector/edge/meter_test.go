package edge

import (
	"testing"

	"github.com/parkcarbon/parkcarbon/internal/wire"
)

func TestMeterStateDeltas(t *testing.T) {
	s := newMeterState()
	type step struct {
		ts    int64
		value float64
		delta float64 // -1: no interval
		since int64
	}
	steps := []step{
		{1000, 100, -1, 0}, // first sample: no baseline
		{2000, 100.5, 0.5, 1000},
		{3000, 100.5, 0, 2000}, // idle meter: a zero interval
		{3000, 101, -1, 0},     // duplicate ts: ignored
		{2500, 101, -1, 0},     // out of order: ignored
		{4000, 102.25, 1.75, 3000},
		{5000, 3, -1, 0}, // drop: new baseline, no interval
		{6000, 4, 1, 5000},
	}
	for i, st := range steps {
		r := wire.Reading{Meter: "m1", TS: st.ts, Value: st.value}
		s.observe(&r)
		switch {
		case st.delta < 0 && r.Delta != nil:
			t.Errorf("step %d: unexpected delta %v", i, *r.Delta)
		case st.delta >= 0 && (r.Delta == nil || *r.Delta != st.delta || r.Since != st.since):
			t.Errorf("step %d: got %+v, want delta %v since %d", i, r, st.delta, st.since)
		}
	}
}
