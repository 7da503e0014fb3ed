package edge

import (
	"context"
	"errors"
	"log/slog"
	"slices"
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
	maxRecords int           // a group of this many polls is committed at once
	maxPending int           // a poll waits for room beyond this (a stalled disk)
	maxItems   int           // readings and events of one record at most: the uplink's batch_size

	mu     sync.Mutex
	meters map[string]*meterState

	gmu      sync.Mutex // guards pending, since, closed, segHints, free and kept; taken after a meterState's mu
	room     *sync.Cond // the pending group was taken, or the recorder closed
	pending  *group
	segHints map[string]int // readings bytes of each enterprise's last record: its next one's first allocation
	free     []*segment     // committed records, their buffers for the next (keepBytes in all)
	kept     int            // the capacity of free's buffers
	since    time.Time      // when pending got its first record
	closed   bool
	wake     chan struct{} // pending got its first record, or is full

	// The committer's own.
	spare *group
	recs  [][]byte
	head  []byte
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

// group is what one transaction commits: the elements of its polls gathered
// into one record per enterprise (a new one when one holds maxItems), and
// each of its meters' newest state. Fewer, larger records: a second's polls
// of a big gateway make ten bbolt keys rather than two hundred, to write,
// read back and delete.
type group struct {
	entries []groupEntry
	segs    []*segment                    // the records, in the order of their first polls
	open    map[string]*segment           // each enterprise's record still taking polls
	states  map[*meterState]meterSnapshot // each meter's newest state in the group
}

// segment is one record being built: room for its frame and head, then its
// readings; its events (rare) are kept apart until the record is sealed.
type segment struct {
	ent    string
	buf    []byte
	room   int // bytes before the readings
	events []byte
	nr, ne int
	ts     int64 // the oldest of its polls' times
	sealed bool  // events appended, head written: taken for a commit
	dirty  bool  // a poll of it was dropped: to be rebuilt
}

// groupEntry is one poll's part of one record (a poll of readings of two
// enterprises has two).
type groupEntry struct {
	st       *meterState // nil: no counter state changed
	seg      *segment
	rs, re   int // its readings' runs in seg.buf
	es, ee   int // its events in seg.events
	nr, ne   int
	ts       int64
	readings int                // readings of the poll, on its first entry (metrics)
	lost     prometheus.Counter // counts the poll if its commit fails; may be nil
}

func newGroup() *group {
	return &group{open: map[string]*segment{}, states: map[*meterState]meterSnapshot{}}
}

func (g *group) reset() {
	clear(g.segs)
	g.segs = g.segs[:0]
	clear(g.open)
	clear(g.entries)
	g.entries = g.entries[:0]
	clear(g.states)
}

// keepBytes bounds the buffers of committed records the recorder keeps for
// the next groups. The records were half of the agent's allocation (and GC
// a fifth of its CPU), and polls come in bursts at the top of each interval:
// 200 meters × 20 registers make ten records of ~70 kB a second. A burst's
// surplus beyond that (a backlog of sensor messages) is let go.
const keepBytes = 1 << 20

// segment returns an empty segment for ent, on a kept buffer of room for
// hint bytes of readings if there is one, else on a new one. gmu is held.
func (rc *recorder) segment(ent string, hint int) *segment {
	room := queue.FrameRoom + recordHeadMax(len(ent))
	for i := len(rc.free) - 1; i >= 0; i-- {
		seg := rc.free[i]
		if cap(seg.buf) < room+hint {
			continue
		}
		rc.free = slices.Delete(rc.free, i, i+1)
		rc.kept -= cap(seg.buf) + cap(seg.events)
		// The room is not cleared: record writes the head over it.
		*seg = segment{ent: ent, room: room, buf: seg.buf[:room], events: seg.events[:0]}
		return seg
	}
	return &segment{ent: ent, room: room, buf: make([]byte, room, room+hint)}
}

// keep takes committed records' buffers back for later segments. gmu is
// held.
func (rc *recorder) keep(segs []*segment) {
	for _, seg := range segs {
		if n := cap(seg.buf) + cap(seg.events); rc.kept+n <= keepBytes {
			rc.kept += n
			rc.free = append(rc.free, seg)
		}
	}
}

// add appends a poll's readings and events of its enterprise to the
// segment, and returns its entry (without st, readings and lost).
func (s *segment) add(readings []wire.Reading, events []wire.Event, nr, ne int, ts int64) groupEntry {
	e := groupEntry{seg: s, nr: nr, ne: ne, ts: ts}
	if nr > 0 {
		e.rs = len(s.buf)
		s.buf = appendReadingsOf(s.buf, s.ent, readings)
		e.re = len(s.buf)
	}
	if ne > 0 {
		if s.ne > 0 {
			s.events = append(s.events, ',')
		}
		e.es = len(s.events)
		s.events = appendEventsOf(s.events, false, s.ent, events)
		e.ee = len(s.events)
	}
	if s.nr+s.ne == 0 || ts < s.ts {
		s.ts = ts
	}
	s.nr += nr
	s.ne += ne
	return e
}

// record seals the segment and returns its record, with queue.FrameRoom
// bytes of room first; head is scratch.
func (s *segment) record(head []byte) ([]byte, []byte) {
	head = appendRecordHead(head[:0], s.ent, s.nr, s.ne, s.ts, len(s.buf)-s.room)
	at := s.room - len(head)
	if !s.sealed {
		copy(s.buf[at:], head)
		// Appended to the whole buffer: offsets stay valid if it moves.
		s.buf = append(s.buf, s.events...)
		s.sealed = true
	}
	return s.buf[at-queue.FrameRoom:], head
}

// rebuild lays the segment out again from the entries that are left in it.
func (s *segment) rebuild(entries []groupEntry) {
	buf, events := s.buf, s.events
	s.buf, s.events = append(make([]byte, 0, len(buf)), buf[:s.room]...), nil
	s.nr, s.ne, s.dirty = 0, 0, false
	for i := range entries {
		e := &entries[i]
		if e.seg != s {
			continue
		}
		if e.nr > 0 {
			at := len(s.buf)
			s.buf = append(s.buf, buf[e.rs:e.re]...)
			e.rs, e.re = at, len(s.buf)
		}
		if e.ne > 0 {
			if s.ne > 0 {
				s.events = append(s.events, ',')
			}
			at := len(s.events)
			s.events = append(s.events, events[e.es:e.ee]...)
			e.es, e.ee = at, len(s.events)
		}
		if s.nr+s.ne == 0 || e.ts < s.ts {
			s.ts = e.ts
		}
		s.nr += e.nr
		s.ne += e.ne
	}
}

// drop removes st's polls and state from the group.
func (g *group) drop(st *meterState) {
	kept := g.entries[:0]
	for _, e := range g.entries {
		if e.st == st {
			if e.lost != nil {
				e.lost.Inc()
			}
			e.seg.dirty = true
			continue
		}
		kept = append(kept, e)
	}
	clear(g.entries[len(kept):])
	g.entries = kept
	delete(g.states, st)
	segs := g.segs[:0]
	for _, seg := range g.segs {
		if seg.dirty {
			seg.rebuild(g.entries)
		}
		if seg.nr+seg.ne > 0 {
			segs = append(segs, seg)
		} else if g.open[seg.ent] == seg {
			delete(g.open, seg.ent)
		}
	}
	clear(g.segs[len(segs):])
	g.segs = segs
}

// records seals the group's records and appends them to recs.
func (g *group) records(recs [][]byte, head []byte) ([][]byte, []byte) {
	for _, seg := range g.segs {
		var rec []byte
		rec, head = seg.record(head)
		recs = append(recs, rec)
	}
	clear(g.open) // sealed: no poll may join them
	return recs, head
}

func newRecorder(store committer, stored map[string][]byte, log *slog.Logger, m *metrics) *recorder {
	rc := &recorder{store: store, stored: stored, log: log, m: m,
		window: commitWindow, maxRecords: commitMaxRecords, maxPending: maxPending, maxItems: defaultBatchSize,
		meters: map[string]*meterState{}, pending: newGroup(), spare: newGroup(),
		wake: make(chan struct{}, 1), state: map[string][]byte{}, segHints: map[string]int{}}
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
	var eb [2]string
	for _, ent := range enterprises(eb[:0], readings, events) {
		nr, ne, ts := countOf(ent, readings, events)
		if nr+ne == 0 {
			continue // only non-finite values
		}
		seg := g.open[ent]
		if seg == nil || (seg.nr+seg.ne > 0 && seg.nr+seg.ne+nr+ne > rc.maxItems) {
			// A record holds at most an envelope's worth.
			seg = rc.segment(ent, rc.segHints[ent])
			g.open[ent] = seg
			g.segs = append(g.segs, seg)
		}
		e := seg.add(readings, events, nr, ne, ts)
		e.st, e.lost = st, lost
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
	if len(rc.segHints) > 1000 {
		clear(rc.segHints) // enterprises come and go (sensor topics): stay bounded
	}
	// Per enterprise, its biggest record of the group: a gateway's small
	// enterprises must not each get the room of its biggest, and a part-full
	// last record must not make the next full ones grow.
	for _, seg := range g.segs {
		delete(rc.segHints, seg.ent)
	}
	for _, seg := range g.segs {
		rc.segHints[seg.ent] = max(rc.segHints[seg.ent], len(seg.buf)-seg.room)
	}
	if closing {
		rc.closed = true
	}
	rc.room.Broadcast()
	rc.gmu.Unlock()
	if len(g.entries) > 0 {
		rc.commit(g)
	}
	// The store has copied the records (or failed): their buffers are free.
	rc.gmu.Lock()
	rc.keep(g.segs)
	rc.gmu.Unlock()
	g.reset()
	rc.spare = g
}

// commit writes one group in one transaction.
func (rc *recorder) commit(g *group) {
	recs, head := g.records(rc.recs[:0], rc.head)
	rc.recs, rc.head = recs, head
	readings := 0
	for _, e := range g.entries {
		readings += e.readings
	}
	clear(rc.state)
	for st, snap := range g.states {
		raw, err := snap.marshal()
		if err != nil {
			rc.fail(g, err)
			return
		}
		rc.state[st.key] = raw
	}
	err := rc.store.CommitFramed(recs, rc.state)
	clear(rc.recs) // the records are the group's, not kept past the commit
	if err != nil {
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
