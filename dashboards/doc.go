// Package dashboards holds the park's Grafana dashboards (*.json) and the
// provisioning of their datasources. The JSON is generated from
// internal/board; edit that and run `go generate ./dashboards`. The tests
// run every panel's query against a real InfluxDB loaded with a simulated
// park, and lint the JSON (README.md).
package dashboards

//go:generate go run ./gen -enterprises ../configs/enterprises.yaml -alerts ../configs/alerts.yaml -out .
