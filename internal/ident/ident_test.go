package ident

import (
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestULIDUniqueAndOrdered(t *testing.T) {
	now := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	g := NewULID(func() time.Time { return now })
	var mu sync.Mutex
	seen := map[string]bool{}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 1000 {
				id := g.New()
				mu.Lock()
				if seen[id] {
					t.Errorf("duplicate %s", id)
				}
				seen[id] = true
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	// IDs made in sequence sort in the order they were made, even within one millisecond.
	ids := []string{g.New(), g.New(), g.New()}
	now = now.Add(time.Millisecond)
	ids = append(ids, g.New())
	if !slices.IsSorted(ids) || len(ids[0]) != 26 || strings.ToLower(ids[0]) != ids[0] {
		t.Fatalf("ids not ordered: %v", ids)
	}
}

func TestSequence(t *testing.T) {
	s := &Sequence{Prefix: "evt-"}
	if a, b := s.New(), s.New(); a != "evt-0001" || b != "evt-0002" {
		t.Fatalf("sequence = %s, %s", a, b)
	}
}
