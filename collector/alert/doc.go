// Package alert evaluates the park's alert rules (alerts.yaml) and delivers
// their changes: the overconsumption alerts of issue 6.
//
// Rules come in four kinds. Intensity rules compare an enterprise's figure
// over a window (today, the last 30 days, the year to date annualized),
// read from the hourly rollups (consumption_hourly) and the registry, with
// its tier's limit; they run every Config.Interval. Live rules compare a
// live quantity (active power against the contracted demand) with a
// threshold; silence rules watch meters and gateways for N of their
// intervals; quality rules count data-quality events. These three are fed
// by the collector (ObserveReadings, ObserveEvents) and also run on the
// schedule, which notices silence and the end of `for`.
//
// Every alert goes inactive → pending → firing → resolved: it fires once
// its condition has held for `for`, resolves only once the value is below
// limit × (1 − hysteresis), and is notified again every repeat_interval
// while it fires. An alert whose subject is no longer evaluated (the rule
// or limit was removed, the live readings stopped) resolves. The pending
// and firing alerts, the meters' last readings and pace and the recent
// events are kept in Config.StateDir (alerts-state.json, replaced
// atomically), so a restart neither restarts `for` nor forgets a meter.
//
// Notifiers (webhook, MQTT, Alertmanager) each have a bounded queue and a
// worker with retries and backoff: a receiver that is down delays only its
// own queue, never evaluation nor the collector. Every state change is
// also a point of the `alert` measurement, through the same kind of queue.
//
// # Several collectors
//
// With several collector instances, each evaluates the enterprises of its
// Shard: FNV-1a (32 bit) of the enterprise id modulo Shard.Count equals
// Shard.Index. Every instance must have the same Count and its own Index;
// changing Count moves enterprises, whose alerts the old owner drops
// without a notification and the new one evaluates afresh.
//
// The schedule's rules read InfluxDB and see everything. The stream's rules
// (live, silence, quality) see only what the instance is handed, and a
// shared subscription ($share/…) spreads every enterprise's messages over
// all instances. So on a shared subscription each instance should also be
// handed the messages of the enterprises it owns, from a plain QoS 0
// subscription to {prefix}/+/+/readings whose handler passes to
// ObserveReadings and ObserveEvents only what Shard.Owns (nothing stored,
// nothing acknowledged). Seeing a message twice is harmless: a meter's
// last reading, the latest values and the event counts ignore repeats.
package alert
