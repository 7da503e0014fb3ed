package central

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parkcarbon/parkcarbon/internal/testenv"
	"github.com/parkcarbon/parkcarbon/internal/wire"
)

// BenchmarkInfluxCeiling is InfluxDB's own limit for the collector's points:
// a real influxd 1.8 takes the line protocol the collector writes for
// parkctl load's envelopes (10 gateways × 50 meters, half totals with their
// interval, half active power: 1.5 points per reading), in the collector's
// batches (ingest.batch_points) from as many concurrent writers
// (ingest.writers), with nothing else running: no broker, no collector, no
// load generator. Whatever the collector does, end to end on the same
// machine it cannot store more than this. One op is one 50-reading envelope.
//
//	go test ./collector/central -run '^$' -bench InfluxCeiling -benchtime 40000x
func BenchmarkInfluxCeiling(b *testing.B) {
	influx := testenv.Influx(b)
	const gateways, meters, perEnv = 10, 50, 50
	cfg := &Config{}
	cfg.setDefaults()
	conv := benchConverter()
	// Envelopes stamped a second apart per gateway, ending before now
	// (within max_age, none in the future), starting on a quarter past an
	// hour so that few intervals cross one.
	start := time.Now().Add(-time.Duration(b.N/gateways+10) * time.Second).Truncate(time.Hour).Add(15 * time.Minute).UnixMilli()
	totals := make([]float64, gateways*meters)
	var batches [][]byte
	var cur []byte
	points := 0
	for i := range b.N {
		g, round := i%gateways, i/gateways
		env := &wire.Envelope{V: 1, Gateway: fmt.Sprintf("gw-%02d", g), Seq: uint64(round)}
		ts := start + int64(round)*1000
		for k := range perEnv / 2 {
			m := (round*(perEnv/2) + k) % meters
			d := 0.05 + float64(m%7)/100
			totals[g*meters+m] += d
			meter, ent := fmt.Sprintf("m-%02d-%03d", g, m), fmt.Sprintf("ent-%03d", g)
			env.Readings = append(env.Readings,
				wire.Reading{Meter: meter, Enterprise: ent, Energy: wire.Electricity, Quantity: "energy_import_total",
					Unit: "kWh", Value: totals[g*meters+m], TS: ts, Quality: "good", Delta: &d, Since: ts - 10_000},
				wire.Reading{Meter: meter, Enterprise: ent, Energy: wire.Electricity, Quantity: "active_power",
					Unit: "kW", Value: 40 + float64(m%20), TS: ts, Quality: "good"})
		}
		n := len(cur)
		cur = conv.AppendLines(cur, env)
		points += bytes.Count(cur[n:], []byte{'\n'})
		if bytes.Count(cur, []byte{'\n'}) >= cfg.Ingest.BatchPoints || i == b.N-1 {
			batches = append(batches, cur)
			cur = nil
		}
	}
	url := influx.URL + "/api/v2/write?precision=ms&bucket=" + influx.Bucket
	var next atomic.Int64
	var failed atomic.Value
	client := &http.Client{}
	cpu0 := procCPU(b, influx.PID())
	b.ResetTimer()
	t0 := time.Now()
	var wg sync.WaitGroup
	for range cfg.Ingest.Writers {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= len(batches) {
					return
				}
				req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, url, bytes.NewReader(batches[i]))
				if err != nil {
					failed.Store(err)
					return
				}
				resp, err := client.Do(req)
				if err == nil {
					resp.Body.Close()
					if resp.StatusCode != http.StatusNoContent {
						err = fmt.Errorf("write: %s", resp.Status)
					}
				}
				if err != nil {
					failed.Store(err)
					return
				}
			}
		})
	}
	wg.Wait()
	wall := time.Since(t0)
	b.StopTimer()
	if err, _ := failed.Load().(error); err != nil {
		b.Fatal(err)
	}
	cpu := procCPU(b, influx.PID()) - cpu0
	readings := float64(b.N * perEnv)
	b.ReportMetric(readings/wall.Seconds(), "readings/s")
	b.ReportMetric(float64(points)/wall.Seconds(), "points/s")
	b.ReportMetric(cpu.Seconds()/wall.Seconds(), "influxd-cores")
	b.ReportMetric(float64(cpu.Microseconds())/readings, "influxd-µs/reading")
}

// procCPU is a process's user+system CPU time from /proc/<pid>/stat.
func procCPU(tb testing.TB, pid int) time.Duration {
	tb.Helper()
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		tb.Fatal(err)
	}
	// Fields after the command name, which is in parentheses and may hold spaces.
	f := strings.Fields(string(raw[bytes.LastIndexByte(raw, ')')+2:]))
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	const ticks = 100 // USER_HZ on Linux
	return time.Duration(utime+stime) * time.Second / ticks
}
