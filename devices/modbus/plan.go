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

// Request is one read of Count consecutive registers (or bits) from Address.
type Request struct {
	Function  string // coil, discrete, holding or input
	Address   uint16
	Count     uint16
	Registers []profile.Register // the values the read covers, by address
}

// Plan groups registers into the fewest reads: one function per read, at most the protocol
// limit per read, and a gap of up to maxGap unused registers between two values is read
// across rather than split. With maxGap 0 only adjacent values share a read.
//
// Bridging reads addresses the profile does not name; a meter that rejects those with an
// exception needs a smaller maxGap. Requests come ordered by function, then address.
func Plan(regs []profile.Register, maxGap uint16) []Request {
	sorted := slices.Clone(regs)
	slices.SortStableFunc(sorted, func(a, b profile.Register) int {
		return cmp.Or(cmp.Compare(a.Function, b.Function), cmp.Compare(a.Address, b.Address))
	})

	var plan []Request
	var end int // one past the last address the current request covers
	for _, r := range sorted {
		words := int(max(r.Words(), 1)) // an unknown type still occupies its address
		limit := MaxRegisters
		if r.Function == "coil" || r.Function == "discrete" {
			limit = MaxBits
		}
		rEnd := min(int(r.Address)+words, 0x10000)
		if n := len(plan); n > 0 {
			cur := &plan[n-1]
			fits := cur.Function == r.Function &&
				int(r.Address)-end <= int(maxGap) &&
				max(end, rEnd)-int(cur.Address) <= limit
			if fits {
				end = max(end, rEnd)
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
