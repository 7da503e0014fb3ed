package modbus

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

func TestParseTCPResponse(t *testing.T) {
	// Answers to transaction 7, unit 3, function 4, two data bytes wanted.
	adu := func(tid, proto uint16, length int, unit byte, pdu ...byte) []byte {
		b := binary.BigEndian.AppendUint16(nil, tid)
		b = binary.BigEndian.AppendUint16(b, proto)
		b = binary.BigEndian.AppendUint16(b, uint16(length))
		return append(append(b, unit), pdu...)
	}
	for _, tc := range []struct {
		name string
		adu  []byte
		want string // "" ok, "exception", or a part of the frame error
	}{
		{"ok", adu(7, 0, 5, 3, 4, 2, 0xAB, 0xCD), ""},
		{"exception", adu(7, 0, 3, 3, 0x84, 2), "exception"},
		{"another transaction", adu(6, 0, 5, 3, 4, 2, 0xAB, 0xCD), "transaction 6, want 7"},
		{"another protocol", adu(7, 1, 5, 3, 4, 2, 0xAB, 0xCD), "protocol 1"},
		{"another unit", adu(7, 0, 5, 9, 4, 2, 0xAB, 0xCD), "unit 9, want 3"},
		{"another function", adu(7, 0, 5, 3, 3, 2, 0xAB, 0xCD), "function 3, want 4"},
		{"bytes after the frame", append(adu(7, 0, 5, 3, 4, 2, 0xAB, 0xCD), 0), "5 in the header, 6 bytes received"},
		{"byte count off", adu(7, 0, 5, 3, 4, 4, 0xAB, 0xCD), "byte count 4"},
		{"fewer data than asked", adu(7, 0, 3, 3, 4, 0), "got 0 bytes, want 2"},
		{"exception too long", adu(7, 0, 4, 3, 0x84, 2, 0), "exception of 3 bytes"},
		{"header only", adu(7, 0, 1, 3), "7 bytes"},
		{"function code only", adu(7, 0, 2, 3, 4), "no byte count"}, // found by FuzzTCPResponse: it panicked
	} {
		t.Run(tc.name, func(t *testing.T) {
			data, err := parseTCPResponse(tc.adu, 7, 3, 4, 2)
			var exc *ExceptionError
			var frame *FrameError
			switch {
			case tc.want == "":
				if err != nil || string(data) != "\xAB\xCD" {
					t.Errorf("got %x, %v", data, err)
				}
			case tc.want == "exception":
				if !errors.As(err, &exc) || exc.Code != 2 || exc.Function != 4 {
					t.Errorf("got %v, want exception 2 of function 4", err)
				}
			case !errors.As(err, &frame) || !strings.Contains(err.Error(), tc.want) || ErrorKind(err) != "frame":
				t.Errorf("got %v (kind %q), want a frame error with %q", err, ErrorKind(err), tc.want)
			}
		})
	}
}

// serveTCP accepts one connection and runs serve on it.
func serveTCP(t *testing.T, serve func(conn net.Conn)) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		conn, err := l.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		serve(conn)
	}()
	t.Cleanup(func() { l.Close(); <-done })
	return l.Addr().String()
}

func TestTCPAnswerInPieces(t *testing.T) {
	// A gateway that sends the header and the PDU in separate segments.
	addr := serveTCP(t, func(conn net.Conn) {
		var req [12]byte
		if _, err := io.ReadFull(conn, req[:]); err != nil {
			return
		}
		resp := append(req[:4:4], 0, 7, req[6], req[7], 4, 0x12, 0x34, 0x56, 0x78)
		conn.Write(resp[:5])
		time.Sleep(20 * time.Millisecond)
		conn.Write(resp[5:9])
		time.Sleep(20 * time.Millisecond)
		conn.Write(resp[9:])
		io.Copy(io.Discard, conn)
	})
	c := DialTCP(addr, time.Second)
	defer c.Close()
	got, err := c.ReadRegisters(context.Background(), 5, "holding", 0x10, 2)
	if err != nil || string(got) != "\x12\x34\x56\x78" {
		t.Fatalf("got %x, %v", got, err)
	}
}

func TestTCPWrongTransactionDropsConnection(t *testing.T) {
	conns := 0
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			conns++
			first := conns == 1
			go func() {
				defer conn.Close()
				var req [12]byte
				for {
					if _, err := io.ReadFull(conn, req[:]); err != nil {
						return
					}
					if first {
						req[1]++ // not the transaction asked for
					}
					conn.Write(append(req[:4:4], 0, 5, req[6], req[7], 2, 0, 9))
				}
			}()
		}
	}()
	c := DialTCP(l.Addr().String(), time.Second)
	defer c.Close()
	_, err = c.ReadRegisters(context.Background(), 1, "input", 0, 1)
	if ErrorKind(err) != "frame" || !strings.Contains(err.Error(), "transaction") {
		t.Fatalf("first read: %v (kind %q), want a frame error for the transaction", err, ErrorKind(err))
	}
	got, err := c.ReadRegisters(context.Background(), 1, "input", 0, 1)
	if err != nil || string(got) != "\x00\x09" {
		t.Fatalf("second read, on a new connection: %x, %v", got, err)
	}
}

func TestReaderReusesBuffers(t *testing.T) {
	c := &fakeConn{regs: map[uint16]uint16{0: 0x449A, 1: 0x5000, 10: 7}}
	p := testProfile(
		reg("energy_import_total", "input", 0, "float32"),
		reg("voltage_l1", "holding", 10, "uint16"),
	)
	plan := Plan(p.Registers, 0)
	var r Reader
	first, err := r.Read(context.Background(), appendConn{c}, 1, p, plan)
	// The plan reads holding registers first.
	if err != nil || len(first) != 2 || first[1].Value != 1234.5 || first[0].Value != 7 || string(first[0].Raw) != "\x00\x07" {
		t.Fatalf("first read %+v, %v", first, err)
	}
	c.regs[10] = 8
	allocs := testing.AllocsPerRun(10, func() {
		got, err := r.Read(context.Background(), appendConn{c}, 1, p, plan)
		if err != nil || got[0].Value != 8 || string(got[0].Raw) != "\x00\x08" || string(got[1].Raw) != "\x44\x9A\x50\x00" {
			t.Fatalf("read %+v, %v", got, err)
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per read, want none", allocs)
	}
}

// appendConn gives fakeConn an AppendRegisters that does not allocate.
type appendConn struct{ *fakeConn }

func (c appendConn) AppendRegisters(_ context.Context, dst []byte, _ byte, _ string, address, count uint16) ([]byte, error) {
	for i := range count {
		dst = binary.BigEndian.AppendUint16(dst, c.regs[address+i])
	}
	return dst, nil
}

// FuzzTCPResponse: whatever a device or a broken converter sends back,
// parseTCPResponse never panics, and what it accepts is exactly the frame of
// its data for the request's transaction, unit and function.
func FuzzTCPResponse(f *testing.F) {
	f.Add([]byte("\x00\x07\x00\x00\x00\x05\x03\x04\x02\xab\xcd"), uint16(7), byte(3), byte(4), uint16(1))
	f.Add([]byte("\x00\x07\x00\x00\x00\x03\x03\x84\x02"), uint16(7), byte(3), byte(4), uint16(1))
	f.Add([]byte("\x00\x07\x00\x00\x00\x02\x03\x04"), uint16(7), byte(3), byte(4), uint16(1))
	f.Add([]byte("\x00\x01\x00\x00\x00\x04\x01\x01\x01\x05"), uint16(1), byte(1), byte(1), uint16(3))
	f.Fuzz(func(t *testing.T, adu []byte, tid uint16, unit, fc byte, count uint16) {
		want := 2 * int(count)
		if fc == 1 || fc == 2 {
			want = (int(count) + 7) / 8
		}
		data, err := parseTCPResponse(adu, tid, unit, fc, want)
		var exc *ExceptionError
		var frame *FrameError
		switch {
		case err == nil:
			head := binary.BigEndian.AppendUint16(nil, tid)
			head = binary.BigEndian.AppendUint16(head, 0)
			head = binary.BigEndian.AppendUint16(head, uint16(3+want))
			exact := append(append(head, unit, fc, byte(want)), data...)
			if len(data) != want || string(adu) != string(exact) {
				t.Fatalf("accepted % X with %d data bytes, want the frame % X", adu, len(data), exact)
			}
		case errors.As(err, &exc):
			if len(adu) != mbapHeader+2 || adu[7] != fc|0x80 || binary.BigEndian.Uint16(adu) != tid {
				t.Fatalf("exception from % X", adu)
			}
		case !errors.As(err, &frame):
			t.Fatalf("% X: %v is neither an exception nor a frame error", adu, err)
		}
	})
}
