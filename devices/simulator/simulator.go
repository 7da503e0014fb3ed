// Package simulator serves simulated Eastron SDM630 meters over Modbus TCP, for tests and
// the demo. Each unit id is one meter with its own load; its energy counters climb with time.
//
// The map is the SDM630 Modbus v2 input register map (FC04, float32 ABCD), the one of the
// eastron-sdm630 profile. The block 0x0000–0x004B is served whole, so a reader may bridge
// gaps; addresses in it that the simulator does not model read 0. 0x0156 (total energy) is
// served too. Any read reaching outside these blocks gets exception 2, illegal data address.
// Holding registers hold nothing (exception 2); coils and discrete inputs do not exist
// (exception 1, illegal function). A unit id that is not simulated gets exception 11,
// gateway target device failed to respond, as a Modbus TCP gateway answers for a silent
// meter: tests see the failure at once instead of after a timeout.
package simulator

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"math"
	"net"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/simonvetter/modbus"
)

// Config says what to serve. Zero values are usable.
type Config struct {
	Addr   string           // listen address; "" or a port of 0 ("127.0.0.1:0") picks a free port
	Units  []byte           // unit ids to simulate, 1–247; default {1}
	Start  time.Time        // when the counters stood at their start values; default: Now() at Start
	Now    func() time.Time // clock; default time.Now
	Logger *log.Logger      // the Modbus server's log; default: discarded

	// Fault injection, for tests of how the agent copes with real meters' quirks.
	// Strict refuses (illegal data address) any read that touches a register the
	// meter does not model, as some meters and gateways do with bridged reads.
	Strict bool
	// Refuse lists float addresses the meter does not implement: any read that
	// touches one is refused with illegal data address.
	Refuse []uint16
}

// Simulator is a running Modbus TCP server of simulated meters.
type Simulator struct {
	addr   string
	strict bool
	refuse []uint16
	server *modbus.ModbusServer
	meters map[byte]meter // read-only after Start
	start  time.Time
	now    func() time.Time

	mu      sync.Mutex
	elapsed time.Duration // high-water mark, so counters never run back even if Now does

	closeOnce sync.Once
	closeErr  error
	done      chan struct{}
}

// Start serves cfg until Close is called or ctx ends.
func Start(ctx context.Context, cfg Config) (*Simulator, error) {
	units := cfg.Units
	if len(units) == 0 {
		units = []byte{1}
	}
	s := &Simulator{meters: make(map[byte]meter, len(units)), now: cfg.Now, start: cfg.Start, done: make(chan struct{}),
		strict: cfg.Strict, refuse: cfg.Refuse}
	for _, u := range units {
		if u == 0 || u > 247 {
			return nil, fmt.Errorf("start simulator: unit id %d: want 1 to 247", u)
		}
		if _, dup := s.meters[u]; dup {
			return nil, fmt.Errorf("start simulator: unit id %d given twice", u)
		}
		s.meters[u] = newMeter(u)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.start.IsZero() {
		s.start = s.now()
	}
	logger := cfg.Logger
	if logger == nil {
		logger = log.New(io.Discard, "", 0)
	}

	addr := cfg.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("start simulator: address %q: %w", addr, err)
	}
	// The server library binds by itself and does not tell the port it got, so a free port
	// is found first. Another process may take it in between: then try another.
	for attempt := 1; ; attempt++ {
		s.addr = addr
		if port == "0" {
			if s.addr, err = freePort(host); err != nil {
				return nil, fmt.Errorf("start simulator: %w", err)
			}
		}
		s.server, err = modbus.NewServer(&modbus.ServerConfiguration{
			URL:        "tcp://" + s.addr,
			Timeout:    time.Minute, // idle clients are dropped, as by a real gateway
			MaxClients: 64,
			Logger:     logger,
		}, handler{s})
		if err != nil {
			return nil, fmt.Errorf("start simulator on %s: %w", s.addr, err)
		}
		err = s.server.Start()
		if err == nil {
			break
		}
		if port != "0" || attempt == 5 || !errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("start simulator on %s: %w", s.addr, err)
		}
	}

	go func() {
		select {
		case <-ctx.Done():
			s.Close()
		case <-s.done:
		}
	}()
	return s, nil
}

func freePort(host string) (string, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return "", fmt.Errorf("find a free port on %q: %w", host, err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		return "", fmt.Errorf("find a free port on %q: %w", host, err)
	}
	return addr, nil
}

// Addr is the host:port the simulator listens on.
func (s *Simulator) Addr() string { return s.addr }

// Close stops the server and drops its clients.
func (s *Simulator) Close() error {
	s.closeOnce.Do(func() {
		close(s.done)
		if err := s.server.Stop(); err != nil {
			s.closeErr = fmt.Errorf("stop simulator on %s: %w", s.addr, err)
		}
	})
	return s.closeErr
}

// ImportKWh is the true import counter of unit at time at, before the meter's float32
// rounding: what the readings should add up to. ok is false for a unit not simulated.
func (s *Simulator) ImportKWh(unit byte, at time.Time) (kwh float64, ok bool) {
	m, ok := s.meters[unit]
	if !ok {
		return 0, false
	}
	return m.at(max(at.Sub(s.start), 0)).importKWh, true
}

// since is the time since start, never less than at any earlier call.
func (s *Simulator) since() time.Duration {
	d := s.now().Sub(s.start)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.elapsed = max(s.elapsed, d)
	return s.elapsed
}

// handler keeps the RequestHandler methods off the Simulator's API.
type handler struct{ s *Simulator }

func (h handler) HandleCoils(*modbus.CoilsRequest) ([]bool, error) {
	return nil, modbus.ErrIllegalFunction
}

func (h handler) HandleDiscreteInputs(*modbus.DiscreteInputsRequest) ([]bool, error) {
	return nil, modbus.ErrIllegalFunction
}

func (h handler) HandleHoldingRegisters(req *modbus.HoldingRegistersRequest) ([]uint16, error) {
	if _, ok := h.s.meters[req.UnitId]; !ok {
		return nil, modbus.ErrGWTargetFailedToRespond
	}
	return nil, modbus.ErrIllegalDataAddress
}

func (h handler) HandleInputRegisters(req *modbus.InputRegistersRequest) ([]uint16, error) {
	m, ok := h.s.meters[req.UnitId]
	if !ok {
		return nil, modbus.ErrGWTargetFailedToRespond
	}
	first, last := int(req.Addr), int(req.Addr)+int(req.Quantity)-1
	if !served(first, last) {
		return nil, modbus.ErrIllegalDataAddress
	}
	for a := first; a <= last; a++ {
		if (h.s.strict && !modelled(uint16(a&^1))) || slices.Contains(h.s.refuse, uint16(a&^1)) {
			return nil, modbus.ErrIllegalDataAddress
		}
	}
	st := m.at(h.s.since())
	regs := make([]uint16, req.Quantity)
	for i := range regs {
		a := req.Addr + uint16(i)
		bits := math.Float32bits(st.value(a &^ 1)) // floats start at even addresses
		if a%2 == 0 {
			regs[i] = uint16(bits >> 16) // ABCD: high word first
		} else {
			regs[i] = uint16(bits)
		}
	}
	return regs, nil
}
