package modbus

import (
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/parkcarbon/parkcarbon/devices/profile"
)

func builtin(t testing.TB, name string) *profile.Profile {
	t.Helper()
	p, err := profile.Builtin(name)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// The fixture vectors of meters.md §4.5, decoded through the shipped profiles' own
// registers: the address, type, order and scale all come from the YAML.
func TestProfileFixtures(t *testing.T) {
	tests := []struct {
		profile  string
		addr     uint16
		raw      string
		quantity string
		want     float64 // in the base unit
	}{
		{"eastron-sdm630", 0x0000, "4366 0000", "voltage_l1", 230},
		{"eastron-sdm630", 0x0048, "449A 5000", "energy_import_total", 1234.5},
		{"eastron-sdm630", 0x0034, "459C 4000", "active_power", 5},    // 5000 W
		{"chint-dtsu666", 0x2006, "450F C000", "voltage_l1", 230},     // 2300.0 × 0.1
		{"chint-dtsu666", 0x200C, "44BB 8000", "current_l1", 1.5},     // 1500.0 × 0.001
		{"chint-dtsu666", 0x2012, "462C 8000", "active_power", 1.104}, // 11040.0 × 0.1 W
		{"chint-dtsu666", 0x101E, "449A 51EC", "energy_import_total", float64(float32(1234.56))},
		// meters.md gives 0x0000 (combined total) for this vector; the forward total at
		// 0x000A has the same encoding and is the profile's import.
		{"acrel-adl400", 0x000A, "0001 E240", "energy_import_total", 1234.56},
		{"acrel-adl400", 0x0061, "08FC", "voltage_l1", 230},
		{"acrel-adl400", 0x0064, "0640", "current_l1", 16},
		{"acrel-adl400", 0x016A, "0000 2B20", "active_power", 11.04},
		{"acrel-adl400", 0x016A, "FFFF F9F2", "active_power", -1.55}, // exporting
		{"schneider-pm5100", 3027, "4366 0000", "voltage_l1", 230},
		{"schneider-pm5100", 3059, "4148 0000", "active_power", 12.5},
		{"schneider-pm5100", 3203, "0000 0000 0012 D687", "energy_import_total", 1234.567}, // Wh
		// Not in meters.md: vectors of the same encodings for the single-phase meters.
		{"eastron-sdm120", 0x0048, "449A 5000", "energy_import_total", 1234.5},
		{"eastron-sdm120", 0x000C, "459C 4000", "active_power", 5},
		{"chint-ddsu666", 0x2000, "4366 0000", "voltage_l1", 230},
		{"chint-ddsu666", 0x2004, "4148 0000", "active_power", 12.5}, // kW as sent
		{"chint-ddsu666", 0x4000, "449A 51EC", "energy_import_total", float64(float32(1234.56))},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/%s/%04X", tt.profile, tt.quantity, tt.addr), func(t *testing.T) {
			p := builtin(t, tt.profile)
			i := slices.IndexFunc(p.Registers, func(r profile.Register) bool { return r.Quantity == tt.quantity })
			if i < 0 {
				t.Fatalf("no %s in %s", tt.quantity, tt.profile)
			}
			r := p.Registers[i]
			if r.Address != tt.addr {
				t.Fatalf("%s at 0x%04X, the vector is for 0x%04X", tt.quantity, r.Address, tt.addr)
			}
			unit, _ := profile.BaseUnit(p.Energy, r.Quantity)
			got, err := Value(r, hexBytes(t, tt.raw))
			if err != nil || !near(got, tt.want) || r.Unit != unit {
				t.Errorf("Value(%s) = %v %s, %v; want %v %s", tt.raw, got, r.Unit, err, tt.want, unit)
			}
		})
	}
}

// minRequests is the fewest reads that cover regs under o, by dynamic programming over
// every way to cut each function's sorted registers into runs: an oracle for PlanWith
// that shares none of its code.
func minRequests(regs []profile.Register, o PlanOptions) int {
	byFn := map[string][]profile.Register{}
	for _, r := range regs {
		byFn[r.Function] = append(byFn[r.Function], r)
	}
	total := 0
	for fn, rs := range byFn {
		slices.SortFunc(rs, func(a, b profile.Register) int { return int(a.Address) - int(b.Address) })
		limit := MaxRegisters
		if fn == "coil" || fn == "discrete" {
			limit = MaxBits
		}
		feasible := func(i, j int) bool { // can rs[i..j] share one read?
			if o.OneRegisterPerRequest && i != j {
				return false
			}
			start, end := int(rs[i].Address), 0
			for k := i; k <= j; k++ {
				a := int(rs[k].Address)
				if k > i && a-end > int(o.MaxGap) {
					return false
				}
				end = max(end, a+int(rs[k].Words()))
			}
			for _, b := range o.NoReadAcross {
				if start < int(b) && int(b) < end {
					return false
				}
			}
			return end-start <= limit
		}
		best := make([]int, len(rs)+1) // best[n]: fewest reads for rs[:n]
		for n := 1; n <= len(rs); n++ {
			best[n] = math.MaxInt
			for i := 0; i < n; i++ {
				if feasible(i, n-1) && best[i]+1 < best[n] {
					best[n] = best[i] + 1
				}
			}
		}
		total += best[len(rs)]
	}
	return total
}

// Each shipped profile is read in the fewest requests: the counts below are what the agent
// sends per poll with the default gap, and PlanWith matches the oracle for other options.
func TestPlanShippedProfilesMinimal(t *testing.T) {
	want := map[string]int{ // requests per poll at DefaultMaxGap
		"eastron-sdm630":   1, // input 0x0000–0x004B
		"eastron-sdm120":   1, // input 0x0000–0x004B
		"chint-dtsu666":    2, // holding 0x101E–0x1029, 0x2006–0x2045
		"chint-ddsu666":    2, // holding 0x2000–0x200F, 0x4000–0x400B
		"acrel-adl400":     3, // holding 0x000A–0x0015, 0x0061–0x0077, 0x016A–0x017F
		"schneider-pm5100": 2, // holding 2999–3110, 3203–3210
	}
	if len(want) != len(profile.BuiltinNames()) {
		t.Fatalf("expectations for %d profiles, %d shipped", len(want), len(profile.BuiltinNames()))
	}
	for _, name := range profile.BuiltinNames() {
		p := builtin(t, name)
		if got := len(PlanProfile(p, DefaultMaxGap)); got != want[name] {
			t.Errorf("%s: %d requests per poll, want %d", name, got, want[name])
		}
		for _, o := range []PlanOptions{
			{MaxGap: DefaultMaxGap}, {MaxGap: 0}, {MaxGap: 6}, {MaxGap: 20}, {MaxGap: 40}, {MaxGap: 1998},
			{MaxGap: DefaultMaxGap, OneRegisterPerRequest: true},
			{MaxGap: DefaultMaxGap, NoReadAcross: []uint16{0x0020, 0x2020, 0x0068, 3040, 0x4004}},
		} {
			plan := PlanWith(p.Registers, o)
			if min := minRequests(p.Registers, o); len(plan) != min {
				t.Errorf("%s %+v: %d requests, the minimum is %d", name, o, len(plan), min)
			}
			checkPlan(t, name, p.Registers, plan, o)
		}
	}
}

// checkPlan asserts that plan reads every register once, whole, within the limits and options.
func checkPlan(t *testing.T, name string, regs []profile.Register, plan []Request, o PlanOptions) {
	t.Helper()
	n := 0
	for _, req := range plan {
		end := int(req.Address) + int(req.Count)
		if req.Count == 0 || req.Count > MaxRegisters && req.Function != "coil" && req.Function != "discrete" {
			t.Errorf("%s: request %+v breaks the protocol limit", name, req)
		}
		for _, b := range o.NoReadAcross {
			if int(req.Address) < int(b) && int(b) < end {
				t.Errorf("%s: request %s %d+%d reads across 0x%04X", name, req.Function, req.Address, req.Count, b)
			}
		}
		for _, r := range req.Registers {
			n++
			if r.Function != req.Function || r.Address < req.Address || int(r.Address)+int(r.Words()) > end {
				t.Errorf("%s: %s outside its request %+v", name, r.Quantity, req)
			}
		}
	}
	if n != len(regs) {
		t.Errorf("%s: plan covers %d registers, want %d", name, n, len(regs))
	}
}

func TestPlanOptions(t *testing.T) {
	regs := []profile.Register{
		reg("a", "holding", 0, "uint32"), reg("b", "holding", 2, "uint16"), // adjacent
		reg("c", "holding", 10, "float32"), reg("d", "holding", 20, "uint16"),
	}
	tests := []struct {
		name string
		o    PlanOptions
		want []span
	}{
		{"bridge all", PlanOptions{MaxGap: 10}, []span{{"holding", 0, 21, 4}}},
		{"boundary in a gap", PlanOptions{MaxGap: 10, NoReadAcross: []uint16{15}}, []span{{"holding", 0, 12, 3}, {"holding", 20, 1, 1}}},
		{"boundary at a value", PlanOptions{MaxGap: 10, NoReadAcross: []uint16{2}}, []span{{"holding", 0, 2, 1}, {"holding", 2, 19, 3}}},
		{"boundary just past a value", PlanOptions{MaxGap: 10, NoReadAcross: []uint16{3}}, []span{{"holding", 0, 3, 2}, {"holding", 10, 11, 2}}},
		{"boundary at the start is no crossing", PlanOptions{MaxGap: 10, NoReadAcross: []uint16{0}}, []span{{"holding", 0, 21, 4}}},
		{"one per request", PlanOptions{MaxGap: 10, OneRegisterPerRequest: true},
			[]span{{"holding", 0, 2, 1}, {"holding", 2, 1, 1}, {"holding", 10, 2, 1}, {"holding", 20, 1, 1}}},
	}
	for _, tt := range tests {
		plan := PlanWith(regs, tt.o)
		if got := spans(plan); !equalSpans(got, tt.want) {
			t.Errorf("%s: PlanWith = %v, want %v", tt.name, got, tt.want)
		}
		if min := minRequests(regs, tt.o); len(plan) != min {
			t.Errorf("%s: %d requests, the minimum is %d", tt.name, len(plan), min)
		}
	}
}

func TestProfileOptions(t *testing.T) {
	gap := uint16(4)
	q := profile.Quirks{MaxGap: &gap, NoReadAcross: []uint16{9}, OneRegisterPerRequest: true}
	o := ProfileOptions(q, DefaultMaxGap)
	if o.MaxGap != 4 || !slices.Equal(o.NoReadAcross, []uint16{9}) || !o.OneRegisterPerRequest {
		t.Errorf("ProfileOptions = %+v", o)
	}
	if o := ProfileOptions(profile.Quirks{}, 30); o.MaxGap != 30 || o.OneRegisterPerRequest || o.NoReadAcross != nil {
		t.Errorf("ProfileOptions of no quirks = %+v, want the default gap only", o)
	}
}
