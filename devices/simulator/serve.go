package simulator

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"time"
)

// Exception codes the simulator answers with.
const (
	excIllegalFunction = 1
	excIllegalAddress  = 2
	excIllegalValue    = 3
	excGatewayTarget   = 11
)

// FaultKind is how a faulty unit (or server) answers.
type FaultKind int

const (
	NoFault   FaultKind = iota
	NoAnswer            // the request is read and never answered: the client times out
	Late                // the answer comes Fault.Delay late, on the same connection
	Exception           // the answer is exception Fault.Code (2 illegal data address, 4 server device failure, …)
	Reset               // half the answer is sent, then the connection is reset
	Garbage             // bytes that are no frame come instead of the answer
)

func (k FaultKind) String() string {
	switch k {
	case NoFault:
		return "none"
	case NoAnswer:
		return "no answer"
	case Late:
		return "late"
	case Exception:
		return "exception"
	case Reset:
		return "reset"
	case Garbage:
		return "garbage"
	}
	return fmt.Sprintf("FaultKind(%d)", int(k))
}

// Fault is injected into every request to a unit until it is changed.
type Fault struct {
	Kind  FaultKind
	Code  byte          // Exception: the code
	Delay time.Duration // Late: how late
}

// garbage is what a Garbage fault sends: no valid MBAP header (protocol id 0xBEEF, length
// 255) and no RTU frame of any unit 1–247 (unit 0xDE).
var garbage = []byte{0xDE, 0xAD, 0xBE, 0xEF, 0x00, 0xFF, 0x13, 0x37}

// SetFault makes unit answer as f says from its next request on; unit 0 sets the fault of
// the whole server, which applies to units without a fault of their own. Fault{} heals.
func (s *Simulator) SetFault(unit byte, f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f.Kind == NoFault {
		delete(s.faults, unit)
		return
	}
	s.faults[unit] = f
}

// Requests is how many requests to unit the simulator has received, answered or not.
func (s *Simulator) Requests(unit byte) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests[unit]
}

// received counts a request and returns the fault to inject into it.
func (s *Simulator) received(unit byte) Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests[unit]++
	if f, ok := s.faults[unit]; ok {
		return f
	}
	return s.faults[0]
}

// serve answers the requests of one connection until it fails or the simulator stops.
func (s *Simulator) serve(c net.Conn) {
	read := s.readTCP
	if s.proto == "rtuovertcp" {
		read = s.readRTU
	}
	for {
		if err := c.SetReadDeadline(time.Now().Add(idleTimeout)); err != nil {
			return
		}
		req, err := read(c)
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				s.log.Printf("simulator %s: %s: %v", s.addr, c.RemoteAddr(), err)
			}
			return
		}
		if req == nil {
			continue // a frame no device answers (bad CRC, broadcast)
		}
		fault := s.received(req.unit)
		pdu := s.answer(req, fault)
		if pdu == nil {
			continue
		}
		if err := s.send(c, req, pdu, fault); err != nil {
			return
		}
	}
}

// request is one decoded request frame.
type request struct {
	tid  uint16 // Modbus TCP transaction id
	unit byte
	pdu  []byte // function code and data
}

// answer returns the response PDU to req, or nil for none.
func (s *Simulator) answer(req *request, f Fault) []byte {
	fc := req.pdu[0]
	exc := func(code byte) []byte { return []byte{fc | 0x80, code} }
	switch f.Kind {
	case NoAnswer:
		return nil
	case Exception:
		return exc(f.Code)
	}
	m, ok := s.meters[req.unit]
	if !ok {
		if s.proto == "tcp" {
			return exc(excGatewayTarget)
		}
		return nil // nobody on the bus answers
	}
	if fc < 1 || fc > 4 {
		return exc(excIllegalFunction) // the simulated meters are read-only
	}
	if len(req.pdu) != 5 {
		return exc(excIllegalValue)
	}
	addr, count := binary.BigEndian.Uint16(req.pdu[1:]), binary.BigEndian.Uint16(req.pdu[3:])
	limit := 125
	if fc <= 2 {
		limit = 2000
	}
	switch {
	case count == 0 || int(count) > limit:
		return exc(excIllegalValue)
	case int(addr)+int(count) > 0x10000:
		return exc(excIllegalAddress)
	}
	st := m.at(s.since())
	data, code := s.image.read(fc, addr, count, &st)
	if code != 0 {
		return exc(code)
	}
	return append([]byte{fc, byte(len(data))}, data...)
}

// send frames pdu as the answer to req and writes it, with f's damage.
func (s *Simulator) send(c net.Conn, req *request, pdu []byte, f Fault) error {
	var frame []byte
	if s.proto == "tcp" {
		frame = binary.BigEndian.AppendUint16(nil, req.tid)
		frame = append(frame, 0, 0)
		frame = binary.BigEndian.AppendUint16(frame, uint16(len(pdu)+1))
		frame = append(frame, req.unit)
		frame = append(frame, pdu...)
	} else {
		frame = appendCRC(append([]byte{req.unit}, pdu...))
	}
	switch f.Kind {
	case Late:
		t := time.NewTimer(f.Delay)
		defer t.Stop()
		select {
		case <-s.done:
			return net.ErrClosed
		case <-t.C:
		}
	case Reset:
		if _, err := c.Write(frame[:len(frame)/2]); err != nil {
			return err
		}
		if tc, ok := c.(*net.TCPConn); ok {
			tc.SetLinger(0) // close sends RST, not FIN
		}
		return errors.New("reset by fault")
	case Garbage:
		frame = garbage
	}
	_, err := c.Write(frame)
	return err
}

// readTCP reads one Modbus TCP request (MBAP header and PDU).
func (s *Simulator) readTCP(c net.Conn) (*request, error) {
	var head [7]byte
	if _, err := io.ReadFull(c, head[:]); err != nil {
		return nil, err
	}
	n := int(binary.BigEndian.Uint16(head[4:]))
	if binary.BigEndian.Uint16(head[2:]) != 0 || n < 2 || n > 254 {
		return nil, fmt.Errorf("bad MBAP header % X", head)
	}
	pdu := make([]byte, n-1)
	if _, err := io.ReadFull(c, pdu); err != nil {
		return nil, err
	}
	return &request{tid: binary.BigEndian.Uint16(head[:]), unit: head[6], pdu: pdu}, nil
}

// readRTU reads one RTU request frame. A frame with a bad CRC or for broadcast gets no
// answer, as on a serial line: it returns nil, nil.
func (s *Simulator) readRTU(c net.Conn) (*request, error) {
	buf := make([]byte, 0, 256)
	head := make([]byte, 2)
	if _, err := io.ReadFull(c, head); err != nil {
		return nil, err
	}
	buf = append(buf, head...)
	var rest int
	switch fc := head[1]; {
	case fc >= 1 && fc <= 6:
		rest = 6 // address, count or value, CRC
	case fc == 15 || fc == 16:
		more := make([]byte, 5) // address, count, byte count
		if _, err := io.ReadFull(c, more); err != nil {
			return nil, err
		}
		buf = append(buf, more...)
		rest = int(more[4]) + 2
	default:
		// The length of an unknown function is unknown: like a serial device, take the
		// silence that follows as the end of the frame.
		c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
		more := make([]byte, 254)
		n, _ := c.Read(more)
		buf = append(buf, more[:n]...)
	}
	if rest > 0 {
		more := make([]byte, rest)
		if _, err := io.ReadFull(c, more); err != nil {
			return nil, err
		}
		buf = append(buf, more...)
	}
	n := len(buf)
	if n < 4 || crc16(buf[:n-2]) != uint16(buf[n-2])|uint16(buf[n-1])<<8 || buf[0] == 0 {
		return nil, nil
	}
	return &request{unit: buf[0], pdu: buf[1 : n-2]}, nil
}

// crc16 is the Modbus CRC. The simulator has its own, apart from the client's in
// devices/modbus, so that a mistake in one shows in tests of the other.
func crc16(b []byte) uint16 {
	crc := uint16(0xFFFF)
	for _, c := range b {
		crc ^= uint16(c)
		for range 8 {
			if crc&1 == 1 {
				crc = (crc >> 1) ^ 0xA001
			} else {
				crc >>= 1
			}
		}
	}
	return crc
}

func appendCRC(frame []byte) []byte {
	crc := crc16(frame)
	return append(frame, byte(crc), byte(crc>>8))
}
