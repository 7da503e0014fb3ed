package testenv

import (
	"testing"

	"github.com/parkcarbon/parkcarbon/internal/servers"
)

// Alertmanager starts a Prometheus Alertmanager for t in a fresh temp dir
// and stops it when the test ends. Its output is shown only if the test
// fails. A missing binary fails the test with the install command
// (apt-get install -y prometheus-alertmanager).
func Alertmanager(t testing.TB) *servers.Alertmanager {
	t.Helper()
	dir := t.TempDir()
	logs := logOnFailure(t, "alertmanager")
	am, err := servers.StartAlertmanager(t.Context(), dir, logs)
	if err != nil {
		t.Fatalf("start alertmanager: %v", err)
	}
	t.Cleanup(func() {
		if err := am.Stop(); err != nil {
			t.Errorf("stop alertmanager: %v", err)
		}
	})
	return am
}
