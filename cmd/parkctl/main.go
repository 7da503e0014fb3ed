// Command parkctl is the operator's tool: it runs the local demo park and a
// Modbus meter simulator.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

const usage = `usage: parkctl <command> [flags]

commands:
  demo       run a whole simulated park locally: influxd, Mosquitto, 20 simulated
             meters of 5 enterprises, an edge agent and the collector (Ctrl-C stops all)
  simulate   serve simulated Eastron SDM630 meters over Modbus TCP
  probe      read one meter once (or every --watch) and print every quantity with its raw registers
  plan       print the Modbus requests an edge.yaml makes per poll cycle
  profiles   list the built-in meter profiles and their quantities
  load       publish envelopes at a rate and measure what reaches InfluxDB (throughput, loss, latency)
  validate   check config files (edge, collector, alerts, registry, evaluation, profiles, mappings)
  acl        print a Mosquitto ACL from the enterprise registry: gateways write only their enterprises' topics
  evaluate   compute the per-mu evaluation (亩均效益) of a period from InfluxDB and the registry

Run 'parkctl <command> -h' for a command's flags.
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch cmd, args := os.Args[1], os.Args[2:]; cmd {
	case "demo":
		err = runDemo(ctx, args)
	case "simulate":
		err = runSimulate(ctx, args)
	case "probe":
		err = runProbe(ctx, args)
	case "plan":
		err = runPlan(ctx, args)
	case "profiles":
		err = runProfiles(ctx, args)
	case "evaluate":
		err = runEvaluate(ctx, args)
	case "acl":
		err = runACL(ctx, args)
	case "validate":
		err = runValidate(ctx, args)
	case "load":
		err = runLoad(ctx, args)
	case "help", "-h", "--help":
		fmt.Print(usage)
		return
	default:
		fmt.Fprintf(os.Stderr, "parkctl: unknown command %q\n\n%s", cmd, usage)
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "parkctl:", err)
		os.Exit(1)
	}
}
