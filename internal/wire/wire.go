// Package wire holds the contract between edge agents and the collector: the
// reading, the envelope a gateway publishes, and the MQTT topic layout.
package wire

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
)

// Version is the envelope format version ("v").
const Version = 1

// Energy kinds and the cumulative quantity each one's consumption comes from
// (DESIGN.md, "Vocabulary and storage schema").
const (
	Electricity = "electricity"
	Gas         = "gas"
	Water       = "water"
	Heat        = "heat"
)

// CumulativeQuantity returns the counter quantity consumption is taken from
// for an energy kind, and false for an unknown kind.
func CumulativeQuantity(energy string) (string, bool) {
	switch energy {
	case Electricity:
		return "energy_import_total", true
	case Gas, Water:
		return "volume_total", true
	case Heat:
		return "energy_total", true
	}
	return "", false
}

// Reading is one sample of one quantity of one meter. Delta and Since are
// set only on samples of the cumulative quantity that have a predecessor.
type Reading struct {
	Meter      string   `json:"meter"`
	Enterprise string   `json:"enterprise"`
	Energy     string   `json:"energy"`
	Quantity   string   `json:"quantity"`
	Value      float64  `json:"value"`
	Unit       string   `json:"unit"`
	TS         int64    `json:"ts"` // epoch ms, UTC, acquisition time
	Quality    string   `json:"quality,omitempty"`
	Delta      *float64 `json:"delta,omitempty"` // consumption since Since, base unit
	Since      int64    `json:"since,omitempty"` // previous sample's ts, epoch ms
}

// Event is a data-quality event seen at the edge: a counter reset, rollover,
// glitch, meter swap, a gap in a meter's state. It becomes a data_quality point.
type Event struct {
	Meter      string  `json:"meter"`
	Enterprise string  `json:"enterprise"`
	Kind       string  `json:"kind"`
	Value      float64 `json:"value"`
	Message    string  `json:"message,omitempty"`
	TS         int64   `json:"ts"`
}

// Envelope is the batch a gateway publishes: readings (and data-quality
// events) of one enterprise.
type Envelope struct {
	V        int       `json:"v"`
	Gateway  string    `json:"gateway"`
	Seq      uint64    `json:"seq"`
	SentAt   int64     `json:"sent_at,omitempty"` // when the gateway published it, epoch ms: the collector's clock-skew hint
	Readings []Reading `json:"readings"`
	Events   []Event   `json:"events,omitempty"`
}

// Topic is where a gateway publishes an enterprise's readings.
func Topic(prefix, enterprise, gateway string) string {
	return prefix + "/" + enterprise + "/" + gateway + "/readings"
}

// SubscriptionFilter matches every gateway's readings under prefix.
func SubscriptionFilter(prefix string) string { return prefix + "/+/+/readings" }

// ParseTopic splits a readings topic into enterprise and gateway.
func ParseTopic(prefix, topic string) (enterprise, gateway string, err error) {
	rest, ok := strings.CutPrefix(topic, prefix+"/")
	parts := strings.Split(rest, "/")
	if !ok || len(parts) != 3 || parts[2] != "readings" {
		return "", "", fmt.Errorf("topic %q is not %s/{enterprise}/{gateway}/readings", topic, prefix)
	}
	return parts[0], parts[1], nil
}

// ValidID reports whether s may be used as a meter, enterprise, gateway or
// quantity identifier: ^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$, which keeps it
// safe as an InfluxDB tag and an MQTT topic level (no comma, space, '=',
// newline, '+', '#' or '/'). A loop, not a regexp: every reading's three
// identifiers pass here on the collector's hot path.
func ValidID(s string) bool {
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

// MaxReadings bounds one envelope, so one message cannot hold the collector's
// memory hostage.
const MaxReadings = 10000

// Encode marshals an envelope.
func Encode(env *Envelope) ([]byte, error) { return json.Marshal(env) }

// Validate checks the envelope's header and each reading.
func (e *Envelope) Validate() error {
	if e.V != Version {
		return fmt.Errorf("envelope: unsupported version %d (want %d)", e.V, Version)
	}
	if !ValidID(e.Gateway) {
		return fmt.Errorf("envelope: invalid gateway %q", e.Gateway)
	}
	if len(e.Readings)+len(e.Events) == 0 {
		return errors.New("envelope: no readings")
	}
	if len(e.Readings)+len(e.Events) > MaxReadings {
		return fmt.Errorf("envelope: %d readings and events, more than %d", len(e.Readings)+len(e.Events), MaxReadings)
	}
	for i := range e.Readings {
		if err := e.Readings[i].Validate(); err != nil {
			return fmt.Errorf("envelope reading %d: %w", i, err)
		}
	}
	for i := range e.Events {
		if err := e.Events[i].Validate(); err != nil {
			return fmt.Errorf("envelope event %d: %w", i, err)
		}
	}
	return nil
}

// Validate checks an event's identifiers and value.
func (ev *Event) Validate() error {
	switch {
	case !ValidID(ev.Meter):
		return fmt.Errorf("invalid meter %q", ev.Meter)
	case !ValidID(ev.Enterprise):
		return fmt.Errorf("meter %s: invalid enterprise %q", ev.Meter, ev.Enterprise)
	case !ValidID(ev.Kind):
		return fmt.Errorf("meter %s: invalid event kind %q", ev.Meter, ev.Kind)
	case math.IsNaN(ev.Value) || math.IsInf(ev.Value, 0):
		return fmt.Errorf("meter %s %s: value is not finite", ev.Meter, ev.Kind)
	case ev.TS <= 0:
		return fmt.Errorf("meter %s %s: missing ts", ev.Meter, ev.Kind)
	case len(ev.Message) > 1024:
		return fmt.Errorf("meter %s %s: message longer than 1024 bytes", ev.Meter, ev.Kind)
	}
	return nil
}

// Validate checks one reading's identifiers, value and interval.
func (r *Reading) Validate() error {
	switch {
	case !ValidID(r.Meter):
		return fmt.Errorf("invalid meter %q", r.Meter)
	case !ValidID(r.Enterprise):
		return fmt.Errorf("meter %s: invalid enterprise %q", r.Meter, r.Enterprise)
	case !ValidID(r.Quantity):
		return fmt.Errorf("meter %s: invalid quantity %q", r.Meter, r.Quantity)
	case math.IsNaN(r.Value) || math.IsInf(r.Value, 0):
		return fmt.Errorf("meter %s %s: value is not finite", r.Meter, r.Quantity)
	case r.TS <= 0:
		return fmt.Errorf("meter %s %s: missing ts", r.Meter, r.Quantity)
	case len(r.Unit) > 16:
		return fmt.Errorf("meter %s %s: unit too long", r.Meter, r.Quantity)
	}
	cum, ok := CumulativeQuantity(r.Energy)
	if !ok {
		return fmt.Errorf("meter %s: unknown energy %q", r.Meter, r.Energy)
	}
	if r.Delta != nil {
		d := *r.Delta
		switch {
		case r.Quantity != cum:
			return fmt.Errorf("meter %s %s: delta on a quantity that is not the cumulative %s", r.Meter, r.Quantity, cum)
		case math.IsNaN(d) || math.IsInf(d, 0) || d < 0:
			return fmt.Errorf("meter %s %s: delta %v is not a finite non-negative number", r.Meter, r.Quantity, d)
		case r.Since <= 0 || r.Since >= r.TS:
			return fmt.Errorf("meter %s %s: since %d is not before ts %d", r.Meter, r.Quantity, r.Since, r.TS)
		}
	}
	return nil
}
