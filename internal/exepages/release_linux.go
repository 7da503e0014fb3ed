//go:build linux

package exepages

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// madvPageout is MADV_PAGEOUT (Linux 5.4), which package syscall lacks.
const madvPageout = 21

// Release pages out this process's read-only private mappings of its own
// executable and returns their size in bytes. Pages that another process
// maps too (a second instance of the binary) stay, by the kernel's rule.
// A kernel without MADV_PAGEOUT (before 5.4) returns an error wrapping
// errors.ErrUnsupported and leaves the mappings as they were.
func Release() (int64, error) {
	exe, err := os.Executable()
	if err != nil {
		return 0, fmt.Errorf("release executable pages: %w", err)
	}
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return 0, fmt.Errorf("release executable pages: %w", err)
	}
	defer f.Close()
	maps, err := readOnlyMappings(f, exe)
	if err != nil {
		return 0, fmt.Errorf("release executable pages: read /proc/self/maps: %w", err)
	}
	var released int64
	for _, m := range maps {
		// Read-ahead off first, so that what runs meanwhile is read back a
		// page at a time too.
		if err := madvise(m, syscall.MADV_RANDOM); err != nil {
			return released, fmt.Errorf("release executable pages %x-%x: %w", m.start, m.end, err)
		}
		if err := madvise(m, madvPageout); err != nil {
			_ = madvise(m, syscall.MADV_NORMAL)
			if errors.Is(err, syscall.EINVAL) {
				err = fmt.Errorf("%w (MADV_PAGEOUT came with Linux 5.4): %w", errors.ErrUnsupported, err)
			}
			return released, fmt.Errorf("release executable pages %x-%x: %w", m.start, m.end, err)
		}
		released += int64(m.end - m.start)
	}
	return released, nil
}

func madvise(m mapping, advice int) error {
	// A raw call: the range is the process's own mapping, not a Go slice.
	if _, _, errno := syscall.Syscall(syscall.SYS_MADVISE, uintptr(m.start), uintptr(m.end-m.start), uintptr(advice)); errno != 0 {
		return errno
	}
	return nil
}
