package testenv_test

import (
	"net"
	"testing"
	"time"

	"github.com/parkcarbon/parkcarbon/internal/testenv"
)

func TestServers(t *testing.T) {
	t.Run("mosquitto", func(t *testing.T) {
		t.Parallel()
		m := testenv.Mosquitto(t)
		c, err := net.DialTimeout("tcp", m.Addr, 2*time.Second)
		if err != nil {
			t.Fatalf("dial %s: %v", m.Addr, err)
		}
		c.Close()
	})
	t.Run("influx", func(t *testing.T) {
		t.Parallel()
		inf := testenv.Influx(t)
		rows, err := inf.Query(t.Context(), `buckets() |> filter(fn: (r) => r.name == "energy/autogen")`)
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) != 1 {
			t.Fatalf("energy/autogen bucket missing: %v", rows)
		}
	})
}
