package modbus

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Modbus TCP (MBAP) framing: transaction id, protocol id 0, length of what follows, unit
// id, then the PDU. Written here rather than through a library so that a request costs one
// write and, usually, one read into buffers the connection keeps: a gateway polls hundreds
// of meters a second.
const (
	mbapHeader = 7                // transaction, protocol, length, unit
	tcpMaxADU  = mbapHeader + 253 // the largest PDU
)

// DialTCP returns a Modbus TCP connection to addr (host:port). It connects on first use and
// reconnects after any failed request. timeout bounds each request (0: DefaultTimeout);
// a context deadline shortens it further.
func DialTCP(addr string, timeout time.Duration) Conn {
	return dialTCP(addr, "tcp://"+addr, Options{Timeout: timeout})
}

func dialTCP(addr, name string, o Options) *tcpConn {
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	return &tcpConn{addr: addr, name: name, opts: o}
}

type tcpConn struct {
	addr   string
	name   string // the URL, for errors
	opts   Options
	closed atomic.Bool

	mu   sync.Mutex // guards conn against a concurrent Close
	conn net.Conn

	tid     uint16    // the last transaction id sent
	lastEnd time.Time // when the last answer ended
	buf     [tcpMaxADU]byte
	req     [mbapHeader + 5]byte
}

func (c *tcpConn) ReadRegisters(ctx context.Context, unit byte, function string, address, count uint16) ([]byte, error) {
	return c.AppendRegisters(ctx, nil, unit, function, address, count)
}

// AppendRegisters is ReadRegisters appending the answer to dst: a caller that keeps dst
// from poll to poll reads without allocating.
func (c *tcpConn) AppendRegisters(ctx context.Context, dst []byte, unit byte, function string, address, count uint16) ([]byte, error) {
	data, err := c.read(ctx, unit, function, address, count)
	if err != nil {
		return dst, readError(function, address, count, unit, c.name, err)
	}
	return append(dst, data...), nil
}

// readError says which read failed. It is built only on failure: a poll that succeeds
// formats nothing.
func readError(function string, address, count uint16, unit byte, name string, err error) error {
	return fmt.Errorf("read %s %d+%d unit %d from %s: %w", readName(function), address, count, unit, name, err)
}

// read does one request; the data it returns is c.buf's, valid until the next request.
func (c *tcpConn) read(ctx context.Context, unit byte, function string, address, count uint16) ([]byte, error) {
	want, err := checkRead(function, count)
	if err != nil {
		return nil, err
	}
	if c.closed.Load() {
		return nil, net.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	// No request outlives the deadline; cancellation without one takes effect when the
	// running request ends (within timeout).
	deadline := time.Now().Add(c.opts.Timeout)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	conn, fresh, err := c.connect(deadline)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	if fresh {
		if err := sleepUntil(ctx, time.Now().Add(c.opts.PauseAfterConnect), deadline); err != nil {
			return nil, fmt.Errorf("pause after connect: %w", err)
		}
	} else if err := sleepUntil(ctx, c.lastEnd.Add(c.opts.PauseBetweenRequests), deadline); err != nil {
		return nil, fmt.Errorf("pause between requests: %w", err)
	}
	if time.Until(deadline) <= 0 {
		return nil, context.DeadlineExceeded
	}
	data, err := c.exchange(conn, deadline, unit, functionCode(function), address, count, want)
	c.lastEnd = time.Now()
	if err != nil {
		if _, ok := err.(*ExceptionError); !ok {
			// After a timeout the late answer may still arrive and would be taken for the
			// answer to the next request; any other failure leaves the stream in an unknown
			// state too. A fresh connection is the only safe continuation.
			c.drop(conn)
		}
		return nil, err
	}
	return data, nil
}

// connect returns the connection, dialling one if there is none (fresh) or if the last was
// idle for idleTimeout.
func (c *tcpConn) connect(deadline time.Time) (conn net.Conn, fresh bool, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed.Load() {
		return nil, false, net.ErrClosed
	}
	if c.conn != nil && time.Since(c.lastEnd) > idleTimeout {
		c.conn.Close()
		c.conn = nil
	}
	if c.conn != nil {
		return c.conn, false, nil
	}
	timeout := time.Until(deadline)
	if timeout <= 0 {
		return nil, false, context.DeadlineExceeded
	}
	if c.conn, err = dialSocket(c.addr, timeout); err != nil {
		return nil, false, err
	}
	return c.conn, true, nil
}

// exchange sends one request and reads its answer into c.buf.
func (c *tcpConn) exchange(conn net.Conn, deadline time.Time, unit, fc byte, address, count uint16, want int) ([]byte, error) {
	if err := conn.SetDeadline(deadline); err != nil {
		return nil, err
	}
	c.tid++
	req := c.req[:]
	binary.BigEndian.PutUint16(req[0:], c.tid)
	binary.BigEndian.PutUint16(req[2:], 0)
	binary.BigEndian.PutUint16(req[4:], 6)
	req[6], req[7] = unit, fc
	binary.BigEndian.PutUint16(req[8:], address)
	binary.BigEndian.PutUint16(req[10:], count)
	if _, err := conn.Write(req); err != nil {
		return nil, err
	}
	// One read normally brings the whole answer; read on until the header's length is in.
	n, err := io.ReadAtLeast(conn, c.buf[:], mbapHeader+1)
	if err != nil {
		return nil, err
	}
	length := int(binary.BigEndian.Uint16(c.buf[4:])) // unit id and PDU
	if length < 2 || mbapHeader-1+length > len(c.buf) {
		return nil, &FrameError{fmt.Sprintf("length %d in the header", length)}
	}
	total := mbapHeader - 1 + length
	if n < total {
		m, err := io.ReadFull(conn, c.buf[n:total])
		if err != nil {
			return nil, err
		}
		n += m
	}
	return parseTCPResponse(c.buf[:n], c.tid, unit, fc, want)
}

// parseTCPResponse checks that adu, a whole answer and nothing more, answers the read of fc
// from unit with transaction id tid, and returns its data (want bytes). An exception
// answer comes back as *ExceptionError.
func parseTCPResponse(adu []byte, tid uint16, unit, fc byte, want int) ([]byte, error) {
	if len(adu) < mbapHeader+1 {
		return nil, &FrameError{fmt.Sprintf("%d bytes", len(adu))}
	}
	length := int(binary.BigEndian.Uint16(adu[4:]))
	pdu := adu[mbapHeader:]
	switch {
	case mbapHeader-1+length != len(adu):
		// More than the frame: nothing should follow an answer while one request is out.
		return nil, &FrameError{fmt.Sprintf("length %d in the header, %d bytes received", length, len(adu)-mbapHeader+1)}
	case binary.BigEndian.Uint16(adu) != tid:
		return nil, &FrameError{fmt.Sprintf("transaction %d, want %d", binary.BigEndian.Uint16(adu), tid)}
	case binary.BigEndian.Uint16(adu[2:]) != 0:
		return nil, &FrameError{fmt.Sprintf("protocol %d, want 0", binary.BigEndian.Uint16(adu[2:]))}
	case adu[6] != unit:
		return nil, &FrameError{fmt.Sprintf("unit %d, want %d", adu[6], unit)}
	case pdu[0] == fc|0x80:
		if len(pdu) != 2 {
			return nil, &FrameError{fmt.Sprintf("exception of %d bytes", len(pdu))}
		}
		return nil, &ExceptionError{Function: fc, Code: pdu[1]}
	case pdu[0] != fc:
		return nil, &FrameError{fmt.Sprintf("function %d, want %d", pdu[0], fc)}
	case len(pdu) < 2:
		return nil, &FrameError{"a PDU of 1 byte: no byte count"}
	case int(pdu[1]) != len(pdu)-2:
		return nil, &FrameError{fmt.Sprintf("byte count %d in a PDU of %d bytes", pdu[1], len(pdu))}
	case len(pdu)-2 != want:
		return nil, &FrameError{fmt.Sprintf("got %d bytes, want %d", len(pdu)-2, want)}
	}
	return pdu[2:], nil
}

// drop closes conn if it is still the current connection.
func (c *tcpConn) drop(conn net.Conn) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn == conn {
		c.conn.Close()
		c.conn = nil
	}
}

func (c *tcpConn) Disconnect() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn == nil {
		return nil
	}
	err := c.conn.Close()
	c.conn = nil
	return err
}

// Close may run while a read is under way (from another goroutine): closing the connection
// ends that read at once.
func (c *tcpConn) Close() error {
	c.closed.Store(true)
	return c.Disconnect()
}
