package modbus

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestParseURL(t *testing.T) {
	def := Serial{Baud: 9600, DataBits: 8, Parity: "N", StopBits: 1}
	tests := []struct {
		url  string
		want Endpoint
		err  string
	}{
		{"tcp://127.0.0.1:5020", Endpoint{Scheme: "tcp", Addr: "127.0.0.1:5020"}, ""},
		{"tcp://meter.local:502/", Endpoint{Scheme: "tcp", Addr: "meter.local:502"}, ""},
		{"tcp://[::1]:502", Endpoint{Scheme: "tcp", Addr: "[::1]:502"}, ""},
		{"rtuovertcp://10.0.0.7:4001", Endpoint{Scheme: "rtuovertcp", Addr: "10.0.0.7:4001"}, ""},
		{"rtu:///dev/ttyUSB0", Endpoint{Scheme: "rtu", Addr: "/dev/ttyUSB0", Serial: def}, ""},
		{"rtu:///dev/ttyUSB0?baud=19200&parity=E&stop=1&data=8", Endpoint{Scheme: "rtu", Addr: "/dev/ttyUSB0",
			Serial: Serial{Baud: 19200, DataBits: 8, Parity: "E", StopBits: 1}}, ""},
		{"rtu:///dev/ttyS1?parity=odd&stop=2&data=7", Endpoint{Scheme: "rtu", Addr: "/dev/ttyS1",
			Serial: Serial{Baud: 9600, DataBits: 7, Parity: "O", StopBits: 2}}, ""},
		{"rtu://COM3?baud=4800", Endpoint{Scheme: "rtu", Addr: "COM3", Serial: Serial{Baud: 4800, DataBits: 8, Parity: "N", StopBits: 1}}, ""},
		{"tcp://127.0.0.1", Endpoint{}, "want tcp://host:port"},
		{"tcp://:502", Endpoint{}, "want tcp://host:port"},
		{"tcp://host:99999", Endpoint{}, `port "99999"`},
		{"tcp://host:502/path", Endpoint{}, "want tcp://host:port"},
		{"tcp://host:502?unit=1", Endpoint{}, "want tcp://host:port"},
		{"rtuovertcp://host", Endpoint{}, "want rtuovertcp://host:port"},
		{"udp://host:502", Endpoint{}, "want tcp://host:port, rtuovertcp://host:port or rtu://"},
		{"127.0.0.1:502", Endpoint{}, "endpoint url"},
		{"rtu://", Endpoint{}, "want rtu:///dev/ttyUSB0"},
		{"rtu:///dev/ttyUSB0?baud=9601", Endpoint{}, `baud "9601"`},
		{"rtu:///dev/ttyUSB0?parity=X", Endpoint{}, `parity "X"`},
		{"rtu:///dev/ttyUSB0?stop=3", Endpoint{}, `stop "3"`},
		{"rtu:///dev/ttyUSB0?data=9", Endpoint{}, `data "9"`},
		{"rtu:///dev/ttyUSB0?speed=9600", Endpoint{}, `unknown parameter "speed"`},
		{"rtu:///dev/ttyUSB0?baud=9600&baud=4800", Endpoint{}, "baud given 2 times"},
	}
	for _, tt := range tests {
		got, err := ParseURL(tt.url)
		switch {
		case tt.err != "":
			if err == nil || !strings.Contains(err.Error(), tt.err) || !strings.Contains(err.Error(), tt.url) {
				t.Errorf("ParseURL(%s) error %v, want %q naming the url", tt.url, err, tt.err)
			}
		case err != nil || got != tt.want:
			t.Errorf("ParseURL(%s) = %+v, %v; want %+v", tt.url, got, err, tt.want)
		}
	}
	e, _ := ParseURL("rtu:///dev/ttyUSB0")
	if s := e.String(); s != "rtu:///dev/ttyUSB0?baud=9600&parity=N&stop=1&data=8" {
		t.Errorf("String = %s", s)
	}
}

func TestDial(t *testing.T) {
	for _, tt := range []struct {
		url  string
		want string // the Conn's type
	}{
		{"tcp://127.0.0.1:1", "*modbus.tcpConn"},
		{"rtuovertcp://127.0.0.1:1", "*modbus.rtuConn"},
		{"rtu:///dev/nonexistent-tty", "*modbus.rtuConn"},
	} {
		c, err := Dial(tt.url, 0) // nothing is dialled yet
		if err != nil {
			t.Fatalf("Dial(%s): %v", tt.url, err)
		}
		if got := fmt.Sprintf("%T", c); got != tt.want {
			t.Errorf("Dial(%s) = %s, want %s", tt.url, got, tt.want)
		}
		c.Close()
	}
	if _, err := Dial("udp://x:1", time.Second); err == nil {
		t.Error("Dial of an unknown scheme succeeded")
	}
}

func TestFrameGap(t *testing.T) {
	for _, tt := range []struct {
		s    Serial
		want time.Duration
	}{
		{Serial{Baud: 9600, DataBits: 8, Parity: "N", StopBits: 1}, 3645833 * time.Nanosecond}, // 3.5 × 10 bits
		{Serial{Baud: 9600, DataBits: 8, Parity: "E", StopBits: 1}, 4010416 * time.Nanosecond}, // 3.5 × 11 bits
		{Serial{Baud: 115200, DataBits: 8, Parity: "N", StopBits: 1}, 1750 * time.Microsecond},
	} {
		if got := frameGap(tt.s); got != tt.want {
			t.Errorf("frameGap(%+v) = %v, want %v", tt.s, got, tt.want)
		}
	}
}
