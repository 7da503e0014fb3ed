package alert

import (
	"bytes"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // the park's zone must not depend on the host's zoneinfo (distroless, scratch)

	"go.yaml.in/yaml/v3"

	"github.com/parkcarbon/parkcarbon/internal/configfile"
	"github.com/parkcarbon/parkcarbon/internal/wire"
)

// Rule kinds.
const (
	KindIntensity = "intensity" // a rollup intensity over the enterprise's tier limit
	KindLive      = "live"      // a live quantity over a threshold
	KindSilence   = "silence"   // a meter or gateway silent for N of its intervals
	KindQuality   = "quality"   // data-quality events (reset, implausible, glitch, …)
)

// Limit names, as in tiers and in rules' `limit`.
const (
	LimitDailyKWhPerMu       = "daily_kwh_per_mu"
	LimitMonthlyKWhPerMu     = "monthly_kwh_per_mu"
	LimitKgCO2PerMuYear      = "kgco2_per_mu_year"
	LimitTCO2Per10kCNYOutput = "tco2_per_10k_cny_output"
	LimitContractedDemandKW  = "contracted_demand_kw"
)

// Windows of intensity rules: calendar days in the park's time zone, each
// counted whole (today is one day, however much of it has passed), so a
// figure never overstates and crosses its limit only once consumption has.
const (
	WindowToday       = "today"        // since local midnight
	WindowLast30Days  = "last_30d"     // the last 30 calendar days, today included
	WindowYearToDate  = "year_to_date" // since 1 January, annualized over the days begun
	defaultTimezone   = "Asia/Shanghai"
	defaultInterval   = time.Minute
	defaultSeverity   = "warning"
	defaultHysteresis = 0.05
	defaultRepeat     = 4 * time.Hour
)

// Config is alerts.yaml: the park's tiers and their limits, the rules and
// the notifiers. It is the same for every collector instance; what differs
// per instance (StateDir, Shard) is set by the caller from collector.yaml.
type Config struct {
	// Interval is how often intensity and silence rules are evaluated.
	Interval time.Duration `yaml:"interval"`
	// Timezone is the park's: days, months and years are its civil ones.
	Timezone string `yaml:"timezone"`
	// GeneratorURL is sent to Alertmanager as each alert's link back,
	// e.g. http://collector:9100/api/alerts.
	GeneratorURL string            `yaml:"generator_url"`
	Defaults     Defaults          `yaml:"defaults"`
	Tiers        map[string]*Tier  `yaml:"tiers"`
	Enterprises  map[string]Limits `yaml:"enterprises"`
	Rules        []*Rule           `yaml:"rules"`
	Notifiers    NotifiersConfig   `yaml:"notifiers"`

	// StateDir holds the alert state file; required by New.
	StateDir string `yaml:"-"`
	// Shard selects the enterprises this instance evaluates.
	Shard Shard `yaml:"-"`

	file string
	loc  *time.Location
}

// Defaults apply to every rule that does not set its own.
type Defaults struct {
	Severity       string         `yaml:"severity"`        // default warning
	For            *time.Duration `yaml:"for"`             // default 0: fire at once
	Hysteresis     *float64       `yaml:"hysteresis"`      // default 0.05
	RepeatInterval *time.Duration `yaml:"repeat_interval"` // default 4h; 0: never repeat
}

// Limits are the limits of a tier, an industry within it, or one
// enterprise. A missing limit is inherited (enterprise, then industry, then
// tier); a limit nobody sets means the rules using it skip the enterprise.
type Limits struct {
	DailyKWhPerMu       *float64 `yaml:"daily_kwh_per_mu"`        // kWh per mu and day
	MonthlyKWhPerMu     *float64 `yaml:"monthly_kwh_per_mu"`      // kWh per mu and month (1/12 year)
	KgCO2PerMuYear      *float64 `yaml:"kgco2_per_mu_year"`       // kgCO2 per mu and year, annualized
	TCO2Per10kCNYOutput *float64 `yaml:"tco2_per_10k_cny_output"` // tCO2 per 10,000 CNY of output value
	ContractedDemandKW  *float64 `yaml:"contracted_demand_kw"`    // kW, for live rules
}

func (l *Limits) get(name string) *float64 {
	switch name {
	case LimitDailyKWhPerMu:
		return l.DailyKWhPerMu
	case LimitMonthlyKWhPerMu:
		return l.MonthlyKWhPerMu
	case LimitKgCO2PerMuYear:
		return l.KgCO2PerMuYear
	case LimitTCO2Per10kCNYOutput:
		return l.TCO2Per10kCNYOutput
	case LimitContractedDemandKW:
		return l.ContractedDemandKW
	}
	return nil
}

func (l *Limits) validate() error {
	for _, name := range limitNames {
		if v := l.get(name); v != nil && (math.IsNaN(*v) || math.IsInf(*v, 0) || *v <= 0) {
			return fmt.Errorf("%s %v is not a positive number", name, *v)
		}
	}
	return nil
}

var limitNames = []string{LimitDailyKWhPerMu, LimitMonthlyKWhPerMu, LimitKgCO2PerMuYear, LimitTCO2Per10kCNYOutput, LimitContractedDemandKW}

// Tier is a registry tier's limits, optionally refined per industry: the
// key is a prefix of the registry's industry code (GB/T 4754: C33 covers
// C3391), the longest matching prefix wins.
type Tier struct {
	Limits     `yaml:",inline"`
	Industries map[string]Limits `yaml:"industries"`
}

// Rule is one alert rule. Which keys apply depends on Kind.
type Rule struct {
	Name           string            `yaml:"name"`
	Kind           string            `yaml:"kind"`
	Severity       string            `yaml:"severity"`
	For            *time.Duration    `yaml:"for"`
	Hysteresis     *float64          `yaml:"hysteresis"`
	RepeatInterval *time.Duration    `yaml:"repeat_interval"`
	Labels         map[string]string `yaml:"labels"`

	// Limit is a tier limit (intensity: required; live: or Threshold).
	Limit string `yaml:"limit"`
	// Window is the intensity rule's window.
	Window string `yaml:"window"`

	// Live rules: the latest value of Quantity per meter of the enterprise,
	// summed (sum) or the largest (max), over Threshold or the limit.
	Quantity  string        `yaml:"quantity"`
	Energy    string        `yaml:"energy"`    // default electricity
	Threshold *float64      `yaml:"threshold"` // in the readings' unit
	Aggregate string        `yaml:"aggregate"` // sum (default) or max
	Meters    []string      `yaml:"meters"`    // only these meters (the incomers: sub-meters would count twice)
	MaxAge    time.Duration `yaml:"max_age"`   // older readings are ignored; default 5m

	// Silence rules.
	Target      string        `yaml:"target"`       // meter or gateway
	Intervals   float64       `yaml:"intervals"`    // default 3
	Interval    time.Duration `yaml:"interval"`     // default: the median gap between the meter's readings
	ForgetAfter time.Duration `yaml:"forget_after"` // a meter silent this long is forgotten; default 168h

	// Quality rules.
	Events   []string      `yaml:"events"`    // event kinds
	MinCount int           `yaml:"min_count"` // events within Within to fire; default 1
	Within   time.Duration `yaml:"within"`    // default 1h

	Line int `yaml:"-"` // line of the rule in alerts.yaml

	forDur     time.Duration
	hysteresis float64
	repeat     time.Duration
}

// NotifiersConfig lists where alerts go. Every notifier has its own bounded
// queue and worker, so a receiver that is down delays nothing else.
type NotifiersConfig struct {
	Webhooks      []WebhookConfig      `yaml:"webhooks"`
	MQTT          *MQTTConfig          `yaml:"mqtt"`
	Alertmanagers []AlertmanagerConfig `yaml:"alertmanagers"`
}

// Delivery tunes one notifier's queue and retries.
type Delivery struct {
	Timeout time.Duration `yaml:"timeout"` // per attempt; default 10s
	Retries *int          `yaml:"retries"` // attempts after the first; default 5
	Backoff time.Duration `yaml:"backoff"` // first wait, doubling up to 1m; default 1s
	Queue   int           `yaml:"queue"`   // notifications waiting at most (the oldest go first); default 1000
}

// WebhookConfig is an HTTP receiver of signed JSON notifications.
type WebhookConfig struct {
	Name       string `yaml:"name"`
	URL        string `yaml:"url"`
	SecretFile string `yaml:"secret_file"` // HMAC key, relative to alerts.yaml
	SecretEnv  string `yaml:"secret_env"`  // or the environment variable holding it
	Delivery   `yaml:",inline"`
	Line       int `yaml:"-"`
}

// MQTTConfig publishes each enterprise's firing alerts, retained.
type MQTTConfig struct {
	Broker       string        `yaml:"broker"`
	TopicPrefix  string        `yaml:"topic_prefix"` // default park: park/alerts/{enterprise}
	ClientID     string        `yaml:"client_id"`    // default park-collector-alerts (-{shard} with several)
	Username     string        `yaml:"username"`
	PasswordFile string        `yaml:"password_file"`
	PasswordEnv  string        `yaml:"password_env"`
	Resend       time.Duration `yaml:"resend"` // republish firing alerts this often; default 1h
	Delivery     `yaml:",inline"`
}

// AlertmanagerConfig is a Prometheus Alertmanager (v2 API).
type AlertmanagerConfig struct {
	Name string `yaml:"name"`
	URL  string `yaml:"url"` // http://host:9093
	// Resend is how often firing alerts are sent again: Alertmanager
	// resolves an alert it has not heard of by its endsAt, 4 resends ahead.
	Resend   time.Duration `yaml:"resend"` // default 1m
	Delivery `yaml:",inline"`
	Line     int `yaml:"-"`
}

// Shard partitions enterprises among collector instances: instance Index of
// Count evaluates the enterprises whose FNV-1a hash of the id modulo Count
// is Index. Every instance must have the same Count and a distinct Index.
type Shard struct {
	Index int `yaml:"index"`
	Count int `yaml:"count"` // 0 or 1: one instance evaluates everything
}

// Owns reports whether this instance evaluates the enterprise.
func (s Shard) Owns(enterprise string) bool {
	if s.Count <= 1 {
		return true
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(enterprise))
	return int(h.Sum32()%uint32(s.Count)) == s.Index
}

// Validate checks that Index is within Count.
func (s Shard) Validate() error {
	if s.Count < 0 || s.Index < 0 || (s.Count > 1 && s.Index >= s.Count) || (s.Count <= 1 && s.Index != 0) {
		return fmt.Errorf("shard index %d of count %d: want 0 ≤ index < count", s.Index, s.Count)
	}
	return nil
}

// Load reads alerts.yaml, expanding ${ENV}, and parses it. It returns the
// referenced variables that were not set.
func Load(path string) (*Config, []string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("read alerts config: %w", err)
	}
	data, unset := configfile.Expand(data, os.LookupEnv)
	c, err := Parse(data, path)
	return c, unset, err
}

// Parse decodes and validates alerts.yaml; file names it in errors and
// anchors relative paths. Decoding is strict, and each error names the line
// and the rule, tier or notifier it is in.
func Parse(data []byte, file string) (*Config, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%s: %s", file, cleanYAMLError(err.Error()))
	}
	pos := positionsOf(&doc)
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s: empty file", file)
		}
		var te *yaml.TypeError
		if errors.As(err, &te) {
			msgs := make([]string, len(te.Errors))
			for i, m := range te.Errors {
				msgs[i] = pos.annotate(cleanYAMLError(m))
			}
			return nil, fmt.Errorf("%s: %s", file, strings.Join(msgs, "; "))
		}
		return nil, fmt.Errorf("%s: %s", file, cleanYAMLError(err.Error()))
	}
	c.file = file
	for i, r := range c.Rules {
		if r != nil && i < len(pos.rules) {
			r.Line = pos.rules[i].line
		}
	}
	for i := range c.Notifiers.Webhooks {
		if i < len(pos.webhooks) {
			c.Notifiers.Webhooks[i].Line = pos.webhooks[i].line
		}
	}
	for i := range c.Notifiers.Alertmanagers {
		if i < len(pos.alertmanagers) {
			c.Notifiers.Alertmanagers[i].Line = pos.alertmanagers[i].line
		}
	}
	if err := c.setDefaults(pos); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return &c, nil
}

// setDefaults fills defaults and validates.
func (c *Config) setDefaults(pos *positions) error {
	if c.Interval == 0 {
		c.Interval = defaultInterval
	}
	if c.Interval < time.Second {
		return fmt.Errorf("interval %v: want at least 1s", c.Interval)
	}
	if c.Timezone == "" {
		c.Timezone = defaultTimezone
	}
	loc, err := time.LoadLocation(c.Timezone)
	if err != nil {
		return fmt.Errorf("timezone %q: %w", c.Timezone, err)
	}
	c.loc = loc
	if c.GeneratorURL != "" {
		if u, err := url.Parse(c.GeneratorURL); err != nil || u.Scheme == "" || u.Host == "" {
			return fmt.Errorf("generator_url %q: want an absolute URL", c.GeneratorURL)
		}
	}
	d := &c.Defaults
	if d.Severity == "" {
		d.Severity = defaultSeverity
	}
	if !labelValue.MatchString(d.Severity) {
		return fmt.Errorf("defaults: severity %q is not a short identifier", d.Severity)
	}
	if d.For == nil {
		d.For = new(time.Duration)
	}
	if d.Hysteresis == nil {
		d.Hysteresis = ptr(defaultHysteresis)
	}
	if d.RepeatInterval == nil {
		d.RepeatInterval = ptr(defaultRepeat)
	}
	if err := checkLifecycle(*d.For, *d.Hysteresis, *d.RepeatInterval); err != nil {
		return fmt.Errorf("defaults: %w", err)
	}
	for _, name := range sortedKeys(c.Tiers) {
		t := c.Tiers[name]
		where := fmt.Sprintf("line %d: tier %q", pos.tiers[name], name)
		if t == nil {
			c.Tiers[name] = &Tier{}
			continue
		}
		if err := t.validate(); err != nil {
			return fmt.Errorf("%s: %w", where, err)
		}
		for _, ind := range sortedKeys(t.Industries) {
			l := t.Industries[ind]
			if err := l.validate(); err != nil {
				return fmt.Errorf("%s: industry %q: %w", where, ind, err)
			}
		}
	}
	for _, id := range sortedKeys(c.Enterprises) {
		l := c.Enterprises[id]
		if !wire.ValidID(id) {
			return fmt.Errorf("line %d: enterprise %q is not a valid identifier", pos.enterprises[id], id)
		}
		if err := l.validate(); err != nil {
			return fmt.Errorf("line %d: enterprise %q: %w", pos.enterprises[id], id, err)
		}
	}
	if len(c.Rules) == 0 {
		return errors.New("no rules (want a list under the key rules)")
	}
	seen := map[string]int{}
	for i, r := range c.Rules {
		if r == nil {
			return fmt.Errorf("rule #%d is empty", i+1)
		}
		if err := r.setDefaults(d); err != nil {
			return fmt.Errorf("line %d: rule %s: %w", r.Line, describe(r.Name, i), err)
		}
		if first, dup := seen[r.Name]; dup {
			return fmt.Errorf("line %d: rule %q: duplicate name (first at line %d)", r.Line, r.Name, first)
		}
		seen[r.Name] = r.Line
		if r.Limit != "" && !c.limitDefined(r.Limit) {
			return fmt.Errorf("line %d: rule %q: no tier or enterprise sets %s", r.Line, r.Name, r.Limit)
		}
	}
	return c.Notifiers.setDefaults(filepath.Dir(c.file))
}

func (c *Config) limitDefined(name string) bool {
	for _, t := range c.Tiers {
		if t.get(name) != nil {
			return true
		}
		for _, l := range t.Industries {
			if l.get(name) != nil {
				return true
			}
		}
	}
	for _, l := range c.Enterprises {
		if l.get(name) != nil {
			return true
		}
	}
	return false
}

func (t *Tier) validate() error { return t.Limits.validate() }

func checkLifecycle(forDur time.Duration, h float64, repeat time.Duration) error {
	switch {
	case forDur < 0:
		return fmt.Errorf("for %v is negative", forDur)
	case math.IsNaN(h) || h < 0 || h >= 1:
		return fmt.Errorf("hysteresis %v: want a fraction in [0, 1)", h)
	case repeat < 0:
		return fmt.Errorf("repeat_interval %v is negative", repeat)
	}
	return nil
}

// labelName is what Alertmanager accepts as a label name.
var labelName = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

// labelValue keeps severities and names short and safe as InfluxDB tags.
var labelValue = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$`)

// reservedLabels are set by the engine; a rule may not override them.
var reservedLabels = []string{"alertname", "enterprise", "severity", "kind", "tier", "window", "meter", "gateway", "quantity"}

func (r *Rule) setDefaults(d *Defaults) error {
	if r.Name == "" {
		return errors.New("missing name")
	}
	if !labelValue.MatchString(r.Name) {
		return fmt.Errorf("name %q: want letters, digits, _ . : - (at most 64)", r.Name)
	}
	if r.Severity == "" {
		r.Severity = d.Severity
	}
	if !labelValue.MatchString(r.Severity) {
		return fmt.Errorf("severity %q is not a short identifier", r.Severity)
	}
	r.forDur, r.hysteresis, r.repeat = *d.For, *d.Hysteresis, *d.RepeatInterval
	if r.For != nil {
		r.forDur = *r.For
	}
	if r.Hysteresis != nil {
		r.hysteresis = *r.Hysteresis
	}
	if r.RepeatInterval != nil {
		r.repeat = *r.RepeatInterval
	}
	if err := checkLifecycle(r.forDur, r.hysteresis, r.repeat); err != nil {
		return err
	}
	for k, v := range r.Labels {
		if !labelName.MatchString(k) || slices.Contains(reservedLabels, k) {
			return fmt.Errorf("label %q: want a label name ([a-zA-Z_][a-zA-Z0-9_]*) other than %s", k, strings.Join(reservedLabels, ", "))
		}
		if len(v) > 256 {
			return fmt.Errorf("label %q: value longer than 256 bytes", k)
		}
	}
	// Keys of other kinds are errors, not ignored: a window on a live rule
	// is a misunderstanding worth a message.
	type key struct {
		name  string
		set   bool
		kinds []string
	}
	keys := []key{
		{"limit", r.Limit != "", []string{KindIntensity, KindLive}},
		{"window", r.Window != "", []string{KindIntensity}},
		{"quantity", r.Quantity != "", []string{KindLive}},
		{"energy", r.Energy != "", []string{KindLive}},
		{"threshold", r.Threshold != nil, []string{KindLive}},
		{"aggregate", r.Aggregate != "", []string{KindLive}},
		{"meters", r.Meters != nil, []string{KindLive}},
		{"max_age", r.MaxAge != 0, []string{KindLive}},
		{"target", r.Target != "", []string{KindSilence}},
		{"intervals", r.Intervals != 0, []string{KindSilence}},
		{"interval", r.Interval != 0, []string{KindSilence}},
		{"forget_after", r.ForgetAfter != 0, []string{KindSilence}},
		{"events", r.Events != nil, []string{KindQuality}},
		{"min_count", r.MinCount != 0, []string{KindQuality}},
		{"within", r.Within != 0, []string{KindQuality}},
	}
	switch r.Kind {
	case KindIntensity, KindLive, KindSilence, KindQuality:
	case "":
		return errors.New("missing kind (intensity, live, silence or quality)")
	default:
		return fmt.Errorf("kind %q: want intensity, live, silence or quality", r.Kind)
	}
	for _, k := range keys {
		if k.set && !slices.Contains(k.kinds, r.Kind) {
			return fmt.Errorf("%s applies to %s rules, not %s", k.name, strings.Join(k.kinds, " and "), r.Kind)
		}
	}
	switch r.Kind {
	case KindIntensity:
		return r.intensityDefaults()
	case KindLive:
		return r.liveDefaults()
	case KindSilence:
		return r.silenceDefaults()
	default:
		return r.qualityDefaults()
	}
}

func (r *Rule) intensityDefaults() error {
	switch r.Limit {
	case LimitDailyKWhPerMu, LimitMonthlyKWhPerMu, LimitKgCO2PerMuYear, LimitTCO2Per10kCNYOutput:
	case "":
		return errors.New("missing limit (daily_kwh_per_mu, monthly_kwh_per_mu, kgco2_per_mu_year or tco2_per_10k_cny_output)")
	default:
		return fmt.Errorf("limit %q: want daily_kwh_per_mu, monthly_kwh_per_mu, kgco2_per_mu_year or tco2_per_10k_cny_output", r.Limit)
	}
	switch r.Window {
	case WindowToday, WindowLast30Days, WindowYearToDate:
	case "":
		return errors.New("missing window (today, last_30d or year_to_date)")
	default:
		return fmt.Errorf("window %q: want today, last_30d or year_to_date", r.Window)
	}
	return nil
}

func (r *Rule) liveDefaults() error {
	if r.Quantity == "" {
		return errors.New("missing quantity (e.g. active_power)")
	}
	if !wire.ValidID(r.Quantity) {
		return fmt.Errorf("quantity %q is not a valid identifier", r.Quantity)
	}
	if r.Energy == "" {
		r.Energy = wire.Electricity
	}
	if _, ok := wire.CumulativeQuantity(r.Energy); !ok {
		return fmt.Errorf("energy %q: want electricity, gas, water or heat", r.Energy)
	}
	switch {
	case r.Threshold == nil && r.Limit == "":
		return errors.New("missing threshold or limit (e.g. limit: contracted_demand_kw)")
	case r.Threshold != nil && r.Limit != "":
		return errors.New("threshold and limit are exclusive")
	case r.Threshold != nil && (math.IsNaN(*r.Threshold) || math.IsInf(*r.Threshold, 0)):
		return fmt.Errorf("threshold %v is not a finite number", *r.Threshold)
	case r.Limit != "" && r.Limit != LimitContractedDemandKW:
		return fmt.Errorf("limit %q: live rules take contracted_demand_kw", r.Limit)
	}
	switch r.Aggregate {
	case "":
		r.Aggregate = "sum"
	case "sum", "max":
	default:
		return fmt.Errorf("aggregate %q: want sum or max", r.Aggregate)
	}
	for _, m := range r.Meters {
		if !wire.ValidID(m) {
			return fmt.Errorf("meter %q is not a valid identifier", m)
		}
	}
	if r.MaxAge == 0 {
		r.MaxAge = 5 * time.Minute
	}
	if r.MaxAge < 0 {
		return fmt.Errorf("max_age %v is negative", r.MaxAge)
	}
	return nil
}

func (r *Rule) silenceDefaults() error {
	switch r.Target {
	case "meter", "gateway":
	case "":
		return errors.New("missing target (meter or gateway)")
	default:
		return fmt.Errorf("target %q: want meter or gateway", r.Target)
	}
	if r.Intervals == 0 {
		r.Intervals = 3
	}
	if math.IsNaN(r.Intervals) || r.Intervals < 1 {
		return fmt.Errorf("intervals %v: want at least 1", r.Intervals)
	}
	if r.Interval < 0 {
		return fmt.Errorf("interval %v is negative", r.Interval)
	}
	if r.ForgetAfter == 0 {
		r.ForgetAfter = 7 * 24 * time.Hour
	}
	if r.ForgetAfter < 0 {
		return fmt.Errorf("forget_after %v is negative", r.ForgetAfter)
	}
	return nil
}

func (r *Rule) qualityDefaults() error {
	if len(r.Events) == 0 {
		return errors.New("missing events (e.g. [reset, implausible, glitch])")
	}
	for _, k := range r.Events {
		if !wire.ValidID(k) {
			return fmt.Errorf("event kind %q is not a valid identifier", k)
		}
	}
	if r.MinCount == 0 {
		r.MinCount = 1
	}
	if r.MinCount < 0 {
		return fmt.Errorf("min_count %d is negative", r.MinCount)
	}
	if r.Within == 0 {
		r.Within = time.Hour
	}
	if r.Within < 0 {
		return fmt.Errorf("within %v is negative", r.Within)
	}
	return nil
}

func (d *Delivery) setDefaults(where string) error {
	if d.Timeout == 0 {
		d.Timeout = 10 * time.Second
	}
	if d.Retries == nil {
		d.Retries = ptr(5)
	}
	if d.Backoff == 0 {
		d.Backoff = time.Second
	}
	if d.Queue == 0 {
		d.Queue = 1000
	}
	if d.Timeout < 0 || *d.Retries < 0 || d.Backoff < 0 || d.Queue < 0 {
		return fmt.Errorf("%s: timeout, retries, backoff and queue must not be negative", where)
	}
	return nil
}

func (n *NotifiersConfig) setDefaults(dir string) error {
	names := map[string]bool{}
	unique := func(kind, name string) error {
		if names[kind+":"+name] {
			return fmt.Errorf("two %ss named %q", kind, name)
		}
		names[kind+":"+name] = true
		return nil
	}
	for i := range n.Webhooks {
		w := &n.Webhooks[i]
		if w.Name == "" {
			w.Name = "webhook-" + strconv.Itoa(i+1)
		}
		where := fmt.Sprintf("line %d: webhook %q", w.Line, w.Name)
		if !labelValue.MatchString(w.Name) {
			return fmt.Errorf("%s: name is not a short identifier", where)
		}
		if err := unique("webhook", w.Name); err != nil {
			return fmt.Errorf("%s: %w", where, err)
		}
		if u, err := url.Parse(w.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("%s: url %q: want http:// or https://", where, w.URL)
		}
		switch {
		case w.SecretFile == "" && w.SecretEnv == "":
			return fmt.Errorf("%s: secret_file or secret_env is required (the HMAC key of the signature)", where)
		case w.SecretFile != "" && w.SecretEnv != "":
			return fmt.Errorf("%s: secret_file and secret_env are exclusive", where)
		case w.SecretFile != "" && !filepath.IsAbs(w.SecretFile):
			w.SecretFile = filepath.Join(dir, w.SecretFile)
		}
		if err := w.Delivery.setDefaults(where); err != nil {
			return err
		}
	}
	if m := n.MQTT; m != nil {
		u, err := url.Parse(m.Broker)
		if err != nil || (u.Scheme != "tcp" && u.Scheme != "ssl") || u.Host == "" {
			return fmt.Errorf("notifiers.mqtt: broker %q: want tcp://host:port or ssl://host:port", m.Broker)
		}
		if m.TopicPrefix == "" {
			m.TopicPrefix = "park"
		}
		if !wire.ValidID(m.TopicPrefix) {
			return fmt.Errorf("notifiers.mqtt: topic_prefix %q is not a single topic level", m.TopicPrefix)
		}
		if m.ClientID == "" {
			m.ClientID = "park-collector-alerts"
		}
		if m.PasswordFile != "" && m.PasswordEnv != "" {
			return errors.New("notifiers.mqtt: password_file and password_env are exclusive")
		}
		if m.PasswordFile != "" && !filepath.IsAbs(m.PasswordFile) {
			m.PasswordFile = filepath.Join(dir, m.PasswordFile)
		}
		if m.Resend == 0 {
			m.Resend = time.Hour
		}
		if m.Resend < 0 {
			return fmt.Errorf("notifiers.mqtt: resend %v is negative", m.Resend)
		}
		if err := m.Delivery.setDefaults("notifiers.mqtt"); err != nil {
			return err
		}
	}
	for i := range n.Alertmanagers {
		a := &n.Alertmanagers[i]
		if a.Name == "" {
			a.Name = "alertmanager-" + strconv.Itoa(i+1)
		}
		where := fmt.Sprintf("line %d: alertmanager %q", a.Line, a.Name)
		if !labelValue.MatchString(a.Name) {
			return fmt.Errorf("%s: name is not a short identifier", where)
		}
		if err := unique("alertmanager", a.Name); err != nil {
			return fmt.Errorf("%s: %w", where, err)
		}
		if u, err := url.Parse(a.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("%s: url %q: want http://host:9093", where, a.URL)
		}
		if a.Resend == 0 {
			a.Resend = time.Minute
		}
		if a.Resend < 0 {
			return fmt.Errorf("%s: resend %v is negative", where, a.Resend)
		}
		if err := a.Delivery.setDefaults(where); err != nil {
			return err
		}
	}
	return nil
}

// LimitFor resolves a limit for an enterprise: its own, then its industry's
// within its tier (longest prefix), then its tier's.
func (c *Config) LimitFor(name, id, tier, industry string) (float64, bool) {
	if l, ok := c.Enterprises[id]; ok {
		if v := l.get(name); v != nil {
			return *v, true
		}
	}
	t := c.Tiers[tier]
	if t == nil {
		return 0, false
	}
	best := -1
	var v *float64
	for prefix, l := range t.Industries {
		if industry != "" && strings.HasPrefix(industry, prefix) && len(prefix) > best {
			if x := l.get(name); x != nil {
				best, v = len(prefix), x
			}
		}
	}
	if v != nil {
		return *v, true
	}
	if x := t.get(name); x != nil {
		return *x, true
	}
	return 0, false
}

// Location is the park's time zone.
func (c *Config) Location() *time.Location { return c.loc }

// positions are where the document's rules, tiers and notifiers start, for
// messages; a strict decode error carries only a line.
type positions struct {
	rules, webhooks, alertmanagers []entryPos
	tiers, enterprises             map[string]int
	sections                       []entryPos // every entry with a name, sorted by line, and top-level keys as boundaries
}

type entryPos struct {
	line  int
	label string // "" for a top-level boundary
}

func positionsOf(doc *yaml.Node) *positions {
	p := &positions{tiers: map[string]int{}, enterprises: map[string]int{}}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return p
	}
	root := doc.Content[0]
	seq := func(n *yaml.Node, kind string) []entryPos {
		if n.Kind != yaml.SequenceNode {
			return nil
		}
		var out []entryPos
		for i, item := range n.Content {
			name := ""
			if item.Kind == yaml.MappingNode {
				for j := 0; j+1 < len(item.Content); j += 2 {
					if item.Content[j].Value == "name" {
						name = item.Content[j+1].Value
					}
				}
			}
			e := entryPos{line: item.Line, label: kind + " " + describe(name, i)}
			out = append(out, e)
			p.sections = append(p.sections, e)
		}
		return out
	}
	keys := func(n *yaml.Node, kind string, into map[string]int) {
		if n.Kind != yaml.MappingNode {
			return
		}
		for j := 0; j+1 < len(n.Content); j += 2 {
			k := n.Content[j]
			into[k.Value] = k.Line
			p.sections = append(p.sections, entryPos{line: k.Line, label: kind + " " + strconv.Quote(k.Value)})
		}
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		p.sections = append(p.sections, entryPos{line: k.Line})
		switch k.Value {
		case "rules":
			p.rules = seq(v, "rule")
		case "tiers":
			keys(v, "tier", p.tiers)
		case "enterprises":
			keys(v, "enterprise", p.enterprises)
		case "notifiers":
			if v.Kind != yaml.MappingNode {
				continue
			}
			for j := 0; j+1 < len(v.Content); j += 2 {
				p.sections = append(p.sections, entryPos{line: v.Content[j].Line})
				switch v.Content[j].Value {
				case "webhooks":
					p.webhooks = seq(v.Content[j+1], "webhook")
				case "alertmanagers":
					p.alertmanagers = seq(v.Content[j+1], "alertmanager")
				}
			}
		}
	}
	sort.SliceStable(p.sections, func(i, j int) bool { return p.sections[i].line < p.sections[j].line })
	return p
}

var linePrefix = regexp.MustCompile(`^line (\d+): `)

// annotate adds the rule, tier or notifier an error line falls in.
func (p *positions) annotate(msg string) string {
	m := linePrefix.FindStringSubmatch(msg)
	if m == nil {
		return msg
	}
	line, _ := strconv.Atoi(m[1])
	i := sort.Search(len(p.sections), func(i int) bool { return p.sections[i].line > line }) - 1
	if i < 0 || p.sections[i].label == "" {
		return msg
	}
	return m[0] + p.sections[i].label + ": " + msg[len(m[0]):]
}

func describe(name string, i int) string {
	if name == "" {
		return "#" + strconv.Itoa(i+1)
	}
	return strconv.Quote(name)
}

var unknownKey = regexp.MustCompile(`field (\S+) not found in type \S+`)

// cleanYAMLError speaks of keys, not of Go types.
func cleanYAMLError(msg string) string {
	msg = strings.TrimPrefix(msg, "yaml: ")
	msg = strings.Replace(msg, "unmarshal errors:\n  ", "", 1)
	msg = strings.ReplaceAll(msg, "\n  ", "; ")
	msg = strings.ReplaceAll(msg, "into time.Duration", "as a duration (like 90s, 15m, 4h)")
	return unknownKey.ReplaceAllString(msg, `unknown key "$1"`)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func ptr[T any](v T) *T { return &v }
