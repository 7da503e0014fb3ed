package admin

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestBearer(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "secret data") })
	srv := httptest.NewServer(Bearer("t0ken", ok))
	defer srv.Close()
	for _, c := range []struct {
		header string
		want   int
	}{{"", 401}, {"Bearer wrong", 401}, {"t0ken", 401}, {"Bearer t0ken", 200}} {
		req, _ := http.NewRequest("GET", srv.URL, nil)
		if c.header != "" {
			req.Header.Set("Authorization", c.header)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("%q: %d, want %d", c.header, resp.StatusCode, c.want)
		}
	}
	if h := Bearer("", ok); h == nil {
		t.Fatal("nil handler")
	}
}

// Profiles are served only when asked for, and then behind the token.
func TestProfile(t *testing.T) {
	s, err := Listen("127.0.0.1:0", NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	get := func(path, auth string) int {
		t.Helper()
		req := httptest.NewRequest("GET", path, nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		rec := httptest.NewRecorder()
		s.Mux.ServeHTTP(rec, req)
		return rec.Code
	}
	if code := get("/debug/pprof/heap", ""); code != http.StatusNotFound {
		t.Fatalf("pprof without the flag: %d, want 404", code)
	}
	s.Profile("t0ken")
	if code := get("/debug/pprof/heap", ""); code != http.StatusUnauthorized {
		t.Fatalf("pprof without the token: %d, want 401", code)
	}
	if code := get("/debug/pprof/heap?debug=1", "Bearer t0ken"); code != http.StatusOK {
		t.Fatalf("heap profile: %d, want 200", code)
	}
	if code := get("/debug/pprof/", "Bearer t0ken"); code != http.StatusOK {
		t.Fatalf("pprof index: %d, want 200", code)
	}
}
