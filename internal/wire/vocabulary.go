package wire

// BaseUnit returns the unit a quantity of energy is stored in (DESIGN.md, "Vocabulary and
// storage schema"), and whether the vocabulary knows the quantity. Profiles and sensor
// mappings take their units from here.
func BaseUnit(energy, quantity string) (unit string, ok bool) {
	switch energy {
	case Electricity:
		switch quantity {
		case "energy_import_total", "energy_export_total":
			return "kWh", true
		case "active_power":
			return "kW", true
		case "reactive_power":
			return "kvar", true
		case "power_factor":
			return "1", true
		case "voltage_l1", "voltage_l2", "voltage_l3":
			return "V", true
		case "current_l1", "current_l2", "current_l3":
			return "A", true
		case "frequency":
			return "Hz", true
		}
	case Gas, Water:
		switch quantity {
		case "volume_total":
			return "m³", true
		case "flow_rate":
			return "m³/h", true
		}
	case Heat:
		switch quantity {
		case "energy_total":
			return "GJ", true
		case "power":
			return "kW", true
		case "mass_total":
			return "t", true
		}
	}
	return "", false
}
