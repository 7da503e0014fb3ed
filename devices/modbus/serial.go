package modbus

import (
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/goburrow/serial"
)

// serialPoll bounds one blocking read of the port, so deadlines are honoured to this
// precision: the port takes its timeout once, when opened.
const serialPoll = 20 * time.Millisecond

// serialLink gives a serial port the deadline of a net.Conn.
type serialLink struct {
	port     io.ReadWriteCloser
	deadline time.Time
}

func openSerial(dev string, s Serial) (link, error) {
	p, err := serial.Open(&serial.Config{
		Address: dev, BaudRate: s.Baud, DataBits: s.DataBits, Parity: s.Parity, StopBits: s.StopBits,
		Timeout: serialPoll,
	})
	if err != nil {
		return nil, fmt.Errorf("open serial port %s: %w", dev, err)
	}
	return &serialLink{port: p}, nil
}

func (l *serialLink) SetDeadline(t time.Time) error {
	l.deadline = t
	return nil
}

func (l *serialLink) Read(b []byte) (int, error) {
	for {
		if !l.deadline.IsZero() && !time.Now().Before(l.deadline) {
			return 0, os.ErrDeadlineExceeded
		}
		n, err := l.port.Read(b)
		switch {
		case errors.Is(err, serial.ErrTimeout):
			continue // one poll interval without data
		case n == 0 && err == nil:
			return 0, io.EOF // the device hung up
		}
		return n, err
	}
}

func (l *serialLink) Write(b []byte) (int, error) { return l.port.Write(b) }
func (l *serialLink) Close() error                { return l.port.Close() }
