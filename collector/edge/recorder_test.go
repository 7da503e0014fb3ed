package edge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/parkcarbon/parkcarbon/carbon"
	"github.com/parkcarbon/parkcarbon/internal/queue"
	"github.com/parkcarbon/parkcarbon/internal/wire"
)

// txStore keeps every transaction the recorder commits, and can hold one
// (gate) or fail them.
type txStore struct {
	mu      sync.Mutex
	txs     []tx
	fail    bool
	entered chan struct{} // if set, signalled when a commit starts…
	gate    chan struct{} // …which then waits for this
}

type tx struct {
	readings []wire.Reading
	events   []wire.Event
	state    map[string]carbon.CounterState
}

func (s *txStore) CommitFramed(records [][]byte, state map[string][]byte) error {
	s.mu.Lock()
	entered, gate, fail := s.entered, s.gate, s.fail
	s.mu.Unlock()
	if entered != nil {
		entered <- struct{}{}
		<-gate
	}
	if fail {
		return errors.New("disk on fire")
	}
	var t tx
	for _, b := range records {
		readings, events, err := decodePollRecord(b[queue.FrameRoom:])
		if err != nil {
			return err
		}
		t.readings = append(t.readings, readings...)
		t.events = append(t.events, events...)
	}
	t.state = map[string]carbon.CounterState{}
	for k, v := range state {
		var cs carbon.CounterState
		if err := json.Unmarshal(v, &cs); err != nil {
			return err
		}
		t.state[k] = cs
	}
	s.mu.Lock()
	s.txs = append(s.txs, t)
	s.mu.Unlock()
	return nil
}

func (s *txStore) committed() []tx {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]tx(nil), s.txs...)
}

func testRecorder(store committer) *recorder {
	return newRecorder(store, nil, slog.New(slog.NewTextHandler(io.Discard, nil)), newMetrics(prometheus.NewRegistry()))
}

// pollOf is one poll of meter: its total and one other quantity.
func pollOf(meter string, ts int64, total float64) []wire.Reading {
	return []wire.Reading{
		{Meter: meter, Enterprise: "ent-1", Energy: wire.Electricity, Quantity: "energy_import_total", Value: total, Unit: "kWh", TS: ts, Quality: "good"},
		{Meter: meter, Enterprise: "ent-1", Energy: wire.Electricity, Quantity: "active_power", Value: 1.5, Unit: "kW", TS: ts, Quality: "good"},
	}
}

var testSpec = carbon.CounterSpec{MaxRate: 1e9}

// Many buses recording at once: every transaction holds, for each meter in
// it, the state its last reading there left, and the committed intervals
// of each meter chain without a gap or an overlap.
func TestGroupCommitKeepsStateWithItsReadings(t *testing.T) {
	store := &txStore{}
	rc := testRecorder(store)
	rc.maxRecords = 7 // groups of various sizes, some full, some by the window
	ctx, stop := context.WithCancel(t.Context())
	var committer, buses sync.WaitGroup
	committer.Go(func() { rc.run(ctx) })
	const meters, polls = 8, 200
	for m := range meters {
		buses.Go(func() {
			meter := fmt.Sprintf("m-%d", m)
			for i := range polls {
				if err := rc.record(meter, testSpec, "energy_import_total", nil, pollOf(meter, int64(1000*(i+1)), float64(100+i)), nil); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	buses.Wait()
	stop() // commits what is pending
	committer.Wait()

	txs := store.committed()
	if len(txs) < 2 {
		t.Fatalf("%d transactions: no grouping to test", len(txs))
	}
	last := map[string]int64{} // each meter's last committed total's ts
	totals := map[string]int{}
	for n, tx := range txs {
		lastInTx := map[string]int64{}
		for _, r := range tx.readings {
			if r.Quantity != "energy_import_total" {
				continue
			}
			totals[r.Meter]++
			if prev, ok := last[r.Meter]; ok && (r.Delta == nil || r.Since != prev || *r.Delta != 1) {
				t.Fatalf("tx %d: %s at %d: delta %v since %d, want 1 since %d", n, r.Meter, r.TS, r.Delta, r.Since, prev)
			}
			last[r.Meter], lastInTx[r.Meter] = r.TS, r.TS
		}
		for meter, ts := range lastInTx {
			if st, ok := tx.state[stateKey(meter)]; !ok || st.LastTS != ts {
				t.Fatalf("tx %d: %s's last reading is at %d, its state in the same tx %+v", n, meter, ts, st)
			}
		}
		if len(tx.state) != len(lastInTx) {
			t.Fatalf("tx %d: states of %d meters, readings of %d", n, len(tx.state), len(lastInTx))
		}
	}
	for m := range meters {
		if n := totals[fmt.Sprintf("m-%d", m)]; n != polls {
			t.Errorf("m-%d: %d polls committed, want %d", m, n, polls)
		}
	}
}

// A poll does not wait for the window: it is handed over and committed
// later, and a stop commits what is pending; records after it are refused.
func TestRecordDoesNotWaitAndStopFlushes(t *testing.T) {
	store := &txStore{}
	rc := testRecorder(store)
	rc.window = time.Hour
	ctx, stop := context.WithCancel(t.Context())
	var committer sync.WaitGroup
	committer.Go(func() { rc.run(ctx) })
	for i := range 10 {
		if err := rc.record("m-1", testSpec, "energy_import_total", nil, pollOf("m-1", int64(1000*(i+1)), float64(i)), nil); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(store.committed()); n != 0 {
		t.Fatalf("%d transactions before the window ended", n)
	}
	stop()
	committer.Wait()
	txs := store.committed()
	if len(txs) != 1 || len(txs[0].readings) != 20 || txs[0].state[stateKey("m-1")].LastTS != 10000 {
		t.Fatalf("after stop: %d transactions, %+v", len(txs), txs)
	}
	if err := rc.record("m-1", testSpec, "energy_import_total", nil, pollOf("m-1", 11000, 11), nil); !errors.Is(err, errStopped) {
		t.Fatalf("record after stop: %v", err)
	}
}

// A failed commit (a failing disk) loses its polls and the state advance
// together, and also the meter's polls recorded while it was being
// written (their intervals start from the lost state): the meter goes back
// to its last committed state and the next interval spans everything lost.
func TestFailedCommitGoesBackToCommittedState(t *testing.T) {
	store := &txStore{}
	rc := testRecorder(store)
	lost := prometheus.NewCounter(prometheus.CounterOpts{Name: "lost"})
	rec := func(ts int64, total float64) {
		t.Helper()
		if err := rc.record("m-1", testSpec, "energy_import_total", nil, pollOf("m-1", ts, total), lost); err != nil {
			t.Fatal(err)
		}
	}
	rec(1000, 100)
	rec(1500, 100.5) // another meter's group may hold several polls of one meter
	rc.commitPending(false)

	rec(2000, 101)
	store.mu.Lock()
	store.fail, store.entered, store.gate = true, make(chan struct{}), make(chan struct{})
	store.mu.Unlock()
	var committing sync.WaitGroup
	committing.Go(func() { rc.commitPending(false) })
	<-store.entered
	rec(3000, 102) // queued while the failing commit is written: from the lost state
	store.mu.Lock()
	store.fail, store.entered = false, nil
	store.mu.Unlock()
	close(store.gate)
	committing.Wait()

	rec(4000, 103)
	rc.commitPending(false)
	txs := store.committed()
	if len(txs) != 2 {
		t.Fatalf("%d transactions, want 2: %+v", len(txs), txs)
	}
	r := txs[1].readings[0]
	if r.TS != 4000 || r.Delta == nil || *r.Delta != 2.5 || r.Since != 1500 || len(txs[1].readings) != 2 {
		t.Fatalf("after the failure: %+v (delta %v), want 2.5 since 1500 alone", r, r.Delta)
	}
	if st := txs[1].state[stateKey("m-1")]; st.LastTS != 4000 || st.Last != 103 {
		t.Fatalf("state %+v", st)
	}
	if n := testutil.ToFloat64(lost); n != 2 {
		t.Fatalf("%v polls counted lost, want 2", n)
	}
}

// The polls of one group make one record per enterprise, in order, a new
// one when a record would go over maxItems (an envelope's worth).
func TestGroupMakesOneRecordPerEnterprise(t *testing.T) {
	rc := testRecorder(&txStore{})
	rc.maxItems = 6 // a meter's first poll is 2 readings and a gap event
	rec := func(meter, ent string, ts int64) {
		t.Helper()
		readings := pollOf(meter, ts, float64(ts))
		for i := range readings {
			readings[i].Enterprise = ent
		}
		if err := rc.record(meter, testSpec, "energy_import_total", nil, readings, nil); err != nil {
			t.Fatal(err)
		}
	}
	rec("m-1", "ent-1", 1000)
	rec("m-2", "ent-2", 1001)
	rec("m-3", "ent-1", 1002)
	rec("m-1", "ent-1", 1003) // 8 elements of ent-1: a second record
	recs, _ := rc.pending.records(nil, nil)
	var got []string
	for _, b := range recs {
		readings, events, err := decodePollRecord(b[queue.FrameRoom:])
		if err != nil {
			t.Fatal(err)
		}
		p, err := parsePollRecord(b[queue.FrameRoom:])
		if err != nil || p.nReadings != len(readings) || p.nEvts != len(events) {
			t.Fatalf("record %+v, %v", p, err)
		}
		s := fmt.Sprintf("%s@%d:", p.enterprise, p.ts)
		for _, r := range readings {
			s += fmt.Sprintf(" %s/%d", r.Meter, r.TS)
		}
		got = append(got, s)
	}
	want := "[ent-1@1000: m-1/1000 m-1/1000 m-3/1002 m-3/1002 ent-2@1001: m-2/1001 m-2/1001 ent-1@1003: m-1/1003 m-1/1003]"
	if fmt.Sprint(got) != want {
		t.Fatalf("records\n%v\nwant\n%v", got, want)
	}
}

// Dropping a meter's polls from a pending group (its earlier commit failed)
// takes its readings and events out of the records they share with other
// meters, and leaves the others' intact.
func TestGroupDropRebuildsSharedRecords(t *testing.T) {
	rc := testRecorder(&txStore{})
	for i, meter := range []string{"m-1", "m-2", "m-1"} {
		if err := rc.record(meter, testSpec, "energy_import_total", nil, pollOf(meter, int64(1000+i), float64(10+i)), nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := rc.event(wire.Event{Meter: "m-2", Enterprise: "ent-1", Kind: "gap", Value: 1, TS: 999}); err != nil {
		t.Fatal(err)
	}
	rc.gmu.Lock()
	rc.pending.drop(rc.meter("m-1", testSpec))
	rc.gmu.Unlock()
	recs, _ := rc.pending.records(nil, nil)
	if len(recs) != 1 {
		t.Fatalf("%d records, want 1", len(recs))
	}
	readings, events, err := decodePollRecord(recs[0][queue.FrameRoom:])
	if err != nil {
		t.Fatal(err)
	}
	p, _ := parsePollRecord(recs[0][queue.FrameRoom:])
	// m-2's events: the gap of its first sample, and the one added.
	if len(readings) != 2 || readings[0].Meter != "m-2" || readings[1].Meter != "m-2" || len(events) != 2 || events[1].Meter != "m-2" || p.ts != 999 {
		t.Fatalf("after the drop: ts %d, %+v, %+v", p.ts, readings, events)
	}
	if len(rc.pending.entries) != 2 {
		t.Fatalf("%d entries left, want m-2's poll and event", len(rc.pending.entries))
	}
	// The group goes on taking polls into the rebuilt record.
	if err := rc.record("m-3", testSpec, "energy_import_total", nil, pollOf("m-3", 1005, 1), nil); err != nil {
		t.Fatal(err)
	}
}

// A record's first allocation is what its enterprise's last record took, so
// that a gateway's small enterprises do not each get its biggest one's room.
func TestRecordSizedPerEnterprise(t *testing.T) {
	rc := testRecorder(&txStore{})
	rec := func(meter, ent string, ts int64) {
		t.Helper()
		readings := pollOf(meter, ts, float64(ts))
		for i := range readings {
			readings[i].Enterprise = ent
		}
		if err := rc.record(meter, testSpec, "energy_import_total", nil, readings, nil); err != nil {
			t.Fatal(err)
		}
	}
	rc.maxItems = 100 // ent-big's 50 first polls of 3 elements: a full record and a part-full one
	for i := range 50 {
		rec(fmt.Sprintf("m-%d", i), "ent-big", 1000)
	}
	rec("m-small", "ent-small", 1000)
	full := rc.pending.segs[0]
	if full.ent != "ent-big" || full.nr+full.ne != 99 {
		t.Fatalf("first record: %s with %d elements", full.ent, full.nr+full.ne)
	}
	fullSize := len(full.buf) - full.room
	rc.commitPending(false)
	rc.free, rc.kept = nil, 0 // new buffers, not the kept ones (TestRecordBuffersKept)
	rec("m-0", "ent-big", 2000)
	rec("m-small", "ent-small", 2000)
	big, small := rc.pending.open["ent-big"], rc.pending.open["ent-small"]
	if cap(big.buf)-big.room < fullSize || cap(small.buf)-small.room >= (cap(big.buf)-big.room)/10 {
		t.Fatalf("first allocations for readings: ent-big %d bytes (its full record took %d), ent-small %d", cap(big.buf)-big.room, fullSize, cap(small.buf)-small.room)
	}
}

// A committed record's buffer is taken again by a later record that fits
// in it: a gateway's records of every window are not new garbage.
func TestRecordBuffersKept(t *testing.T) {
	rc := testRecorder(&txStore{})
	rec := func(meter string, ts int64) {
		t.Helper()
		if err := rc.record(meter, testSpec, "energy_import_total", nil, pollOf(meter, ts, float64(ts)), nil); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 10 {
		rec(fmt.Sprintf("m-%d", i), 1000)
	}
	first := rc.pending.segs[0]
	rc.commitPending(false)
	buf := unsafe.SliceData(first.buf) // sealed: its events appended
	if len(rc.free) != 1 || rc.kept != cap(first.buf)+cap(first.events) {
		t.Fatalf("after the commit: %d kept, %d bytes", len(rc.free), rc.kept)
	}
	rec("m-0", 2000)
	if seg := rc.pending.segs[0]; unsafe.SliceData(seg.buf) != buf || seg.nr != 2 || len(rc.free) != 0 || rc.kept != 0 {
		t.Fatalf("the next record: on a new buffer %v, %d readings, %d kept", unsafe.SliceData(seg.buf) != buf, seg.nr, len(rc.free))
	}
	// Its record is built anew: only the new poll, under its own head.
	recs, _ := rc.pending.records(nil, nil)
	readings, _, err := decodePollRecord(recs[0][queue.FrameRoom:])
	if err != nil || len(readings) != 2 || readings[0].TS != 2000 {
		t.Fatalf("record on the kept buffer: %+v, %v", readings, err)
	}
}
