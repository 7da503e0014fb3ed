// Package modbus reads meters over Modbus: it decodes register values, plans the reads of
// a profile into few requests, and polls one device through a small, swappable connection.
package modbus

import (
	"fmt"
	"math"

	"github.com/parkcarbon/parkcarbon/devices/profile"
)

// Decode interprets raw register bytes, as they came off the wire, as a number.
//
// typ is int16, uint16, int32, uint32, int64, uint64, float32 or float64; raw must be exactly
// its size. order names the bytes of a big-endian value in wire order:
//
//	ABCD  big-endian, high word first (the Modbus norm)
//	CDAB  word swap: low word first, bytes of each word big-endian
//	BADC  byte swap: high word first, bytes of each word swapped
//	DCBA  little-endian
//
// For 64-bit values the same rules apply to four words; for 16-bit values CDAB equals ABCD and
// DCBA equals BADC. An empty order means ABCD. 64-bit integers beyond 2^53 lose precision.
func Decode(raw []byte, typ, order string) (float64, error) {
	size := 0
	switch typ {
	case "int16", "uint16":
		size = 2
	case "int32", "uint32", "float32":
		size = 4
	case "int64", "uint64", "float64":
		size = 8
	default:
		return 0, fmt.Errorf("decode: unknown type %q", typ)
	}
	if len(raw) != size {
		return 0, fmt.Errorf("decode %s: got %d bytes, want %d", typ, len(raw), size)
	}
	v, err := bigEndian(raw, order)
	if err != nil {
		return 0, err
	}
	switch typ {
	case "int16":
		return float64(int16(v)), nil
	case "uint16":
		return float64(uint16(v)), nil
	case "int32":
		return float64(int32(v)), nil
	case "uint32":
		return float64(uint32(v)), nil
	case "float32":
		return float64(math.Float32frombits(uint32(v))), nil
	case "int64":
		return float64(int64(v)), nil
	case "uint64":
		return float64(v), nil
	default: // float64
		return math.Float64frombits(v), nil
	}
}

// bigEndian reassembles the bytes of raw, sent in the given order, into their numeric value.
func bigEndian(raw []byte, order string) (uint64, error) {
	var v uint64
	n := len(raw)
	switch order {
	case "ABCD", "":
		for i := 0; i < n; i++ {
			v = v<<8 | uint64(raw[i])
		}
	case "DCBA":
		for i := n - 1; i >= 0; i-- {
			v = v<<8 | uint64(raw[i])
		}
	case "CDAB":
		for w := n - 2; w >= 0; w -= 2 {
			v = v<<16 | uint64(raw[w])<<8 | uint64(raw[w+1])
		}
	case "BADC":
		for w := 0; w < n; w += 2 {
			v = v<<16 | uint64(raw[w+1])<<8 | uint64(raw[w])
		}
	default:
		return 0, fmt.Errorf("decode: unknown order %q", order)
	}
	return v, nil
}

// Value is the register's value in its unit: the decoded raw bytes times Scale plus Offset.
func Value(r profile.Register, raw []byte) (float64, error) {
	if r.Bit != nil {
		if len(raw) < 2*int(r.Words()) {
			return 0, fmt.Errorf("%s at 0x%04X: %d bytes for a %s", r.Quantity, r.Address, len(raw), r.Type)
		}
		u, err := bigEndian(raw[:2*r.Words()], r.Order)
		if err != nil {
			return 0, fmt.Errorf("%s at 0x%04X: %w", r.Quantity, r.Address, err)
		}
		return float64(u>>*r.Bit&1)*r.Scale + r.Offset, nil
	}
	v, err := Decode(raw, r.Type, r.Order)
	if err != nil {
		return 0, fmt.Errorf("%s at 0x%04X: %w", r.Quantity, r.Address, err)
	}
	return v*r.Scale + r.Offset, nil
}
