// Command edge-agent runs on a factory gateway: it polls the meters of
// edge.yaml and publishes their readings to the park's broker.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"sync"
	"syscall"
	// Sensor mappings name time zones (Tasmota sends local time); a gateway
	// image may have no zoneinfo.
	_ "time/tzdata"

	"github.com/parkcarbon/parkcarbon/collector/edge"
	"github.com/parkcarbon/parkcarbon/internal/admin"
	"github.com/parkcarbon/parkcarbon/internal/exepages"
	"github.com/parkcarbon/parkcarbon/internal/logging"
)

func main() {
	configPath := flag.String("config", "edge.yaml", "path of the edge agent's YAML config")
	check := flag.Bool("config.check", false, "validate the config and exit")
	profile := flag.Bool("pprof", false, "serve Go profiles under /debug/pprof/ on the metrics listener")
	flag.Parse()
	if !*profile {
		// Heap profiling samples allocations into a bucket table (1.4 MB,
		// its touched pages resident for good); only -pprof reads it.
		runtime.MemProfileRate = 0
	}
	if err := run(*configPath, *check, *profile); err != nil {
		fmt.Fprintln(os.Stderr, "edge-agent:", err)
		os.Exit(1)
	}
}

func run(configPath string, check, profile bool) error {
	cfg, warnings, err := edge.LoadConfig(configPath)
	if err != nil {
		return err
	}
	if check {
		fmt.Printf("%s: ok\n", configPath)
		return nil
	}
	log, err := logging.New(os.Stderr, cfg.Log.Format, cfg.Log.Level)
	if err != nil {
		return err
	}
	// The environment's GOMAXPROCS and GOGC, if set, are Go's own knobs:
	// they win.
	if n := cfg.Runtime.Procs(); n > 0 && os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(n)
	}
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(cfg.Runtime.GOGC())
	}
	for _, w := range warnings {
		log.Warn(w)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	reg := admin.NewRegistry()
	agent, err := edge.New(cfg, log, reg)
	if err != nil {
		return err
	}
	srv, err := admin.Listen(cfg.Metrics.Listen, reg)
	if err != nil {
		return err
	}
	if profile {
		srv.Profile("")
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := srv.Serve(ctx, log); err != nil {
			log.Error("admin server", "err", err)
		}
	})
	if cfg.Runtime.ReleasePages() {
		// Start-up is over: config, profiles, store, metrics and listener.
		if n, err := exepages.Release(); err != nil {
			log.Info("start-up pages of the binary kept", "err", err)
		} else {
			log.Debug("start-up pages of the binary released", "bytes", n)
		}
	}
	err = agent.Run(ctx)
	stop()
	wg.Wait()
	log.Info("edge agent stopped")
	return err
}
