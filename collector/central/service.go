// Package central is the park collector's runtime: it subscribes to every
// gateway's envelopes, converts them into readings, consumption and CO2, and
// writes them to InfluxDB, acknowledging a message only once its points are
// stored.
package central

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	influxdb2 "github.com/influxdata/influxdb-client-go/v2"
	"github.com/influxdata/influxdb-client-go/v2/api"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/parkcarbon/parkcarbon/carbon"
	"github.com/parkcarbon/parkcarbon/collector/alert"
	"github.com/parkcarbon/parkcarbon/internal/mqttclient"
	"github.com/parkcarbon/parkcarbon/internal/queue"
	"github.com/parkcarbon/parkcarbon/internal/wire"
)

// Service is one collector instance.
type Service struct {
	cfg         *Config
	log         *slog.Logger
	m           *metrics
	conv        Converter
	influx      influxdb2.Client
	writer      api.WriteAPIBlocking
	rollups     *rollups
	spool       *queue.Store
	drainKick   chan struct{}
	client      mqtt.Client
	inbox       chan inbound
	slots       chan struct{} // one per message not yet acknowledged; cap ingest.max_inflight
	lineBufs    sync.Pool     // *[]byte: line protocol of one message
	stopped     chan struct{} // closed when the writer stops taking messages
	connected   atomic.Bool
	seqMu       sync.Mutex
	lastSeq     map[string]uint64 // per gateway; the only state kept, and only for a metric
	writeErr    atomic.Pointer[string]
	registry    *carbon.Registry // nil: no registry, no isolation
	alerts      *alert.Engine    // nil: no alert rules
	alertsCfg   *alert.Config
	logThrottle throttle
	mqttOpts    *mqtt.ClientOptions
}

// inbound is a message whose points wait to be written.
type inbound struct {
	msg       mqtt.Message
	env       *wire.Envelope // for the alert rules, once stored
	gateway   string
	gaps      []wire.Event // meters without a baseline at the edge
	lines     *[]byte      // the message's points in line protocol, from Service.lineBufs
	npoints   int
	n         int // readings
	intervals int
	hours     []int64 // touched by its intervals
}

// New builds the service and opens its spool; it connects to nothing until Run.
func New(cfg *Config, log *slog.Logger, reg prometheus.Registerer) (*Service, error) {
	if err := os.MkdirAll(cfg.Spool.Dir, 0o750); err != nil {
		return nil, fmt.Errorf("spool dir: %w", err)
	}
	spool, err := openSpool(cfg.Spool.Dir, int64(cfg.Spool.MaxSize))
	if err != nil {
		return nil, err
	}
	if spool.Stats().Reopened {
		log.Error("spool was unreadable: set aside and started afresh", "dir", cfg.Spool.Dir)
	}
	registry, err := loadRegistry(cfg.Enterprises, log)
	if err != nil {
		spool.Close()
		return nil, err
	}
	s := &Service{
		registry:  registry,
		spool:     spool,
		drainKick: make(chan struct{}, 1),
		lastSeq:   map[string]uint64{},
		cfg:       cfg,
		log:       log,
		m:         newMetrics(reg),
		conv:      newConverter(cfg, registry),
		inbox:     make(chan inbound, cfg.Ingest.MaxInflight),
		slots:     make(chan struct{}, cfg.Ingest.MaxInflight),
		lineBufs: sync.Pool{New: func() any {
			b := make([]byte, 0, 16<<10) // a 50-reading envelope's lines, about 12 KB
			return &b
		}},
		stopped: make(chan struct{}),
	}
	token := cfg.InfluxDB.Token
	if cfg.InfluxDB.TokenFile != "" {
		if token, err = mqttclient.ReadSecretFile(cfg.InfluxDB.TokenFile); err != nil {
			spool.Close()
			return nil, fmt.Errorf("influxdb token_file: %w", err)
		}
	}
	mopts, err := mqttclient.Options(cfg.MQTT.Broker, cfg.MQTT.ClientID, cfg.MQTT.TLS, cfg.MQTT.Auth)
	if err != nil {
		spool.Close()
		return nil, fmt.Errorf("mqtt: %w", err)
	}
	s.mqttOpts = mopts
	opts := influxdb2.DefaultOptions().
		SetPrecision(time.Millisecond).
		SetHTTPRequestTimeout(uint(cfg.InfluxDB.Timeout / time.Second))
	s.influx = influxdb2.NewClientWithOptions(cfg.InfluxDB.URL, token, opts)
	// The blocking API has no hidden retry buffer: a nil error means the
	// points are stored, which is what acknowledging the message needs.
	s.writer = s.influx.WriteAPIBlocking(cfg.InfluxDB.Org, cfg.InfluxDB.Bucket)
	s.rollups = newRollups(s.influx.QueryAPI(cfg.InfluxDB.Org), s.writer, cfg.InfluxDB.Bucket, cfg.Ingest.RollupInterval, log, s.m)
	registerSpool(reg, spool)
	if cfg.Alerts != "" {
		if s.alerts, s.alertsCfg, err = newAlerts(cfg, registry, s, log, reg); err != nil {
			spool.Close()
			s.influx.Close()
			return nil, err
		}
	}
	return s, nil
}

// newAlerts builds the alert engine from alerts.yaml: it reads the hourly
// rollups and writes alert points through the collector's InfluxDB client.
func newAlerts(cfg *Config, reg *carbon.Registry, s *Service, log *slog.Logger, metrics prometheus.Registerer) (*alert.Engine, *alert.Config, error) {
	if reg == nil {
		return nil, nil, fmt.Errorf("alerts: the enterprise registry %s is missing", cfg.Enterprises)
	}
	acfg, unset, err := alert.Load(cfg.Alerts)
	if err != nil {
		return nil, nil, err
	}
	for _, name := range unset {
		log.Warn("alerts.yaml references an unset environment variable; using an empty value", "var", name)
	}
	acfg.StateDir, acfg.Shard = cfg.AlertsStateDir, cfg.AlertsShard
	notifiers, err := alert.NewNotifiers(acfg, log)
	if err != nil {
		return nil, nil, err
	}
	src := alert.NewInfluxSource(s.influx.QueryAPI(cfg.InfluxDB.Org), cfg.InfluxDB.Bucket)
	eng, err := alert.New(acfg, reg, src, s.writer, notifiers, time.Now, log.With("component", "alerts"), metrics)
	return eng, acfg, err
}

// StatusHandler serves the status page: every enterprise's consumption,
// CO2 and intensity against its limit, firing alerts, gateways and meters.
func (s *Service) StatusHandler() (http.Handler, error) {
	cfg := StatusConfig{Query: s.influx.QueryAPI(s.cfg.InfluxDB.Org), Bucket: s.cfg.InfluxDB.Bucket,
		Registry: s.registry, Log: s.log.With("component", "status")}
	// Alerts stays nil: the page reads the alert measurement, which covers
	// every shard of several collectors.
	if s.alertsCfg != nil {
		cfg.Location = s.alertsCfg.Location()
		cfg.LimitFor = func(e *carbon.Enterprise) TierLimit {
			d, _ := s.alertsCfg.LimitFor(alert.LimitDailyKWhPerMu, e.ID, e.Tier, e.Industry)
			m, _ := s.alertsCfg.LimitFor(alert.LimitMonthlyKWhPerMu, e.ID, e.Tier, e.Industry)
			return TierLimit{DailyKWhPerMu: d, MonthlyKWhPerMu: m}
		}
	}
	return NewStatusHandler(cfg)
}

// AlertsHandler serves GET /api/alerts, or nil without alert rules.
func (s *Service) AlertsHandler() http.Handler {
	if s.alerts == nil {
		return nil
	}
	return s.alerts.Handler()
}

// loadRegistry reads the enterprise registry. A configured file that does
// not exist is a warning (DESIGN.md's minimal collector.yaml names one that a
// new park may not have yet): isolation, intensities and per-enterprise
// regions are then off. An invalid one is an error.
func loadRegistry(path string, log *slog.Logger) (*carbon.Registry, error) {
	if path == "" {
		return nil, nil
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		log.Warn("enterprise registry not found; enterprise isolation, intensities and per-enterprise regions are off", "path", path)
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read enterprise registry: %w", err)
	}
	reg, err := carbon.ParseRegistry(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return reg, nil
}

// newConverter builds the converter from the factor table, the park's
// region and the per-enterprise overrides: the registry's regions first, the
// collector config's overrides over them.
func newConverter(cfg *Config, reg *carbon.Registry) Converter {
	table := cfg.Carbon.table
	if table == nil {
		table = carbon.DefaultTable()
	}
	over := map[string]*carbon.Override{}
	if reg != nil {
		for _, e := range reg.Enterprises {
			if e.Region != "" {
				over[e.ID] = &carbon.Override{Region: e.Region}
			}
		}
	}
	for id, o := range cfg.Carbon.Enterprises {
		over[id] = &o
	}
	return Converter{Factors: table, Region: cfg.Carbon.Region, Overrides: over}
}

func (s *Service) filter() string {
	f := wire.SubscriptionFilter(s.cfg.MQTT.TopicPrefix)
	if s.cfg.MQTT.ShareGroup != "" {
		f = "$share/" + s.cfg.MQTT.ShareGroup + "/" + f
	}
	return f
}

// Ready reports whether the collector can take data: connected to the broker
// and its last write to InfluxDB succeeded.
func (s *Service) Ready() error {
	if !s.connected.Load() {
		return errors.New("not connected to the broker")
	}
	if e := s.writeErr.Load(); e != nil {
		return fmt.Errorf("influxdb write failing: %s", *e)
	}
	return nil
}

// Run subscribes and writes until ctx is done.
func (s *Service) Run(ctx context.Context) error {
	defer s.spool.Close()
	defer s.influx.Close()
	filter := s.filter()
	opts := s.mqttOpts.
		// A persistent session with manual acknowledgement: the broker keeps
		// what was not acknowledged and sends it again after a reconnect.
		SetCleanSession(false).
		SetAutoAckDisabled(true).
		SetAutoReconnect(true).
		SetMaxReconnectInterval(30 * time.Second).
		SetConnectionLostHandler(func(_ mqtt.Client, err error) {
			s.connected.Store(false)
			s.m.connected.Set(0)
			s.log.Warn("broker connection lost", "err", err)
		}).
		SetOnConnectHandler(func(c mqtt.Client) {
			// Subscribe on every connect: a broker that lost its state
			// (no persistence) forgets the subscription.
			tok := c.Subscribe(filter, 1, s.onMessage)
			go func() {
				tok.Wait()
				if err := tok.Error(); err != nil {
					s.log.Error("subscribe failed", "filter", filter, "err", err)
					return
				}
				s.connected.Store(true)
				s.m.connected.Set(1)
				s.log.Info("subscribed", "broker", s.cfg.MQTT.Broker, "filter", filter)
			}()
		})
	// Messages of a persistent session may arrive before Subscribe returns:
	// the default handler must already route them.
	opts.SetDefaultPublishHandler(s.onMessage)
	s.client = mqtt.NewClient(opts)
	connectDone := make(chan struct{})
	go func() {
		defer close(connectDone)
		_ = mqttclient.Connect(ctx, s.client, s.log)
	}()
	defer func() { <-connectDone }()
	defer s.client.Disconnect(250)
	defer close(s.stopped) // runs before Disconnect: frees a handler blocked on the inbox

	s.log.Info("collector running", "influxdb", s.cfg.InfluxDB.URL, "bucket", s.cfg.InfluxDB.Bucket, "region", s.cfg.Carbon.Region)
	// Rollups stop after the writer, so that the last batches' hours are
	// recomputed before the collector exits.
	rollCtx, rollCancel := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	wg.Go(func() { s.rollups.run(rollCtx) })
	if s.alerts != nil {
		wg.Go(func() {
			if err := s.alerts.Run(ctx); err != nil && ctx.Err() == nil {
				s.log.Error("alert engine stopped", "err", err)
			}
		})
		if s.cfg.MQTT.ShareGroup != "" {
			wg.Go(func() { s.observe(ctx) })
		}
	}
	wg.Go(func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-s.drainKick:
				s.drainSpool(ctx)
			}
		}
	})
	if n := s.spool.Stats().Records; n > 0 {
		s.log.Info("draining spooled batches from the last run", "batches", n)
		s.kickDrain()
	}
	err := s.writeLoop(ctx)
	rollCancel()
	wg.Wait()
	return err
}

// onMessage decodes and converts on paho's goroutine and hands the points to
// the writer. A message that can never be stored is acknowledged at once, so
// that a poison message is not redelivered forever.
func (s *Service) onMessage(_ mqtt.Client, msg mqtt.Message) {
	// A slot per message received and not yet acknowledged: this, not the
	// broker, bounds the collector's memory (ingest.max_inflight).
	select {
	case s.slots <- struct{}{}:
	case <-s.stopped:
		return // not acknowledged: the broker delivers it again
	}
	now := time.Now()
	s.m.unacked.Inc()
	env, rej := s.admit(msg.Topic(), msg.Payload(), now)
	if rej != nil {
		s.rejectMessage(msg, rej)
		return
	}
	s.checkSeq(env)
	if env.SentAt > 0 {
		// received − sent: transit time plus the gateway clock's error.
		s.m.clockSkew.WithLabelValues(env.Gateway).Set(float64(now.UnixMilli()-env.SentAt) / 1000)
	}
	hours, intervals := touchedHours(env, nil)
	var gaps []wire.Event
	for _, ev := range env.Events {
		if ev.Kind == "gap" && *s.cfg.Ingest.FillGaps {
			gaps = append(gaps, ev)
		}
	}
	// A pooled buffer: at tens of thousands of readings a second, growing a
	// new one per message was a third of the collector's allocations.
	buf := s.lineBufs.Get().(*[]byte)
	*buf = s.conv.AppendLines((*buf)[:0], env)
	select {
	case s.inbox <- inbound{msg: msg, env: env, lines: buf, npoints: bytes.Count(*buf, []byte{'\n'}), n: len(env.Readings), intervals: intervals, hours: hours, gateway: env.Gateway, gaps: gaps}:
	case <-s.stopped:
		// Not acknowledged: the broker delivers it again to the next session.
		s.release()
	}
}

// maxFuture is how far ahead of the collector's clock a reading may be: more
// is a gateway clock that is wrong, and its points would sit in the future.
const maxFuture = 5 * time.Minute

// checkSeq counts per-gateway seq anomalies. The seq survives agent restarts
// only as a clock-based jump, and shared subscriptions split a gateway's
// envelopes, so these are hints for a person, not errors.
func (s *Service) checkSeq(env *wire.Envelope) {
	s.seqMu.Lock()
	last, seen := s.lastSeq[env.Gateway]
	if !seen || env.Seq > last {
		s.lastSeq[env.Gateway] = env.Seq
	}
	s.seqMu.Unlock()
	switch {
	case !seen:
	case env.Seq <= last:
		s.m.seqGaps.WithLabelValues(env.Gateway, "repeat").Inc()
	case env.Seq > last+1:
		s.m.seqGaps.WithLabelValues(env.Gateway, "gap").Inc()
	}
}

// takeLines appends a message's lines to the batch's and gives its buffer
// back to the pool.
func (s *Service) takeLines(batch []byte, in *inbound) []byte {
	batch = append(batch, *in.lines...)
	s.lineBufs.Put(in.lines)
	in.lines = nil
	return batch
}

// batch is one InfluxDB write in the making: the messages whose points it
// carries, acknowledged once it is durable.
type batch struct {
	msgs    []inbound
	lines   []byte
	npoints int
	touched []int64
	res     chan storeResult // buffered 1: the writer's verdict
}

// writeLoop forms batches of whatever has arrived, so batches grow with the
// load and a lone message is written without waiting (unless ingest.linger
// asks it to wait for company). ingest.writers batches are written at once:
// InfluxDB parses and indexes each write on one core, so a single writer
// left it at one core of two while the collector waited on every write
// (BENCHMARKS.md). Messages are still acknowledged in the order the batches
// were formed, by ackLoop.
func (s *Service) writeLoop(ctx context.Context) error {
	writers := s.cfg.Ingest.Writers
	work := make(chan *batch)
	order := make(chan *batch, writers+1)
	free := make(chan *batch, writers+1) // bounds the batches in flight
	for range writers + 1 {
		free <- &batch{res: make(chan storeResult, 1)}
	}
	var wg sync.WaitGroup
	for range writers {
		wg.Go(func() {
			for b := range work {
				b.res <- s.store(ctx, b.lines, b.npoints, b.touched)
			}
		})
	}
	acked := make(chan struct{})
	go func() {
		defer close(acked)
		s.ackLoop(ctx, order, free)
	}()
	defer func() {
		close(work)
		wg.Wait() // every batch handed to a writer has its verdict
		close(order)
		<-acked
	}()
	for {
		var b *batch
		select {
		case <-ctx.Done():
			return nil
		case b = <-free:
		}
		if !s.fill(ctx, b) {
			return nil // stopping: unacknowledged messages come back from the broker
		}
		select {
		case work <- b:
		case <-ctx.Done():
			s.releaseAll(b)
			return nil
		}
		order <- b // never blocks: at most writers+1 batches exist
	}
}

// fill takes the first message that arrives, then what else has arrived
// (or, with a linger, arrives within it), up to ingest.batch_points. It
// reports false if ctx ended before a first message.
func (s *Service) fill(ctx context.Context, b *batch) bool {
	b.msgs, b.lines, b.npoints = b.msgs[:0], b.lines[:0], 0
	take := func(in inbound) {
		b.lines = s.takeLines(b.lines, &in)
		b.msgs, b.npoints = append(b.msgs, in), b.npoints+in.npoints
	}
	select {
	case <-ctx.Done():
		return false
	case in := <-s.inbox:
		take(in)
	}
	var linger <-chan time.Time
	if s.cfg.Ingest.Linger > 0 && b.npoints < s.cfg.Ingest.BatchPoints {
		t := time.NewTimer(s.cfg.Ingest.Linger)
		defer t.Stop()
		linger = t.C
	}
	for b.npoints < s.cfg.Ingest.BatchPoints {
		select {
		case in := <-s.inbox:
			take(in)
			continue
		default:
		}
		if linger == nil {
			break
		}
		select {
		case in := <-s.inbox:
			take(in)
		case <-linger:
			linger = nil
		case <-ctx.Done():
			linger = nil
		}
	}
	b.touched = b.touched[:0]
	for _, in := range b.msgs {
		for _, h := range in.hours {
			b.touched = addHour(b.touched, h)
		}
	}
	return true
}

// ackLoop takes the batches in the order they were formed, waits for each
// one's verdict and acknowledges its messages once it is durable.
func (s *Service) ackLoop(ctx context.Context, order <-chan *batch, free chan<- *batch) {
	for b := range order {
		res := <-b.res
		if res == stopped {
			s.releaseAll(b) // unacknowledged: the broker delivers them again
			free <- b
			continue
		}
		if res == written {
			s.rollups.touch(b.touched...) // spooled batches are touched when the drainer writes them
		}
		for _, in := range b.msgs {
			for _, ev := range in.gaps {
				if err := s.fillGap(ctx, in.gateway, ev); err != nil {
					s.m.gapFills.WithLabelValues("error").Inc()
					s.log.Warn("cannot fill a meter's gap", "meter", ev.Meter, "err", err)
				}
			}
			in.msg.Ack()
			s.release()
			if s.alerts != nil && s.cfg.MQTT.ShareGroup == "" {
				// On a shared subscription the observer does this (observer.go).
				s.alerts.ObserveReadings(in.gateway, in.env.Readings)
				s.alerts.ObserveEvents(in.gateway, in.env.Events)
			}
			s.m.messages.WithLabelValues(res.String()).Inc()
			s.m.readings.Add(float64(in.n))
			s.m.intervals.Add(float64(in.intervals))
		}
		clear(b.msgs) // drop the envelopes and messages before the batch is reused
		free <- b
	}
}

// release frees a message's slot (ingest.max_inflight) once it is
// acknowledged, or given up unacknowledged when stopping.
func (s *Service) release() {
	s.m.unacked.Dec()
	<-s.slots
}

func (s *Service) releaseAll(b *batch) {
	for range b.msgs {
		s.release()
	}
	clear(b.msgs)
	b.msgs = b.msgs[:0]
}

func (s *Service) kickDrain() {
	select {
	case s.drainKick <- struct{}{}:
	default:
	}
}

type storeResult int

const (
	stopped storeResult = iota
	written
	spooled
)

func (r storeResult) String() string {
	return [...]string{"stopped", "written", "spooled"}[r]
}

// store makes points durable: written to InfluxDB, or, if InfluxDB cannot
// take them now, appended to the spool (always to the spool while it holds
// anything, to keep the order; batches written at once by several writers
// may reach it in either order, which is harmless: a point's identity is its
// series and time). It retries until they are durable or ctx is done.
func (s *Service) store(ctx context.Context, lines []byte, npoints int, touched []int64) storeResult {
	backoff := 200 * time.Millisecond
	for attempt := 1; ; attempt++ {
		if s.spool.Stats().Records == 0 {
			start := time.Now()
			// The batch's bytes as they are: string(lines) copied every
			// batch (~20 MB/s at 130,000 readings/s); the client reads the
			// string only during the call, and nothing writes lines meanwhile.
			err := s.writer.WriteRecord(ctx, unsafe.String(unsafe.SliceData(lines), len(lines)))
			s.m.writeDuration.Observe(time.Since(start).Seconds())
			switch {
			case err == nil:
				s.m.writes.Inc()
				s.writeErr.Store(nil)
				return written
			case ctx.Err() != nil:
				return stopped
			case permanent(err):
				s.writeGood(ctx, splitLines(lines), touched, err)
				return written
			}
			msg := err.Error()
			s.writeErr.Store(&msg)
			s.m.writeErrors.Inc()
			s.log.Warn("influxdb write failed; spooling to disk", "points", npoints, "err", err)
		}
		err := s.spoolAppend(lines, touched)
		if err == nil {
			s.kickDrain()
			return spooled
		}
		if attempt == 1 || attempt%20 == 0 {
			s.log.Error("cannot spool; holding the messages unacknowledged", "points", npoints, "attempt", attempt, "err", err)
		}
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return stopped
		}
		backoff = min(backoff*2, 30*time.Second)
	}
}

// writeGood isolates the points InfluxDB refuses (by halving the batch) so
// that their neighbours are still stored; the refused ones are counted and
// logged, never retried.
func (s *Service) writeGood(ctx context.Context, lines []string, touched []int64, err error) {
	if len(lines) == 1 {
		s.m.rejectedPoints.Inc()
		s.log.Error("influxdb refused a point; dropped", "point", lines[0], "err", err)
		return
	}
	half := len(lines) / 2
	for _, part := range [][]string{lines[:half], lines[half:]} {
		if err := s.writer.WriteRecord(ctx, part...); err != nil {
			if permanent(err) {
				s.writeGood(ctx, part, touched, err)
			} else if aerr := s.spoolAppend([]byte(strings.Join(part, "\n")+"\n"), touched); aerr != nil {
				s.log.Error("cannot spool part of a refused batch; dropped", "points", len(part), "err", aerr)
			} else {
				s.kickDrain()
			}
		}
	}
}

// splitLines cuts line protocol into its lines, without the newlines.
func splitLines(lines []byte) []string {
	return strings.Split(strings.TrimRight(string(lines), "\n"), "\n")
}
