package storetest

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/relinkhq/relink/internal/relink"
	"github.com/relinkhq/relink/internal/store"
)

func (e *env) claim(t *testing.T, key, owner string) bool {
	t.Helper()
	ok, err := e.s.ClaimSend(e.ctx, key, owner, e.clock.Now())
	must(t, err, fmt.Sprintf("claim %q by %s", key, owner))
	return ok
}

func (e *env) send(t *testing.T, key string) store.Send {
	t.Helper()
	r, err := e.s.GetSend(e.ctx, key)
	must(t, err, fmt.Sprintf("get send %q", key))
	return r
}

func testSends(t *testing.T, e *env) {
	ctx := e.ctx
	const key = "reminder#ws1#a1#2026-11-23#series-2"
	_, err := e.s.GetSend(ctx, key)
	wantCode(t, err, relink.ENOTFOUND, "send never claimed")

	claimedAt := e.clock.Now()
	if !e.claim(t, key, "run-1") {
		t.Fatal("first claim refused")
	}
	if e.claim(t, key, "run-1") {
		t.Fatal("the owner claimed the same key twice")
	}
	if e.claim(t, key, "run-2") {
		t.Fatal("a second run claimed a claimed key")
	}
	same(t, e.send(t, key), store.Send{Key: key, Owner: "run-1", State: store.SendSending, ClaimedAt: claimedAt}, "claimed send")

	// Only the owner settles its claim, and only while it is sending.
	wantCode(t, e.s.MarkSent(ctx, key, "run-2", "m-2", e.clock.Now()), relink.ECONFLICT, "mark sent by another run")
	wantCode(t, e.s.ReleaseSend(ctx, key, "run-2"), relink.ECONFLICT, "release by another run")
	wantCode(t, e.s.MarkSent(ctx, "never-claimed", "run-1", "m", e.clock.Now()), relink.ECONFLICT, "mark sent, never claimed")
	wantCode(t, e.s.ReleaseSend(ctx, "never-claimed", "run-1"), relink.ECONFLICT, "release, never claimed")
	_, err = e.s.GetSend(ctx, "never-claimed")
	wantCode(t, err, relink.ENOTFOUND, "refused settles of an unclaimed key leave no record")
	same(t, e.send(t, key), store.Send{Key: key, Owner: "run-1", State: store.SendSending, ClaimedAt: claimedAt}, "send after refused settles")

	e.clock.Advance(90 * time.Second)
	sentAt := e.clock.Now()
	must(t, e.s.MarkSent(ctx, key, "run-1", "0100018f3c5e-abc-000000", sentAt), "mark sent")
	sent := store.Send{Key: key, Owner: "run-1", MessageID: "0100018f3c5e-abc-000000", State: store.SendSent,
		ClaimedAt: claimedAt, SentAt: sentAt}
	same(t, e.send(t, key), sent, "sent record (every field)")
	wantCode(t, e.s.MarkSent(ctx, key, "run-1", "again", e.clock.Now()), relink.ECONFLICT, "mark sent twice")
	wantCode(t, e.s.ReleaseSend(ctx, key, "run-1"), relink.ECONFLICT, "release after sent")
	if e.claim(t, key, "run-3") {
		t.Fatal("a sent reminder was claimed again")
	}
	same(t, e.send(t, key), sent, "sent record after refused writes")

	// A release frees the key for the next run, and only for it.
	const retry = "reminder#ws1#a2#2026-11-23#series-2"
	if !e.claim(t, retry, "run-1") {
		t.Fatal("claim before release refused")
	}
	must(t, e.s.ReleaseSend(ctx, retry, "run-1"), "release")
	_, err = e.s.GetSend(ctx, retry)
	wantCode(t, err, relink.ENOTFOUND, "released send")
	wantCode(t, e.s.ReleaseSend(ctx, retry, "run-1"), relink.ECONFLICT, "release twice")
	e.clock.Advance(time.Hour)
	if !e.claim(t, retry, "run-2") {
		t.Fatal("claim after release refused")
	}
	same(t, e.send(t, retry), store.Send{Key: retry, Owner: "run-2", State: store.SendSending, ClaimedAt: e.clock.Now()}, "send claimed again")
	wantCode(t, e.s.MarkSent(ctx, retry, "run-1", "m", e.clock.Now()), relink.ECONFLICT, "mark sent by the run that released")
	must(t, e.s.MarkSent(ctx, retry, "run-2", "", e.clock.Now()), "mark sent without a message ID")
	if r := e.send(t, retry); r.State != store.SendSent || r.MessageID != "" || !r.SentAt.Equal(e.clock.Now()) {
		t.Fatalf("sent without a message ID = %+v", r)
	}

	// Keys are free text; keys that share a prefix are apart.
	longest := strings.Repeat("k", store.MaxSendKey-len("ключ ")) + "ключ "
	for _, k := range []string{"k", "k#1", "k#10", "with spaces / and ?&=%", longest, "ключ"} {
		if !e.claim(t, k, "run-4") {
			t.Fatalf("claim of fresh key %q refused", k)
		}
		if got := e.send(t, k); got.Key != k || got.Owner != "run-4" {
			t.Fatalf("send of %q = %+v", k, got)
		}
	}

	// Bad keys, owners and message IDs are refused and record nothing.
	for name, bad := range map[string]string{
		"empty":           "",
		"over 500 bytes":  longest + "k",
		"NUL":             "a\x00b",
		"not UTF-8":       "a\xffb",
		"NUL at the end":  "k\x00",
		"only a NUL byte": "\x00",
	} {
		ok, err := e.s.ClaimSend(ctx, bad, "run-5", e.clock.Now())
		wantCode(t, err, relink.EINVALID, "claim key "+name)
		if ok {
			t.Fatalf("claim key %s: claimed", name)
		}
		wantCode(t, e.s.MarkSent(ctx, bad, "run-5", "m", e.clock.Now()), relink.EINVALID, "mark sent key "+name)
		wantCode(t, e.s.ReleaseSend(ctx, bad, "run-5"), relink.EINVALID, "release key "+name)
		_, err = e.s.GetSend(ctx, bad)
		wantCode(t, err, relink.EINVALID, "get key "+name)
		if bad != "" { // an owner that is bad in the same way
			_, err = e.s.ClaimSend(ctx, "fresh-key", bad, e.clock.Now())
			wantCode(t, err, relink.EINVALID, "claim by owner "+name)
		}
	}
	_, err = e.s.ClaimSend(ctx, "fresh-key", "", e.clock.Now())
	wantCode(t, err, relink.EINVALID, "claim without an owner")
	if !e.claim(t, "fresh-key", "run-5") {
		t.Fatal("refused claims took the key")
	}
	wantCode(t, e.s.MarkSent(ctx, "fresh-key", "run-5", "m\x00", e.clock.Now()), relink.EINVALID, "message ID with NUL")
	wantCode(t, e.s.MarkSent(ctx, "fresh-key", "run-5", strings.Repeat("m", store.MaxSendKey+1), e.clock.Now()),
		relink.EINVALID, "message ID over 500 bytes")
	if r := e.send(t, "fresh-key"); r.State != store.SendSending {
		t.Fatalf("a refused mark sent changed the record: %+v", r)
	}

	// Records last SendRetention after their claim, then are as if never made, even
	// where a TTL sweep has not removed them yet.
	e.clock.Set(claimedAt.Add(store.SendRetention - time.Minute))
	same(t, e.send(t, key), sent, "sent record just before the end of retention")
	if e.claim(t, key, "run-6") {
		t.Fatal("claimed within retention")
	}
	e.clock.Set(claimedAt.Add(store.SendRetention))
	_, err = e.s.GetSend(ctx, key)
	wantCode(t, err, relink.ENOTFOUND, "send past retention")
	if !e.claim(t, key, "run-6") {
		t.Fatal("a key past retention could not be claimed again")
	}
	same(t, e.send(t, key), store.Send{Key: key, Owner: "run-6", State: store.SendSending, ClaimedAt: e.clock.Now()}, "claim after retention")

	// A renewal claim is kept only RenewalRetention: hourly renewals must not pile up.
	renewal := store.RenewalKeyPrefix + "0f1e2d"
	renewedAt := e.clock.Now()
	if !e.claim(t, renewal, "renewer-1") {
		t.Fatal("renewal claim refused")
	}
	if err := e.s.MarkSent(ctx, renewal, "renewer-1", "", renewedAt); err != nil {
		t.Fatal(err)
	}
	e.clock.Set(renewedAt.Add(store.RenewalRetention - time.Minute))
	if e.claim(t, renewal, "renewer-2") {
		t.Fatal("renewal claimed again within its retention")
	}
	e.clock.Set(renewedAt.Add(store.RenewalRetention))
	_, err = e.s.GetSend(ctx, renewal)
	wantCode(t, err, relink.ENOTFOUND, "renewal claim past its retention")
	if !e.claim(t, renewal, "renewer-2") {
		t.Fatal("a renewal claim past its retention could not be claimed again")
	}
}

// testSendClaimRace: racing runs claim one reminder; exactly one may send it.
func testSendClaimRace(t *testing.T, e *env) {
	const racers = 30
	const key = "reminder#ws1#hot#2026-11-23#first"
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		winners []string
		losers  int
		errs    []error
		start   = make(chan struct{})
	)
	for i := range racers {
		wg.Go(func() {
			owner := fmt.Sprintf("run-%02d", i)
			<-start
			ok, err := e.s.ClaimSend(e.ctx, key, owner, e.clock.Now())
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				errs = append(errs, err)
			case ok:
				winners = append(winners, owner)
			default:
				losers++
			}
		})
	}
	close(start)
	wg.Wait()
	if len(errs) > 0 || len(winners) != 1 || losers != racers-1 {
		t.Fatalf("%d racing claims: winners %v, %d refused, errors %v", racers, winners, losers, errs)
	}
	if r := e.send(t, key); r.Owner != winners[0] || r.State != store.SendSending {
		t.Fatalf("record after the race = %+v, want claimed by %s", r, winners[0])
	}
}

func testRuns(t *testing.T, e *env) {
	ctx := e.ctx
	runs, err := e.s.LastRuns(ctx)
	must(t, err, "last runs of an empty store")
	if len(runs) != 0 {
		t.Fatalf("empty store has runs: %+v", runs)
	}

	check := store.Run{Function: "expiry-check", ID: "01JDRUN0001", StartedAt: T0, FinishedAt: T0.Add(2*time.Minute + 3456*time.Millisecond),
		Counts: map[string]int{"checked": 120, "refreshed": 3, "failed": 0}, Complete: true}
	reminders := store.Run{Function: "reminders", ID: "01JDRUN0002", StartedAt: T0.Add(time.Minute), FinishedAt: T0.Add(15 * time.Minute),
		Counts: map[string]int{"sent": 7}, Complete: false}
	expiry := store.Run{Function: "expiry", ID: "01JDRUN0003", StartedAt: T0, FinishedAt: T0.Add(time.Second)} // a prefix of another name; no counts
	digest := store.Run{Function: "digest", ID: "01JDRUN0004", StartedAt: T0, FinishedAt: T0.Add(time.Second),
		Counts: map[string]int{}, Complete: true} // an empty map comes back nil
	for _, r := range []store.Run{reminders, check, expiry, digest} {
		must(t, e.s.PutRun(ctx, r), "put run "+r.Function)
	}
	digest.Counts = nil
	lastRuns := func(want ...store.Run) {
		t.Helper()
		got, err := e.s.LastRuns(ctx)
		must(t, err, "last runs")
		if len(got) != len(want) {
			t.Fatalf("last runs = %d runs, want %d", len(got), len(want))
		}
		for i := range want {
			same(t, got[i], want[i], fmt.Sprintf("run %d (ordered by function name)", i))
			if len(want[i].Counts) == 0 && got[i].Counts != nil {
				t.Fatalf("run %s: empty counts come back as %v, want nil", got[i].Function, got[i].Counts)
			}
		}
	}
	lastRuns(digest, expiry, check, reminders)

	// A new run replaces the last one whole: counts it did not make are gone.
	next := store.Run{Function: "expiry-check", ID: "01JDRUN0005", StartedAt: T0.Add(time.Hour), FinishedAt: T0.Add(time.Hour + time.Minute),
		Counts: map[string]int{"checked": 5}, Complete: false}
	must(t, e.s.PutRun(ctx, next), "replace run")
	lastRuns(digest, expiry, next, reminders)

	for name, bad := range map[string]store.Run{
		"no function":      {ID: "x", StartedAt: T0},
		"NUL in function":  {Function: "expiry\x00check"},
		"empty count name": {Function: "reminders", Counts: map[string]int{"": 1}},
	} {
		wantCode(t, e.s.PutRun(ctx, bad), relink.EINVALID, "put run with "+name)
	}
	lastRuns(digest, expiry, next, reminders)
}
