package profile

import (
	"strings"
	"testing"
)

// FuzzParse checks that Parse never panics, and that what it accepts is internally consistent.
func FuzzParse(f *testing.F) {
	f.Add([]byte(validYAML))
	f.Add([]byte(validYAML + "max_gap: 3\nno_read_across: [0x49, 0x60]\npause_after_connect: 1s\n"))
	for _, name := range BuiltinNames() {
		data, err := builtin.ReadFile("profiles/" + name + ".yaml")
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse(data, "fuzz.yaml")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.yaml") {
				t.Errorf("error %q does not name the file", err)
			}
			return
		}
		seen := make(map[string]bool)
		for _, r := range p.Registers {
			if r.Words() == 0 || r.Unit == "" || r.Scale == 0 || seen[r.Quantity] {
				t.Errorf("accepted invalid register %+v", r)
			}
			seen[r.Quantity] = true
			if int(r.Address)+int(r.Words()) > 0x10000 {
				t.Errorf("accepted register past 0xFFFF: %+v", r)
			}
			if u, ok := BaseUnit(p.Energy, r.Quantity); ok && u != r.Unit || !ok && !IsCustom(r.Quantity) {
				t.Errorf("accepted %s in %q outside the vocabulary of %s", r.Quantity, r.Unit, p.Energy)
			}
		}
		for _, a := range p.Quirks.NoReadAcross {
			for _, r := range p.Registers {
				if r.Address < a && int(a) < int(r.Address)+int(r.Words()) {
					t.Errorf("accepted no_read_across 0x%04X inside %+v", a, r)
				}
			}
		}
		for i, a := range p.Registers {
			for _, b := range p.Registers[i+1:] {
				if a.Function == b.Function && a.Address < b.Address+b.Words() && b.Address < a.Address+a.Words() {
					t.Errorf("accepted overlapping registers %+v and %+v", a, b)
				}
			}
		}
	})
}
