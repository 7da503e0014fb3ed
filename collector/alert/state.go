package alert

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// stateFileName is the engine's state under Config.StateDir.
const stateFileName = "alerts-state.json"

const stateVersion = 1

// stateDoc is what survives a restart: the pending and firing alerts (with
// the time their condition began, so `for` is not restarted), what the
// stream told about meters (so silence is still detected), and recent
// data-quality events (so their alerts do not resolve on a restart).
type stateDoc struct {
	Version int           `json:"version"`
	SavedAt time.Time     `json:"saved_at"`
	Alerts  []*Alert      `json:"alerts"`
	Meters  []*meterTrack `json:"meters"`
	Events  []*eventTrack `json:"events"`
}

// loadState reads the state file; a missing one is an empty state. A file
// that cannot be read as state is moved aside, so that the engine starts
// (and says so) rather than refusing to.
func loadState(dir string) (doc *stateDoc, setAside string, err error) {
	path := filepath.Join(dir, stateFileName)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return &stateDoc{Version: stateVersion}, "", nil
	}
	if err != nil {
		return nil, "", fmt.Errorf("read alert state: %w", err)
	}
	doc = &stateDoc{}
	if err := json.Unmarshal(data, doc); err != nil || doc.Version != stateVersion {
		aside := path + ".unreadable"
		if rerr := os.Rename(path, aside); rerr != nil {
			return nil, "", fmt.Errorf("alert state %s is unreadable (%v) and cannot be set aside: %w", path, err, rerr)
		}
		return &stateDoc{Version: stateVersion}, aside, nil
	}
	return doc, "", nil
}

// writeState replaces the state file atomically: a temporary file, synced,
// renamed over the old one, and the directory synced, so a crash leaves
// either the old state or the new one.
func writeState(dir string, data []byte) error {
	tmp, err := os.CreateTemp(dir, stateFileName+".*.tmp")
	if err != nil {
		return fmt.Errorf("write alert state: %w", err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename there is nothing to remove
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write alert state: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("sync alert state: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("close alert state: %w", err)
	}
	if err := os.Rename(tmp.Name(), filepath.Join(dir, stateFileName)); err != nil {
		return fmt.Errorf("replace alert state: %w", err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync alert state dir: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync alert state dir: %w", err)
	}
	return nil
}
