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
	// Items counts what a record holds (readings, say, when a record is a
	// batch of them), for Stats.Items and Stats.DroppedItems. nil: one item
	// per record.
	Items func(data []byte) int
}

// Record is one queued payload and its position.
type Record struct {
	Seq  uint64
	Data []byte
}

// Stats are counters a Store keeps since it was opened.
type Stats struct {
	Records      int
	Items        int // what the records hold, as counted by Options.Items
	Bytes        int64
	Dropped      uint64 // records dropped because MaxBytes was exceeded
	DroppedItems uint64 // the items they held
	Corrupt      uint64 // records whose checksum failed, cut out when read
	Reopened     bool   // the file could not be opened and was set aside
}

// Store is a durable FIFO plus state, safe for concurrent use.
type Store struct {
	db   *bolt.DB
	opts Options

	mu           sync.Mutex
	records      int
	items        int
	bytes        int64
	dropped      uint64
	droppedItems uint64
	corrupt      uint64
	reset        bool
	notify       chan struct{}
}

// Open opens or creates the store at path. A file that cannot be opened
// (torn, corrupted) is renamed aside with a .corrupt suffix and a fresh one is
// started: the agent must come up and keep measuring, whatever the disk did.
func Open(path string, opts Options) (*Store, error) {
	if opts.Items == nil {
		opts.Items = func([]byte) int { return 1 }
	}
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
			s.items += s.itemsOf(v)
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
	return Stats{Records: s.records, Items: s.items, Bytes: s.bytes, Dropped: s.dropped, DroppedItems: s.droppedItems,
		Corrupt: s.corrupt, Reopened: s.reset}
}

// itemsOf counts the items of a stored (framed) value; a damaged one holds
// none that can be read.
func (s *Store) itemsOf(v []byte) int {
	if data, ok := unframe(v); ok {
		return s.opts.Items(data)
	}
	return 0
}

// appendFrame appends data prefixed with its CRC-32C.
func appendFrame(b, data []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, crc32.Checksum(data, castagnoli))
	return append(b, data...)
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
	return s.commit(records, false, state)
}

// FrameRoom is the room CommitFramed needs before each record.
const FrameRoom = 4

// CommitFramed is Commit for records that each begin with FrameRoom bytes of
// room, which it fills with the checksum of the rest: the records are
// stored without being copied (the caller keeps them unchanged until it
// returns).
func (s *Store) CommitFramed(records [][]byte, state map[string][]byte) error {
	for _, r := range records {
		if len(r) < FrameRoom {
			return fmt.Errorf("commit: a record of %d bytes has no room for its frame", len(r))
		}
	}
	return s.commit(records, true, state)
}

func (s *Store) commit(records [][]byte, framed bool, state map[string][]byte) error {
	// One buffer holds every key, and every framed record unless the caller
	// left room: bbolt keeps references to them until the transaction ends,
	// and Batch may run fn twice.
	size := 8 * len(records)
	if !framed {
		for _, r := range records {
			size += 4 + len(r)
		}
	}
	buf := make([]byte, 0, size)
	var added, dropped, addedItems, droppedItems int
	var addedBytes, droppedBytes int64
	err := s.db.Batch(func(tx *bolt.Tx) error {
		added, dropped, addedItems, droppedItems, addedBytes, droppedBytes = 0, 0, 0, 0, 0, 0
		buf := buf[:0]
		b := tx.Bucket(bucketRecords)
		for _, r := range records {
			seq, err := b.NextSequence()
			if err != nil {
				return err
			}
			start := len(buf)
			buf = binary.BigEndian.AppendUint64(buf, seq)
			k, v, data := buf[start:start+8], r, r
			if framed {
				data = r[FrameRoom:]
				binary.BigEndian.PutUint32(r, crc32.Checksum(data, castagnoli))
			} else {
				buf = appendFrame(buf, r)
				v = buf[start+8:]
			}
			if err := b.Put(k, v); err != nil {
				return err
			}
			added++
			addedItems += s.opts.Items(data)
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
				droppedItems += s.itemsOf(v)
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
	s.items += addedItems - droppedItems
	s.bytes += addedBytes - droppedBytes
	s.dropped += uint64(dropped)
	s.droppedItems += uint64(droppedItems)
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
	err := s.scan(func(seq uint64, data []byte) bool {
		if len(out) == n {
			return false
		}
		out = append(out, Record{Seq: seq, Data: append([]byte(nil), data...)})
		return true
	})
	return out, err
}

// PeekFunc calls take with the oldest records in order until it returns
// false (that record is not taken) or none are left. data is the store's own
// memory, valid only during the call: reading records without copying them
// is what it is for. Records whose checksum fails are removed and counted,
// never passed.
func (s *Store) PeekFunc(take func(seq uint64, data []byte) bool) error {
	return s.scan(take)
}

// scan calls next with the oldest records in order until it returns false,
// inside one read transaction, then cuts out the damaged ones it met.
func (s *Store) scan(next func(seq uint64, data []byte) bool) error {
	var bad [][]byte
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketRecords).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			data, ok := unframe(v)
			if !ok {
				bad = append(bad, append([]byte(nil), k...))
				continue
			}
			if !next(binary.BigEndian.Uint64(k), data) {
				break
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("read queue: %w", err)
	}
	if len(bad) > 0 {
		if err := s.remove(bad, true); err != nil {
			return err
		}
	}
	return nil
}

// Delete removes acknowledged records.
func (s *Store) Delete(seqs []uint64) error {
	buf := make([]byte, 8*len(seqs))
	keys := make([][]byte, len(seqs))
	for i, q := range seqs {
		keys[i] = buf[8*i : 8*i+8]
		binary.BigEndian.PutUint64(keys[i], q)
	}
	return s.remove(keys, false)
}

func (s *Store) remove(keys [][]byte, corrupt bool) error {
	var n, items int
	var bytes int64
	err := s.db.Batch(func(tx *bolt.Tx) error {
		n, items, bytes = 0, 0, 0
		b := tx.Bucket(bucketRecords)
		for _, k := range keys {
			v := b.Get(k)
			if v == nil {
				continue
			}
			n++
			if corrupt {
				items += s.itemsOf(v) // none, unless it reads now
			} else if len(v) >= FrameRoom {
				// Acknowledged records were checked when they were read:
				// not summed again.
				items += s.opts.Items(v[FrameRoom:])
			}
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
	s.items -= items
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
