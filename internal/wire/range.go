package wire

import "strings"

// Physical bounds of the vocabulary's quantities, in their base units: wide
// enough for any real meter of a park (a 1 GW plant would still fit), narrow
// enough to refuse garbage such as a float32 read as 3.4e38.
var bounds = map[string][2]float64{
	"energy_import_total": {0, 1e12}, "energy_export_total": {0, 1e12},
	"volume_total": {0, 1e12}, "energy_total": {0, 1e12}, "mass_total": {0, 1e12},
	"active_power": {-1e6, 1e6}, "reactive_power": {-1e6, 1e6}, "power": {-1e6, 1e6},
	"power_factor": {-1.001, 1.001},
	"frequency":    {0, 1000},
	"flow_rate":    {-1e6, 1e6},
}

// MaxDelta bounds one interval's consumption (base unit).
const MaxDelta = 1e9

// Plausible reports whether value is within the physical range of quantity.
// Quantities outside the vocabulary (a profile's x_ custom ones) are not
// checked beyond being finite.
func Plausible(quantity string, value float64) bool {
	b, ok := bounds[quantity]
	if !ok {
		switch {
		case strings.HasPrefix(quantity, "voltage_"), strings.HasPrefix(quantity, "current_"):
			b = [2]float64{0, 1e6}
		default:
			return true
		}
	}
	return value >= b[0] && value <= b[1]
}
