package sweep

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

// pagedShards is a sharded index: shard s holds s*3 items, served pageSize at a time,
// each read taking a little while so that readers overlap.
type pagedShards struct {
	pageSize          int
	inFlight, maxSeen atomic.Int32
	reads             atomic.Int32
	fail              int // shard whose first read fails (-1: none)
}

func (p *pagedShards) items(shard int) []string {
	var out []string
	for i := range shard * 3 {
		out = append(out, fmt.Sprintf("%d/%d", shard, i))
	}
	return out
}

func (p *pagedShards) read(ctx context.Context, shard int, cursor string) ([]string, string, error) {
	n := p.inFlight.Add(1)
	defer p.inFlight.Add(-1)
	for m := p.maxSeen.Load(); n > m && !p.maxSeen.CompareAndSwap(m, n); m = p.maxSeen.Load() {
	}
	p.reads.Add(1)
	select {
	case <-time.After(time.Millisecond):
	case <-ctx.Done():
		return nil, "", ctx.Err()
	}
	if shard == p.fail {
		return nil, "", errors.New("shard unavailable")
	}
	all := p.items(shard)
	from := 0
	if cursor != "" {
		from, _ = strconv.Atoi(cursor)
	}
	to := min(from+p.pageSize, len(all))
	next := ""
	if to < len(all) {
		next = strconv.Itoa(to)
	}
	return all[from:to], next, nil
}

func TestReadVisitsEveryItemOnceInShardOrder(t *testing.T) {
	for _, readers := range []int{1, 3, ReadShards, 100} {
		t.Run(fmt.Sprintf("readers=%d", readers), func(t *testing.T) {
			idx := &pagedShards{pageSize: 4, fail: -1}
			shards := Partition{Index: 1, Count: 3}.Shards(64, 5)
			var got, want []string
			for _, s := range shards {
				want = append(want, idx.items(s)...)
			}
			complete, err := Read(context.Background(), shards, readers, idx.read, func(shard int, items []string) bool {
				got = append(got, items...)
				return true
			})
			if err != nil || !complete {
				t.Fatalf("Read = %v, %v", complete, err)
			}
			if !slices.Equal(got, want) {
				t.Fatalf("visited %d items out of order or not once each:\n got %v\nwant %v", len(got), got, want)
			}
			if m := int(idx.maxSeen.Load()); m > readers {
				t.Errorf("%d shards read at once, limit %d", m, readers)
			}
			if readers >= 3 && idx.maxSeen.Load() < 2 {
				t.Errorf("shards were read one at a time with %d readers", readers)
			}
		})
	}
}

func TestReadStopsWhenVisitSaysSo(t *testing.T) {
	idx := &pagedShards{pageSize: 2, fail: -1}
	shards := Whole.Shards(64, 0)
	pages := 0
	complete, err := Read(context.Background(), shards, 4, idx.read, func(int, []string) bool {
		pages++
		return pages < 3
	})
	if err != nil || complete {
		t.Fatalf("Read = %v, %v; want stopped", complete, err)
	}
	if pages != 3 {
		t.Fatalf("visit called %d times after saying stop at 3", pages)
	}
	// Readers stop too: far fewer reads than the whole index's pages.
	if r := idx.reads.Load(); r > 20 {
		t.Errorf("%d reads after the sweep stopped", r)
	}
}

func TestReadReturnsTheFirstFailure(t *testing.T) {
	idx := &pagedShards{pageSize: 5, fail: 7}
	var visited []int
	complete, err := Read(context.Background(), Whole.Shards(16, 0), 4, idx.read, func(shard int, _ []string) bool {
		visited = append(visited, shard)
		return true
	})
	if err == nil || complete {
		t.Fatalf("Read = %v, %v; want the shard's error", complete, err)
	}
	if slices.Contains(visited, 7) || slices.ContainsFunc(visited, func(s int) bool { return s > 7 }) {
		t.Errorf("visited %v: pages past the failed shard", visited)
	}
}
