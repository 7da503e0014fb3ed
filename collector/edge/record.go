package edge

import (
	"encoding/json"
	"fmt"

	"github.com/parkcarbon/parkcarbon/internal/wire"
)

// record is what the disk queue holds: one reading or one event.
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
