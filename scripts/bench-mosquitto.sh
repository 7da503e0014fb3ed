# Sourced by scripts/bench-*.sh: the broker of a measurement.
#
# bench_mosquitto_conf PORT DIR prints a mosquitto.conf as internal/servers
# configures Mosquitto for the tests (QoS 1 persisted, 20 in flight), listening
# on 127.0.0.1:PORT with its persistence in DIR/mqtt/.
bench_mosquitto_conf() {
	cat <<EOF
listener $1 127.0.0.1
allow_anonymous true
persistence true
persistence_location $2/mqtt/
autosave_interval 1
max_queued_messages 0
max_inflight_messages 20
EOF
}
