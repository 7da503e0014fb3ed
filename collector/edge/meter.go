package edge

import (
	"encoding/json"
	"fmt"
	"math"
	"sync"

	"github.com/parkcarbon/parkcarbon/carbon"
	"github.com/parkcarbon/parkcarbon/devices/profile"
	"github.com/parkcarbon/parkcarbon/internal/wire"
)

// stateKey is where a meter's counter state lives in the store.
func stateKey(meter string) string { return "meter/" + meter }

// counterSpec derives what the cumulative register can do from its type:
// an unsigned integer register wraps at 2^bits × scale; floats do not wrap.
func counterSpec(p *profile.Profile, cum string, maxRate float64) carbon.CounterSpec {
	spec := carbon.CounterSpec{MaxRate: maxRate}
	for _, r := range p.Registers {
		if r.Quantity != cum {
			continue
		}
		switch r.Type {
		case "uint16":
			spec.Wrap = 65536 * r.Scale
		case "uint32":
			spec.Wrap = 4294967296 * r.Scale
		case "uint64":
			spec.Wrap = math.Pow(2, 64) * r.Scale
		}
	}
	return spec
}

// meterState is the counter state of one meter plus what the store knows.
type meterState struct {
	key     string     // stateKey of the meter
	mu      sync.Mutex // held while a reading of the meter is recorded
	counter carbon.CounterState
	spec    carbon.CounterSpec
	swapped bool // the declared swap was applied
	// committed is the state the store holds: what the counter goes back to
	// when a commit fails. Only the recorder's committer touches it once the
	// meter is in use.
	committed meterSnapshot
}

type meterSnapshot struct {
	counter carbon.CounterState
	swapped bool
}

func (m *meterState) snapshot() meterSnapshot { return meterSnapshot{m.counter, m.swapped} }
func (m *meterState) restore(s meterSnapshot) { m.counter, m.swapped = s.counter, s.swapped }

// observe turns a sample of the cumulative quantity into its interval and
// any data-quality event.
func (m *meterState) observe(r *wire.Reading, swap *SwapConfig) (ev *wire.Event) {
	newMeter := m.counter.LastTS == 0
	if swap != nil && !m.swapped && r.TS > swap.At.UnixMilli() && m.counter.LastTS < swap.At.UnixMilli() {
		st := m.counter.Rebase(swap.Start, swap.At.UnixMilli())
		m.swapped = true
		ev = &wire.Event{Meter: r.Meter, Enterprise: r.Enterprise, Kind: carbon.EventSwap, Value: swap.Start, Message: st.Message, TS: r.TS}
		newMeter = false
	}
	step := m.counter.Observe(r.Value, r.TS, m.spec)
	if step.HasDelta {
		d := step.Delta
		r.Delta, r.Since = &d, step.Since
	}
	switch {
	case step.Event != "":
		ev = &wire.Event{Meter: r.Meter, Enterprise: r.Enterprise, Kind: step.Event, Value: r.Value, Message: step.Message, TS: r.TS}
	case newMeter:
		// No baseline: a new meter, or the agent's store was lost. The
		// interval before this sample is unknown at the edge.
		ev = &wire.Event{Meter: r.Meter, Enterprise: r.Enterprise, Kind: "gap", Value: r.Value,
			Message: "no previous total for this meter: first sample, or the agent's state was lost", TS: r.TS}
	}
	return ev
}

func (s meterSnapshot) marshal() ([]byte, error) {
	b, err := json.Marshal(struct {
		carbon.CounterState
		Swapped bool `json:"swapped,omitempty"`
	}{s.counter, s.swapped})
	if err != nil {
		return nil, fmt.Errorf("encode meter state: %w", err)
	}
	return b, nil
}

func (m *meterState) unmarshal(b []byte) error {
	var v struct {
		carbon.CounterState
		Swapped bool `json:"swapped,omitempty"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return fmt.Errorf("decode meter state: %w", err)
	}
	m.counter, m.swapped = v.CounterState, v.Swapped
	return nil
}
