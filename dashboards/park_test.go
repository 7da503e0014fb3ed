package dashboards_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/parkcarbon/parkcarbon/dashboards/internal/board"
)

// A simulated park with its own enterprises, gateways and meters (none of
// the demo's ids), written as the collector would store it: readings and
// consumption of the last hours, hourly rollups for 40 days, alert state
// changes and a data-quality event.

type simMeter struct {
	id, energy string
	stale      bool // silent for the last 40 minutes
}

type simEnterprise struct {
	id, name, tier, gateway string
	landMu                  float64
	rated, registered       bool
	perHour                 map[string]float64 // mean consumption per hour by energy, base unit
	meters                  []simMeter
}

// simPark is the park; limits are the tiers' daily kWh per mu (as alerts.yaml
// would give them).
type simPark struct {
	now         time.Time
	enterprises []simEnterprise
	limits      map[string]float64
	hourly      []hourPoint
}

type hourPoint struct {
	enterprise, energy string
	hour               time.Time
	amount, co2, coal  float64
}

const (
	firingEnterprise = "foundry-north" // over its limit, alert firing
	staleMeter       = "nc-el"
	staleGateway     = "gw-south" // has the stale meter, but fresh ones too
)

func newPark(now time.Time) *simPark {
	return &simPark{
		now:    now,
		limits: map[string]float64{"key": 50, "general": 60},
		enterprises: []simEnterprise{
			{id: firingEnterprise, name: "Northside Foundry", tier: "key", gateway: "gw-north", landMu: 40, rated: true, registered: true,
				perHour: map[string]float64{"electricity": 100, "gas": 10, "water": 3, "heat": 0.2},
				meters: []simMeter{{"fn-el-1", "electricity", false}, {"fn-el-2", "electricity", false}, {"fn-gas", "gas", false},
					{"fn-water", "water", false}, {"fn-heat", "heat", false}}},
			{id: "dyeworks", name: "Riverside Dyeworks", tier: "key", gateway: "gw-north", landMu: 50, rated: true, registered: true,
				perHour: map[string]float64{"electricity": 50, "water": 8},
				meters:  []simMeter{{"dw-el", "electricity", false}, {"dw-water", "water", false}}},
			{id: "pcb-assembly", name: "PCB Assembly", tier: "general", gateway: "gw-south", landMu: 10, rated: true, registered: true,
				perHour: map[string]float64{"electricity": 22},
				meters:  []simMeter{{"pcb-el", "electricity", false}}},
			{id: "steam-utility", name: "Steam Utility", tier: "utility", gateway: "gw-south", landMu: 12, rated: false, registered: true,
				perHour: map[string]float64{"electricity": 30, "heat": 2},
				meters:  []simMeter{{"su-el", "electricity", false}, {"su-heat", "heat", false}}},
			{id: "newcomer", name: "", tier: "", gateway: staleGateway, landMu: 0, registered: false,
				perHour: map[string]float64{"electricity": 5},
				meters:  []simMeter{{staleMeter, "electricity", true}}},
		},
	}
}

// registry is the park's registry as the dashboards' constant.
func (p *simPark) registry() []board.Entry {
	var out []board.Entry
	for _, e := range p.enterprises {
		if e.registered {
			out = append(out, board.Entry{ID: e.id, Name: e.name, Tier: e.tier, LandAreaMu: e.landMu, Rated: e.rated,
				DailyKWhPerMu: p.limits[e.tier]})
		}
	}
	return out
}

// factors are per unit: kgCO2 and kgce (close to carbon/factors.yaml; the
// dashboards only sum what is stored).
var simFactors = map[string][2]float64{
	"electricity": {0.5306, 0.1229}, "gas": {2.1622, 1.2143}, "water": {0, 0}, "heat": {110, 34.12},
}

var cumulative = map[string]string{
	"electricity": "energy_import_total", "gas": "volume_total", "water": "volume_total", "heat": "energy_total",
}

// lineProtocol generates the park's points.
func (p *simPark) lineProtocol() []byte {
	var b bytes.Buffer
	ms := func(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) }
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
	// Hourly rollups: 40 days up to the current hour, with a day/night profile.
	current := p.now.Truncate(time.Hour)
	p.hourly = nil
	for h := current.Add(-40 * 24 * time.Hour); !h.After(current); h = h.Add(time.Hour) {
		profile := 0.6 + 0.8*float64((h.Hour()+8)%24)/23 // 0.6 … 1.4, mean ≈ 1
		for _, e := range p.enterprises {
			for _, energy := range []string{"electricity", "gas", "water", "heat"} {
				mean, ok := e.perHour[energy]
				if !ok {
					continue
				}
				a := mean * profile
				fac := simFactors[energy]
				pt := hourPoint{e.id, energy, h, a, a * fac[0], a * fac[1]}
				p.hourly = append(p.hourly, pt)
				fmt.Fprintf(&b, "consumption_hourly,enterprise=%s,energy=%s,scope=%s amount=%s,co2_kg=%s,coal_kgce=%s %s\n",
					e.id, energy, scope(energy), f(pt.amount), f(pt.co2), f(pt.coal), ms(h))
			}
		}
	}
	// Readings and interval consumption, one a minute for three hours.
	for _, e := range p.enterprises {
		for mi, m := range e.meters {
			total := 1000.0 * float64(mi+1)
			perMin := e.perHour[m.energy] / 60 / float64(countEnergy(e, m.energy))
			for ts := p.now.Add(-3 * time.Hour).Truncate(time.Minute); !ts.After(p.now); ts = ts.Add(time.Minute) {
				if m.stale && ts.After(p.now.Add(-40*time.Minute)) {
					break
				}
				total += perMin
				fmt.Fprintf(&b, "reading,enterprise=%s,gateway=%s,meter=%s,energy=%s,quantity=%s value=%s %s\n",
					e.id, e.gateway, m.id, m.energy, cumulative[m.energy], f(total), ms(ts))
				if m.energy == "electricity" {
					fmt.Fprintf(&b, "reading,enterprise=%s,gateway=%s,meter=%s,energy=electricity,quantity=active_power value=%s %s\n",
						e.id, e.gateway, m.id, f(perMin*60), ms(ts))
				}
				fac := simFactors[m.energy]
				fmt.Fprintf(&b, "consumption,enterprise=%s,meter=%s,energy=%s,scope=%s amount=%s,co2_kg=%s,coal_kgce=%s,factor_kg_per_unit=%s,duration_s=60 %s\n",
					e.id, m.id, m.energy, scope(m.energy), f(perMin), f(perMin*fac[0]), f(perMin*fac[1]), f(fac[0]), ms(ts))
			}
		}
	}
	alert := func(rule, ent, sev, state string, value, limit float64, msg string, at time.Time) {
		tags := "rule=" + rule + ",enterprise=" + ent + ",severity=" + sev + ",state=" + state
		if rule, subject, ok := strings.Cut(rule, "/"); ok { // silence alerts are per meter
			tags = "rule=" + rule + ",enterprise=" + ent + ",severity=" + sev + ",state=" + state + ",subject=" + subject
		}
		fmt.Fprintf(&b, "alert,%s value=%s,limit=%s,message=%q %s\n", tags, f(value), f(limit), msg, ms(at))
	}
	alert("daily_kwh_per_mu", firingEnterprise, "critical", "pending", 58, 50, "60 kWh/mu today, limit 50", p.now.Add(-150*time.Minute))
	alert("daily_kwh_per_mu", firingEnterprise, "critical", "firing", 61, 50, "61 kWh/mu today, limit 50", p.now.Add(-2*time.Hour))
	alert("daily_kwh_per_mu", "dyeworks", "warning", "firing", 52, 50, "52 kWh/mu today, limit 50", p.now.Add(-26*time.Hour))
	alert("daily_kwh_per_mu", "dyeworks", "warning", "resolved", 40, 50, "back under the limit", p.now.Add(-20*time.Hour))
	alert("meter_silent/"+staleMeter, "newcomer", "warning", "pending", 40, 30, "nc-el silent for 40 min", p.now.Add(-10*time.Minute))
	// Two meters of one enterprise under one rule: one silent now, one back.
	alert("meter_silent/fn-gas", firingEnterprise, "warning", "firing", 35, 30, "fn-gas silent for 35 min", p.now.Add(-50*time.Minute))
	alert("meter_silent/fn-water", firingEnterprise, "warning", "firing", 31, 30, "fn-water silent for 31 min", p.now.Add(-40*time.Minute))
	alert("meter_silent/fn-water", firingEnterprise, "warning", "resolved", 0, 30, "fn-water reports again", p.now.Add(-30*time.Minute))
	fmt.Fprintf(&b, "data_quality,enterprise=%s,meter=fn-el-1,kind=reset value=0,message=\"counter reset: new baseline\" %s\n",
		firingEnterprise, ms(p.now.Add(-90*time.Minute)))
	return b.Bytes()
}

func countEnergy(e simEnterprise, energy string) int {
	n := 0
	for _, m := range e.meters {
		if m.energy == energy {
			n++
		}
	}
	return n
}

func scope(energy string) string {
	switch energy {
	case "gas":
		return "1"
	case "water":
		return "3"
	}
	return "2"
}

// sumHourly is what the stored rollups add up to for hours starting in
// [from, to]: InfluxDB 1.8 includes a range's stop (influxdata/influxdb#19966);
// a stop on an hour start does not occur in these tests (stops are "now").
func (p *simPark) sumHourly(from, to time.Time, keep func(hourPoint) bool) (amount, co2, coal float64) {
	for _, h := range p.hourly {
		if !h.hour.Before(from) && !h.hour.After(to) && keep(h) {
			amount += h.amount
			co2 += h.co2
			coal += h.coal
		}
	}
	return amount, co2, coal
}

// write posts line protocol to the v2 write API, as the collector's client does.
func write(ctx context.Context, url, bucket string, lp []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+"/api/v2/write?bucket="+bucket+"&precision=ms", bytes.NewReader(lp))
	if err != nil {
		return fmt.Errorf("write: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("write: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusNoContent {
		return fmt.Errorf("write: %s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	return nil
}
