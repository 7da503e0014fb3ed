package edge

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"unsafe"

	"github.com/parkcarbon/parkcarbon/internal/wire"
)

// What the disk queue holds: one record per enterprise per group commit
// (the polls of one commit window, up to batch_size readings and events; a
// sensor message or an event on its own may make one too):
//
//	pollFormat                       1 byte; JSON, the oldest format, starts with '{'
//	uvarint len(enterprise), enterprise
//	uvarint readings, uvarint events counts
//	varint  ts                       epoch ms of the oldest element's poll (buffer_oldest_age)
//	uint32  len(readings)            big-endian
//	readings                         runs, below
//	events                           wire.AppendEvent elements joined by ',', to the end
//
// The readings are compact, and the uplink writes their JSON: a second's
// polls of a 200-meter gateway are ~110 kB through bbolt rather than the
// ~700 kB of their JSON, which made bbolt's page buffers, checksums, writes
// and the GC they drive a third of the agent's CPU. A run is readings that
// share meter and energy (a poll's, normally):
//
//	uvarint len(meter), meter, uvarint len(energy), energy
//	varint  ts                       the run's first reading's
//	uvarint n                        readings, n ≥ 1, each:
//	  uvarint len(quantity), quantity, uvarint len(unit), unit
//	  uint64  value                  float64 bits, little-endian
//	  byte    flags                  the fields that follow, in this order:
//	  varint  ts - the run's ts      hasTS
//	  uvarint len(quality), quality  hasQuality; qualityGood is "good" without them
//	  uint64  delta                  hasDelta, as value
//	  varint  since                  hasSince
//
// One enterprise per record: an envelope holds one enterprise's readings.
// Records of pollFormatJSON (agents up to b113529: the readings already as
// wire.AppendReading elements joined by ',', one record per poll up to
// 0c5921c) read as before.
const (
	pollFormatJSON = 0x01
	pollFormat     = 0x02
)

// A compact reading's flags.
const (
	hasTS = 1 << iota
	hasQuality
	qualityGood
	hasDelta
	hasSince
)

// recordHeadMax is the most bytes a record's head (all before its readings)
// takes for an enterprise id of n bytes.
func recordHeadMax(n int) int { return 1 + 4*binary.MaxVarintLen64 + n + 4 }

// appendRecordHead appends the head of a record whose readings take
// readingsLen bytes.
func appendRecordHead(b []byte, ent string, nr, ne int, ts int64, readingsLen int) []byte {
	b = append(b, pollFormat)
	b = binary.AppendUvarint(b, uint64(len(ent)))
	b = append(b, ent...)
	b = binary.AppendUvarint(b, uint64(nr))
	b = binary.AppendUvarint(b, uint64(ne))
	b = binary.AppendVarint(b, ts)
	return binary.BigEndian.AppendUint32(b, uint32(readingsLen))
}

// countOf counts the finite readings and events of enterprise ent, and
// returns the time of the first (a reading's if there is one).
func countOf(ent string, readings []wire.Reading, events []wire.Event) (nr, ne int, ts int64) {
	for i := range readings {
		if r := &readings[i]; r.Enterprise == ent && finite(r.Value) {
			if nr == 0 {
				ts = r.TS
			}
			nr++
		}
	}
	for i := range events {
		if ev := &events[i]; ev.Enterprise == ent && finite(ev.Value) {
			if nr+ne == 0 {
				ts = ev.TS
			}
			ne++
		}
	}
	return nr, ne, ts
}

// appendPollRecord appends the record of the finite readings and the events
// of enterprise ent; it appends nothing if there are none.
func appendPollRecord(b []byte, ent string, readings []wire.Reading, events []wire.Event) []byte {
	nr, ne, ts := countOf(ent, readings, events)
	if nr+ne == 0 {
		return b
	}
	b = appendRecordHead(b, ent, nr, ne, ts, 0)
	lenAt := len(b) - 4
	b = appendReadingsOf(b, ent, readings)
	binary.BigEndian.PutUint32(b[lenAt:], uint32(len(b)-lenAt-4))
	return appendEventsOf(b, false, ent, events)
}

// appendReadingsOf appends the finite readings of enterprise ent as runs.
func appendReadingsOf(b []byte, ent string, readings []wire.Reading) []byte {
	of := func(r *wire.Reading) bool { return r.Enterprise == ent && finite(r.Value) }
	for i := 0; i < len(readings); {
		r := &readings[i]
		if !of(r) {
			i++
			continue
		}
		// The run: r and the readings of ent after it up to one of another
		// meter or energy.
		n, j := 0, i
		for ; j < len(readings); j++ {
			if q := &readings[j]; of(q) {
				if q.Meter != r.Meter || q.Energy != r.Energy {
					break
				}
				n++
			}
		}
		b = appendText(b, r.Meter)
		b = appendText(b, r.Energy)
		b = binary.AppendVarint(b, r.TS)
		b = binary.AppendUvarint(b, uint64(n))
		for k := i; k < j; k++ {
			if q := &readings[k]; of(q) {
				b = appendCompact(b, q, r.TS)
			}
		}
		i = j
	}
	return b
}

// appendCompact appends one reading of a run whose ts is runTS.
func appendCompact(b []byte, r *wire.Reading, runTS int64) []byte {
	b = appendText(b, r.Quantity)
	b = appendText(b, r.Unit)
	b = binary.LittleEndian.AppendUint64(b, math.Float64bits(r.Value))
	var flags byte
	if r.TS != runTS {
		flags |= hasTS
	}
	switch r.Quality {
	case "":
	case "good":
		flags |= qualityGood
	default:
		flags |= hasQuality
	}
	if r.Delta != nil {
		flags |= hasDelta
	}
	if r.Since != 0 {
		flags |= hasSince
	}
	b = append(b, flags)
	if flags&hasTS != 0 {
		b = binary.AppendVarint(b, r.TS-runTS)
	}
	if flags&hasQuality != 0 {
		b = appendText(b, r.Quality)
	}
	if flags&hasDelta != 0 {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(*r.Delta))
	}
	if flags&hasSince != 0 {
		b = binary.AppendVarint(b, r.Since)
	}
	return b
}

func appendText(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// compactReader reads a record's compact readings; a read past the end or
// a bad varint sets bad.
type compactReader struct {
	b   []byte
	bad bool
}

func (c *compactReader) uvarint() uint64 {
	v, n := binary.Uvarint(c.b)
	if n <= 0 {
		c.bad, c.b = true, nil
		return 0
	}
	c.b = c.b[n:]
	return v
}

// varint undoes binary.AppendVarint's zig-zag encoding.
func (c *compactReader) varint() int64 {
	u := c.uvarint()
	return int64(u>>1) ^ -int64(u&1)
}

func (c *compactReader) float() float64 {
	if len(c.b) < 8 {
		c.bad, c.b = true, nil
		return 0
	}
	v := math.Float64frombits(binary.LittleEndian.Uint64(c.b))
	c.b = c.b[8:]
	return v
}

func (c *compactReader) byte() byte {
	if len(c.b) < 1 {
		c.bad = true
		return 0
	}
	v := c.b[0]
	c.b = c.b[1:]
	return v
}

// text returns a string aliasing the record's bytes (see bytesText).
func (c *compactReader) text() string {
	n := c.uvarint()
	if n > uint64(len(c.b)) {
		c.bad, c.b = true, nil
		return ""
	}
	s := bytesText(c.b[:n])
	c.b = c.b[n:]
	return s
}

// bytesText is b as a string without a copy. The uplink expands a record
// while the queue lends it its bytes (bbolt's read-only map) and writes its
// strings into the envelope at once: they never outlive the record, and
// copying every quantity and unit would be as many allocations.
func bytesText(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// appendReadingsJSON appends the n compact readings in src, of enterprise
// ent, as wire.AppendReading elements joined by ',' (after a ',' if sep):
// what the record's readings were, byte for byte as the JSON of wire.Reading.
// On an error dst may have been appended to.
func appendReadingsJSON(dst []byte, sep bool, ent string, src []byte, n int) ([]byte, error) {
	c := compactReader{b: src}
	var r wire.Reading
	var delta float64
	r.Enterprise = ent
	for got := 0; got < n; {
		r.Meter, r.Energy = c.text(), c.text()
		runTS := c.varint()
		count := c.uvarint()
		if c.bad || count == 0 || count > uint64(n-got) {
			return dst, errRecord
		}
		got += int(count)
		if sep {
			dst = append(dst, ',')
		}
		sep = true
		// The run's readings share their head: encoded once, then copied.
		headAt := len(dst)
		dst = wire.AppendReadingHead(dst, &r)
		headEnd := len(dst)
		for k := range count {
			if k > 0 {
				at := len(dst)
				dst = append(append(dst, ','), dst[headAt:headEnd]...)
				headAt, headEnd = at+1, len(dst)
			}
			r.Quantity, r.Unit, r.Value = c.text(), c.text(), c.float()
			flags := c.byte()
			r.TS, r.Quality, r.Delta, r.Since = runTS, "", nil, 0
			if flags&hasTS != 0 {
				r.TS += c.varint()
			}
			if flags&hasQuality != 0 {
				r.Quality = c.text()
			} else if flags&qualityGood != 0 {
				r.Quality = "good"
			}
			if flags&hasDelta != 0 {
				delta = c.float()
				r.Delta = &delta
			}
			if flags&hasSince != 0 {
				r.Since = c.varint()
			}
			if c.bad || flags >= hasSince<<1 || flags&(hasQuality|qualityGood) == hasQuality|qualityGood {
				return dst, errRecord
			}
			dst = wire.AppendReadingRest(dst, &r)
		}
	}
	if len(c.b) > 0 {
		return dst, errRecord
	}
	return dst, nil
}

// appendEventsOf appends the events of enterprise ent joined by ',', after a
// ',' if sep.
func appendEventsOf(b []byte, sep bool, ent string, events []wire.Event) []byte {
	for i := range events {
		if ev := &events[i]; ev.Enterprise == ent && finite(ev.Value) {
			if sep {
				b = append(b, ',')
			}
			sep = true
			b = wire.AppendEvent(b, ev)
		}
	}
	return b
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

// pollRecord is a parsed record; its slices alias the record's bytes.
type pollRecord struct {
	format           byte // pollFormat or pollFormatJSON
	enterprise       []byte
	nReadings, nEvts int
	ts               int64
	readings         []byte // compact runs (pollFormat) or JSON elements joined by ','
	events           []byte // JSON elements joined by ','
}

// isPollRecord tells a record of one group from an older agent's JSON one.
func isPollRecord(b []byte) bool {
	return len(b) > 0 && (b[0] == pollFormat || b[0] == pollFormatJSON)
}

var errRecord = errors.New("decode queued record: malformed")

func parsePollRecord(b []byte) (pollRecord, error) {
	var p pollRecord
	if !isPollRecord(b) {
		return p, errRecord
	}
	p.format, b = b[0], b[1:]
	next := func() (uint64, bool) {
		v, n := binary.Uvarint(b)
		if n <= 0 {
			return 0, false
		}
		b = b[n:]
		return v, true
	}
	l, ok := next()
	if !ok || l > uint64(len(b)) {
		return p, errRecord
	}
	p.enterprise, b = b[:l], b[l:]
	nr, ok1 := next()
	ne, ok2 := next()
	if !ok1 || !ok2 || nr > uint64(len(b)) || ne > uint64(len(b)) {
		return p, errRecord
	}
	p.nReadings, p.nEvts = int(nr), int(ne)
	ts, n := binary.Varint(b)
	if n <= 0 || len(b) < n+4 {
		return p, errRecord
	}
	p.ts, b = ts, b[n:]
	rl := binary.BigEndian.Uint32(b)
	b = b[4:]
	if uint64(rl) > uint64(len(b)) {
		return p, errRecord
	}
	p.readings, p.events = b[:rl], b[rl:]
	if (p.nReadings == 0) != (len(p.readings) == 0) || (p.nEvts == 0) != (len(p.events) == 0) {
		return p, errRecord
	}
	return p, nil
}

// recordItems counts the readings and events of a queued record, for the
// queue's stats and the uplink's batch size: a poll record holds many, an
// old-format record one.
func recordItems(b []byte) int {
	if isPollRecord(b) {
		if p, err := parsePollRecord(b); err == nil {
			return p.nReadings + p.nEvts
		}
	}
	return 1
}

// recordTS is the time of a queued record's first element.
func recordTS(b []byte) (int64, error) {
	if isPollRecord(b) {
		p, err := parsePollRecord(b)
		return p.ts, err
	}
	r, err := decodeRecord(b)
	if err != nil {
		return 0, err
	}
	return r.ts(), nil
}

// record is the format of agents up to 5f25674, one reading or one event
// per record as JSON; it may still be queued after an upgrade, so the
// uplink reads it.
type record struct {
	R *wire.Reading `json:"r,omitempty"`
	E *wire.Event   `json:"e,omitempty"`
}

func (r record) enterprise() string {
	if r.R != nil {
		return r.R.Enterprise
	}
	return r.E.Enterprise
}

func (r record) ts() int64 {
	if r.R != nil {
		return r.R.TS
	}
	return r.E.TS
}

func decodeRecord(b []byte) (record, error) {
	var r record
	if err := json.Unmarshal(b, &r); err != nil {
		return r, fmt.Errorf("decode queued record: %w", err)
	}
	if (r.R == nil) == (r.E == nil) {
		return r, fmt.Errorf("decode queued record: want one reading or one event")
	}
	return r, nil
}
