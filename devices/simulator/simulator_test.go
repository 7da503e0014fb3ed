package simulator

import (
	"context"
	"errors"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/simonvetter/modbus"
)

// clock is a settable Now for tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

func start(t *testing.T, cfg Config) *Simulator {
	t.Helper()
	s, err := Start(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// dial uses the other library's client, so the simulator is checked independently of ours.
func dial(t *testing.T, addr string) *modbus.ModbusClient {
	t.Helper()
	c, err := modbus.NewClient(&modbus.ClientConfiguration{URL: "tcp://" + addr, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func readFloats(t *testing.T, c *modbus.ModbusClient, unit byte, addr, n uint16) []float32 {
	t.Helper()
	if err := c.SetUnitId(unit); err != nil {
		t.Fatal(err)
	}
	v, err := c.ReadFloat32s(addr, n, modbus.INPUT_REGISTER)
	if err != nil {
		t.Fatalf("unit %d read 0x%04X+%d floats: %v", unit, addr, n, err)
	}
	return v
}

func TestPollTwoUnits(t *testing.T) {
	t0 := time.Date(2025, 6, 1, 8, 0, 0, 0, time.UTC)
	clk := &clock{t: t0}
	s := start(t, Config{Addr: "127.0.0.1:0", Units: []byte{1, 2}, Now: clk.Now})
	c := dial(t, s.Addr())

	first := make(map[byte]float32)
	for _, u := range []byte{1, 2} {
		v := readFloats(t, c, u, 0x0000, 38) // 0x0000–0x004B in one read, as a bridging plan does
		if e := v[0x48/2]; e != float32(1000*float64(u)) {
			t.Errorf("unit %d import at start = %v kWh, want %v", u, e, 1000*float64(u))
		}
		first[u] = v[0x48/2]
		for k := range 3 {
			if volts := v[k]; math.Abs(float64(volts)-230) > 10 {
				t.Errorf("unit %d voltage L%d = %v V, want ≈ 230", u, k+1, volts)
			}
		}
		if hz := v[0x46/2]; math.Abs(float64(hz)-50) > 0.1 {
			t.Errorf("unit %d frequency = %v Hz", u, hz)
		}
		if pf := v[0x3E/2]; pf < 0.9 || pf > 1 {
			t.Errorf("unit %d power factor = %v", u, pf)
		}
		watts := v[0x34/2]
		if watts < 4000 || watts > 72000 {
			t.Errorf("unit %d power = %v W, want 5–60 kW ± 20%%", u, watts)
		}
		if sum := v[0x0C/2] + v[0x0E/2] + v[0x10/2]; math.Abs(float64(sum-watts)) > 1 {
			t.Errorf("unit %d phase powers sum to %v W, total is %v W", u, sum, watts)
		}
		if v[0x2C/2] != 0 {
			t.Errorf("unit %d unmodelled register 0x002C = %v, want 0", u, v[0x2C/2])
		}
	}

	clk.Set(t0.Add(10 * time.Second))
	for _, u := range []byte{1, 2} {
		e := readFloats(t, c, u, 0x0048, 1)[0]
		want, _ := s.ImportKWh(u, t0.Add(10*time.Second))
		if e <= first[u] || e != float32(want) {
			t.Errorf("unit %d import after 10 s = %v kWh, want float32(%v) > %v", u, e, want, first[u])
		}
	}

	// A clock that goes back must not make the counter go back.
	clk.Set(t0.Add(5 * time.Second))
	if e := readFloats(t, c, 1, 0x0048, 1)[0]; e < first[1] {
		t.Errorf("counter went back to %v with the clock", e)
	}
}

func TestRealClockCounterClimbs(t *testing.T) {
	s := start(t, Config{Units: []byte{1}})
	c := dial(t, s.Addr())
	e1 := readFloats(t, c, 1, 0x0048, 1)[0]
	time.Sleep(300 * time.Millisecond)
	e2 := readFloats(t, c, 1, 0x0048, 1)[0]
	if e2 <= e1 {
		t.Errorf("import counter %v then %v after 300 ms, want an increase", e1, e2)
	}
}

func TestExceptions(t *testing.T) {
	s := start(t, Config{Units: []byte{3}})
	c := dial(t, s.Addr())
	c.SetUnitId(3)
	for _, tt := range []struct {
		name string
		read func() error
		want error
	}{
		{"past the map", func() error { _, err := c.ReadRegisters(0x004C, 2, modbus.INPUT_REGISTER); return err }, modbus.ErrIllegalDataAddress},
		{"across a hole", func() error { _, err := c.ReadRegisters(0x004A, 4, modbus.INPUT_REGISTER); return err }, modbus.ErrIllegalDataAddress},
		{"holding", func() error { _, err := c.ReadRegisters(0x0000, 2, modbus.HOLDING_REGISTER); return err }, modbus.ErrIllegalDataAddress},
		{"coils", func() error { _, err := c.ReadCoils(0, 1); return err }, modbus.ErrIllegalFunction},
		{"unknown unit", func() error {
			c.SetUnitId(9)
			defer c.SetUnitId(3)
			_, err := c.ReadRegisters(0, 2, modbus.INPUT_REGISTER)
			return err
		}, modbus.ErrGWTargetFailedToRespond},
	} {
		if err := tt.read(); !errors.Is(err, tt.want) {
			t.Errorf("%s: error %v, want %v", tt.name, err, tt.want)
		}
	}
	// Total energy, served apart from the main block.
	if v := readFloats(t, c, 3, 0x0156, 1)[0]; v != 3030 {
		t.Errorf("total energy = %v, want 3030", v)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, cfg := range []Config{
		{Units: []byte{0}},
		{Units: []byte{248}},
		{Units: []byte{1, 1}},
		{Addr: "no-port"},
	} {
		if s, err := Start(context.Background(), cfg); err == nil {
			s.Close()
			t.Errorf("Start(%+v) succeeded, want an error", cfg)
		}
	}
}

func TestContextStops(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	s, err := Start(ctx, Config{})
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	deadline := time.Now().Add(2 * time.Second)
	for {
		c, err := modbus.NewClient(&modbus.ClientConfiguration{URL: "tcp://" + s.Addr(), Timeout: 200 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Open(); err != nil {
			break // stopped
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("simulator still accepts connections after its context ended")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close after the context ended: %v", err)
	}
}
