#!/usr/bin/env bash
# The edge agent's measurement (BENCHMARKS.md, "Edge"; issue 3 item 10):
# one edge-agent polling 200 simulated meters × 20 registers at 1 s — ten
# `parkctl simulate` endpoints of 20 units each — publishing to Mosquitto,
# all on this machine, on fixed ports that the tests' random ones do not use.
#
#   scripts/bench-edge.sh start              # build, write the configs, start Mosquitto
#   scripts/bench-edge.sh run LABEL [SECS]   # one run (default 60 s after 5 s of warm-up)
#   scripts/bench-edge.sh stop
#
# `run` prints one JSON line (and appends it to $DIR/results.jsonl): polls and
# poll errors in the window, the agent's CPU (utime+stime, and stime alone) per
# poll, its peak RSS at start-up and after it (VmHWM, reset after the warm-up),
# RssAnon/RssFile at the end, and what the broker acknowledged.
#
# Variants: BIN=dir other binaries (edge-agent and parkctl of another commit),
# CONFIG=file another edge.yaml in $DIR, AGENT_ENV="GOGC=100 …" an environment
# for the agent, AGENT_WRAP / SIM_WRAP a command the agent / each simulator
# runs under ("taskset -c 0", "chrt -b 0"). Extras: SMAPS=1 sums
# /proc/<pid>/smaps by mapping 30 s in, PERF=1 records `perf record -g`
# (at PERF_F Hz, default 999) for 20 s from 20 s in into
# $DIR/perf-LABEL.data, SAMPLE=15 prints VmHWM, VmRSS, RssAnon and RssFile
# every 15 s (each with a scrape of /metrics, as Prometheus would).
# Runs hold /tmp/parkcarbon-measure.lock, so two measurements never share the cores.
set -euo pipefail

DIR=${PCBENCH_EDGE_DIR:-/tmp/pc3bench}
MQTT_PORT=27883
HTTP_PORT=27101
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=scripts/bench-mosquitto.sh
. "$ROOT/scripts/bench-mosquitto.sh"
TCK=$(getconf CLK_TCK)

start() {
	mkdir -p "$DIR"/{bin,profiles,mqtt}
	(cd "$ROOT" && CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o "$DIR/bin/" ./cmd/edge-agent ./cmd/parkctl)
	command -v mosquitto >/dev/null || [ -x /usr/sbin/mosquitto ] || (cd "$ROOT" && make deps)
	bench_mosquitto_conf "$MQTT_PORT" "$DIR" >"$DIR/mosquitto.conf"
	{
		echo "name: bench-20"
		echo "description: 20 float32 input registers at 0x0000-0x0026 (benchmark only)"
		echo "source: scripts/bench-edge.sh"
		echo "energy: electricity"
		echo "registers:"
		local i=0 q u
		for qu in voltage_l1:V voltage_l2:V voltage_l3:V current_l1:A current_l2:A current_l3:A \
			active_power:kW reactive_power:kvar power_factor:1 frequency:Hz \
			energy_import_total:kWh energy_export_total:kWh \
			x_active_power_l1:kW x_active_power_l2:kW x_active_power_l3:kW \
			x_voltage_l12:V x_voltage_l23:V x_voltage_l31:V x_thd_voltage_l1:% x_thd_current_l1:%; do
			q=${qu%%:*} u=${qu#*:}
			printf '  - {quantity: %s, function: input, address: 0x%04X, type: float32, order: ABCD, unit: "%s"}\n' "$q" $((i * 2)) "$u"
			i=$((i + 1))
		done
	} >"$DIR/profiles/bench-20.yaml"
	{
		echo "gateway: gw-bench"
		echo "profiles: ./profiles"
		echo "uplink: {broker: tcp://127.0.0.1:$MQTT_PORT, topic_prefix: edgebench}"
		echo "buffer: {dir: ./data}"
		echo "metrics: {listen: 127.0.0.1:$HTTP_PORT}"
		echo "log: {level: warn}"
		echo "modbus:"
		for e in $(seq 0 9); do
			echo "  - name: ep-$e"
			echo "    url: tcp://127.0.0.1:$((27500 + e))"
			echo "    devices:"
			for u in $(seq 1 20); do
				printf '      - {meter: m-%02d-%02d, enterprise: ent-%03d, unit: %d, profile: bench-20, interval: 1s}\n' "$e" "$u" "$e" "$u"
			done
		done
	} >"$DIR/edge.yaml"
	if [ -f "$DIR/mosquitto.pid" ] && kill -0 "$(cat "$DIR/mosquitto.pid")" 2>/dev/null; then return; fi
	/usr/sbin/mosquitto -c "$DIR/mosquitto.conf" >"$DIR/mosquitto.log" 2>&1 &
	echo $! >"$DIR/mosquitto.pid"
	sleep 0.5
}

metric() { # sum of a metric's samples on the agent's /metrics
	curl -fs "http://127.0.0.1:$HTTP_PORT/metrics" | awk -v m="$1" '$1 == m || index($1, m "{") == 1 {s += $2} END {print s + 0}'
}
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
sys_ticks() { awk '{print $15}' "/proc/$1/stat"; }

run() {
	local label=$1 secs=${2:-60} bin=${BIN:-$DIR/bin}
	exec 9>/tmp/parkcarbon-measure.lock
	flock 9
	cd "$DIR"
	local pids=() e
	for e in $(seq 0 9); do
		# shellcheck disable=SC2086 # SIM_WRAP is a command prefix
		setsid ${SIM_WRAP:-} "$bin/parkctl" simulate -listen "127.0.0.1:$((27500 + e))" -units 1-20 -profile bench-20 -profiles profiles >"sim-$e.log" 2>&1 &
		pids+=($!)
	done
	sleep 1
	rm -rf data
	# shellcheck disable=SC2086 # AGENT_ENV is a list of assignments
	# shellcheck disable=SC2086 # AGENT_WRAP is a command prefix
	setsid ${AGENT_WRAP:-} env ${AGENT_ENV:-} "$bin/edge-agent" -config "${CONFIG:-edge.yaml}" >"agent-$label.log" 2>&1 &
	local a=$!
	sleep 5 # start-up (profiles, store, first connects) is not the steady state
	local p0 c0 s0 p1 c1 s1 e1 pub buf hwm0 hwm rss smaps=""
	p0=$(metric parkcarbon_edge_polls_total)
	c0=$(cpu_ticks $a)
	s0=$(sys_ticks $a)
	hwm0=$(awk '/VmHWM/{print $2}' "/proc/$a/status") # the start-up's peak
	echo 5 >"/proc/$a/clear_refs" # VmHWM from here on
	if [ -n "${PERF:-}" ]; then
		sleep 20
		perf record -F ${PERF_F:-999} -g -p $a -o "perf-$label.data" -- sleep 20 >/dev/null 2>&1
		sleep $((secs - 40))
	elif [ -n "${SMAPS:-}" ]; then
		sleep 30
		smaps=$(awk '/^[0-9a-f]+-[0-9a-f]+ /{n=$6; if (n=="") n="[anon]"} /^Rss:/{r[n]+=$2} END{for (k in r) if (r[k] > 100) printf "%s=%.1f;", k, r[k]/1024}' "/proc/$a/smaps")
		sleep $((secs - 30))
	elif [ -n "${SAMPLE:-}" ]; then
		local t
		for ((t = SAMPLE; t <= secs; t += SAMPLE)); do
			sleep "$SAMPLE"
			echo "$t s: $(awk '/^(VmHWM|VmRSS|RssAnon|RssFile):/{printf "%s %.1f MB ", $1, $2/1024}' "/proc/$a/status")polls $(metric parkcarbon_edge_polls_total)" >&2
		done
	else
		sleep "$secs"
	fi
	c1=$(cpu_ticks $a)
	s1=$(sys_ticks $a)
	p1=$(metric parkcarbon_edge_polls_total)
	e1=$(metric parkcarbon_edge_poll_errors_total)
	pub=$(metric parkcarbon_edge_records_published_total)
	buf=$(metric parkcarbon_edge_buffer_records)
	hwm=$(awk '/VmHWM/{print $2}' "/proc/$a/status")
	rss=$(awk '/^Rss(Anon|File|Shmem):/{printf "%s%.1f", (n++ ? "," : ""), $2/1024}' "/proc/$a/status")
	kill $a
	wait $a 2>/dev/null || true
	kill "${pids[@]}"
	wait 2>/dev/null || true
	local line
	line=$(awk -v l="$label" -v s="$secs" -v p="$((p1 - p0))" -v e="$e1" -v c="$((c1 - c0))" -v sy="$((s1 - s0))" -v t="$TCK" \
		-v h="$hwm" -v h0="$hwm0" -v pub="$pub" -v buf="$buf" -v la="$(cut -d' ' -f1 /proc/loadavg)" -v sm="$smaps" -v rss="$rss" -v env="${AGENT_ENV:-}" \
		'BEGIN {cpu = c / t; printf "{\"label\":\"%s\",\"env\":\"%s\",\"seconds\":%d,\"polls\":%d,\"poll_errors\":%d,\"cpu_s\":%.2f,\"sys_s\":%.2f,\"ms_per_poll\":%.4f,\"hwm_mb\":%.1f,\"startup_hwm_mb\":%.1f,\"rss_anon_file_shmem_mb_end\":[%s],\"records_published\":%d,\"buffer_records_end\":%d,\"loadavg1\":%s,\"smaps_mb\":\"%s\"}\n", l, env, s, p, e, cpu, sy / t, cpu * 1000 / (p > 0 ? p : 1), h / 1024, h0 / 1024, rss, pub, buf, la, sm}')
	echo "$line" | tee -a "$DIR/results.jsonl"
}

stop() {
	[ -f "$DIR/mosquitto.pid" ] && kill "$(cat "$DIR/mosquitto.pid")" 2>/dev/null || true
	rm -f "$DIR/mosquitto.pid"
}

case ${1:-} in
start) start ;;
run) shift && run "$@" ;;
stop) stop ;;
*) echo "usage: $0 start | run LABEL [SECONDS] | stop" >&2 && exit 2 ;;
esac
