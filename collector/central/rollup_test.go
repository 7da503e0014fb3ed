package central

import (
	"io"
	"log/slog"
	"math"
	"testing"
	"time"

	influxdb2 "github.com/influxdata/influxdb-client-go/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/parkcarbon/parkcarbon/carbon"
	"github.com/parkcarbon/parkcarbon/internal/testenv"
	"github.com/parkcarbon/parkcarbon/internal/wire"
)

func at(hh, mm, ss int) int64 {
	return time.Date(2026, 10, 5, hh, mm, ss, 0, time.UTC).UnixMilli()
}

func interval(meter string, since, end int64, amount float64) wire.Reading {
	return wire.Reading{Meter: meter, Enterprise: "ent-001", Energy: "electricity", Quantity: "energy_import_total",
		Value: 1000, Unit: "kWh", TS: end, Delta: &amount, Since: since}
}

// Hourly rollups spread intervals over the hours they span in proportion to
// time, take late data, and are the same however often they are recomputed.
func TestHourlyRollupSpreadsAndIsIdempotent(t *testing.T) {
	inf := testenv.Influx(t)
	client := influxdb2.NewClientWithOptions(inf.URL, inf.Token, influxdb2.DefaultOptions().SetPrecision(time.Millisecond))
	defer client.Close()
	w := client.WriteAPIBlocking("park", inf.Bucket)
	conv := Converter{Factors: carbon.DefaultTable(), Region: "CN"}
	r := newRollups(client.QueryAPI("park"), w, inf.Bucket, time.Second, slog.New(slog.NewTextHandler(io.Discard, nil)), newMetrics(prometheus.NewRegistry()))
	ctx := t.Context()

	store := func(readings ...wire.Reading) {
		t.Helper()
		env := &wire.Envelope{V: 1, Gateway: "gw-01", Seq: 1, Readings: readings}
		if err := w.WritePoint(ctx, conv.Points(nil, env)...); err != nil {
			t.Fatal(err)
		}
		hours, _ := touchedHours(env, nil)
		for _, h := range hours {
			if err := r.recompute(ctx, h); err != nil {
				t.Fatal(err)
			}
		}
	}
	hourly := func() map[int]float64 {
		t.Helper()
		rows, err := inf.Query(ctx, `from(bucket: "`+inf.Bucket+`") |> range(start: 2026-10-05T00:00:00Z, stop: 2026-10-06T00:00:00Z)
  |> filter(fn: (r) => r._measurement == "consumption_hourly" and r._field == "amount")`)
		if err != nil {
			t.Fatal(err)
		}
		out := map[int]float64{}
		for _, row := range rows {
			ts, err := time.Parse(time.RFC3339, row["_time"])
			if err != nil {
				t.Fatal(err)
			}
			out[ts.Hour()] = num(t, row["_value"])
		}
		return out
	}
	expect := func(want map[int]float64) {
		t.Helper()
		got := hourly()
		if len(got) != len(want) {
			t.Fatalf("hours %v, want %v", got, want)
		}
		for h, v := range want {
			if math.Abs(got[h]-v) > 1e-9 {
				t.Fatalf("hour %d: %v, want %v (all: %v)", h, got[h], v, got)
			}
		}
	}

	store(
		interval("m-a", at(10, 59, 50), at(11, 0, 10), 2), // crosses 11:00: 1 + 1
		interval("m-a", at(11, 0, 10), at(11, 0, 20), 1),
		interval("m-b", at(8, 30, 0), at(11, 30, 0), 30),   // a 3 h gap: 5, 10, 10, 5
		interval("m-c", at(10, 59, 50), at(11, 0, 0), 0.5), // ends on the boundary: hour 10
	)
	want := map[int]float64{8: 5, 9: 10, 10: 1 + 10 + 0.5, 11: 1 + 1 + 5}
	expect(want)

	// A replay rewrites the same points: nothing changes.
	store(interval("m-a", at(10, 59, 50), at(11, 0, 10), 2), interval("m-b", at(8, 30, 0), at(11, 30, 0), 30))
	expect(want)

	// Late data for an old hour (a backlog delivered hours late) updates it.
	store(interval("m-d", at(9, 10, 0), at(9, 10, 10), 0.25))
	want[9] += 0.25
	expect(want)

	// CO2 of an hour is its amount × the 2023 national factor in force.
	rows, err := inf.Query(ctx, `from(bucket: "`+inf.Bucket+`") |> range(start: 2026-10-05T00:00:00Z, stop: 2026-10-06T00:00:00Z)
  |> filter(fn: (r) => r._measurement == "consumption_hourly")
  |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")`)
	if err != nil {
		t.Fatal(err)
	}
	for _, row := range rows {
		amount, co2, coal := num(t, row["amount"]), num(t, row["co2_kg"]), num(t, row["coal_kgce"])
		if math.Abs(co2-amount*0.5306) > 1e-9 || math.Abs(coal-amount*carbon.CoalElectricity) > 1e-9 || row["scope"] != "2" {
			t.Errorf("%s: amount %v co2 %v coal %v scope %s", row["_time"], amount, co2, coal, row["scope"])
		}
	}
}
