//go:build linux

package exepages

import (
	"bufio"
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"
)

// residentKB sums the Rss of this process's read-only mappings of its own
// executable, from /proc/self/smaps.
func residentKB(t *testing.T) int {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	kb, in := 0, false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if fields := strings.Fields(line); len(fields) > 0 && strings.Contains(fields[0], "-") && !strings.HasSuffix(fields[0], ":") {
			_, in = parseMapping(line, exe)
			continue
		}
		if rest, ok := strings.CutPrefix(line, "Rss:"); ok && in {
			n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
			if err != nil {
				t.Fatalf("smaps line %q: %v", line, err)
			}
			kb += n
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return kb
}

// The test binary's own code and read-only data are resident after start-up;
// Release must hand most of them back, and the program must go on running.
func TestReleaseDropsResidentPages(t *testing.T) {
	before := residentKB(t)
	if before < 1024 {
		t.Fatalf("only %d kB of the test binary resident before Release: the test cannot tell", before)
	}
	n, err := Release()
	if errors.Is(err, errors.ErrUnsupported) {
		t.Skipf("this kernel has no MADV_PAGEOUT: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatal("Release found no read-only mapping of the executable")
	}
	after := residentKB(t)
	t.Logf("resident read-only pages of the test binary: %d kB before, %d kB after (%d kB of mappings released)", before, after, n/1024)
	if after > before/2 {
		t.Errorf("resident %d kB after Release, %d kB before: expected at most half", after, before)
	}
	// Code paged out runs again: read back on demand.
	if got := strconv.Itoa(12345); got != "12345" {
		t.Fatal(got)
	}
}
