package wire

import (
	"math"
	"strconv"
	"unicode/utf8"
)

// AppendReading appends r as the JSON object encoding/json makes of it (same
// keys, order, omissions, number and string forms, byte for byte), without
// reflection: the edge agent queues readings in this form and splices them
// into envelopes as they are. The value and delta must be finite (checked at
// acquisition); a non-finite one is written as 0 rather than as invalid JSON.
func AppendReading(b []byte, r *Reading) []byte {
	return AppendReadingRest(AppendReadingHead(b, r), r)
}

// AppendReadingHead appends the start of r's object, up to its quantity:
// {"meter":…,"enterprise":…,"energy":…,"quantity":
// The readings of one poll share it, so it can be copied rather than
// encoded again.
func AppendReadingHead(b []byte, r *Reading) []byte {
	b = append(b, `{"meter":`...)
	b = AppendString(b, r.Meter)
	b = append(b, `,"enterprise":`...)
	b = AppendString(b, r.Enterprise)
	b = append(b, `,"energy":`...)
	b = AppendString(b, r.Energy)
	return append(b, `,"quantity":`...)
}

// AppendReadingRest appends the rest of r's object after AppendReadingHead.
func AppendReadingRest(b []byte, r *Reading) []byte {
	b = AppendString(b, r.Quantity)
	b = append(b, `,"value":`...)
	b = AppendFloat(b, r.Value)
	b = append(b, `,"unit":`...)
	b = AppendString(b, r.Unit)
	b = append(b, `,"ts":`...)
	b = strconv.AppendInt(b, r.TS, 10)
	if r.Quality != "" {
		b = append(b, `,"quality":`...)
		b = AppendString(b, r.Quality)
	}
	if r.Delta != nil {
		b = append(b, `,"delta":`...)
		b = AppendFloat(b, *r.Delta)
	}
	if r.Since != 0 {
		b = append(b, `,"since":`...)
		b = strconv.AppendInt(b, r.Since, 10)
	}
	return append(b, '}')
}

// AppendEvent appends ev as the JSON object encoding/json makes of it.
func AppendEvent(b []byte, ev *Event) []byte {
	b = append(b, `{"meter":`...)
	b = AppendString(b, ev.Meter)
	b = append(b, `,"enterprise":`...)
	b = AppendString(b, ev.Enterprise)
	b = append(b, `,"kind":`...)
	b = AppendString(b, ev.Kind)
	b = append(b, `,"value":`...)
	b = AppendFloat(b, ev.Value)
	if ev.Message != "" {
		b = append(b, `,"message":`...)
		b = AppendString(b, ev.Message)
	}
	b = append(b, `,"ts":`...)
	b = strconv.AppendInt(b, ev.TS, 10)
	return append(b, '}')
}

// AppendFloat appends f as encoding/json formats a float64: the shortest
// representation that round-trips, in 'f' form between 1e-6 and 1e21 and in
// 'e' form (exponent without leading zeros) outside. NaN and ±Inf, which JSON
// cannot carry, are written as 0.
func AppendFloat(b []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(b, '0')
	}
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// e-07 → e-7, as encoding/json does.
		n := len(b)
		if n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

const hexDigits = "0123456789abcdef"

// plain marks the bytes AppendString copies as they are: printable ASCII but
// '"', '\\', '<', '>' and '&'.
var plain = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return t
}()

// AppendString appends s as a JSON string with encoding/json's escaping
// (HTML-safe): '"' and '\\' and the control characters escaped (\b \f \n
// \r \t in short form, the rest as \u00XX), '<' '>' '&' as \u003c \u003e
// \u0026, U+2028 and U+2029 escaped, and each byte of invalid UTF-8 replaced
// by \ufffd. Units and messages are free text; identifiers take the fast path.
func AppendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if plain[c] {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		// Valid JSON unescaped, but not JavaScript (JSONP): encoding/json
		// escapes them, so do we.
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// AppendEnvelope appends an envelope whose readings and events are given as
// already encoded elements, comma-separated (what AppendReading and
// AppendEvent make, joined with ','): the edge uplink splices queued elements
// without decoding them. Keys and order are Encode's; readings is [] rather
// than null when empty, and events is left out when empty.
func AppendEnvelope(b []byte, gateway string, seq uint64, sentAt int64, readings, events []byte) []byte {
	b = AppendEnvelopeHead(b, gateway, seq, sentAt)
	b = append(b, readings...)
	return AppendEnvelopeTail(b, events)
}

// AppendEnvelopeHead appends an envelope up to its first reading:
// {"v":1,"gateway":…,"seq":…,"sent_at":…,"readings":[
// The readings, then AppendEnvelopeTail, complete it.
func AppendEnvelopeHead(b []byte, gateway string, seq uint64, sentAt int64) []byte {
	b = append(b, `{"v":`...)
	b = strconv.AppendInt(b, Version, 10)
	b = append(b, `,"gateway":`...)
	b = AppendString(b, gateway)
	b = append(b, `,"seq":`...)
	b = strconv.AppendUint(b, seq, 10)
	if sentAt != 0 {
		b = append(b, `,"sent_at":`...)
		b = strconv.AppendInt(b, sentAt, 10)
	}
	return append(b, `,"readings":[`...)
}

// AppendEnvelopeTail closes the readings of an envelope begun with
// AppendEnvelopeHead and appends its events (comma-separated elements;
// none: no "events" key).
func AppendEnvelopeTail(b []byte, events []byte) []byte {
	b = append(b, ']')
	if len(events) > 0 {
		b = append(b, `,"events":[`...)
		b = append(b, events...)
		b = append(b, ']')
	}
	return append(b, '}')
}
