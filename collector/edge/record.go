package edge

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"

	"github.com/parkcarbon/parkcarbon/internal/wire"
)

// What the disk queue holds: one record per poll (or sensor message, or
// event on its own), already in the form it is published in, so that the
// uplink splices it into an envelope without decoding it:
//
//	pollFormat                       1 byte; JSON, the old format, starts with '{'
//	uvarint len(enterprise), enterprise
//	uvarint readings, uvarint events counts
//	varint  ts                       epoch ms of the first element (buffer_oldest_age)
//	uint32  len(readings)            big-endian
//	readings                         wire.AppendReading elements joined by ','
//	events                           wire.AppendEvent elements joined by ',', to the end
//
// One enterprise per record: an envelope holds one enterprise's readings.
const pollFormat = 0x01

// appendPollRecord appends the record of the finite readings and the events
// of enterprise ent; it appends nothing if there are none.
func appendPollRecord(b []byte, ent string, readings []wire.Reading, events []wire.Event) []byte {
	nr, ne := 0, 0
	var ts int64
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
	if nr+ne == 0 {
		return b
	}
	b = append(b, pollFormat)
	b = binary.AppendUvarint(b, uint64(len(ent)))
	b = append(b, ent...)
	b = binary.AppendUvarint(b, uint64(nr))
	b = binary.AppendUvarint(b, uint64(ne))
	b = binary.AppendVarint(b, ts)
	lenAt := len(b)
	b = append(b, 0, 0, 0, 0)
	// The readings of a poll share meter, enterprise and energy: their
	// encoded head is copied from the previous reading's.
	first := true
	var prev *wire.Reading
	headAt, headEnd := 0, 0
	for i := range readings {
		if r := &readings[i]; r.Enterprise == ent && finite(r.Value) {
			if !first {
				b = append(b, ',')
			}
			first = false
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
	binary.BigEndian.PutUint32(b[lenAt:], uint32(len(b)-lenAt-4))
	first = true
	for i := range events {
		if ev := &events[i]; ev.Enterprise == ent && finite(ev.Value) {
			if !first {
				b = append(b, ',')
			}
			first = false
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
