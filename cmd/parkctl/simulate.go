package main

import (
	"context"
	"flag"
	"fmt"
	"strconv"
	"strings"

	"github.com/parkcarbon/parkcarbon/devices/simulator"
)

func runSimulate(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("simulate", flag.ExitOnError)
	listen := fs.String("listen", "127.0.0.1:5020", "Modbus TCP listen address")
	units := fs.String("units", "1-20", "unit ids to simulate: a range 1-20 or a list 1,2,5")
	_ = fs.Parse(args)
	ids, err := parseUnits(*units)
	if err != nil {
		return err
	}
	sim, err := simulator.Start(ctx, simulator.Config{Addr: *listen, Units: ids})
	if err != nil {
		return err
	}
	defer sim.Close()
	fmt.Printf("serving %d simulated Eastron SDM630 meters (units %s) on modbus tcp://%s\n", len(ids), *units, sim.Addr())
	<-ctx.Done()
	return nil
}

// parseUnits reads "1-20" or "1,2,5" into unit ids 1–247.
func parseUnits(s string) ([]byte, error) {
	var ids []byte
	for part := range strings.SplitSeq(s, ",") {
		lo, hi, isRange := strings.Cut(strings.TrimSpace(part), "-")
		a, err := strconv.Atoi(lo)
		b := a
		if err == nil && isRange {
			b, err = strconv.Atoi(hi)
		}
		if err != nil || a < 1 || b > 247 || a > b {
			return nil, fmt.Errorf("units %q: want ids 1-247 as a range (1-20) or a list (1,2,5)", s)
		}
		for u := a; u <= b; u++ {
			ids = append(ids, byte(u))
		}
	}
	return ids, nil
}
