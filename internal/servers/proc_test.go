package servers

import (
	"strings"
	"testing"
	"time"
)

// A child that ignores SIGTERM is SIGKILLed after the grace period, and the
// whole process group goes with it.
func TestStopKillsStubbornGroup(t *testing.T) {
	p, err := startProc("stubborn", "/bin/sh", []string{"-c", "trap '' TERM; sleep 60 & echo started; wait"}, t.TempDir(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	p.grace = 200 * time.Millisecond
	deadline := time.Now().Add(5 * time.Second)
	for len(p.out.Lines()) == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond) // let the trap be installed
	}
	start := time.Now()
	err = p.stop()
	if err == nil || !strings.Contains(err.Error(), "ignored SIGTERM") {
		t.Fatalf("stop: got %v, want a SIGKILL report", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("stop took %v; the grandchild probably held it up", d)
	}
	if !p.exited() {
		t.Error("process not reaped")
	}
}

func TestTailWriterKeepsLastLines(t *testing.T) {
	var sink strings.Builder
	w := newTailWriter("x", &sink)
	for i := range tailLines + 10 {
		_, _ = w.Write([]byte(strings.Repeat("a", i%3) + "line\n"))
	}
	_, _ = w.Write([]byte("partial"))
	w.flush()
	lines := w.Lines()
	if len(lines) != tailLines || lines[len(lines)-1] != "partial" {
		t.Fatalf("got %d lines ending %q", len(lines), lines[len(lines)-1])
	}
	if !strings.HasPrefix(sink.String(), "x: line\n") {
		t.Errorf("sink = %q", sink.String()[:20])
	}
}

func TestParseFluxCSV(t *testing.T) {
	// Shape returned by influxd 1.8.10: annotated, one header per table,
	// tables separated by blank lines, CRLF line ends.
	body := "#datatype,string,long,dateTime:RFC3339,double,string\r\n" +
		"#group,false,false,false,false,true\r\n" +
		"#default,_result,,,,\r\n" +
		",result,table,_time,_value,meter\r\n" +
		",,0,2025-11-24T16:00:00Z,1.5,m1\r\n" +
		"\r\n" +
		"#datatype,string,long,dateTime:RFC3339,long\r\n" +
		",result,table,_time,_value\r\n" +
		",,1,2025-11-24T16:00:00Z,7\r\n\r\n"
	rows, err := parseFluxCSV([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[0]["_value"] != "1.5" || rows[0]["meter"] != "m1" || rows[1]["_value"] != "7" || rows[1]["table"] != "1" {
		t.Fatalf("rows = %v", rows)
	}

	_, err = parseFluxCSV([]byte("error,reference\r\nsomething broke,\r\n"))
	if err == nil || !strings.Contains(err.Error(), "something broke") {
		t.Fatalf("error table: got %v", err)
	}
}
