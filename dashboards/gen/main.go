// Command gen writes the Grafana dashboards of dashboards/ from
// dashboards/internal/board, with the park's registry (enterprises.yaml)
// and each enterprise's daily electricity limit (alerts.yaml) as a
// dashboard constant:
//
//	go run ./dashboards/gen -enterprises configs/enterprises.yaml -alerts configs/alerts.yaml -out dashboards
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/parkcarbon/parkcarbon/carbon"
	"github.com/parkcarbon/parkcarbon/collector/alert"
	"github.com/parkcarbon/parkcarbon/dashboards/internal/board"
)

func main() {
	enterprises := flag.String("enterprises", "configs/enterprises.yaml", "the park's enterprise registry")
	alerts := flag.String("alerts", "configs/alerts.yaml", "the alert rules whose tier limits the ranking uses; empty: no limits")
	out := flag.String("out", "dashboards", "folder the JSON files are written to")
	flag.Parse()
	if err := run(*enterprises, *alerts, *out); err != nil {
		fmt.Fprintln(os.Stderr, "dashboards/gen:", err)
		os.Exit(1)
	}
}

func run(enterprises, alerts, out string) error {
	data, err := os.ReadFile(enterprises)
	if err != nil {
		return fmt.Errorf("registry: %w", err)
	}
	reg, err := carbon.ParseRegistry(data)
	if err != nil {
		return fmt.Errorf("%s: %w", enterprises, err)
	}
	var limit func(*carbon.Enterprise) float64
	if alerts != "" {
		// As the collector loads it (${ENV} expanded), so that it validates the same.
		cfg, _, err := alert.Load(alerts)
		if err != nil {
			return err
		}
		limit = board.DailyLimits(cfg)
	}
	all, err := board.All(board.Options{Registry: board.FromRegistry(reg, limit)})
	if err != nil {
		return err
	}
	for _, d := range all {
		b, err := board.Marshal(d)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(out, d.File), b, 0o644); err != nil {
			return fmt.Errorf("write dashboard: %w", err)
		}
	}
	return nil
}
