package alert

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parkcarbon/parkcarbon/carbon"
)

// The shipped example must parse, and every rule must apply to the demo
// registry: a limit no demo enterprise gets would be a dead rule.
func TestExampleConfig(t *testing.T) {
	path := filepath.Join("..", "..", "configs", "alerts.yaml")
	cfg, unset, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(unset) > 0 {
		t.Errorf("example references unset variables %v", unset)
	}
	data, err := os.ReadFile(filepath.Join("..", "..", "configs", "enterprises.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	reg, err := carbon.ParseRegistry(data)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]bool{}
	for _, r := range cfg.Rules {
		kinds[r.Kind] = true
		if r.Limit == "" {
			continue
		}
		applies := false
		for _, e := range reg.Enterprises {
			if _, ok := cfg.LimitFor(r.Limit, e.ID, e.Tier, e.Industry); ok {
				applies = true
			}
		}
		if !applies {
			t.Errorf("rule %s (line %d): no enterprise of the demo registry has a %s", r.Name, r.Line, r.Limit)
		}
	}
	for _, k := range []string{KindIntensity, KindLive, KindSilence, KindQuality} {
		if !kinds[k] {
			t.Errorf("the example has no %s rule", k)
		}
	}
	// ent-004 (C2231, tier general) takes the paper industry's limit.
	if v, _ := cfg.LimitFor(LimitDailyKWhPerMu, "ent-004", "general", "C2231"); v != 400 {
		t.Errorf("ent-004 daily limit = %v, want the C22 industry's 400", v)
	}
	cfg.StateDir = t.TempDir()
	if _, err := New(cfg, reg, &fakeSource{}, nil, nil, nil, nil, nil); err != nil {
		t.Errorf("New with the example and the demo registry: %v", err)
	}
}

func TestParseDefaults(t *testing.T) {
	cfg, err := Parse([]byte(`
tiers: {key: {daily_kwh_per_mu: 100}}
rules:
  - {name: a, kind: intensity, limit: daily_kwh_per_mu, window: today}
  - {name: b, kind: live, quantity: active_power, threshold: 50, for: 15m, hysteresis: 0, repeat_interval: 0s}
  - {name: c, kind: silence, target: meter}
  - {name: d, kind: quality, events: [reset]}
notifiers:
  webhooks: [{url: "http://127.0.0.1:1/hook", secret_file: key}]
  alertmanagers: [{url: "http://127.0.0.1:9093"}]
`), "/etc/park/alerts.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Interval != time.Minute || cfg.Timezone != "Asia/Shanghai" || cfg.Location().String() != "Asia/Shanghai" {
		t.Errorf("interval %v timezone %q", cfg.Interval, cfg.Timezone)
	}
	a, b, c, d := cfg.Rules[0], cfg.Rules[1], cfg.Rules[2], cfg.Rules[3]
	if a.Severity != "warning" || a.forDur != 0 || a.hysteresis != 0.05 || a.repeat != 4*time.Hour || a.Line != 4 {
		t.Errorf("rule a: %+v", a)
	}
	if b.forDur != 15*time.Minute || b.hysteresis != 0 || b.repeat != 0 || b.Energy != "electricity" || b.Aggregate != "sum" || b.MaxAge != 5*time.Minute {
		t.Errorf("rule b: %+v", b)
	}
	if c.Intervals != 3 || c.ForgetAfter != 168*time.Hour {
		t.Errorf("rule c: %+v", c)
	}
	if d.MinCount != 1 || d.Within != time.Hour {
		t.Errorf("rule d: %+v", d)
	}
	w := cfg.Notifiers.Webhooks[0]
	if w.Name != "webhook-1" || w.SecretFile != "/etc/park/key" || w.Timeout != 10*time.Second || *w.Retries != 5 || w.Queue != 1000 || w.Line != 9 {
		t.Errorf("webhook: %+v", w)
	}
	if am := cfg.Notifiers.Alertmanagers[0]; am.Name != "alertmanager-1" || am.Resend != time.Minute {
		t.Errorf("alertmanager: %+v", am)
	}
}

// Errors name the file, the line and the rule (or tier, or notifier).
func TestParseErrors(t *testing.T) {
	const tiers = "tiers: {key: {daily_kwh_per_mu: 100, contracted_demand_kw: 300}}\n"
	for _, tc := range []struct{ name, yaml, want string }{
		{"empty", "", "alerts.yaml: empty file"},
		{"syntax", "rules: [", "alerts.yaml: line 1"},
		{"unknown top key", tiers + "rulez: []\n", `line 2: unknown key "rulez"`},
		{"unknown rule key", tiers + "rules:\n  - name: day\n    kind: intensity\n    limit: daily_kwh_per_mu\n    window: today\n    windwo: today\n",
			`line 7: rule "day": unknown key "windwo"`},
		{"wrong type in rule", tiers + "rules:\n  - name: day\n    kind: intensity\n    for: soon\n",
			`line 5: rule "day": `},
		{"unknown tier key", "tiers:\n  key:\n    daily_kwh: 100\nrules: []\n", `line 3: tier "key": unknown key "daily_kwh"`},
		{"no rules", tiers, "no rules"},
		{"missing name", tiers + "rules:\n  - kind: intensity\n", `line 3: rule #1: missing name`},
		{"bad kind", tiers + "rules:\n  - {name: x, kind: magic}\n", `line 3: rule "x": kind "magic"`},
		{"bad window", tiers + "rules:\n  - {name: x, kind: intensity, limit: daily_kwh_per_mu, window: forever}\n", `line 3: rule "x": window "forever"`},
		{"bad limit", tiers + "rules:\n  - {name: x, kind: intensity, limit: kwh, window: today}\n", `rule "x": limit "kwh"`},
		{"limit nobody sets", tiers + "rules:\n  - {name: x, kind: intensity, limit: kgco2_per_mu_year, window: today}\n",
			`line 3: rule "x": no tier or enterprise sets kgco2_per_mu_year`},
		{"key of another kind", tiers + "rules:\n  - {name: x, kind: live, quantity: active_power, threshold: 5, window: today}\n",
			`rule "x": window applies to intensity rules, not live`},
		{"live without limit", tiers + "rules:\n  - {name: x, kind: live, quantity: active_power}\n", `rule "x": missing threshold or limit`},
		{"live both", tiers + "rules:\n  - {name: x, kind: live, quantity: active_power, threshold: 1, limit: contracted_demand_kw}\n", "exclusive"},
		{"live intensity limit", tiers + "rules:\n  - {name: x, kind: live, quantity: active_power, limit: daily_kwh_per_mu}\n", "live rules take contracted_demand_kw"},
		{"duplicate", tiers + "rules:\n  - {name: x, kind: silence, target: meter}\n  - {name: x, kind: silence, target: meter}\n",
			`line 4: rule "x": duplicate name (first at line 3)`},
		{"hysteresis", tiers + "rules:\n  - {name: x, kind: silence, target: meter, hysteresis: 1.5}\n", `rule "x": hysteresis 1.5`},
		{"negative for", tiers + "rules:\n  - {name: x, kind: silence, target: meter, for: -1m}\n", `rule "x": for -1m0s is negative`},
		{"reserved label", tiers + "rules:\n  - {name: x, kind: silence, target: meter, labels: {enterprise: y}}\n", `rule "x": label "enterprise"`},
		{"bad target", tiers + "rules:\n  - {name: x, kind: silence, target: sensor}\n", `target "sensor"`},
		{"quality without events", tiers + "rules:\n  - {name: x, kind: quality}\n", `rule "x": missing events`},
		{"negative limit", "tiers:\n  key: {daily_kwh_per_mu: -1}\nrules:\n  - {name: x, kind: silence, target: meter}\n",
			`line 2: tier "key": daily_kwh_per_mu -1 is not a positive number`},
		{"industry limit", "tiers:\n  key:\n    industries:\n      C33: {daily_kwh_per_mu: 0}\nrules:\n  - {name: x, kind: silence, target: meter}\n",
			`tier "key": industry "C33": daily_kwh_per_mu 0`},
		{"timezone", "timezone: Mars/Olympus\n" + tiers + "rules:\n  - {name: x, kind: silence, target: meter}\n", `timezone "Mars/Olympus"`},
		{"webhook without secret", tiers + "rules:\n  - {name: x, kind: silence, target: meter}\nnotifiers:\n  webhooks:\n    - {name: ops, url: 'http://h/x'}\n",
			`line 6: webhook "ops": secret_file or secret_env is required`},
		{"webhook unknown key", tiers + "rules:\n  - {name: x, kind: silence, target: meter}\nnotifiers:\n  webhooks:\n    - name: ops\n      url: http://h/x\n      secret: abc\n",
			`line 8: webhook "ops": unknown key "secret"`},
		{"webhook url", tiers + "rules:\n  - {name: x, kind: silence, target: meter}\nnotifiers:\n  webhooks:\n    - {name: ops, url: 'ftp://h/x', secret_env: S}\n",
			`webhook "ops": url "ftp://h/x"`},
		{"mqtt broker", tiers + "rules:\n  - {name: x, kind: silence, target: meter}\nnotifiers:\n  mqtt: {broker: '127.0.0.1:1883'}\n",
			`notifiers.mqtt: broker "127.0.0.1:1883"`},
		{"alertmanager url", tiers + "rules:\n  - {name: x, kind: silence, target: meter}\nnotifiers:\n  alertmanagers: [{url: 'localhost'}]\n",
			`alertmanager "alertmanager-1": url "localhost"`},
		{"enterprise id", tiers + "enterprises:\n  'a b': {contracted_demand_kw: 5}\nrules:\n  - {name: x, kind: silence, target: meter}\n",
			`line 3: enterprise "a b" is not a valid identifier`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml), "alerts.yaml")
			if err == nil {
				t.Fatalf("no error, want %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "alerts.yaml: ") {
				t.Errorf("error %q\nwant it to contain %q", err, tc.want)
			}
		})
	}
}

func TestLimitFor(t *testing.T) {
	cfg, err := Parse([]byte(`
tiers:
  general:
    daily_kwh_per_mu: 300
    contracted_demand_kw: 200
    industries:
      C2: {daily_kwh_per_mu: 350}
      C22: {daily_kwh_per_mu: 400}
      C2231: {contracted_demand_kw: 250}
enterprises:
  ent-x: {contracted_demand_kw: 90}
rules:
  - {name: x, kind: silence, target: meter}
`), "alerts.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		limit, id, tier, industry string
		want                      float64
		ok                        bool
	}{
		{LimitDailyKWhPerMu, "e", "general", "", 300, true},
		{LimitDailyKWhPerMu, "e", "general", "C1713", 300, true},
		{LimitDailyKWhPerMu, "e", "general", "C2011", 350, true},
		{LimitDailyKWhPerMu, "e", "general", "C2231", 400, true}, // C2231 sets no daily limit: the longest prefix that does
		{LimitContractedDemandKW, "e", "general", "C2231", 250, true},
		{LimitContractedDemandKW, "e", "general", "C2211", 200, true},
		{LimitContractedDemandKW, "ent-x", "general", "C2231", 90, true},
		{LimitDailyKWhPerMu, "ent-x", "general", "", 300, true},
		{LimitDailyKWhPerMu, "e", "key", "", 0, false},
		{LimitMonthlyKWhPerMu, "e", "general", "C22", 0, false},
	} {
		got, ok := cfg.LimitFor(tc.limit, tc.id, tc.tier, tc.industry)
		if got != tc.want || ok != tc.ok {
			t.Errorf("limitFor(%s, %s, %s, %s) = %v, %v; want %v, %v", tc.limit, tc.id, tc.tier, tc.industry, got, ok, tc.want, tc.ok)
		}
	}
}

// The hash is part of the deployment contract: instances built at
// different times must agree on who owns an enterprise.
func TestShard(t *testing.T) {
	// FNV-1a 32 of "a" is 0xe40c292c = 3826002220.
	if !(Shard{Index: 220, Count: 1000}).Owns("a") || (Shard{Index: 221, Count: 1000}).Owns("a") {
		t.Error("Owns is not FNV-1a 32 modulo count")
	}
	if !(Shard{}).Owns("anything") || !(Shard{Count: 1}).Owns("anything") {
		t.Error("a single instance must own everything")
	}
	for _, n := range []int{2, 3, 7} {
		owned := make([]int, n)
		for i := range 200 {
			id := fmt.Sprintf("ent-%03d", i)
			owners := 0
			for s := range n {
				if (Shard{Index: s, Count: n}).Owns(id) {
					owners++
					owned[s]++
				}
			}
			if owners != 1 {
				t.Fatalf("%s has %d owners among %d shards", id, owners, n)
			}
		}
		for s, c := range owned {
			if c == 0 {
				t.Errorf("shard %d of %d owns none of 200 enterprises", s, n)
			}
		}
	}
	for _, s := range []Shard{{Index: 2, Count: 2}, {Index: -1, Count: 2}, {Index: 1, Count: 1}, {Count: -1}} {
		if s.Validate() == nil {
			t.Errorf("%+v validated", s)
		}
	}
}
