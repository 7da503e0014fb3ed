package alert

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// amAlert is one alert of Alertmanager's v2 API (POST /api/v2/alerts).
type amAlert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt,omitzero"`
	GeneratorURL string            `json:"generatorURL,omitempty"`
}

// AlertmanagerNotifier posts to a Prometheus Alertmanager. Firing alerts are
// sent again every resend with an endsAt four resends ahead, as Prometheus
// does: should the collector stop, Alertmanager resolves them by itself.
type AlertmanagerNotifier struct {
	name         string
	url          string
	resend       time.Duration
	generatorURL string
	opt          Delivery
	client       *http.Client
	now          func() time.Time
}

// NewAlertmanager builds an Alertmanager notifier; generatorURL (may be
// empty) is each alert's link back.
func NewAlertmanager(c AlertmanagerConfig, generatorURL string) *AlertmanagerNotifier {
	return &AlertmanagerNotifier{name: "alertmanager:" + c.Name, url: strings.TrimRight(c.URL, "/") + "/api/v2/alerts",
		resend: c.Resend, generatorURL: generatorURL, opt: c.Delivery, client: &http.Client{}, now: time.Now}
}

// Name is "alertmanager:" and the configured name.
func (a *AlertmanagerNotifier) Name() string { return a.name }

// ResendInterval is how often firing alerts are sent again.
func (a *AlertmanagerNotifier) ResendInterval() time.Duration { return a.resend }

// DeliveryOptions are the configured timeout, retries and queue.
func (a *AlertmanagerNotifier) DeliveryOptions() Delivery { return a.opt }

// Notify posts the alert once. A firing alert's endsAt is counted from the
// moment of sending (Alertmanager's own clock, more or less), so that a
// delivery delayed by retries still arrives alive.
func (a *AlertmanagerNotifier) Notify(ctx context.Context, n *Notification) error {
	al := amAlert{Labels: n.Alert.Labels, Annotations: n.Alert.Annotations, StartsAt: n.Alert.StartsAt.UTC(), GeneratorURL: a.generatorURL}
	if n.Alert.State == StateResolved {
		al.EndsAt = n.Alert.EndsAt.UTC()
	} else {
		al.EndsAt = a.now().Add(4 * a.resend).UTC()
	}
	body, err := json.Marshal([]amAlert{al})
	if err != nil {
		return &permanentError{fmt.Errorf("encode alertmanager alert: %w", err)}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.url, bytes.NewReader(body))
	if err != nil {
		return &permanentError{fmt.Errorf("alertmanager request: %w", err)}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "parkcarbon-collector")
	resp, err := a.client.Do(req)
	if err != nil {
		return fmt.Errorf("post to alertmanager: %w", err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	return httpStatusError("alertmanager", resp.StatusCode, msg)
}
