package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/relinkhq/relink/internal/store"
)

const (
	// limitRetention keeps a counter this long past the end of its window before it
	// is pruned, so that a caller whose now lags the store's clock a little still
	// finds the count of its window (the DynamoDB store keeps its counters as long).
	limitRetention = time.Hour
	// maxPrune bounds the ended counters one Allow deletes. Each call adds at most one
	// counter and removes up to this many ended ones, so ended counters cannot pile up,
	// and no call pays for a long idle period all at once.
	maxPrune = 16
)

// limitKey orders counters by the end of their window, so that the ended ones are a
// prefix of the bucket: window end (epoch seconds, sign bit flipped so that byte order
// is numeric order) | window length (seconds) | the caller's key.
func limitKey(w store.Window, key string) []byte {
	k := make([]byte, 16, 16+len(key))
	binary.BigEndian.PutUint64(k[0:8], orderable(w.End))
	binary.BigEndian.PutUint64(k[8:16], uint64(w.Length))
	return append(k, key...)
}

func orderable(sec int64) uint64 { return uint64(sec) ^ 1<<63 }

// Allow reads and raises the counter of (key, window) in one write transaction, which
// bbolt serializes, so racing callers never count past the limit.
func (s *Store) Allow(ctx context.Context, key string, limit int, window time.Duration, now time.Time) (bool, error) {
	w, err := store.LimitWindow(key, limit, window, now)
	if err != nil {
		return false, err
	}
	clockNow := s.clock.Now() // pruning follows the store's clock, as retention does elsewhere
	allowed := false
	err = s.update(ctx, func(tx *bbolt.Tx) error {
		allowed = false
		b := tx.Bucket([]byte(bLimits))
		if err := pruneLimits(b, clockNow); err != nil {
			return err
		}
		k := limitKey(w, key)
		var n uint64
		if raw := b.Get(k); len(raw) == 8 {
			n = binary.BigEndian.Uint64(raw)
		}
		if n >= uint64(limit) {
			return nil // refused, not counted (the pruning still commits)
		}
		if err := b.Put(k, binary.BigEndian.AppendUint64(nil, n+1)); err != nil {
			return fmt.Errorf("count rate: %w", err)
		}
		allowed = true
		return nil
	})
	if err != nil {
		return false, err
	}
	return allowed, nil
}

// pruneLimits deletes up to maxPrune counters whose window ended more than
// limitRetention before now.
func pruneLimits(b *bbolt.Bucket, now time.Time) error {
	// Counters of windows ending at or before this second are past retention.
	bound := make([]byte, 8)
	binary.BigEndian.PutUint64(bound, orderable(now.Add(-limitRetention).Unix()))
	var ended [][]byte
	c := b.Cursor()
	for k, _ := c.First(); k != nil && len(ended) < maxPrune && len(k) >= 8 && bytes.Compare(k[:8], bound) <= 0; k, _ = c.Next() {
		ended = append(ended, bytes.Clone(k))
	}
	// Delete after the scan: a bbolt cursor is not stable across writes.
	for _, k := range ended {
		if err := del(b, k); err != nil {
			return err
		}
	}
	return nil
}
