// Package e2e holds the end-to-end tests: the real binaries, a real broker
// and a real InfluxDB, from a simulated meter to a Flux query result.
package e2e
