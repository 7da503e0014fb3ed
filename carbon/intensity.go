package carbon

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"
)

// Num is a computed figure that may be not available (N/A), such as a
// ratio whose denominator is zero. The zero Num is N/A, so a figure nobody
// computed cannot pass for a real 0.
type Num struct {
	V  float64
	OK bool
}

// Of is an available figure.
func Of(v float64) Num { return Num{V: v, OK: true} }

// MarshalJSON writes the number, or null when N/A.
func (n Num) MarshalJSON() ([]byte, error) {
	if !n.OK || math.IsNaN(n.V) || math.IsInf(n.V, 0) {
		return []byte("null"), nil
	}
	// As encoding/json writes a float64: no exponent for everyday sizes.
	return json.Marshal(n.V)
}

// UnmarshalJSON reads a number, or null as N/A.
func (n *Num) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*n = Num{}
		return nil
	}
	var v float64
	if err := json.Unmarshal(b, &v); err != nil {
		return fmt.Errorf("figure: %w", err)
	}
	*n = Of(v)
	return nil
}

// div is a ÷ b, N/A when b is 0 or either side is N/A.
func div(a, b Num) Num {
	if !a.OK || !b.OK || b.V == 0 {
		return Num{}
	}
	return Of(a.V / b.V)
}

// Totals is what an enterprise consumed over a period, from its meters.
type Totals struct {
	ElectricityKWh float64 `json:"electricity_kwh"`
	GasM3          float64 `json:"gas_m3"`
	WaterM3        float64 `json:"water_m3"`
	HeatGJ         float64 `json:"heat_gj"`
	// CoalKgce is comprehensive energy consumption as stored: each energy
	// at its GB/T 2589-2020 coefficient, electricity at the equivalent value.
	CoalKgce float64 `json:"coal_kgce"`
	CO2kg    float64 `json:"co2_kg"`
}

// Add books consumption of one energy kind (amount in its base unit).
func (t *Totals) Add(energy string, amount, co2Kg, coalKgce float64) error {
	switch energy {
	case Electricity:
		t.ElectricityKWh += amount
	case Gas:
		t.GasM3 += amount
	case Water:
		t.WaterM3 += amount
	case Heat:
		t.HeatGJ += amount
	default:
		return fmt.Errorf("unknown energy %q", energy)
	}
	t.CO2kg += co2Kg
	t.CoalKgce += coalKgce
	return nil
}

// Period is a span of civil time in the park's time zone, [Start, End).
// Parks report by local calendar: October in Asia/Shanghai starts at
// 2026-09-30T16:00Z.
type Period struct {
	Label      string
	Start, End time.Time
}

// ParsePeriod reads "2026-10" (a month), "2026-Q3" (a quarter) or "2026"
// (a year) as a period of civil time in loc.
func ParsePeriod(s string, loc *time.Location) (Period, error) {
	if loc == nil {
		return Period{}, fmt.Errorf("period %q: no time zone", s)
	}
	p := Period{Label: s}
	var (
		year   int
		month  = time.January
		months = 12
		err    error
	)
	switch {
	case len(s) == 4:
		year, err = strconv.Atoi(s)
	case len(s) == 7 && s[4] == '-' && (s[5] == 'Q' || s[5] == 'q'):
		year, err = strconv.Atoi(s[:4])
		q := int(s[6]) - '0'
		if q < 1 || q > 4 {
			err = fmt.Errorf("no quarter %c", s[6])
		}
		month, months = time.Month(3*(q-1)+1), 3
		p.Label = s[:5] + "Q" + s[6:]
	case len(s) == 7 && s[4] == '-':
		var t time.Time
		t, err = time.Parse("2006-01", s)
		year, month, months = t.Year(), t.Month(), 1
	default:
		err = fmt.Errorf("want YYYY, YYYY-MM or YYYY-Qn")
	}
	if err != nil || year < 1970 || year > 9999 {
		return Period{}, fmt.Errorf("period %q: want YYYY, YYYY-MM or YYYY-Qn", s)
	}
	p.Start = time.Date(year, month, 1, 0, 0, 0, 0, loc)
	p.End = p.Start.AddDate(0, months, 0)
	return p, nil
}

// civilDay counts days since the epoch of the calendar date t shows in its
// location, so that a 23- or 25-hour day (DST) still counts as one.
func civilDay(t time.Time) int64 {
	y, m, d := t.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix() / 86400
}

// Days is the number of calendar days in the period.
func (p Period) Days() int { return int(civilDay(p.End) - civilDay(p.Start)) }

// YearFraction is the share of a year the period covers, by calendar days:
// for each calendar year it overlaps, the days in it ÷ that year's days
// (365 or 366). October is 31/365 of 2026; a whole year is exactly 1.
// This is the factor that pro-rates annual registry figures to the period.
func (p Period) YearFraction() float64 {
	var f float64
	start, end := civilDay(p.Start), civilDay(p.End)
	for y := p.Start.Year(); ; y++ {
		y0 := time.Date(y, 1, 1, 0, 0, 0, 0, time.UTC).Unix() / 86400
		y1 := time.Date(y+1, 1, 1, 0, 0, 0, 0, time.UTC).Unix() / 86400
		if y0 >= end {
			break
		}
		lo, hi := max(start, y0), min(end, y1)
		if hi > lo {
			f += float64(hi-lo) / float64(y1-y0)
		}
	}
	return f
}

// Intensity is an enterprise's consumption over a period set against its
// land and its economic figures. Per-mu figures are for the period as
// metered (kgce per mu in October). The per-10,000-CNY figures set the
// period's consumption against the annual registry figures pro-rated to the
// period by calendar days (Period.YearFraction): October's tCO2 over 31/365
// of the annual value added. Any figure whose denominator is zero is N/A.
type Intensity struct {
	KgcePerMu               Num `json:"kgce_per_mu"`                  // kgce/mu over the period
	KgCO2PerMu              Num `json:"kgco2_per_mu"`                 // kgCO2/mu over the period
	KWhPerMu                Num `json:"kwh_per_mu"`                   // kWh/mu over the period
	TCO2Per10kCNYOutput     Num `json:"tco2_per_10k_cny_output"`      // tCO2 per 10,000 CNY of output value
	TCO2Per10kCNYValueAdded Num `json:"tco2_per_10k_cny_value_added"` // tCO2 per 10,000 CNY of value added
	TcePer10kCNYValueAdded  Num `json:"tce_per_10k_cny_value_added"`  // tce per 10,000 CNY of value added
}

// ProRate scales an annual figure to the period (see Period.YearFraction).
func ProRate(annual float64, p Period) float64 { return annual * p.YearFraction() }

// Intensities computes an enterprise's intensities over a period from its
// metered totals.
func Intensities(t Totals, e *Enterprise, p Period) Intensity {
	land := Of(e.LandAreaMu)
	output10k := Of(ProRate(e.OutputValueCNY, p) / 1e4)
	va10k := Of(ProRate(e.ValueAddedCNY, p) / 1e4)
	tCO2 := Of(t.CO2kg / 1000)
	return Intensity{
		KgcePerMu:               div(Of(t.CoalKgce), land),
		KgCO2PerMu:              div(Of(t.CO2kg), land),
		KWhPerMu:                div(Of(t.ElectricityKWh), land),
		TCO2Per10kCNYOutput:     div(tCO2, output10k),
		TCO2Per10kCNYValueAdded: div(tCO2, va10k),
		TcePer10kCNYValueAdded:  div(Of(t.CoalKgce/1000), va10k),
	}
}
