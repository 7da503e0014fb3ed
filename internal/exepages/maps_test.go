package exepages

import (
	"strings"
	"testing"
)

// Lines of /proc/<pid>/maps as the edge agent's showed them (a static build
// in /opt/park carbon/, a path with a space), plus what must not match.
func TestParseMapping(t *testing.T) {
	const exe = "/opt/park carbon/edge-agent"
	tests := []struct {
		name string
		line string
		want mapping
		ok   bool
	}{
		{"code", "00400000-008e7000 r-xp 00000000 fe:00 1311                               /opt/park carbon/edge-agent", mapping{0x400000, 0x8e7000}, true},
		{"read-only data", "008e7000-00e5c000 r--p 004e7000 fe:00 1311                               /opt/park carbon/edge-agent", mapping{0x8e7000, 0xe5c000}, true},
		{"data, written", "00e5c000-00e9b000 rw-p 00a5c000 fe:00 1311                               /opt/park carbon/edge-agent", mapping{}, false},
		{"bss", "00e9b000-00ed9000 rw-p 00000000 00:00 0 ", mapping{}, false},
		{"heap", "c000000000-c000400000 rw-p 00000000 00:00 0", mapping{}, false},
		{"another file", "7f5c1c000000-7f5c1c100000 r--s 00000000 fe:00 2731                       /var/lib/edge/queue.db", mapping{}, false},
		{"shared mapping of the binary", "00400000-008e7000 r-xs 00000000 fe:00 1311 /opt/park carbon/edge-agent", mapping{}, false},
		{"no read permission", "00400000-008e7000 --xp 00000000 fe:00 1311 /opt/park carbon/edge-agent", mapping{}, false},
		{"replaced on disk while running", "00400000-008e7000 r-xp 00000000 fe:00 1311 /opt/park carbon/edge-agent (deleted)", mapping{0x400000, 0x8e7000}, true},
		{"a longer path", "00400000-008e7000 r-xp 00000000 fe:00 1311 /opt/park carbon/edge-agent.old", mapping{}, false},
		{"vdso", "7ffd4c3f2000-7ffd4c3f4000 r-xp 00000000 00:00 0                          [vdso]", mapping{}, false},
		{"end before start", "008e7000-00400000 r-xp 00000000 fe:00 1311 /opt/park carbon/edge-agent", mapping{}, false},
		{"not hex", "0040000g-008e7000 r-xp 00000000 fe:00 1311 /opt/park carbon/edge-agent", mapping{}, false},
		{"no range", "00400000 r-xp 00000000 fe:00 1311 /opt/park carbon/edge-agent", mapping{}, false},
		{"empty", "", mapping{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := parseMapping(tt.line, exe)
			if ok != tt.ok || got != tt.want {
				t.Errorf("parseMapping(%q) = %x, %v; want %x, %v", tt.line, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestReadOnlyMappings(t *testing.T) {
	maps := strings.Join([]string{
		"00400000-008e7000 r-xp 00000000 fe:00 1311 /usr/bin/edge-agent",
		"008e7000-00e5c000 r--p 004e7000 fe:00 1311 /usr/bin/edge-agent",
		"00e5c000-00e9b000 rw-p 00a5c000 fe:00 1311 /usr/bin/edge-agent",
		"c000000000-c000400000 rw-p 00000000 00:00 0",
	}, "\n")
	got, err := readOnlyMappings(strings.NewReader(maps), "/usr/bin/edge-agent")
	if err != nil {
		t.Fatal(err)
	}
	want := []mapping{{0x400000, 0x8e7000}, {0x8e7000, 0xe5c000}}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("readOnlyMappings = %x, want %x", got, want)
	}
}

func FuzzParseMapping(f *testing.F) {
	f.Add("00400000-008e7000 r-xp 00000000 fe:00 1311 /usr/bin/edge-agent")
	f.Add("008e7000-00e5c000 r--p 004e7000 fe:00 1311     /usr/bin/edge-agent")
	f.Add("00e5c000-00e9b000 rw-p 00a5c000 fe:00 1311 /usr/bin/edge-agent")
	f.Add("c000000000-c000400000 rw-p 00000000 00:00 0")
	f.Fuzz(func(t *testing.T, line string) {
		m, ok := parseMapping(line, "/usr/bin/edge-agent")
		if !ok {
			return
		}
		if m.end <= m.start {
			t.Fatalf("parseMapping(%q) = %x: empty range accepted", line, m)
		}
		if !strings.HasSuffix(strings.TrimSuffix(line, " (deleted)"), " /usr/bin/edge-agent") || !strings.Contains(line, " r-") {
			t.Fatalf("parseMapping(%q) accepted a line that is not a read-only mapping of the path", line)
		}
	})
}
