package modbus

import (
	"net"
	"time"
)

// dialSocket dials a TCP endpoint for Modbus requests: on Linux its reads and
// writes bypass the Go scheduler's system-call hand-off (socket_linux.go).
func dialSocket(addr string, timeout time.Duration) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return nil, err
	}
	return newSocket(c), nil
}
