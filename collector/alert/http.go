package alert

import (
	"encoding/json"
	"net/http"
)

// AlertList is the body of GET /api/alerts.
type AlertList struct {
	Alerts []Alert `json:"alerts"`
}

// Handler serves GET /api/alerts: the pending and firing alerts as JSON,
// optionally filtered by ?state=pending|firing and ?enterprise=ID.
func (e *Engine) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		state, ent := r.URL.Query().Get("state"), r.URL.Query().Get("enterprise")
		if state != "" && state != StatePending && state != StateFiring {
			http.Error(w, `state: want pending or firing`, http.StatusBadRequest)
			return
		}
		list := AlertList{Alerts: []Alert{}}
		for _, a := range e.Active() {
			if (state == "" || a.State == state) && (ent == "" || a.Enterprise == ent) {
				list.Alerts = append(list.Alerts, a)
			}
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_ = json.NewEncoder(w).Encode(list)
	})
}
