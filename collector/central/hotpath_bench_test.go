package central

// Benchmarks of the collector's per-message CPU path (BENCHMARKS.md,
// "Collector").
//
//	go test ./collector/central -run '^$' -bench . -benchmem -count 3

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	influxdb2 "github.com/influxdata/influxdb-client-go/v2"
	"github.com/influxdata/influxdb-client-go/v2/api/write"
	lp "github.com/influxdata/line-protocol"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/parkcarbon/parkcarbon/carbon"
	"github.com/parkcarbon/parkcarbon/internal/wire"
)

const benchTopic = "park/ent-001/gw-01/readings"

// benchEnvelope is what an edge agent publishes: n readings of one
// enterprise, every other one a meter's total with its 10 s interval, the
// others its active power (the mix parkctl load sends by default).
func benchEnvelope(n int) *wire.Envelope {
	ts := time.Now().Truncate(time.Hour).Add(-45 * time.Minute).UnixMilli() // a quarter past: no interval crosses an hour
	// Stamped shortly before now: the collector drops readings too old or
	// too far ahead.
	env := &wire.Envelope{V: 1, Gateway: "gw-01", Seq: 42, SentAt: ts + 60_000}
	for i := range n {
		r := wire.Reading{Meter: fmt.Sprintf("m-%03d", i/2), Enterprise: "ent-001", Energy: wire.Electricity,
			TS: ts + int64(i), Quality: "good"}
		if i%2 == 0 {
			d := 0.137 + float64(i)/1000
			r.Quantity, r.Unit, r.Value, r.Delta, r.Since = "energy_import_total", "kWh", 123456.78+float64(i), &d, r.TS-10_000
		} else {
			r.Quantity, r.Unit, r.Value = "active_power", "kW", 49.3+float64(i)/10
		}
		env.Readings = append(env.Readings, r)
	}
	return env
}

func benchPayload(tb testing.TB, env *wire.Envelope) []byte {
	tb.Helper()
	b, err := wire.Encode(env)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func benchConverter() *Converter { return &Converter{Factors: carbon.DefaultTable(), Region: "CN"} }

// encodeLP is what WriteAPIBlocking.WritePoint does with the points before
// the HTTP request (influxdb-client-go internal/write.Service.EncodePoints).
func encodeLP(buf *bytes.Buffer, points []*write.Point) error {
	e := lp.NewEncoder(buf)
	e.SetFieldTypeSupport(lp.UintSupport)
	e.FailOnFieldErr(true)
	e.SetPrecision(time.Millisecond)
	for _, p := range points {
		if _, err := e.Encode(p); err != nil {
			return err
		}
	}
	return nil
}

func perReading(b *testing.B, n int) {
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/reading")
}

// BenchmarkDecode is wire.Decode (its reflection-free fast path) against
// encoding/json alone, without even the validation.
func BenchmarkDecode(b *testing.B) {
	payload := benchPayload(b, benchEnvelope(50))
	for _, bc := range []struct {
		name string
		fn   func([]byte) (*wire.Envelope, error)
	}{
		{"wire.Decode", wire.Decode},
		{"json-only", func(p []byte) (*wire.Envelope, error) {
			var env wire.Envelope
			return &env, json.Unmarshal(p, &env)
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(payload)))
			for b.Loop() {
				if _, err := bc.fn(payload); err != nil {
					b.Fatal(err)
				}
			}
			perReading(b, 50)
		})
	}
}

// BenchmarkValidate is the validation's share of wire.Decode.
func BenchmarkValidate(b *testing.B) {
	env := benchEnvelope(50)
	b.ReportAllocs()
	for b.Loop() {
		if err := env.Validate(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkConverterPoints(b *testing.B) {
	env, c := benchEnvelope(50), benchConverter()
	var points []*write.Point
	b.ReportAllocs()
	for b.Loop() {
		points = c.Points(points[:0], env)
	}
	if len(points) != 75 {
		b.Fatalf("%d points", len(points))
	}
	perReading(b, 50)
}

// BenchmarkLineProtocol encodes one envelope's 75 points: with the helper
// the brief names, with the encoder WriteAPIBlocking.WritePoint uses (both
// from the points Converter.Points built), and with Converter.AppendLines,
// which needs no point at all (so it includes what Points costs).
func BenchmarkLineProtocol(b *testing.B) {
	env, c := benchEnvelope(50), benchConverter()
	points := c.Points(nil, env)
	b.Run("write.PointToLineProtocol", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			for _, p := range points {
				_ = write.PointToLineProtocol(p, time.Millisecond)
			}
		}
		perReading(b, 50)
	})
	b.Run("lp.Encoder", func(b *testing.B) {
		var buf bytes.Buffer
		b.ReportAllocs()
		for b.Loop() {
			buf.Reset()
			if err := encodeLP(&buf, points); err != nil {
				b.Fatal(err)
			}
		}
		perReading(b, 50)
	})
	b.Run("Points+lp.Encoder", func(b *testing.B) {
		var buf bytes.Buffer
		var points []*write.Point
		b.ReportAllocs()
		for b.Loop() {
			points = c.Points(points[:0], env)
			buf.Reset()
			if err := encodeLP(&buf, points); err != nil {
				b.Fatal(err)
			}
		}
		perReading(b, 50)
	})
	b.Run("AppendLines", func(b *testing.B) {
		var buf []byte
		b.ReportAllocs()
		for b.Loop() {
			buf = c.AppendLines(buf[:0], env)
		}
		perReading(b, 50)
	})
}

// fakeMessage is an MQTT message as paho hands it to the handler.
type fakeMessage struct {
	topic   string
	payload []byte
}

func (fakeMessage) Duplicate() bool   { return false }
func (fakeMessage) Qos() byte         { return 1 }
func (fakeMessage) Retained() bool    { return false }
func (m fakeMessage) Topic() string   { return m.topic }
func (fakeMessage) MessageID() uint16 { return 1 }
func (m fakeMessage) Payload() []byte { return m.payload }
func (fakeMessage) Ack()              {}

func benchService(b *testing.B) *Service {
	b.Helper()
	cfg := &Config{
		MQTT:     MQTTConfig{Broker: "tcp://127.0.0.1:1"},
		InfluxDB: InfluxConfig{URL: "http://127.0.0.1:1", Bucket: "energy/autogen"},
		Spool:    SpoolConfig{Dir: filepath.Join(b.TempDir(), "spool")},
	}
	cfg.setDefaults()
	s, err := New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.spool.Close(); s.influx.Close() })
	return s
}

// BenchmarkMessage is the whole CPU path of one 50-reading envelope short of
// the network: the handler (topic, decode, checks, seq, touched hours, line
// protocol) and the writer's share (merging touched hours, per-message
// metrics).
func BenchmarkMessage(b *testing.B) {
	payload := benchPayload(b, benchEnvelope(50))
	msg := fakeMessage{topic: benchTopic, payload: payload}
	s := benchService(b)
	written := s.m.messages.WithLabelValues(written.String())
	var touched []int64
	var lines []byte
	b.ReportAllocs()
	for b.Loop() {
		s.onMessage(nil, msg)
		in := <-s.inbox
		// The writer's share per message (writeLoop), short of the write.
		lines = s.takeLines(lines[:0], &in)
		touched = touched[:0]
		for _, h := range in.hours {
			touched = addHour(touched, h)
		}
		written.Inc()
		s.m.readings.Add(float64(in.n))
		s.m.intervals.Add(float64(in.intervals))
		s.release()
	}
	perReading(b, 50)
}

// BenchmarkWrite is WriteAPIBlocking.WritePoint of one 5000-point batch (the
// default ingest.batch_points) to a local server that reads and discards the
// body: the client's encoding and HTTP cost, with and without gzip. The
// server's reading is in the numbers too; it is small next to the rest.
func BenchmarkWrite(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	env, c := benchEnvelope(50), benchConverter()
	var points []*write.Point
	for range 5000 / 75 {
		points = c.Points(points, env)
	}
	var body []byte
	for range 5000 / 75 {
		body = c.AppendLines(body, env)
	}
	readings := 50 * (5000 / 75)
	for _, gz := range []bool{false, true} {
		b.Run(fmt.Sprintf("WritePoint/gzip=%v", gz), func(b *testing.B) {
			client := influxdb2.NewClientWithOptions(srv.URL, "t", influxdb2.DefaultOptions().SetPrecision(time.Millisecond).SetUseGZip(gz))
			defer client.Close()
			w := client.WriteAPIBlocking("park", "energy/autogen")
			b.ReportAllocs()
			for b.Loop() {
				if err := w.WritePoint(context.Background(), points...); err != nil {
					b.Fatal(err)
				}
			}
			perReading(b, readings)
		})
		b.Run(fmt.Sprintf("WriteRecord(AppendLines)/gzip=%v", gz), func(b *testing.B) {
			client := influxdb2.NewClientWithOptions(srv.URL, "t", influxdb2.DefaultOptions().SetPrecision(time.Millisecond).SetUseGZip(gz))
			defer client.Close()
			w := client.WriteAPIBlocking("park", "energy/autogen")
			b.ReportAllocs()
			for b.Loop() {
				// As Service.store does: one string, the whole batch.
				if err := w.WriteRecord(context.Background(), string(body)); err != nil {
					b.Fatal(err)
				}
			}
			perReading(b, readings)
		})
	}
}
