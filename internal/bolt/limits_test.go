package bolt

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/relinkhq/relink/internal/clock"
	"github.com/relinkhq/relink/internal/store"
	"github.com/relinkhq/relink/internal/store/storetest"
)

// counters returns how many rate counters the file holds.
func counters(t *testing.T, s *Store) int {
	t.Helper()
	n := 0
	err := s.db.View(func(tx *bbolt.Tx) error {
		n = tx.Bucket([]byte(bLimits)).Stats().KeyN
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestLimitsPruneEndedWindows: counters of ended windows are deleted a bounded number
// per call, live ones never, so the file does not grow with every window.
func TestLimitsPruneEndedWindows(t *testing.T) {
	ctx := context.Background()
	c := clock.NewManual(storetest.T0)
	s := openTemp(t, filepath.Join(t.TempDir(), "relink.db"), store.Config{Clock: c, CursorKey: storetest.CursorKey})
	allow := func(key string, window time.Duration) bool {
		t.Helper()
		ok, err := s.Allow(ctx, key, 2, window, c.Now())
		if err != nil {
			t.Fatalf("allow %s: %v", key, err)
		}
		return ok
	}

	const old = 50
	for i := range old {
		allow(fmt.Sprintf("minute-%02d", i), time.Minute) // ends at T0+1m
	}
	allow("day", 24*time.Hour) // ends at midnight, 15 hours after T0
	allow("day", 24*time.Hour)
	if n := counters(t, s); n != old+1 {
		t.Fatalf("%d counters, want %d", n, old+1)
	}

	// Within retention after their window, nothing is pruned.
	c.Set(storetest.T0.Add(time.Minute + limitRetention - time.Second))
	allow("fresh", time.Minute)
	if n := counters(t, s); n != old+2 {
		t.Fatalf("pruned within retention: %d counters, want %d", n, old+2)
	}

	// Past retention, each call removes at most maxPrune ended counters (and this one
	// adds "fresh" in its next minute).
	c.Set(storetest.T0.Add(time.Minute + limitRetention))
	before := counters(t, s)
	allow("fresh", time.Minute)
	if n := counters(t, s); n != before-maxPrune+1 {
		t.Fatalf("one call went from %d to %d counters, want %d pruned and 1 added", before, n, maxPrune)
	}
	for range old {
		allow("fresh", time.Minute)
	}
	// Left: the day counter (its window is live) and "fresh" in its last minute, still
	// within retention, and in its current one.
	if n := counters(t, s); n != 3 {
		t.Fatalf("%d counters after pruning, want 3", n)
	}
	if allow("day", 24*time.Hour) {
		t.Fatal("the live day counter was pruned: a third event passed a limit of 2")
	}
}
