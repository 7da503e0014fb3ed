package edge

// What the agent spends per device poll between the Modbus answer and the
// disk: the counter step, the poll's record (its readings as envelope JSON),
// and its share of the group commit (records and meters' new states in one
// bbolt transaction per window).
//
// A poll hands its record to the committer and returns: ns/op is the
// handoff (and, in a sequential loop that outruns the disk, waiting for
// room). cpu-ns/op (the process's user+system CPU over the run, every
// thread, the committer and the GC included) is the figure for the CPU
// budget; the parallel runs are buses recording at once, as in an agent.
//
//	go test ./collector/edge -run '^$' -bench Record -benchmem -count 3

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/parkcarbon/parkcarbon/carbon"
	"github.com/parkcarbon/parkcarbon/internal/queue"
	"github.com/parkcarbon/parkcarbon/internal/wire"
)

// nopCommitter keeps nothing: the recorder's own share of the cost.
type nopCommitter struct{}

func (nopCommitter) CommitFramed([][]byte, map[string][]byte) error { return nil }

// cpuTime is the process's user+system CPU so far.
func cpuTime(b *testing.B) int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// pollReadings fills readings with one poll of meter: its total first, then
// other quantities, fresh each time as the bus makes them (the recorder
// sets delta and since on the total).
func pollReadings(readings []wire.Reading, meter string, ts int64, total float64) {
	for i := range readings {
		readings[i] = wire.Reading{Meter: meter, Enterprise: "ent-001", Energy: wire.Electricity,
			Quantity: quantities[i], Value: 230.1 + float64(i), Unit: "V", TS: ts, Quality: "good"}
	}
	readings[0].Quantity, readings[0].Value, readings[0].Unit = "energy_import_total", total, "kWh"
}

var quantities = func() []string {
	q := make([]string, 20)
	for i := range q {
		q[i] = fmt.Sprintf("x_q%02d", i)
	}
	return q
}()

func BenchmarkRecord(b *testing.B) {
	for _, regs := range []int{12, 20} {
		for _, store := range []string{"none", "bbolt-nosync", "bbolt-fsync"} {
			for _, parallel := range []bool{false, true} {
				if parallel && store == "none" {
					continue
				}
				name := fmt.Sprintf("%dregs/%s", regs, store)
				if parallel {
					name += "/parallel"
				}
				b.Run(name, func(b *testing.B) { benchRecord(b, regs, store, parallel) })
			}
		}
	}
}

func benchRecord(b *testing.B, regs int, store string, parallel bool) {
	var c committer = nopCommitter{}
	if store != "none" {
		s, err := queue.Open(filepath.Join(b.TempDir(), "q.db"), queue.Options{NoSync: store == "bbolt-nosync"})
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		c = s
	}
	rc := newRecorder(c, nil, slog.New(slog.NewTextHandler(io.Discard, nil)), newMetrics(prometheus.NewRegistry()))
	spec := carbon.CounterSpec{MaxRate: 1e6}
	ctx, stop := context.WithCancel(context.Background())
	var committer sync.WaitGroup
	committer.Go(func() { rc.run(ctx) })
	b.ReportAllocs()
	cpu0 := cpuTime(b)
	if parallel {
		// 20 goroutines, each its own meter: 20 buses.
		b.SetParallelism(10)
		var meters atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			meter := fmt.Sprintf("m-%03d", meters.Add(1))
			readings := make([]wire.Reading, regs)
			ts, total := int64(1764000000000), 1000.0
			for pb.Next() {
				ts += 1000
				total += 0.01
				pollReadings(readings, meter, ts, total)
				if err := rc.record(meter, spec, "energy_import_total", nil, readings, nil); err != nil {
					b.Error(err)
					return
				}
			}
		})
	} else {
		readings := make([]wire.Reading, regs)
		ts, total := int64(1764000000000), 1000.0
		for b.Loop() {
			ts += 1000
			total += 0.01
			pollReadings(readings, "m-101", ts, total)
			if err := rc.record("m-101", spec, "energy_import_total", nil, readings, nil); err != nil {
				b.Fatal(err)
			}
		}
	}
	stop() // commits what is pending
	committer.Wait()
	b.ReportMetric(float64(cpuTime(b)-cpu0)/float64(b.N), "cpu-ns/op")
}
