package central

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/parkcarbon/parkcarbon/carbon"
	"github.com/parkcarbon/parkcarbon/collector/alert"
	"github.com/parkcarbon/parkcarbon/internal/configfile"
	"github.com/parkcarbon/parkcarbon/internal/mqttclient"
	"github.com/parkcarbon/parkcarbon/internal/wire"
)

// Config is collector.yaml.
type Config struct {
	MQTT        MQTTConfig   `yaml:"mqtt"`
	InfluxDB    InfluxConfig `yaml:"influxdb"`
	Carbon      CarbonConfig `yaml:"carbon"`
	Enterprises string       `yaml:"enterprises"` // registry file, relative to this file; used by intensity and tiers
	HTTP        HTTPConfig   `yaml:"http"`
	Log         LogConfig    `yaml:"log"`
	Ingest      IngestConfig `yaml:"ingest"`
	Spool       SpoolConfig  `yaml:"spool"`
	// Alerts is the alert rules file (alerts.yaml), relative to this file;
	// empty: no alerts. It needs the enterprise registry.
	Alerts string `yaml:"alerts"`
	// AlertsStateDir keeps pending and firing alerts across restarts
	// (default {spool.dir}/alerts).
	AlertsStateDir string `yaml:"alerts_state_dir"`
	// AlertsShard: with several collector instances, each evaluates the
	// enterprises whose FNV-1a hash modulo count equals its index.
	AlertsShard alert.Shard `yaml:"alerts_shard"`
}

// SpoolConfig is the disk queue for batches InfluxDB cannot take right now:
// messages are acknowledged once spooled, and the spool drains in order.
type SpoolConfig struct {
	Dir     string          `yaml:"dir"`      // default ./data next to the config file
	MaxSize configfile.Size `yaml:"max_size"` // default 2GiB; the oldest batches go first when full
}

// MQTTConfig is the broker the collector subscribes to.
type MQTTConfig struct {
	Broker      string `yaml:"broker"`
	TopicPrefix string `yaml:"topic_prefix"` // default park
	ClientID    string `yaml:"client_id"`    // default park-collector; must be stable for the persistent session
	// username, password or password_file
	mqttclient.Auth `yaml:",inline"`
	TLS             mqttclient.TLS `yaml:"tls"`
	// ShareGroup, if set, subscribes to $share/{group}/{prefix}/+/+/readings so
	// that several collector instances split the messages.
	ShareGroup string `yaml:"share_group"`
}

// InfluxConfig is where readings and consumption are written.
type InfluxConfig struct {
	URL   string `yaml:"url"`
	Token string `yaml:"token"` // for InfluxDB 1.8: user:password (any string with auth off)
	// TokenFile holds the token (better than inline: configs get shared).
	TokenFile string        `yaml:"token_file"`
	Org       string        `yaml:"org"`    // ignored by InfluxDB 1.8
	Bucket    string        `yaml:"bucket"` // for InfluxDB 1.8: db/rp
	Timeout   time.Duration `yaml:"timeout"`
}

// CarbonConfig selects the emission factors.
type CarbonConfig struct {
	Region string `yaml:"region"` // grid region of the electricity factor, default CN
	// Factors is a file of the park's own factors (carbon/factors.yaml's
	// format), relative to this file; they take precedence over the built-in
	// ones for the periods they cover.
	Factors string `yaml:"factors"`
	// Enterprises overrides the electricity accounting of single enterprises:
	// region, contract_factor (market-based), or green_share with
	// residual_region, each with its source.
	Enterprises map[string]carbon.Override `yaml:"enterprises"`

	table *carbon.Table
}

// HTTPConfig is the admin and API listener.
type HTTPConfig struct {
	Listen string `yaml:"listen"` // default 127.0.0.1:9100
	// MetricsListen, if set, serves /metrics there instead of on listen.
	MetricsListen string `yaml:"metrics_listen"`
	// Token (or TokenFile) is the bearer token of the API: every mutating
	// endpoint needs it, and the read-only ones too unless PublicStatus.
	Token     string `yaml:"token"`
	TokenFile string `yaml:"token_file"`
	// PublicStatus leaves the status page and read-only API open (default
	// true); /healthz and /readyz are always open.
	PublicStatus *bool `yaml:"public_status"`
}

// APIToken returns the HTTP API's bearer token, reading token_file if set.
func (h HTTPConfig) APIToken() (string, error) {
	if h.TokenFile == "" {
		return h.Token, nil
	}
	return mqttclient.ReadSecretFile(h.TokenFile)
}

// LogConfig selects slog's handler.
type LogConfig struct {
	Level  string `yaml:"level"`
	Format string `yaml:"format"`
}

// IngestConfig tunes batching between the broker and InfluxDB.
type IngestConfig struct {
	// BatchPoints is how many points one InfluxDB write carries at most.
	// 2500 with 3 writers: max_inflight's 100 envelopes of 50 readings
	// then keep three writes busy at once (of 100,000 readings/s offered,
	// one writer of 5000 stored 72,800/s, three of 2500 all; BENCHMARKS.md).
	BatchPoints int `yaml:"batch_points"` // default 2500
	// MaxInflight bounds the messages received but not yet acknowledged,
	// and so the collector's memory: about 40 KB each for envelopes of 50
	// readings. Mosquitto 2.0 does not hold a subscriber to its
	// max_inflight_messages here (measured: 1,068 unacknowledged with 20
	// set), so this is the bound. 100 keeps a 60,000 readings/s backlog
	// under 40 MB; 1000 reached 130 MB (BENCHMARKS.md).
	MaxInflight int `yaml:"max_inflight"` // default 100
	// Writers is how many batches are written to InfluxDB at once (default
	// 3). influxd handles one write on one core, so a single writer left a
	// 2-core InfluxDB half idle while the collector waited on each write.
	// Messages are acknowledged in order whatever the number.
	Writers int `yaml:"writers"`
	// Linger is how long a write that is not full waits for more messages
	// (default 0: write what has arrived). A broker that holds a subscriber
	// to its max_inflight_messages (EMQX, HiveMQ, a v5 receive maximum;
	// Mosquitto 2.0 did not here) sends no more than that many meanwhile.
	Linger time.Duration `yaml:"linger"`
	// RollupInterval is how often an hour that keeps receiving data has its
	// consumption_hourly recomputed (default 10s). Each recompute sums the
	// hour's stored intervals in InfluxDB, so its cost grows through the hour.
	RollupInterval time.Duration `yaml:"rollup_interval"`
	// FillGaps books the interval across a lost edge state from the meter's
	// last stored total (default true).
	FillGaps *bool `yaml:"fill_gaps"`
	// MaxPayload bounds one message (default 1MiB).
	MaxPayload configfile.Size `yaml:"max_payload"`
	// MaxAge drops readings older than this (default 400 days: keep it at or
	// under the bucket's retention, beyond which InfluxDB drops them anyway).
	MaxAge time.Duration `yaml:"max_age"`
}

// LoadConfig reads collector.yaml, applies defaults and validates it.
func LoadConfig(path string) (*Config, []string, error) {
	var c Config
	warnings, err := configfile.Load(path, &c)
	if err != nil {
		return nil, nil, err
	}
	if c.Enterprises != "" && !filepath.IsAbs(c.Enterprises) {
		c.Enterprises = filepath.Join(filepath.Dir(path), c.Enterprises)
	}
	c.Carbon.table = carbon.DefaultTable()
	if c.Carbon.Factors != "" {
		fp := c.Carbon.Factors
		if !filepath.IsAbs(fp) {
			fp = filepath.Join(filepath.Dir(path), fp)
		}
		data, err := os.ReadFile(fp)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: carbon.factors: %w", path, err)
		}
		park, err := carbon.ParseTable(data)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", fp, err)
		}
		c.Carbon.table = c.Carbon.table.With(park)
	}
	if c.Spool.Dir == "" {
		c.Spool.Dir = "data"
	}
	if !filepath.IsAbs(c.Spool.Dir) {
		c.Spool.Dir = filepath.Join(filepath.Dir(path), c.Spool.Dir)
	}
	if c.Alerts != "" && !filepath.IsAbs(c.Alerts) {
		c.Alerts = filepath.Join(filepath.Dir(path), c.Alerts)
	}
	if c.AlertsStateDir != "" && !filepath.IsAbs(c.AlertsStateDir) {
		c.AlertsStateDir = filepath.Join(filepath.Dir(path), c.AlertsStateDir)
	}
	c.setDefaults()
	if err := c.Validate(); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return &c, warnings, nil
}

func (c *Config) setDefaults() {
	if c.MQTT.TopicPrefix == "" {
		c.MQTT.TopicPrefix = "park"
	}
	if c.MQTT.ClientID == "" {
		c.MQTT.ClientID = "park-collector"
	}
	if c.InfluxDB.Org == "" {
		c.InfluxDB.Org = "park"
	}
	if c.InfluxDB.Timeout == 0 {
		c.InfluxDB.Timeout = 10 * time.Second
	}
	if c.Carbon.Region == "" {
		c.Carbon.Region = "CN"
	}
	if c.HTTP.Listen == "" {
		c.HTTP.Listen = "127.0.0.1:9100"
	}
	if c.HTTP.PublicStatus == nil {
		public := true
		c.HTTP.PublicStatus = &public
	}
	if c.Log.Level == "" {
		c.Log.Level = "info"
	}
	if c.Ingest.BatchPoints == 0 {
		c.Ingest.BatchPoints = 2500
	}
	if c.Ingest.MaxInflight == 0 {
		c.Ingest.MaxInflight = 100
	}
	if c.Ingest.Writers == 0 {
		c.Ingest.Writers = 3
	}
	if c.Ingest.RollupInterval == 0 {
		c.Ingest.RollupInterval = 10 * time.Second
	}
	if c.Ingest.MaxPayload == 0 {
		c.Ingest.MaxPayload = 1 << 20
	}
	if c.Ingest.MaxAge == 0 {
		c.Ingest.MaxAge = 400 * 24 * time.Hour
	}
	if c.Ingest.FillGaps == nil {
		on := true
		c.Ingest.FillGaps = &on
	}
	if c.Spool.MaxSize == 0 {
		c.Spool.MaxSize = 2 << 30
	}
	if c.AlertsStateDir == "" {
		c.AlertsStateDir = filepath.Join(c.Spool.Dir, "alerts")
	}
	if c.AlertsShard.Count == 0 {
		c.AlertsShard.Count = 1
	}
}

// Validate checks what can be checked without connecting.
func (c *Config) Validate() error {
	if err := mqttclient.Validate(c.MQTT.Broker, c.MQTT.TLS, c.MQTT.Auth); err != nil {
		return fmt.Errorf("mqtt: %w", err)
	}
	if c.AlertsShard.Index < 0 || c.AlertsShard.Index >= c.AlertsShard.Count {
		return fmt.Errorf("alerts_shard: index %d is not below count %d", c.AlertsShard.Index, c.AlertsShard.Count)
	}
	if c.Alerts != "" && c.Enterprises == "" {
		return fmt.Errorf("alerts needs the enterprise registry (enterprises:)")
	}
	if c.HTTP.Token != "" && c.HTTP.TokenFile != "" {
		return fmt.Errorf("http: token and token_file exclude each other")
	}
	if !*c.HTTP.PublicStatus && c.HTTP.Token == "" && c.HTTP.TokenFile == "" {
		return fmt.Errorf("http: public_status is false but no token is set")
	}
	if c.InfluxDB.Token != "" && c.InfluxDB.TokenFile != "" {
		return fmt.Errorf("influxdb: token and token_file exclude each other")
	}
	if !wire.ValidID(c.MQTT.TopicPrefix) {
		return fmt.Errorf("mqtt.topic_prefix %q is not a single topic level", c.MQTT.TopicPrefix)
	}
	if c.MQTT.ShareGroup != "" && !wire.ValidID(c.MQTT.ShareGroup) {
		return fmt.Errorf("mqtt.share_group %q is not a single topic level", c.MQTT.ShareGroup)
	}
	u, err := url.Parse(c.InfluxDB.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("influxdb.url %q: want http://host:port or https://host:port", c.InfluxDB.URL)
	}
	if c.InfluxDB.Bucket == "" {
		return fmt.Errorf("influxdb.bucket is required (for InfluxDB 1.8: db/rp)")
	}
	if c.Carbon.table == nil {
		c.Carbon.table = carbon.DefaultTable()
	}
	if _, ok := c.Carbon.table.Lookup(carbon.Electricity, c.Carbon.Region, time.Now()); !ok {
		return fmt.Errorf("carbon.region %q has no electricity factor", c.Carbon.Region)
	}
	for id, o := range c.Carbon.Enterprises {
		if !wire.ValidID(id) {
			return fmt.Errorf("carbon.enterprises: invalid enterprise id %q", id)
		}
		if err := o.Validate(c.Carbon.table, time.Now()); err != nil {
			return fmt.Errorf("carbon.enterprises.%s: %w", id, err)
		}
	}
	if c.Ingest.BatchPoints < 1 || c.Ingest.MaxInflight < 1 {
		return fmt.Errorf("ingest.batch_points and ingest.max_inflight must be positive")
	}
	if c.Ingest.Writers < 1 || c.Ingest.Writers > 16 {
		return fmt.Errorf("ingest.writers %d: want 1 to 16", c.Ingest.Writers)
	}
	if c.Ingest.Linger < 0 || c.Ingest.Linger > 10*time.Second {
		return fmt.Errorf("ingest.linger %v: want 0 to 10s", c.Ingest.Linger)
	}
	if c.Ingest.RollupInterval < 100*time.Millisecond || c.Ingest.RollupInterval > time.Hour {
		return fmt.Errorf("ingest.rollup_interval %v: want 100ms to 1h", c.Ingest.RollupInterval)
	}
	return nil
}
