package modbus_test

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parkcarbon/parkcarbon/devices/modbus"
	"github.com/parkcarbon/parkcarbon/devices/profile"
	"github.com/parkcarbon/parkcarbon/devices/simulator"
)

func TestPollSimulator(t *testing.T) {
	sim, err := simulator.Start(t.Context(), simulator.Config{Addr: "127.0.0.1:0", Units: []byte{1, 2}})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	p, err := profile.Builtin("eastron-sdm630")
	if err != nil {
		t.Fatal(err)
	}
	plan := modbus.Plan(p.Registers, 60)
	if len(plan) != 1 {
		t.Fatalf("plan %+v: want one read", plan)
	}
	c := modbus.DialTCP(sim.Addr(), time.Second)
	defer c.Close()

	poll := func(unit byte) map[string]modbus.Sample {
		t.Helper()
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		defer cancel()
		samples, err := modbus.ReadDevice(ctx, c, unit, p, plan)
		if err != nil {
			t.Fatal(err)
		}
		m := make(map[string]modbus.Sample)
		for _, s := range samples {
			m[s.Quantity] = s
		}
		if len(m) != len(p.Registers) {
			t.Fatalf("unit %d: %d quantities, want %d", unit, len(m), len(p.Registers))
		}
		return m
	}

	first := map[byte]map[string]modbus.Sample{1: poll(1), 2: poll(2)}
	time.Sleep(300 * time.Millisecond)
	for _, unit := range []byte{1, 2} {
		s1, s2 := first[unit], poll(unit)
		e1, e2 := s1["energy_import_total"], s2["energy_import_total"]
		if e1.Unit != "kWh" || e2.Value <= e1.Value || e1.Value < 1000*float64(unit) || e2.Value > 1000*float64(unit)+1 {
			t.Errorf("unit %d import %v then %v %s: want a small rise from %d kWh", unit, e1.Value, e2.Value, e1.Unit, 1000*int(unit))
		}
		for _, q := range []string{"voltage_l1", "voltage_l2", "voltage_l3"} {
			if v := s2[q]; v.Unit != "V" || math.Abs(v.Value-230) > 10 {
				t.Errorf("unit %d %s = %v %s, want ≈ 230 V", unit, q, v.Value, v.Unit)
			}
		}
		// The meter sends W, the profile scales to kW.
		if pw := s2["active_power"]; pw.Unit != "kW" || pw.Value < 4 || pw.Value > 72 {
			t.Errorf("unit %d active power = %v %s, want 5–60 kW ± 20%%", unit, pw.Value, pw.Unit)
		}
		if f := s2["frequency"].Value; math.Abs(f-50) > 0.1 {
			t.Errorf("unit %d frequency = %v", unit, f)
		}
		if len(s2["energy_import_total"].Raw) != 4 {
			t.Errorf("unit %d raw bytes %x", unit, s2["energy_import_total"].Raw)
		}
	}
}

func TestSimulatorExceptions(t *testing.T) {
	sim, err := simulator.Start(t.Context(), simulator.Config{Units: []byte{1}})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	c := modbus.DialTCP(sim.Addr(), time.Second)
	defer c.Close()
	ctx := t.Context()

	_, err = c.ReadRegisters(ctx, 1, "input", 0x1000, 2)
	var exc *modbus.ExceptionError
	if !errors.As(err, &exc) || exc.Code != 2 || !strings.Contains(err.Error(), "illegal data address") ||
		!strings.Contains(err.Error(), "read input registers 4096+2 unit 1") {
		t.Errorf("unknown address: error %v, want exception 2 (illegal data address) with context", err)
	}
	_, err = c.ReadRegisters(ctx, 7, "input", 0, 2)
	if !errors.As(err, &exc) || exc.Code != 11 {
		t.Errorf("unknown unit: error %v, want exception 11", err)
	}
	_, err = c.ReadRegisters(ctx, 1, "coil", 0, 8)
	if !errors.As(err, &exc) || exc.Code != 1 || exc.Function != 1 {
		t.Errorf("coils: error %v, want exception 1 for function 1", err)
	}
	if _, err := c.ReadRegisters(ctx, 1, "input", 0, 2); err != nil {
		t.Errorf("read after exceptions: %v", err)
	}
}

func TestConnArgumentErrors(t *testing.T) {
	c := modbus.DialTCP("127.0.0.1:1", time.Second) // never dialled: arguments are checked first
	defer c.Close()
	for _, tt := range []struct {
		fn    string
		count uint16
		want  string
	}{
		{"input", 0, "count must be 1 to 125"},
		{"holding", 126, "count must be 1 to 125"},
		{"coil", 2001, "count must be 1 to 2000"},
		{"registers", 1, `unknown function "registers"`},
	} {
		if _, err := c.ReadRegisters(context.Background(), 1, tt.fn, 0, tt.count); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s %d: error %v, want %q", tt.fn, tt.count, err, tt.want)
		}
	}
}

func TestConnContext(t *testing.T) {
	c := modbus.DialTCP("127.0.0.1:1", time.Second)
	defer c.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.ReadRegisters(ctx, 1, "input", 0, 1); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: error %v", err)
	}
	ctx, cancel = context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	if _, err := c.ReadRegisters(ctx, 1, "input", 0, 1); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("expired context: error %v", err)
	}
}

func TestClosedConn(t *testing.T) {
	c := modbus.DialTCP("127.0.0.1:1", time.Second)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ReadRegisters(context.Background(), 1, "input", 0, 1); !errors.Is(err, net.ErrClosed) {
		t.Errorf("read after Close: error %v, want net.ErrClosed", err)
	}
}

// rawServer is a bare Modbus TCP server whose answers a test scripts, to produce faults a
// well-behaved simulator does not: late answers, dropped connections.
type rawServer struct {
	l     net.Listener
	conns atomic.Int32
	// answer returns the response PDU for the n-th request (from 1, over all connections),
	// how long to wait before sending it, and whether to drop the connection instead.
	answer func(n int, pdu []byte) (resp []byte, delay time.Duration, drop bool)
	n      atomic.Int32
	wg     sync.WaitGroup
}

func startRaw(t *testing.T, answer func(n int, pdu []byte) ([]byte, time.Duration, bool)) *rawServer {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &rawServer{l: l, answer: answer}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			s.conns.Add(1)
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				s.serve(conn)
			}()
		}
	}()
	t.Cleanup(func() { l.Close(); s.wg.Wait() })
	return s
}

func (s *rawServer) serve(conn net.Conn) {
	defer conn.Close()
	for {
		var head [7]byte
		if _, err := io.ReadFull(conn, head[:]); err != nil {
			return
		}
		pdu := make([]byte, binary.BigEndian.Uint16(head[4:])-1)
		if _, err := io.ReadFull(conn, pdu); err != nil {
			return
		}
		resp, delay, drop := s.answer(int(s.n.Add(1)), pdu)
		time.Sleep(delay)
		if drop {
			return
		}
		binary.BigEndian.PutUint16(head[4:], uint16(len(resp)+1))
		if _, err := conn.Write(append(head[:], resp...)); err != nil {
			return
		}
	}
}

// registers answers a register read with count words all equal to v.
func registers(pdu []byte, v uint16) []byte {
	count := binary.BigEndian.Uint16(pdu[3:])
	resp := []byte{pdu[0], byte(2 * count)}
	for range count {
		resp = binary.BigEndian.AppendUint16(resp, v)
	}
	return resp
}

func TestLateAnswerIsNotTakenForTheNext(t *testing.T) {
	// The first answer comes after the client gave up; the second request must not see it.
	srv := startRaw(t, func(n int, pdu []byte) ([]byte, time.Duration, bool) {
		if n == 1 {
			return registers(pdu, 0xDEAD), 300 * time.Millisecond, false
		}
		return registers(pdu, uint16(n)), 0, false
	})
	c := modbus.DialTCP(srv.l.Addr().String(), 100*time.Millisecond)
	defer c.Close()
	ctx := context.Background()
	if _, err := c.ReadRegisters(ctx, 1, "holding", 0, 1); err == nil {
		t.Fatal("first read: want a timeout")
	}
	time.Sleep(300 * time.Millisecond) // the late answer is now waiting on the old connection
	got, err := c.ReadRegisters(ctx, 1, "holding", 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	if v := binary.BigEndian.Uint16(got); v == 0xDEAD || v != 2 {
		t.Errorf("second read = %#x, want the answer to itself (2)", v)
	}
	if n := srv.conns.Load(); n != 2 {
		t.Errorf("%d connections, want a redial after the timeout", n)
	}
}

func TestRedialAfterDrop(t *testing.T) {
	srv := startRaw(t, func(n int, pdu []byte) ([]byte, time.Duration, bool) {
		return registers(pdu, 7), 0, n == 1
	})
	c := modbus.DialTCP(srv.l.Addr().String(), time.Second)
	defer c.Close()
	if _, err := c.ReadRegisters(context.Background(), 1, "input", 0, 1); err == nil {
		t.Fatal("first read: want an error from the dropped connection")
	}
	if got, err := c.ReadRegisters(context.Background(), 1, "input", 0, 1); err != nil || binary.BigEndian.Uint16(got) != 7 {
		t.Errorf("read after the drop = %x, %v", got, err)
	}
}

func TestExceptionKeepsConnection(t *testing.T) {
	srv := startRaw(t, func(n int, pdu []byte) ([]byte, time.Duration, bool) {
		if n == 1 {
			return []byte{pdu[0] | 0x80, 2}, 0, false
		}
		return registers(pdu, 1), 0, false
	})
	c := modbus.DialTCP(srv.l.Addr().String(), time.Second)
	defer c.Close()
	_, err := c.ReadRegisters(context.Background(), 1, "input", 0, 1)
	var exc *modbus.ExceptionError
	if !errors.As(err, &exc) || exc.Code != 2 || exc.Function != 4 {
		t.Fatalf("error %v, want exception 2 for function 4", err)
	}
	if _, err := c.ReadRegisters(context.Background(), 1, "input", 0, 1); err != nil {
		t.Fatal(err)
	}
	if n := srv.conns.Load(); n != 1 {
		t.Errorf("%d connections, want the exception not to cost a redial", n)
	}
}

func TestWrongLengthAnswer(t *testing.T) {
	srv := startRaw(t, func(n int, pdu []byte) ([]byte, time.Duration, bool) {
		return []byte{pdu[0], 2, 0, 1}, 0, false // one register whatever was asked
	})
	c := modbus.DialTCP(srv.l.Addr().String(), time.Second)
	defer c.Close()
	if _, err := c.ReadRegisters(context.Background(), 1, "input", 0, 2); err == nil || !strings.Contains(err.Error(), "got 2 bytes, want 4") {
		t.Errorf("error %v, want a length mismatch", err)
	}
}
