package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	influxdb2 "github.com/influxdata/influxdb-client-go/v2"
	"github.com/influxdata/influxdb-client-go/v2/api"

	"github.com/parkcarbon/parkcarbon/internal/wire"
)

const loadUsage = `usage: parkctl load [flags]

Publishes envelopes of simulated gateways to the broker at a fixed rate, as edge agents do
(QoS 1, park/{enterprise}/{gateway}/readings, one enterprise per gateway, increasing totals
with delta and since), then counts in InfluxDB what the collector stored, until every reading
has arrived or --deadline passes. Reports sent, stored, lost, throughput and the publish →
visible latency of a sample. Every run tags its gateways, enterprises and meters with a fresh
run id, so runs against the same database never mix.

It exits non-zero if anything was lost or could not be published.

flags:
`

// loadFlags are the command's options.
type loadFlags struct {
	broker, influxURL, bucket, token, org string
	prefix, jsonOut, run                  string
	gateways, meters, rate, batch         int
	quantities                            int
	duration, deadline, poll              time.Duration
	sample                                float64
}

// loadReport is what a run measured; --json writes it as is.
type loadReport struct {
	Run        string  `json:"run"`
	Gateways   int     `json:"gateways"`
	Meters     int     `json:"meters_per_gateway"`
	Rate       int     `json:"rate"` // readings/s asked for
	Batch      int     `json:"batch"`
	Duration   float64 `json:"duration_s"`
	Envelopes  int64   `json:"envelopes"`
	Sent       int64   `json:"sent"`           // readings the broker acknowledged
	PubErrors  int64   `json:"publish_errors"` // readings whose publish failed
	Stored     int64   `json:"stored"`
	Lost       int64   `json:"lost"`
	Offered    float64 `json:"offered_per_s"`    // sent / publishing time
	Throughput float64 `json:"throughput_per_s"` // stored / (first publish → all visible)
	PublishS   float64 `json:"publish_s"`
	DrainS     float64 `json:"drain_s"` // last publish → all visible
	Complete   bool    `json:"complete"`
	Latency    latency `json:"latency"`
}

// latency is the publish → visible distribution of the sampled readings.
type latency struct {
	Samples     int     `json:"samples"` // seen in InfluxDB
	Probes      int     `json:"probes"`  // sampled readings published
	ProbeMeters int     `json:"probe_meters"`
	PollMS      float64 `json:"poll_ms"`      // how often InfluxDB was asked
	QueryMS     float64 `json:"query_p50_ms"` // how long one ask took (median)
	P50         float64 `json:"p50_ms"`
	P90         float64 `json:"p90_ms"`
	P99         float64 `json:"p99_ms"`
	Max         float64 `json:"max_ms"`
}

func runLoad(ctx context.Context, args []string) error {
	return loadCommand(ctx, args, os.Stdout, os.Stderr)
}

// loadCommand is runLoad with its output streams, for tests.
func loadCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f loadFlags
	fs.StringVar(&f.broker, "broker", "tcp://127.0.0.1:1883", "MQTT broker the collector subscribes to")
	fs.StringVar(&f.influxURL, "influx-url", "http://127.0.0.1:8086", "InfluxDB URL the collector writes to")
	fs.StringVar(&f.bucket, "bucket", "", "InfluxDB bucket (for InfluxDB 1.8: db/rp, e.g. energy/autogen) (required)")
	fs.StringVar(&f.token, "token", "", "InfluxDB token (for 1.8: user:password); default $INFLUX_TOKEN, which keeps it out of ps")
	fs.StringVar(&f.org, "org", "park", "InfluxDB organisation (ignored by 1.8)")
	fs.StringVar(&f.prefix, "prefix", "park", "topic prefix, as the collector's mqtt.topic_prefix")
	fs.IntVar(&f.gateways, "gateways", 10, "simulated gateways, one MQTT connection and one enterprise each")
	fs.IntVar(&f.meters, "meters", 50, "meters per gateway")
	fs.IntVar(&f.rate, "rate", 10000, "readings per second, all gateways together")
	fs.IntVar(&f.batch, "batch", 50, "readings per envelope")
	fs.IntVar(&f.quantities, "quantities", 2, "readings per meter sample: energy_import_total (with delta and since), then active_power, reactive_power, … (1-6)")
	fs.DurationVar(&f.duration, "duration", 10*time.Second, "how long to publish")
	fs.DurationVar(&f.deadline, "deadline", 60*time.Second, "how long to wait, after the last publish, for every reading to be stored")
	fs.Float64Var(&f.sample, "sample", 0.01, "share of the meters whose every reading is timed from publish to visible in InfluxDB")
	fs.DurationVar(&f.poll, "poll", 100*time.Millisecond, "how often InfluxDB is asked for the sampled readings (the latency's resolution)")
	fs.StringVar(&f.jsonOut, "json", "", "also write the report as JSON to this file")
	fs.StringVar(&f.run, "run", "", "run id tagging gateways, enterprises and meters (default: a fresh one)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), loadUsage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return fmt.Errorf("load: %w", err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("load: unexpected argument %q", fs.Arg(0))
	}
	if f.token == "" {
		f.token = os.Getenv("INFLUX_TOKEN")
	}
	if f.run == "" {
		f.run = newRunID()
	}
	if err := f.validate(); err != nil {
		return fmt.Errorf("load: %w", err)
	}
	rep, err := runLoadTest(ctx, &f, stderr)
	if rep != nil {
		printLoadReport(stdout, &f, rep)
		if f.jsonOut != "" {
			b, jerr := json.MarshalIndent(rep, "", "  ")
			if jerr == nil {
				jerr = os.WriteFile(f.jsonOut, append(b, '\n'), 0o644)
			}
			if jerr != nil {
				err = errors.Join(err, fmt.Errorf("load: write report: %w", jerr))
			}
		}
	}
	return err
}

func (f *loadFlags) validate() error {
	switch {
	case f.bucket == "":
		return errors.New("--bucket is required (for InfluxDB 1.8: db/rp, e.g. energy/autogen)")
	case f.gateways < 1 || f.meters < 1:
		return errors.New("--gateways and --meters must be positive")
	case f.rate < 1 || f.batch < 1 || f.batch > wire.MaxReadings:
		return fmt.Errorf("--rate must be positive and --batch 1 to %d", wire.MaxReadings)
	case f.quantities < 1 || f.quantities > len(loadQuantities):
		return fmt.Errorf("--quantities must be 1 to %d", len(loadQuantities))
	case f.duration <= 0 || f.deadline <= 0 || f.poll <= 0:
		return errors.New("--duration, --deadline and --poll must be positive")
	case f.sample < 0 || f.sample > 1:
		return errors.New("--sample must be 0 to 1")
	case !wire.ValidID(f.prefix):
		return fmt.Errorf("--prefix %q is not a single topic level", f.prefix)
	case !wire.ValidID(f.run) || len(f.run) > 40:
		return fmt.Errorf("--run %q: want letters, digits, '-', at most 40", f.run)
	}
	return nil
}

// newRunID is short, starts with a letter and differs between runs: the
// time in base 36 plus a random suffix for runs started in the same second.
func newRunID() string {
	var b [2]byte
	_, _ = rand.Read(b[:])
	return "lt" + strconv.FormatInt(time.Now().Unix(), 36) + strconv.FormatInt(int64(b[0])<<8|int64(b[1]), 36)
}

// loadQuantities are what a meter sample holds, in order: the cumulative one
// first, so that every sample books an interval (the collector's heavier
// path: a reading and a consumption point).
var loadQuantities = []struct{ name, unit string }{
	{"energy_import_total", "kWh"}, {"active_power", "kW"}, {"reactive_power", "kvar"},
	{"voltage_l1", "V"}, {"current_l1", "A"}, {"frequency", "Hz"},
}

// loadMeter is one simulated meter.
type loadMeter struct {
	id     string
	probe  bool
	total  float64
	lastTS int64 // ts of its last sample; 0 before the first
	ts     int64 // ts of the sample being written
}

// loadGateway generates one gateway's envelopes. Meters take turns, one
// sample each; a sample's readings may straddle two envelopes.
type loadGateway struct {
	id, enterprise, topic string
	meters                []loadMeter
	quantities            int
	seq                   uint64
	cur, q                int // meter and quantity the next reading is of
}

// probeKey names a sampled reading: its identity in InfluxDB.
type probeKey struct {
	meter, quantity string
	ts              int64
}

func newLoadGateways(f *loadFlags) (gws []*loadGateway, probeMeters int) {
	total := f.gateways * f.meters
	nProbe := 0
	if f.sample > 0 {
		nProbe = max(1, int(math.Round(f.sample*float64(total))))
	}
	for g := range f.gateways {
		gw := &loadGateway{
			id:         fmt.Sprintf("%s-g%03d", f.run, g),
			enterprise: fmt.Sprintf("%s-e%03d", f.run, g),
			quantities: f.quantities,
		}
		gw.topic = wire.Topic(f.prefix, gw.enterprise, gw.id)
		for m := range f.meters {
			i := g*f.meters + m
			// Probe meters are spread evenly over the gateways and over
			// the turn order within each, so their envelopes are typical.
			probe := nProbe > 0 && (i*nProbe)%total < nProbe
			id := fmt.Sprintf("%s-m%03d-%04d", f.run, g, m)
			if probe {
				id += "p"
				probeMeters++
			}
			gw.meters = append(gw.meters, loadMeter{id: id, probe: probe, total: 1000 + float64(i)})
		}
		gws = append(gws, gw)
	}
	return gws, probeMeters
}

// next appends the JSON of the gateway's next envelope of n readings to dst,
// as wire.Encode would write it (wire.Decode reads it back: the test checks),
// and the keys of its sampled readings to probes. It formats by hand because
// at 100,000 readings/s encoding/json would take a good part of the core the
// collector under test needs.
func (gw *loadGateway) next(dst []byte, n int, now int64, probes []probeKey) ([]byte, []probeKey) {
	gw.seq++
	dst = append(dst, `{"v":1,"gateway":"`...)
	dst = append(dst, gw.id...)
	dst = append(dst, `","seq":`...)
	dst = strconv.AppendUint(dst, gw.seq, 10)
	dst = append(dst, `,"sent_at":`...) // as agents send it: the collector gauges each gateway's clock skew with it
	dst = strconv.AppendInt(dst, now, 10)
	dst = append(dst, `,"readings":[`...)
	for i := range n {
		m := &gw.meters[gw.cur]
		if gw.q == 0 {
			// A meter's samples are at least 1 ms apart, so no two
			// readings share an identity (meter, quantity, ts) and
			// overwrite each other in InfluxDB.
			m.ts = max(now, m.lastTS+1)
		}
		if i > 0 {
			dst = append(dst, ',')
		}
		q := loadQuantities[gw.q]
		dst = append(dst, `{"meter":"`...)
		dst = append(dst, m.id...)
		dst = append(dst, `","enterprise":"`...)
		dst = append(dst, gw.enterprise...)
		dst = append(dst, `","energy":"electricity","quantity":"`...)
		dst = append(dst, q.name...)
		dst = append(dst, `","value":`...)
		var delta float64
		if gw.q == 0 {
			if m.lastTS != 0 {
				// About 50 kW, varying with the meter and the time.
				delta = float64(m.ts-m.lastTS) * (40 + float64((m.ts/1000+int64(gw.cur))%20)) / 3.6e6
				m.total += delta
			}
			dst = strconv.AppendFloat(dst, m.total, 'f', -1, 64)
		} else {
			dst = strconv.AppendFloat(dst, float64(40+(m.ts/1000+int64(gw.cur))%20+int64(gw.q)), 'f', -1, 64)
		}
		dst = append(dst, `,"unit":"`...)
		dst = append(dst, q.unit...)
		dst = append(dst, `","ts":`...)
		dst = strconv.AppendInt(dst, m.ts, 10)
		dst = append(dst, `,"quality":"good"`...)
		if gw.q == 0 && m.lastTS != 0 {
			dst = append(dst, `,"delta":`...)
			dst = strconv.AppendFloat(dst, delta, 'f', -1, 64)
			dst = append(dst, `,"since":`...)
			dst = strconv.AppendInt(dst, m.lastTS, 10)
		}
		dst = append(dst, '}')
		if m.probe {
			probes = append(probes, probeKey{m.id, q.name, m.ts})
		}
		gw.q++
		if gw.q == gw.quantities {
			m.lastTS = m.ts
			gw.q = 0
			gw.cur = (gw.cur + 1) % len(gw.meters)
		}
	}
	return append(dst, "]}"...), probes
}

// loadRun is the state shared by a run's goroutines.
type loadRun struct {
	f       *loadFlags
	start   time.Time
	sent    atomic.Int64 // readings acknowledged by the broker
	envs    atomic.Int64
	pubErrs atomic.Int64
	lastErr atomic.Pointer[error]

	mu      sync.Mutex
	pending map[probeKey]time.Time // sampled readings published, not yet seen, with their publish time
	probes  int
	lat     []time.Duration
	queryD  []time.Duration
}

// runLoadTest publishes, then waits for InfluxDB. It returns a report
// whenever it got as far as publishing.
func runLoadTest(ctx context.Context, f *loadFlags, progress io.Writer) (*loadReport, error) {
	gws, probeMeters := newLoadGateways(f)
	clients := make([]mqtt.Client, len(gws))
	defer func() {
		for _, c := range clients {
			if c != nil {
				c.Disconnect(250)
			}
		}
	}()
	for i, gw := range gws {
		opts := mqtt.NewClientOptions().AddBroker(f.broker).SetClientID(gw.id).
			SetCleanSession(true).SetAutoReconnect(false).SetConnectTimeout(10 * time.Second).
			SetKeepAlive(30 * time.Second)
		c := mqtt.NewClient(opts)
		if tok := c.Connect(); !tok.WaitTimeout(15*time.Second) || tok.Error() != nil {
			return nil, fmt.Errorf("load: connect to %s: %v", f.broker, tokenErr(tok))
		}
		clients[i] = c
	}
	influx := influxdb2.NewClientWithOptions(f.influxURL, f.token, influxdb2.DefaultOptions().SetHTTPRequestTimeout(30))
	defer influx.Close()
	q := influx.QueryAPI(f.org)
	// Fail before publishing if InfluxDB cannot be asked: a run that cannot
	// count would only report everything lost.
	if _, err := countStored(ctx, q, f, time.Now()); err != nil {
		return nil, fmt.Errorf("load: query %s: %w", f.influxURL, err)
	}

	total := int64(math.Round(float64(f.rate) * f.duration.Seconds()))
	run := &loadRun{f: f, pending: map[probeKey]time.Time{}, start: time.Now()}
	rep := &loadReport{Run: f.run, Gateways: f.gateways, Meters: f.meters, Rate: f.rate, Batch: f.batch,
		Duration: f.duration.Seconds(), Latency: latency{ProbeMeters: probeMeters, PollMS: ms(f.poll)}}

	pollCtx, stopPoll := context.WithCancel(ctx)
	var pollWG sync.WaitGroup
	pollWG.Go(func() { run.pollProbes(pollCtx, q) })
	progCtx, stopProg := context.WithCancel(ctx)
	var progWG sync.WaitGroup
	progWG.Go(func() { run.showProgress(progCtx, progress, total) })

	var wg sync.WaitGroup
	for i, gw := range gws {
		share := total / int64(len(gws))
		if int64(i) < total%int64(len(gws)) {
			share++
		}
		wg.Go(func() { run.publish(ctx, clients[i], gw, share, float64(i)/float64(len(gws))) })
	}
	wg.Wait()
	pubEnd := time.Now()
	rep.PublishS = pubEnd.Sub(run.start).Seconds()
	stopProg()
	progWG.Wait()

	// Count until everything is there; the probe poller keeps going
	// meanwhile so late samples still get their latency.
	var countErr error
	allAt := pubEnd
	deadline := pubEnd.Add(f.deadline)
	wait := 250 * time.Millisecond
	for {
		n, err := countStored(ctx, q, f, run.start)
		now := time.Now()
		if err == nil {
			rep.Stored, countErr = n, nil
			if n >= run.sent.Load() {
				allAt = now
				rep.Complete = true
				break
			}
		} else {
			countErr = err
		}
		fmt.Fprintf(progress, "\rload: waiting for InfluxDB: %d of %d readings stored (%.0fs left)   ",
			rep.Stored, run.sent.Load(), time.Until(deadline).Seconds())
		if now.After(deadline) || ctx.Err() != nil {
			break
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
		}
		wait = min(wait*2, 2*time.Second)
	}
	fmt.Fprintln(progress)
	// One more look for samples stored just before the count saw them.
	if rep.Complete {
		run.pollOnce(ctx, q)
	}
	stopPoll()
	pollWG.Wait()

	rep.Envelopes, rep.Sent, rep.PubErrors = run.envs.Load(), run.sent.Load(), run.pubErrs.Load()
	rep.Lost = max(rep.Sent-rep.Stored, 0)
	if rep.PublishS > 0 {
		rep.Offered = float64(rep.Sent) / rep.PublishS
	}
	if rep.Complete {
		rep.DrainS = allAt.Sub(pubEnd).Seconds()
		rep.Throughput = float64(rep.Stored) / allAt.Sub(run.start).Seconds()
	}
	run.mu.Lock()
	rep.Latency.Probes = run.probes
	rep.Latency.Samples = len(run.lat)
	slices.Sort(run.lat)
	rep.Latency.P50, rep.Latency.P90, rep.Latency.P99 = ms(quantile(run.lat, 0.5)), ms(quantile(run.lat, 0.9)), ms(quantile(run.lat, 0.99))
	if len(run.lat) > 0 {
		rep.Latency.Max = ms(run.lat[len(run.lat)-1])
	}
	slices.Sort(run.queryD)
	rep.Latency.QueryMS = ms(quantile(run.queryD, 0.5))
	run.mu.Unlock()

	var errs []error
	if ctx.Err() != nil {
		errs = append(errs, fmt.Errorf("load: interrupted: %w", ctx.Err()))
	}
	if rep.PubErrors > 0 {
		errs = append(errs, fmt.Errorf("load: %d readings could not be published: %v", rep.PubErrors, *run.lastErr.Load()))
	}
	if !rep.Complete {
		err := fmt.Errorf("load: %d of %d readings not stored %s after the last publish", rep.Lost, rep.Sent, f.deadline)
		if countErr != nil {
			err = fmt.Errorf("%w (last count failed: %w)", err, countErr)
		}
		errs = append(errs, err)
	}
	return rep, errors.Join(errs...)
}

// inflight bounds the envelopes a gateway has published but the broker has
// not acknowledged; a broker slower than the rate then slows the generator
// down, which the report shows as an offered rate below --rate.
const inflight = 1000

type pubToken struct {
	tok mqtt.Token
	n   int
}

// publish sends one gateway's share of readings in envelopes on a fixed
// schedule: envelope k at start + (phase + k) × batch / rate-per-gateway,
// the phases spreading the gateways' envelopes evenly instead of in bursts.
// A generator that falls behind catches up without sleeping.
func (r *loadRun) publish(ctx context.Context, c mqtt.Client, gw *loadGateway, share int64, phase float64) {
	perGateway := float64(r.f.rate) / float64(r.f.gateways)
	acks := make(chan pubToken, inflight)
	var ackWG sync.WaitGroup
	ackWG.Go(func() {
		for p := range acks {
			if !p.tok.WaitTimeout(30*time.Second) || p.tok.Error() != nil {
				err := fmt.Errorf("publish to %s: %w", gw.topic, tokenErr(p.tok))
				r.lastErr.Store(&err)
				r.pubErrs.Add(int64(p.n))
				continue
			}
			r.sent.Add(int64(p.n))
			r.envs.Add(1)
		}
	})
	defer func() {
		close(acks)
		ackWG.Wait()
	}()
	var probes []probeKey
	for done, k := int64(0), 0; done < share; k++ {
		at := r.start.Add(time.Duration((phase*float64(r.f.batch) + float64(done)) / perGateway * float64(time.Second)))
		if d := time.Until(at); d > 0 {
			select {
			case <-time.After(d):
			case <-ctx.Done():
				return
			}
		} else if ctx.Err() != nil {
			return
		}
		n := int(min(int64(r.f.batch), share-done))
		now := time.Now()
		var payload []byte
		payload, probes = gw.next(make([]byte, 0, n*230+64), n, now.UnixMilli(), probes[:0])
		if len(probes) > 0 {
			r.mu.Lock()
			for _, p := range probes {
				r.pending[p] = now
			}
			r.probes += len(probes)
			r.mu.Unlock()
		}
		acks <- pubToken{c.Publish(gw.topic, 1, false, payload), n}
		done += int64(n)
	}
}

// pollProbes asks InfluxDB for the sampled readings every --poll until ctx
// is done.
func (r *loadRun) pollProbes(ctx context.Context, q api.QueryAPI) {
	t := time.NewTicker(r.f.poll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		r.pollOnce(ctx, q)
	}
}

// pollOnce looks up every pending sample stored since the oldest one's ts.
// A sample counts as visible when the answer that holds it arrives: the
// latency is an upper bound, at most one poll period plus one query late.
// Timing whole series (every reading of a few meters) instead of random
// readings keeps the lookup one indexed query per poll.
func (r *loadRun) pollOnce(ctx context.Context, q api.QueryAPI) {
	r.mu.Lock()
	oldest := int64(math.MaxInt64)
	for k := range r.pending {
		oldest = min(oldest, k.ts)
	}
	r.mu.Unlock()
	if oldest == math.MaxInt64 {
		return
	}
	asked := time.Now()
	res, err := q.Query(ctx, probeQuery(r.f, oldest))
	if err != nil {
		return // the next poll asks again; a lost sample shows as lost
	}
	defer res.Close()
	var seen []probeKey
	for res.Next() {
		rec := res.Record()
		meter, _ := rec.ValueByKey("meter").(string)
		quantity, _ := rec.ValueByKey("quantity").(string)
		seen = append(seen, probeKey{meter, quantity, rec.Time().UnixMilli()})
	}
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.queryD = append(r.queryD, now.Sub(asked))
	for _, k := range seen {
		if at, ok := r.pending[k]; ok {
			r.lat = append(r.lat, now.Sub(at))
			delete(r.pending, k)
		}
	}
}

// probeQuery returns the sampled meters' readings stored since fromMs. The
// stop is far ahead: a busy meter's ts may run ahead of the clock by a few ms.
func probeQuery(f *loadFlags, fromMs int64) string {
	return fmt.Sprintf(`from(bucket: %s)
  |> range(start: %s, stop: %s)
  |> filter(fn: (r) => r._measurement == "reading" and r._field == "value" and r.gateway =~ /^%s-/ and r.meter =~ /p$/)
  |> keep(columns: ["_time", "meter", "quantity"])`,
		fluxString(f.bucket), time.UnixMilli(fromMs).UTC().Format(time.RFC3339Nano),
		time.Now().Add(time.Hour).UTC().Format(time.RFC3339), f.run)
}

// countStored counts the run's reading points.
func countStored(ctx context.Context, q api.QueryAPI, f *loadFlags, since time.Time) (int64, error) {
	res, err := q.Query(ctx, fmt.Sprintf(`from(bucket: %s)
  |> range(start: %s, stop: %s)
  |> filter(fn: (r) => r._measurement == "reading" and r._field == "value" and r.gateway =~ /^%s-/)
  |> group()
  |> count()`, fluxString(f.bucket), since.Add(-time.Minute).UTC().Format(time.RFC3339),
		time.Now().Add(time.Hour).UTC().Format(time.RFC3339), f.run))
	if err != nil {
		return 0, err
	}
	defer res.Close()
	var n int64
	for res.Next() {
		switch v := res.Record().Value().(type) {
		case int64:
			n += v
		case uint64:
			n += int64(v)
		default:
			return 0, fmt.Errorf("count is %v (%T)", v, v)
		}
	}
	if err := res.Err(); err != nil {
		return 0, err
	}
	return n, nil
}

// showProgress redraws one line on w while publishing.
func (r *loadRun) showProgress(ctx context.Context, w io.Writer, total int64) {
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	const width = 30
	for {
		select {
		case <-ctx.Done():
			r.drawProgress(w, total, width)
			fmt.Fprintln(w)
			return
		case <-t.C:
			r.drawProgress(w, total, width)
		}
	}
}

func (r *loadRun) drawProgress(w io.Writer, total int64, width int) {
	sent := r.sent.Load()
	done := int(float64(width) * float64(sent) / float64(max(total, 1)))
	r.mu.Lock()
	seen, probes := len(r.lat), r.probes
	var last time.Duration
	if len(r.lat) > 0 {
		last = r.lat[len(r.lat)-1]
	}
	r.mu.Unlock()
	elapsed := time.Since(r.start).Seconds()
	fmt.Fprintf(w, "\rload: [%s%s] %d/%d readings acknowledged, %.0f/s, %d/%d samples visible (last %s)   ",
		strings.Repeat("=", min(done, width)), strings.Repeat(" ", width-min(done, width)), sent, total,
		float64(sent)/max(elapsed, 1e-3), seen, probes, last.Round(time.Millisecond))
}

func printLoadReport(w io.Writer, f *loadFlags, rep *loadReport) {
	fmt.Fprintf(w, "run        %s: %d gateways × %d meters, %d readings/s for %s, envelopes of %d readings\n",
		rep.Run, rep.Gateways, rep.Meters, rep.Rate, f.duration, rep.Batch)
	fmt.Fprintf(w, "sent       %d readings in %d envelopes, acknowledged by the broker; %d failed to publish\n",
		rep.Sent, rep.Envelopes, rep.PubErrors)
	fmt.Fprintf(w, "stored     %d readings in InfluxDB\n", rep.Stored)
	fmt.Fprintf(w, "lost       %d\n", rep.Lost)
	fmt.Fprintf(w, "offered    %.0f readings/s (publishing took %.2fs)\n", rep.Offered, rep.PublishS)
	if rep.Complete {
		fmt.Fprintf(w, "throughput %.0f readings/s stored (first publish to all visible; %.2fs after the last publish)\n",
			rep.Throughput, rep.DrainS)
	} else {
		fmt.Fprintf(w, "throughput n/a: not everything arrived within %s\n", f.deadline)
	}
	l := rep.Latency
	fmt.Fprintf(w, "latency    publish → visible of %d of %d sampled readings (every reading of %d meters; asked every %.0fms, query p50 %.0fms; upper bounds):\n",
		l.Samples, l.Probes, l.ProbeMeters, l.PollMS, l.QueryMS)
	fmt.Fprintf(w, "           p50 %.0fms  p90 %.0fms  p99 %.0fms  max %.0fms\n", l.P50, l.P90, l.P99, l.Max)
}

// quantile is the nearest-rank quantile of sorted d; 0 for none.
func quantile(d []time.Duration, q float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(d)))) - 1
	return d[min(max(i, 0), len(d)-1)]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func tokenErr(t mqtt.Token) error {
	if err := t.Error(); err != nil {
		return err
	}
	return errors.New("timed out")
}
