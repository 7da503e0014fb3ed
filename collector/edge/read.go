package edge

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/parkcarbon/parkcarbon/devices/modbus"
)

// How a device's registers are grouped into requests. A meter that refuses a
// read spanning registers it does not implement ("illegal data address") is
// stepped down one level, and at the last level a register it refuses on its
// own is disabled, so that one unsupported quantity does not cost the others.
const (
	planBridged     = iota // gaps up to the profile's max_gap read across
	planContiguous         // only adjacent registers share a read
	planPerRegister        // one request per register
)

func (d *device) replan() {
	o := modbus.ProfileOptions(d.quirks, modbus.DefaultMaxGap)
	if o.OneRegisterPerRequest {
		d.level = planPerRegister // the meter's known quirk: start there
	}
	switch d.level {
	case planContiguous:
		o.MaxGap = 0
	case planPerRegister:
		o.OneRegisterPerRequest = true
	}
	d.plan = modbus.PlanWith(d.profile.Registers, o)
}

func illegalAddress(err error) bool {
	var ex *modbus.ExceptionError
	return errors.As(err, &ex) && ex.Code == 2
}

// read polls d, stepping its plan down when the meter refuses an address.
func (b *bus) read(ctx context.Context, d *device) ([]modbus.Sample, error) {
	for d.level < planPerRegister {
		samples, err := b.reader.Read(ctx, b.conn, d.cfg.Unit, d.profile, d.plan)
		if !illegalAddress(err) {
			return samples, err
		}
		d.level++
		d.replan()
		b.log.Info("meter refused a read; using smaller requests", "meter", d.cfg.Meter, "requests", len(d.plan), "err", err)
	}
	// One request per register: samples gathered over reads, so not the reader's buffers.
	var samples []modbus.Sample
	var refused []int
	for i, req := range d.plan {
		s, err := modbus.ReadDevice(ctx, b.conn, d.cfg.Unit, d.profile, []modbus.Request{req})
		switch {
		case illegalAddress(err):
			b.log.Warn("meter refuses a register; disabled until restart", "meter", d.cfg.Meter,
				"quantity", req.Registers[0].Quantity, "function", req.Function, "address", req.Address, "err", err)
			refused = append(refused, i)
			continue
		case err != nil:
			// A transport error ends the poll: the connection is being redialled.
			return nil, err
		}
		samples = append(samples, s...)
	}
	if len(refused) > 0 {
		// A new plan: the old one may be shared with devices of the same model.
		kept := make([]modbus.Request, 0, len(d.plan)-len(refused))
		for i, req := range d.plan {
			if !slices.Contains(refused, i) {
				kept = append(kept, req)
			}
		}
		d.plan = kept
	}
	if len(d.plan) == 0 {
		return nil, fmt.Errorf("meter %s refuses every register of profile %s", d.cfg.Meter, d.profile.Name)
	}
	return samples, nil
}
