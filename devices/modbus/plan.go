package modbus

import (
	"cmp"
	"slices"

	"github.com/parkcarbon/parkcarbon/devices/profile"
)

// Protocol limits of one read: registers for FC03/FC04, bits for FC01/FC02.
const (
	MaxRegisters = 125
	MaxBits      = 2000
)

// DefaultMaxGap is the gap a read bridges when neither the profile nor the device sets one:
// wide enough that each shipped profile needs no more than one read per register block, yet
// well inside one 125-register read.
const DefaultMaxGap = 64

// Request is one read of Count consecutive registers (or bits) from Address.
type Request struct {
	Function  string // coil, discrete, holding or input
	Address   uint16
	Count     uint16
	Registers []profile.Register // the values the read covers, by address
}

// PlanOptions shape a plan within the protocol limits.
type PlanOptions struct {
	// MaxGap is the largest run of unused registers read across rather than split.
	MaxGap uint16
	// NoReadAcross lists addresses a read must not span: no read covers both a-1 and a.
	NoReadAcross []uint16
	// OneRegisterPerRequest reads every value on its own.
	OneRegisterPerRequest bool
}

// ProfileOptions are the plan options of a meter with quirks q: its own gap, boundaries and
// block-read refusal over the caller's default gap.
func ProfileOptions(q profile.Quirks, defaultGap uint16) PlanOptions {
	o := PlanOptions{MaxGap: defaultGap, NoReadAcross: q.NoReadAcross, OneRegisterPerRequest: q.OneRegisterPerRequest}
	if q.MaxGap != nil {
		o.MaxGap = *q.MaxGap
	}
	return o
}

// PlanProfile plans p's registers with p's quirks; defaultGap applies unless p sets max_gap.
func PlanProfile(p *profile.Profile, defaultGap uint16) []Request {
	return PlanWith(p.Registers, ProfileOptions(p.Quirks, defaultGap))
}

// Plan groups registers into the fewest reads: one function per read, at most the protocol
// limit per read, and a gap of up to maxGap unused registers between two values is read
// across rather than split. With maxGap 0 only adjacent values share a read.
//
// Bridging reads addresses the profile does not name; a meter that rejects those with an
// exception needs a smaller maxGap. Requests come ordered by function, then address.
func Plan(regs []profile.Register, maxGap uint16) []Request {
	return PlanWith(regs, PlanOptions{MaxGap: maxGap})
}

// PlanWith is Plan under all of o's constraints. Taking each value into the current read
// whenever the constraints allow gives the fewest reads: a read that can hold a run of
// values can also hold any later part of that run.
func PlanWith(regs []profile.Register, o PlanOptions) []Request {
	sorted := slices.Clone(regs)
	slices.SortStableFunc(sorted, func(a, b profile.Register) int {
		return cmp.Or(cmp.Compare(a.Function, b.Function), cmp.Compare(a.Address, b.Address))
	})
	bounds := slices.Clone(o.NoReadAcross)
	slices.Sort(bounds)

	var plan []Request
	var end int // one past the last address the current request covers
	for _, r := range sorted {
		words := int(max(r.Words(), 1)) // an unknown type still occupies its address
		limit := MaxRegisters
		if r.Function == "coil" || r.Function == "discrete" {
			limit = MaxBits
		}
		rEnd := min(int(r.Address)+words, 0x10000)
		if n := len(plan); n > 0 && !o.OneRegisterPerRequest {
			cur := &plan[n-1]
			newEnd := max(end, rEnd)
			fits := cur.Function == r.Function &&
				int(r.Address)-end <= int(o.MaxGap) &&
				newEnd-int(cur.Address) <= limit &&
				!crosses(bounds, int(cur.Address), newEnd)
			if fits {
				end = newEnd
				cur.Count = uint16(end - int(cur.Address))
				cur.Registers = append(cur.Registers, r)
				continue
			}
		}
		end = rEnd
		plan = append(plan, Request{
			Function:  r.Function,
			Address:   r.Address,
			Count:     uint16(end - int(r.Address)),
			Registers: []profile.Register{r},
		})
	}
	return plan
}

// crosses tells whether the read [start, end) covers both b-1 and b for a sorted bound b.
func crosses(bounds []uint16, start, end int) bool {
	i, _ := slices.BinarySearch(bounds, uint16(min(start+1, 0xFFFF)))
	return i < len(bounds) && int(bounds[i]) > start && int(bounds[i]) < end
}
