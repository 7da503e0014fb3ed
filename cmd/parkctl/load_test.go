package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/parkcarbon/parkcarbon/collector/central"
	"github.com/parkcarbon/parkcarbon/internal/servers"
	"github.com/parkcarbon/parkcarbon/internal/testenv"
	"github.com/parkcarbon/parkcarbon/internal/wire"
)

// The generator's hand-made JSON is what wire.Decode accepts, and what it
// says is the DESIGN.md envelope: per-meter totals that only grow, each
// interval's since the meter's previous ts, no identity (meter, quantity,
// ts) twice, one gateway's seq counting up, and the sampled readings named.
func TestLoadEnvelopes(t *testing.T) {
	f := &loadFlags{run: "lt-test", prefix: "park", gateways: 2, meters: 3, quantities: 2, sample: 0.5}
	gws, probeMeters := newLoadGateways(f)
	if probeMeters != 3 {
		t.Fatalf("%d probe meters of 6 at --sample 0.5", probeMeters)
	}
	gw := gws[1]
	if gw.topic != "park/lt-test-e001/lt-test-g001/readings" {
		t.Fatalf("topic %q", gw.topic)
	}
	type last struct {
		total float64
		ts    int64
	}
	meters := map[string]*last{}
	seen := map[probeKey]bool{}
	now := int64(1764000000000)
	var readings, intervals int
	for i := range 7 {
		// 5 readings of 2 per sample: samples straddle envelopes. The
		// clock stands still for some envelopes, as it does on a fast
		// generator, and the ts must still differ.
		payload, probes := gw.next(nil, 5, now+int64(i/3), nil)
		env, err := wire.Decode(payload)
		if err != nil {
			t.Fatalf("envelope %d: %v\n%s", i, err, payload)
		}
		if env.Gateway != gw.id || env.Seq != uint64(i+1) || env.SentAt != now+int64(i/3) || len(env.Readings) != 5 {
			t.Fatalf("envelope %d: gateway %q seq %d sent_at %d, %d readings", i, env.Gateway, env.Seq, env.SentAt, len(env.Readings))
		}
		wantProbes := 0
		for _, r := range env.Readings {
			readings++
			k := probeKey{r.Meter, r.Quantity, r.TS}
			if seen[k] {
				t.Fatalf("envelope %d: %v twice", i, k)
			}
			seen[k] = true
			if r.Enterprise != gw.enterprise {
				t.Fatalf("reading of enterprise %q on the gateway of %q", r.Enterprise, gw.enterprise)
			}
			if r.Meter[len(r.Meter)-1] == 'p' {
				wantProbes++
			}
			if r.Quantity != "energy_import_total" {
				continue
			}
			l := meters[r.Meter]
			switch {
			case l == nil && r.Delta != nil:
				t.Fatalf("first sample of %s has a delta", r.Meter)
			case l != nil && (r.Delta == nil || r.Since != l.ts || r.TS <= l.ts || r.Value <= l.total ||
				*r.Delta != r.Value-l.total && abs(*r.Delta-(r.Value-l.total)) > 1e-9):
				t.Fatalf("sample of %s: %+v after total %v at %d", r.Meter, r, l.total, l.ts)
			}
			if r.Delta != nil {
				intervals++
			}
			meters[r.Meter] = &last{r.Value, r.TS}
		}
		if len(probes) != wantProbes {
			t.Fatalf("envelope %d: %d probes listed, %d readings of probe meters", i, len(probes), wantProbes)
		}
		for _, p := range probes {
			if !seen[p] {
				t.Fatalf("probe %v is not in the envelope", p)
			}
		}
	}
	if readings != 35 || intervals != 18-3 {
		t.Fatalf("%d readings, %d intervals; want 35, 15", readings, intervals)
	}
}

func abs(x float64) float64 { return max(x, -x) }

// runLoadJSON runs the command as main does, with --json, and returns its
// report; the text report and the progress line go to the test's output.
func runLoadJSON(t *testing.T, args ...string) (*loadReport, error) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "report.json")
	err := runLoad(t.Context(), append(args, "--json", out))
	b, rerr := os.ReadFile(out)
	if rerr != nil {
		t.Fatalf("no report (load: %v): %v", err, rerr)
	}
	var rep loadReport
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	return &rep, err
}

// startCollector runs park-collector's service in-process, configured as a
// user would, against the test's servers.
func startCollector(t *testing.T, broker *servers.Mosquitto, influx *servers.Influx) {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "collector.yaml")
	conf := fmt.Sprintf(`mqtt:
  broker: %s
  client_id: load-test-collector
influxdb:
  url: %s
  token: %s
  bucket: %s
spool:
  dir: ./spool
`, broker.URL, influx.URL, influx.Token, influx.Bucket)
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, _, err := central.LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := central.New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := svc.Run(ctx); err != nil {
			t.Errorf("collector: %v", err)
		}
	})
	t.Cleanup(func() { cancel(); wg.Wait() })
	for deadline := time.Now().Add(30 * time.Second); svc.Ready() != nil; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("collector not ready: %v", svc.Ready())
		}
	}
}

// parkctl load against real Mosquitto, influxd and the collector: every
// reading sent is counted as stored, and every sampled reading is timed.
// Without a collector the same command reports everything lost and fails,
// so the first half shows the count is of what the collector stored.
func TestLoadAgainstCollector(t *testing.T) {
	influx, broker := testenv.Influx(t), testenv.Mosquitto(t)
	common := []string{"--broker", broker.URL, "--influx-url", influx.URL, "--bucket", influx.Bucket, "--token", influx.Token}

	rep, err := runLoadJSON(t, append(common, "--gateways", "1", "--meters", "5", "--rate", "200", "--duration", "1s",
		"--batch", "20", "--deadline", "2s")...)
	if err == nil || rep.Sent != 200 || rep.Stored != 0 || rep.Lost != 200 || rep.Complete {
		t.Fatalf("with no collector: err %v, report %+v; want an error and 200 of 200 lost", err, rep)
	}

	startCollector(t, broker, influx)
	rep, err = runLoadJSON(t, append(common, "--gateways", "2", "--meters", "10", "--rate", "500", "--duration", "3s",
		"--batch", "50", "--sample", "0.1", "--deadline", "60s")...)
	if err != nil {
		t.Fatalf("load: %v (report %+v)", err, rep)
	}
	if rep.Sent != 1500 || rep.Envelopes != 30 || rep.PubErrors != 0 {
		t.Fatalf("sent %d readings in %d envelopes, %d failed; want 1500 in 30", rep.Sent, rep.Envelopes, rep.PubErrors)
	}
	if rep.Stored != rep.Sent || rep.Lost != 0 || !rep.Complete {
		t.Fatalf("stored %d of %d, lost %d, complete %v", rep.Stored, rep.Sent, rep.Lost, rep.Complete)
	}
	// 2 of 20 meters are timed, meter 0 of each gateway: first in turn, it
	// gets 38 of the 37.5 samples of 2 readings a meter gets on average.
	l := rep.Latency
	if l.ProbeMeters != 2 || l.Probes != 152 || l.Samples != l.Probes || l.P50 <= 0 || l.P50 > l.P99 || l.P99 > l.Max {
		t.Fatalf("latency %+v: want 152 of 152 samples of 2 meters, ordered percentiles", l)
	}
}

// parkctl simulate --protocol rtuovertcp --profile P serves P's register map
// with RTU framing: a probe over RTU-over-TCP reads every quantity of the
// user profile. (Here because simulate has no test file of its own.)
func TestSimulateProfileOverRTU(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // a free port for the simulator; taken again at once
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- runSimulate(ctx, []string{"-listen", addr, "-units", "7", "-protocol", "rtuovertcp",
			"-profile", "site-meter", "-profiles", "testdata/profiles"})
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("simulate: %v", err)
		}
	}()
	p, err := lookupProfile("site-meter", "testdata/profiles")
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		out.Reset()
		err = probe(ctx, &out, probeArgs{url: "rtuovertcp://" + addr, unit: 7, profile: p, timeout: 2 * time.Second})
		if err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		t.Fatalf("probe: %v\n%s", err, out.String())
	}
	for _, r := range p.Registers {
		if !strings.Contains(out.String(), r.Quantity+" ") {
			t.Errorf("probe output lacks %s:\n%s", r.Quantity, out.String())
		}
	}
}

func TestSimulateRefusesUnknownProtocolAndProfile(t *testing.T) {
	for _, args := range [][]string{
		{"-listen", "127.0.0.1:0", "-protocol", "rtu"},
		{"-listen", "127.0.0.1:0", "-profile", "no-such-meter"},
	} {
		if err := runSimulate(t.Context(), args); err == nil {
			t.Errorf("simulate %v: no error", args)
		}
	}
}
