package main

import (
	"context"
	"errors"
)

// Placeholders until the acquisition work lands.
func runProbe(context.Context, []string) error    { return errors.New("probe: not implemented yet") }
func runPlan(context.Context, []string) error     { return errors.New("plan: not implemented yet") }
func runProfiles(context.Context, []string) error { return errors.New("profiles: not implemented yet") }
