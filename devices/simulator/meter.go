package simulator

import (
	"math"
	"time"
)

// The load of every meter swings smoothly by ±swing around its mean over one period.
const (
	swing  = 0.2
	period = 600.0 // seconds
)

// meter is one simulated SDM630; its readings are a pure function of the time since start.
type meter struct {
	meanKW  float64 // 5–60 kW, from the unit id
	phase   float64 // radians, so meters do not swing in step
	import0 float64 // kWh at start
	export0 float64 // kWh at start
}

func newMeter(unit byte) meter {
	return meter{
		meanKW:  5 + float64(int(unit)*37%56),
		phase:   float64(unit) * 0.7,
		import0: 1000 * float64(unit),
		export0: 10 * float64(unit),
	}
}

// state is what the meter measures at one moment, in the meter's own units (W, var, kWh).
type state struct {
	volts, amps, watts, voltAmps, vars, pf [3]float64
	totalW, totalVA, totalVar, totalPF     float64
	hz, importKWh, exportKWh               float64
}

// at is the meter at d after start (d ≥ 0).
func (m meter) at(d time.Duration) state {
	t := d.Seconds()
	w := 2 * math.Pi / period
	var st state
	st.totalW = 1000 * m.meanKW * (1 + swing*math.Sin(w*t+m.phase))
	// The counter is the exact integral of the power above, so it is smooth and, as the power
	// is always positive, strictly increasing.
	st.importKWh = m.import0 + m.meanKW/3600*(t+swing/w*(math.Cos(m.phase)-math.Cos(w*t+m.phase)))
	st.exportKWh = m.export0 // the load never feeds back
	st.totalPF = 0.95 + 0.03*math.Sin(w*t/2+m.phase)
	st.hz = 50 + 0.02*math.Sin(2*math.Pi*t/97)
	for k := range 3 {
		st.volts[k] = 230 + 3*math.Sin(2*math.Pi*t/300+m.phase+float64(k))
		st.pf[k] = st.totalPF
		st.watts[k] = st.totalW / 3 * (1 + 0.05*float64(k-1)) // slightly unbalanced, sums to totalW
		st.voltAmps[k] = st.watts[k] / st.pf[k]
		st.vars[k] = st.watts[k] * math.Tan(math.Acos(st.pf[k]))
		st.amps[k] = st.voltAmps[k] / st.volts[k]
		st.totalVA += st.voltAmps[k]
		st.totalVar += st.vars[k]
	}
	return st
}

// value is the float32 at an even input register address, as the meter would round it.
func (st *state) value(addr uint16) float32 {
	deg := func(pf float64) float64 { return math.Acos(pf) * 180 / math.Pi }
	var v float64
	switch {
	case addr <= 0x0004:
		v = st.volts[addr/2]
	case addr <= 0x000A:
		v = st.amps[(addr-0x0006)/2]
	case addr <= 0x0010:
		v = st.watts[(addr-0x000C)/2]
	case addr <= 0x0016:
		v = st.voltAmps[(addr-0x0012)/2]
	case addr <= 0x001C:
		v = st.vars[(addr-0x0018)/2]
	case addr <= 0x0022:
		v = st.pf[(addr-0x001E)/2]
	case addr <= 0x0028:
		v = deg(st.pf[(addr-0x0024)/2])
	case addr == 0x002A:
		v = (st.volts[0] + st.volts[1] + st.volts[2]) / 3
	case addr == 0x002E:
		v = (st.amps[0] + st.amps[1] + st.amps[2]) / 3
	case addr == 0x0030:
		v = st.amps[0] + st.amps[1] + st.amps[2]
	case addr == 0x0034:
		v = st.totalW
	case addr == 0x0038:
		v = st.totalVA
	case addr == 0x003C:
		v = st.totalVar
	case addr == 0x003E:
		v = st.totalPF
	case addr == 0x0042:
		v = deg(st.totalPF)
	case addr == 0x0046:
		v = st.hz
	case addr == 0x0048:
		v = st.importKWh
	case addr == 0x004A:
		v = st.exportKWh
	case addr == 0x0156:
		v = st.importKWh + st.exportKWh
	}
	return float32(v)
}

// modelled tells whether the even address addr holds a value of the SDM630 map.
func modelled(addr uint16) bool {
	switch {
	case addr <= 0x0028, addr == 0x002A, addr == 0x002E, addr == 0x0030, addr == 0x0034,
		addr == 0x0038, addr == 0x003C, addr == 0x003E, addr == 0x0042, addr >= 0x0046 && addr <= 0x004A,
		addr == 0x0156:
		return true
	}
	return false
}

// served tells whether the inclusive register range lies in one block the meter answers.
func served(first, last int) bool {
	return first >= 0x0000 && last <= 0x004B || first >= 0x0156 && last <= 0x0157
}
