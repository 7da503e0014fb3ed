// Package sensor maps the MQTT messages of energy sensors (Wi-Fi plugs, energy meters,
// water and gas meters that publish JSON or plain numbers) to readings. A mapping names
// the topic filter to subscribe to, where the meter and enterprise ids come from, which
// JSON paths hold which quantities in which units, and where the timestamp is. Mappings
// are YAML files; the ones shipped with the project are embedded.
//
// The package is pure: it does no I/O beyond reading its embedded files, and Readings
// may be called from any number of goroutines.
package sensor

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/tidwall/gjson"

	"github.com/parkcarbon/parkcarbon/internal/wire"
)

//go:embed mappings/*.yaml
var builtin embed.FS

// Reasons a message is rejected, for errors.Is (and metric labels): every error of
// Readings wraps exactly one of them.
var (
	ErrTopic     = errors.New("topic")     // the topic does not match, or names an invalid id
	ErrPayload   = errors.New("payload")   // not JSON, not a number, too large, or none of the values
	ErrValue     = errors.New("value")     // a value present but not a finite number
	ErrTimestamp = errors.New("timestamp") // missing, malformed or implausible timestamp
	ErrConfig    = errors.New("config")    // the mapping cannot produce readings (no enterprise)
)

// MaxPayload bounds the messages Readings looks at: sensor messages are a few hundred
// bytes, and a bound keeps a garbage message from costing much.
const MaxPayload = 64 << 10

// maxAhead is how far a payload's timestamp may lie after its arrival. Device and gateway
// clocks drift by seconds; an hour or more is a wrong time zone or unit in the mapping,
// or a device clock that was never set, and would book consumption in the future.
const maxAhead = time.Hour

// minTS is 2000-01-01 UTC in epoch ms: anything earlier is a clock that was never set
// (Tasmota reports 1970-01-01T00:00:xx until it has synchronised with NTP).
const minTS = 946_684_800_000

// Mapping turns the messages of one kind of sensor into readings. It is immutable.
type Mapping struct {
	name, description string
	filter            string
	levels            []string // filter split at '/'
	meter, enterprise idSource
	energy            string
	number            bool // the payload is a plain number, not JSON
	ts                tsSource
	values            []value
}

// idSource is where a meter or enterprise id comes from.
type idSource struct {
	segment int    // topic level, or -1 for the fixed value
	value   string // fixed id; "" with segment -1 means none (an enterprise left to the config)
	prefix  string // prepended to a segment
}

type tsFormat uint8

const (
	tsArrival tsFormat = iota // no timestamp in the payload: the message's arrival
	tsRFC3339
	tsEpochS
	tsEpochMS
	tsLocal // RFC 3339 without a zone, in loc (a zone in the text wins)
)

type tsSource struct {
	path   string
	format tsFormat
	loc    *time.Location
}

type value struct {
	quantity string
	path     string // gjson path; "" for a plain-number payload
	unit     string // base unit the reading is stored in
	p, q     float64
}

// Name is the mapping's name, e.g. tasmota-energy.
func (m *Mapping) Name() string { return m.name }

// Description says which devices and messages the mapping is for.
func (m *Mapping) Description() string { return m.description }

// Filter is the MQTT topic filter to subscribe to, e.g. tele/+/SENSOR.
func (m *Mapping) Filter() string { return m.filter }

// NeedsEnterprise reports whether the mapping has no enterprise of its own (the shipped
// ones have none) and must be given one with WithEnterprise before Readings can succeed.
func (m *Mapping) NeedsEnterprise() bool {
	return m.enterprise.segment < 0 && m.enterprise.value == ""
}

// WithEnterprise returns a copy of the mapping whose readings all belong to enterprise
// id, whatever the mapping said: one mapping serves every enterprise of a park.
func (m *Mapping) WithEnterprise(id string) (*Mapping, error) {
	if !wire.ValidID(id) {
		return nil, fmt.Errorf("mapping %s: invalid enterprise %q", m.name, id)
	}
	c := *m
	c.enterprise = idSource{segment: -1, value: id}
	return &c, nil
}

// Readings appends the readings in one message to dst and returns the extended slice.
// The readings carry meter, enterprise, energy, quantity, value in the base unit, unit,
// ts (epoch ms) and quality "good"; Delta and Since are the edge agent's to set. A value
// missing from the payload (or null) is skipped, as devices leave out what they do not
// measure; a payload with none of the values, or with a value that is not a finite
// number, is an error, and then dst is returned unchanged. arrival stamps the readings
// when the mapping takes no timestamp from the payload.
func (m *Mapping) Readings(topic string, payload []byte, arrival time.Time, dst []wire.Reading) ([]wire.Reading, error) {
	n0 := len(dst)
	dst, err := m.readings(topic, payload, arrival, dst)
	if err != nil {
		return dst[:n0], fmt.Errorf("mapping %s: %w", m.name, err)
	}
	return dst, nil
}

func (m *Mapping) readings(topic string, payload []byte, arrival time.Time, dst []wire.Reading) ([]wire.Reading, error) {
	if m.NeedsEnterprise() {
		return dst, fmt.Errorf("%w: no enterprise (give one in the edge config)", ErrConfig)
	}
	segM, segE, ok := match(m.levels, topic, m.meter.segment, m.enterprise.segment)
	if !ok {
		return dst, fmt.Errorf("%w: %q does not match %s", ErrTopic, clip(topic), m.filter)
	}
	meter, err := m.meter.id(segM, "meter")
	if err != nil {
		return dst, err
	}
	enterprise, err := m.enterprise.id(segE, "enterprise")
	if err != nil {
		return dst, err
	}
	if len(payload) > MaxPayload {
		return dst, fmt.Errorf("%w: %d bytes, more than %d", ErrPayload, len(payload), MaxPayload)
	}
	// One copy, so that the gjson results below point into it rather than each
	// being copied out of the byte slice.
	doc := string(payload)
	if !gjson.Valid(doc) {
		return dst, fmt.Errorf("%w: not JSON: %q", ErrPayload, clip(doc))
	}
	ts, err := m.ts.at(doc, arrival)
	if err != nil {
		return dst, err
	}

	r := wire.Reading{Meter: meter, Enterprise: enterprise, Energy: m.energy, TS: ts, Quality: "good"}
	n0 := len(dst)
	for _, v := range m.values {
		var res gjson.Result
		if m.number {
			res = gjson.Parse(doc)
		} else {
			res = gjson.Get(doc, v.path)
		}
		if !res.Exists() || res.Type == gjson.Null {
			continue
		}
		what := v.path
		if m.number {
			what = "payload"
		}
		if res.Type != gjson.Number {
			return dst[:n0], fmt.Errorf("%w: %s is %s, not a number", ErrValue, what, describe(res))
		}
		x := scale(res.Num, v.p, v.q)
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return dst[:n0], fmt.Errorf("%w: %s = %s is not a finite number of %s", ErrValue, what, clip(res.Raw), v.unit)
		}
		r.Quantity, r.Value, r.Unit = v.quantity, x, v.unit
		dst = append(dst, r)
	}
	if len(dst) == n0 {
		return dst, fmt.Errorf("%w: none of %s in %q", ErrPayload, m.paths(), clip(doc))
	}
	return dst, nil
}

// id is a reading's meter or enterprise id, from the topic level seg if it comes from one.
func (s idSource) id(seg, what string) (string, error) {
	if s.segment < 0 {
		return s.value, nil
	}
	id := s.prefix + seg
	if !wire.ValidID(id) {
		return "", fmt.Errorf("%w: %s id %q from topic level %d is not a valid id", ErrTopic, what, clip(id), s.segment)
	}
	return id, nil
}

// at is the reading time in epoch ms.
func (t tsSource) at(doc string, arrival time.Time) (int64, error) {
	if t.format == tsArrival {
		ms := arrival.UnixMilli()
		if ms < minTS {
			return 0, fmt.Errorf("%w: arrival %s is before 2000: is the gateway clock set?", ErrTimestamp, arrival.UTC().Format(time.RFC3339))
		}
		return ms, nil
	}
	res := gjson.Get(doc, t.path)
	if !res.Exists() || res.Type == gjson.Null {
		return 0, fmt.Errorf("%w: %s missing", ErrTimestamp, t.path)
	}
	// Compared as float64 so that absurd epochs are rejected before an int64
	// conversion could overflow.
	var ms float64
	switch t.format {
	case tsEpochS, tsEpochMS:
		if res.Type != gjson.Number {
			return 0, fmt.Errorf("%w: %s is %s, not a number", ErrTimestamp, t.path, describe(res))
		}
		ms = res.Num
		if t.format == tsEpochS {
			ms *= 1000
		}
		ms = math.Round(ms)
	default:
		if res.Type != gjson.String {
			return 0, fmt.Errorf("%w: %s is %s, not a date-time string", ErrTimestamp, t.path, describe(res))
		}
		var tm time.Time
		var err error
		if t.format == tsLocal && !hasZone(res.Str) {
			tm, err = time.ParseInLocation("2006-01-02T15:04:05", res.Str, t.loc)
		} else {
			tm, err = time.Parse(time.RFC3339Nano, res.Str)
		}
		if err != nil {
			return 0, fmt.Errorf("%w: %s = %q is not RFC 3339", ErrTimestamp, t.path, clip(res.Str))
		}
		ms = float64(tm.UnixMilli())
	}
	if limit := float64(arrival.Add(maxAhead).UnixMilli()); ms > limit || !(ms >= minTS) {
		return 0, fmt.Errorf("%w: %s = %s is before 2000 or more than %v after arrival %s (device clock, or the mapping's zone or unit?)",
			ErrTimestamp, t.path, clip(res.Raw), maxAhead, arrival.UTC().Format(time.RFC3339))
	}
	return int64(ms), nil
}

// hasZone reports whether an RFC 3339 date-time ends in Z or ±hh:mm, as Tasmota's
// Time does with SetOption52.
func hasZone(s string) bool {
	if strings.HasSuffix(s, "Z") || strings.HasSuffix(s, "z") {
		return true
	}
	n := len(s)
	return n >= 6 && (s[n-6] == '+' || s[n-6] == '-') && s[n-3] == ':'
}

func (m *Mapping) paths() string {
	if m.number {
		return "the payload"
	}
	ps := make([]string, len(m.values))
	for i, v := range m.values {
		ps[i] = v.path
	}
	return strings.Join(ps, ", ")
}

// describe names a JSON value's type for an error, with a short excerpt.
func describe(r gjson.Result) string {
	switch r.Type {
	case gjson.String:
		return fmt.Sprintf("the string %q", clip(r.Str))
	case gjson.True, gjson.False:
		return "a boolean"
	case gjson.JSON:
		if r.IsArray() {
			return "an array"
		}
		return "an object"
	case gjson.Number:
		return "a number"
	}
	return "null"
}

// clip shortens what a device sent before it goes into an error and a log line.
func clip(s string) string {
	const n = 64
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// Builtin returns an embedded mapping by name.
func Builtin(name string) (*Mapping, error) {
	file := "mappings/" + name + ".yaml"
	data, err := builtin.ReadFile(file)
	if err != nil || !validName(name) {
		return nil, fmt.Errorf("unknown sensor mapping %q (known: %s)", name, strings.Join(BuiltinNames(), ", "))
	}
	m, err := Parse(data, file)
	if err != nil {
		return nil, err
	}
	if m.name != name {
		return nil, fmt.Errorf("%s: name %q does not match the file name", file, m.name)
	}
	return m, nil
}

// BuiltinNames lists the embedded mappings, sorted.
func BuiltinNames() []string {
	files, _ := fs.Glob(builtin, "mappings/*.yaml") // the pattern is constant and valid
	names := make([]string, 0, len(files))
	for _, f := range files {
		names = append(names, strings.TrimSuffix(path.Base(f), ".yaml"))
	}
	slices.Sort(names)
	return names
}
