package modbus

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/parkcarbon/parkcarbon/devices/profile"
)

// fakeConn answers from a fixed image of registers and bits, and records the reads.
type fakeConn struct {
	regs  map[uint16]uint16 // holding and input share the image
	bits  map[uint16]bool
	reads []string
	err   error
	short bool // answer one byte less than asked
}

func (f *fakeConn) ReadRegisters(_ context.Context, unit byte, function string, address, count uint16) ([]byte, error) {
	f.reads = append(f.reads, function)
	if f.err != nil {
		return nil, f.err
	}
	var out []byte
	if function == "coil" || function == "discrete" {
		out = make([]byte, (count+7)/8)
		for i := range count {
			if f.bits[address+i] {
				out[i/8] |= 1 << (i % 8)
			}
		}
	} else {
		for i := range count {
			v := f.regs[address+i]
			out = append(out, byte(v>>8), byte(v))
		}
	}
	if f.short {
		out = out[:len(out)-1]
	}
	return out, nil
}

func (f *fakeConn) Close() error      { return nil }
func (f *fakeConn) Disconnect() error { return nil }

func testProfile(regs ...profile.Register) *profile.Profile {
	return &profile.Profile{Name: "test", Energy: "electricity", Registers: regs}
}

func TestReadDevice(t *testing.T) {
	c := &fakeConn{
		regs: map[uint16]uint16{
			0x48: 0x449A, 0x49: 0x5000, // 1234.5 float32
			0x34: 0x459C, 0x35: 0x4000, // 5000 W
			0x100: 0xF9F2, 0x101: 0xFFFF, // -1550 int32 CDAB
		},
		bits: map[uint16]bool{9: true},
	}
	p := testProfile(
		reg("energy_import_total", "input", 0x48, "float32"),
		profile.Register{Quantity: "active_power", Function: "input", Address: 0x34, Type: "float32", Order: "ABCD", Scale: 0.001, Unit: "kW"},
		profile.Register{Quantity: "export_power", Function: "holding", Address: 0x100, Type: "int32", Order: "CDAB", Scale: 1, Unit: "W"},
		reg("running", "coil", 9, "bool"),
		reg("stopped", "coil", 3, "bool"),
	)
	got, err := ReadDevice(context.Background(), c, 1, p, Plan(p.Registers, 30))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{"energy_import_total": 1234.5, "active_power": 5, "export_power": -1550, "running": 1, "stopped": 0}
	if len(got) != len(want) {
		t.Fatalf("got %d samples, want %d: %+v", len(got), len(want), got)
	}
	for _, s := range got {
		if w, ok := want[s.Quantity]; !ok || !near(s.Value, w) {
			t.Errorf("%s = %v, want %v", s.Quantity, s.Value, w)
		}
	}
	if s := got[len(got)-1]; s.Quantity != "energy_import_total" || string(s.Raw) != "\x44\x9A\x50\x00" || s.Unit != "x" {
		t.Errorf("last sample %+v: want energy_import_total with its raw bytes, in plan order", s)
	}
	// Raw is capped, so appending to one sample's bytes cannot overwrite another's.
	power := got[len(got)-2]
	_ = append(power.Raw, 0xEE)
	if got[len(got)-1].Raw[0] != 0x44 {
		t.Error("appending to one Raw changed the next")
	}
	if len(c.reads) != 3 {
		t.Errorf("reads %v, want one per function", c.reads)
	}
}

func TestReadDeviceNilPlan(t *testing.T) {
	c := &fakeConn{regs: map[uint16]uint16{0: 0x08FC, 1: 0x0640}}
	p := testProfile(reg("voltage_l1", "input", 0, "uint16"), reg("current_l1", "input", 1, "uint16"))
	got, err := ReadDevice(context.Background(), c, 1, p, nil)
	if err != nil || len(got) != 2 || got[0].Value != 2300 || got[1].Value != 1600 || len(c.reads) != 1 {
		t.Errorf("ReadDevice = %+v, %v after reads %v", got, err, c.reads)
	}
}

func TestReadDeviceErrors(t *testing.T) {
	p := testProfile(reg("voltage_l1", "input", 0, "float32"))
	boom := errors.New("boom")
	_, err := ReadDevice(context.Background(), &fakeConn{err: boom}, 1, p, nil)
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "profile test") {
		t.Errorf("error %v: want boom wrapped with the profile", err)
	}
	_, err = ReadDevice(context.Background(), &fakeConn{short: true}, 1, p, nil)
	if err == nil || !strings.Contains(err.Error(), "too short") {
		t.Errorf("short answer: error %v", err)
	}
	bad := []Request{{Function: "input", Address: 2, Count: 2, Registers: p.Registers}}
	_, err = ReadDevice(context.Background(), &fakeConn{}, 1, p, bad)
	if err == nil || !strings.Contains(err.Error(), "outside the read") {
		t.Errorf("register outside its request: error %v", err)
	}
}

// imageConn answers every read from one register image without allocating, so a benchmark
// measures ReadDevice rather than its fake.
type imageConn struct{ image []byte }

func (c imageConn) ReadRegisters(_ context.Context, _ byte, _ string, address, count uint16) ([]byte, error) {
	return c.image[2*int(address) : 2*(int(address)+int(count))], nil
}
func (imageConn) Disconnect() error { return nil }
func (imageConn) Close() error      { return nil }

func BenchmarkReadDevice(b *testing.B) {
	c := imageConn{image: make([]byte, 2*0x10000)}
	for i := range c.image {
		c.image[i] = byte(i * 7)
	}
	for _, name := range []string{"eastron-sdm630", "acrel-adl400", "schneider-pm5100"} {
		p := builtin(b, name)
		plan := PlanProfile(p, DefaultMaxGap)
		b.Run(fmt.Sprintf("%s-%dreq-%dregs", name, len(plan), len(p.Registers)), func(b *testing.B) {
			b.ReportAllocs()
			ctx := context.Background()
			for b.Loop() {
				if _, err := ReadDevice(ctx, c, 1, p, plan); err != nil {
					b.Fatal(err)
				}
			}
		})
		// What a bus does: one Reader for every poll.
		b.Run(fmt.Sprintf("%s-reader", name), func(b *testing.B) {
			b.ReportAllocs()
			ctx := context.Background()
			var r Reader
			var conn Conn = c // converted once, as a bus holds its Conn
			for b.Loop() {
				if _, err := r.Read(ctx, conn, 1, p, plan); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
