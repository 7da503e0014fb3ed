package modbus

import (
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Endpoint is a parsed endpoint URL:
//
//	tcp://host:port                  Modbus TCP (a meter, or a TCP gateway)
//	rtuovertcp://host:port           RTU frames through a TCP socket (serial-to-Ethernet converter)
//	rtu:///dev/ttyUSB0?baud=9600&parity=N&stop=1&data=8
//	                                 RTU on a local serial port; the query is optional
//	                                 (defaults 9600 baud, 8 data bits, no parity, 1 stop bit)
type Endpoint struct {
	Scheme string // tcp, rtuovertcp or rtu
	Addr   string // host:port, or the serial device
	Serial Serial // rtu only
}

// Serial is a serial port's line settings.
type Serial struct {
	Baud     int
	DataBits int    // 7 or 8
	Parity   string // N, E or O
	StopBits int    // 1 or 2
}

// Defaults of an rtu:// URL: what most meters ship with.
const (
	defaultBaud     = 9600
	defaultDataBits = 8
	defaultParity   = "N"
	defaultStopBits = 1
)

// ParseURL parses an endpoint URL (see Endpoint).
func ParseURL(rawURL string) (Endpoint, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return Endpoint{}, fmt.Errorf("endpoint url %q: %w", rawURL, err)
	}
	bad := func(format string, args ...any) (Endpoint, error) {
		return Endpoint{}, fmt.Errorf("endpoint url %q: %s", rawURL, fmt.Sprintf(format, args...))
	}
	switch u.Scheme {
	case "tcp", "rtuovertcp":
		if u.Hostname() == "" || u.Port() == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
			return bad("want %s://host:port", u.Scheme)
		}
		if p, err := strconv.Atoi(u.Port()); err != nil || p < 1 || p > 65535 {
			return bad("port %q: want 1 to 65535", u.Port())
		}
		return Endpoint{Scheme: u.Scheme, Addr: u.Host}, nil
	case "rtu":
		dev := u.Path
		if u.Host != "" { // rtu://COM3 on Windows
			dev = u.Host + u.Path
		}
		if dev == "" || dev == "/" {
			return bad("want rtu:///dev/ttyUSB0?baud=9600&parity=N&stop=1&data=8")
		}
		s, err := parseSerial(u.Query())
		if err != nil {
			return bad("%v", err)
		}
		return Endpoint{Scheme: "rtu", Addr: dev, Serial: s}, nil
	}
	return bad("want tcp://host:port, rtuovertcp://host:port or rtu:///dev/ttyUSB0?baud=9600")
}

func parseSerial(q url.Values) (Serial, error) {
	s := Serial{Baud: defaultBaud, DataBits: defaultDataBits, Parity: defaultParity, StopBits: defaultStopBits}
	for key, vals := range q {
		if len(vals) != 1 {
			return s, fmt.Errorf("%s given %d times", key, len(vals))
		}
		v := vals[0]
		var err error
		switch key {
		case "baud":
			s.Baud, err = strconv.Atoi(v)
			if err != nil || !slices.Contains([]int{1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200}, s.Baud) {
				return s, fmt.Errorf("baud %q: want 1200, 2400, 4800, 9600, 19200, 38400, 57600 or 115200", v)
			}
		case "data":
			s.DataBits, err = strconv.Atoi(v)
			if err != nil || s.DataBits != 7 && s.DataBits != 8 {
				return s, fmt.Errorf("data %q: want 7 or 8", v)
			}
		case "stop":
			s.StopBits, err = strconv.Atoi(v)
			if err != nil || s.StopBits != 1 && s.StopBits != 2 {
				return s, fmt.Errorf("stop %q: want 1 or 2", v)
			}
		case "parity":
			switch strings.ToUpper(v) {
			case "N", "NONE":
				s.Parity = "N"
			case "E", "EVEN":
				s.Parity = "E"
			case "O", "ODD":
				s.Parity = "O"
			default:
				return s, fmt.Errorf("parity %q: want N, E or O", v)
			}
		default:
			return s, fmt.Errorf("unknown parameter %q (want baud, data, parity, stop)", key)
		}
	}
	return s, nil
}

// String is the endpoint as a URL, with the serial defaults spelt out.
func (e Endpoint) String() string {
	if e.Scheme != "rtu" {
		return e.Scheme + "://" + e.Addr
	}
	return fmt.Sprintf("rtu://%s?baud=%d&parity=%s&stop=%d&data=%d", e.Addr, e.Serial.Baud, e.Serial.Parity, e.Serial.StopBits, e.Serial.DataBits)
}

// Dial returns a connection to the endpoint rawURL names (see Endpoint), with timeout per
// request (0: DefaultTimeout). Nothing is dialled until the first read; every failed read
// other than an exception drops the connection, and the next read connects anew.
func Dial(rawURL string, timeout time.Duration) (Conn, error) {
	return DialWith(rawURL, Options{Timeout: timeout})
}

// DialWith is Dial with all options.
func DialWith(rawURL string, o Options) (Conn, error) {
	e, err := ParseURL(rawURL)
	if err != nil {
		return nil, err
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	switch e.Scheme {
	case "tcp":
		return dialTCP(e.Addr, e.String(), o), nil
	case "rtuovertcp":
		return &rtuConn{name: e.String(), opts: o, dial: func(timeout time.Duration) (link, error) {
			return dialSocket(e.Addr, timeout)
		}}, nil
	default: // rtu
		return &rtuConn{name: e.String(), opts: o, charGap: frameGap(e.Serial), dial: func(time.Duration) (link, error) {
			return openSerial(e.Addr, e.Serial)
		}}, nil
	}
}

// frameGap is the silence that ends a frame on a serial line: 3.5 character times, and at
// least 1.75 ms above 19200 baud (Modbus over Serial Line, 2.5.1.1).
func frameGap(s Serial) time.Duration {
	if s.Baud > 19200 {
		return 1750 * time.Microsecond
	}
	bits := 1 + s.DataBits + s.StopBits // start, data, stop
	if s.Parity != "N" {
		bits++
	}
	return time.Duration(float64(time.Second) * 3.5 * float64(bits) / float64(s.Baud))
}
