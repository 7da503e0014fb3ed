#!/usr/bin/env bash
# The collector's end-to-end measurement (BENCHMARKS.md, "Collector"):
# InfluxDB 1.8.10, Mosquitto, park-collector and `parkctl load` on this one
# machine, on fixed ports that the tests' random ones do not collide with.
#
#   scripts/bench-collector.sh start            # build, start the servers and the collector
#   scripts/bench-collector.sh run 10000 60s    # one load run; extra args go to parkctl load
#   scripts/bench-collector.sh stop
#
# `run` prints one JSON line: what parkctl load reported, plus the
# collector's CPU per reading and peak RSS (VmHWM, reset before the run),
# and the CPU cores influxd and mosquitto used meanwhile. Runs wait until the
# collector is idle (the previous run's rollups done) and hold
# /tmp/parkcarbon-measure.lock, so two measurements never share the cores.
set -euo pipefail

DIR=${PCBENCH_DIR:-/tmp/pcbench}
INFLUX_PORT=27086
INFLUX_RPC=27088
MQTT_PORT=27884
HTTP_PORT=27100
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=scripts/bench-mosquitto.sh
. "$ROOT/scripts/bench-mosquitto.sh"
TCK=$(getconf CLK_TCK)

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
pid_of() { cat "$DIR/$1.pid"; }

start() {
	mkdir -p "$DIR"/{bin,influx,mqtt,spool}
	(cd "$ROOT" && go build -o "$DIR/bin/" ./cmd/park-collector ./cmd/parkctl)
	[ -x "$ROOT/.tools/bin/influxd" ] || (cd "$ROOT" && make deps)
	cat >"$DIR/influxd.conf" <<EOF
reporting-disabled = true
bind-address = "127.0.0.1:$INFLUX_RPC"
[meta]
  dir = "$DIR/influx/meta"
  logging-enabled = false
[data]
  dir = "$DIR/influx/data"
  wal-dir = "$DIR/influx/wal"
  query-log-enabled = false
[monitor]
  store-enabled = false
[http]
  enabled = true
  bind-address = "127.0.0.1:$INFLUX_PORT"
  flux-enabled = true
  log-enabled = false
  suppress-write-log = true
[logging]
  level = "warn"
  suppress-logo = true
[continuous_queries]
  enabled = false
[subscriber]
  enabled = false
EOF
	bench_mosquitto_conf "$MQTT_PORT" "$DIR" >"$DIR/mosquitto.conf"
	cat >"$DIR/collector.yaml" <<EOF
mqtt: {broker: tcp://127.0.0.1:$MQTT_PORT, topic_prefix: park, client_id: bench-collector}
influxdb: {url: http://127.0.0.1:$INFLUX_PORT, token: "bench:unused", org: park, bucket: energy/autogen}
carbon: {region: CN}
http: {listen: 127.0.0.1:$HTTP_PORT}
log: {level: warn}
spool: {dir: $DIR/spool}
EOF
	"$ROOT/.tools/bin/influxd" run -config "$DIR/influxd.conf" >"$DIR/influxd.log" 2>&1 &
	echo $! >"$DIR/influxd.pid"
	/usr/sbin/mosquitto -c "$DIR/mosquitto.conf" >"$DIR/mosquitto.log" 2>&1 &
	echo $! >"$DIR/mosquitto.pid"
	for _ in $(seq 100); do
		curl -sf "http://127.0.0.1:$INFLUX_PORT/ping" >/dev/null && break
		sleep 0.1
	done
	curl -sf -XPOST "http://127.0.0.1:$INFLUX_PORT/query" --data-urlencode 'q=CREATE DATABASE energy' >/dev/null
	"$DIR/bin/park-collector" -config "$DIR/collector.yaml" -pprof >"$DIR/collector.log" 2>&1 &
	echo $! >"$DIR/collector.pid"
	for _ in $(seq 100); do
		curl -sf "http://127.0.0.1:$HTTP_PORT/readyz" >/dev/null && break
		sleep 0.1
	done
	echo "started: influxd :$INFLUX_PORT, mosquitto :$MQTT_PORT, collector http://127.0.0.1:$HTTP_PORT (pprof on)" >&2
}

# idle waits until the collector used under 2 % of a core for 2 s.
idle() {
	local pid a b
	pid=$(pid_of collector)
	for _ in $(seq 150); do
		a=$(cpu_ticks "$pid")
		sleep 2
		b=$(cpu_ticks "$pid")
		[ $((b - a)) -le $((TCK * 4 / 100)) ] && return 0
	done
	echo "collector never went idle" >&2
	return 1
}

run() {
	command -v jq >/dev/null || { echo "run needs jq: apt-get install -y jq" >&2; exit 1; }
	local rate=$1 duration=$2
	shift 2
	exec 9>/tmp/parkcarbon-measure.lock
	flock 9
	idle
	local c i m
	c=$(pid_of collector) i=$(pid_of influxd) m=$(pid_of mosquitto)
	echo 5 >"/proc/$c/clear_refs" # resets VmHWM
	local c0 i0 m0 t0 c1 i1 m1 t1
	c0=$(cpu_ticks "$c") i0=$(cpu_ticks "$i") m0=$(cpu_ticks "$m") t0=$(date +%s.%N)
	local out="$DIR/run-$(date +%s).json"
	"$DIR/bin/parkctl" load --broker "tcp://127.0.0.1:$MQTT_PORT" --influx-url "http://127.0.0.1:$INFLUX_PORT" \
		--bucket energy/autogen --token bench:unused --rate "$rate" --duration "$duration" --json "$out" "$@" >&2 || true
	c1=$(cpu_ticks "$c") i1=$(cpu_ticks "$i") m1=$(cpu_ticks "$m") t1=$(date +%s.%N)
	local hwm
	hwm=$(awk '/VmHWM/ {print $2}' "/proc/$c/status")
	jq -c --argjson cpu "$(((c1 - c0)))" --argjson tck "$TCK" --argjson hwm "$hwm" \
		--argjson icpu "$((i1 - i0))" --argjson mcpu "$((m1 - m0))" --argjson wall "$(awk -v a="$t0" -v b="$t1" 'BEGIN {print b - a}')" \
		'{rate, sent, stored, lost, complete, throughput_per_s, drain_s, p99_ms: .latency.p99_ms,
		  collector_us_per_reading: ($cpu / $tck * 1e6 / .stored),
		  collector_vmhwm_mb: ($hwm / 1024), influxd_cores: ($icpu / $tck / $wall),
		  mosquitto_cores: ($mcpu / $tck / $wall), file: input_filename}' "$out"
}

stop() {
	for p in collector mosquitto influxd; do
		[ -f "$DIR/$p.pid" ] && kill "$(pid_of $p)" 2>/dev/null || true
		rm -f "$DIR/$p.pid"
	done
}

case ${1:-} in
start) start ;;
run) shift && run "$@" ;;
idle) idle ;;
stop) stop ;;
*)
	sed -n '2,15p' "$0" >&2
	exit 2
	;;
esac
