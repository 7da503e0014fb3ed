package modbus

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"time"

	gmodbus "github.com/goburrow/modbus"
)

// Conn is one connection to one endpoint (a meter, or a gateway in front of several).
// Calls are serialized by the caller. The project talks to Modbus only through Conn, so the
// library behind it can be swapped.
type Conn interface {
	// ReadRegisters reads count registers (function holding or input) or count bits (coil or
	// discrete, packed eight to a byte, lowest address in the lowest bit) from unit.
	ReadRegisters(ctx context.Context, unit byte, function string, address, count uint16) ([]byte, error)
	Close() error
}

// ExceptionError is an exception response: the device understood the request and refused it.
// The connection stays usable.
type ExceptionError struct {
	Function byte // request function code
	Code     byte // exception code, e.g. 2 for illegal data address
}

func (e *ExceptionError) Error() string {
	return fmt.Sprintf("modbus exception %d (%s)", e.Code, exceptionName(e.Code))
}

func exceptionName(code byte) string {
	switch code {
	case 1:
		return "illegal function"
	case 2:
		return "illegal data address"
	case 3:
		return "illegal data value"
	case 4:
		return "server device failure"
	case 5:
		return "acknowledge"
	case 6:
		return "server device busy"
	case 8:
		return "memory parity error"
	case 10:
		return "gateway path unavailable"
	case 11:
		return "gateway target device failed to respond"
	}
	return "unknown exception"
}

// DefaultTimeout bounds one request, and the dial before it, when DialTCP is given none.
const DefaultTimeout = 3 * time.Second

// DialTCP returns a Modbus TCP connection to addr (host:port). It connects on first use and
// reconnects after any failed request. timeout bounds each request (0: DefaultTimeout);
// a context deadline shortens it further.
func DialTCP(addr string, timeout time.Duration) Conn {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	h := gmodbus.NewTCPClientHandler(addr)
	h.Timeout = timeout
	h.IdleTimeout = time.Minute // the library closes idle connections; polls redial
	return &tcpConn{addr: addr, timeout: timeout, handler: h, client: gmodbus.NewClient(h)}
}

type tcpConn struct {
	addr    string
	timeout time.Duration
	handler *gmodbus.TCPClientHandler
	client  gmodbus.Client
	closed  atomic.Bool
}

func (c *tcpConn) ReadRegisters(ctx context.Context, unit byte, function string, address, count uint16) ([]byte, error) {
	what := fmt.Sprintf("read %s %d+%d unit %d from %s", readName(function), address, count, unit, c.addr)
	var read func(address, quantity uint16) ([]byte, error)
	limit, want := MaxRegisters, 2*int(count)
	switch function {
	case "input":
		read = c.client.ReadInputRegisters
	case "holding":
		read = c.client.ReadHoldingRegisters
	case "coil":
		read, limit, want = c.client.ReadCoils, MaxBits, (int(count)+7)/8
	case "discrete":
		read, limit, want = c.client.ReadDiscreteInputs, MaxBits, (int(count)+7)/8
	default:
		return nil, fmt.Errorf("%s: unknown function %q", what, function)
	}
	if count == 0 || int(count) > limit {
		return nil, fmt.Errorf("%s: count must be 1 to %d", what, limit)
	}
	if c.closed.Load() {
		return nil, fmt.Errorf("%s: %w", what, net.ErrClosed)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	// goburrow takes no context: a deadline becomes the request timeout. Cancellation without
	// a deadline therefore takes effect only when the running request ends (within timeout).
	timeout := c.timeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = min(timeout, time.Until(dl))
		if timeout <= 0 {
			return nil, fmt.Errorf("%s: %w", what, context.DeadlineExceeded)
		}
	}
	// Handler fields are per connection; the caller's serialization makes setting them safe.
	c.handler.Timeout = timeout
	c.handler.SlaveId = unit
	if err := c.handler.Connect(); err != nil {
		return nil, fmt.Errorf("%s: connect: %w", what, err)
	}

	data, err := read(address, count)
	var mbErr *gmodbus.ModbusError
	switch {
	case errors.As(err, &mbErr) && mbErr.FunctionCode&0x80 != 0:
		// An exception is a complete, well-formed answer: the stream is in step, keep it.
		return nil, fmt.Errorf("%s: %w", what, &ExceptionError{Function: mbErr.FunctionCode &^ 0x80, Code: mbErr.ExceptionCode})
	case err != nil:
		// After a timeout the late answer may still arrive and would be taken as the answer
		// to the next request (goburrow/modbus #64, #103). Any other failure leaves the stream
		// in an unknown state too. A fresh connection is the only safe continuation.
		c.handler.Close()
		return nil, fmt.Errorf("%s: %w", what, err)
	case len(data) != want:
		c.handler.Close()
		return nil, fmt.Errorf("%s: got %d bytes, want %d", what, len(data), want)
	}
	return data, nil
}

func (c *tcpConn) Close() error {
	c.closed.Store(true)
	return c.handler.Close()
}

// readName names a read as the spec does, for error messages.
func readName(function string) string {
	switch function {
	case "input":
		return "input registers"
	case "holding":
		return "holding registers"
	case "coil":
		return "coils"
	case "discrete":
		return "discrete inputs"
	}
	return function
}
