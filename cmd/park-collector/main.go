// Command park-collector is the park's central service: it takes every
// gateway's readings from the broker, converts consumption into CO2 and
// standard coal, and stores everything in InfluxDB.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/parkcarbon/parkcarbon/collector/central"
	"github.com/parkcarbon/parkcarbon/internal/admin"
	"github.com/parkcarbon/parkcarbon/internal/logging"
)

func main() {
	configPath := flag.String("config", "collector.yaml", "path of the collector's YAML config")
	check := flag.Bool("config.check", false, "validate the config and exit")
	profile := flag.Bool("pprof", false, "serve Go profiles under /debug/pprof/ on http.listen (behind http.token if set)")
	flag.Parse()
	if err := run(*configPath, *check, *profile); err != nil {
		fmt.Fprintln(os.Stderr, "park-collector:", err)
		os.Exit(1)
	}
}

func run(configPath string, check, profile bool) error {
	cfg, warnings, err := central.LoadConfig(configPath)
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
	for _, w := range warnings {
		log.Warn(w)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	reg := admin.NewRegistry()
	svc, err := central.New(cfg, log, reg)
	if err != nil {
		return err
	}
	listen := admin.Listen
	if cfg.HTTP.MetricsListen != "" {
		listen = admin.ListenWithout
	}
	srv, err := listen(cfg.HTTP.Listen, reg)
	if err != nil {
		return err
	}
	srv.Ready = svc.Ready
	// The status page and the read-only API are open unless the park closes
	// them (http.public_status: false); mutating endpoints always need the token.
	token, err := cfg.HTTP.APIToken()
	if err != nil {
		return err
	}
	if profile {
		srv.Profile(token) // never public: profiles show internals
	}
	if *cfg.HTTP.PublicStatus {
		token = ""
	}
	if h := svc.AlertsHandler(); h != nil {
		srv.Mux.Handle("GET /api/alerts", admin.Bearer(token, h))
	}
	status, err := svc.StatusHandler()
	if err != nil {
		return err
	}
	srv.Mux.Handle("GET /{$}", admin.Bearer(token, status))
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := srv.Serve(ctx, log); err != nil {
			log.Error("http server", "err", err)
		}
	})
	if cfg.HTTP.MetricsListen != "" {
		msrv, err := admin.ListenMetrics(cfg.HTTP.MetricsListen, reg)
		if err != nil {
			stop()
			wg.Wait()
			return err
		}
		wg.Go(func() {
			if err := msrv.Serve(ctx, log); err != nil {
				log.Error("metrics server", "err", err)
			}
		})
	}
	err = svc.Run(ctx)
	stop()
	wg.Wait()
	log.Info("collector stopped")
	return err
}
