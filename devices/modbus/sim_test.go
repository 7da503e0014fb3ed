package modbus_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/parkcarbon/parkcarbon/devices/modbus"
	"github.com/parkcarbon/parkcarbon/devices/profile"
	"github.com/parkcarbon/parkcarbon/devices/simulator"
)

func startSim(t *testing.T, cfg simulator.Config) *simulator.Simulator {
	t.Helper()
	s, err := simulator.Start(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func dial(t *testing.T, url string, timeout time.Duration) modbus.Conn {
	t.Helper()
	c, err := modbus.Dial(url, timeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// Every shipped profile, served by the simulator over both TCP transports and read back
// with the agent's plan: the values are the simulated meter's, in base units.
func TestShippedProfilesEndToEnd(t *testing.T) {
	t0 := time.Date(2025, 6, 1, 8, 0, 0, 0, time.UTC)
	clock := func() time.Time { return t0 }
	for _, name := range profile.BuiltinNames() {
		for _, proto := range []string{"tcp", "rtuovertcp"} {
			t.Run(name+"/"+proto, func(t *testing.T) {
				p, err := profile.Builtin(name)
				if err != nil {
					t.Fatal(err)
				}
				sim := startSim(t, simulator.Config{Protocol: proto, Units: []byte{3}, Profile: p, Now: clock})
				c := dial(t, sim.URL(), 2*time.Second)
				samples, err := modbus.ReadDevice(t.Context(), c, 3, p, modbus.PlanProfile(p, modbus.DefaultMaxGap))
				if err != nil {
					t.Fatal(err)
				}
				got := map[string]float64{}
				for _, s := range samples {
					got[s.Quantity] = s.Value
				}
				want, _ := sim.ImportKWh(3, t0)
				// A float32 register holds 3000 kWh to 1/4096 kWh; integer registers to their scale.
				if imp := got["energy_import_total"]; math.Abs(imp-want) > 0.01 {
					t.Errorf("import %v kWh, want %v", imp, want)
				}
				if v, ok := got["voltage_l1"]; !ok || math.Abs(v-230) > 10 {
					t.Errorf("voltage_l1 %v V", v)
				}
				if f, ok := got["frequency"]; !ok || math.Abs(f-50) > 0.1 {
					t.Errorf("frequency %v Hz", f)
				}
				if pw := got["active_power"]; pw < 4 || pw > 72 {
					t.Errorf("active power %v kW", pw)
				}
				if len(got) != len(p.Registers) {
					t.Errorf("%d quantities, want %d", len(got), len(p.Registers))
				}
			})
		}
	}
}

// The simulator answers late; the client has given up by then. Whatever the transport, the
// late answer is never taken as the answer to the next request, which reads another
// register so that a mix-up would show in the value.
func TestLateAnswerNeverTakenForTheNext(t *testing.T) {
	for _, proto := range []string{"tcp", "rtuovertcp"} {
		t.Run(proto, func(t *testing.T) {
			sim := startSim(t, simulator.Config{Protocol: proto, Units: []byte{1}})
			c := dial(t, sim.URL(), 100*time.Millisecond)
			sim.SetFault(1, simulator.Fault{Kind: simulator.Late, Delay: 300 * time.Millisecond})
			if _, err := c.ReadRegisters(context.Background(), 1, "input", 0x0000, 2); modbus.ErrorKind(err) != "timeout" {
				t.Fatalf("first read: %v, want a timeout", err)
			}
			sim.SetFault(1, simulator.Fault{})
			time.Sleep(300 * time.Millisecond) // the late answer (a voltage, ≈ 230) has now been sent
			for range 3 {
				raw, err := c.ReadRegisters(context.Background(), 1, "input", 0x0048, 2)
				if err != nil {
					t.Fatal(err)
				}
				v, _ := modbus.Decode(raw, "float32", "ABCD")
				if v < 1000 || v > 1001 {
					t.Fatalf("import = %v kWh, want ≈ 1000: the answer to another request", v)
				}
			}
		})
	}
}

// Each fault costs the read it hits and no more: once the unit heals, the next read works.
// Exceptions keep the connection; everything else is redialled.
func TestFaultRecovery(t *testing.T) {
	faults := []simulator.Fault{
		{Kind: simulator.NoAnswer},
		{Kind: simulator.Exception, Code: 2},
		{Kind: simulator.Exception, Code: 4},
		{Kind: simulator.Reset},
		{Kind: simulator.Garbage},
		{Kind: simulator.Late, Delay: 250 * time.Millisecond},
	}
	kinds := map[simulator.FaultKind]string{
		simulator.NoAnswer: "timeout", simulator.Exception: "exception", simulator.Reset: "connection",
		simulator.Garbage: "frame", simulator.Late: "timeout",
	}
	for _, proto := range []string{"tcp", "rtuovertcp"} {
		for _, f := range faults {
			t.Run(fmt.Sprintf("%s/%s%d", proto, f.Kind, f.Code), func(t *testing.T) {
				sim := startSim(t, simulator.Config{Protocol: proto, Units: []byte{1, 2}})
				c := dial(t, sim.URL(), 150*time.Millisecond)
				sim.SetFault(1, f)
				_, err := c.ReadRegisters(context.Background(), 1, "input", 0, 2)
				if kind := modbus.ErrorKind(err); kind != kinds[f.Kind] {
					t.Errorf("faulty read: %v (%s), want %s", err, kind, kinds[f.Kind])
				}
				var exc *modbus.ExceptionError
				if f.Kind == simulator.Exception && (!errors.As(err, &exc) || exc.Code != f.Code) {
					t.Errorf("exception %v, want code %d", err, f.Code)
				}
				sim.SetFault(1, simulator.Fault{})
				for _, unit := range []byte{2, 1} {
					if _, err := c.ReadRegisters(context.Background(), unit, "input", 0, 2); err != nil {
						t.Errorf("unit %d after the fault healed: %v", unit, err)
					}
				}
			})
		}
	}
}

// One unit that never answers, behind the same gateway as a healthy one: the healthy unit's
// reads keep working between the dead unit's timeouts.
func TestDeadUnitBesideHealthy(t *testing.T) {
	for _, proto := range []string{"tcp", "rtuovertcp"} {
		t.Run(proto, func(t *testing.T) {
			sim := startSim(t, simulator.Config{Protocol: proto, Units: []byte{1, 2}})
			sim.SetFault(2, simulator.Fault{Kind: simulator.NoAnswer})
			c := dial(t, sim.URL(), 100*time.Millisecond)
			for i := range 3 {
				if _, err := c.ReadRegisters(context.Background(), 2, "input", 0, 2); modbus.ErrorKind(err) != "timeout" {
					t.Errorf("dead unit, round %d: %v", i, err)
				}
				if _, err := c.ReadRegisters(context.Background(), 1, "input", 0, 2); err != nil {
					t.Errorf("healthy unit, round %d: %v", i, err)
				}
			}
			if n := sim.Requests(1); n != 3 {
				t.Errorf("healthy unit got %d requests, want 3", n)
			}
		})
	}
}

func TestDisconnectRedials(t *testing.T) {
	for _, proto := range []string{"tcp", "rtuovertcp"} {
		sim := startSim(t, simulator.Config{Protocol: proto})
		c := dial(t, sim.URL(), time.Second)
		for range 2 {
			if _, err := c.ReadRegisters(context.Background(), 1, "input", 0, 2); err != nil {
				t.Fatalf("%s: %v", proto, err)
			}
			if err := c.Disconnect(); err != nil {
				t.Fatalf("%s: Disconnect: %v", proto, err)
			}
		}
	}
}
