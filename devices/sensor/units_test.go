package sensor

import (
	"strings"
	"testing"
)

func TestConvert(t *testing.T) {
	tests := []struct {
		v        float64
		from, to string
		want     float64
	}{
		{123456, "Wh", "kWh", 123.456},
		{1.5, "MWh", "kWh", 1500},
		{150, "W", "kW", 0.15},
		{2.5, "MW", "kW", 2500},
		{55, "var", "kvar", 0.055},
		{160, "VA", "kVA", 0.16},
		{123456, "L", "m³", 123.456},
		{1, "m3", "m³", 1},
		{1, "kWh", "GJ", 0.0036},
		{1000, "kWh", "GJ", 3.6},
		{1500, "MJ", "GJ", 1.5},
		{1, "GJ", "kWh", 277.77777777777777},
		{2, "Gcal", "GJ", 8.3736},
		{12.5, "L/min", "m³/h", 0.75},
		{1, "L/s", "m³/h", 3.6},
		{2500, "kg", "t", 2.5},
		{652, "mA", "A", 0.652},
		{10.5, "kV", "V", 10500},
		{94, "%", "1", 0.94},
		{-7.21, "var", "kvar", -0.00721},
		{0, "Wh", "kWh", 0},
	}
	for _, tt := range tests {
		got, err := Convert(tt.v, tt.from, tt.to)
		if err != nil || got != tt.want {
			t.Errorf("Convert(%v, %s, %s) = %v, %v; want %v", tt.v, tt.from, tt.to, got, err, tt.want)
		}
	}
}

func TestConvertErrors(t *testing.T) {
	tests := []struct {
		v        float64
		from, to string
		want     string
	}{
		{1, "kwh", "kWh", `unknown unit "kwh"`},
		{1, "kWh", "BTU", `unknown unit "BTU"`},
		{1, "W", "kWh", "cannot convert W to kWh"},
		{1, "var", "kW", "cannot convert var to kW"},
		{1, "VA", "kvar", "cannot convert VA to kvar"},
		{1e308, "MWh", "Wh", "not a finite number of Wh"},
	}
	for _, tt := range tests {
		if _, err := Convert(tt.v, tt.from, tt.to); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Convert(%v, %s, %s): err = %v, want %q", tt.v, tt.from, tt.to, err, tt.want)
		}
	}
}

func TestBaseUnit(t *testing.T) {
	tests := []struct {
		energy, quantity, unit string
		want                   string // base unit, or the error's text
		ok                     bool
	}{
		{"electricity", "energy_import_total", "Wh", "kWh", true},
		{"electricity", "active_power", "W", "kW", true},
		{"electricity", "reactive_power", "var", "kvar", true},
		{"electricity", "power_factor", "%", "1", true},
		{"electricity", "voltage_l3", "V", "V", true},
		{"water", "volume_total", "L", "m³", true},
		{"gas", "flow_rate", "m3/h", "m³/h", true},
		{"heat", "energy_total", "kWh", "GJ", true},
		{"heat", "energy_total", "MWh", "GJ", true},
		{"heat", "power", "MW", "kW", true},
		{"heat", "mass_total", "kg", "t", true},
		// outside the vocabulary: the dimension's base, energy in GJ for heat only
		{"electricity", "apparent_power", "VA", "kVA", true},
		{"electricity", "energy_today", "Wh", "kWh", true},
		{"heat", "energy_today", "kWh", "GJ", true},
		{"electricity", "reactive_energy_total", "varh", "kvarh", true},
		{"water", "temperature_ratio", "%", "1", true},
		// mistakes
		{"electricity", "active_power", "kWh", "unit kWh does not fit active_power, which is stored in kW", false},
		{"electricity", "reactive_power", "W", "unit W does not fit reactive_power", false},
		{"water", "volume_total", "kg", "does not fit volume_total", false},
		{"electricity", "energy_total", "kWh", "quantity energy_total belongs to heat meters, not electricity", false},
		{"water", "active_power", "W", "quantity active_power belongs to electricity meters, not water", false},
		{"gas", "power", "kW", "belongs to heat meters", false},
		{"electricity", "active_power", "watt", `unknown unit "watt"`, false},
	}
	for _, tt := range tests {
		got, err := baseUnit(tt.energy, tt.quantity, tt.unit)
		switch {
		case tt.ok && (err != nil || got != tt.want):
			t.Errorf("baseUnit(%s, %s, %s) = %q, %v; want %q", tt.energy, tt.quantity, tt.unit, got, err, tt.want)
		case !tt.ok && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("baseUnit(%s, %s, %s): err = %v, want %q", tt.energy, tt.quantity, tt.unit, err, tt.want)
		}
	}
}

// TestVocabularyUnitsKnown guards the two tables against drifting apart: every base unit
// of the vocabulary must be a known unit that converts to itself.
func TestVocabularyUnitsKnown(t *testing.T) {
	quantities := []string{
		"energy_import_total", "energy_export_total", "active_power", "reactive_power", "power_factor",
		"voltage_l1", "voltage_l2", "voltage_l3", "current_l1", "current_l2", "current_l3", "frequency",
		"volume_total", "flow_rate", "energy_total", "power", "mass_total",
	}
	n := 0
	for _, e := range []string{"electricity", "gas", "water", "heat"} {
		for _, q := range quantities {
			base, ok := vocabulary(e, q)
			if !ok {
				continue
			}
			n++
			if got, err := baseUnit(e, q, base); err != nil || got != base {
				t.Errorf("%s %s: base unit %q: baseUnit = %q, %v", e, q, base, got, err)
			}
		}
	}
	if n != 12+2+2+3 {
		t.Errorf("vocabulary has %d entries, want DESIGN.md's 19", n)
	}
}
