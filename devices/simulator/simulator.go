// Package simulator serves simulated meters over Modbus TCP or RTU over TCP, for tests and
// the demo, and injects the faults real meters and gateways show. Each unit id is one meter
// with its own load; its energy counters climb with time.
//
// By default the map is the Eastron SDM630 Modbus v2 input register map (FC04, float32
// ABCD), the one of the eastron-sdm630 profile. The block 0x0000–0x004B is served whole, so a
// reader may bridge gaps; addresses in it that the simulator does not model read 0. 0x0156
// (total energy) is served too. Any read reaching outside these blocks gets exception 2,
// illegal data address. Holding registers hold nothing (exception 2); coils and discrete
// inputs do not exist (exception 1, illegal function). With Config.Profile set, the meters
// serve that profile's registers instead (see image.go).
//
// Over Modbus TCP a unit id that is not simulated gets exception 11, gateway target device
// failed to respond, as a Modbus TCP gateway answers for a silent meter: tests see the failure
// at once instead of after a timeout. Over RTU (a serial bus behind a converter) it gets no
// answer, as on a real bus.
//
// The simulator speaks the framing itself rather than through a Modbus server library,
// because the faults it injects (a reset in the middle of a frame, garbage, a late answer on
// the same connection) happen below what a server library's handler can do.
package simulator

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"sync"
	"time"

	"github.com/parkcarbon/parkcarbon/devices/profile"
)

// Config says what to serve. Zero values are usable.
type Config struct {
	Addr     string           // listen address; "" or a port of 0 ("127.0.0.1:0") picks a free port
	Protocol string           // "tcp" (Modbus TCP, the default) or "rtuovertcp" (RTU frames over TCP)
	Units    []byte           // unit ids to simulate, 1–247; default {1}
	Start    time.Time        // when the counters stood at their start values; default: Now() at Start
	Now      func() time.Time // clock; default time.Now
	Logger   *log.Logger      // connection errors; default: discarded

	// Profile, if set, is the register map served instead of the SDM630's: each register
	// holds its quantity as the simulated meter measures it, encoded as the profile says.
	Profile *profile.Profile

	// Fault injection, for tests of how the agent copes with real meters' quirks.
	// Strict refuses (illegal data address) any read that touches a register the
	// meter does not model, as some meters and gateways do with bridged reads.
	Strict bool
	// Refuse lists addresses the meter does not implement: any read that touches the value
	// starting there is refused with illegal data address.
	Refuse []uint16
}

// maxClients bounds concurrent connections, as a real gateway does.
const maxClients = 64

// idleTimeout drops a client that sends nothing this long, as a real gateway does.
const idleTimeout = time.Minute

// Simulator is a running Modbus server of simulated meters.
type Simulator struct {
	addr   string
	proto  string
	image  image
	meters map[byte]meter // read-only after Start
	start  time.Time
	now    func() time.Time
	log    *log.Logger
	l      net.Listener

	mu       sync.Mutex
	elapsed  time.Duration // high-water mark, so counters never run back even if Now does
	faults   map[byte]Fault
	requests map[byte]int
	conns    map[net.Conn]struct{}

	wg        sync.WaitGroup // the accept loop and one goroutine per connection
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
	s := &Simulator{
		meters: make(map[byte]meter, len(units)), now: cfg.Now, start: cfg.Start, log: cfg.Logger,
		faults: make(map[byte]Fault), requests: make(map[byte]int), conns: make(map[net.Conn]struct{}),
		done: make(chan struct{}),
	}
	switch cfg.Protocol {
	case "", "tcp":
		s.proto = "tcp"
	case "rtuovertcp":
		s.proto = "rtuovertcp"
	default:
		return nil, fmt.Errorf("start simulator: protocol %q: want tcp or rtuovertcp", cfg.Protocol)
	}
	for _, u := range units {
		if u == 0 || u > 247 {
			return nil, fmt.Errorf("start simulator: unit id %d: want 1 to 247", u)
		}
		if _, dup := s.meters[u]; dup {
			return nil, fmt.Errorf("start simulator: unit id %d given twice", u)
		}
		s.meters[u] = newMeter(u)
	}
	if cfg.Profile != nil {
		s.image = newProfileImage(cfg.Profile, cfg.Strict, cfg.Refuse)
	} else {
		s.image = sdm630Image{strict: cfg.Strict, refuse: cfg.Refuse}
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.start.IsZero() {
		s.start = s.now()
	}
	if s.log == nil {
		s.log = log.New(io.Discard, "", 0)
	}
	addr := cfg.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("start simulator on %s: %w", addr, err)
	}
	s.l, s.addr = l, l.Addr().String()

	s.wg.Add(1)
	go s.accept()
	go func() { // ends with the simulator, whichever way it is stopped
		select {
		case <-ctx.Done():
			s.Close()
		case <-s.done:
		}
	}()
	return s, nil
}

// Addr is the host:port the simulator listens on.
func (s *Simulator) Addr() string { return s.addr }

// URL is the endpoint URL an agent dials: tcp://host:port or rtuovertcp://host:port.
func (s *Simulator) URL() string { return s.proto + "://" + s.addr }

// Close stops the server, drops its clients and waits for its goroutines.
func (s *Simulator) Close() error {
	s.closeOnce.Do(func() {
		close(s.done)
		if err := s.l.Close(); err != nil {
			s.closeErr = fmt.Errorf("stop simulator on %s: %w", s.addr, err)
		}
		s.mu.Lock()
		for c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
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

func (s *Simulator) accept() {
	defer s.wg.Done()
	for {
		c, err := s.l.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				s.log.Printf("simulator %s: accept: %v", s.addr, err)
			}
			return
		}
		s.mu.Lock()
		select {
		case <-s.done: // Close has already dropped the clients it knew of
			s.mu.Unlock()
			c.Close()
			return
		default:
		}
		full := len(s.conns) >= maxClients
		if !full {
			s.conns[c] = struct{}{}
			s.wg.Add(1)
		}
		s.mu.Unlock()
		if full {
			s.log.Printf("simulator %s: %d clients, refusing %s", s.addr, maxClients, c.RemoteAddr())
			c.Close()
			continue
		}
		go func() {
			defer s.wg.Done()
			s.serve(c)
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
			c.Close()
		}()
	}
}
