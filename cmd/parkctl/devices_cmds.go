package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/parkcarbon/parkcarbon/devices/modbus"
	"github.com/parkcarbon/parkcarbon/devices/profile"
)

// The device commands write to an io.Writer and return errors, so tests run them whole.

func runProbe(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("probe", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: parkctl probe URL --unit N --profile P [--watch 2s] [--timeout 2s] [--profiles DIR]")
		fmt.Fprintln(fs.Output(), "URL: tcp://host:port, rtuovertcp://host:port or rtu:///dev/ttyUSB0?baud=9600&parity=N&stop=1&data=8")
		fs.PrintDefaults()
	}
	unit := fs.Uint("unit", 1, "unit id of the meter, 1-247")
	name := fs.String("profile", "", "the meter's profile (parkctl profiles lists them)")
	dir := fs.String("profiles", "", "folder of your own profiles, which take precedence over the built-in ones")
	watch := fs.Duration("watch", 0, "read again at this interval until Ctrl-C")
	timeout := fs.Duration("timeout", 2*time.Second, "longest wait for one answer")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return ignoreHelp(err)
	}
	switch {
	case len(pos) != 1:
		return errors.New("probe: want one endpoint URL (parkctl probe -h)")
	case *unit < 1 || *unit > 247:
		return fmt.Errorf("probe: unit %d: want 1 to 247", *unit)
	case *name == "":
		return fmt.Errorf("probe: --profile is required (known: %s)", strings.Join(profile.BuiltinNames(), ", "))
	case *watch < 0 || *timeout <= 0:
		return errors.New("probe: --watch and --timeout must be positive")
	}
	p, err := lookupProfile(*name, *dir)
	if err != nil {
		return fmt.Errorf("probe: %w", err)
	}
	return probe(ctx, os.Stdout, probeArgs{url: pos[0], unit: byte(*unit), profile: p, watch: *watch, timeout: *timeout})
}

func runProfiles(_ context.Context, args []string) error {
	fs := flag.NewFlagSet("profiles", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: parkctl profiles [--profiles DIR] [NAME ...]")
		fs.PrintDefaults()
	}
	dir := fs.String("profiles", "", "folder of your own profiles, listed with the built-in ones")
	names, err := parseInterspersed(fs, args)
	if err != nil {
		return ignoreHelp(err)
	}
	return listProfiles(os.Stdout, *dir, names)
}

func runPlan(_ context.Context, args []string) error {
	fs := flag.NewFlagSet("plan", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: parkctl plan [--profiles DIR] edge.yaml")
		fs.PrintDefaults()
	}
	dir := fs.String("profiles", "", "folder of your own profiles (default: the config's profiles key, if any)")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return ignoreHelp(err)
	}
	if len(pos) != 1 {
		return errors.New("plan: want one edge.yaml (parkctl plan -h)")
	}
	return printPlan(os.Stdout, pos[0], *dir)
}

// parseInterspersed parses flags before and after positional arguments ("probe URL --unit 3"),
// which the flag package alone stops at.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

func ignoreHelp(err error) error {
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	return err
}

// lookupProfile finds a profile among the user's (if dir is set) and the built-in ones.
func lookupProfile(name, dir string) (*profile.Profile, error) {
	user, err := loadUser(dir)
	if err != nil {
		return nil, err
	}
	return profile.Lookup(name, user)
}

func loadUser(dir string) (map[string]*profile.Profile, error) {
	if dir == "" {
		return nil, nil
	}
	return profile.LoadDir(dir)
}

// listProfiles prints each profile with its quantities, units and registers.
func listProfiles(w io.Writer, dir string, names []string) error {
	user, err := loadUser(dir)
	if err != nil {
		return fmt.Errorf("profiles: %w", err)
	}
	if len(names) == 0 {
		names = profile.Names(user)
	}
	for i, name := range names {
		p, err := profile.Lookup(name, user)
		if err != nil {
			return fmt.Errorf("profiles: %w", err)
		}
		if i > 0 {
			fmt.Fprintln(w)
		}
		plan := modbus.PlanProfile(p, modbus.DefaultMaxGap)
		fmt.Fprintf(w, "%s (%s, %s): %s\n", p.Name, p.Energy, p.Origin, p.Description)
		fmt.Fprintf(w, "  source: %s\n", p.Source)
		fmt.Fprintf(w, "  quirks: %s\n", quirks(p.Quirks))
		fmt.Fprintf(w, "  %s per poll\n", requests(len(plan)))
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  QUANTITY\tUNIT\tFUNCTION\tADDRESS\tTYPE\tORDER\tSCALE\tOFFSET")
		for _, r := range p.Registers {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t0x%04X\t%s\t%s\t%s\t%s\n", r.Quantity, r.Unit, functionName(r.Function), r.Address,
				r.Type, r.Order, strconv.FormatFloat(r.Scale, 'g', -1, 64), strconv.FormatFloat(r.Offset, 'g', -1, 64))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return nil
}

// quirks spells out a profile's quirk options as its YAML keys.
func quirks(q profile.Quirks) string {
	var s []string
	if q.CloseAfterCycle {
		s = append(s, "close_after_cycle")
	}
	if q.PauseAfterConnect > 0 {
		s = append(s, "pause_after_connect "+q.PauseAfterConnect.String())
	}
	if q.PauseBetweenRequests > 0 {
		s = append(s, "pause_between_requests "+q.PauseBetweenRequests.String())
	}
	if q.OneRegisterPerRequest {
		s = append(s, "one_register_per_request")
	}
	if q.MaxGap != nil {
		s = append(s, fmt.Sprintf("max_gap %d", *q.MaxGap))
	}
	if len(q.NoReadAcross) > 0 {
		var a []string
		for _, b := range q.NoReadAcross {
			a = append(a, fmt.Sprintf("0x%04X", b))
		}
		s = append(s, "no_read_across "+strings.Join(a, ","))
	}
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}

// functionName is the function with its Modbus code, as manuals name it.
func functionName(fn string) string {
	switch fn {
	case "coil":
		return "FC01 coil"
	case "discrete":
		return "FC02 discrete"
	case "holding":
		return "FC03 holding"
	case "input":
		return "FC04 input"
	}
	return fn
}

func requests(n int) string { return plural(n, "request") }

func plural(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return fmt.Sprintf("%d %ss", n, thing)
}

// display formats a value to the precision its register carries: about 7 digits for a
// float32, the scale's decimals for an integer.
func display(r profile.Register, v float64) string {
	switch {
	case math.IsNaN(v) || math.IsInf(v, 0):
		return strconv.FormatFloat(v, 'g', -1, 64)
	case r.Type == "float32":
		return strconv.FormatFloat(v, 'g', 7, 64)
	case r.Type == "float64":
		return strconv.FormatFloat(v, 'g', 15, 64)
	}
	decimals := 0
	if s := math.Abs(r.Scale); s < 1 {
		decimals = int(math.Ceil(-math.Log10(s) - 1e-9))
	}
	return strconv.FormatFloat(v, 'f', decimals, 64)
}
