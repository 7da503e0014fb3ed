package edge

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"sync"

	"github.com/parkcarbon/parkcarbon/carbon"
	"github.com/parkcarbon/parkcarbon/internal/wire"
)

// recorder queues a meter's readings, the interval its cumulative total
// closes, any data-quality event and the meter's new counter state in one
// transaction of the disk queue: a crash can neither lose nor double an
// interval. Buses and sensor subscriptions share it.
type recorder struct {
	store  committer
	stored map[string][]byte // counter states as loaded at start
	log    *slog.Logger
	m      *metrics

	mu     sync.Mutex
	meters map[string]*meterState
}

// committer is the part of the disk queue the recorder needs.
type committer interface {
	Commit(records [][]byte, state map[string][]byte) error
}

func newRecorder(store committer, stored map[string][]byte, log *slog.Logger, m *metrics) *recorder {
	return &recorder{store: store, stored: stored, log: log, m: m, meters: map[string]*meterState{}}
}

// meter returns a meter's state, loading it from the store on first use.
func (rc *recorder) meter(id string, spec carbon.CounterSpec) *meterState {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	st := rc.meters[id]
	if st == nil {
		st = &meterState{spec: spec}
		if raw, ok := rc.stored[stateKey(id)]; ok {
			if err := st.unmarshal(raw); err != nil {
				// A damaged state costs one interval, not the agent.
				rc.log.Warn("meter state unreadable; starting a new baseline", "meter", id, "err", err)
			}
		}
		rc.meters[id] = st
	}
	return st
}

// record queues readings of one meter. cum is the meter's cumulative
// quantity; swap, if set, is a declared meter replacement.
func (rc *recorder) record(meter string, spec carbon.CounterSpec, cum string, swap *SwapConfig, readings []wire.Reading) error {
	st := rc.meter(meter, spec)
	st.mu.Lock()
	defer st.mu.Unlock()
	before := st.snapshot()
	var state map[string][]byte
	recs := make([][]byte, 0, len(readings)+1)
	for i := range readings {
		r := &readings[i]
		if math.IsNaN(r.Value) || math.IsInf(r.Value, 0) {
			rc.m.invalid.Inc()
			continue
		}
		var ev *wire.Event
		if r.Quantity == cum {
			ev = st.observe(r, swap)
			raw, err := st.marshal()
			if err != nil {
				return err
			}
			state = map[string][]byte{stateKey(meter): raw}
		}
		rec, err := json.Marshal(record{R: r})
		if err != nil {
			return fmt.Errorf("encode reading of %s: %w", meter, err)
		}
		recs = append(recs, rec)
		if ev != nil {
			rc.m.events.WithLabelValues(ev.Kind).Inc()
			if ev.Kind != "gap" {
				rc.log.Warn("counter event", "meter", meter, "kind", ev.Kind, "message", ev.Message)
			}
			rec, err := json.Marshal(record{E: ev})
			if err != nil {
				return fmt.Errorf("encode event of %s: %w", meter, err)
			}
			recs = append(recs, rec)
		}
	}
	if len(recs) == 0 {
		return nil
	}
	if err := rc.store.Commit(recs, state); err != nil {
		// The disk is failing: these readings are lost as a whole, and the
		// counter goes back to what the store holds, so the next interval
		// spans them.
		st.restore(before)
		return err
	}
	rc.m.readings.Add(float64(len(readings)))
	return nil
}

// event queues a data-quality event on its own.
func (rc *recorder) event(ev wire.Event) error {
	rec, err := json.Marshal(record{E: &ev})
	if err != nil {
		return fmt.Errorf("encode event of %s: %w", ev.Meter, err)
	}
	rc.m.events.WithLabelValues(ev.Kind).Inc()
	return rc.store.Commit([][]byte{rec}, nil)
}
