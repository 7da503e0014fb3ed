package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/parkcarbon/parkcarbon/devices/simulator"
	"github.com/parkcarbon/parkcarbon/internal/servers"
)

// The demo park: 5 enterprises × 4 meters, all Eastron SDM630 on one
// simulated Modbus TCP endpoint, one gateway.
const (
	demoEnterprises = 5
	demoMetersEach  = 4
)

func runDemo(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("demo", flag.ExitOnError)
	dir := fs.String("dir", ".demo", "where the servers' data, configs and logs go")
	interval := fs.Duration("interval", 10*time.Second, "poll interval of the simulated meters")
	_ = fs.Parse(args)

	binDir, err := binariesDir()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(*dir, 0o755); err != nil {
		return fmt.Errorf("demo dir: %w", err)
	}
	absDir, err := filepath.Abs(*dir)
	if err != nil {
		return err
	}
	logFile := func(name string) (*os.File, error) {
		return os.OpenFile(filepath.Join(absDir, name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	}

	fmt.Println("starting influxd 1.8.10 …")
	influxLog, err := logFile("influxd")
	if err != nil {
		return err
	}
	defer influxLog.Close()
	influx, err := servers.StartInflux(ctx, filepath.Join(absDir, "influxdb"), influxLog, servers.PreferPort(8086))
	if err != nil {
		return err
	}
	defer influx.Stop()

	fmt.Println("starting mosquitto …")
	mqLog, err := logFile("mosquitto")
	if err != nil {
		return err
	}
	defer mqLog.Close()
	broker, err := servers.StartMosquitto(ctx, filepath.Join(absDir, "mosquitto"), mqLog, servers.PreferPort(1883))
	if err != nil {
		return err
	}
	defer broker.Stop()

	units := make([]byte, demoEnterprises*demoMetersEach)
	for i := range units {
		units[i] = byte(i + 1)
	}
	simAddr := "127.0.0.1:5020"
	if !portFree(simAddr) {
		simAddr = "127.0.0.1:0"
	}
	sim, err := simulator.Start(ctx, simulator.Config{Addr: simAddr, Units: units})
	if err != nil {
		return err
	}
	defer sim.Close()

	edgeMetrics, collectorHTTP := preferAddr("127.0.0.1:9101"), preferAddr("127.0.0.1:9100")
	edgeCfg := filepath.Join(absDir, "edge.yaml")
	collectorCfg := filepath.Join(absDir, "collector.yaml")
	if err := os.WriteFile(edgeCfg, []byte(demoEdgeConfig(broker.URL, sim.Addr(), edgeMetrics, *interval)), 0o644); err != nil {
		return err
	}
	registry := ""
	if root, err := servers.RepoRoot(); err == nil {
		if p := filepath.Join(root, "configs", "enterprises.yaml"); fileExists(p) {
			registry = p
		}
	}
	if err := os.WriteFile(collectorCfg, []byte(demoCollectorConfig(broker.URL, influx.URL, influx.Bucket, collectorHTTP, registry)), 0o644); err != nil {
		return err
	}

	collector, err := startChild(filepath.Join(binDir, "park-collector"), collectorCfg, absDir)
	if err != nil {
		return err
	}
	defer collector.stop()
	agent, err := startChild(filepath.Join(binDir, "edge-agent"), edgeCfg, absDir)
	if err != nil {
		return err
	}
	defer agent.stop()

	fmt.Printf(`
The park is running: %d enterprises, %d simulated SDM630 meters on modbus tcp://%s,
polled every %s by edge agent gw-01, collected into InfluxDB.

  InfluxDB           %s   (database %q; v2 API bucket %q, any token)
  MQTT broker        %s   (topic park/{enterprise}/gw-01/readings)
  edge-agent         http://%s/metrics   (config %s)
  park-collector     http://%s/metrics   (config %s; alerts at /api/alerts)
  logs               %s/*.log

Consumption and CO2 per enterprise over the last hour (paste after the first intervals, ~%s):

  curl -s %s/api/v2/query -H 'Content-Type: application/vnd.flux' --data-binary '
  from(bucket: "%s") |> range(start: -1h)
    |> filter(fn: (r) => r._measurement == "consumption" and (r._field == "amount" or r._field == "co2_kg"))
    |> group(columns: ["enterprise", "_field"]) |> sum()'

The per-mu evaluation of this month (from the hourly rollups; the registry is configs/enterprises.yaml):

  ./bin/parkctl evaluate --period %s --influx-url %s --bucket %s --enterprises configs/enterprises.yaml

Ctrl-C stops everything.
`, demoEnterprises, len(units), sim.Addr(), *interval, influx.URL, influx.Database, influx.Bucket,
		broker.URL, edgeMetrics, edgeCfg, collectorHTTP, collectorCfg, absDir, 2**interval, influx.URL, influx.Bucket,
		time.Now().Format("2006-01"), influx.URL, influx.Bucket)

	select {
	case <-ctx.Done():
		fmt.Println("\nstopping …")
	case err := <-collector.done:
		return fmt.Errorf("park-collector exited: %v (see %s/park-collector.log)", err, absDir)
	case err := <-agent.done:
		return fmt.Errorf("edge-agent exited: %v (see %s/edge-agent.log)", err, absDir)
	}
	return nil
}

// binariesDir is where edge-agent and park-collector were built: beside
// parkctl (make build puts all three in bin/).
func binariesDir() (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("find parkctl's folder: %w", err)
	}
	dir := filepath.Dir(exe)
	for _, name := range []string{"edge-agent", "park-collector"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			return "", fmt.Errorf("%s not found beside parkctl in %s: run 'make build' (or 'make demo')", name, dir)
		}
	}
	return dir, nil
}

func portFree(addr string) bool {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return false
	}
	ln.Close()
	return true
}

// preferAddr returns addr if it is free, else a free loopback address.
func preferAddr(addr string) string {
	if portFree(addr) {
		return addr
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return addr
	}
	defer ln.Close()
	return ln.Addr().String()
}

func demoEdgeConfig(broker, simAddr, metrics string, interval time.Duration) string {
	var b strings.Builder
	fmt.Fprintf(&b, `# Written by 'parkctl demo'. One gateway polling the whole simulated park.
gateway: gw-01
uplink:
  broker: %s
  topic_prefix: park
buffer:
  dir: ./data/edge
modbus:
  - name: demo-park
    url: tcp://%s
    devices:
`, broker, simAddr)
	unit := 1
	for e := 1; e <= demoEnterprises; e++ {
		for m := 1; m <= demoMetersEach; m++ {
			fmt.Fprintf(&b, "      - {meter: m-%d%02d, enterprise: ent-%03d, unit: %d, profile: eastron-sdm630, interval: %s}\n",
				e, m, e, unit, interval)
			unit++
		}
	}
	fmt.Fprintf(&b, "metrics:\n  listen: %s\n", metrics)
	return b.String()
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func demoCollectorConfig(broker, influxURL, bucket, listen, registry string) string {
	reg := ""
	if registry != "" {
		// The registry's neighbour alerts.yaml gives the demo park its alerts.
		reg = "enterprises: " + registry + "\n"
		if alerts := filepath.Join(filepath.Dir(registry), "alerts.yaml"); fileExists(alerts) {
			reg += "alerts: " + alerts + "\n"
		}
	}
	return reg + fmt.Sprintf(`# Written by 'parkctl demo'.
mqtt:
  broker: %s
  topic_prefix: park
influxdb:
  url: %s
  token: demo:demo            # InfluxDB 1.8 runs with auth off here; any token works
  org: park
  bucket: %s
carbon:
  region: CN
http:
  listen: %s
`, broker, influxURL, bucket, listen)
}

// child is a binary the demo runs; it dies with parkctl.
type child struct {
	name string
	cmd  *exec.Cmd
	done chan error
	log  io.Closer
}

func startChild(bin, config, logDir string) (*child, error) {
	name := filepath.Base(bin)
	logf, err := os.OpenFile(filepath.Join(logDir, name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "-config", config)
	cmd.Dir = logDir
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own process group, so Ctrl-C reaches it only through us, in order;
	// Pdeathsig kills it if parkctl itself is killed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	c := &child{name: name, cmd: cmd, done: make(chan error, 1), log: logf}
	go func() { c.done <- cmd.Wait() }()
	fmt.Printf("started %s (pid %d)\n", name, cmd.Process.Pid)
	return c, nil
}

// stop sends SIGTERM and waits; SIGKILL after 10 s.
func (c *child) stop() {
	defer c.log.Close()
	if c.cmd.ProcessState != nil {
		return
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-c.done:
		var exit *exec.ExitError
		if err != nil && !errors.As(err, &exit) {
			fmt.Printf("%s: %v\n", c.name, err)
		}
	case <-time.After(10 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.done
	}
	fmt.Printf("stopped %s\n", c.name)
}
