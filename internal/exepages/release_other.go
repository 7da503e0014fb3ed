//go:build !linux

package exepages

import (
	"errors"
	"fmt"
)

// Release is Linux's alone.
func Release() (int64, error) {
	return 0, fmt.Errorf("release executable pages: %w", errors.ErrUnsupported)
}
