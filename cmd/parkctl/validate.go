package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"go.yaml.in/yaml/v3"

	"github.com/parkcarbon/parkcarbon/carbon"
	"github.com/parkcarbon/parkcarbon/collector/alert"
	"github.com/parkcarbon/parkcarbon/collector/central"
	"github.com/parkcarbon/parkcarbon/collector/edge"
	"github.com/parkcarbon/parkcarbon/devices/profile"
	"github.com/parkcarbon/parkcarbon/devices/sensor"
)

// runValidate checks config files the way the binaries load them, telling
// each file's kind from its top-level keys: what a field engineer runs
// before restarting anything.
func runValidate(_ context.Context, args []string) error {
	fs := flag.NewFlagSet("validate", flag.ExitOnError)
	fs.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: parkctl validate FILE...\n\nChecks edge.yaml, collector.yaml, alerts.yaml, enterprises.yaml, evaluation.yaml,\nfactor files, meter profiles and sensor mappings; exits 1 if any is wrong.")
	}
	_ = fs.Parse(args)
	if fs.NArg() == 0 {
		fs.Usage()
		return fmt.Errorf("validate: no files")
	}
	failed := 0
	for _, path := range fs.Args() {
		kind, err := validateFile(path)
		if err != nil {
			failed++
			fmt.Printf("%s: %v\n", path, err)
			continue
		}
		fmt.Printf("%s: ok (%s)\n", path, kind)
	}
	if failed > 0 {
		return fmt.Errorf("validate: %d of %d files have errors", failed, fs.NArg())
	}
	return nil
}

func validateFile(path string) (kind string, err error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	var top map[string]any
	if err := yaml.Unmarshal(data, &top); err != nil {
		return "", fmt.Errorf("not YAML: %w", err)
	}
	has := func(k string) bool { _, ok := top[k]; return ok }
	switch {
	case has("gateway"):
		_, _, err = edge.LoadConfig(path)
		return "edge agent config", err
	case has("mqtt") && has("influxdb"):
		c, _, err := central.LoadConfig(path)
		if err == nil && c.Alerts != "" {
			if _, _, err = alert.Load(c.Alerts); err != nil {
				return "collector config", fmt.Errorf("its alerts: %w", err)
			}
		}
		return "collector config", err
	case has("tiers") || has("rules"):
		_, _, err = alert.Load(path)
		return "alert rules", err
	case has("enterprises"):
		_, err = carbon.ParseRegistry(data)
		return "enterprise registry", err
	case has("factors"):
		_, err = carbon.ParseTable(data)
		return "emission factors", err
	case has("registers"):
		_, err = profile.Parse(data, path)
		return "meter profile", err
	case has("topic") && has("values"):
		_, err = sensor.Parse(data, path)
		return "sensor mapping", err
	default:
		_, err = carbon.ParseEvaluation(data)
		return "evaluation scheme", err
	}
}
