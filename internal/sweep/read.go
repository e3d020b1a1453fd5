package sweep

import (
	"context"
	"sync"
)

// ReadShards is how many shards a sweep reads at once: enough that an index with
// many shards, most of them empty on a quiet hour, costs a few round trips rather than
// one per shard; few enough that the store is never flooded by one invocation.
const ReadShards = 8

// A ShardReader reads one page of a shard: the items and the cursor of the next page
// ("" after the last).
type ShardReader[T any] func(ctx context.Context, shard int, cursor string) (items []T, next string, err error)

// Read reads every page of the shards, up to readers shards at a time, and hands each
// page's items to visit in the calling goroutine, one page after another, roughly in
// the order of shards (which Partition.Shards rotates). visit returns false to stop:
// Read then stops reading and returns (false, nil). A read that fails stops the sweep
// and its error is returned, wrapped by the caller; pages already read but not yet
// visited are dropped (their items stay due for the next sweep).
func Read[T any](ctx context.Context, shards []int, readers int, read ShardReader[T], visit func(shard int, items []T) bool) (complete bool, err error) {
	readers = max(1, min(readers, len(shards)))
	var wg sync.WaitGroup
	defer wg.Wait() // after cancel (deferred later, so run first) has released every reader
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	type page struct {
		shard int
		items []T
		err   error
	}
	// Each shard gets its own channel, consumed in order, so pages reach visit in the
	// order of shards; a semaphore bounds the shards being read at once.
	outs := make([]chan page, len(shards))
	for i := range outs {
		outs[i] = make(chan page, 1)
	}
	sem := make(chan struct{}, readers)
	wg.Go(func() {
		for i, shard := range shards {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				for _, out := range outs[i:] {
					close(out)
				}
				return
			}
			wg.Go(func() {
				defer func() { <-sem }()
				defer close(outs[i])
				cursor := ""
				for {
					items, next, err := read(ctx, shard, cursor)
					select {
					case outs[i] <- page{shard: shard, items: items, err: err}:
					case <-ctx.Done():
						return
					}
					if err != nil || next == "" {
						return
					}
					cursor = next
				}
			})
		}
	})
	for _, out := range outs {
		for p := range out {
			if p.err != nil {
				return false, p.err
			}
			if len(p.items) > 0 && !visit(p.shard, p.items) {
				return false, nil
			}
		}
	}
	return true, nil
}
