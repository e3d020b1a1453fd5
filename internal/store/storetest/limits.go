package storetest

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/relinkhq/relink/internal/relink"
)

// allow calls Allow and fails the test on an error.
func (e *env) allow(t *testing.T, key string, limit int, window time.Duration, now time.Time) bool {
	t.Helper()
	ok, err := e.s.Allow(e.ctx, key, limit, window, now)
	must(t, err, fmt.Sprintf("allow %q at %v", key, now))
	return ok
}

// allowN counts n events and returns how many were allowed, in order.
func (e *env) allowN(t *testing.T, key string, limit, n int, window time.Duration, now time.Time) []bool {
	t.Helper()
	var got []bool
	for range n {
		got = append(got, e.allow(t, key, limit, window, now))
	}
	return got
}

func testLimits(t *testing.T, e *env) {
	const key = "link-request#email#olivia@acme.example"
	hour := time.Hour
	start := T0 // 09:00 UTC: an hour window starts here

	// Three allowed, the fourth (and fifth) refused, anywhere in the window.
	if got := e.allowN(t, key, 3, 3, hour, start.Add(10*time.Minute)); fmt.Sprint(got) != "[true true true]" {
		t.Fatalf("first three in the window: %v", got)
	}
	if e.allow(t, key, 3, hour, start.Add(20*time.Minute)) {
		t.Fatal("fourth event in the window allowed")
	}
	if e.allow(t, key, 3, hour, start.Add(hour-time.Second)) {
		t.Fatal("event in the last second of the window allowed")
	}
	// Refused events were not counted: with one more allowed, exactly one more passes.
	if got := e.allowN(t, key, 4, 2, hour, start.Add(30*time.Minute)); fmt.Sprint(got) != "[true false]" {
		t.Fatalf("limit raised to 4 after refusals: %v (refused events must not count)", got)
	}

	// The next window starts afresh, exactly at its start.
	if got := e.allowN(t, key, 3, 4, hour, start.Add(hour)); fmt.Sprint(got) != "[true true true false]" {
		t.Fatalf("next window: %v", got)
	}

	// Keys are independent, and so are windows of different lengths under one key.
	if !e.allow(t, key+"#other", 3, hour, start.Add(10*time.Minute)) {
		t.Fatal("a different key was refused")
	}
	if !e.allow(t, "link-request#email#olivia@acme.exampl", 3, hour, start.Add(10*time.Minute)) {
		t.Fatal("a key that is a prefix of a full one was refused")
	}
	if !e.allow(t, key, 3, 2*hour, start.Add(10*time.Minute)) {
		t.Fatal("a two-hour window under the same key shares the hour window's count")
	}

	// Windows start at multiples of their length since the Unix epoch: weeks start on
	// Thursdays at 00:00 UTC (1970-01-01 was a Thursday), not on T0's Monday.
	week := 7 * 24 * time.Hour
	thursday := time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)
	if !e.allow(t, "weekly", 1, week, T0) {
		t.Fatal("first weekly event refused")
	}
	if e.allow(t, "weekly", 1, week, thursday.Add(-time.Second)) {
		t.Fatal("second event in the same epoch-aligned week allowed")
	}
	if !e.allow(t, "weekly", 1, week, thursday) {
		t.Fatal("the week starting on Thursday 00:00 UTC refused its first event")
	}
	// A day in a time zone other than UTC is still the UTC day since the epoch.
	amsterdam := time.FixedZone("CET", 3600)
	if !e.allow(t, "daily", 1, 24*time.Hour, time.Date(2026, 11, 24, 0, 30, 0, 0, amsterdam)) { // 23:30 UTC on the 23rd
		t.Fatal("first daily event refused")
	}
	if !e.allow(t, "daily", 1, 24*time.Hour, time.Date(2026, 11, 24, 1, 0, 0, 0, amsterdam)) { // 00:00 UTC on the 24th
		t.Fatal("the next UTC day refused its first event")
	}

	// Twenty callers race on a limit of five: exactly five pass.
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		allowed int
		refused int
		other   error
		release = make(chan struct{})
	)
	for range 20 {
		wg.Go(func() {
			<-release
			ok, err := e.s.Allow(e.ctx, "raced", 5, hour, start.Add(time.Minute))
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				other = err
			case ok:
				allowed++
			default:
				refused++
			}
		})
	}
	close(release)
	wg.Wait()
	if other != nil || allowed != 5 || refused != 15 {
		t.Fatalf("20 racing events on a limit of 5: %d allowed, %d refused, error %v", allowed, refused, other)
	}

	// Bad input is refused before anything is counted.
	longest := strings.Repeat("k", 300)
	if !e.allow(t, longest, 1, hour, start) {
		t.Fatal("a 300-byte key was refused")
	}
	for name, tc := range map[string]struct {
		key    string
		limit  int
		window time.Duration
	}{
		"empty key":           {"", 1, hour},
		"key over 300 bytes":  {longest + "k", 1, hour},
		"key with NUL":        {"a\x00b", 1, hour},
		"key not UTF-8":       {"a\xffb", 1, hour},
		"limit 0":             {"k", 0, hour},
		"negative limit":      {"k", -1, hour},
		"zero window":         {"k", 1, 0},
		"window under 1s":     {"k", 1, 999 * time.Millisecond},
		"negative window":     {"k", 1, -time.Hour},
		"window of part secs": {"k", 1, 1500 * time.Millisecond},
	} {
		ok, err := e.s.Allow(e.ctx, tc.key, tc.limit, tc.window, start)
		wantCode(t, err, relink.EINVALID, name)
		if ok {
			t.Fatalf("%s: allowed", name)
		}
	}
	if !e.allow(t, "k", 1, hour, start) {
		t.Fatal("refused bad input was counted against its key")
	}
}
