package simulator

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/simonvetter/modbus"
)

// rawExchange sends one read of input registers 0+2 to unit over a raw connection, in the
// simulator's protocol, and returns what comes back within wait (and the read error).
func rawExchange(t *testing.T, c net.Conn, proto string, unit byte, wait time.Duration) ([]byte, error) {
	t.Helper()
	var req []byte
	if proto == "tcp" {
		req = []byte{0, 7, 0, 0, 0, 6, unit, 4, 0, 0, 0, 2}
	} else {
		req = appendCRC([]byte{unit, 4, 0, 0, 0, 2})
	}
	if _, err := c.Write(req); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(wait))
	var got []byte
	buf := make([]byte, 64)
	for {
		n, err := c.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			return got, err
		}
		if proto == "tcp" && len(got) >= 6 && len(got) >= 6+int(binary.BigEndian.Uint16(got[4:])) ||
			proto == "rtuovertcp" && len(got) >= 5 && (got[1]&0x80 != 0 || len(got) >= 5+int(got[2])) {
			return got, nil
		}
	}
}

func TestFaults(t *testing.T) {
	for _, proto := range []string{"tcp", "rtuovertcp"} {
		t.Run(proto, func(t *testing.T) {
			s := start(t, Config{Protocol: proto, Units: []byte{1, 2}})
			if want := proto + "://" + s.Addr(); s.URL() != want {
				t.Errorf("URL = %s, want %s", s.URL(), want)
			}
			dialRaw := func() net.Conn {
				c, err := net.Dial("tcp", s.Addr())
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { c.Close() })
				return c
			}
			// The answer of a healthy read, for comparison: its frame is 9 bytes in RTU, 13 in TCP.
			healthy := func(c net.Conn, unit byte) {
				t.Helper()
				got, err := rawExchange(t, c, proto, unit, 2*time.Second)
				if err != nil {
					t.Fatalf("unit %d healthy read: % X, %v", unit, got, err)
				}
				if fc := got[map[string]int{"tcp": 7, "rtuovertcp": 1}[proto]]; fc != 4 {
					t.Fatalf("unit %d healthy read: % X, function %d", unit, got, fc)
				}
			}

			c := dialRaw()
			healthy(c, 1)

			// Exceptions 02 and 04, per unit: the other unit is unaffected.
			for _, code := range []byte{2, 4} {
				s.SetFault(1, Fault{Kind: Exception, Code: code})
				got, err := rawExchange(t, c, proto, 1, 2*time.Second)
				at := map[string]int{"tcp": 7, "rtuovertcp": 1}[proto]
				if err != nil || got[at] != 0x84 || got[at+1] != code {
					t.Errorf("exception %d: % X, %v", code, got, err)
				}
				healthy(c, 2)
			}

			// No answer: nothing comes, the connection stays.
			s.SetFault(1, Fault{Kind: NoAnswer})
			if got, err := rawExchange(t, c, proto, 1, 200*time.Millisecond); !isTimeout(err) || len(got) != 0 {
				t.Errorf("no answer: % X, %v; want silence", got, err)
			}
			healthy(c, 2)

			// Healed: the unit answers again.
			s.SetFault(1, Fault{})
			healthy(c, 1)

			// Garbage: the bytes of no frame.
			s.SetFault(1, Fault{Kind: Garbage})
			if got, _ := rawExchange(t, c, proto, 1, 300*time.Millisecond); !bytes.Equal(got, garbage) {
				t.Errorf("garbage: % X", got)
			}

			// Late: the answer comes on the same connection, after the delay.
			c = dialRaw()
			s.SetFault(1, Fault{Kind: Late, Delay: 150 * time.Millisecond})
			if got, err := rawExchange(t, c, proto, 1, 20*time.Millisecond); !isTimeout(err) || len(got) != 0 {
				t.Errorf("late: % X, %v before the delay", got, err)
			}
			if got, err := rawExchange(t, c, proto, 2, 2*time.Second); err != nil || len(got) < 5 {
				t.Errorf("late: after the delay % X, %v", got, err)
			}

			// Reset mid-frame: half a frame, then RST.
			c = dialRaw()
			s.SetFault(1, Fault{Kind: Reset})
			got, err := rawExchange(t, c, proto, 1, 2*time.Second)
			if !errors.Is(err, syscall.ECONNRESET) || len(got) == 0 || len(got) > 6 {
				t.Errorf("reset: % X, %v; want part of a frame, then a reset", got, err)
			}

			// A fault of the whole server applies to units without their own.
			s.SetFault(1, Fault{})
			s.SetFault(0, Fault{Kind: Exception, Code: 4})
			s.SetFault(2, Fault{Kind: Exception, Code: 2})
			c = dialRaw()
			at := map[string]int{"tcp": 8, "rtuovertcp": 2}[proto]
			if got, _ := rawExchange(t, c, proto, 1, 2*time.Second); got[at] != 4 {
				t.Errorf("server fault on unit 1: % X", got)
			}
			if got, _ := rawExchange(t, c, proto, 2, 2*time.Second); got[at] != 2 {
				t.Errorf("unit 2's own fault: % X", got)
			}
			s.SetFault(0, Fault{})
			s.SetFault(2, Fault{})
			healthy(c, 1)

			if n := s.Requests(1); n != 10 {
				t.Errorf("Requests(1) = %d, want 10", n)
			}
		})
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// The RTU-over-TCP framing checked with another implementation's client.
func TestRTUOverTCPWithAnotherClient(t *testing.T) {
	s := start(t, Config{Protocol: "rtuovertcp", Units: []byte{5}})
	c, err := modbus.NewClient(&modbus.ClientConfiguration{URL: "rtuovertcp://" + s.Addr(), Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Open(); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	v := readFloats(t, c, 5, 0x0046, 3) // frequency, import, export
	if v[0] < 49.9 || v[0] > 50.1 || v[1] != 5000 || v[2] != 50 {
		t.Errorf("frequency, import, export = %v", v)
	}
	c.SetUnitId(5)
	if _, err := c.ReadRegisters(0x1000, 2, modbus.INPUT_REGISTER); !errors.Is(err, modbus.ErrIllegalDataAddress) {
		t.Errorf("unknown address: %v", err)
	}
	// A unit that is not on the bus does not answer.
	c.SetUnitId(6)
	if _, err := c.ReadRegisters(0, 2, modbus.INPUT_REGISTER); !errors.Is(err, modbus.ErrRequestTimedOut) {
		t.Errorf("absent unit: %v, want a timeout", err)
	}
}

// Frames a real RTU device ignores get no answer; the connection goes on.
func TestRTUIgnoresBadFrames(t *testing.T) {
	s := start(t, Config{Protocol: "rtuovertcp"})
	c, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, f := range [][]byte{
		{1, 4, 0, 0, 0, 2, 0x71, 0xCC},      // bad CRC
		appendCRC([]byte{0, 4, 0, 0, 0, 2}), // broadcast
	} {
		c.Write(f)
		c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		if n, err := c.Read(make([]byte, 16)); !isTimeout(err) {
			t.Errorf("% X: answered %d bytes, %v", f, n, err)
		}
	}
	// A write (function 6) is refused: the meters are read-only.
	got, err := rawExchangeFrame(c, appendCRC([]byte{1, 6, 0, 1, 0, 2}))
	if err != nil || !bytes.Equal(got, appendCRC([]byte{1, 0x86, 1})) {
		t.Errorf("write: % X, %v", got, err)
	}
}

func rawExchangeFrame(c net.Conn, f []byte) ([]byte, error) {
	if _, err := c.Write(f); err != nil {
		return nil, err
	}
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	got := make([]byte, 5)
	_, err := io.ReadFull(c, got)
	return got, err
}

func TestCRC(t *testing.T) {
	if got := appendCRC([]byte{1, 4, 0, 0, 0, 2}); !bytes.Equal(got[6:], []byte{0x71, 0xCB}) {
		t.Errorf("CRC % X, want 71 CB", got[6:])
	}
}
