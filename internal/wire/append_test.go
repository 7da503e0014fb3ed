package wire

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// randFloat draws finite floats of every magnitude and form: integers,
// decimals, tiny and huge exponents, negative zero, float32-rounded values.
func randFloat(rng *rand.Rand) float64 {
	for {
		var f float64
		switch rng.IntN(6) {
		case 0:
			f = math.Float64frombits(rng.Uint64())
		case 1:
			f = float64(rng.IntN(1_000_000))
		case 2:
			f = rng.Float64() * math.Pow(10, float64(rng.IntN(40)-20))
		case 3:
			f = float64(float32(rng.NormFloat64() * 1e4))
		case 4:
			f = []float64{0, math.Copysign(0, -1), 1e-6, 9.999999e-7, 1e21, 1e20, math.MaxFloat64, math.SmallestNonzeroFloat64}[rng.IntN(8)]
		default:
			f = rng.NormFloat64()
		}
		if rng.IntN(2) == 0 {
			f = -f
		}
		if !math.IsNaN(f) && !math.IsInf(f, 0) {
			return f
		}
	}
}

// randText is free text: ASCII, controls, HTML characters, quotes,
// backslashes, multi-byte runes, U+2028/9 and, if invalid, broken UTF-8.
func randText(rng *rand.Rand, maxLen int, invalid bool) string {
	pieces := []string{"a", "Z", "9", " ", "_", "\"", "\\", "/", "<", ">", "&", "\n", "\r", "\t", "\b", "\f",
		"\x00", "\x1f", "\x7f", "é", "°C", "m³", "千瓦时", "\u2028", "\u2029", "😀", "\ufffd"}
	if invalid {
		pieces = append(pieces, "\xff", "\xc3", "\xe2\x80", "\xed\xa0\x80")
	}
	var sb strings.Builder
	for sb.Len() < maxLen && rng.IntN(12) != 0 {
		p := pieces[rng.IntN(len(pieces))]
		if sb.Len()+len(p) > maxLen {
			break
		}
		sb.WriteString(p)
	}
	return sb.String()
}

func randID(rng *rand.Rand) string {
	const first = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	const rest = first + "_.:-"
	b := []byte{first[rng.IntN(len(first))]}
	for n := rng.IntN(20); n > 0; n-- {
		b = append(b, rest[rng.IntN(len(rest))])
	}
	return string(b)
}

func randReading(rng *rand.Rand, enterprise string, invalid bool) Reading {
	energies := []string{Electricity, Gas, Water, Heat}
	r := Reading{Meter: randID(rng), Enterprise: enterprise, Energy: energies[rng.IntN(4)], Quantity: randID(rng),
		Value: randFloat(rng), Unit: randText(rng, 16, invalid), TS: 1 + rng.Int64N(1<<45)}
	if rng.IntN(2) == 0 {
		r.Quality = []string{"good", "suspect", "q<&>"}[rng.IntN(3)]
	}
	if rng.IntN(2) == 0 {
		r.Quantity, _ = CumulativeQuantity(r.Energy)
		d := math.Abs(randFloat(rng))
		r.Delta, r.Since = &d, 1+rng.Int64N(r.TS)
		if r.Since >= r.TS {
			r.Since = r.TS - 1
		}
		if r.Since == 0 {
			r.Delta, r.Since = nil, 0
		}
	}
	return r
}

func randEvent(rng *rand.Rand, enterprise string, invalid bool) Event {
	return Event{Meter: randID(rng), Enterprise: enterprise, Kind: randID(rng), Value: randFloat(rng),
		Message: randText(rng, 1024, invalid), TS: 1 + rng.Int64N(1<<45)}
}

// The hand-written elements are byte for byte what encoding/json makes,
// broken UTF-8 included.
func TestAppendMatchesEncodingJSON(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 20000 {
		r := randReading(rng, randID(rng), true)
		want, err := json.Marshal(&r)
		if err != nil {
			t.Fatal(err)
		}
		if got := AppendReading(nil, &r); !bytes.Equal(got, want) {
			t.Fatalf("reading %d:\n got %s\nwant %s", i, got, want)
		}
		ev := randEvent(rng, randID(rng), true)
		want, err = json.Marshal(&ev)
		if err != nil {
			t.Fatal(err)
		}
		if got := AppendEvent(nil, &ev); !bytes.Equal(got, want) {
			t.Fatalf("event %d:\n got %s\nwant %s", i, got, want)
		}
	}
}

// Envelopes spliced from appended elements decode with Decode (the contract
// with the collector) to exactly the readings and events they were made of.
func TestAppendEnvelopeRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range 2000 {
		ent := randID(rng)
		want := Envelope{V: Version, Gateway: randID(rng), Seq: rng.Uint64(), SentAt: rng.Int64N(1 << 45), Readings: []Reading{}}
		var readings, events []byte
		for n := rng.IntN(30); n > 0 || len(want.Readings)+len(want.Events) == 0; n-- {
			if rng.IntN(5) == 0 {
				ev := randEvent(rng, ent, false)
				want.Events = append(want.Events, ev)
				if len(events) > 0 {
					events = append(events, ',')
				}
				events = AppendEvent(events, &ev)
				continue
			}
			r := randReading(rng, ent, false)
			want.Readings = append(want.Readings, r)
			if len(readings) > 0 {
				readings = append(readings, ',')
			}
			readings = AppendReading(readings, &r)
		}
		payload := AppendEnvelope(nil, want.Gateway, want.Seq, want.SentAt, readings, events)
		got, err := Decode(payload)
		if err != nil {
			t.Fatalf("envelope %d: %v\n%s", i, err, payload)
		}
		if !reflect.DeepEqual(*got, want) {
			t.Fatalf("envelope %d: decoded\n%+v\nwant\n%+v", i, *got, want)
		}
		// And the same bytes as Encode whenever Encode has no null to write.
		if enc, err := Encode(&want); err != nil || !bytes.Equal(enc, payload) {
			t.Fatalf("envelope %d differs from Encode (%v):\n got %s\nwant %s", i, err, payload, enc)
		}
	}
}

func TestAppendFloatNonFinite(t *testing.T) {
	for _, f := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		if got := string(AppendFloat(nil, f)); got != "0" {
			t.Errorf("AppendFloat(%v) = %s, want 0", f, got)
		}
	}
}

// Strings are escaped exactly as encoding/json escapes them, and valid UTF-8
// comes back unchanged.
func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "kWh", "m³", "a\"b\\c", "<&>", "\x00\x1f\x7f", "\u2028\u2029", "\xff\xfe", "\xed\xa0\x80", "千瓦时😀"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := AppendString([]byte("x"), s)[1:]
		want, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("AppendString(%q) = %s, want %s", s, got, want)
		}
		var back string
		if err := json.Unmarshal(got, &back); err != nil {
			t.Fatalf("AppendString(%q) = %s: not JSON: %v", s, got, err)
		}
		if utf8.ValidString(s) && back != s {
			t.Fatalf("AppendString(%q) decodes to %q", s, back)
		}
	})
}

func BenchmarkAppendReading(b *testing.B) {
	d := 0.42
	r := Reading{Meter: "m-00-01", Enterprise: "ent-000", Energy: Electricity, Quantity: "energy_import_total",
		Value: 12345.678, Unit: "kWh", TS: 1764000000000, Quality: "good", Delta: &d, Since: 1763999999000}
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendReading(buf[:0], &r)
	}
}
