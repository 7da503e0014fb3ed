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
