package servers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

const mosquittoStartTimeout = 10 * time.Second

// Mosquitto is a running mosquitto broker on a loopback port.
type Mosquitto struct {
	Addr string // 127.0.0.1:port
	URL  string // tcp://127.0.0.1:port, as the paho client wants it
	Port int
	Dir  string // holds mosquitto.conf and the persistence file
	// TLSURL is ssl://127.0.0.1:port when started with MosquittoTLS.
	TLSURL  string
	tlsPort int
	opts    options

	bin  string
	logw io.Writer

	mu sync.Mutex
	p  *proc
}

// StartMosquitto starts a broker with persistence in dir and waits until it
// answers an MQTT CONNECT. ctx bounds startup only; the broker runs until
// Stop. Output goes to logw (nil discards it).
func StartMosquitto(ctx context.Context, dir string, logw io.Writer, opts ...Option) (*Mosquitto, error) {
	bin, err := findMosquitto()
	if err != nil {
		return nil, err
	}
	dir, err = filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("mosquitto dir: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("mosquitto dir: %w", err)
	}
	o := applyOptions(opts)
	m := &Mosquitto{Dir: dir, bin: bin, logw: logw, opts: o}
	for attempt := 1; ; attempt++ {
		port, err := pickPort(o.port)
		if err != nil {
			return nil, err
		}
		m.setPort(port)
		if o.tls != nil {
			if m.tlsPort, err = freePort(); err != nil {
				return nil, err
			}
			m.TLSURL = "ssl://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(m.tlsPort))
		}
		err = m.start(ctx)
		if err == nil {
			return m, nil
		}
		if !errors.Is(err, errPortClash) || attempt == startAttempts || ctx.Err() != nil {
			return nil, err
		}
		o.port = 0 // the preferred port is evidently taken; go dynamic
	}
}

func (m *Mosquitto) setPort(port int) {
	m.Port = port
	m.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	m.URL = "tcp://" + m.Addr
}

// start writes the config and launches the broker on m.Port.
func (m *Mosquitto) start(ctx context.Context) error {
	conf := filepath.Join(m.Dir, "mosquitto.conf")
	if err := os.WriteFile(conf, []byte(m.config()), 0o644); err != nil {
		return fmt.Errorf("write mosquitto config: %w", err)
	}
	p, err := startProc("mosquitto", m.bin, []string{"-c", conf}, m.Dir, childEnv(""), m.logw)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, mosquittoStartTimeout)
	defer cancel()
	if err := waitReady(ctx, p, func(ctx context.Context) error { return mqttPing(ctx, m.Addr) }); err != nil {
		return fmt.Errorf("mosquitto on %s: %w", m.Addr, err)
	}
	m.mu.Lock()
	m.p = p
	m.mu.Unlock()
	return nil
}

func (m *Mosquitto) config() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# written by internal/servers; rewritten on every start\n")
	if os.Geteuid() == 0 {
		// As root, mosquitto 2 drops to user "mosquitto", which can't write
		// the persistence file into a root-owned 0700 temp dir.
		fmt.Fprintf(&b, "user root\n")
	}
	if a := m.opts.auth; a != nil {
		fmt.Fprintf(&b, "per_listener_settings false\nallow_anonymous false\n")
		fmt.Fprintf(&b, "password_file %s\nacl_file %s\n", a.passwordFile, a.aclFile)
	} else {
		fmt.Fprintf(&b, "allow_anonymous true\n")
	}
	fmt.Fprintf(&b, "listener %d 127.0.0.1\n", m.Port)
	if t := m.opts.tls; t != nil {
		fmt.Fprintf(&b, "listener %d 127.0.0.1\ncafile %s\ncertfile %s\nkeyfile %s\n", m.tlsPort, t.ca, t.cert, t.key)
		if t.requireCert {
			fmt.Fprintf(&b, "require_certificate true\n")
		}
	}
	fmt.Fprintf(&b, "persistence true\n")
	fmt.Fprintf(&b, "persistence_location %s/\n", m.Dir)
	// Save every second so a Restart loses at most ~1 s of queued messages.
	fmt.Fprintf(&b, "autosave_interval 1\n")
	// Queue for offline persistent sessions without dropping (0 = no limit).
	fmt.Fprintf(&b, "max_queued_messages 0\n")
	fmt.Fprintf(&b, "max_inflight_messages 20\n")
	fmt.Fprintf(&b, "log_dest stderr\n")
	fmt.Fprintf(&b, "log_type error\nlog_type warning\nlog_type notice\n")
	return b.String()
}

// Stop terminates the broker (SIGTERM, then SIGKILL after a few seconds) and
// waits for it to exit. It reports an error if the broker had crashed
// earlier. Calling it again is a no-op.
func (m *Mosquitto) Stop() error {
	m.mu.Lock()
	p := m.p
	m.mu.Unlock()
	if p == nil {
		return nil
	}
	crash := p.crashErr()
	if err := p.stop(); err != nil {
		return err
	}
	return crash
}

// Restart stops the broker (if still running) and starts it again on the
// same port and dir, so persisted sessions and queued messages survive.
func (m *Mosquitto) Restart(ctx context.Context) error {
	m.mu.Lock()
	p := m.p
	m.mu.Unlock()
	if p != nil {
		// A broker that had to be killed is still stopped: start it again
		// all the same (its persistence file may be older, as after a crash).
		_ = p.stop()
	}
	// The port should be free at once (mosquitto sets SO_REUSEADDR), but
	// retry briefly in case the kernel is slow to release it.
	var err error
	for range startAttempts {
		if err = m.start(ctx); err == nil || !errors.Is(err, errPortClash) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("restart mosquitto: %w", err)
	}
	return nil
}

// PID returns the broker's process id (for tests that check it's gone).
func (m *Mosquitto) PID() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.p == nil {
		return 0
	}
	return m.p.pid()
}

// LogTail returns the broker's last output lines.
func (m *Mosquitto) LogTail() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.p == nil {
		return nil
	}
	return m.p.out.Lines()
}

// waitReady polls check until it succeeds, the process dies or ctx ends. On
// failure the process is stopped and the error carries its last output.
func waitReady(ctx context.Context, p *proc, check func(context.Context) error) error {
	t := time.NewTicker(pollInterval)
	defer t.Stop()
	var lastErr error
	for {
		if p.exited() {
			return p.earlyExitErr()
		}
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		lastErr = check(cctx)
		cancel()
		if lastErr == nil {
			// Re-check liveness: a quick connect might have reached whoever
			// stole the port while our child was failing to bind it.
			if p.exited() {
				return p.earlyExitErr()
			}
			return nil
		}
		select {
		case <-ctx.Done():
			_ = p.stop()
			return fmt.Errorf("not ready: %w (last check: %v)%s", ctx.Err(), lastErr, p.out.tailText())
		case <-p.done:
		case <-t.C:
		}
	}
}

// mqttPing does an MQTT 3.1.1 CONNECT/CONNACK/DISCONNECT round trip, which
// proves the listener is a working broker and not just an open port.
func mqttPing(ctx context.Context, addr string) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	connect := []byte{
		0x10, 12, // CONNECT, remaining length
		0, 4, 'M', 'Q', 'T', 'T', 4, // protocol name and level 3.1.1
		0x02,  // clean session, so nothing is persisted for this probe
		0, 10, // keepalive seconds
		0, 0, // empty client id (broker assigns one)
	}
	if _, err := conn.Write(connect); err != nil {
		return fmt.Errorf("send CONNECT: %w", err)
	}
	ack := make([]byte, 4)
	if _, err := io.ReadFull(conn, ack); err != nil {
		return fmt.Errorf("read CONNACK: %w", err)
	}
	// 5 (not authorized) is an answer too: a broker with auth on is up.
	if ack[0] != 0x20 || ack[1] != 2 || (ack[3] != 0 && ack[3] != 5) {
		return fmt.Errorf("unexpected CONNACK % x", ack)
	}
	_, _ = conn.Write([]byte{0xe0, 0}) // DISCONNECT, so the broker logs a clean close
	return nil
}
