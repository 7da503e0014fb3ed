package wire

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"
)

func mustEncode(t testing.TB, env *Envelope) []byte {
	t.Helper()
	b, err := Encode(env)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// decodeCorpus covers what the fast path takes and what it hands to
// encoding/json: every energy, intervals across hours and years, events,
// escapes, unknown, repeated and differently cased keys, null, odd numbers,
// broken JSON and invalid envelopes.
func decodeCorpus(t testing.TB) [][]byte {
	t.Helper()
	payloads := [][]byte{mustEncode(t, benchEnvelope(50)), mustEncode(t, benchEnvelope(1))}
	mixed := benchEnvelope(8)
	for i, e := range []string{Gas, Water, Heat} {
		r := &mixed.Readings[2*i]
		r.Energy = e
		r.Quantity, _ = CumulativeQuantity(e)
	}
	// Numbers that encoding/json writes with an exponent (1e-7) or many digits.
	tiny := 0.00001
	mixed.Readings[0].Value, mixed.Readings[1].Value, mixed.Readings[4].Delta = 16777216.5, 1e-7, &tiny
	long := mixed.Readings[6]
	long.Since = long.TS - 3*3600*1000
	newYear := long
	newYear.TS = time.Date(2025, 1, 1, 0, 30, 0, 0, time.UTC).UnixMilli()
	newYear.Since = newYear.TS - 2*3600*1000
	mixed.Readings = append(mixed.Readings, long, newYear)
	payloads = append(payloads, mustEncode(t, mixed))
	withEvent := benchEnvelope(2)
	withEvent.Events = []Event{{Meter: "m-000", Enterprise: "ent-001", Kind: "reset", Value: 3, TS: withEvent.Readings[0].TS,
		Message: "counter dropped, \"new\" baseline\tat 3 kWh\\"}}
	payloads = append(payloads, mustEncode(t, withEvent))
	good := string(mustEncode(t, benchEnvelope(2)))
	for _, s := range []string{
		strings.Replace(good, `"m-000"`, `"m-\u0030"`, 1),                    // escape: same meter
		strings.Replace(good, `"meter"`, `"Meter"`, 1),                       // encoding/json matches keys case-insensitively
		strings.Replace(good, `"quality"`, `"extra":1,"quality"`, 1),         // unknown key, ignored
		strings.Replace(good, `"unit":"kWh"`, `"unit":"kWh","unit":"Wh"`, 1), // repeated key: last wins
		strings.Replace(good, `"quality":"good"`, `"quality":null`, 1),
		strings.Replace(good, `"seq":42`, `"seq":4.2e1`, 1),
		strings.Replace(good, `"seq":42`, `"seq":-1`, 1),
		strings.Replace(good, `"v":1`, `"v":4294967297`, 1),
		strings.Replace(good, `"ts":`, `"ts":1e3,"x":`, 1),
		strings.Replace(good, `"value":`, `"value":-0.5e-3,"y":`, 1),
		strings.Replace(good, `"value":`, `"value":1e999,"y":`, 1),
		strings.Replace(good, `"value":`, `"value":01,"y":`, 1),
		strings.Replace(good, `"m-000"`, `"m 000"`, 1),    // invalid id
		strings.Replace(good, `"m-000"`, `"-m000"`, 1),    // invalid id
		strings.Replace(good, `"m-000"`, `"m-ü"`, 1),      // non-ASCII
		strings.Replace(good, `"delta":`, `"delta":-`, 1), // negative delta
		strings.Replace(good, `"v":1`, `"v":2`, 1),
		strings.Replace(good, `"readings":[`, `"readings":[],"r":[`, 1),
		`{"v":1,"gateway":"gw-01","seq":1,"readings":[]}`,
		`{"v":1,"gateway":"gw-01","seq":1,"readings":null}`,
		` ` + good + "\n",
		good + `x`,
		good[:len(good)-3],
		`[]`, ``, `{}`,
	} {
		payloads = append(payloads, []byte(s))
	}
	return payloads
}

// sameDecode fails t unless Decode, DecodeShared and decodeStd agree on
// data: the same error text, or envelopes that encode to the same JSON.
func sameDecode(t *testing.T, data []byte) {
	t.Helper()
	want, wantErr := decodeStd(data)
	got, err := Decode(data)
	if fmt.Sprint(err) != fmt.Sprint(wantErr) {
		t.Fatalf("%.120q: error %v, encoding/json says %v", data, err, wantErr)
	}
	shared, sharedErr := DecodeShared(bytes.Clone(data))
	if fmt.Sprint(sharedErr) != fmt.Sprint(wantErr) {
		t.Fatalf("%.120q: DecodeShared's error %v, encoding/json says %v", data, sharedErr, wantErr)
	}
	if wantErr != nil {
		return
	}
	ja, _ := json.Marshal(got)
	jb, _ := json.Marshal(want)
	if !bytes.Equal(ja, jb) {
		t.Fatalf("%.120q:\n fast %s\n std  %s", data, ja, jb)
	}
	if js, _ := json.Marshal(shared); !bytes.Equal(js, jb) {
		t.Fatalf("%.120q:\n shared %s\n std    %s", data, js, jb)
	}
}

func TestDecodeFastPathMatchesEncodingJSON(t *testing.T) {
	corpus := decodeCorpus(t)
	// The first payloads are as agents write them: the fast path must take
	// them, or the hot path silently falls back. A field added to the
	// envelope or the reading lands here (the third sets every one) until
	// the parser learns it.
	for _, p := range corpus[:3] {
		if _, ok := parseEnvelope(string(p)); !ok {
			t.Fatalf("the fast path refuses %.80q", p)
		}
	}
	for i, p := range corpus {
		t.Run(fmt.Sprint(i), func(t *testing.T) { sameDecode(t, p) })
	}
}

// FuzzDecodeFast: on any input the fast path decides what encoding/json
// and Validate decide, to the error text.
func FuzzDecodeFast(f *testing.F) {
	for _, p := range decodeCorpus(f) {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, data []byte) { sameDecode(t, data) })
}

func TestValidIDMatchesItsPattern(t *testing.T) {
	pattern := regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$`)
	ids := []string{"", "a", "A9", "m-101", "ent_1", "x.y:z", "-a", "_a", "a b", "a,b", "a=b", "a/b", "a+b", "a#",
		"ü", "a\n", strings.Repeat("a", 64), strings.Repeat("a", 65), "0", "9z-_.:"}
	for c := range 256 {
		ids = append(ids, "a"+string(rune(c)), string(rune(c))+"a", "a"+string([]byte{byte(c)}))
	}
	for _, id := range ids {
		if ValidID(id) != pattern.MatchString(id) {
			t.Errorf("ValidID(%q) = %v, the pattern says %v", id, ValidID(id), pattern.MatchString(id))
		}
	}
}
