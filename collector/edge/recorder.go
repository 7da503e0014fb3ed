package edge

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/parkcarbon/parkcarbon/carbon"
	"github.com/parkcarbon/parkcarbon/internal/queue"
	"github.com/parkcarbon/parkcarbon/internal/wire"
)

// recorder queues a meter's readings, the interval its cumulative total
// closes, any data-quality event and the meter's new counter state in one
// transaction of the disk queue: a crash can neither lose nor double an
// interval. Buses and sensor subscriptions share it.
//
// Commits are grouped: a poll hands its record and the meter's new state to
// the pending group and returns at once (a bus has no time to wait for a
// disk), and the committer writes each group — the records of every poll in
// it and each of its meters' newest state — in one transaction, once per
// window. A crash before a group is committed loses its readings and its
// meters' state advances together: the next sample's interval spans them,
// so still nothing is lost or counted twice. A commit that fails (a failing
// disk) takes every meter of the group back to its last committed state,
// and drops the meter's polls queued since, which were computed from the
// lost state; the next interval spans them too.
type recorder struct {
	store  committer
	stored map[string][]byte // counter states as loaded at start
	log    *slog.Logger
	m      *metrics

	window     time.Duration // longest a poll waits for its commit
	maxRecords int           // a group this large is committed at once
	maxPending int           // a poll waits for room beyond this (a stalled disk)

	mu     sync.Mutex
	meters map[string]*meterState

	gmu      sync.Mutex // guards pending, since and closed; taken after a meterState's mu
	room     *sync.Cond // the pending group was taken, or the recorder closed
	pending  *group
	sizeHint int       // bytes of the last group taken: the next one's first allocation
	since    time.Time // when pending got its first record
	closed   bool
	wake     chan struct{} // pending got its first record, or is full

	// The committer's own.
	spare *group
	recs  [][]byte
	state map[string][]byte
}

// committer is the part of the disk queue the recorder needs: records are
// built with queue.FrameRoom bytes of room before each, so that the queue
// stores them without a copy.
type committer interface {
	CommitFramed(records [][]byte, state map[string][]byte) error
}

// Group commit: a group is written after commitWindow, or at once when it
// holds commitMaxRecords polls. 100 ms adds little to the uplink's linger
// (1 s) and makes a transaction of about 20 polls at 200 polls a second.
const (
	commitWindow     = 100 * time.Millisecond
	commitMaxRecords = 256
	maxPending       = 4 * commitMaxRecords
)

// errStopped: the recorder's committer has stopped (the agent is stopping).
var errStopped = errors.New("recorder stopped")

// group is what one transaction commits.
type group struct {
	buf     []byte // the records, back to back
	entries []groupEntry
	states  map[*meterState]meterSnapshot // each meter's newest state in the group
}

type groupEntry struct {
	st         *meterState // nil: no counter state changed
	start, end int         // the record in buf, queue.FrameRoom bytes of room first
	readings   int
	lost       prometheus.Counter // counts the record if its commit fails; may be nil
}

func newGroup() *group { return &group{states: map[*meterState]meterSnapshot{}} }

func (g *group) reset() {
	g.buf = g.buf[:0]
	if cap(g.buf) > 64<<10 {
		// A second's polls of a big gateway: not worth keeping live between
		// commits (peak RSS); the next is sized by sizeHint instead.
		g.buf = nil
	}
	g.entries = g.entries[:0]
	clear(g.states)
}

// drop removes st's records and state from the group.
func (g *group) drop(st *meterState) {
	kept := g.entries[:0]
	for _, e := range g.entries {
		if e.st == st {
			if e.lost != nil {
				e.lost.Inc()
			}
			continue
		}
		kept = append(kept, e)
	}
	g.entries = kept
	delete(g.states, st)
}

func newRecorder(store committer, stored map[string][]byte, log *slog.Logger, m *metrics) *recorder {
	rc := &recorder{store: store, stored: stored, log: log, m: m,
		window: commitWindow, maxRecords: commitMaxRecords, maxPending: maxPending,
		meters: map[string]*meterState{}, pending: newGroup(), spare: newGroup(),
		wake: make(chan struct{}, 1), state: map[string][]byte{}}
	rc.room = sync.NewCond(&rc.gmu)
	return rc
}

// meter returns a meter's state, loading it from the store on first use.
func (rc *recorder) meter(id string, spec carbon.CounterSpec) *meterState {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	st := rc.meters[id]
	if st == nil {
		st = &meterState{key: stateKey(id), spec: spec}
		if raw, ok := rc.stored[st.key]; ok {
			if err := st.unmarshal(raw); err != nil {
				// A damaged state costs one interval, not the agent.
				rc.log.Warn("meter state unreadable; starting a new baseline", "meter", id, "err", err)
			}
		}
		st.committed = st.snapshot()
		rc.meters[id] = st
	}
	return st
}

// record queues readings of one meter (the slice is not kept). cum is the
// meter's cumulative quantity; swap, if set, is a declared meter
// replacement; lost, if set, counts the poll if its commit fails.
func (rc *recorder) record(meter string, spec carbon.CounterSpec, cum string, swap *SwapConfig, readings []wire.Reading, lost prometheus.Counter) error {
	// Wait for room before taking the meter: the committer takes meters'
	// locks when a commit fails.
	rc.gmu.Lock()
	for len(rc.pending.entries) >= rc.maxPending && !rc.closed {
		rc.room.Wait()
	}
	rc.gmu.Unlock()
	st := rc.meter(meter, spec)
	st.mu.Lock()
	defer st.mu.Unlock()
	before := st.snapshot()
	changed := false
	var evbuf [2]wire.Event
	events, valid := evbuf[:0], 0
	for i := range readings {
		r := &readings[i]
		if !finite(r.Value) {
			rc.m.invalid.Inc()
			continue
		}
		valid++
		if r.Quantity != cum {
			continue
		}
		changed = true
		if ev := st.observe(r, swap); ev != nil {
			rc.m.events.WithLabelValues(ev.Kind).Inc()
			if ev.Kind != "gap" {
				rc.log.Warn("counter event", "meter", meter, "kind", ev.Kind, "message", ev.Message)
			}
			events = append(events, *ev)
		}
	}
	if valid == 0 {
		return nil
	}
	if err := rc.add(st, changed, readings, events, valid, lost); err != nil {
		st.restore(before)
		return err
	}
	return nil
}

// event queues a data-quality event on its own.
func (rc *recorder) event(ev wire.Event) error {
	rc.m.events.WithLabelValues(ev.Kind).Inc()
	return rc.add(nil, false, nil, []wire.Event{ev}, 0, nil)
}

// add appends the records of one poll (one per enterprise, normally one) to
// the pending group, with st's new state if changed.
func (rc *recorder) add(st *meterState, changed bool, readings []wire.Reading, events []wire.Event, nReadings int, lost prometheus.Counter) error {
	rc.gmu.Lock()
	if rc.closed {
		rc.gmu.Unlock()
		return errStopped
	}
	g := rc.pending
	n0 := len(g.entries)
	if g.buf == nil {
		g.buf = make([]byte, 0, rc.sizeHint+rc.sizeHint/8)
	}
	var eb [2]string
	for _, ent := range enterprises(eb[:0], readings, events) {
		start := len(g.buf)
		g.buf = append(g.buf, make([]byte, queue.FrameRoom)...)
		if g.buf = appendPollRecord(g.buf, ent, readings, events); len(g.buf) == start+queue.FrameRoom {
			g.buf = g.buf[:start]
			continue // only non-finite values
		}
		e := groupEntry{st: st, start: start, end: len(g.buf), lost: lost}
		if len(g.entries) == n0 {
			e.readings = nReadings
		}
		g.entries = append(g.entries, e)
	}
	if changed {
		g.states[st] = st.snapshot()
	}
	n := len(g.entries)
	if n0 == 0 {
		rc.since = time.Now()
	}
	rc.gmu.Unlock()
	if n0 == 0 || (n0 < rc.maxRecords && n >= rc.maxRecords) {
		select {
		case rc.wake <- struct{}{}:
		default:
		}
	}
	return nil
}

// enterprises appends to out the distinct enterprises of a poll's elements,
// in order: one, unless a sensor mapping mixes them.
func enterprises(out []string, readings []wire.Reading, events []wire.Event) []string {
	add := func(e string) {
		for _, o := range out {
			if o == e {
				return
			}
		}
		out = append(out, e)
	}
	for i := range readings {
		add(readings[i].Enterprise)
	}
	for i := range events {
		add(events[i].Enterprise)
	}
	return out
}

// run commits pending groups until ctx is done, then commits what is
// pending, refuses further records, and returns.
func (rc *recorder) run(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		rc.gmu.Lock()
		n, since := len(rc.pending.entries), rc.since
		rc.gmu.Unlock()
		switch {
		case n == 0:
			select {
			case <-ctx.Done():
				rc.close()
				return
			case <-rc.wake:
			}
			continue
		case n < rc.maxRecords:
			timer.Reset(time.Until(since.Add(rc.window)))
			select {
			case <-ctx.Done():
				timer.Stop()
				rc.close()
				return
			case <-rc.wake: // full, perhaps: look again
				timer.Stop()
				continue
			case <-timer.C:
			}
		}
		rc.commitPending(false)
	}
}

// close commits what is pending and makes further records fail.
func (rc *recorder) close() { rc.commitPending(true) }

// commitPending takes the pending group and commits it.
func (rc *recorder) commitPending(closing bool) {
	rc.gmu.Lock()
	g := rc.pending
	rc.pending, rc.spare = rc.spare, nil
	rc.sizeHint = len(g.buf)
	if closing {
		rc.closed = true
	}
	rc.room.Broadcast()
	rc.gmu.Unlock()
	if len(g.entries) > 0 {
		rc.commit(g)
	}
	g.reset()
	rc.spare = g
}

// commit writes one group in one transaction.
func (rc *recorder) commit(g *group) {
	recs := rc.recs[:0]
	readings := 0
	for _, e := range g.entries {
		recs = append(recs, g.buf[e.start:e.end])
		readings += e.readings
	}
	rc.recs = recs
	clear(rc.state)
	for st, snap := range g.states {
		raw, err := snap.marshal()
		if err != nil {
			rc.fail(g, err)
			return
		}
		rc.state[st.key] = raw
	}
	if err := rc.store.CommitFramed(recs, rc.state); err != nil {
		rc.fail(g, err)
		return
	}
	for st, snap := range g.states {
		st.committed = snap
	}
	rc.m.readings.Add(float64(readings))
}

// fail handles a group that could not be committed: its polls are lost,
// and each of its meters goes back to its last committed state, with its
// polls queued meanwhile (computed from the lost state) dropped, so that the
// next interval spans them all.
func (rc *recorder) fail(g *group, err error) {
	rc.log.Error("cannot queue readings; their meters go back to their last committed totals",
		"polls", len(g.entries), "meters", len(g.states), "err", err)
	for _, e := range g.entries {
		if e.lost != nil {
			e.lost.Inc()
		}
	}
	for st := range g.states {
		st.mu.Lock()
		rc.gmu.Lock()
		rc.pending.drop(st)
		rc.gmu.Unlock()
		st.restore(st.committed)
		st.mu.Unlock()
	}
}
