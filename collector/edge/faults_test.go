package edge

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/parkcarbon/parkcarbon/devices/simulator"
	"github.com/parkcarbon/parkcarbon/internal/queue"
	"github.com/parkcarbon/parkcarbon/internal/wire"
)

// countingStore counts committed readings of each meter.
type countingStore struct {
	mu     sync.Mutex
	totals map[string]int // energy_import_total readings per meter
	ts     []int64        // their timestamps, in commit order
	events []string       // event kinds
}

func (c *countingStore) CommitFramed(records [][]byte, _ map[string][]byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, b := range records {
		readings, events, err := decodePollRecord(b[queue.FrameRoom:])
		if err != nil {
			return err
		}
		for _, r := range readings {
			if r.Quantity == "energy_import_total" {
				c.totals[r.Meter]++
				c.ts = append(c.ts, r.TS)
			}
		}
		for _, e := range events {
			c.events = append(c.events, e.Kind)
		}
	}
	return nil
}

// decodePollRecord decodes a queued record's elements, as the collector would.
func decodePollRecord(b []byte) ([]wire.Reading, []wire.Event, error) {
	p, err := parsePollRecord(b)
	if err != nil {
		return nil, nil, err
	}
	var readings []wire.Reading
	var events []wire.Event
	elems := p.readings
	if p.format == pollFormat {
		if elems, err = appendReadingsJSON(nil, false, string(p.enterprise), p.readings, p.nReadings); err != nil {
			return nil, nil, err
		}
	}
	if err := json.Unmarshal(append(append([]byte("["), elems...), ']'), &readings); err != nil {
		return nil, nil, err
	}
	if err := json.Unmarshal(append(append([]byte("["), p.events...), ']'), &events); err != nil {
		return nil, nil, err
	}
	if len(readings) != p.nReadings || len(events) != p.nEvts {
		return nil, nil, fmt.Errorf("record says %d readings and %d events, holds %d and %d", p.nReadings, p.nEvts, len(readings), len(events))
	}
	return readings, events, nil
}

// startRecorder runs rc's committer until the test ends.
func startRecorder(t testing.TB, rc *recorder) *recorder {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { rc.run(ctx) })
	t.Cleanup(func() { cancel(); wg.Wait() })
	return rc
}

func (c *countingStore) count(meter string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.totals[meter]
}

// One dead unit behind a gateway is suspended on its own backoff: the
// healthy unit behind the same gateway and the meters of another endpoint
// keep their schedule, and the dead one recovers once it answers again
// (Telegraf #11782, node-red-contrib-modbus #446). A device that serves one
// master at a time gets its connection closed after each poll (Telegraf #8225).
func TestDeadUnitDoesNotStallOthers(t *testing.T) {
	for _, faultKind := range []simulator.FaultKind{simulator.NoAnswer, simulator.Reset, simulator.Garbage} {
		t.Run(faultKind.String(), func(t *testing.T) {
			ctx := t.Context()
			healthy, err := simulator.Start(ctx, simulator.Config{Units: []byte{1, 2}})
			if err != nil {
				t.Fatal(err)
			}
			defer healthy.Close()
			gateway, err := simulator.Start(ctx, simulator.Config{Units: []byte{1, 2}, Protocol: "rtuovertcp"})
			if err != nil {
				t.Fatal(err)
			}
			defer gateway.Close()
			gateway.SetFault(2, simulator.Fault{Kind: faultKind})

			interval := 200 * time.Millisecond
			closeEach := true
			cfgs := []ModbusConfig{
				{Name: "meters", URL: healthy.URL(), Timeout: 150 * time.Millisecond, Devices: []DeviceConfig{
					{Meter: "a-1", Enterprise: "e", Unit: 1, Profile: "eastron-sdm630", Interval: interval, MaxRate: 1e6},
					{Meter: "a-2", Enterprise: "e", Unit: 2, Profile: "eastron-sdm630", Interval: interval, MaxRate: 1e6, CloseAfterCycle: &closeEach},
				}},
				{Name: "gateway", URL: gateway.URL(), Timeout: 150 * time.Millisecond, Devices: []DeviceConfig{
					{Meter: "g-1", Enterprise: "e", Unit: 1, Profile: "eastron-sdm630", Interval: interval, MaxRate: 1e6},
					{Meter: "g-2", Enterprise: "e", Unit: 2, Profile: "eastron-sdm630", Interval: interval, MaxRate: 1e6},
				}},
			}
			store := &countingStore{totals: map[string]int{}}
			log := slog.New(slog.NewTextHandler(io.Discard, nil))
			m := newMetrics(prometheus.NewRegistry())
			rec := startRecorder(t, newRecorder(store, nil, log, m))
			runCtx, cancel := context.WithCancel(ctx)
			var wg sync.WaitGroup
			for _, c := range cfgs {
				b, err := newBus(c, nil, rec, log, m)
				if err != nil {
					t.Fatal(err)
				}
				wg.Go(func() { b.run(runCtx) })
			}
			const run = 4 * time.Second
			time.Sleep(run)
			slots := int(run / interval)
			for _, meter := range []string{"a-1", "a-2", "g-1"} {
				// Every slot but the first and the one cut by the sleep's end.
				if n := store.count(meter); n < slots-2 {
					t.Errorf("%s: %d polls in %d slots", meter, n, slots)
				}
			}
			if n := store.count("g-2"); n != 0 {
				t.Errorf("dead unit g-2 gave %d readings", n)
			}
			if healthy.Requests(2) < slots-2 {
				t.Errorf("a-2: %d requests", healthy.Requests(2))
			}
			// Suspended: far fewer attempts than slots.
			if n := gateway.Requests(2); n > slots/2 {
				t.Errorf("dead unit was tried %d times in %d slots: not backing off", n, slots)
			}
			gateway.SetFault(2, simulator.Fault{})
			deadline := time.Now().Add(10 * time.Second)
			for store.count("g-2") == 0 && time.Now().Before(deadline) {
				time.Sleep(50 * time.Millisecond)
			}
			if store.count("g-2") == 0 {
				t.Error("g-2 did not recover after healing")
			}
			cancel()
			wg.Wait()
		})
	}
}

// A gateway clock stepping back an hour (an NTP correction) must not make new
// readings overwrite stored points of the same meter and time: timestamps
// stay increasing and the step is reported once.
func TestClockStepBack(t *testing.T) {
	sim, err := simulator.Start(t.Context(), simulator.Config{Units: []byte{1}})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	store := &countingStore{totals: map[string]int{}}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	m := newMetrics(prometheus.NewRegistry())
	b, err := newBus(ModbusConfig{Name: "e", URL: sim.URL(), Timeout: time.Second, Devices: []DeviceConfig{
		{Meter: "m-1", Enterprise: "e", Unit: 1, Profile: "eastron-sdm630", Interval: time.Second, MaxRate: 1e6},
	}}, nil, newRecorder(store, nil, log, m), log, m)
	if err != nil {
		t.Fatal(err)
	}
	defer b.conn.Close()
	// No committer runs: the polls are committed below, as one group.
	clock := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	b.now = func() time.Time { return clock }
	d := b.devices[0]
	for _, step := range []time.Duration{0, 10 * time.Second, -time.Hour, 10 * time.Second, 10 * time.Second, time.Hour + time.Minute} {
		clock = clock.Add(step)
		b.poll(t.Context(), d)
	}
	b.rec.commitPending(false)
	for i := 1; i < len(store.ts); i++ {
		if store.ts[i] <= store.ts[i-1] {
			t.Fatalf("timestamps not increasing: %v", store.ts)
		}
	}
	steps := 0
	for _, k := range store.events {
		if k == "clock_step" {
			steps++
		}
	}
	if len(store.ts) != 6 || steps != 1 {
		t.Fatalf("%d readings, %d clock_step events (%v)", len(store.ts), steps, store.events)
	}
}

// A serial-to-Ethernet converter that reboots: the endpoint goes away and
// comes back on the same address; the agent reconnects by itself.
func TestConverterReboot(t *testing.T) {
	sim, err := simulator.Start(t.Context(), simulator.Config{Units: []byte{1}, Protocol: "rtuovertcp"})
	if err != nil {
		t.Fatal(err)
	}
	addr := sim.Addr()
	store := &countingStore{totals: map[string]int{}}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	m := newMetrics(prometheus.NewRegistry())
	b, err := newBus(ModbusConfig{Name: "converter", URL: sim.URL(), Timeout: 200 * time.Millisecond, Devices: []DeviceConfig{
		{Meter: "c-1", Enterprise: "e", Unit: 1, Profile: "eastron-sdm630", Interval: 100 * time.Millisecond, MaxRate: 1e6},
	}}, nil, startRecorder(t, newRecorder(store, nil, log, m)), log, m)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	wg.Go(func() { b.run(ctx) })
	defer func() { cancel(); wg.Wait() }()
	waitCount := func(n int) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for store.count("c-1") < n {
			if time.Now().After(deadline) {
				t.Fatalf("c-1: %d readings, want %d", store.count("c-1"), n)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitCount(3)
	sim.Close() // the converter reboots…
	time.Sleep(time.Second)
	before := store.count("c-1")
	sim2, err := simulator.Start(t.Context(), simulator.Config{Addr: addr, Units: []byte{1}, Protocol: "rtuovertcp"})
	if err != nil {
		t.Fatal(err)
	}
	defer sim2.Close()
	waitCount(before + 3) // …and the agent is back on its own
}
