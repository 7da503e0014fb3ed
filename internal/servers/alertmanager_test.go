package servers_test

import (
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parkcarbon/parkcarbon/internal/servers"
)

func TestAlertmanagerPostListStop(t *testing.T) {
	logs := &syncBuffer{}
	start := time.Now()
	am, err := servers.StartAlertmanager(t.Context(), t.TempDir(), logs)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("alertmanager ready in %v at %s", time.Since(start).Round(time.Millisecond), am.URL)
	t.Cleanup(func() { _ = am.Stop() })

	now := time.Now().UTC()
	stamp := func(d time.Duration) string { return now.Add(d).Format(time.RFC3339) }
	// One firing alert and one already resolved: only the first is listed.
	body := fmt.Sprintf(`[
  {"labels":{"alertname":"probe","enterprise":"ent-001"},"annotations":{"value":"512"},
   "startsAt":%q,"endsAt":%q,"generatorURL":"http://127.0.0.1:9100/api/alerts"},
  {"labels":{"alertname":"probe","enterprise":"ent-002"},"startsAt":%q,"endsAt":%q}]`,
		stamp(-time.Hour), stamp(time.Hour), stamp(-time.Hour), stamp(-time.Minute))
	if status, msg := post(t, am.URL+"/api/v2/alerts", "application/json", body); status != http.StatusOK {
		t.Fatalf("POST /api/v2/alerts: %d %s", status, msg)
	}
	// A new alert is "unprocessed" until the dispatcher has routed it.
	var alerts []servers.AlertmanagerAlert
	deadline := time.Now().Add(30 * time.Second) // only stops a hung test
	for {
		alerts, err = am.Alerts(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if len(alerts) != 1 || alerts[0].Status.State == "active" || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if len(alerts) != 1 {
		t.Fatalf("listed %d alerts, want 1: %+v", len(alerts), alerts)
	}
	a := alerts[0]
	if a.Labels["enterprise"] != "ent-001" || a.Annotations["value"] != "512" || a.Status.State != "active" ||
		a.GeneratorURL != "http://127.0.0.1:9100/api/alerts" || !a.StartsAt.Equal(now.Add(-time.Hour).Truncate(time.Second)) {
		t.Errorf("listed %+v", a)
	}

	pid := am.PID()
	if err := am.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	assertGone(t, pid)
	if err := am.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
}

func TestAlertmanagerMissingBinary(t *testing.T) {
	t.Setenv("PARKCARBON_ALERTMANAGER", filepath.Join(t.TempDir(), "no-such-alertmanager"))
	_, err := servers.StartAlertmanager(t.Context(), t.TempDir(), nil)
	if !errors.Is(err, servers.ErrNotInstalled) || !strings.Contains(err.Error(), "apt-get install -y prometheus-alertmanager") {
		t.Errorf("got %v", err)
	}
}
