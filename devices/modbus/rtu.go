package modbus

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// RTU framing, as on an RS-485 line and as serial-to-Ethernet converters pass it through a
// TCP socket: unit id, PDU, CRC-16/Modbus (low byte first). Unlike Modbus TCP there is no
// transaction id, so nothing in an answer tells which request it belongs to; only timing
// does. Hence after any failure the link is dropped and, on the next one, bytes that arrive
// before the request is sent are discarded (see rtuConn.drain).

// rtuMaxFrame is the largest RTU frame: unit, function, 252 data bytes, CRC.
const rtuMaxFrame = 256

// crc16 is the Modbus CRC (polynomial 0xA001 reflected, initial value 0xFFFF).
func crc16(b []byte) uint16 {
	crc := uint16(0xFFFF)
	for _, c := range b {
		crc ^= uint16(c)
		for range 8 {
			if crc&1 != 0 {
				crc = crc>>1 ^ 0xA001
			} else {
				crc >>= 1
			}
		}
	}
	return crc
}

// functionCode is the read's Modbus function code.
func functionCode(function string) byte {
	switch function {
	case "coil":
		return 1
	case "discrete":
		return 2
	case "holding":
		return 3
	case "input":
		return 4
	}
	return 0
}

// appendReadRequest appends the RTU frame of a read of count registers or bits at address.
func appendReadRequest(dst []byte, unit, fc byte, address, count uint16) []byte {
	start := len(dst)
	dst = append(dst, unit, fc, byte(address>>8), byte(address), byte(count>>8), byte(count))
	crc := crc16(dst[start:])
	return append(dst, byte(crc), byte(crc>>8))
}

// FrameError is an answer that is not the answer to the request: a broken CRC, another unit
// or function, a wrong length. The stream is out of step; the connection is dropped.
type FrameError struct {
	Reason string
}

func (e *FrameError) Error() string { return "bad response frame: " + e.Reason }

// readRTUResponse reads the RTU answer to a read of fc from unit whose data is want bytes,
// into buf (at least rtuMaxFrame bytes), and returns the data. An exception answer comes
// back as *ExceptionError. It reads exactly one frame and nothing after it.
func readRTUResponse(r io.Reader, buf []byte, unit, fc byte, want int) ([]byte, error) {
	if _, err := io.ReadFull(r, buf[:3]); err != nil {
		return nil, err
	}
	switch {
	case buf[0] != unit:
		return nil, &FrameError{fmt.Sprintf("unit %d, want %d", buf[0], unit)}
	case buf[1] == fc|0x80:
		if _, err := io.ReadFull(r, buf[3:5]); err != nil {
			return nil, err
		}
		if err := checkCRC(buf[:5]); err != nil {
			return nil, err
		}
		return nil, &ExceptionError{Function: fc, Code: buf[2]}
	case buf[1] != fc:
		return nil, &FrameError{fmt.Sprintf("function %d, want %d", buf[1], fc)}
	case int(buf[2]) != want:
		return nil, &FrameError{fmt.Sprintf("%d data bytes, want %d", buf[2], want)}
	}
	n := 3 + want + 2
	if _, err := io.ReadFull(r, buf[3:n]); err != nil {
		return nil, err
	}
	if err := checkCRC(buf[:n]); err != nil {
		return nil, err
	}
	return buf[3 : 3+want], nil
}

func checkCRC(frame []byte) error {
	n := len(frame)
	got := uint16(frame[n-2]) | uint16(frame[n-1])<<8
	if want := crc16(frame[:n-2]); got != want {
		return &FrameError{fmt.Sprintf("CRC %04X, want %04X", got, want)}
	}
	return nil
}

// link is a byte stream to an RTU bus: a TCP socket to a converter, or a serial port.
type link interface {
	io.ReadWriteCloser
	SetDeadline(t time.Time) error
}

// afterFailureQuiet is how long a fresh link must stay silent, after a failed request,
// before the next request is sent (at most a quarter of the request timeout, which it
// spends). A meter's late answer to the failed request may still come through a
// converter's buffer; bytes arriving in this window are discarded. A late answer arriving
// after it cannot be told from the right one: RTU has no transaction ids.
const afterFailureQuiet = 100 * time.Millisecond

// rtuConn is a Conn over RTU framing.
type rtuConn struct {
	name    string // the URL, for errors
	dial    func(timeout time.Duration) (link, error)
	opts    Options
	charGap time.Duration // least silence between frames on the line (3.5 characters)

	mu   sync.Mutex // guards link against a concurrent Close
	link link

	closed    atomic.Bool
	suspect   bool      // the last request failed: its answer may still come
	connected time.Time // when link was dialled
	lastEnd   time.Time // when the last answer ended
	buf       [rtuMaxFrame]byte
	req       [8]byte
}

func (c *rtuConn) ReadRegisters(ctx context.Context, unit byte, function string, address, count uint16) ([]byte, error) {
	return c.AppendRegisters(ctx, nil, unit, function, address, count)
}

// AppendRegisters is ReadRegisters appending the answer to dst.
func (c *rtuConn) AppendRegisters(ctx context.Context, dst []byte, unit byte, function string, address, count uint16) ([]byte, error) {
	fail := func(err error) error { return readError(function, address, count, unit, c.name, err) }
	want, err := checkRead(function, count)
	if err != nil {
		return dst, fail(err)
	}
	if unit == 0 || unit > 247 {
		// 0 is broadcast, which no device answers; 248–255 are reserved on a serial line.
		return dst, fail(errors.New("unit must be 1 to 247 on an RTU line"))
	}
	deadline, err := c.start(ctx)
	if err != nil {
		return dst, fail(err)
	}
	l, fresh, err := c.connect(deadline)
	if err != nil {
		return dst, fail(fmt.Errorf("connect: %w", err))
	}
	data, err := c.exchange(ctx, l, fresh, deadline, unit, functionCode(function), address, count, want)
	c.lastEnd = time.Now()
	if err != nil {
		if _, ok := err.(*ExceptionError); !ok {
			// The stream is in an unknown state: a late answer, half a frame, garbage.
			c.drop(l)
			c.suspect = true
		}
		return dst, fail(err)
	}
	c.suspect = false
	return append(dst, data...), nil
}

// start checks the context and returns the request's deadline.
func (c *rtuConn) start(ctx context.Context) (time.Time, error) {
	if c.closed.Load() {
		return time.Time{}, net.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return time.Time{}, err
	}
	deadline := time.Now().Add(c.opts.Timeout)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	return deadline, nil
}

// connect returns the link, dialling it if there is none; fresh is true for a new link.
func (c *rtuConn) connect(deadline time.Time) (l link, fresh bool, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed.Load() {
		return nil, false, net.ErrClosed
	}
	if c.link != nil {
		return c.link, false, nil
	}
	timeout := time.Until(deadline)
	if timeout <= 0 {
		return nil, false, context.DeadlineExceeded
	}
	if c.link, err = c.dial(timeout); err != nil {
		return nil, false, err
	}
	c.connected = time.Now()
	return c.link, true, nil
}

// exchange sends one request and reads its answer.
func (c *rtuConn) exchange(ctx context.Context, l link, fresh bool, deadline time.Time, unit, fc byte, address, count uint16, want int) ([]byte, error) {
	// Silence before the request: the device's settling time after a connect, the line's
	// inter-frame gap or the device's pause, and after a failure the quiet window.
	wait := time.Time{}
	if fresh {
		wait = c.connected.Add(c.opts.PauseAfterConnect)
	}
	if !c.lastEnd.IsZero() {
		wait = later(wait, c.lastEnd.Add(max(c.charGap, c.opts.PauseBetweenRequests)))
	}
	if err := sleepUntil(ctx, wait, deadline); err != nil {
		return nil, err
	}
	if c.suspect {
		if err := c.drain(ctx, l, deadline); err != nil {
			return nil, err
		}
	}
	if err := l.SetDeadline(deadline); err != nil {
		return nil, err
	}
	if _, err := l.Write(appendReadRequest(c.req[:0], unit, fc, address, count)); err != nil {
		return nil, err
	}
	data, err := readRTUResponse(l, c.buf[:], unit, fc, want)
	if err != nil {
		return nil, err
	}
	return data, nil // c.buf's: valid until the next request
}

// drain discards whatever arrives until the link has been quiet for afterFailureQuiet.
func (c *rtuConn) drain(ctx context.Context, l link, deadline time.Time) error {
	var scratch [rtuMaxFrame]byte
	quiet := min(afterFailureQuiet, c.opts.Timeout/4)
	for {
		quietUntil := time.Now().Add(quiet)
		if quietUntil.After(deadline) {
			return fmt.Errorf("link not quiet after a failed request: %w", context.DeadlineExceeded)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := l.SetDeadline(quietUntil); err != nil {
			return err
		}
		n, err := l.Read(scratch[:])
		switch {
		case isTimeout(err):
			return nil
		case err != nil:
			return err
		case n == 0:
			return io.ErrUnexpectedEOF
		}
	}
}

// drop closes l if it is still the current link.
func (c *rtuConn) drop(l link) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.link == l {
		c.link.Close()
		c.link = nil
	}
}

func (c *rtuConn) Disconnect() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.link == nil {
		return nil
	}
	err := c.link.Close()
	c.link = nil
	return err
}

func (c *rtuConn) Close() error {
	c.closed.Store(true)
	return c.Disconnect()
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
