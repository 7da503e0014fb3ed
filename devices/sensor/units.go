package sensor

import (
	"fmt"
	"math"

	"github.com/parkcarbon/parkcarbon/internal/wire"
)

// dimension keeps units of different physical kinds apart, and also W, var and VA,
// which share SI dimensions but must never be converted into one another.
type dimension uint8

const (
	dimEnergy dimension = iota + 1
	dimPower
	dimReactivePower
	dimApparentPower
	dimReactiveEnergy
	dimVoltage
	dimCurrent
	dimFrequency
	dimVolume
	dimFlow
	dimMass
	dimRatio
)

// unitDef is a unit as the exact fraction num/den of its dimension's reference unit.
// Integers rather than a float factor, so that Wh→kWh divides by 1000 exactly
// instead of multiplying by the inexact 0.001.
type unitDef struct {
	dim      dimension
	num, den int64
}

// lookupUnit knows the units field devices report in. A switch rather than a map keeps
// the table immutable.
func lookupUnit(u string) (unitDef, bool) {
	switch u {
	// energy, reference J
	case "Wh":
		return unitDef{dimEnergy, 3600, 1}, true
	case "kWh":
		return unitDef{dimEnergy, 3_600_000, 1}, true
	case "MWh":
		return unitDef{dimEnergy, 3_600_000_000, 1}, true
	case "kJ":
		return unitDef{dimEnergy, 1000, 1}, true
	case "MJ":
		return unitDef{dimEnergy, 1_000_000, 1}, true
	case "GJ":
		return unitDef{dimEnergy, 1_000_000_000, 1}, true
	case "Gcal": // international-table calorie, as Chinese heat meters use it
		return unitDef{dimEnergy, 4_186_800_000, 1}, true
	// active power, reference W
	case "W":
		return unitDef{dimPower, 1, 1}, true
	case "kW":
		return unitDef{dimPower, 1000, 1}, true
	case "MW":
		return unitDef{dimPower, 1_000_000, 1}, true
	// reactive power, reference var
	case "var":
		return unitDef{dimReactivePower, 1, 1}, true
	case "kvar":
		return unitDef{dimReactivePower, 1000, 1}, true
	case "Mvar":
		return unitDef{dimReactivePower, 1_000_000, 1}, true
	// apparent power, reference VA
	case "VA":
		return unitDef{dimApparentPower, 1, 1}, true
	case "kVA":
		return unitDef{dimApparentPower, 1000, 1}, true
	case "MVA":
		return unitDef{dimApparentPower, 1_000_000, 1}, true
	// reactive energy, reference varh
	case "varh":
		return unitDef{dimReactiveEnergy, 1, 1}, true
	case "kvarh":
		return unitDef{dimReactiveEnergy, 1000, 1}, true
	case "Mvarh":
		return unitDef{dimReactiveEnergy, 1_000_000, 1}, true
	// voltage, reference V
	case "V":
		return unitDef{dimVoltage, 1, 1}, true
	case "kV":
		return unitDef{dimVoltage, 1000, 1}, true
	// current, reference A
	case "mA":
		return unitDef{dimCurrent, 1, 1000}, true
	case "A":
		return unitDef{dimCurrent, 1, 1}, true
	case "kA":
		return unitDef{dimCurrent, 1000, 1}, true
	case "Hz":
		return unitDef{dimFrequency, 1, 1}, true
	// volume, reference L
	case "L":
		return unitDef{dimVolume, 1, 1}, true
	case "m³", "m3":
		return unitDef{dimVolume, 1000, 1}, true
	// flow, reference L/h
	case "L/h":
		return unitDef{dimFlow, 1, 1}, true
	case "L/min":
		return unitDef{dimFlow, 60, 1}, true
	case "L/s":
		return unitDef{dimFlow, 3600, 1}, true
	case "m³/h", "m3/h":
		return unitDef{dimFlow, 1000, 1}, true
	// mass, reference kg
	case "kg":
		return unitDef{dimMass, 1, 1}, true
	case "t":
		return unitDef{dimMass, 1000, 1}, true
	// dimensionless
	case "1":
		return unitDef{dimRatio, 1, 1}, true
	case "%":
		return unitDef{dimRatio, 1, 100}, true
	}
	return unitDef{}, false
}

const knownUnits = "Wh kWh MWh kJ MJ GJ Gcal, W kW MW, var kvar Mvar, VA kVA MVA, varh kvarh Mvarh, " +
	"V kV, mA A kA, Hz, L m³ (m3), L/h L/min L/s m³/h (m3/h), kg t, 1 %"

// dimensionBase is the base unit of a quantity outside the vocabulary: the one its
// dimension has in the vocabulary. Energy is kWh, except for heat, which is in GJ.
func dimensionBase(d dimension, energy string) string {
	switch d {
	case dimEnergy:
		if energy == wire.Heat {
			return "GJ"
		}
		return "kWh"
	case dimPower:
		return "kW"
	case dimReactivePower:
		return "kvar"
	case dimApparentPower:
		return "kVA"
	case dimReactiveEnergy:
		return "kvarh"
	case dimVoltage:
		return "V"
	case dimCurrent:
		return "A"
	case dimFrequency:
		return "Hz"
	case dimVolume:
		return "m³"
	case dimFlow:
		return "m³/h"
	case dimMass:
		return "t"
	}
	return "1"
}

// vocabulary is DESIGN.md's table of quantities and their base units, per energy kind.
func vocabulary(energy, quantity string) (base string, ok bool) {
	return wire.BaseUnit(energy, quantity)
}

// baseUnit is the unit a quantity of an energy kind is stored in, given the unit the
// device reports. A vocabulary quantity must come in a unit of its own dimension, and
// one energy kind may not borrow another's quantities (a water meter's energy_total
// would be stored as heat); a quantity outside the vocabulary keeps its dimension's base.
func baseUnit(energy, quantity, unit string) (string, error) {
	u, ok := lookupUnit(unit)
	if !ok {
		return "", fmt.Errorf("unknown unit %q (known: %s)", unit, knownUnits)
	}
	base, ok := vocabulary(energy, quantity)
	if !ok {
		for _, other := range []string{wire.Electricity, wire.Gas, wire.Water, wire.Heat} {
			if _, theirs := vocabulary(other, quantity); theirs {
				return "", fmt.Errorf("quantity %s belongs to %s meters, not %s", quantity, other, energy)
			}
		}
		return dimensionBase(u.dim, energy), nil
	}
	if b, _ := lookupUnit(base); b.dim != u.dim {
		return "", fmt.Errorf("unit %s does not fit %s, which is stored in %s", unit, quantity, base)
	}
	return base, nil
}

// factor is the exact fraction p/q that turns a value in from into one in to.
func factor(from, to string) (p, q float64, err error) {
	f, ok := lookupUnit(from)
	if !ok {
		return 0, 0, fmt.Errorf("unknown unit %q (known: %s)", from, knownUnits)
	}
	t, ok := lookupUnit(to)
	if !ok {
		return 0, 0, fmt.Errorf("unknown unit %q (known: %s)", to, knownUnits)
	}
	if f.dim != t.dim {
		return 0, 0, fmt.Errorf("cannot convert %s to %s", from, to)
	}
	// The products stay far below 2^53, so they are exact as float64 too.
	n, d := f.num*t.den, f.den*t.num
	g := gcd(n, d)
	return float64(n / g), float64(d / g), nil
}

func gcd(a, b int64) int64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// scale applies p/q with as few roundings as possible: Wh→kWh is one correctly
// rounded division, so 123456 Wh is exactly the float64 nearest 123.456 kWh.
func scale(v, p, q float64) float64 {
	switch {
	case q == 1:
		return v * p
	case p == 1:
		return v / q
	}
	return v * p / q
}

// Convert turns value in unit from into unit to, e.g. Convert(1500, "W", "kW") = 1.5.
// Both units must be known and of the same kind.
func Convert(value float64, from, to string) (float64, error) {
	p, q, err := factor(from, to)
	if err != nil {
		return 0, err
	}
	v := scale(value, p, q)
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("%v %s is not a finite number of %s", value, from, to)
	}
	return v, nil
}
