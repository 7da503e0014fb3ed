package alert

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// SignatureHeader carries "sha256=" and the hex HMAC-SHA256 of the body,
// keyed with the webhook's secret (as GitHub's X-Hub-Signature-256).
const SignatureHeader = "X-Parkcarbon-Signature"

// WebhookVersion names the body's format.
const WebhookVersion = "parkcarbon.alert/v1"

// WebhookBody is what a webhook receives: one alert's change.
type WebhookBody struct {
	Version string    `json:"version"`
	Status  string    `json:"status"` // firing or resolved
	Repeat  bool      `json:"repeat"` // a reminder of an alert already notified as firing
	At      time.Time `json:"at"`     // when the engine saw the change; retries keep it
	Alert   Alert     `json:"alert"`
}

// Sign returns the signature header's value for body.
func Sign(secret, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// Webhook posts each notification as signed JSON.
type Webhook struct {
	name   string
	url    string
	secret []byte
	opt    Delivery
	client *http.Client
}

// NewWebhook builds a webhook notifier with its HMAC key.
func NewWebhook(c WebhookConfig, secret []byte) *Webhook {
	return &Webhook{name: "webhook:" + c.Name, url: c.URL, secret: secret, opt: c.Delivery, client: &http.Client{}}
}

// Name is "webhook:" and the configured name.
func (w *Webhook) Name() string { return w.name }

// DeliveryOptions are the configured timeout, retries and queue.
func (w *Webhook) DeliveryOptions() Delivery { return w.opt }

// Notify posts once. 2xx is delivered; a 4xx other than 408 and 429 is
// permanent (the receiver refuses this body, a retry will not change it).
func (w *Webhook) Notify(ctx context.Context, n *Notification) error {
	body, err := json.Marshal(WebhookBody{Version: WebhookVersion, Status: n.Alert.State, Repeat: n.Repeat, At: n.At.UTC(), Alert: n.Alert})
	if err != nil {
		return &permanentError{fmt.Errorf("encode webhook body: %w", err)}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return &permanentError{fmt.Errorf("webhook request: %w", err)}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "parkcarbon-collector")
	req.Header.Set(SignatureHeader, Sign(w.secret, body))
	resp, err := w.client.Do(req)
	if err != nil {
		return fmt.Errorf("post webhook: %w", err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	return httpStatusError("webhook", resp.StatusCode, msg)
}

// httpStatusError is nil for 2xx; 4xx except 408 and 429 are permanent.
func httpStatusError(what string, status int, body []byte) error {
	if status >= 200 && status < 300 {
		return nil
	}
	err := fmt.Errorf("%s answered %d %s: %s", what, status, http.StatusText(status), bytes.TrimSpace(body))
	if status >= 400 && status < 500 && status != http.StatusRequestTimeout && status != http.StatusTooManyRequests {
		return &permanentError{err}
	}
	return err
}
