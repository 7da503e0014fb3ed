package modbus

import (
	"io"
	"net"
	"os"
	"syscall"
	"unsafe"
)

// socket is a TCP connection whose reads and writes are raw system calls
// on its non-blocking descriptor, through syscall.RawConn: the netpoller
// still waits for readiness and enforces the deadlines, but a read or
// write does not enter the scheduler's system-call state. On loopback or a
// busy gateway a 12-byte write can take longer than the 20 µs after which
// the runtime's monitor hands the P to another thread (with GOMAXPROCS 1,
// even when no goroutine waits); that hand-off and its wake-ups were a fifth
// of the agent's CPU (BENCHMARKS.md, "Edge", 2026-12-02 evening). A
// non-blocking read or write cannot block, so holding the P through it is
// safe.
type socket struct {
	net.Conn
	raw syscall.RawConn

	// The read and the write in progress (one of each at a time, as
	// net.Conn allows), for readFn and writeFn, which are made once: a
	// closure per call would be an allocation per request.
	rp, wp  []byte
	rn, wn  int
	re, we  syscall.Errno
	readFn  func(fd uintptr) bool
	writeFn func(fd uintptr) bool
}

func newSocket(c net.Conn) net.Conn {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return c
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return c
	}
	s := &socket{Conn: c, raw: raw}
	s.readFn, s.writeFn = s.read, s.write
	return s
}

func (s *socket) read(fd uintptr) bool {
	for {
		r, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(unsafe.SliceData(s.rp))), uintptr(len(s.rp)))
		switch e {
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false // the netpoller waits for the answer, within the deadline
		}
		s.rn, s.re = int(r), e
		return true
	}
}

func (s *socket) write(fd uintptr) bool {
	for len(s.wp) > 0 {
		r, _, e := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(unsafe.SliceData(s.wp))), uintptr(len(s.wp)))
		switch e {
		case 0:
			s.wn += int(r)
			s.wp = s.wp[r:]
		case syscall.EINTR:
		case syscall.EAGAIN:
			return false
		default:
			s.we = e
			return true
		}
	}
	return true
}

func (s *socket) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	s.rp, s.rn, s.re = p, 0, 0
	err := s.raw.Read(s.readFn)
	n, errno := s.rn, s.re
	s.rp = nil
	switch {
	case err != nil: // a deadline, or the connection closed
		return 0, err
	case errno != 0:
		return 0, s.opError("read", errno)
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}

func (s *socket) Write(p []byte) (int, error) {
	s.wp, s.wn, s.we = p, 0, 0
	err := s.raw.Write(s.writeFn)
	n, errno := s.wn, s.we
	s.wp = nil
	switch {
	case err != nil:
		return n, err
	case errno != 0:
		return n, s.opError("write", errno)
	}
	return n, nil
}

// opError is what net.Conn returns for a failed read or write.
func (s *socket) opError(op string, errno syscall.Errno) error {
	return &net.OpError{Op: op, Net: "tcp", Source: s.LocalAddr(), Addr: s.RemoteAddr(), Err: os.NewSyscallError(op, errno)}
}
