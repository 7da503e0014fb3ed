package servers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"time"
)

// alertmanagerStartTimeout bounds one start; Alertmanager is ready in well
// under a second, but the CI machine is shared.
const alertmanagerStartTimeout = 30 * time.Second

// Alertmanager is a running Prometheus Alertmanager on a loopback port, with
// clustering off and a receiver that sends nothing: tests read what it got
// through its v2 API (GET /api/v2/alerts).
type Alertmanager struct {
	URL  string // http://127.0.0.1:port
	Port int
	Dir  string // holds alertmanager.yml and the data folder

	bin    string
	logw   io.Writer
	client *http.Client

	mu sync.Mutex
	p  *proc
}

// StartAlertmanager starts Alertmanager with its config and storage in dir
// and waits until /-/ready answers. ctx bounds startup only; the server runs
// until Stop. Output goes to logw (nil discards it).
func StartAlertmanager(ctx context.Context, dir string, logw io.Writer, opts ...Option) (*Alertmanager, error) {
	bin, err := findAlertmanager()
	if err != nil {
		return nil, err
	}
	dir, err = filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("alertmanager dir: %w", err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o755); err != nil {
		return nil, fmt.Errorf("alertmanager dir: %w", err)
	}
	o := applyOptions(opts)
	a := &Alertmanager{Dir: dir, bin: bin, logw: logw, client: &http.Client{}}
	for attempt := 1; ; attempt++ {
		port, err := pickPort(o.port)
		if err != nil {
			return nil, err
		}
		a.Port = port
		a.URL = "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		err = a.start(ctx)
		if err == nil {
			return a, nil
		}
		if !errors.Is(err, errPortClash) || attempt == startAttempts || ctx.Err() != nil {
			return nil, err
		}
		o.port = 0 // the preferred port is evidently taken; go dynamic
	}
}

// alertmanagerConfig routes everything to a receiver without integrations:
// alerts are kept and listed, never sent anywhere.
const alertmanagerConfig = `# written by internal/servers; rewritten on every start
route:
  receiver: "null"
receivers:
  - name: "null"
`

func (a *Alertmanager) start(ctx context.Context) error {
	conf := filepath.Join(a.Dir, "alertmanager.yml")
	if err := os.WriteFile(conf, []byte(alertmanagerConfig), 0o644); err != nil {
		return fmt.Errorf("write alertmanager config: %w", err)
	}
	args := []string{
		"--config.file=" + conf,
		"--storage.path=" + filepath.Join(a.Dir, "data"),
		"--web.listen-address=" + net.JoinHostPort("127.0.0.1", strconv.Itoa(a.Port)),
		// An empty address turns the gossip cluster off; its default
		// (0.0.0.0:9094) would clash between tests and expose a port.
		"--cluster.listen-address=",
		"--log.level=warn",
	}
	p, err := startProc("alertmanager", a.bin, args, a.Dir, childEnv(""), a.logw)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, alertmanagerStartTimeout)
	defer cancel()
	if err := waitReady(ctx, p, a.ready); err != nil {
		return fmt.Errorf("alertmanager on %s: %w", a.URL, err)
	}
	a.mu.Lock()
	a.p = p
	a.mu.Unlock()
	return nil
}

// ready succeeds once GET /-/ready answers 200.
func (a *Alertmanager) ready(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.URL+"/-/ready", nil)
	if err != nil {
		return err
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET /-/ready: %s", resp.Status)
	}
	return nil
}

// AlertmanagerAlert is an alert as GET /api/v2/alerts lists it.
type AlertmanagerAlert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL"`
	Status       struct {
		State string `json:"state"` // active, suppressed or unprocessed
	} `json:"status"`
}

// Alerts lists the alerts Alertmanager holds as not resolved (it leaves out
// those whose endsAt has passed).
func (a *Alertmanager) Alerts(ctx context.Context) ([]AlertmanagerAlert, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.URL+"/api/v2/alerts", nil)
	if err != nil {
		return nil, fmt.Errorf("list alerts: %w", err)
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("list alerts: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("list alerts: read body: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("list alerts: %s: %s", resp.Status, body)
	}
	var out []AlertmanagerAlert
	if err := json.Unmarshal(body, &out); err != nil {
		return nil, fmt.Errorf("list alerts: decode %q: %w", body, err)
	}
	return out, nil
}

// Stop terminates Alertmanager (SIGTERM, then SIGKILL after a few seconds)
// and waits for it to exit. It reports an error if it had crashed earlier.
// Calling it again is a no-op.
func (a *Alertmanager) Stop() error {
	a.mu.Lock()
	p := a.p
	a.mu.Unlock()
	if p == nil {
		return nil
	}
	crash := p.crashErr()
	err := p.stop()
	a.client.CloseIdleConnections()
	if err != nil {
		return err
	}
	return crash
}

// PID returns Alertmanager's process id (for tests that check it's gone).
func (a *Alertmanager) PID() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.p == nil {
		return 0
	}
	return a.p.pid()
}

// LogTail returns Alertmanager's last output lines.
func (a *Alertmanager) LogTail() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.p == nil {
		return nil
	}
	return a.p.out.Lines()
}

// findAlertmanager locates the binary: $PARKCARBON_ALERTMANAGER, then
// Debian's prometheus-alertmanager on PATH or in /usr/bin, then an upstream
// alertmanager on PATH.
func findAlertmanager() (string, error) {
	const hint = "apt-get install -y prometheus-alertmanager"
	if p := os.Getenv("PARKCARBON_ALERTMANAGER"); p != "" {
		if isExecutable(p) {
			return p, nil
		}
		return "", notInstalled("alertmanager not found at PARKCARBON_ALERTMANAGER=%s: %s", p, hint)
	}
	for _, name := range []string{"prometheus-alertmanager", "alertmanager"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	if p := "/usr/bin/prometheus-alertmanager"; isExecutable(p) {
		return p, nil
	}
	return "", notInstalled("alertmanager not found: %s", hint)
}
