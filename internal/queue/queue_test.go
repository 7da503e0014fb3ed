package queue

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"
)

func open(t *testing.T, path string, opts Options) *Store {
	t.Helper()
	s, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func key(seq uint64) []byte { return binary.BigEndian.AppendUint64(nil, seq) }

func payloads(recs []Record) []string {
	var out []string
	for _, r := range recs {
		out = append(out, string(r.Data))
	}
	return out
}

func TestFIFOAndStateSurviveReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.db")
	s := open(t, path, Options{})
	if err := s.Commit([][]byte{[]byte("a"), []byte("b")}, map[string][]byte{"m1": []byte("100")}); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit([][]byte{[]byte("c")}, map[string][]byte{"m1": []byte("101"), "m2": []byte("5")}); err != nil {
		t.Fatal(err)
	}
	recs, _ := s.Peek(2)
	if fmt.Sprint(payloads(recs)) != "[a b]" {
		t.Fatalf("peek %v", payloads(recs))
	}
	if err := s.Delete([]uint64{recs[0].Seq}); err != nil {
		t.Fatal(err)
	}
	s.Close()

	s = open(t, path, Options{})
	recs, _ = s.Peek(10)
	if fmt.Sprint(payloads(recs)) != "[b c]" || s.Stats().Records != 2 {
		t.Fatalf("after reopen: %v %+v", payloads(recs), s.Stats())
	}
	st, _ := s.State()
	if string(st["m1"]) != "101" || string(st["m2"]) != "5" {
		t.Fatalf("state %v", st)
	}
	// A new record goes after the old ones even after a reopen.
	_ = s.Commit([][]byte{[]byte("d")}, nil)
	recs, _ = s.Peek(10)
	if fmt.Sprint(payloads(recs)) != "[b c d]" {
		t.Fatalf("order %v", payloads(recs))
	}
}

func TestMaxBytesDropsOldest(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "q.db"), Options{MaxBytes: 3 * (4 + 4)}) // three framed 4-byte records
	for i := range 5 {
		if err := s.Commit([][]byte{fmt.Appendf(nil, "r%03d", i)}, nil); err != nil {
			t.Fatal(err)
		}
	}
	recs, _ := s.Peek(10)
	if fmt.Sprint(payloads(recs)) != "[r002 r003 r004]" || s.Stats().Dropped != 2 || s.Stats().Bytes != 24 {
		t.Fatalf("%v %+v", payloads(recs), s.Stats())
	}
}

// Records holding several items (a poll's readings): the store counts the
// items, PeekFunc lets the reader stop at a budget, and drops count the
// items lost.
func TestItems(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.db")
	opts := Options{Items: func(data []byte) int { return int(data[0] - '0') }}
	s := open(t, path, opts)
	for _, r := range []string{"3a", "2b", "4c", "1d"} {
		if err := s.Commit([][]byte{[]byte(r)}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if st := s.Stats(); st.Records != 4 || st.Items != 10 {
		t.Fatalf("%+v", st)
	}
	// Whole records up to a budget of items, at least one.
	peek := func(max int) (got []string, seqs []uint64) {
		t.Helper()
		items := 0
		err := s.PeekFunc(func(seq uint64, data []byte) bool {
			n := opts.Items(data)
			if len(got) > 0 && items+n > max {
				return false
			}
			items += n
			got = append(got, string(data))
			seqs = append(seqs, seq)
			return true
		})
		if err != nil {
			t.Fatal(err)
		}
		return got, seqs
	}
	for max, want := range map[int]string{1: "[3a]", 5: "[3a 2b]", 8: "[3a 2b]", 9: "[3a 2b 4c]", 100: "[3a 2b 4c 1d]"} {
		if got, _ := peek(max); fmt.Sprint(got) != want {
			t.Errorf("peek(%d) = %v, want %s", max, got, want)
		}
	}
	_, seqs := peek(5)
	if err := s.Delete(seqs); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.Records != 2 || st.Items != 5 {
		t.Fatalf("after delete: %+v", st)
	}
	s.Close()
	s = open(t, path, Options{Items: opts.Items, MaxBytes: 3 * (4 + 2)})
	if st := s.Stats(); st.Records != 2 || st.Items != 5 {
		t.Fatalf("after reopen: %+v", st)
	}
	if err := s.Commit([][]byte{[]byte("2e"), []byte("1f")}, nil); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.Records != 3 || st.Items != 4 || st.Dropped != 1 || st.DroppedItems != 4 {
		t.Fatalf("after drop: %+v", st)
	}
}

// Records committed in place read back as records committed by copy.
func TestCommitFramed(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.db")
	s := open(t, path, Options{})
	room := func(p string) []byte { return append(make([]byte, FrameRoom), p...) }
	if err := s.CommitFramed([][]byte{room("a"), room("bc")}, map[string][]byte{"m": []byte("1")}); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit([][]byte{[]byte("d")}, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.CommitFramed([][]byte{[]byte("abc")}, nil); err == nil {
		t.Fatal("a record without room was committed")
	}
	s.Close()
	s = open(t, path, Options{})
	recs, err := s.Peek(10)
	if err != nil || fmt.Sprint(payloads(recs)) != "[a bc d]" || s.Stats().Corrupt != 0 || s.Stats().Bytes != 5+6+5 {
		t.Fatalf("%v %v %+v", payloads(recs), err, s.Stats())
	}
}

// A record damaged on disk is cut out and counted; its neighbours are kept.
func TestCorruptRecordIsCutAndCounted(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.db")
	s := open(t, path, Options{})
	_ = s.Commit([][]byte{[]byte("good1"), []byte("bad"), []byte("good2")}, nil)
	s.Close()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = db.Update(func(tx *bolt.Tx) error {
		v := append([]byte(nil), tx.Bucket(bucketRecords).Get(key(2))...)
		v[len(v)-1] ^= 0xFF // one flipped byte
		return tx.Bucket(bucketRecords).Put(key(2), v)
	})
	db.Close()
	s = open(t, path, Options{})
	recs, err := s.Peek(10)
	if err != nil || fmt.Sprint(payloads(recs)) != "[good1 good2]" || s.Stats().Corrupt != 1 || s.Stats().Records != 2 {
		t.Fatalf("%v %v %+v", payloads(recs), err, s.Stats())
	}
}

// A file that is not a database at all (torn, overwritten) never stops the
// agent from starting: it is set aside and a fresh store begins.
func TestUnreadableFileIsSetAside(t *testing.T) {
	for name, damage := range map[string]func(path string){
		"garbage": func(p string) { os.WriteFile(p, []byte("this is not a bbolt file at all, sorry"), 0o600) },
		"truncated": func(p string) {
			s, _ := Open(p, Options{})
			for i := range 200 {
				_ = s.Commit([][]byte{fmt.Appendf(nil, "record %d with some padding to fill pages", i)}, nil)
			}
			s.Close()
			fi, _ := os.Stat(p)
			os.Truncate(p, fi.Size()/3)
		},
		"zeroed meta": func(p string) {
			s, _ := Open(p, Options{})
			_ = s.Commit([][]byte{[]byte("x")}, nil)
			s.Close()
			f, _ := os.OpenFile(p, os.O_RDWR, 0)
			f.WriteAt(make([]byte, 8192), 0)
			f.Close()
		},
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "q.db")
			damage(path)
			s, err := Open(path, Options{})
			if err != nil {
				t.Fatalf("open: %v", err)
			}
			defer s.Close()
			if !s.Stats().Reopened {
				// bbolt may recover from some damage on its own; then the data must be readable.
				if _, err := s.Peek(1000); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.Commit([][]byte{[]byte("after")}, nil); err != nil {
				t.Fatal(err)
			}
			aside, _ := filepath.Glob(path + ".corrupt-*")
			if s.Stats().Reopened && len(aside) != 1 {
				t.Fatalf("set-aside file missing: %v", aside)
			}
		})
	}
}

func BenchmarkCommit(b *testing.B) {
	s, err := Open(filepath.Join(b.TempDir(), "q.db"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	rec := make([]byte, 200)
	batch := [][]byte{rec, rec, rec, rec, rec, rec, rec, rec, rec, rec, rec, rec}
	state := map[string][]byte{"m-101": []byte(`{"last":1234.5,"last_ts":1764000000000}`)}
	b.ReportAllocs()
	for b.Loop() {
		if err := s.Commit(batch, state); err != nil {
			b.Fatal(err)
		}
	}
}
