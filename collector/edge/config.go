package edge

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/parkcarbon/parkcarbon/devices/modbus"
	"github.com/parkcarbon/parkcarbon/devices/profile"
	"github.com/parkcarbon/parkcarbon/devices/sensor"
	"github.com/parkcarbon/parkcarbon/internal/configfile"
	"github.com/parkcarbon/parkcarbon/internal/mqttclient"
	"github.com/parkcarbon/parkcarbon/internal/wire"
)

// Config is edge.yaml. Zero values take the defaults set by Load.
type Config struct {
	Gateway string `yaml:"gateway"`
	// Profiles is a folder of the site's own meter profiles (name.yaml),
	// relative to this file; one named like a built-in one replaces it.
	Profiles string         `yaml:"profiles"`
	Uplink   UplinkConfig   `yaml:"uplink"`
	Buffer   BufferConfig   `yaml:"buffer"`
	Modbus   []ModbusConfig `yaml:"modbus"`
	Sensors  []SensorConfig `yaml:"sensors"`

	userProfiles map[string]*profile.Profile
	Metrics      MetricsConfig `yaml:"metrics"`
	Log          LogConfig     `yaml:"log"`
	Runtime      RuntimeConfig `yaml:"runtime"`
}

// RuntimeConfig tunes the Go runtime of the agent process.
type RuntimeConfig struct {
	// MaxProcs is GOMAXPROCS unless the environment sets it: 1 by default,
	// 0 for Go's default (one per core). The agent waits on meters, disk and
	// broker: one thread running Go code is plenty for hundreds of meters
	// (a poll is ~0.1 ms of CPU), and spares the wake-ups of idle
	// threads that a second one costs at every poll (a quarter to a third of
	// the agent's CPU with 200 meters on 2 cores, BENCHMARKS.md).
	MaxProcs *int `yaml:"max_procs"`
	// GCPercent is GOGC unless the environment sets it: 25 by default, -1
	// turns the collector off. The agent's live heap is 1–3 MB: at Go's 100
	// the heap may grow to 4 MB (the runtime's floor at 100) before a
	// collection; 50 keeps 2.5 MB of peak RSS that 100 lets garbage take, 25
	// another 0.6 MB, for no CPU per poll that 3+3 runs could tell apart
	// (BENCHMARKS.md).
	GCPercent *int `yaml:"gc_percent"`
	// ReleaseStartupPages, true by default, hands the binary's code and
	// read-only data back to the kernel once start-up is over (Linux 5.4 or
	// later; internal/exepages): start-up leaves nearly all of the binary's
	// ~10 MB resident, the poll loop and metrics scrapes use ~6 MB of it:
	// 3.5 MB less peak RSS with 200 meters (BENCHMARKS.md). The price is a
	// page read from disk the first time a code path runs after start-up.
	ReleaseStartupPages *bool `yaml:"release_startup_pages"`
}

// ReleasePages says whether the config asks for the start-up's pages of the
// binary to be released.
func (r RuntimeConfig) ReleasePages() bool {
	return r.ReleaseStartupPages == nil || *r.ReleaseStartupPages
}

// GOGC is the GC percent the config asks for.
func (r RuntimeConfig) GOGC() int {
	if r.GCPercent == nil {
		return 25
	}
	return *r.GCPercent
}

// Procs is the GOMAXPROCS the config asks for; 0: Go's default.
func (r RuntimeConfig) Procs() int {
	if r.MaxProcs == nil {
		return 1
	}
	return *r.MaxProcs
}

// UplinkConfig is the broker the agent publishes envelopes to.
type UplinkConfig struct {
	Broker      string `yaml:"broker"`       // tcp://host:port or ssl://host:port
	TopicPrefix string `yaml:"topic_prefix"` // default park
	ClientID    string `yaml:"client_id"`    // default edge-{gateway}
	// username, password or password_file (better: a file holding only the
	// password, or password: ${ENV}).
	mqttclient.Auth `yaml:",inline"`
	TLS             mqttclient.TLS `yaml:"tls"`
	BatchSize       int            `yaml:"batch_size"` // readings per envelope, default defaultBatchSize
	Linger          time.Duration  `yaml:"linger"`     // longest wait to fill a batch, default 1s
	// MaxRate caps readings published per second, so that hours of backlog
	// drain without flooding the broker. Default 5000; 0 in the file means the default.
	MaxRate int `yaml:"max_rate"`
}

// BufferConfig is the disk queue every reading passes through, with each
// meter's last total committed in the same transaction.
type BufferConfig struct {
	Dir     string          `yaml:"dir"`      // default ./data next to the config file
	MaxSize configfile.Size `yaml:"max_size"` // default 512MiB; the oldest readings go first when full
	// Sync: "always" (default) fsyncs each commit; "none" leaves it to the OS
	// (faster on slow flash, but a power cut may lose the last seconds).
	Sync string `yaml:"sync"`
}

// ModbusConfig is one Modbus endpoint (a TCP meter or gateway, or a bus) and
// the devices behind it. Requests on one endpoint are serialized.
type ModbusConfig struct {
	Name    string        `yaml:"name"`
	URL     string        `yaml:"url"`
	Timeout time.Duration `yaml:"timeout"` // per request, default 2s
	// PauseBetweenRequests is the least silence between an answer and the
	// next request on this bus (slow RS-485 converters need some).
	PauseBetweenRequests time.Duration  `yaml:"pause_between_requests"`
	Devices              []DeviceConfig `yaml:"devices"`
}

// DeviceConfig is one meter: a unit id on an endpoint read with a profile.
type DeviceConfig struct {
	Meter      string        `yaml:"meter"`
	Enterprise string        `yaml:"enterprise"`
	Unit       uint8         `yaml:"unit"`
	Profile    string        `yaml:"profile"`
	Interval   time.Duration `yaml:"interval"` // default 10s
	// MaxRate is the most the meter's counter can advance per hour, in its
	// base unit (rated power × 1.2 for electricity, in kWh/h). A larger jump is
	// held as suspect until the next sample explains it. Default 1e6.
	MaxRate float64 `yaml:"max_rate"`
	// Swap declares a meter replacement: from the first sample after At, the
	// meter counts from Start.
	Swap *SwapConfig `yaml:"swap"`

	// Quirk overrides, named as in profiles: a meter's known deviations.
	CloseAfterCycle       *bool          `yaml:"close_after_cycle"`
	PauseAfterConnect     *time.Duration `yaml:"pause_after_connect"`
	PauseBetweenRequests  *time.Duration `yaml:"pause_between_requests"`
	OneRegisterPerRequest *bool          `yaml:"one_register_per_request"`
	MaxGap                *uint16        `yaml:"max_gap"`
	NoReadAcross          []uint16       `yaml:"no_read_across"`
}

// quirks merges the device's overrides into its profile's quirks.
// defaultBatchSize is uplink.batch_size by default: readings and events per
// envelope, and per queue record.
const defaultBatchSize = 500

func (d DeviceConfig) quirks(q profile.Quirks) profile.Quirks {
	if d.CloseAfterCycle != nil {
		q.CloseAfterCycle = *d.CloseAfterCycle
	}
	if d.PauseAfterConnect != nil {
		q.PauseAfterConnect = *d.PauseAfterConnect
	}
	if d.PauseBetweenRequests != nil {
		q.PauseBetweenRequests = *d.PauseBetweenRequests
	}
	if d.OneRegisterPerRequest != nil {
		q.OneRegisterPerRequest = *d.OneRegisterPerRequest
	}
	if d.MaxGap != nil {
		q.MaxGap = d.MaxGap
	}
	if d.NoReadAcross != nil {
		q.NoReadAcross = slices.Sorted(slices.Values(d.NoReadAcross))
	}
	return q
}

// SwapConfig declares a meter replacement or counter reset.
type SwapConfig struct {
	At    time.Time `yaml:"at"`    // RFC 3339
	Start float64   `yaml:"start"` // the new meter's total at the swap
}

// SensorConfig subscribes to MQTT sensors (smart plugs, sub-meters with a
// network module) and maps their payloads to readings.
type SensorConfig struct {
	Name string `yaml:"name"`
	// Broker the sensors publish to: the factory's, or the central one when
	// the agent runs beside the collector. Default: uplink.broker.
	Broker string `yaml:"broker"`
	// Mapping is a built-in mapping's name (tasmota-energy, shelly-em,
	// shelly-emdata, generic-water, generic-gas) or a mapping file (.yaml),
	// relative to this config file.
	Mapping string `yaml:"mapping"`
	// Enterprise the sensors belong to, for mappings that do not take it
	// from the topic.
	Enterprise      string `yaml:"enterprise"`
	ClientID        string `yaml:"client_id"` // default edge-{gateway}-{name}
	mqttclient.Auth `yaml:",inline"`
	TLS             mqttclient.TLS `yaml:"tls"`
	MaxRate         float64        `yaml:"max_rate"` // as for a Modbus device; default 1e6 per hour

	mapping *sensor.Mapping
}

// MetricsConfig is the admin HTTP listener.
type MetricsConfig struct {
	Listen string `yaml:"listen"` // default 127.0.0.1:9101
}

// LogConfig selects slog's handler.
type LogConfig struct {
	Level  string `yaml:"level"`  // debug, info (default), warn, error
	Format string `yaml:"format"` // text (default) or json
}

// LoadConfig reads edge.yaml, applies defaults and validates it. Relative
// paths are taken from the config file's folder.
func LoadConfig(path string) (*Config, []string, error) {
	var c Config
	warnings, err := configfile.Load(path, &c)
	if err != nil {
		return nil, nil, err
	}
	if c.Buffer.Dir == "" {
		c.Buffer.Dir = "data"
	}
	if !filepath.IsAbs(c.Buffer.Dir) {
		c.Buffer.Dir = filepath.Join(filepath.Dir(path), c.Buffer.Dir)
	}
	c.setDefaults()
	if c.Profiles != "" {
		dir := c.Profiles
		if !filepath.IsAbs(dir) {
			dir = filepath.Join(filepath.Dir(path), dir)
		}
		if c.userProfiles, err = profile.LoadDir(dir); err != nil {
			return nil, nil, fmt.Errorf("%s: profiles: %w", path, err)
		}
	}
	if err := c.loadMappings(filepath.Dir(path)); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	if err := c.Validate(); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return &c, warnings, nil
}

func (c *Config) setDefaults() {
	if c.Uplink.TopicPrefix == "" {
		c.Uplink.TopicPrefix = "park"
	}
	if c.Uplink.ClientID == "" {
		c.Uplink.ClientID = "edge-" + c.Gateway
	}
	if c.Uplink.BatchSize == 0 {
		c.Uplink.BatchSize = defaultBatchSize
	}
	if c.Uplink.Linger == 0 {
		c.Uplink.Linger = time.Second
	}
	if c.Uplink.MaxRate == 0 {
		c.Uplink.MaxRate = 5000
	}
	if c.Buffer.MaxSize == 0 {
		c.Buffer.MaxSize = 512 << 20
	}
	if c.Buffer.Sync == "" {
		c.Buffer.Sync = "always"
	}
	if c.Metrics.Listen == "" {
		c.Metrics.Listen = "127.0.0.1:9101"
	}
	if c.Log.Level == "" {
		c.Log.Level = "info"
	}
	if c.Log.Format == "" {
		c.Log.Format = "text"
	}
	for i := range c.Sensors {
		sc := &c.Sensors[i]
		if sc.Broker == "" {
			sc.Broker = c.Uplink.Broker
		}
		if sc.ClientID == "" {
			sc.ClientID = "edge-" + c.Gateway + "-" + sc.Name
		}
		if sc.MaxRate == 0 {
			sc.MaxRate = 1e6
		}
	}
	for i := range c.Modbus {
		m := &c.Modbus[i]
		if m.Timeout == 0 {
			m.Timeout = 2 * time.Second
		}
		for j := range m.Devices {
			if m.Devices[j].Interval == 0 {
				m.Devices[j].Interval = 10 * time.Second
			}
			if m.Devices[j].MaxRate == 0 {
				m.Devices[j].MaxRate = 1e6
			}
		}
	}
}

// Validate checks everything that can be checked without dialling a device.
func (c *Config) Validate() error {
	if !wire.ValidID(c.Gateway) {
		return fmt.Errorf("gateway %q: want letters, digits, '_', '.', ':' or '-'", c.Gateway)
	}
	if err := mqttclient.Validate(c.Uplink.Broker, c.Uplink.TLS, c.Uplink.Auth); err != nil {
		return fmt.Errorf("uplink: %w", err)
	}
	if !wire.ValidID(c.Uplink.TopicPrefix) {
		return fmt.Errorf("uplink.topic_prefix %q is not a single topic level", c.Uplink.TopicPrefix)
	}
	if c.Uplink.BatchSize < 1 || c.Uplink.BatchSize > wire.MaxReadings {
		return fmt.Errorf("uplink.batch_size %d: want 1 to %d", c.Uplink.BatchSize, wire.MaxReadings)
	}
	if c.Uplink.MaxRate < 0 {
		return fmt.Errorf("uplink.max_rate %d is negative", c.Uplink.MaxRate)
	}
	if c.Runtime.Procs() < 0 {
		return fmt.Errorf("runtime.max_procs %d is negative", c.Runtime.Procs())
	}
	if c.Runtime.GOGC() < -1 {
		return fmt.Errorf("runtime.gc_percent %d: want -1 (off) or more", c.Runtime.GOGC())
	}
	if c.Buffer.Sync != "always" && c.Buffer.Sync != "none" {
		return fmt.Errorf("buffer.sync %q: want always or none", c.Buffer.Sync)
	}
	if c.Buffer.MaxSize < 1<<20 {
		return fmt.Errorf("buffer.max_size %s: want at least 1MiB", c.Buffer.MaxSize)
	}
	if len(c.Modbus) == 0 && len(c.Sensors) == 0 {
		return errors.New("no modbus endpoints and no sensors: nothing to acquire")
	}
	meters := map[string]bool{}
	for i, m := range c.Modbus {
		where := fmt.Sprintf("modbus[%d] %s", i, m.Name)
		if m.Name == "" {
			return fmt.Errorf("modbus[%d]: name is required", i)
		}
		if _, err := modbus.ParseURL(m.URL); err != nil {
			return fmt.Errorf("%s: %w", where, err)
		}
		if len(m.Devices) == 0 {
			return fmt.Errorf("%s: no devices", where)
		}
		for j, d := range m.Devices {
			dw := fmt.Sprintf("%s device[%d] %s", where, j, d.Meter)
			switch {
			case !wire.ValidID(d.Meter):
				return fmt.Errorf("%s: invalid meter id %q", dw, d.Meter)
			case meters[d.Meter]:
				return fmt.Errorf("%s: meter %s is configured twice", dw, d.Meter)
			case !wire.ValidID(d.Enterprise):
				return fmt.Errorf("%s: invalid enterprise %q", dw, d.Enterprise)
			case d.Interval < 100*time.Millisecond:
				return fmt.Errorf("%s: interval %s is shorter than 100ms", dw, d.Interval)
			case d.MaxRate < 0:
				return fmt.Errorf("%s: max_rate %v is negative", dw, d.MaxRate)
			case d.Swap != nil && (d.Swap.At.IsZero() || d.Swap.Start < 0):
				return fmt.Errorf("%s: swap needs at (RFC 3339) and a non-negative start", dw)
			}
			meters[d.Meter] = true
			if _, err := profile.Lookup(d.Profile, c.userProfiles); err != nil {
				return fmt.Errorf("%s: %w", dw, err)
			}
			if d.MaxGap != nil && *d.MaxGap > modbus.MaxRegisters {
				return fmt.Errorf("%s: max_gap %d is more than %d", dw, *d.MaxGap, modbus.MaxRegisters)
			}
			for _, p := range []*time.Duration{d.PauseAfterConnect, d.PauseBetweenRequests} {
				if p != nil && (*p < 0 || *p > 10*time.Second) {
					return fmt.Errorf("%s: pauses must be between 0 and 10s", dw)
				}
			}
		}
	}
	names := map[string]bool{}
	for i := range c.Sensors {
		sc := &c.Sensors[i]
		where := fmt.Sprintf("sensors[%d] %s", i, sc.Name)
		if !wire.ValidID(sc.Name) || names[sc.Name] {
			return fmt.Errorf("%s: a unique name is required (letters, digits, '_', '.', ':' or '-')", where)
		}
		names[sc.Name] = true
		if err := mqttclient.Validate(sc.Broker, sc.TLS, sc.Auth); err != nil {
			return fmt.Errorf("%s: %w", where, err)
		}
		if sc.mapping == nil {
			return fmt.Errorf("%s: mapping is required", where)
		}
		if sc.Enterprise != "" {
			m, err := sc.mapping.WithEnterprise(sc.Enterprise)
			if err != nil {
				return fmt.Errorf("%s: %w", where, err)
			}
			sc.mapping = m
		} else if sc.mapping.NeedsEnterprise() {
			return fmt.Errorf("%s: mapping %s needs an enterprise", where, sc.mapping.Name())
		}
		if sc.MaxRate < 0 {
			return fmt.Errorf("%s: max_rate %v is negative", where, sc.MaxRate)
		}
	}
	return nil
}

// loadMappings resolves each sensor's mapping: a built-in name or a file.
func (c *Config) loadMappings(dir string) error {
	for i := range c.Sensors {
		sc := &c.Sensors[i]
		if sc.Mapping == "" {
			continue
		}
		if !strings.HasSuffix(sc.Mapping, ".yaml") && !strings.HasSuffix(sc.Mapping, ".yml") {
			m, err := sensor.Builtin(sc.Mapping)
			if err != nil {
				return fmt.Errorf("sensors[%d] %s: %w", i, sc.Name, err)
			}
			sc.mapping = m
			continue
		}
		path := sc.Mapping
		if !filepath.IsAbs(path) {
			path = filepath.Join(dir, path)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("sensors[%d] %s: %w", i, sc.Name, err)
		}
		if sc.mapping, err = sensor.Parse(data, path); err != nil {
			return fmt.Errorf("sensors[%d] %s: %w", i, sc.Name, err)
		}
	}
	return nil
}
