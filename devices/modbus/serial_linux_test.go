package modbus

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

// openPTY returns the master side of a new pseudo-terminal and the path of its slave, which
// the rtu:// transport opens like any serial port.
func openPTY(t *testing.T) (*os.File, string) {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	t.Cleanup(func() { master.Close() })
	ioctl := func(req uintptr, arg unsafe.Pointer) {
		t.Helper()
		if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, master.Fd(), req, uintptr(arg)); errno != 0 {
			t.Fatalf("ioctl %#x: %v", req, errno)
		}
	}
	var unlock int32
	ioctl(syscall.TIOCSPTLCK, unsafe.Pointer(&unlock))
	var n uint32
	ioctl(syscall.TIOCGPTN, unsafe.Pointer(&n))
	return master, fmt.Sprintf("/dev/pts/%d", n)
}

// The rtu:// transport over a real tty: byte-exact request, answer decoded, exception kept,
// and a garbled answer costs a reopen of the port.
func TestSerialRTU(t *testing.T) {
	master, slave := openPTY(t)
	c, err := Dial("rtu://"+slave+"?baud=19200&parity=E", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	type step struct {
		request string // what the meter must receive
		reply   []byte
	}
	steps := []step{
		{"01 04 00 00 00 02 71 CB", frame(t, "01 04 04 43 66 33 34")},
		{"01 04 00 00 00 02 71 CB", frame(t, "01 84 02")},
		{"01 04 00 00 00 02 71 CB", hexBytes(t, "01 04 04 43 66 33 34 00 00")}, // bad CRC
		{"01 04 00 00 00 02 71 CB", frame(t, "01 04 04 43 66 33 35")},
	}
	meter := make(chan error, 1)
	go func() {
		for _, s := range steps {
			req := make([]byte, 8)
			if _, err := io.ReadFull(hangupTolerant{master}, req); err != nil {
				meter <- err
				return
			}
			if want := hexBytes(t, s.request); !bytes.Equal(req, want) {
				meter <- fmt.Errorf("meter got % X, want % X", req, want)
				return
			}
			if _, err := master.Write(s.reply); err != nil {
				meter <- err
				return
			}
		}
		meter <- nil
	}()

	ctx := context.Background()
	got, err := c.ReadRegisters(ctx, 1, "input", 0, 2)
	if err != nil || !bytes.Equal(got, hexBytes(t, "43 66 33 34")) {
		t.Errorf("read 1 = % X, %v", got, err)
	}
	if _, err := c.ReadRegisters(ctx, 1, "input", 0, 2); ErrorKind(err) != "exception" {
		t.Errorf("read 2: error %v, want the exception", err)
	}
	if _, err := c.ReadRegisters(ctx, 1, "input", 0, 2); ErrorKind(err) != "frame" {
		t.Errorf("read 3: error %v (%s), want a frame error", err, ErrorKind(err))
	}
	got, err = c.ReadRegisters(ctx, 1, "input", 0, 2)
	if err != nil || !bytes.Equal(got, hexBytes(t, "43 66 33 35")) {
		t.Errorf("read 4 = % X, %v", got, err)
	}
	if err := <-meter; err != nil {
		t.Fatal(err)
	}
}

// hangupTolerant reads the master side of a pty across the slave's close and reopen: while
// no process holds the slave open, the master reads EIO.
type hangupTolerant struct{ f *os.File }

func (h hangupTolerant) Read(b []byte) (int, error) {
	for {
		n, err := h.f.Read(b)
		if !errors.Is(err, syscall.EIO) {
			return n, err
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestSerialOpenFails(t *testing.T) {
	c, err := Dial("rtu:///dev/nonexistent-tty-for-parkcarbon", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.ReadRegisters(context.Background(), 1, "input", 0, 2); err == nil || ErrorKind(err) != "connection" {
		t.Errorf("error %v (%s), want a connection error naming the port", err, ErrorKind(err))
	}
}
