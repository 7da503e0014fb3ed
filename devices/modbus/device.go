package modbus

import (
	"context"
	"fmt"

	"github.com/parkcarbon/parkcarbon/devices/profile"
)

// Sample is one value read from a device, in the unit of its register.
type Sample struct {
	Quantity string
	Unit     string
	Value    float64
	Raw      []byte // the register bytes as received, for diagnostics
}

// ReadDevice reads every register of plan from unit and returns their values in plan order.
// A nil plan means Plan(p.Registers, 0). It returns all samples or an error, never a part:
// a device either answered this poll or it did not.
// Values are not checked: a meter that sends NaN yields NaN.
func ReadDevice(ctx context.Context, c Conn, unit byte, p *profile.Profile, plan []Request) ([]Sample, error) {
	var r Reader
	return r.Read(ctx, c, unit, p, plan)
}

// A Reader is ReadDevice with buffers kept from one read to the next: what a poll loop
// uses, so that polling allocates nothing. The samples it returns, and their Raw bytes,
// are valid until its next Read. Not safe for concurrent use.
type Reader struct {
	samples []Sample
	raw     []byte
}

// appender is a Conn that can append an answer to a buffer it is given.
type appender interface {
	AppendRegisters(ctx context.Context, dst []byte, unit byte, function string, address, count uint16) ([]byte, error)
}

// Read is ReadDevice (see there) into r's buffers.
func (r *Reader) Read(ctx context.Context, c Conn, unit byte, p *profile.Profile, plan []Request) ([]Sample, error) {
	if plan == nil {
		plan = Plan(p.Registers, 0)
	}
	n, words := 0, 0
	for _, req := range plan {
		n += len(req.Registers)
		words += int(req.Count)
	}
	// Raw aliases raw; sized for every answer, it does not move while samples point into
	// it (and if it did, earlier samples would keep the old array, still valid).
	raw := r.raw[:0]
	if cap(raw) < 2*words {
		raw = make([]byte, 0, 2*words)
	}
	samples := r.samples[:0]
	if cap(samples) < n {
		samples = make([]Sample, 0, n)
	}
	app, _ := c.(appender)
	for _, req := range plan {
		start := len(raw)
		var err error
		if app != nil {
			raw, err = app.AppendRegisters(ctx, raw, unit, req.Function, req.Address, req.Count)
		} else {
			var got []byte
			if got, err = c.ReadRegisters(ctx, unit, req.Function, req.Address, req.Count); err == nil {
				raw = append(raw, got...)
			}
		}
		if err != nil {
			return nil, fmt.Errorf("profile %s: %w", p.Name, err)
		}
		answer := raw[start:len(raw):len(raw)]
		for _, reg := range req.Registers {
			s, err := sample(req, reg, answer)
			if err != nil {
				return nil, fmt.Errorf("profile %s unit %d: %w", p.Name, unit, err)
			}
			samples = append(samples, s)
		}
	}
	r.raw, r.samples = raw, samples
	return samples, nil
}

// sample picks r out of the answer to req.
func sample(req Request, r profile.Register, raw []byte) (Sample, error) {
	s := Sample{Quantity: r.Quantity, Unit: r.Unit}
	if r.Function != req.Function || r.Address < req.Address ||
		int(r.Address)+int(r.Words()) > int(req.Address)+int(req.Count) {
		return s, fmt.Errorf("%s at %s 0x%04X is outside the read %s %d+%d",
			r.Quantity, r.Function, r.Address, req.Function, req.Address, req.Count)
	}
	i := int(r.Address - req.Address)
	bits := r.Function == "coil" || r.Function == "discrete"
	if need := 2 * (i + int(r.Words())); (bits && len(raw) <= i/8) || (!bits && len(raw) < need) {
		return s, fmt.Errorf("%s at %s 0x%04X: answer of %d bytes is too short", r.Quantity, r.Function, r.Address, len(raw))
	}
	if bits {
		// Bits come packed, the lowest address in the lowest bit of the first byte.
		bit := raw[i/8] >> (i % 8) & 1
		s.Raw = []byte{bit}
		s.Value = float64(bit)*r.Scale + r.Offset
		return s, nil
	}
	s.Raw = raw[2*i : 2*(i+int(r.Words())) : 2*(i+int(r.Words()))] // capped: appending must not clobber neighbours
	v, err := Value(r, s.Raw)
	if err != nil {
		return s, err
	}
	s.Value = v
	return s, nil
}
