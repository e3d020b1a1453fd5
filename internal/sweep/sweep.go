// Package sweep splits a scheduled sweep of the sharded due and remind indexes across
// concurrent invocations once one invocation can no longer finish it in time.
//
// A sweep is started by the schedule (EventBridge's scheduled event). That invocation
// is the coordinator: from the last sweep's pace it works out how many partitions the
// sweep needs (Plan), starts the others asynchronously (a Fanout), and sweeps
// partition 0 itself. Partition i of n owns the shards s with s mod n = i, so
// partitions are disjoint and together cover every shard: each due item is swept by
// exactly one invocation. Whatever one does not reach stays due for the next sweep.
package sweep

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"time"
)

// Partition is one invocation's share of a sweep.
type Partition struct {
	Index int `json:"index"`
	Count int `json:"count"`
}

// Whole is the sweep in one invocation.
var Whole = Partition{Index: 0, Count: 1}

// Validate checks p against the index's shard count: at least one partition, at most
// one per shard.
func (p Partition) Validate(shards int) error {
	if p.Count < 1 || p.Count > shards || p.Index < 0 || p.Index >= p.Count {
		return fmt.Errorf("partition %d of %d is not one of 1–%d partitions", p.Index, p.Count, shards)
	}
	return nil
}

// Shards lists p's shards out of total, starting from a position that moves with
// rotate (say, the hour), so a sweep cut short by its deadline does not always leave
// the same shards for last.
func (p Partition) Shards(total int, rotate int64) []int {
	var own []int
	for s := p.Index; s < total; s += p.Count {
		own = append(own, s)
	}
	if len(own) == 0 {
		return nil
	}
	first := int(rotate % int64(len(own)))
	if first < 0 {
		first += len(own)
	}
	return append(own[first:], own[:first]...)
}

// Load is what the last sweep's coordinator measured over its own partition.
type Load struct {
	Items      int           // items it swept
	Took       time.Duration // how long it took
	Complete   bool          // false: it stopped at its deadline
	Partitions int           // how many partitions that sweep had
}

// Plan returns how many partitions the next sweep needs: the last sweep's items, at
// its measured pace, must fit into half the budget of each invocation (the other half
// is headroom for growth and slow channels); a sweep cut short doubles. Never fewer
// than one or more than most (the shard count).
func Plan(last Load, budget time.Duration, most int) int {
	parts := max(last.Partitions, 1)
	n := 1
	if last.Items > 0 && last.Took > 0 && budget > 0 {
		total := float64(last.Items * parts) // partitions are alike: shards hash evenly
		perItem := float64(last.Took) / float64(last.Items)
		n = int(total*perItem/(float64(budget)/2)) + 1
	}
	if !last.Complete && last.Items > 0 {
		n = max(n, 2*parts)
	}
	return min(max(n, 1), most)
}

// Request is what a scheduled function is invoked with: a partition a coordinator
// handed out, or anything else — the schedule's own event — which means "coordinate".
type Request struct {
	Partition *Partition `json:"partition,omitempty"`
}

// Decode reads an invocation's payload. It never fails: a payload that is not a
// partition request starts a coordinated sweep, as the schedule's event does.
func Decode(raw []byte) Request {
	var r Request
	if json.Unmarshal(raw, &r) != nil {
		return Request{}
	}
	return r
}

// Fanout starts the other partitions of a sweep, asynchronously.
type Fanout interface {
	Start(ctx context.Context, p Partition) error
}

// CountPartitions, in a coordinator's run record, is how many partitions its sweep had
// (present when more than one).
const CountPartitions = "partitions"

// Requested reads an invocation's payload: the partition a coordinator handed out
// (ok), or none, which means coordinate. A partition that does not fit the index's
// shard count is an error.
func Requested(payload []byte, shards int) (p Partition, ok bool, err error) {
	req := Decode(payload)
	if req.Partition == nil {
		return Partition{}, false, nil
	}
	if err := req.Partition.Validate(shards); err != nil {
		return Partition{}, false, err
	}
	return *req.Partition, true, nil
}

// Coordinate sizes a sweep and starts all but its first partition. With no Fanout,
// no deadline on ctx or no earlier sweep (last reports ok false), the sweep is whole.
// Otherwise Plan sizes it from the last sweep and the time left before ctx's deadline
// less margin, partitions 1…n−1 are started through f — one that fails to start is
// reported to failed, and its items stay due for the next sweep — and partition 0 is
// returned for the caller to sweep.
func Coordinate(ctx context.Context, f Fanout, shards int, margin time.Duration,
	last func(context.Context) (Load, bool), failed func(p Partition, err error)) Partition {
	dl, hasDeadline := ctx.Deadline()
	if f == nil || !hasDeadline {
		return Whole
	}
	l, ok := last(ctx)
	if !ok {
		return Whole
	}
	n := Plan(l, time.Until(dl)-margin, shards)
	for i := 1; i < n; i++ {
		p := Partition{Index: i, Count: n}
		if err := f.Start(ctx, p); err != nil {
			failed(p, err)
		}
	}
	return Partition{Index: 0, Count: n}
}

// Recorded is the counts a coordinator records for its sweep: counts, plus the
// partition count when the sweep had more than one (counts itself is left alone).
func Recorded(counts map[string]int, p Partition) map[string]int {
	if p.Count <= 1 {
		return counts
	}
	out := maps.Clone(counts)
	out[CountPartitions] = p.Count
	return out
}
