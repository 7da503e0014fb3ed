package main

import (
	"context"
	"errors"
)

// Placeholder until the evaluation work lands.
func runEvaluate(context.Context, []string) error { return errors.New("evaluate: not implemented yet") }
