package modbus

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"time"
)

// Conn is one connection to one endpoint (a meter, a gateway in front of several, or a
// serial bus). Calls are serialized by the caller. The project talks to Modbus only through
// Conn, so the library behind it can be swapped.
type Conn interface {
	// ReadRegisters reads count registers (function holding or input) or count bits (coil or
	// discrete, packed eight to a byte, lowest address in the lowest bit) from unit.
	ReadRegisters(ctx context.Context, unit byte, function string, address, count uint16) ([]byte, error)
	// Disconnect drops the connection, if any; the next read connects anew. For devices
	// that serve one master at a time (close_after_cycle).
	Disconnect() error
	// Close drops the connection for good: later reads fail with net.ErrClosed.
	Close() error
}

// Options tune a connection; the zero value is usable.
type Options struct {
	// Timeout bounds each request, and the connect before it (0: DefaultTimeout). A context
	// deadline shortens it further.
	Timeout time.Duration
	// PauseAfterConnect is waited after connecting, before the first request, for devices
	// that drop requests sent too early.
	PauseAfterConnect time.Duration
	// PauseBetweenRequests is the least silence between an answer and the next request.
	PauseBetweenRequests time.Duration
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

// ErrorKind classifies an error of ReadRegisters for metrics and logs: "exception" (the
// device refused; the connection is kept), "timeout" (no complete answer in time),
// "frame" (an answer that does not fit the request), "closed" (Close was called),
// "canceled" (the caller's context ended) or "connection" (anything else on the way).
func ErrorKind(err error) string {
	var exc *ExceptionError
	var frame *FrameError
	switch {
	case err == nil:
		return ""
	case errors.As(err, &exc):
		return "exception"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, net.ErrClosed):
		return "closed"
	case isTimeout(err) || errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.As(err, &frame):
		return "frame"
	}
	return "connection"
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}

// DefaultTimeout bounds one request, and the dial before it, when none is given.
const DefaultTimeout = 3 * time.Second

// idleTimeout: a connection unused this long is redialled before the next request, as
// gateways and NAT routers drop idle connections without telling.
const idleTimeout = time.Minute

// sleepUntil waits until t, unless ctx ends or t lies past deadline.
func sleepUntil(ctx context.Context, t, deadline time.Time) error {
	d := time.Until(t)
	if d <= 0 {
		return nil
	}
	if t.After(deadline) {
		return context.DeadlineExceeded
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
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

// checkRead validates a read's function and count, and returns the data bytes it answers.
func checkRead(function string, count uint16) (want int, err error) {
	limit, want := MaxRegisters, 2*int(count)
	switch function {
	case "input", "holding":
	case "coil", "discrete":
		limit, want = MaxBits, (int(count)+7)/8
	default:
		return 0, fmt.Errorf("unknown function %q", function)
	}
	if count == 0 || int(count) > limit {
		return 0, fmt.Errorf("count must be 1 to %d", limit)
	}
	return want, nil
}
