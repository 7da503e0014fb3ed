package central

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	influxhttp "github.com/influxdata/influxdb-client-go/v2/api/http"

	"github.com/parkcarbon/parkcarbon/internal/queue"
)

// The spool holds batches (line protocol) that InfluxDB could not take, so
// that messages can still be acknowledged to the broker once durable here.
// While it holds anything, new batches go behind them, preserving order, and
// a drainer writes them out oldest first with backoff.

// permanent reports whether InfluxDB refused a batch for what it is (a
// malformed point, a field type conflict) rather than for its own state:
// sending it again cannot succeed.
func permanent(err error) bool {
	var he *influxhttp.Error
	return errors.As(err, &he) && (he.StatusCode == http.StatusBadRequest || he.StatusCode == http.StatusUnprocessableEntity)
}

// retryAfter is the server's requested wait, if any.
func retryAfter(err error) time.Duration {
	var he *influxhttp.Error
	if errors.As(err, &he) && he.RetryAfter > 0 {
		return min(time.Duration(he.RetryAfter)*time.Second, 10*time.Minute)
	}
	return 0
}

// spoolRecord is one batch on disk: its line protocol and the rollup buckets it
// touches, recomputed once the drainer has written it.
type spoolRecord struct {
	Lines string  `json:"lines"`
	Hours []int64 `json:"hours,omitempty"`
	// Touched is how collectors before the hours field wrote them (per
	// enterprise): a spool survives an upgrade.
	Touched map[string][]int64 `json:"touched,omitempty"`
}

func encodeBatch(lines []byte, hours []int64) ([]byte, error) {
	return json.Marshal(spoolRecord{Lines: string(lines), Hours: hours})
}

// drainSpool writes spooled batches in order until the spool is empty or ctx
// is done. It is the only writer while the spool holds anything.
func (s *Service) drainSpool(ctx context.Context) {
	backoff := time.Second
	for ctx.Err() == nil {
		recs, err := s.spool.Peek(1)
		if err != nil {
			s.log.Error("read spool", "err", err)
			return
		}
		if len(recs) == 0 {
			return
		}
		var rec spoolRecord
		if err := json.Unmarshal(recs[0].Data, &rec); err != nil {
			s.log.Error("undecodable spooled batch; dropped", "err", err)
			_ = s.spool.Delete([]uint64{recs[0].Seq})
			continue
		}
		lines := rec.Lines
		start := time.Now()
		err = s.writer.WriteRecord(ctx, lines)
		s.m.writeDuration.Observe(time.Since(start).Seconds())
		if err == nil || permanent(err) {
			if err != nil {
				s.m.rejectedPoints.Add(float64(strings.Count(lines, "\n")))
				s.log.Error("influxdb refused a spooled batch; dropped", "err", err)
			} else {
				s.m.writes.Inc()
				s.writeErr.Store(nil)
				s.rollups.touch(rec.Hours...)
				for _, hs := range rec.Touched {
					s.rollups.touch(hs...)
				}
			}
			if err := s.spool.Delete([]uint64{recs[0].Seq}); err != nil {
				s.log.Error("delete from spool", "err", err)
				return
			}
			backoff = time.Second
			continue
		}
		msg := err.Error()
		s.writeErr.Store(&msg)
		s.m.writeErrors.Inc()
		wait := max(retryAfter(err), backoff)
		s.log.Warn("influxdb write from spool failed, retrying", "in", wait, "spooled", s.spool.Stats().Records, "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		backoff = min(backoff*2, time.Minute)
	}
}

func (s *Service) spoolAppend(lines []byte, touched []int64) error {
	rec, err := encodeBatch(lines, touched)
	if err != nil {
		return err
	}
	return s.spool.Commit([][]byte{rec}, nil)
}

func openSpool(dir string, maxBytes int64) (*queue.Store, error) {
	return queue.Open(dir+"/spool.db", queue.Options{MaxBytes: maxBytes})
}
