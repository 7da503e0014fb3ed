package profile

import (
	"strings"

	"github.com/parkcarbon/parkcarbon/internal/wire"
)

// The vocabulary is the storage contract of DESIGN.md: the quantities dashboards and alert
// rules query, each in one base unit. A profile may name only these (or a custom quantity,
// see below), so a map with "W" where "kW" belongs fails at load instead of in a dashboard.

// customPrefix marks a quantity outside the vocabulary (a valve state, a temperature): it is
// stored like any other but no dashboard or rule relies on it, and its unit is free.
const customPrefix = "x_"

// BaseUnit returns the unit a quantity of energy is stored in, and whether the vocabulary
// knows the quantity (wire.BaseUnit, DESIGN.md's table). Custom quantities (x_…) are not in
// the vocabulary.
func BaseUnit(energy, quantity string) (unit string, ok bool) { return wire.BaseUnit(energy, quantity) }

// Quantities lists the vocabulary of energy, for error messages and listings.
func Quantities(energy string) []string {
	switch energy {
	case "electricity":
		return []string{"energy_import_total", "energy_export_total", "active_power", "reactive_power",
			"power_factor", "voltage_l1", "voltage_l2", "voltage_l3", "current_l1", "current_l2", "current_l3", "frequency"}
	case "gas", "water":
		return []string{"volume_total", "flow_rate"}
	case "heat":
		return []string{"energy_total", "power", "mass_total"}
	}
	return nil
}

// IsCustom tells whether quantity is outside the vocabulary by name (x_…).
func IsCustom(quantity string) bool { return strings.HasPrefix(quantity, customPrefix) }

// normalUnit accepts the ASCII spelling of cubic metres, which field keyboards lack "³" for.
func normalUnit(unit string) string {
	return strings.NewReplacer("m3", "m³").Replace(unit)
}
