package sensor

import (
	"strings"
	"testing"
)

func TestCheckFilter(t *testing.T) {
	tests := []struct {
		filter string
		err    string // "" for a valid filter
	}{
		{"tele/+/SENSOR", ""},
		{"+/status/em:0", ""},
		{"#", ""},
		{"a/#", ""},
		{"a//b", ""},
		{"+", ""},
		{"", "topic filter missing"},
		{"a/#/b", "'#' must be the last level"},
		{"a/b#", "a wildcard must fill a whole level"},
		{"a/+b/c", "a wildcard must fill a whole level"},
		{"$share/g/tele/+/SENSOR", "shared subscription"},
		{"a/\x00", "without NUL"},
		{"a/\xff", "not valid UTF-8"},
		{strings.Repeat("a", 65536), "longer than 65535"},
	}
	for _, tt := range tests {
		levels, err := checkFilter(tt.filter)
		switch {
		case tt.err == "" && (err != nil || strings.Join(levels, "/") != tt.filter):
			t.Errorf("checkFilter(%q) = %q, %v", tt.filter, levels, err)
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("checkFilter(%q): err = %v, want %q", tt.filter, err, tt.err)
		}
	}
}

func TestCheckSegment(t *testing.T) {
	tests := []struct {
		filter string
		i      int
		err    string
	}{
		{"tele/+/SENSOR", 1, ""},
		{"a/#", 1, ""},
		{"a/#", 5, ""},
		{"+/status/em:0", 0, ""},
		{"tele/+/SENSOR", 2, `segment 2 is the fixed level "SENSOR" of tele/+/SENSOR: use value instead`},
		{"tele/+/SENSOR", 3, "segment 3: topic filter tele/+/SENSOR has only 3 levels"},
		{"tele/+/SENSOR", -1, "segment -1: want a 0-based topic level"},
	}
	for _, tt := range tests {
		levels, err := checkFilter(tt.filter)
		if err != nil {
			t.Fatal(err)
		}
		err = checkSegment(levels, tt.i)
		switch {
		case tt.err == "" && err != nil:
			t.Errorf("checkSegment(%s, %d) = %v", tt.filter, tt.i, err)
		case tt.err != "" && (err == nil || err.Error() != tt.err):
			t.Errorf("checkSegment(%s, %d): err = %v, want %q", tt.filter, tt.i, err, tt.err)
		}
	}
}

func TestMatch(t *testing.T) {
	tests := []struct {
		filter, topic string
		a, b          int
		ok            bool
		la, lb        string
	}{
		{"tele/+/SENSOR", "tele/plug-1/SENSOR", 1, -1, true, "plug-1", ""},
		{"tele/+/SENSOR", "tele//SENSOR", 1, -1, true, "", ""},
		{"tele/+/SENSOR", "tele/plug-1/STATE", 1, -1, false, "", ""},
		{"tele/+/SENSOR", "tele/plug-1", 1, -1, false, "", ""},
		{"tele/+/SENSOR", "tele/plug-1/SENSOR/x", 1, -1, false, "", ""},
		{"tele/+/SENSOR", "Tele/plug-1/SENSOR", 1, -1, false, "", ""},
		{"tele/+/SENSOR", "", 1, -1, false, "", ""},
		{"park/+/+/power", "park/ent-1/m-7/power", 2, 1, true, "m-7", "ent-1"},
		{"a/#", "a", 1, -1, true, "", ""},
		{"a/#", "a/b/c", 1, 2, true, "b", "c"},
		{"a/#", "b/c", 1, -1, false, "", ""},
		{"#", "x/y", 0, 1, true, "x", "y"},
		{"#", "$SYS/broker", 0, -1, false, "", ""},
		{"+/status/em:0", "$SYS/status/em:0", 0, -1, false, "", ""},
		{"$SYS/+", "$SYS/uptime", 1, -1, true, "uptime", ""},
		{"+", "/", 0, -1, false, "", ""},
		{"+/+", "/", 0, 1, true, "", ""},
		{"sensors/water/+", "sensors/water/wm-1", 2, -1, true, "wm-1", ""},
	}
	for _, tt := range tests {
		levels, err := checkFilter(tt.filter)
		if err != nil {
			t.Fatal(err)
		}
		la, lb, ok := match(levels, tt.topic, tt.a, tt.b)
		if ok != tt.ok || la != tt.la || lb != tt.lb {
			t.Errorf("match(%s, %q, %d, %d) = %q, %q, %v; want %q, %q, %v",
				tt.filter, tt.topic, tt.a, tt.b, la, lb, ok, tt.la, tt.lb, tt.ok)
		}
	}
}
