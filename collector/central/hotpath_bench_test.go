package central

// Benchmarks of the collector's per-message CPU path, and a prototype of a
// faster envelope decoder (BENCHMARKS.md, "Collector"). The prototype lives
// here, in a test file, so that its numbers can be reproduced; the tests
// below hold it to the exact result of wire.Decode, so a number is never
// bought with a change in behaviour.
//
//	go test ./collector/central -run '^$' -bench . -benchmem -count 3

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	influxdb2 "github.com/influxdata/influxdb-client-go/v2"
	"github.com/influxdata/influxdb-client-go/v2/api/write"
	lp "github.com/influxdata/line-protocol"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/tidwall/gjson"

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

// BenchmarkDecode is the envelope decode of today (encoding/json and
// Validate, whose identifiers go through a regexp) and the prototypes.
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
		{"gjson+fastValidate", decodeGJSON},
		{"handrolled+fastValidate", decodeFast},
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

// BenchmarkValidate separates the regexp's share of wire.Decode.
func BenchmarkValidate(b *testing.B) {
	env := benchEnvelope(50)
	b.Run("Envelope.Validate", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := env.Validate(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("fastValid", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if !fastValid(env) {
				b.Fatal("invalid")
			}
		}
	})
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
// the network: today's handler (topic, decode, checks, seq, touched hours,
// line protocol) and the writer's share (merging touched hours, per-message
// metrics), against the same path with the prototype decoder, a reused
// line buffer and a reused touched-hours map.
func BenchmarkMessage(b *testing.B) {
	payload := benchPayload(b, benchEnvelope(50))
	msg := fakeMessage{topic: benchTopic, payload: payload}
	b.Run("current", func(b *testing.B) {
		s := benchService(b)
		b.ReportAllocs()
		for b.Loop() {
			s.onMessage(nil, msg)
			in := <-s.inbox
			// The writer's share per message (writeLoop), short of the write.
			touched := map[string]map[int64]struct{}{}
			mergeTouched(touched, in.touched)
			s.m.messages.WithLabelValues(written.String()).Inc()
			s.m.readings.Add(float64(in.n))
			s.m.intervals.Add(float64(in.intervals))
		}
		perReading(b, 50)
	})
	b.Run("prototype", func(b *testing.B) {
		s := benchService(b)
		var buf []byte
		touched := map[string]map[int64]struct{}{}
		written := s.m.messages.WithLabelValues(written.String())
		b.ReportAllocs()
		for b.Loop() {
			now := time.Now()
			env, rej := admitFast(s, msg.Topic(), msg.Payload(), now)
			if rej != nil {
				b.Fatal(rej)
			}
			s.checkSeq(env)
			if env.SentAt > 0 {
				s.m.clockSkew.WithLabelValues(env.Gateway).Set(float64(now.UnixMilli()-env.SentAt) / 1000)
			}
			clear(touched)
			intervals := touchedHours(env, touched)
			buf = s.conv.AppendLines(buf[:0], env)
			written.Inc()
			s.m.readings.Add(float64(len(env.Readings)))
			s.m.intervals.Add(float64(intervals))
		}
		perReading(b, 50)
	})
}

// admitFast is Service.admit with decodeFast and validID.
func admitFast(s *Service, topic string, payload []byte, now time.Time) (*wire.Envelope, *rejection) {
	enterprise, gateway, err := wire.ParseTopic(s.cfg.MQTT.TopicPrefix, topic)
	if err != nil {
		return nil, &rejection{"topic", err}
	}
	if !validID(enterprise) || !validID(gateway) {
		return nil, reject("topic", "topic %q has an invalid enterprise or gateway id", topic)
	}
	if len(payload) > int(s.cfg.Ingest.MaxPayload) {
		return nil, reject("too_large", "payload of %d bytes, more than %d", len(payload), s.cfg.Ingest.MaxPayload)
	}
	env, err := decodeFast(payload)
	if err != nil {
		return nil, &rejection{"malformed", err}
	}
	if env.Gateway != gateway {
		return nil, reject("gateway_mismatch", "envelope of gateway %q on topic %q", env.Gateway, topic)
	}
	for i := range env.Readings {
		if env.Readings[i].Enterprise != enterprise {
			return nil, reject("enterprise_mismatch", "reading %d of enterprise %q on topic %q", i, env.Readings[i].Enterprise, topic)
		}
	}
	for i := range env.Events {
		if env.Events[i].Enterprise != enterprise {
			return nil, reject("enterprise_mismatch", "event %d of enterprise %q on topic %q", i, env.Events[i].Enterprise, topic)
		}
	}
	if rej := s.registered(enterprise, gateway); rej != nil {
		return nil, rej
	}
	s.trim(env, now)
	if len(env.Readings)+len(env.Events) == 0 {
		return nil, reject("no_valid_reading", "every reading was out of range or stamped too far from now")
	}
	return env, nil
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

// ---- prototypes --------------------------------------------------------

// validID is wire.ValidID without the regexp: ^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$.
func validID(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case i > 0 && (c == '_' || c == '.' || c == ':' || c == '-'):
		default:
			return false
		}
	}
	return true
}

// fastValid is Envelope.Validate's verdict with validID; when it says no,
// Validate is asked for the error, so messages stay the same.
func fastValid(e *wire.Envelope) bool {
	n := len(e.Readings) + len(e.Events)
	if e.V != wire.Version || !validID(e.Gateway) || n == 0 || n > wire.MaxReadings {
		return false
	}
	for i := range e.Readings {
		r := &e.Readings[i]
		if !validID(r.Meter) || !validID(r.Enterprise) || !validID(r.Quantity) ||
			math.IsNaN(r.Value) || math.IsInf(r.Value, 0) || r.TS <= 0 || len(r.Unit) > 16 {
			return false
		}
		cum, ok := wire.CumulativeQuantity(r.Energy)
		if !ok {
			return false
		}
		if r.Delta != nil {
			d := *r.Delta
			if r.Quantity != cum || math.IsNaN(d) || math.IsInf(d, 0) || d < 0 || r.Since <= 0 || r.Since >= r.TS {
				return false
			}
		}
	}
	for i := range e.Events {
		if e.Events[i].Validate() != nil {
			return false
		}
	}
	return true
}

// decodeFast parses the envelope as agents write it without reflection, and
// hands anything else (escapes, non-ASCII, null, unknown or repeated keys,
// events, numbers that are not plain) to wire.Decode, whose result and
// errors are thus unchanged. Strings are slices of one copy of the payload:
// one allocation for all of them.
func decodeFast(data []byte) (*wire.Envelope, error) {
	env, ok := parseEnvelope(string(data))
	if !ok {
		return wire.Decode(data)
	}
	if !fastValid(env) {
		return nil, env.Validate()
	}
	return env, nil
}

type jparser struct {
	s string
	i int
}

func (p *jparser) ws() {
	for p.i < len(p.s) {
		switch p.s[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *jparser) eat(c byte) bool {
	p.ws()
	if p.i < len(p.s) && p.s[p.i] == c {
		p.i++
		return true
	}
	return false
}

// str reads a string without escapes, control or non-ASCII bytes.
func (p *jparser) str() (string, bool) {
	if !p.eat('"') {
		return "", false
	}
	start := p.i
	for ; p.i < len(p.s); p.i++ {
		switch c := p.s[p.i]; {
		case c == '"':
			p.i++
			return p.s[start : p.i-1], true
		case c < 0x20 || c == '\\' || c >= 0x80:
			return "", false
		}
	}
	return "", false
}

// number reads a JSON number's text; integer says it has no fraction or exponent.
func (p *jparser) number() (text string, integer, ok bool) {
	p.ws()
	start, s := p.i, p.s
	i := p.i
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && '1' <= s[i] && s[i] <= '9':
		for i < len(s) && '0' <= s[i] && s[i] <= '9' {
			i++
		}
	default:
		return "", false, false
	}
	integer = true
	if i < len(s) && s[i] == '.' {
		integer = false
		i++
		j := i
		for i < len(s) && '0' <= s[i] && s[i] <= '9' {
			i++
		}
		if i == j {
			return "", false, false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		integer = false
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		j := i
		for i < len(s) && '0' <= s[i] && s[i] <= '9' {
			i++
		}
		if i == j {
			return "", false, false
		}
	}
	p.i = i
	return s[start:i], integer, true
}

func (p *jparser) float() (float64, bool) {
	t, _, ok := p.number()
	if !ok {
		return 0, false
	}
	v, err := strconv.ParseFloat(t, 64)
	return v, err == nil
}

func (p *jparser) int64() (int64, bool) {
	t, integer, ok := p.number()
	if !ok || !integer {
		return 0, false
	}
	v, err := strconv.ParseInt(t, 10, 64)
	return v, err == nil
}

// fields walks an object's members, calling member with the parser at each
// value; a key seen twice makes it fail (encoding/json's rules for repeats
// into pointers and slices are left to it).
func (p *jparser) fields(member func(key string) bool) bool {
	if !p.eat('{') {
		return false
	}
	if p.eat('}') {
		return true
	}
	var seen [12]string // a reading has 10 keys
	n := 0
	for {
		key, ok := p.str()
		if !ok || !p.eat(':') || n == len(seen) {
			return false
		}
		for _, k := range seen[:n] {
			if k == key {
				return false
			}
		}
		seen[n] = key
		n++
		if !member(key) {
			return false
		}
		if p.eat('}') {
			return true
		}
		if !p.eat(',') {
			return false
		}
	}
}

func parseEnvelope(s string) (*wire.Envelope, bool) {
	p := &jparser{s: s}
	env := &wire.Envelope{}
	var deltas []float64
	ok := p.fields(func(key string) bool {
		var ok bool
		switch key {
		case "v":
			var v int64
			v, ok = p.int64()
			env.V = int(v)
		case "gateway":
			env.Gateway, ok = p.str()
		case "sent_at":
			env.SentAt, ok = p.int64()
		case "seq":
			var t string
			var integer bool
			t, integer, ok = p.number()
			if ok && integer {
				env.Seq, ok = parseUint(t)
			} else {
				ok = false
			}
		case "readings":
			if !p.eat('[') {
				return false
			}
			// About 200 bytes a reading: one allocation for most envelopes.
			env.Readings = make([]wire.Reading, 0, len(s)/180+1)
			deltas = make([]float64, 0, len(s)/180+1)
			if p.eat(']') {
				return true
			}
			for {
				env.Readings = append(env.Readings, wire.Reading{})
				r := &env.Readings[len(env.Readings)-1]
				if !p.fields(func(key string) bool {
					var ok bool
					switch key {
					case "meter":
						r.Meter, ok = p.str()
					case "enterprise":
						r.Enterprise, ok = p.str()
					case "energy":
						r.Energy, ok = p.str()
					case "quantity":
						r.Quantity, ok = p.str()
					case "unit":
						r.Unit, ok = p.str()
					case "quality":
						r.Quality, ok = p.str()
					case "value":
						r.Value, ok = p.float()
					case "ts":
						r.TS, ok = p.int64()
					case "since":
						r.Since, ok = p.int64()
					case "delta":
						var d float64
						if d, ok = p.float(); ok {
							deltas = append(deltas, d)
							r.Delta = &deltas[len(deltas)-1]
						}
					}
					return ok
				}) {
					return false
				}
				if p.eat(']') {
					return true
				}
				if !p.eat(',') {
					return false
				}
			}
		}
		return ok
	})
	p.ws()
	return env, ok && p.i == len(s)
}

func parseUint(t string) (uint64, bool) {
	v, err := strconv.ParseUint(t, 10, 64)
	return v, err == nil
}

// decodeGJSON is the envelope read with gjson (already a dependency, for
// sensor payloads), for comparison. It falls back to wire.Decode like
// decodeFast wherever encoding/json would decide differently.
func decodeGJSON(data []byte) (*wire.Envelope, error) {
	s := string(data)
	if !gjson.Valid(s) || strings.ContainsFunc(s, func(r rune) bool { return r == '\\' || r >= 0x80 }) {
		return wire.Decode(data)
	}
	env := &wire.Envelope{}
	ok := gjson.Parse(s).IsObject()
	gmembers(gjson.Parse(s), &ok, func(k string, v gjson.Result) bool {
		switch k {
		case "v":
			var n int64
			n, ok = gint(v)
			env.V = int(n)
		case "gateway":
			env.Gateway, ok = gstr(v)
		case "sent_at":
			env.SentAt, ok = gint(v)
		case "seq":
			ok = v.Type == gjson.Number && isUint(v.Raw)
			env.Seq = v.Uint()
		case "readings":
			if !v.IsArray() {
				return false
			}
			arr := v.Array()
			env.Readings = make([]wire.Reading, len(arr))
			deltas := make([]float64, 0, len(arr))
			for i, rv := range arr {
				r := &env.Readings[i]
				if !rv.IsObject() {
					return false
				}
				gmembers(rv, &ok, func(k string, v gjson.Result) bool {
					switch k {
					case "meter":
						r.Meter, ok = gstr(v)
					case "enterprise":
						r.Enterprise, ok = gstr(v)
					case "energy":
						r.Energy, ok = gstr(v)
					case "quantity":
						r.Quantity, ok = gstr(v)
					case "unit":
						r.Unit, ok = gstr(v)
					case "quality":
						r.Quality, ok = gstr(v)
					case "value":
						r.Value, ok = gfloat(v)
					case "ts":
						r.TS, ok = gint(v)
					case "since":
						r.Since, ok = gint(v)
					case "delta":
						var d float64
						if d, ok = gfloat(v); ok {
							deltas = append(deltas, d)
							r.Delta = &deltas[len(deltas)-1]
						}
					default:
						ok = false
					}
					return ok
				})
				if !ok {
					return false
				}
			}
		default:
			ok = false
		}
		return ok
	})
	if !ok {
		return wire.Decode(data)
	}
	if !fastValid(env) {
		return nil, env.Validate()
	}
	return env, nil
}

// gmembers walks an object's members; a repeated key clears ok.
func gmembers(obj gjson.Result, ok *bool, member func(string, gjson.Result) bool) {
	var seen [12]string
	n := 0
	obj.ForEach(func(k, v gjson.Result) bool {
		if n == len(seen) {
			*ok = false
			return false
		}
		for _, s := range seen[:n] {
			if s == k.Str {
				*ok = false
				return false
			}
		}
		seen[n] = k.Str
		n++
		return member(k.Str, v)
	})
}

func gstr(v gjson.Result) (string, bool) { return v.Str, v.Type == gjson.String }

func gint(v gjson.Result) (int64, bool) {
	if v.Type != gjson.Number || !isInt(v.Raw) {
		return 0, false
	}
	n, err := strconv.ParseInt(v.Raw, 10, 64)
	return n, err == nil
}

func gfloat(v gjson.Result) (float64, bool) {
	if v.Type != gjson.Number {
		return 0, false
	}
	f, err := strconv.ParseFloat(v.Raw, 64)
	return f, err == nil
}

func isInt(raw string) bool  { return strings.Trim(strings.TrimPrefix(raw, "-"), "0123456789") == "" }
func isUint(raw string) bool { return strings.Trim(raw, "0123456789") == "" }

// ---- the prototypes do what the code does ------------------------------

// prototypeCorpus covers what the fast paths take and what they hand back:
// every energy, intervals across hours and years, events, escapes, unknown,
// repeated and differently cased keys, null, odd numbers, broken JSON and
// invalid envelopes.
func prototypeCorpus(t *testing.T) [][]byte {
	t.Helper()
	env := benchEnvelope(50)
	payloads := [][]byte{benchPayload(t, env), benchPayload(t, benchEnvelope(1))}
	mixed := benchEnvelope(8)
	for i, e := range []string{wire.Gas, wire.Water, wire.Heat} {
		r := &mixed.Readings[2*i]
		r.Energy, r.Quantity = e, map[string]string{wire.Gas: "volume_total", wire.Water: "volume_total", wire.Heat: "energy_total"}[e]
	}
	// Numbers that encoding/json writes with an exponent (1e-7) or many
	// digits.
	tiny := 0.00001
	mixed.Readings[0].Value, mixed.Readings[1].Value, mixed.Readings[4].Delta = 16777216.5, 1e-7, &tiny
	long := mixed.Readings[6]
	long.Since = long.TS - 3*3600*1000 // spans four hours: head, full, full, tail
	newYear := long
	newYear.TS = time.Date(2025, 1, 1, 0, 30, 0, 0, time.UTC).UnixMilli()
	newYear.Since = newYear.TS - 2*3600*1000
	mixed.Readings = append(mixed.Readings, long, newYear)
	payloads = append(payloads, benchPayload(t, mixed))
	withEvent := benchEnvelope(2)
	withEvent.Events = []wire.Event{{Meter: "m-000", Enterprise: "ent-001", Kind: "reset", Value: 3, TS: withEvent.Readings[0].TS,
		Message: "counter dropped, \"new\" baseline\tat 3 kWh\\"}}
	payloads = append(payloads, benchPayload(t, withEvent))
	good := string(benchPayload(t, benchEnvelope(2)))
	for _, s := range []string{
		strings.Replace(good, `"m-000"`, `"m-\u0030"`, 1),                    // escape: same meter
		strings.Replace(good, `"meter"`, `"Meter"`, 1),                       // encoding/json matches keys case-insensitively
		strings.Replace(good, `"quality"`, `"extra":1,"quality"`, 1),         // unknown key, ignored
		strings.Replace(good, `"unit":"kWh"`, `"unit":"kWh","unit":"Wh"`, 1), // repeated key: last wins
		strings.Replace(good, `"quality":"good"`, `"quality":null`, 1),
		strings.Replace(good, `"seq":42`, `"seq":4.2e1`, 1),
		strings.Replace(good, `"seq":42`, `"seq":-1`, 1),
		strings.Replace(good, `"ts":`, `"ts":1e3,"x":`, 1),
		strings.Replace(good, `"value":`, `"value":-0.5e-3,"y":`, 1),
		strings.Replace(good, `"value":`, `"value":1e999,"y":`, 1),
		strings.Replace(good, `"value":`, `"value":01,"y":`, 1),
		strings.Replace(good, `"m-000"`, `"m 000"`, 1),    // invalid id
		strings.Replace(good, `"m-000"`, `"-m000"`, 1),    // invalid id
		strings.Replace(good, `"m-000"`, `"m-ü"`, 1),      // non-ASCII
		strings.Replace(good, `"delta":`, `"delta":-`, 1), // negative delta
		strings.Replace(good, `"v":1`, `"v":2`, 1),
		strings.Replace(good, `"readings":[`, `"readings":[],"r":[`, 1),
		`{"v":1,"gateway":"gw-01","seq":1,"readings":[]}`,
		`{"v":1,"gateway":"gw-01","seq":1,"readings":null}`,
		` ` + good + "\n",
		good + `x`,
		good[:len(good)-3],
		`[]`, ``, `{}`,
	} {
		payloads = append(payloads, []byte(s))
	}
	return payloads
}

func TestPrototypeDecodersMatchWireDecode(t *testing.T) {
	corpus := prototypeCorpus(t)
	// The first payloads are as agents write them: the fast path must take
	// them, or the benchmark would time wire.Decode twice. A field added to
	// the envelope or the reading lands here too (everything is set in the
	// third one) until the parser learns it.
	for _, p := range corpus[:3] {
		if _, ok := parseEnvelope(string(p)); !ok {
			t.Fatalf("the fast path refuses %.80q", p)
		}
	}
	for i, p := range corpus {
		want, wantErr := wire.Decode(p)
		for name, dec := range map[string]func([]byte) (*wire.Envelope, error){"handrolled": decodeFast, "gjson": decodeGJSON} {
			got, err := dec(p)
			if fmt.Sprint(err) != fmt.Sprint(wantErr) {
				t.Errorf("%s, payload %d %.80q: error %v, want %v", name, i, p, err, wantErr)
				continue
			}
			if wantErr == nil && !sameEnvelope(got, want) {
				t.Errorf("%s, payload %d: %+v, want %+v", name, i, got, want)
			}
		}
	}
}

func sameEnvelope(a, b *wire.Envelope) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return bytes.Equal(ja, jb) && len(a.Readings) == len(b.Readings)
}

func TestValidIDMatchesWire(t *testing.T) {
	ids := []string{"", "a", "A9", "m-101", "ent_1", "x.y:z", "-a", "_a", "a b", "a,b", "a=b", "a/b", "a+b", "a#",
		"ü", "a\n", strings.Repeat("a", 64), strings.Repeat("a", 65), "0", "9z-_.:"}
	for c := range 256 {
		ids = append(ids, "a"+string(rune(c)), string(rune(c))+"a", "a"+string([]byte{byte(c)}))
	}
	for _, id := range ids {
		if validID(id) != wire.ValidID(id) {
			t.Errorf("validID(%q) = %v, wire.ValidID says %v", id, validID(id), wire.ValidID(id))
		}
	}
}
