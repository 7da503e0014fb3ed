package simulator

import (
	"encoding/binary"
	"math"
	"slices"

	"github.com/parkcarbon/parkcarbon/devices/profile"
)

// image is a meter's register map: what a read of count registers (or bits) of function fc
// from addr returns for a meter in state st, or the exception code it gets instead.
type image interface {
	read(fc byte, addr, count uint16, st *state) (data []byte, exception byte)
}

// sdm630Image is the SDM630 input register map (meter.go).
type sdm630Image struct {
	strict bool
	refuse []uint16
}

func (im sdm630Image) read(fc byte, addr, count uint16, st *state) ([]byte, byte) {
	switch fc {
	case 1, 2:
		return nil, excIllegalFunction
	case 3:
		return nil, excIllegalAddress
	}
	first, last := int(addr), int(addr)+int(count)-1
	if !served(first, last) {
		return nil, excIllegalAddress
	}
	for a := first; a <= last; a++ {
		if (im.strict && !modelled(uint16(a&^1))) || slices.Contains(im.refuse, uint16(a&^1)) {
			return nil, excIllegalAddress
		}
	}
	data := make([]byte, 0, 2*int(count))
	for i := range count {
		a := addr + i
		bits := math.Float32bits(st.value(a &^ 1)) // floats start at even addresses
		if a%2 == 0 {
			data = binary.BigEndian.AppendUint16(data, uint16(bits>>16)) // ABCD: high word first
		} else {
			data = binary.BigEndian.AppendUint16(data, uint16(bits))
		}
	}
	return data, 0
}

// profileImage serves a profile's registers. Per function it answers the block from the
// lowest to the highest address the profile names; addresses in it no register covers read
// 0, unless strict, and a read reaching outside it gets illegal data address. A function
// the profile does not use has no block: illegal function for bits, illegal data address
// for registers.
type profileImage struct {
	regs   map[byte][]profile.Register // by function code, sorted by address
	strict bool
	refuse []uint16
}

func newProfileImage(p *profile.Profile, strict bool, refuse []uint16) profileImage {
	im := profileImage{regs: make(map[byte][]profile.Register), strict: strict, refuse: refuse}
	for _, r := range p.Registers {
		fc := map[string]byte{"coil": 1, "discrete": 2, "holding": 3, "input": 4}[r.Function]
		im.regs[fc] = append(im.regs[fc], r)
	}
	for _, rs := range im.regs {
		slices.SortFunc(rs, func(a, b profile.Register) int { return int(a.Address) - int(b.Address) })
	}
	return im
}

func (im profileImage) read(fc byte, addr, count uint16, st *state) ([]byte, byte) {
	rs := im.regs[fc]
	if len(rs) == 0 {
		if fc <= 2 {
			return nil, excIllegalFunction
		}
		return nil, excIllegalAddress
	}
	last := rs[len(rs)-1]
	lo, hi := int(rs[0].Address), int(last.Address)+int(last.Words())
	first, end := int(addr), int(addr)+int(count)
	if first < lo || end > hi {
		return nil, excIllegalAddress
	}
	words := make([]uint16, count) // registers, or one bit per entry
	covered := make([]bool, count)
	for _, r := range rs {
		rEnd := int(r.Address) + int(r.Words())
		if rEnd <= first || int(r.Address) >= end {
			continue
		}
		for a := max(int(r.Address), first); a < min(rEnd, end); a++ {
			if slices.Contains(im.refuse, r.Address) || slices.Contains(im.refuse, uint16(a)) {
				return nil, excIllegalAddress
			}
			covered[a-first] = true
		}
		raw := encode(quantityValue(r.Quantity, st), r)
		for i := range int(r.Words()) {
			if a := int(r.Address) + i; a >= first && a < end {
				if fc <= 2 {
					words[a-first] = uint16(raw[0])
				} else {
					words[a-first] = binary.BigEndian.Uint16(raw[2*i:])
				}
			}
		}
	}
	for i, c := range covered {
		if !c && (im.strict || slices.Contains(im.refuse, addr+uint16(i))) {
			return nil, excIllegalAddress
		}
	}
	if fc <= 2 {
		data := make([]byte, (int(count)+7)/8)
		for i, w := range words {
			if w != 0 {
				data[i/8] |= 1 << (i % 8)
			}
		}
		return data, 0
	}
	data := make([]byte, 0, 2*len(words))
	for _, w := range words {
		data = binary.BigEndian.AppendUint16(data, w)
	}
	return data, 0
}

// quantityValue is what the meter measures of a quantity, in its base unit; 0 for one the
// simulation does not model (gas, water, heat, custom quantities).
func quantityValue(q string, st *state) float64 {
	switch q {
	case "voltage_l1", "voltage_l2", "voltage_l3":
		return st.volts[q[len(q)-1]-'1']
	case "current_l1", "current_l2", "current_l3":
		return st.amps[q[len(q)-1]-'1']
	case "active_power":
		return st.totalW / 1000
	case "reactive_power":
		return st.totalVar / 1000
	case "power_factor":
		return st.totalPF
	case "frequency":
		return st.hz
	case "energy_import_total":
		return st.importKWh
	case "energy_export_total":
		return st.exportKWh
	}
	return 0
}

// encode is the inverse of the profile's decoding: the bytes of v on the wire, for
// registers; for bits a single byte, 1 if v is not 0.
func encode(v float64, r profile.Register) []byte {
	x := (v - r.Offset) / r.Scale
	var be []byte
	switch r.Type {
	case "bool":
		if x != 0 {
			return []byte{1}
		}
		return []byte{0}
	case "int16":
		be = binary.BigEndian.AppendUint16(nil, uint16(int16(clamp(x, math.MinInt16, math.MaxInt16))))
	case "uint16":
		be = binary.BigEndian.AppendUint16(nil, uint16(clamp(x, 0, math.MaxUint16)))
	case "int32":
		be = binary.BigEndian.AppendUint32(nil, uint32(int32(clamp(x, math.MinInt32, math.MaxInt32))))
	case "uint32":
		be = binary.BigEndian.AppendUint32(nil, uint32(clamp(x, 0, math.MaxUint32)))
	case "float32":
		be = binary.BigEndian.AppendUint32(nil, math.Float32bits(float32(x)))
	case "int64":
		be = binary.BigEndian.AppendUint64(nil, uint64(int64(clamp(x, math.MinInt64, math.MaxInt64))))
	case "uint64":
		be = binary.BigEndian.AppendUint64(nil, uint64(clamp(x, 0, math.MaxUint64)))
	case "float64":
		be = binary.BigEndian.AppendUint64(nil, math.Float64bits(x))
	default:
		return make([]byte, 2*r.Words())
	}
	return arrange(be, r.Order)
}

// clamp rounds x to the nearest integer within [lo, hi], as a meter's fixed point does.
func clamp(x, lo, hi float64) float64 {
	return math.Max(lo, math.Min(hi, math.Round(x)))
}

// arrange puts big-endian bytes in the wire order named by order. Each order is its own
// inverse, so this is also how a decoder reassembles them.
func arrange(be []byte, order string) []byte {
	n := len(be)
	raw := make([]byte, n)
	for i := range raw {
		w, b := i/2, i%2
		switch order {
		case "DCBA":
			raw[i] = be[n-1-i]
		case "CDAB":
			raw[i] = be[n-2-2*w+b]
		case "BADC":
			raw[i] = be[2*w+1-b]
		default:
			raw[i] = be[i]
		}
	}
	return raw
}
