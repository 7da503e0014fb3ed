package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/parkcarbon/parkcarbon/devices/modbus"
	"github.com/parkcarbon/parkcarbon/devices/profile"
)

type probeArgs struct {
	url     string
	unit    byte
	profile *profile.Profile
	watch   time.Duration // 0: once
	timeout time.Duration
	now     func() time.Time // default time.Now
}

// reading is one row of a probe: a quantity's value and raw bytes, or why it has none.
type reading struct {
	reg profile.Register
	val float64
	raw []byte
	err error
}

// probe reads the meter once, or every watch interval until ctx ends, and prints a table of
// every quantity per round. Once, it fails unless every quantity was read; watching, it
// prints each round's failure and goes on.
func probe(ctx context.Context, w io.Writer, a probeArgs) error {
	if a.now == nil {
		a.now = time.Now
	}
	q := a.profile.Quirks
	c, err := modbus.DialWith(a.url, modbus.Options{
		Timeout: a.timeout, PauseAfterConnect: q.PauseAfterConnect, PauseBetweenRequests: q.PauseBetweenRequests,
	})
	if err != nil {
		return fmt.Errorf("probe: %w", err)
	}
	defer c.Close()
	plan := modbus.PlanProfile(a.profile, modbus.DefaultMaxGap)

	var ticker *time.Ticker
	if a.watch > 0 {
		ticker = time.NewTicker(a.watch)
		defer ticker.Stop()
	}
	for {
		start := a.now()
		rows, sent, err := probeOnce(ctx, c, a.unit, a.profile, plan)
		if q.CloseAfterCycle {
			c.Disconnect()
		}
		fmt.Fprintf(w, "%s unit %d, profile %s (%s): %s in %s, %s\n", a.url, a.unit, a.profile.Name, a.profile.Origin,
			requests(sent), a.now().Sub(start).Round(time.Millisecond), start.UTC().Format(time.RFC3339))
		if err == nil {
			err = printReadings(w, rows)
		}
		if ticker == nil {
			return err
		}
		if err != nil {
			fmt.Fprintln(w, "error:", err)
		}
		fmt.Fprintln(w)
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		}
	}
}

// probeOnce reads every register of plan. A request the meter refuses as an illegal data
// address is retried register by register, so one unsupported quantity shows as such instead
// of hiding its neighbours; an illegal function marks its registers. Any other failure (the
// meter or its gateway failing, the transport) ends the round.
func probeOnce(ctx context.Context, c modbus.Conn, unit byte, p *profile.Profile, plan []modbus.Request) ([]reading, int, error) {
	byQuantity := map[string]reading{}
	sent := 0
	var read func(req modbus.Request, split bool) error
	read = func(req modbus.Request, split bool) error {
		sent++
		samples, err := modbus.ReadDevice(ctx, c, unit, p, []modbus.Request{req})
		var exc *modbus.ExceptionError
		switch {
		case err == nil:
			for i, s := range samples {
				byQuantity[s.Quantity] = reading{reg: req.Registers[i], val: s.Value, raw: s.Raw}
			}
		case !errors.As(err, &exc) || exc.Code != 1 && exc.Code != 2:
			return err
		case exc.Code == 2 && split && len(req.Registers) > 1:
			for _, r := range req.Registers {
				if err := read(modbus.Plan([]profile.Register{r}, 0)[0], false); err != nil {
					return err
				}
			}
		default:
			for _, r := range req.Registers {
				byQuantity[r.Quantity] = reading{reg: r, err: exc}
			}
		}
		return nil
	}
	for _, req := range plan {
		if err := read(req, true); err != nil {
			return nil, sent, err
		}
	}
	rows := make([]reading, 0, len(p.Registers))
	for _, r := range p.Registers { // in the profile's order, as its file lists them
		rows = append(rows, byQuantity[r.Quantity])
	}
	return rows, sent, nil
}

func printReadings(w io.Writer, rows []reading) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "QUANTITY\tVALUE\tUNIT\tREGISTER\tRAW")
	failed := 0
	for _, r := range rows {
		where := fmt.Sprintf("%s 0x%04X", functionName(r.reg.Function), r.reg.Address)
		if r.err != nil {
			failed++
			fmt.Fprintf(tw, "%s\t-\t%s\t%s\t%v\n", r.reg.Quantity, r.reg.Unit, where, r.err)
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.reg.Quantity, display(r.reg, r.val), r.reg.Unit, where, hexWords(r.reg, r.raw))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d quantities refused by the meter", failed, len(rows))
	}
	return nil
}

// hexWords shows raw register bytes as the words on the wire ("449A 5000"), a bit as 0 or 1.
func hexWords(r profile.Register, raw []byte) string {
	if r.Type == "bool" {
		return fmt.Sprint(raw[0])
	}
	words := make([]string, 0, len(raw)/2)
	for i := 0; i+1 < len(raw); i += 2 {
		words = append(words, fmt.Sprintf("%02X%02X", raw[i], raw[i+1]))
	}
	return strings.Join(words, " ")
}
