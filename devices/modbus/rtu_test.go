package modbus

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

func TestCRC16(t *testing.T) {
	tests := []struct{ frame, crc string }{
		{"01 04 00 00 00 02", "71 CB"},    // read input 0+2 from unit 1
		{"01 03 00 00 00 0A", "C5 CD"},    // read holding 0+10 from unit 1
		{"11 03 00 6B 00 03", "76 87"},    // the example of the Modbus serial line spec
		{"01 04 04 43 66 33 34", "1B 38"}, // an SDM120 answer, 230.2 V (Tasmota's comment)
		{"01 84 02", "C2 C1"},             // exception 2 to function 4
		{"", "FF FF"},                     // nothing: the initial value
	}
	for _, tt := range tests {
		frame, want := hexBytes(t, tt.frame), hexBytes(t, tt.crc)
		crc := crc16(frame)
		if got := []byte{byte(crc), byte(crc >> 8)}; !bytes.Equal(got, want) {
			t.Errorf("crc16(%s) = % X (low byte first), want %s", tt.frame, got, tt.crc)
		}
	}
}

func TestAppendReadRequest(t *testing.T) {
	tests := []struct {
		unit, fc    byte
		addr, count uint16
		want        string
	}{
		{1, 4, 0x0000, 2, "01 04 00 00 00 02 71 CB"},
		{1, 3, 0x0000, 10, "01 03 00 00 00 0A C5 CD"},
		{0x11, 3, 0x006B, 3, "11 03 00 6B 00 03 76 87"},
	}
	for _, tt := range tests {
		prefix := []byte{0xEE} // appending keeps what is there
		got := appendReadRequest(prefix, tt.unit, tt.fc, tt.addr, tt.count)
		if want := append([]byte{0xEE}, hexBytes(t, tt.want)...); !bytes.Equal(got, want) {
			t.Errorf("request unit %d fc %d %d+%d = % X, want EE %s", tt.unit, tt.fc, tt.addr, tt.count, got, tt.want)
		}
	}
}

// frame builds an RTU frame with its CRC.
func frame(t testing.TB, hex string) []byte {
	b := hexBytes(t, hex)
	crc := crc16(b)
	return append(b, byte(crc), byte(crc>>8))
}

func TestReadRTUResponse(t *testing.T) {
	good := frame(t, "01 04 04 43 66 33 34")
	tests := []struct {
		name  string
		in    []byte
		fc    byte
		want  int
		data  string // hex, for a good answer
		exc   byte   // for an exception
		err   string // for anything else
		trail int    // bytes that must be left unread
	}{
		{"registers", good, 4, 4, "43 66 33 34", 0, "", 0},
		{"leaves what follows", append(good, 0xAA, 0xBB), 4, 4, "43 66 33 34", 0, "", 2},
		{"coils", frame(t, "01 01 02 05 01"), 1, 2, "05 01", 0, "", 0},
		{"exception", frame(t, "01 84 02"), 4, 4, "", 2, "", 0},
		{"exception leaves what follows", append(frame(t, "01 83 04"), 1), 3, 4, "", 4, "", 1},
		{"other unit", frame(t, "02 04 04 43 66 33 34"), 4, 4, "", 0, "unit 2, want 1", 0},
		{"other function", frame(t, "01 03 04 43 66 33 34"), 4, 4, "", 0, "function 3, want 4", 0},
		{"exception of another function", frame(t, "01 83 02"), 4, 4, "", 0, "function 131, want 4", 0},
		{"wrong byte count", frame(t, "01 04 02 43 66"), 4, 4, "", 0, "2 data bytes, want 4", 0},
		{"bad CRC", append(hexBytes(t, "01 04 04 43 66 33 34"), 0x1B, 0x39), 4, 4, "", 0, "CRC 391B, want 381B", 0},
		{"bad exception CRC", hexBytes(t, "01 84 02 00 00"), 4, 4, "", 0, "CRC", 0},
		{"cut short", good[:6], 4, 4, "", 0, "unexpected EOF", 0},
		{"nothing", nil, 4, 4, "", 0, "EOF", 0},
	}
	for _, tt := range tests {
		r := bytes.NewReader(tt.in)
		var buf [rtuMaxFrame]byte
		data, err := readRTUResponse(r, buf[:], 1, tt.fc, tt.want)
		var exc *ExceptionError
		switch {
		case tt.data != "":
			if err != nil || !bytes.Equal(data, hexBytes(t, tt.data)) {
				t.Errorf("%s: % X, %v; want %s", tt.name, data, err, tt.data)
			}
		case tt.exc != 0:
			if !errors.As(err, &exc) || exc.Code != tt.exc || exc.Function != tt.fc {
				t.Errorf("%s: error %v, want exception %d", tt.name, err, tt.exc)
			}
		default:
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%s: error %v, want %q", tt.name, err, tt.err)
			}
		}
		if err == nil || errors.As(err, &exc) {
			if r.Len() != tt.trail {
				t.Errorf("%s: %d bytes left unread, want %d", tt.name, r.Len(), tt.trail)
			}
		}
	}
}

// FuzzRTUResponse feeds arbitrary bytes to the response reader: it must never panic, never
// read past one frame, and accept only a frame that is exactly the answer asked for.
func FuzzRTUResponse(f *testing.F) {
	f.Add(frame(f, "01 04 04 43 66 33 34"), byte(1), byte(4), uint16(2))
	f.Add(frame(f, "01 84 02"), byte(1), byte(4), uint16(2))
	f.Add(frame(f, "07 01 01 01"), byte(7), byte(1), uint16(3))
	f.Add(hexBytes(f, "01 04 04 43 66"), byte(1), byte(4), uint16(2))
	f.Fuzz(func(t *testing.T, in []byte, unit, fc byte, count uint16) {
		want := 2 * int(count)
		if fc == 1 || fc == 2 {
			want = (int(count) + 7) / 8
		}
		if want > 250 {
			return // no request asks for more (checkRead)
		}
		r := bytes.NewReader(in)
		var buf [rtuMaxFrame]byte
		data, err := readRTUResponse(r, buf[:], unit, fc, want)
		used := len(in) - r.Len()
		var exc *ExceptionError
		switch {
		case err == nil:
			if len(data) != want || used != 5+want {
				t.Fatalf("accepted %d data bytes in %d, want %d in %d", len(data), used, want, 5+want)
			}
			if !bytes.Equal(in[:used], frame(t, hex.EncodeToString(append([]byte{unit, fc, byte(want)}, data...)))) {
				t.Fatalf("accepted % X, which is not the frame of its data", in[:used])
			}
		case errors.As(err, &exc):
			if used != 5 || in[0] != unit || in[1] != fc|0x80 || crc16(in[:3]) != uint16(in[3])|uint16(in[4])<<8 {
				t.Fatalf("exception from % X", in[:used])
			}
		default:
			if used > 5+want {
				t.Fatalf("read %d bytes for a %d-byte frame", used, 5+want)
			}
		}
	})
}

// pipeConn returns an rtuConn whose every dial yields a fresh in-memory link, the other end
// of which is handed to serve: a converter a test scripts byte by byte.
func pipeConn(t *testing.T, timeout time.Duration, serve func(n int, peer net.Conn)) *rtuConn {
	t.Helper()
	dials := 0
	done := make(chan struct{})
	t.Cleanup(func() { <-done })
	var peers []net.Conn
	c := &rtuConn{name: "pipe", opts: Options{Timeout: timeout}, dial: func(time.Duration) (link, error) {
		dials++
		client, peer := net.Pipe()
		peers = append(peers, peer)
		go serve(dials, peer)
		return client, nil
	}}
	t.Cleanup(func() {
		c.Close()
		for _, p := range peers {
			p.Close()
		}
		close(done)
	})
	return c
}

// answer reads one 8-byte request from peer and writes the register answer of value v.
func answer(peer net.Conn, v byte) error {
	var req [8]byte
	if _, err := io.ReadFull(peer, req[:]); err != nil {
		return err
	}
	n := 2 * int(req[5])
	resp := []byte{req[0], req[1], byte(n)}
	for range n {
		resp = append(resp, v)
	}
	crc := crc16(resp)
	_, err := peer.Write(append(resp, byte(crc), byte(crc>>8)))
	return err
}

// A converter passes on the meter's late answer to a timed-out request through the next
// TCP connection, before the next request: it must be discarded, not taken as the answer.
func TestRTUStaleBytesAfterFailureDiscarded(t *testing.T) {
	gotLate := make(chan struct{})
	c := pipeConn(t, 200*time.Millisecond, func(n int, peer net.Conn) {
		switch n {
		case 1: // swallow the request: the client times out
			var req [8]byte
			io.ReadFull(peer, req[:])
			<-gotLate
		case 2: // the late answer (0xDD…) arrives first, then the answer to the new request
			stale := frame(t, "01 04 04 DD DD DD DD")
			peer.Write(stale) // net.Pipe: returns once the client read it all
			answer(peer, 0x22)
		}
	})
	if _, err := c.ReadRegisters(context.Background(), 1, "input", 0, 2); ErrorKind(err) != "timeout" {
		t.Fatalf("first read: error %v (%s), want a timeout", err, ErrorKind(err))
	}
	close(gotLate)
	got, err := c.ReadRegisters(context.Background(), 1, "input", 0, 2)
	if err != nil || !bytes.Equal(got, []byte{0x22, 0x22, 0x22, 0x22}) {
		t.Errorf("second read = % X, %v; want its own answer 22 22 22 22", got, err)
	}
}

func TestRTUPauses(t *testing.T) {
	const pause = 30 * time.Millisecond
	var writes []time.Time
	var dialled time.Time
	c := &rtuConn{name: "rec", opts: Options{Timeout: time.Second, PauseAfterConnect: pause, PauseBetweenRequests: pause}}
	c.dial = func(time.Duration) (link, error) {
		dialled = time.Now()
		client, peer := net.Pipe()
		go func() {
			defer peer.Close()
			for answer(peer, 1) == nil {
			}
		}()
		return &recLink{Conn: client, writes: &writes}, nil
	}
	defer c.Close()
	for range 3 {
		if _, err := c.ReadRegisters(context.Background(), 1, "holding", 0, 1); err != nil {
			t.Fatal(err)
		}
	}
	// Sleeps guarantee a least duration, so these bounds cannot flake.
	if writes[0].Sub(dialled) < pause {
		t.Errorf("first request %v after the connect, want ≥ %v", writes[0].Sub(dialled), pause)
	}
	for i := 1; i < len(writes); i++ {
		if writes[i].Sub(writes[i-1]) < pause {
			t.Errorf("request %d %v after the one before, want ≥ %v", i+1, writes[i].Sub(writes[i-1]), pause)
		}
	}
}

type recLink struct {
	net.Conn
	writes *[]time.Time
}

func (l *recLink) Write(b []byte) (int, error) {
	*l.writes = append(*l.writes, time.Now())
	return l.Conn.Write(b)
}

func TestRTUArguments(t *testing.T) {
	c := &rtuConn{name: "x", opts: Options{Timeout: time.Second}, dial: func(time.Duration) (link, error) {
		return nil, errors.New("must not dial")
	}}
	for _, tt := range []struct {
		unit  byte
		fn    string
		count uint16
		want  string
	}{
		{1, "input", 0, "count must be 1 to 125"},
		{1, "coil", 2001, "count must be 1 to 2000"},
		{1, "registers", 1, `unknown function "registers"`},
		{0, "input", 1, "unit must be 1 to 247"},
		{248, "input", 1, "unit must be 1 to 247"},
	} {
		if _, err := c.ReadRegisters(context.Background(), tt.unit, tt.fn, 0, tt.count); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("unit %d %s %d: error %v, want %q", tt.unit, tt.fn, tt.count, err, tt.want)
		}
	}
	c.Close()
	if _, err := c.ReadRegisters(context.Background(), 1, "input", 0, 1); !errors.Is(err, net.ErrClosed) || ErrorKind(err) != "closed" {
		t.Errorf("after Close: error %v", err)
	}
}
