package edge

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/parkcarbon/parkcarbon/devices/simulator"
)

// A meter that refuses bridged reads and does not implement one register
// (export energy) still yields every other quantity: the plan steps down to
// one request per register and disables only the refused one.
func TestReadStepsDownOnRefusedAddresses(t *testing.T) {
	sim, err := simulator.Start(t.Context(), simulator.Config{Units: []byte{1}, Strict: true, Refuse: []uint16{0x004A}})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	cfg := ModbusConfig{Name: "strict", URL: "tcp://" + sim.Addr(), Timeout: time.Second, Devices: []DeviceConfig{
		{Meter: "m1", Enterprise: "e1", Unit: 1, Profile: "eastron-sdm630", Interval: time.Second},
	}}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	m := newMetrics(prometheus.NewRegistry())
	b, err := newBus(cfg, nil, newRecorder(discard{}, nil, log, m), log, m)
	if err != nil {
		t.Fatal(err)
	}
	defer b.conn.Close()
	d := b.devices[0]
	if len(d.plan) != 1 {
		t.Fatalf("the SDM630 profile should start as one bridged read, got %d", len(d.plan))
	}
	for poll := range 2 {
		samples, err := b.read(t.Context(), d)
		if err != nil {
			t.Fatalf("poll %d: %v", poll, err)
		}
		got := map[string]bool{}
		for _, s := range samples {
			got[s.Quantity] = true
		}
		if got["energy_export_total"] || !got["energy_import_total"] || !got["voltage_l3"] || len(samples) != len(d.profile.Registers)-1 {
			t.Fatalf("poll %d: got %v", poll, got)
		}
	}
	if d.level != planPerRegister || len(d.plan) != len(d.profile.Registers)-1 {
		t.Fatalf("level %d, %d requests", d.level, len(d.plan))
	}
}

type discard struct{}

func (discard) CommitFramed([][]byte, map[string][]byte) error { return nil }

// Devices of one model share their read plan; a register one of them
// refuses is disabled for that device only.
func TestSharedPlanStaysWhole(t *testing.T) {
	sim, err := simulator.Start(t.Context(), simulator.Config{Units: []byte{1, 2}, Strict: true, Refuse: []uint16{0x004A}})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	one := true
	cfg := ModbusConfig{Name: "strict", URL: "tcp://" + sim.Addr(), Timeout: time.Second, Devices: []DeviceConfig{
		{Meter: "m1", Enterprise: "e1", Unit: 1, Profile: "eastron-sdm630", Interval: time.Second, OneRegisterPerRequest: &one},
		{Meter: "m2", Enterprise: "e1", Unit: 2, Profile: "eastron-sdm630", Interval: time.Second, OneRegisterPerRequest: &one},
	}}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	m := newMetrics(prometheus.NewRegistry())
	b, err := newBus(cfg, nil, newRecorder(discard{}, nil, log, m), log, m)
	if err != nil {
		t.Fatal(err)
	}
	defer b.conn.Close()
	d1, d2 := b.devices[0], b.devices[1]
	n := len(d2.plan)
	if &d1.plan[0] != &d2.plan[0] || d1.profile != d2.profile {
		t.Fatal("devices of one model do not share their plan and profile")
	}
	if _, err := b.read(t.Context(), d1); err != nil {
		t.Fatal(err)
	}
	if len(d1.plan) != n-1 || len(d2.plan) != n {
		t.Fatalf("after m1 refused a register: m1 %d requests, m2 %d, want %d and %d", len(d1.plan), len(d2.plan), n-1, n)
	}
	for _, req := range d2.plan {
		if req.Address == 0x004A {
			return
		}
	}
	t.Fatal("m2's plan lost the register m1 refused")
}
