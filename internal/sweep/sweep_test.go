package sweep

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"
)

// TestPartitionsCoverEveryShardOnce: for every shard count and partition count, the
// partitions' shards are disjoint and together are all shards, whatever the rotation.
func TestPartitionsCoverEveryShardOnce(t *testing.T) {
	for _, total := range []int{1, 7, 16, 64} {
		for n := 1; n <= total; n++ {
			for _, rotate := range []int64{0, 1, 5, 123456789, -3} {
				seen := make([]int, total)
				for i := range n {
					p := Partition{Index: i, Count: n}
					if err := p.Validate(total); err != nil {
						t.Fatal(err)
					}
					for _, s := range p.Shards(total, rotate) {
						seen[s]++
					}
				}
				for s, c := range seen {
					if c != 1 {
						t.Fatalf("%d shards, %d partitions, rotate %d: shard %d swept %d times", total, n, rotate, s, c)
					}
				}
			}
		}
	}
	// The rotation moves the first shard, so a deadline does not always hit the same.
	a, b := Partition{0, 2}.Shards(16, 0), Partition{0, 2}.Shards(16, 1)
	if a[0] == b[0] || !slices.Equal(slices.Sorted(slices.Values(a)), slices.Sorted(slices.Values(b))) {
		t.Fatalf("rotation: %v vs %v", a, b)
	}
}

func TestValidate(t *testing.T) {
	for _, p := range []Partition{{0, 0}, {-1, 2}, {2, 2}, {0, 17}} {
		if p.Validate(16) == nil {
			t.Errorf("%+v accepted for 16 shards", p)
		}
	}
}

// TestPlan: the partitions needed for the last sweep's items at its pace to fit in
// half the budget, doubled after a sweep cut short, within 1 and the shard count.
func TestPlan(t *testing.T) {
	budget := 280 * time.Second
	for _, c := range []struct {
		name string
		last Load
		want int
	}{
		{"no run yet", Load{}, 1},
		{"quick", Load{Items: 1000, Took: 10 * time.Second, Complete: true, Partitions: 1}, 1},
		{"just over half the budget", Load{Items: 1000, Took: 150 * time.Second, Complete: true, Partitions: 1}, 2},
		{"partition 0 of 4 measured its quarter", Load{Items: 2500, Took: 100 * time.Second, Complete: true, Partitions: 4}, 3},
		{"cut short", Load{Items: 3000, Took: 280 * time.Second, Complete: false, Partitions: 2}, 5},
		{"cut short, slow", Load{Items: 100, Took: 280 * time.Second, Complete: false, Partitions: 1}, 3},
		{"capped at the shards", Load{Items: 100000, Took: 280 * time.Second, Complete: false, Partitions: 16}, 16},
		{"nothing due after a big sweep", Load{Items: 0, Took: time.Second, Complete: true, Partitions: 8}, 1},
	} {
		if got := Plan(c.last, budget, 16); got != c.want {
			t.Errorf("%s: %d partitions, want %d", c.name, got, c.want)
		}
	}
}

func TestDecode(t *testing.T) {
	for raw, want := range map[string]*Partition{
		`{"partition":{"index":2,"count":4}}`:             {2, 4},
		`{"version":"0","detail-type":"Scheduled Event"}`: nil,
		`"a string"`: nil,
		`[1,2]`:      nil,
		`not json`:   nil,
	} {
		got := Decode([]byte(raw)).Partition
		if (got == nil) != (want == nil) || got != nil && *got != *want {
			t.Errorf("%s: %+v, want %+v", raw, got, want)
		}
	}
}

type starts struct {
	got  []Partition
	fail int // this index fails to start
}

func (s *starts) Start(_ context.Context, p Partition) error {
	s.got = append(s.got, p)
	if p.Index == s.fail {
		return errors.New("refused")
	}
	return nil
}

// TestCoordinate: whole without a fanout, a deadline or an earlier sweep; otherwise
// partitions 1…n−1 started (a failed start reported), partition 0 returned.
func TestCoordinate(t *testing.T) {
	cut := func(context.Context) (Load, bool) {
		return Load{Items: 3000, Took: 280 * time.Second, Partitions: 2}, true
	}
	none := func(context.Context) (Load, bool) { return Load{}, false }
	noFail := func(p Partition, err error) { t.Fatalf("%v: %v", p, err) }
	dl, cancel := context.WithTimeout(context.Background(), 300*time.Second)
	defer cancel()
	if p := Coordinate(dl, nil, 16, 20*time.Second, cut, noFail); p != Whole {
		t.Fatalf("no fanout: %+v", p)
	}
	if p := Coordinate(context.Background(), &starts{}, 16, 20*time.Second, cut, noFail); p != Whole {
		t.Fatalf("no deadline: %+v", p)
	}
	if p := Coordinate(dl, &starts{}, 16, 20*time.Second, none, noFail); p != Whole {
		t.Fatalf("no earlier sweep: %+v", p)
	}
	f := &starts{fail: 2}
	var failed []Partition
	p := Coordinate(dl, f, 16, 20*time.Second, cut, func(p Partition, _ error) { failed = append(failed, p) })
	if p.Index != 0 || p.Count < 4 || len(f.got) != p.Count-1 || len(failed) != 1 || failed[0].Index != 2 {
		t.Fatalf("coordinated %+v, started %v, failed %v", p, f.got, failed)
	}
}

func TestRecorded(t *testing.T) {
	counts := map[string]int{"checked": 3}
	if got := Recorded(counts, Whole); len(got) != 1 {
		t.Fatalf("whole: %v", got)
	}
	got := Recorded(counts, Partition{Index: 0, Count: 4})
	if got[CountPartitions] != 4 || got["checked"] != 3 || len(counts) != 1 {
		t.Fatalf("partitioned: %v (counts now %v)", got, counts)
	}
}
