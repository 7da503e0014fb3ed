// Package servers starts real Mosquitto and InfluxDB 1.8 servers as child
// processes on loopback ports. It is shared by tests (via internal/testenv)
// and by the demo runner, so it must not import "testing".
package servers

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// ErrNotInstalled is wrapped by the Start functions when the server binary
// cannot be found, so callers can tell "install it" apart from "it broke".
var ErrNotInstalled = errors.New("server binary not installed")

// errPortClash marks a start that failed because a port was taken between
// picking it and the server binding it; such starts are retried.
var errPortClash = errors.New("port already in use")

const (
	tailLines     = 50
	stopGrace     = 5 * time.Second
	startAttempts = 3
	pollInterval  = 25 * time.Millisecond
)

// proc is one running child process plus the tail of its output.
type proc struct {
	name  string
	cmd   *exec.Cmd
	out   *tailWriter
	done  chan struct{} // closed once Wait has returned
	err   error         // Wait result; valid after done is closed
	grace time.Duration // SIGTERM-to-SIGKILL delay; a field so tests can shorten it

	mu       sync.Mutex
	stopping bool // set before we signal, so exits we caused aren't crashes
}

// startProc starts bin in its own process group with output going to logw
// (prefixed with name) and to an in-memory tail used in error messages.
func startProc(name, bin string, args []string, dir string, env []string, logw io.Writer) (*proc, error) {
	out := newTailWriter(name, logw)
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = env
	// Same writer for both streams so os/exec uses a single copying
	// goroutine and lines of stdout/stderr don't interleave mid-line.
	cmd.Stdout = out
	cmd.Stderr = out
	// Don't let Wait hang on the pipe if a grandchild inherited it.
	cmd.WaitDelay = time.Second
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s (%s): %w", name, bin, err)
	}
	p := &proc{name: name, cmd: cmd, out: out, done: make(chan struct{}), grace: stopGrace}
	go func() {
		p.err = cmd.Wait()
		out.flush()
		close(p.done)
	}()
	return p, nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

// exited reports whether the process has already exited.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// crashErr returns a non-nil error if the process exited without being asked to.
func (p *proc) crashErr() error {
	p.mu.Lock()
	stopping := p.stopping
	p.mu.Unlock()
	if stopping || !p.exited() {
		return nil
	}
	return fmt.Errorf("%s (pid %d) exited unexpectedly: %v%s", p.name, p.pid(), p.err, p.out.tailText())
}

// stop sends SIGTERM to the process group, waits up to p.grace, then
// SIGKILLs it. It returns once the process has been reaped. An error means
// the server needed SIGKILL, which usually points at a shutdown hang.
func (p *proc) stop() error {
	p.mu.Lock()
	p.stopping = true
	p.mu.Unlock()
	if p.exited() {
		return nil
	}
	signalGroup(p.cmd.Process, false)
	select {
	case <-p.done:
		return nil
	case <-time.After(p.grace):
	}
	signalGroup(p.cmd.Process, true)
	<-p.done
	return fmt.Errorf("%s (pid %d) ignored SIGTERM for %v and was killed%s", p.name, p.pid(), p.grace, p.out.tailText())
}

// earlyExitErr builds the error for a process that died during startup,
// tagging port clashes so the caller can retry on other ports.
func (p *proc) earlyExitErr() error {
	tail := p.out.tailText()
	err := fmt.Errorf("%s exited during startup: %v%s", p.name, p.err, tail)
	if strings.Contains(strings.ToLower(tail), "address already in use") {
		return fmt.Errorf("%w: %w", errPortClash, err)
	}
	return err
}

// tailWriter forwards complete lines, prefixed with the server name, to an
// optional writer and remembers the last tailLines lines.
type tailWriter struct {
	prefix string
	w      io.Writer

	mu      sync.Mutex
	partial []byte
	lines   []string
}

func newTailWriter(name string, w io.Writer) *tailWriter {
	if w == nil {
		w = io.Discard
	}
	return &tailWriter{prefix: name + ": ", w: w}
}

func (t *tailWriter) Write(b []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.partial = append(t.partial, b...)
	for {
		i := bytes.IndexByte(t.partial, '\n')
		if i < 0 {
			break
		}
		t.addLine(string(t.partial[:i]))
		t.partial = t.partial[i+1:]
	}
	// Always report success: a failing log sink must not stall the child.
	return len(b), nil
}

// flush emits a trailing line that had no newline (e.g. a dying message).
func (t *tailWriter) flush() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.partial) > 0 {
		t.addLine(string(t.partial))
		t.partial = nil
	}
}

func (t *tailWriter) addLine(line string) {
	line = strings.TrimRight(line, "\r")
	_, _ = io.WriteString(t.w, t.prefix+line+"\n")
	t.lines = append(t.lines, line)
	if len(t.lines) > tailLines {
		t.lines = append(t.lines[:0], t.lines[len(t.lines)-tailLines:]...)
	}
}

// Lines returns a copy of the remembered output lines.
func (t *tailWriter) Lines() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]string(nil), t.lines...)
}

// tailText formats the remembered lines for appending to an error message.
func (t *tailWriter) tailText() string {
	lines := t.Lines()
	if len(lines) == 0 {
		return " (no output)"
	}
	return "\nlast output lines:\n  " + strings.Join(lines, "\n  ")
}

// childEnv is the parent's environment minus variables with the given
// prefix, so a stray setting (e.g. INFLUXDB_HTTP_BIND_ADDRESS) can't
// override the config file we wrote.
func childEnv(dropPrefix string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if dropPrefix != "" && strings.HasPrefix(kv, dropPrefix) {
			continue
		}
		env = append(env, kv)
	}
	return env
}
