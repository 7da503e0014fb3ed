package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"go.yaml.in/yaml/v3"

	"github.com/parkcarbon/parkcarbon/devices/modbus"
	"github.com/parkcarbon/parkcarbon/devices/profile"
)

// planFile is the part of edge.yaml the plan depends on. It is decoded here, leniently
// (unknown keys ignored), so the command keeps working whatever else the agent's config
// grows; the agent validates the file itself (edge-agent -config.check).
type planFile struct {
	Gateway  string `yaml:"gateway"`
	Profiles string `yaml:"profiles"` // folder of user profiles, relative to the file
	Modbus   []struct {
		Name    string `yaml:"name"`
		URL     string `yaml:"url"`
		Devices []struct {
			Meter   string `yaml:"meter"`
			Unit    int    `yaml:"unit"`
			Profile string `yaml:"profile"`
			// A device's own quirk overrides, named as in profiles.
			MaxGap                *uint16  `yaml:"max_gap"`
			OneRegisterPerRequest *bool    `yaml:"one_register_per_request"`
			NoReadAcross          []uint16 `yaml:"no_read_across"`
		} `yaml:"devices"`
	} `yaml:"modbus"`
}

// printPlan prints, per endpoint and device, the requests of one poll cycle.
func printPlan(w io.Writer, file, dir string) error {
	data, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("plan: %w", err)
	}
	var cfg planFile
	if err := yaml.Unmarshal(data, &cfg); err != nil {
		return fmt.Errorf("plan: %s: %w", file, err)
	}
	if dir == "" && cfg.Profiles != "" {
		dir = cfg.Profiles
		if !filepath.IsAbs(dir) {
			dir = filepath.Join(filepath.Dir(file), dir)
		}
	}
	user, err := loadUser(dir)
	if err != nil {
		return fmt.Errorf("plan: %w", err)
	}

	fmt.Fprintf(w, "gateway %s (%s)\n", cfg.Gateway, file)
	total, meters := 0, 0
	for _, ep := range cfg.Modbus {
		fmt.Fprintf(w, "\nendpoint %s  %s\n", ep.Name, ep.URL)
		if _, err := modbus.ParseURL(ep.URL); err != nil {
			return fmt.Errorf("plan: endpoint %s: %w", ep.Name, err)
		}
		perEndpoint := 0
		for _, d := range ep.Devices {
			p, err := profile.Lookup(d.Profile, user)
			if err != nil {
				return fmt.Errorf("plan: endpoint %s meter %s: %w", ep.Name, d.Meter, err)
			}
			q := p.Quirks
			if d.MaxGap != nil {
				q.MaxGap = d.MaxGap
			}
			if d.OneRegisterPerRequest != nil {
				q.OneRegisterPerRequest = *d.OneRegisterPerRequest
			}
			if d.NoReadAcross != nil {
				q.NoReadAcross = d.NoReadAcross
			}
			o := modbus.ProfileOptions(q, modbus.DefaultMaxGap)
			plan := modbus.PlanWith(p.Registers, o)
			perEndpoint += len(plan)
			meters++
			fmt.Fprintf(w, "  meter %s  unit %d  profile %s  max gap %d: %s\n", d.Meter, d.Unit, p.Name, o.MaxGap, requests(len(plan)))
			tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "    FUNCTION\tSTART\tCOUNT\tQUANTITIES")
			for _, req := range plan {
				qs := make([]string, len(req.Registers))
				for i, r := range req.Registers {
					qs[i] = r.Quantity
				}
				fmt.Fprintf(tw, "    %s\t0x%04X\t%d\t%s\n", functionName(req.Function), req.Address, req.Count, strings.Join(qs, " "))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
		}
		fmt.Fprintf(w, "  endpoint %s: %s per cycle\n", ep.Name, requests(perEndpoint))
		total += perEndpoint
	}
	fmt.Fprintf(w, "\ntotal: %s per cycle, %s on %s\n", requests(total), plural(meters, "meter"), plural(len(cfg.Modbus), "endpoint"))
	return nil
}
