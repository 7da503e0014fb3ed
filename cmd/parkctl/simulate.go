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
	listen := fs.String("listen", "127.0.0.1:5020", "TCP listen address")
	units := fs.String("units", "1-20", "unit ids to simulate: a range 1-20 or a list 1,2,5")
	protocol := fs.String("protocol", "tcp", "framing: tcp (Modbus TCP) or rtuovertcp (RTU frames over TCP, as serial-to-Ethernet converters speak)")
	name := fs.String("profile", "", "serve this profile's register map instead of the Eastron SDM630's (parkctl profiles lists them)")
	dir := fs.String("profiles", "", "folder of your own profiles, which take precedence over the built-in ones")
	_ = fs.Parse(args)
	ids, err := parseUnits(*units)
	if err != nil {
		return err
	}
	if *protocol != "tcp" && *protocol != "rtuovertcp" {
		return fmt.Errorf("simulate: --protocol %q: want tcp or rtuovertcp", *protocol)
	}
	cfg := simulator.Config{Addr: *listen, Units: ids, Protocol: *protocol}
	what := "Eastron SDM630"
	if *name != "" {
		// The simulator serves any register map, so a site's own profile
		// can be tried before a real meter is at hand.
		if cfg.Profile, err = lookupProfile(*name, *dir); err != nil {
			return fmt.Errorf("simulate: %w", err)
		}
		what = cfg.Profile.Name
	}
	sim, err := simulator.Start(ctx, cfg)
	if err != nil {
		return fmt.Errorf("simulate: %w", err)
	}
	defer sim.Close()
	fmt.Printf("serving %d simulated %s meters (units %s) on modbus %s://%s\n", len(ids), what, *units, *protocol, sim.Addr())
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
