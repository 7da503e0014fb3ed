package modbus

import (
	"math/rand/v2"
	"testing"

	"github.com/parkcarbon/parkcarbon/devices/profile"
)

// span is a request without its registers, for compact expectations.
type span struct {
	fn          string
	addr, count uint16
	regs        int
}

func spans(plan []Request) []span {
	var s []span
	for _, r := range plan {
		s = append(s, span{r.Function, r.Address, r.Count, len(r.Registers)})
	}
	return s
}

func equalSpans(a, b []span) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestPlanSDM630(t *testing.T) {
	p, err := profile.Builtin("eastron-sdm630")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		maxGap uint16
		want   []span
	}{
		// 0x0000–0x004B in one read of 76 registers.
		{60, []span{{"input", 0x0000, 76, 12}}},
		{40, []span{{"input", 0x0000, 76, 12}}},
		// The widest gap, 0x000C–0x0033, is 40 registers.
		{39, []span{{"input", 0x0000, 12, 6}, {"input", 0x0034, 24, 6}}},
		{6, []span{{"input", 0x0000, 12, 6}, {"input", 0x0034, 24, 6}}},
		{5, []span{{"input", 0x0000, 12, 6}, {"input", 0x0034, 2, 1}, {"input", 0x003C, 4, 2}, {"input", 0x0046, 6, 3}}},
		{0, []span{{"input", 0x0000, 12, 6}, {"input", 0x0034, 2, 1}, {"input", 0x003C, 4, 2}, {"input", 0x0046, 6, 3}}},
	}
	for _, tt := range tests {
		plan := Plan(p.Registers, tt.maxGap)
		if got := spans(plan); !equalSpans(got, tt.want) {
			t.Errorf("Plan(sdm630, %d) = %v, want %v", tt.maxGap, got, tt.want)
		}
		n := 0
		for _, r := range plan {
			n += len(r.Registers)
			for i := 1; i < len(r.Registers); i++ {
				if r.Registers[i].Address <= r.Registers[i-1].Address {
					t.Errorf("Plan(sdm630, %d): registers out of address order in %+v", tt.maxGap, r)
				}
			}
		}
		if n != len(p.Registers) {
			t.Errorf("Plan(sdm630, %d) covers %d registers, want %d", tt.maxGap, n, len(p.Registers))
		}
	}
}

func reg(q, fn string, addr uint16, typ string) profile.Register {
	return profile.Register{Quantity: q, Function: fn, Address: addr, Type: typ, Order: "ABCD", Scale: 1, Unit: "x"}
}

func TestPlanLimitsAndFunctions(t *testing.T) {
	tests := []struct {
		name   string
		regs   []profile.Register
		maxGap uint16
		want   []span
	}{
		{"empty", nil, 10, nil},
		{"125 registers fit", []profile.Register{reg("a", "input", 0, "uint16"), reg("b", "input", 123, "int32")}, 500,
			[]span{{"input", 0, 125, 2}}},
		{"126 do not", []profile.Register{reg("a", "input", 0, "uint16"), reg("b", "input", 124, "float32")}, 500,
			[]span{{"input", 0, 1, 1}, {"input", 124, 2, 1}}},
		{"functions apart", []profile.Register{reg("a", "input", 0, "uint16"), reg("b", "holding", 1, "uint16"), reg("c", "input", 1, "uint16")}, 0,
			[]span{{"holding", 1, 1, 1}, {"input", 0, 2, 2}}},
		{"bits up to 2000", []profile.Register{reg("a", "coil", 0, "bool"), reg("b", "coil", 1999, "bool"), reg("c", "coil", 2000, "bool")}, 5000,
			[]span{{"coil", 0, 2000, 2}, {"coil", 2000, 1, 1}}},
		{"gap exactly maxGap", []profile.Register{reg("a", "holding", 10, "uint16"), reg("b", "holding", 14, "uint16")}, 3,
			[]span{{"holding", 10, 5, 2}}},
		{"gap one more", []profile.Register{reg("a", "holding", 10, "uint16"), reg("b", "holding", 14, "uint16")}, 2,
			[]span{{"holding", 10, 1, 1}, {"holding", 14, 1, 1}}},
		{"end of the address space", []profile.Register{reg("a", "input", 0xFFFC, "int64")}, 0,
			[]span{{"input", 0xFFFC, 4, 1}}},
		{"overlap tolerated", []profile.Register{reg("a", "input", 0, "int64"), reg("b", "input", 1, "uint16")}, 0,
			[]span{{"input", 0, 4, 2}}},
	}
	for _, tt := range tests {
		if got := spans(Plan(tt.regs, tt.maxGap)); !equalSpans(got, tt.want) {
			t.Errorf("%s: Plan = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestPlanIgnoresInputOrder(t *testing.T) {
	p, err := profile.Builtin("eastron-sdm630")
	if err != nil {
		t.Fatal(err)
	}
	want := spans(Plan(p.Registers, 5))
	regs := append([]profile.Register(nil), p.Registers...)
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20 {
		rng.Shuffle(len(regs), func(i, j int) { regs[i], regs[j] = regs[j], regs[i] })
		if got := spans(Plan(regs, 5)); !equalSpans(got, want) {
			t.Fatalf("Plan of shuffled registers = %v, want %v", got, want)
		}
	}
	if p.Registers[0].Quantity != "voltage_l1" {
		t.Error("Plan reordered its argument")
	}
}
