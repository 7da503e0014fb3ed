// Package queue is the durable store of an edge agent: a FIFO of records and
// a small key/value state (each meter's last total), both in one bbolt file,
// so that a reading, its interval and the meter's new baseline are committed
// in one transaction: a crash can neither lose nor double an interval.
package queue

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"os"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

var (
	bucketRecords = []byte("records")
	bucketState   = []byte("state")
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Options tune a Store.
type Options struct {
	// MaxBytes bounds the records' payload; when it is exceeded the oldest
	// records are dropped (and counted). 0: unbounded.
	MaxBytes int64
	// NoSync skips the fsync of each commit: faster, but a power cut may lose
	// the last commits. Off by default.
	NoSync bool
}

// Record is one queued payload and its position.
type Record struct {
	Seq  uint64
	Data []byte
}

// Stats are counters a Store keeps since it was opened.
type Stats struct {
	Records  int
	Bytes    int64
	Dropped  uint64 // dropped because MaxBytes was exceeded
	Corrupt  uint64 // records whose checksum failed, cut out when read
	Reopened bool   // the file could not be opened and was set aside
}

// Store is a durable FIFO plus state, safe for concurrent use.
type Store struct {
	db   *bolt.DB
	opts Options

	mu      sync.Mutex
	records int
	bytes   int64
	dropped uint64
	corrupt uint64
	reset   bool
	notify  chan struct{}
}

// Open opens or creates the store at path. A file that cannot be opened
// (torn, corrupted) is renamed aside with a .corrupt suffix and a fresh one is
// started: the agent must come up and keep measuring, whatever the disk did.
func Open(path string, opts Options) (*Store, error) {
	s := &Store{opts: opts, notify: make(chan struct{}, 1)}
	db, err := openBolt(path, opts)
	if err != nil {
		aside := fmt.Sprintf("%s.corrupt-%d", path, time.Now().Unix())
		if rerr := os.Rename(path, aside); rerr != nil {
			return nil, fmt.Errorf("open queue %s: %w (and cannot set it aside: %v)", path, err, rerr)
		}
		s.reset = true
		if db, err = openBolt(path, opts); err != nil {
			return nil, fmt.Errorf("open fresh queue %s: %w", path, err)
		}
	}
	// Batch waits this long for other committers to join a transaction. A
	// bus commits one poll at a time, so bbolt's 10 ms default would put 10 ms
	// on every poll of a sequential caller.
	db.MaxBatchDelay = time.Millisecond
	s.db = db
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketRecords, bucketState} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return tx.Bucket(bucketRecords).ForEach(func(_, v []byte) error {
			s.records++
			s.bytes += int64(len(v))
			return nil
		})
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open queue %s: %w", path, err)
	}
	return s, nil
}

// openBolt opens the file, turning a panic of bbolt on a damaged file into an
// error.
func openBolt(path string, opts Options) (db *bolt.DB, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("bbolt panicked opening %s: %v", path, r)
		}
	}()
	db, err = bolt.Open(path, 0o600, &bolt.Options{Timeout: 5 * time.Second, NoSync: opts.NoSync, FreelistType: bolt.FreelistMapType})
	if err != nil {
		return nil, err
	}
	// A read of every page catches damage now rather than mid-run.
	if cerr := db.View(func(tx *bolt.Tx) error {
		for e := range tx.Check() {
			return e
		}
		return nil
	}); cerr != nil {
		db.Close()
		return nil, fmt.Errorf("check %s: %w", path, cerr)
	}
	return db, nil
}

// Close closes the file.
func (s *Store) Close() error { return s.db.Close() }

// Notify is signalled (without blocking) after each commit that added records.
func (s *Store) Notify() <-chan struct{} { return s.notify }

// Stats returns the counters.
func (s *Store) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Stats{Records: s.records, Bytes: s.bytes, Dropped: s.dropped, Corrupt: s.corrupt, Reopened: s.reset}
}

func key(seq uint64) []byte {
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], seq)
	return k[:]
}

// frame prefixes data with its CRC-32C.
func frame(data []byte) []byte {
	v := make([]byte, 4+len(data))
	binary.BigEndian.PutUint32(v, crc32.Checksum(data, castagnoli))
	copy(v[4:], data)
	return v
}

func unframe(v []byte) ([]byte, bool) {
	if len(v) < 4 || binary.BigEndian.Uint32(v) != crc32.Checksum(v[4:], castagnoli) {
		return nil, false
	}
	return v[4:], true
}

// Commit appends records and sets state entries (nil value deletes) in one
// durable transaction. When the store is over MaxBytes afterwards, the
// oldest records are dropped in the same transaction.
func (s *Store) Commit(records [][]byte, state map[string][]byte) error {
	var added, dropped int
	var addedBytes, droppedBytes int64
	err := s.db.Batch(func(tx *bolt.Tx) error {
		added, dropped, addedBytes, droppedBytes = 0, 0, 0, 0
		b := tx.Bucket(bucketRecords)
		for _, r := range records {
			seq, err := b.NextSequence()
			if err != nil {
				return err
			}
			v := frame(r)
			if err := b.Put(key(seq), v); err != nil {
				return err
			}
			added++
			addedBytes += int64(len(v))
		}
		st := tx.Bucket(bucketState)
		for k, v := range state {
			var err error
			if v == nil {
				err = st.Delete([]byte(k))
			} else {
				err = st.Put([]byte(k), v)
			}
			if err != nil {
				return err
			}
		}
		if s.opts.MaxBytes > 0 {
			s.mu.Lock()
			over := s.bytes + addedBytes - s.opts.MaxBytes
			s.mu.Unlock()
			c := b.Cursor()
			for k, v := c.First(); k != nil && over > 0; k, v = c.Next() {
				over -= int64(len(v))
				dropped++
				droppedBytes += int64(len(v))
				if err := c.Delete(); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("commit %d records: %w", len(records), err)
	}
	s.mu.Lock()
	s.records += added - dropped
	s.bytes += addedBytes - droppedBytes
	s.dropped += uint64(dropped)
	s.mu.Unlock()
	if added > 0 {
		select {
		case s.notify <- struct{}{}:
		default:
		}
	}
	return nil
}

// Peek returns up to n of the oldest records. Records whose checksum fails
// are removed and counted, never returned.
func (s *Store) Peek(n int) ([]Record, error) {
	var out []Record
	var bad [][]byte
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketRecords).Cursor()
		for k, v := c.First(); k != nil && len(out) < n; k, v = c.Next() {
			data, ok := unframe(v)
			if !ok {
				bad = append(bad, append([]byte(nil), k...))
				continue
			}
			out = append(out, Record{Seq: binary.BigEndian.Uint64(k), Data: append([]byte(nil), data...)})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read queue: %w", err)
	}
	if len(bad) > 0 {
		if err := s.remove(bad, true); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Delete removes acknowledged records.
func (s *Store) Delete(seqs []uint64) error {
	keys := make([][]byte, len(seqs))
	for i, q := range seqs {
		keys[i] = key(q)
	}
	return s.remove(keys, false)
}

func (s *Store) remove(keys [][]byte, corrupt bool) error {
	var n int
	var bytes int64
	err := s.db.Batch(func(tx *bolt.Tx) error {
		n, bytes = 0, 0
		b := tx.Bucket(bucketRecords)
		for _, k := range keys {
			v := b.Get(k)
			if v == nil {
				continue
			}
			n++
			bytes += int64(len(v))
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("delete %d records: %w", len(keys), err)
	}
	s.mu.Lock()
	s.records -= n
	s.bytes -= bytes
	if corrupt {
		s.corrupt += uint64(n)
	}
	s.mu.Unlock()
	return nil
}

// Oldest returns the oldest record, if any.
func (s *Store) Oldest() (Record, bool, error) {
	recs, err := s.Peek(1)
	if err != nil || len(recs) == 0 {
		return Record{}, false, err
	}
	return recs[0], true, nil
}

// State returns every state entry.
func (s *Store) State() (map[string][]byte, error) {
	out := map[string][]byte{}
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketState).ForEach(func(k, v []byte) error {
			out[string(k)] = append([]byte(nil), v...)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("read state: %w", err)
	}
	return out, nil
}
