package wire

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"unsafe"
)

// Decode parses and validates an envelope. Every error names the field and,
// for a reading, its index.
//
// Envelopes as agents write them (plain ASCII strings, plain numbers, no
// repeated or unknown keys, no events) take a reflection-free parser: it is
// the collector's hot path, about three times cheaper than encoding/json
// (BENCHMARKS.md). Anything else goes to encoding/json, so the result and
// every error are exactly what encoding/json and Validate give; a test and a
// differential fuzz target hold the two paths to that.
func Decode(data []byte) (*Envelope, error) {
	return decode(data, string(data))
}

// DecodeShared is Decode whose strings share data's memory instead of a
// copy of it: data must never change afterwards. It is for payloads that
// nothing writes once received, such as an MQTT message's (the copy was a
// twentieth of the collector's CPU and as much memory again as the payloads
// it holds). A string kept beyond the envelope keeps the whole payload
// alive, as it kept the copy.
func DecodeShared(data []byte) (*Envelope, error) {
	return decode(data, unsafe.String(unsafe.SliceData(data), len(data)))
}

func decode(data []byte, s string) (*Envelope, error) {
	env, ok := parseEnvelope(s)
	if !ok {
		return decodeStd(data)
	}
	if !env.valid() {
		return nil, env.Validate() // the slow path only to word the error
	}
	return env, nil
}

// decodeStd is Decode by encoding/json.
func decodeStd(data []byte) (*Envelope, error) {
	var env Envelope
	if err := json.Unmarshal(data, &env); err != nil {
		return nil, fmt.Errorf("decode envelope: %w", err)
	}
	if err := env.Validate(); err != nil {
		return nil, err
	}
	return &env, nil
}

// valid is Validate's verdict without building an error.
func (e *Envelope) valid() bool {
	n := len(e.Readings) + len(e.Events)
	if e.V != Version || !ValidID(e.Gateway) || n == 0 || n > MaxReadings {
		return false
	}
	for i := range e.Readings {
		r := &e.Readings[i]
		if !ValidID(r.Meter) || !ValidID(r.Enterprise) || !ValidID(r.Quantity) ||
			math.IsNaN(r.Value) || math.IsInf(r.Value, 0) || r.TS <= 0 || len(r.Unit) > 16 {
			return false
		}
		cum, ok := CumulativeQuantity(r.Energy)
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

// jparser reads the subset of JSON agents write. Strings are slices of the
// one copy of the payload Decode makes: one allocation for all of them.
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

// str reads a string without escapes, control or non-ASCII bytes (those go
// to encoding/json, which knows its rules for them).
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
// value. A key seen twice fails: encoding/json's rules for repeats (last
// wins, merged into pointers) are left to it.
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

// parseEnvelope parses an envelope as agents write it; false means "not
// that subset", never "invalid": the caller then asks encoding/json.
func parseEnvelope(s string) (*Envelope, bool) {
	p := &jparser{s: s}
	env := &Envelope{}
	var deltas []float64
	ok := p.fields(func(key string) bool {
		var ok bool
		switch key {
		case "v":
			var v int64
			v, ok = p.int64()
			env.V = int(v)
			ok = ok && v >= math.MinInt32 && v <= math.MaxInt32 // int's range on 32-bit gateways
		case "gateway":
			env.Gateway, ok = p.str()
		case "sent_at":
			env.SentAt, ok = p.int64()
		case "seq":
			var t string
			var integer bool
			if t, integer, ok = p.number(); ok && integer {
				var err error
				env.Seq, err = strconv.ParseUint(t, 10, 64)
				ok = err == nil
			} else {
				ok = false
			}
		case "readings":
			ok = p.readings(env, &deltas)
		}
		return ok
	})
	p.ws()
	return env, ok && p.i == len(s)
}

func (p *jparser) readings(env *Envelope, deltas *[]float64) bool {
	if !p.eat('[') {
		return false
	}
	// About 200 bytes a reading: one allocation for most envelopes.
	env.Readings = make([]Reading, 0, len(p.s)/180+1)
	*deltas = make([]float64, 0, len(p.s)/180+1)
	if p.eat(']') {
		return true
	}
	for {
		env.Readings = append(env.Readings, Reading{})
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
					// A pointer into a slice that may move on append: the
					// old array stays alive behind earlier pointers.
					*deltas = append(*deltas, d)
					r.Delta = &(*deltas)[len(*deltas)-1]
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
