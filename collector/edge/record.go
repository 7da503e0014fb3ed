package edge

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"

	"github.com/parkcarbon/parkcarbon/internal/wire"
)

// What the disk queue holds: one record per enterprise per group commit
// (the polls of one commit window, up to batch_size readings and events; a
// sensor message or an event on its own may make one too), already in the
// form it is published in, so that the uplink splices it into an envelope
// without decoding it:
//
//	pollFormat                       1 byte; JSON, the old format, starts with '{'
//	uvarint len(enterprise), enterprise
//	uvarint readings, uvarint events counts
//	varint  ts                       epoch ms of the oldest element's poll (buffer_oldest_age)
//	uint32  len(readings)            big-endian
//	readings                         wire.AppendReading elements joined by ','
//	events                           wire.AppendEvent elements joined by ',', to the end
//
// One enterprise per record: an envelope holds one enterprise's readings.
// Agents up to 0c5921c wrote one record of this format per poll, which reads
// the same.
const pollFormat = 0x01

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
	b = appendReadingsOf(b, false, ent, readings)
	binary.BigEndian.PutUint32(b[lenAt:], uint32(len(b)-lenAt-4))
	return appendEventsOf(b, false, ent, events)
}

// appendReadingsOf appends the finite readings of enterprise ent joined by
// ',', after a ',' if sep.
func appendReadingsOf(b []byte, sep bool, ent string, readings []wire.Reading) []byte {
	// The readings of a poll share meter, enterprise and energy: their
	// encoded head is copied from the previous reading's.
	var prev *wire.Reading
	headAt, headEnd := 0, 0
	for i := range readings {
		if r := &readings[i]; r.Enterprise == ent && finite(r.Value) {
			if sep {
				b = append(b, ',')
			}
			sep = true
			if prev != nil && r.Meter == prev.Meter && r.Enterprise == prev.Enterprise && r.Energy == prev.Energy {
				at := len(b)
				b = append(b, b[headAt:headEnd]...)
				headAt, headEnd = at, len(b)
			} else {
				headAt = len(b)
				b = wire.AppendReadingHead(b, r)
				headEnd = len(b)
			}
			prev = r
			b = wire.AppendReadingRest(b, r)
		}
	}
	return b
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
	enterprise       []byte
	nReadings, nEvts int
	ts               int64
	readings, events []byte // elements joined by ','
}

var errRecord = errors.New("decode queued record: malformed")

func parsePollRecord(b []byte) (pollRecord, error) {
	var p pollRecord
	if len(b) == 0 || b[0] != pollFormat {
		return p, errRecord
	}
	b = b[1:]
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
	if len(b) > 0 && b[0] == pollFormat {
		if p, err := parsePollRecord(b); err == nil {
			return p.nReadings + p.nEvts
		}
	}
	return 1
}

// recordTS is the time of a queued record's first element.
func recordTS(b []byte) (int64, error) {
	if len(b) > 0 && b[0] == pollFormat {
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
