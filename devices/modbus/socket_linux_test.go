package modbus

import (
	"errors"
	"io"
	"net"
	"syscall"
	"testing"
	"time"
)

// socketPair returns a raw-syscall socket dialled to a listener, and the
// listener's side of it.
func socketPair(t *testing.T) (*socket, *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := dialSocket(ln.Addr().String(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	peer, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { peer.Close() })
	s, ok := c.(*socket)
	if !ok {
		t.Fatalf("dialSocket gave a %T, want *socket on Linux", c)
	}
	return s, peer.(*net.TCPConn)
}

// The raw socket behaves as net.Conn does where the Modbus connections
// look: data both ways, a deadline as a timeout, the peer's close as EOF,
// a reset as a connection error, a Close during a read as net.ErrClosed.
func TestSocketAsConn(t *testing.T) {
	t.Run("data", func(t *testing.T) {
		s, peer := socketPair(t)
		if n, err := s.Write([]byte("request")); n != 7 || err != nil {
			t.Fatalf("write: %d, %v", n, err)
		}
		got := make([]byte, 7)
		if _, err := io.ReadFull(peer, got); err != nil || string(got) != "request" {
			t.Fatalf("peer read %q, %v", got, err)
		}
		if _, err := peer.Write([]byte("answer")); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 64)
		if n, err := io.ReadAtLeast(s, buf, 6); n != 6 || err != nil || string(buf[:n]) != "answer" {
			t.Fatalf("read %q, %v", buf[:n], err)
		}
	})
	t.Run("deadline", func(t *testing.T) {
		s, _ := socketPair(t)
		if err := s.SetDeadline(time.Now().Add(20 * time.Millisecond)); err != nil {
			t.Fatal(err)
		}
		n, err := s.Read(make([]byte, 8))
		if n != 0 || !isTimeout(err) || ErrorKind(err) != "timeout" {
			t.Fatalf("read past the deadline: %d, %v (kind %q)", n, err, ErrorKind(err))
		}
	})
	t.Run("eof", func(t *testing.T) {
		s, peer := socketPair(t)
		peer.Close()
		if n, err := s.Read(make([]byte, 8)); n != 0 || err != io.EOF {
			t.Fatalf("read after the peer closed: %d, %v", n, err)
		}
	})
	t.Run("reset", func(t *testing.T) {
		s, peer := socketPair(t)
		if err := peer.SetLinger(0); err != nil { // close sends RST
			t.Fatal(err)
		}
		peer.Close()
		_, err := s.Read(make([]byte, 8))
		if !errors.Is(err, syscall.ECONNRESET) || ErrorKind(err) != "connection" {
			t.Fatalf("read after a reset: %v (kind %q)", err, ErrorKind(err))
		}
	})
	t.Run("closed", func(t *testing.T) {
		s, _ := socketPair(t)
		done := make(chan error, 1)
		go func() {
			_, err := s.Read(make([]byte, 8))
			done <- err
		}()
		time.Sleep(10 * time.Millisecond)
		s.Close()
		select {
		case err := <-done:
			if !errors.Is(err, net.ErrClosed) || ErrorKind(err) != "closed" {
				t.Fatalf("read ended by Close: %v (kind %q)", err, ErrorKind(err))
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Close did not end a read in progress")
		}
	})
}

// A read and a write may run at once, as on net.Conn: a full-duplex echo of
// 1 MB through one socket.
func TestSocketReadWhileWriting(t *testing.T) {
	s, peer := socketPair(t)
	go io.Copy(peer, peer) // echo
	want := make([]byte, 1<<20)
	for i := range want {
		want[i] = byte(i * 7)
	}
	errc := make(chan error, 1)
	go func() {
		_, err := s.Write(want)
		errc <- err
	}()
	got := make([]byte, len(want))
	if _, err := io.ReadFull(s, got); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("byte %d: %d, want %d", i, got[i], want[i])
		}
	}
}

// A request and its answer allocate nothing.
func TestSocketAllocs(t *testing.T) {
	s, peer := socketPair(t)
	go func() {
		buf := make([]byte, 12)
		for {
			if _, err := io.ReadFull(peer, buf); err != nil {
				return
			}
			if _, err := peer.Write(buf); err != nil {
				return
			}
		}
	}()
	req, buf := make([]byte, 12), make([]byte, 64)
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := s.Write(req); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadAtLeast(s, buf, 12); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("%.1f allocations per request", allocs)
	}
}
