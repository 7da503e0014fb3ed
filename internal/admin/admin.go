// Package admin serves the endpoints every parkcarbon binary has: /metrics,
// /healthz and /readyz.
package admin

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// NewRegistry returns a registry with the Go runtime and process collectors,
// so that RSS and CPU are visible next to the binary's own metrics.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// Server is the admin HTTP server. Ready, if set, decides /readyz.
type Server struct {
	Registry *prometheus.Registry
	Ready    func() error
	Mux      *http.ServeMux // extra routes may be added before Serve
	ln       net.Listener
}

// Listen binds addr (":0" picks a free port) so that the address is known
// before serving, and serves /metrics, /healthz and /readyz on it.
func Listen(addr string, reg *prometheus.Registry) (*Server, error) {
	s, err := ListenWithout(addr, reg)
	if err != nil {
		return nil, err
	}
	s.Mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	return s, nil
}

// ListenMetrics serves only /metrics on addr: a listener of its own, for a
// scraper on another network than the API's users.
func ListenMetrics(addr string, reg *prometheus.Registry) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen for metrics on %s: %w", addr, err)
	}
	s := &Server{Registry: reg, Mux: http.NewServeMux(), ln: ln}
	s.Mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	return s, nil
}

// ListenWithout is Listen without /metrics (served by ListenMetrics elsewhere).
func ListenWithout(addr string, reg *prometheus.Registry) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	s := &Server{Registry: reg, Mux: http.NewServeMux(), ln: ln}
	s.Mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})
	s.Mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if s.Ready != nil {
			if err := s.Ready(); err != nil {
				http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
				return
			}
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	return s, nil
}

// Addr is the bound address.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Serve runs until ctx is done, then shuts down gracefully.
func (s *Server) Serve(ctx context.Context, log *slog.Logger) error {
	srv := &http.Server{Handler: s.Mux, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(s.ln) }()
	log.Info("serving metrics", "url", "http://"+s.Addr()+"/metrics")
	select {
	case err := <-done:
		return fmt.Errorf("serve admin http: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := srv.Shutdown(shutdownCtx)
	if serr := <-done; !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	return err
}

// Bearer requires "Authorization: Bearer <token>" before next; an empty
// token lets everything through (for read-only endpoints a park chooses to
// keep public). The comparison takes constant time.
func Bearer(token string, next http.Handler) http.Handler {
	if token == "" {
		return next
	}
	want := []byte("Bearer " + token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="parkcarbon"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// Profile serves Go's profiles under /debug/pprof/ (net/http/pprof) behind
// token, if one is set. Binaries offer it behind a -pprof flag only: a
// profile shows internals, and a CPU profile costs CPU while it runs.
func (s *Server) Profile(token string) {
	s.Mux.Handle("GET /debug/pprof/", Bearer(token, http.HandlerFunc(pprof.Index)))
	s.Mux.Handle("GET /debug/pprof/cmdline", Bearer(token, http.HandlerFunc(pprof.Cmdline)))
	s.Mux.Handle("GET /debug/pprof/profile", Bearer(token, http.HandlerFunc(pprof.Profile)))
	s.Mux.Handle("GET /debug/pprof/symbol", Bearer(token, http.HandlerFunc(pprof.Symbol)))
	s.Mux.Handle("GET /debug/pprof/trace", Bearer(token, http.HandlerFunc(pprof.Trace)))
}
