package exepages

import (
	"bufio"
	"io"
	"strconv"
	"strings"
)

// mapping is an address range of a process, [start, end).
type mapping struct{ start, end uint64 }

// parseMapping reads one line of /proc/<pid>/maps
// ("start-end perms offset dev inode path", proc(5)) and says whether it maps
// path privately and read-only: code (r-xp) or read-only data (r--p), never
// data the process may have written.
func parseMapping(line, path string) (mapping, bool) {
	// Five fields, then the path, which may hold spaces.
	var f [5]string
	rest := line
	for i := range f {
		rest = strings.TrimLeft(rest, " ")
		var ok bool
		if f[i], rest, ok = strings.Cut(rest, " "); !ok {
			return mapping{}, false
		}
	}
	// The kernel marks the binary " (deleted)" once it is replaced on disk
	// (an upgrade while running); os.Executable strips that.
	if p := strings.TrimLeft(rest, " "); p != path && p != path+" (deleted)" {
		return mapping{}, false
	}
	perms := f[1]
	if len(perms) != 4 || perms[0] != 'r' || perms[1] != '-' || perms[3] != 'p' {
		return mapping{}, false
	}
	lo, hi, found := strings.Cut(f[0], "-")
	if !found {
		return mapping{}, false
	}
	start, err := strconv.ParseUint(lo, 16, 64)
	if err != nil {
		return mapping{}, false
	}
	end, err := strconv.ParseUint(hi, 16, 64)
	if err != nil || end <= start {
		return mapping{}, false
	}
	return mapping{start, end}, true
}

// readOnlyMappings lists the mappings of r, a /proc/<pid>/maps, that
// parseMapping accepts for path.
func readOnlyMappings(r io.Reader, path string) ([]mapping, error) {
	var maps []mapping
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if m, ok := parseMapping(sc.Text(), path); ok {
			maps = append(maps, m)
		}
	}
	return maps, sc.Err()
}
