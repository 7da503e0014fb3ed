package modbus

import (
	"encoding/hex"
	"math"
	"strings"
	"testing"

	"github.com/parkcarbon/parkcarbon/devices/profile"
)

func hexBytes(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func near(a, b float64) bool {
	return a == b || math.Abs(a-b) <= 1e-9*math.Max(math.Abs(a), math.Abs(b))
}

// The fixture vectors of meters.md §4.5, through Value so the scale is applied too.
func TestValueFixtures(t *testing.T) {
	tests := []struct {
		device, raw, typ string
		scale, want      float64
	}{
		{"SDM630 0x0000 voltage", "4366 0000", "float32", 1, 230},
		{"SDM630 0x0048 import", "449A 5000", "float32", 1, 1234.5},
		{"SDM630 0x0034 power W→kW", "459C 4000", "float32", 0.001, 5},
		{"DTSU666 0x2006 voltage", "450F C000", "float32", 0.1, 230},
		{"DTSU666 0x200C current", "44BB 8000", "float32", 0.001, 1.5},
		{"DTSU666 0x2012 power", "462C 8000", "float32", 0.1, 1104},
		{"DTSU666 0x101E import", "449A 51EC", "float32", 1, float64(float32(1234.56))},
		{"ADL400 0x0000 energy", "0001 E240", "uint32", 0.01, 1234.56},
		{"ADL400 0x0061 voltage", "08FC", "uint16", 0.1, 230},
		{"ADL400 0x0064 current", "0640", "uint16", 0.01, 16},
		{"ADL400 0x016A power", "0000 2B20", "int32", 1, 11040},
		{"ADL400 0x016A export power", "FFFF F9F2", "int32", 1, -1550},
		{"ADL400 0x0842 primary energy", "0012 D680", "uint32", 0.1, 123456},
		{"PM5100 3027 voltage", "4366 0000", "float32", 1, 230},
		{"PM5100 3059 power", "4148 0000", "float32", 1, 12.5},
		{"PM5100 3203 energy Wh", "0000 0000 0012 D687", "int64", 1, 1234567},
		{"PM5100 3203 energy kWh", "0000 0000 0012 D687", "int64", 0.001, 1234.567},
	}
	for _, tt := range tests {
		r := profile.Register{Quantity: "q", Type: tt.typ, Order: "ABCD", Scale: tt.scale}
		got, err := Value(r, hexBytes(t, tt.raw))
		if err != nil || !near(got, tt.want) {
			t.Errorf("%s: Value(%s %s ×%v) = %v, %v; want %v", tt.device, tt.raw, tt.typ, tt.scale, got, err, tt.want)
		}
	}
}

func TestValueOffset(t *testing.T) {
	r := profile.Register{Type: "int16", Order: "ABCD", Scale: 0.1, Offset: -40}
	if got, err := Value(r, []byte{0x01, 0xF4}); err != nil || !near(got, 10) {
		t.Errorf("Value = %v, %v; want 500×0.1−40 = 10", got, err)
	}
}

func TestDecodeOrders(t *testing.T) {
	tests := []struct {
		raw, typ, order string
		want            float64
	}{
		{"449A 5000", "float32", "ABCD", 1234.5},
		{"449A 5000", "float32", "", 1234.5},
		{"5000 449A", "float32", "CDAB", 1234.5},
		{"9A44 0050", "float32", "BADC", 1234.5},
		{"0050 9A44", "float32", "DCBA", 1234.5},
		{"4093 4A00 0000 0000", "float64", "ABCD", 1234.5},
		{"0000 0000 4A00 4093", "float64", "CDAB", 1234.5},
		{"9340 004A 0000 0000", "float64", "BADC", 1234.5},
		{"0000 0000 004A 9340", "float64", "DCBA", 1234.5},
		{"0000 0000 0012 D687", "uint64", "ABCD", 1234567},
		{"D687 0012 0000 0000", "int64", "CDAB", 1234567},
		{"0000 0000 1200 87D6", "int64", "BADC", 1234567},
		{"87D6 1200 0000 0000", "int64", "DCBA", 1234567},
		{"FFFF FFFF FFFF FFFE", "int64", "ABCD", -2},
		{"FFFF FFFF FFFF FFFF", "uint64", "ABCD", math.MaxUint64},
		{"F9F2 FFFF", "int32", "CDAB", -1550},
		{"FFFF F2F9", "int32", "BADC", -1550},
		{"F2F9 FFFF", "int32", "DCBA", -1550},
		{"E240 0001", "uint32", "CDAB", 123456},
		{"FFFF FFFF", "uint32", "ABCD", math.MaxUint32},
		{"FFFE", "int16", "ABCD", -2},
		{"FEFF", "int16", "BADC", -2},
		{"FEFF", "int16", "DCBA", -2},
		{"FFFE", "int16", "CDAB", -2},
		{"FFFE", "uint16", "ABCD", 65534},
		{"FC08", "uint16", "BADC", 2300},
	}
	for _, tt := range tests {
		got, err := Decode(hexBytes(t, tt.raw), tt.typ, tt.order)
		if err != nil || got != tt.want {
			t.Errorf("Decode(%s, %s, %s) = %v, %v; want %v", tt.raw, tt.typ, tt.order, got, err, tt.want)
		}
	}
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		raw, typ, order, want string
	}{
		{"449A", "float32", "ABCD", "got 2 bytes, want 4"},
		{"449A 5000 00", "float32", "ABCD", "got 5 bytes, want 4"},
		{"", "uint16", "ABCD", "got 0 bytes, want 2"},
		{"449A 5000", "float", "ABCD", `unknown type "float"`},
		{"0001", "bool", "ABCD", `unknown type "bool"`},
		{"449A 5000", "float32", "abcd", `unknown order "abcd"`},
	}
	for _, tt := range tests {
		_, err := Decode(hexBytes(t, tt.raw), tt.typ, tt.order)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Decode(%s, %s, %s) error %v, want %q", tt.raw, tt.typ, tt.order, err, tt.want)
		}
	}
	_, err := Value(profile.Register{Quantity: "energy_import_total", Address: 0x48, Type: "float32", Order: "ABCD", Scale: 1}, nil)
	if err == nil || !strings.Contains(err.Error(), "energy_import_total at 0x0048") {
		t.Errorf("Value error %v does not name the register", err)
	}
}

// FuzzDecode checks that Decode never panics, accepts exactly the right length, and that the
// four orders are the permutations they claim to be.
func FuzzDecode(f *testing.F) {
	f.Add([]byte{0x44, 0x9A, 0x50, 0x00}, "float32", "ABCD")
	f.Add([]byte{0x00, 0x00, 0x00, 0x00, 0x00, 0x12, 0xD6, 0x87}, "int64", "CDAB")
	f.Add([]byte{0x08, 0xFC}, "uint16", "BADC")
	f.Fuzz(func(t *testing.T, raw []byte, typ, order string) {
		v, err := Decode(raw, typ, order)
		if err != nil {
			return
		}
		if n := map[string]int{"int16": 2, "uint16": 2, "int32": 4, "uint32": 4, "float32": 4,
			"int64": 8, "uint64": 8, "float64": 8}[typ]; n != len(raw) {
			t.Fatalf("Decode accepted %d bytes as %s", len(raw), typ)
		}
		// Rearranging the bytes into big-endian order must give the same value under ABCD.
		be := make([]byte, len(raw))
		n := len(raw)
		for i := range raw {
			w, b := i/2, i%2
			switch order {
			case "ABCD", "":
				be[i] = raw[i]
			case "DCBA":
				be[i] = raw[n-1-i]
			case "CDAB":
				be[i] = raw[n-2-2*w+b]
			case "BADC":
				be[i] = raw[2*w+1-b]
			}
		}
		v2, err := Decode(be, typ, "ABCD")
		if err != nil || !(v == v2 || math.IsNaN(v) && math.IsNaN(v2)) {
			t.Fatalf("Decode(% x, %s, %s) = %v, but big-endian % x gives %v, %v", raw, typ, order, v, be, v2, err)
		}
	})
}

func BenchmarkDecode(b *testing.B) {
	for _, bc := range []struct {
		name, raw, typ, order string
	}{
		{"float32-ABCD", "449A 5000", "float32", "ABCD"},
		{"int32-CDAB", "F9F2 FFFF", "int32", "CDAB"},
		{"int64-DCBA", "87D6 1200 0000 0000", "int64", "DCBA"},
	} {
		raw := hexBytes(b, bc.raw)
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Decode(raw, bc.typ, bc.order); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
