package servers

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

const (
	// influxd 1.8.10 spends ~4.5 s of CPU type-checking the Flux stdlib
	// before it listens; several test packages starting it at once on a
	// small machine share the CPU, hence the generous bound.
	influxStartTimeout = 60 * time.Second
	// DefaultDatabase is created on start; its v2 bucket is "energy/autogen".
	DefaultDatabase = "energy"
)

// Influx is a running InfluxDB 1.8 server with Flux and the v2
// compatibility API (/api/v2/write, /api/v2/query) enabled and auth off.
type Influx struct {
	URL      string // http://127.0.0.1:port
	Port     int
	Database string // created on start; DefaultDatabase
	Bucket   string // Database + "/autogen", the name the v2 API expects
	// Token is accepted by the v2 API; with auth off, 1.8 ignores the
	// Authorization header, so any value works.
	Token string
	Dir   string // holds influxd.conf, meta, data and wal

	rpcPort int
	bin     string
	logw    io.Writer
	client  *http.Client

	mu sync.Mutex
	p  *proc
}

// StartInflux starts influxd 1.8 with its state in dir, waits for /ping and
// creates DefaultDatabase. ctx bounds startup only; the server runs until
// Stop. Output goes to logw (nil discards it). PreferPort applies to the
// HTTP port.
func StartInflux(ctx context.Context, dir string, logw io.Writer, opts ...Option) (*Influx, error) {
	bin, err := findInfluxd()
	if err != nil {
		return nil, err
	}
	dir, err = filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("influxd dir: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("influxd dir: %w", err)
	}
	o := applyOptions(opts)
	i := &Influx{
		Database: DefaultDatabase,
		Bucket:   DefaultDatabase + "/autogen",
		Token:    "parkcarbon:unused",
		Dir:      dir,
		bin:      bin,
		logw:     logw,
		client:   &http.Client{},
	}
	for attempt := 1; ; attempt++ {
		err = i.start(ctx, o.port)
		if err == nil {
			break
		}
		if !errors.Is(err, errPortClash) || attempt == startAttempts || ctx.Err() != nil {
			return nil, err
		}
		o.port = 0 // the preferred port is evidently taken; go dynamic
	}
	if err := i.CreateDatabase(ctx, i.Database); err != nil {
		return nil, errors.Join(err, i.Stop())
	}
	return i, nil
}

func (i *Influx) start(ctx context.Context, preferred int) error {
	httpPort, err := pickPort(preferred)
	if err != nil {
		return err
	}
	// influxd also binds a TCP port for backup/restore RPC; it must be
	// free too or two test servers would collide on the default 8088.
	rpcPort, err := freePort()
	if err != nil {
		return err
	}
	i.Port, i.rpcPort = httpPort, rpcPort
	i.URL = "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(httpPort))

	conf := filepath.Join(i.Dir, "influxd.conf")
	if err := os.WriteFile(conf, []byte(i.config()), 0o644); err != nil {
		return fmt.Errorf("write influxd config: %w", err)
	}
	// Drop INFLUXDB_* variables: influxd lets them override the config file.
	p, err := startProc("influxd", i.bin, []string{"run", "-config", conf}, i.Dir, childEnv("INFLUXDB_"), i.logw)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, influxStartTimeout)
	defer cancel()
	if err := waitReady(ctx, p, i.ping); err != nil {
		return fmt.Errorf("influxd on %s: %w", i.URL, err)
	}
	i.mu.Lock()
	i.p = p
	i.mu.Unlock()
	return nil
}

func (i *Influx) config() string {
	q := func(p string) string { return strconv.Quote(filepath.Join(i.Dir, p)) }
	return fmt.Sprintf(`# written by internal/servers; rewritten on every start
reporting-disabled = true
bind-address = "127.0.0.1:%d"

[meta]
  dir = %s
  logging-enabled = false

[data]
  dir = %s
  wal-dir = %s
  query-log-enabled = false

[monitor]
  # Otherwise influxd creates and writes an _internal database every 10 s.
  store-enabled = false

[http]
  enabled = true
  bind-address = "127.0.0.1:%d"
  flux-enabled = true
  log-enabled = false
  suppress-write-log = true
  # When on, influxd also turns on block and mutex profiling for its life.
  pprof-enabled = false

[logging]
  level = "warn"
  suppress-logo = true

[continuous_queries]
  enabled = false

[subscriber]
  enabled = false
`, i.rpcPort, q("meta"), q("data"), q("wal"), i.Port)
}

// ping succeeds once GET /ping answers 204.
func (i *Influx) ping(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, i.URL+"/ping", nil)
	if err != nil {
		return err
	}
	resp, err := i.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusNoContent {
		return fmt.Errorf("GET /ping: %s", resp.Status)
	}
	return nil
}

// Stop terminates influxd (SIGTERM, then SIGKILL after a few seconds) and
// waits for it to exit. It reports an error if influxd had crashed earlier.
// Calling it again is a no-op.
func (i *Influx) Stop() error {
	i.mu.Lock()
	p := i.p
	i.mu.Unlock()
	if p == nil {
		return nil
	}
	crash := p.crashErr()
	err := p.stop()
	i.client.CloseIdleConnections()
	if err != nil {
		return err
	}
	return crash
}

// PID returns influxd's process id (for tests that check it's gone).
func (i *Influx) PID() int {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.p == nil {
		return 0
	}
	return i.p.pid()
}

// LogTail returns influxd's last output lines.
func (i *Influx) LogTail() []string {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.p == nil {
		return nil
	}
	return i.p.out.Lines()
}

// CreateDatabase runs CREATE DATABASE through the v1 /query endpoint; the
// v2 compatibility API in 1.8 cannot create buckets. It is idempotent.
func (i *Influx) CreateDatabase(ctx context.Context, name string) error {
	stmt := `CREATE DATABASE "` + strings.ReplaceAll(name, `"`, `\"`) + `"`
	form := url.Values{"q": {stmt}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, i.URL+"/query", strings.NewReader(form.Encode()))
	if err != nil {
		return fmt.Errorf("create database %q: %w", name, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := i.client.Do(req)
	if err != nil {
		return fmt.Errorf("create database %q: %w", name, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("create database %q: read response: %w", name, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("create database %q: %s: %s", name, resp.Status, strings.TrimSpace(string(body)))
	}
	// Statement errors come back as 200 with an error inside results.
	var out struct {
		Error   string `json:"error"`
		Results []struct {
			Error string `json:"error"`
		} `json:"results"`
	}
	if err := json.Unmarshal(body, &out); err != nil {
		return fmt.Errorf("create database %q: decode response %q: %w", name, body, err)
	}
	if out.Error != "" {
		return fmt.Errorf("create database %q: %s", name, out.Error)
	}
	for _, r := range out.Results {
		if r.Error != "" {
			return fmt.Errorf("create database %q: %s", name, r.Error)
		}
	}
	return nil
}

// Query runs a Flux query through POST /api/v2/query and returns one map
// per result row, keyed by column name (e.g. row["_value"]). All values are
// the raw CSV strings. Rows of all result tables are concatenated.
func (i *Influx) Query(ctx context.Context, flux string) ([]map[string]string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, i.URL+"/api/v2/query", strings.NewReader(flux))
	if err != nil {
		return nil, fmt.Errorf("flux query: %w", err)
	}
	req.Header.Set("Content-Type", "application/vnd.flux")
	req.Header.Set("Accept", "text/csv")
	req.Header.Set("Authorization", "Token "+i.Token)
	resp, err := i.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("flux query: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("flux query: read response: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("flux query: %s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	rows, err := parseFluxCSV(body)
	if err != nil {
		return nil, fmt.Errorf("flux query: %w", err)
	}
	return rows, nil
}

// parseFluxCSV reads the (unannotated) CSV that 1.8 returns by default:
// each table starts with a header row ",result,table,..." and tables are
// separated by blank lines. A mid-stream failure arrives as an
// "error,reference" table.
func parseFluxCSV(body []byte) ([]map[string]string, error) {
	r := csv.NewReader(bytes.NewReader(body))
	r.FieldsPerRecord = -1 // tables in one response have different columns
	r.Comment = '#'        // skip annotation rows if a dialect asked for them
	var (
		header []string
		rows   []map[string]string
	)
	for {
		rec, err := r.Read()
		if err == io.EOF {
			return rows, nil
		}
		if err != nil {
			return nil, fmt.Errorf("parse CSV: %w", err)
		}
		if isFluxHeader(rec) {
			header = rec
			continue
		}
		if header == nil {
			return nil, fmt.Errorf("parse CSV: data row before header: %q", rec)
		}
		if header[0] == "error" {
			return nil, fmt.Errorf("query failed: %s", rec[0])
		}
		row := make(map[string]string, len(header))
		for k, name := range header {
			if name != "" && k < len(rec) {
				row[name] = rec[k]
			}
		}
		rows = append(rows, row)
	}
}

func isFluxHeader(rec []string) bool {
	if len(rec) >= 2 && rec[0] == "error" && rec[1] == "reference" {
		return true
	}
	return len(rec) >= 3 && rec[0] == "" && rec[1] == "result" && rec[2] == "table"
}

// Start starts a stopped influxd again on the same HTTP port and dir: the
// data written before Stop is still there. Tests use it for outages.
func (i *Influx) Start(ctx context.Context) error {
	i.mu.Lock()
	running := i.p != nil && !i.p.exited()
	i.mu.Unlock()
	if running {
		return errors.New("start influxd: already running")
	}
	want := i.Port
	var err error
	for range startAttempts {
		if err = i.start(ctx, want); err == nil && i.Port == want {
			return nil
		}
		if err == nil {
			// The port was taken meanwhile; clients know the old one.
			err = errors.Join(fmt.Errorf("port %d was taken", want), i.Stop())
			i.Port = want
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("start influxd again: %w", err)
}
