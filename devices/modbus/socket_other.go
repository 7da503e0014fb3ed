//go:build !linux

package modbus

import "net"

func newSocket(c net.Conn) net.Conn { return c }
