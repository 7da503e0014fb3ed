package alert

import (
	"maps"
	"strconv"
	"time"
)

// Alert states. Resolved is where a firing alert ends; it is then dropped.
// Inactive is recorded when a pending alert's condition ends before `for`.
const (
	StatePending  = "pending"
	StateFiring   = "firing"
	StateResolved = "resolved"
	StateInactive = "inactive"
)

// Alert is one rule applied to one subject: an enterprise, or a meter or
// gateway of one.
type Alert struct {
	Fingerprint string            `json:"fingerprint"` // rule/enterprise[/subject], stable across restarts
	Rule        string            `json:"rule"`
	Kind        string            `json:"kind"`
	Enterprise  string            `json:"enterprise"`
	Subject     string            `json:"subject,omitempty"` // meter or gateway, for silence and quality rules
	Severity    string            `json:"severity"`
	State       string            `json:"state"`
	Value       float64           `json:"value"`
	Limit       float64           `json:"limit"`
	Unit        string            `json:"unit"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	ActiveAt    time.Time         `json:"active_at"`             // the condition first held (pending since)
	StartsAt    time.Time         `json:"starts_at,omitzero"`    // firing since
	EndsAt      time.Time         `json:"ends_at,omitzero"`      // resolved at
	LastSentAt  time.Time         `json:"last_sent_at,omitzero"` // last firing notification, for repeats
}

func (a *Alert) clone() Alert {
	c := *a
	c.Labels = maps.Clone(a.Labels)
	c.Annotations = maps.Clone(a.Annotations)
	return c
}

// observation is one rule's verdict on one subject at one evaluation.
type observation struct {
	rule        *Rule
	enterprise  string
	subject     string
	value       float64
	limit       float64
	unit        string
	over        bool // the condition holds: fire (after `for`)
	clear       bool // far enough from the limit to resolve (hysteresis)
	labels      map[string]string
	annotations map[string]string
}

func fingerprint(rule, enterprise, subject string) string {
	if subject == "" {
		return rule + "/" + enterprise
	}
	return rule + "/" + enterprise + "/" + subject
}

func (o *observation) fingerprint() string { return fingerprint(o.rule.Name, o.enterprise, o.subject) }

// transition is a state change (or a repeat) to deliver.
type transition struct {
	alert  Alert
	repeat bool
}

// step advances one alert by an observation and returns what changed. a is
// nil when the subject has no alert; the returned alert is nil when it has
// none afterwards. It is the whole lifecycle:
//
//	inactive → pending (condition holds) → firing (held for `for`)
//	pending → inactive (condition ended before `for`)
//	firing → resolved (below limit × (1 − hysteresis)); repeats every repeat_interval
func step(a *Alert, o *observation, now time.Time) (*Alert, []transition) {
	var out []transition
	if a == nil {
		if !o.over {
			return nil, nil
		}
		a = &Alert{
			Fingerprint: o.fingerprint(), Rule: o.rule.Name, Kind: o.rule.Kind, Enterprise: o.enterprise,
			Subject: o.subject, Severity: o.rule.Severity, State: StatePending, ActiveAt: now,
		}
		a.update(o)
		out = append(out, transition{alert: a.clone()})
	} else {
		a.update(o)
	}
	switch a.State {
	case StatePending:
		if !o.over {
			a.State = StateInactive
			a.EndsAt = now
			return nil, append(out, transition{alert: a.clone()})
		}
		if now.Sub(a.ActiveAt) >= o.rule.forDur {
			a.State, a.StartsAt, a.LastSentAt = StateFiring, now, now
			out = append(out, transition{alert: a.clone()})
		}
	case StateFiring:
		if o.clear {
			return nil, append(out, resolve(a, now))
		}
		if o.rule.repeat > 0 && now.Sub(a.LastSentAt) >= o.rule.repeat {
			a.LastSentAt = now
			out = append(out, transition{alert: a.clone(), repeat: true})
		}
	}
	return a, out
}

func resolve(a *Alert, now time.Time) transition {
	a.State, a.EndsAt = StateResolved, now
	return transition{alert: a.clone()}
}

// update takes the observation's figures; the identity stays.
func (a *Alert) update(o *observation) {
	a.Value, a.Limit, a.Unit = o.value, o.limit, o.unit
	a.Labels = map[string]string{"alertname": o.rule.Name, "enterprise": o.enterprise, "severity": o.rule.Severity, "kind": o.rule.Kind}
	maps.Copy(a.Labels, o.rule.Labels)
	maps.Copy(a.Labels, o.labels)
	a.Annotations = map[string]string{"value": formatNum(o.value), "limit": formatNum(o.limit), "unit": o.unit}
	maps.Copy(a.Annotations, o.annotations)
}

// formatNum writes a figure with enough digits to check it, and no more.
func formatNum(v float64) string { return strconv.FormatFloat(v, 'g', 6, 64) }
