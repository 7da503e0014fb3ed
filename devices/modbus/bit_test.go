package modbus

import (
	"testing"

	"github.com/parkcarbon/parkcarbon/devices/profile"
)

// Status flags: one bit of an integer register, in the register's order.
func TestValueBit(t *testing.T) {
	bit := func(n uint8) *uint8 { return &n }
	cases := []struct {
		typ, order string
		raw        []byte
		bit        uint8
		want       float64
	}{
		{"uint16", "ABCD", []byte{0x00, 0x05}, 0, 1},
		{"uint16", "ABCD", []byte{0x00, 0x05}, 1, 0},
		{"uint16", "ABCD", []byte{0x00, 0x05}, 2, 1},
		{"uint16", "ABCD", []byte{0x80, 0x00}, 15, 1},
		{"uint16", "BADC", []byte{0x05, 0x00}, 2, 1},
		{"uint32", "CDAB", []byte{0x00, 0x01, 0x00, 0x00}, 0, 1}, // low word first
		{"uint32", "ABCD", []byte{0x00, 0x01, 0x00, 0x00}, 16, 1},
		{"int16", "ABCD", []byte{0xFF, 0xFF}, 7, 1},
	}
	for _, c := range cases {
		r := profile.Register{Quantity: "x_flag", Type: c.typ, Order: c.order, Scale: 1, Bit: bit(c.bit)}
		if got, err := Value(r, c.raw); err != nil || got != c.want {
			t.Errorf("%s %s % X bit %d: %v %v, want %v", c.typ, c.order, c.raw, c.bit, got, err, c.want)
		}
	}
}
