package faults

// Fault 1: DynamoDB throttles. The SDK's retries must absorb moderate throttling; a
// long burst must reach admins as 503 in the one error shape, with nothing
// half-written; scheduled runs under a burst must leave their work due, and the next
// run must finish it — every token spent once, every reminder sent once.

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/relinkhq/relink/internal/account"
	"github.com/relinkhq/relink/internal/checkup"
	"github.com/relinkhq/relink/internal/digest"
	"github.com/relinkhq/relink/internal/standin"
	"github.com/relinkhq/relink/internal/workspace"
)

const ws = "ws1"

// The people of the throttling tests' workspace.
var (
	pat    = person{"u-pat", "Pat", "pat@acme.example", workspace.RolePrimaryAdmin, false}
	ada    = person{"u-ada", "Ada", "ada@acme.example", workspace.RoleAdmin, true}
	olivia = person{"u-olivia", "Olivia", "olivia@acme.example", workspace.RoleOwner, false}
	omar   = person{"u-omar", "Omar", "omar@acme.example", workspace.RoleOwner, false}
)

// moderate throttles every third request that is not its operation's last attempt,
// alternating DynamoDB's two throttling answers: a third of the requests fail, some
// operations twice in a row, and the SDK's third attempt always gets through.
func moderate(r ddbRequest) fault {
	if r.Attempt >= r.Max || r.N%3 != 0 {
		return pass
	}
	if r.N%2 == 0 {
		return throttling
	}
	return throughput
}

// everything throttles every request.
func everything(r ddbRequest) fault {
	if r.N%2 == 0 {
		return throttling
	}
	return throughput
}

// TestThrottlingAbsorbedBySDKRetries: with a third of DynamoDB's answers throttled,
// every admin API call answers as it would without, the expiry check renews every due
// token (each spent once) and the reminders reach each person once: the SDK's
// retries absorb it all.
func TestThrottlingAbsorbedBySDKRetries(t *testing.T) {
	start := time.Now()
	clk := newManual()
	tb := newTable(t, clk)
	c := newChannel(t, clk)
	sesURL := standin.SESLocal(t)
	standin.SESClear(t, sesURL)
	seedWorkspace(t, tb.clean, ws, "Acme Brands", pat, ada, olivia, omar)
	const live, dead = 6, 4
	for i := range live {
		tok, g, _ := c.issue("sandbox-olivia")
		c.addAccount(tb.clean, ws, fmt.Sprintf("s%d", i), olivia.id, tok, g)
	}
	var want []string
	for i := range dead {
		if _, err := addDisconnected(tb.clean, clk, ws, fmt.Sprintf("d%d", i), omar.id); err != nil {
			t.Fatal(err)
		}
		want = append(want, fmt.Sprintf("%s d%d", omar.email, i))
	}

	apiFaults := newDDBFaults()
	apiFaults.set(moderate)
	e := newAPI(t, tb.open(apiFaults), c)
	for _, call := range []struct {
		method, path string
		body         any
	}{
		{"GET", "/v1/accounts", nil},
		{"GET", "/v1/accounts?state=disconnected", nil},
		{"GET", "/v1/accounts/s0", nil},
		{"GET", "/v1/accounts/s0/events", nil},
		{"POST", "/v1/accounts/s0/deactivate", map[string]string{"note": "Paused"}},
		{"POST", "/v1/accounts/s0/activate", map[string]string{"note": "Back"}},
		{"POST", "/v1/accounts/s1/transfer", map[string]string{"owner_id": omar.id, "note": "Omar runs it now"}},
		{"POST", "/v1/accounts/s2/failures", map[string]any{"http_status": 503, "body": map[string]string{"error": "temporarily_unavailable"}}},
		{"POST", "/v1/accounts/d0/readd", nil},
		{"POST", "/v1/users", map[string]string{"email": "nora@acme.example", "name": "Nora", "role": "owner"}},
		{"PATCH", "/v1/users/u-ada/preferences", map[string]bool{"notify_trouble": true}},
		{"POST", "/v1/users/u-olivia/connect-link", map[string]bool{"send": false}},
		{"POST", "/v1/groups", map[string]any{"name": "Video", "account_ids": []string{"s3", "s4"}, "subscribers": []string{ada.id}}},
		{"GET", "/v1/dashboard", nil},
		{"GET", "/v1/workspace", nil},
	} {
		if a := e.call(ws, pat.id, call.method, call.path, call.body); a.status >= 300 {
			t.Fatalf("%s %s under moderate throttling: %s", call.method, call.path, a)
		}
	}
	apiReqs, apiInjected := apiFaults.counts()
	if apiFaults.total() < apiReqs/4 {
		t.Fatalf("only %v of %d requests throttled", apiInjected, apiReqs)
	}
	if got := trail(t, tb.clean, ws, "s0"); !slices.Equal(actions(got)[1:], []string{"v2 deactivate", "v3 activate"}) {
		t.Fatalf("s0's trail: %v", actions(got))
	}

	// The scheduled functions under the same throttling.
	clk.Advance(59 * time.Minute)
	runFaults := newDDBFaults()
	runFaults.set(moderate)
	st := tb.open(runFaults)
	logs := &syncBuffer{}
	sum, err := c.checkupService(st, c.client(0), logs).Run(context.Background())
	if err != nil || !sum.Complete || sum.Counts[checkup.OutcomeRefreshed] != live || len(sum.Counts) != 1 {
		t.Fatalf("expiry check under moderate throttling: %+v %v\n%s", sum, err, logs)
	}
	rsum, err := digestService(c.reg, st, clk, sesSender(t, sesURL, nil, 50, nil), logs).Run(context.Background())
	if err != nil || !rsum.Complete || rsum.Counts[digest.CountEmails] != 1 || rsum.Counts[digest.CountItems] != dead ||
		rsum.Counts[digest.CountFailed] != 0 {
		t.Fatalf("reminders under moderate throttling: %+v %v\n%s", rsum, err, logs)
	}
	clk.Advance(15 * time.Minute)
	if rsum, err = digestService(c.reg, st, clk, sesSender(t, sesURL, nil, 50, nil), logs).Run(context.Background()); err != nil ||
		rsum.Counts[digest.CountEmails] != 0 {
		t.Fatalf("second reminders run: %+v %v", rsum, err)
	}
	exactlyOnce(t, tally(t, standin.SESMessages(t, sesURL, time.Time{})), want)
	if ok, refused, reused := c.renewals(); ok != live || refused != 0 || len(reused) != 0 {
		t.Fatalf("renewals: %d ok, %d refused, reused %v", ok, refused, reused)
	}
	if lines := errorLines(logs.String()); len(lines) != 0 {
		t.Fatalf("errors logged under moderate throttling:\n%s", strings.Join(lines, "\n"))
	}
	runReqs, runInjected := runFaults.counts()
	t.Logf("admin API: %d DynamoDB requests, throttled %v; runs: %d requests, throttled %v; all absorbed (%v)",
		apiReqs, apiInjected, runReqs, runInjected, time.Since(start).Round(time.Millisecond))
}

// TestThrottleBurstAdminAPI: a burst of throttling longer than the SDK's retries.
// Admins get 503 in the one error shape, saying to try again, with nothing of
// DynamoDB in it. An account change and its audit event are one transaction: a
// throttled one leaves neither, and the retry after the burst lands exactly once. A
// burst that starts just after the change committed also answers 503 — the change
// is there, once, and retrying says it is done already (409).
func TestThrottleBurstAdminAPI(t *testing.T) {
	start := time.Now()
	clk := newManual()
	tb := newTable(t, clk)
	c := newChannel(t, clk)
	seedWorkspace(t, tb.clean, ws, "Acme Brands", pat, ada, olivia)
	for i := range 2 {
		tok, g, _ := c.issue("sandbox-olivia")
		c.addAccount(tb.clean, ws, fmt.Sprintf("s%d", i), olivia.id, tok, g)
	}
	f := newDDBFaults()
	e := newAPI(t, tb.open(f), c)
	unavailable := func(a answer) {
		t.Helper()
		if a.status != http.StatusServiceUnavailable {
			t.Fatalf("want 503 during the burst: %s", a)
		}
		if code, msg := a.apiError(t); code != "unavailable" || msg != "The database is busy; try again shortly." {
			t.Fatalf("during the burst: %s", a)
		}
		noInternals(t, a)
	}
	version := func(id string) int64 {
		t.Helper()
		a, err := tb.clean.GetAccount(context.Background(), ws, id)
		if err != nil {
			t.Fatal(err)
		}
		return a.Version
	}

	// 1. Everything throttled: reads and writes answer 503; nothing is stored.
	f.set(everything)
	v0 := version("s0")
	unavailable(e.call(ws, pat.id, "GET", "/v1/accounts/s0", nil))
	unavailable(e.call(ws, pat.id, "GET", "/v1/accounts", nil))
	unavailable(e.call(ws, pat.id, "POST", "/v1/accounts/s0/deactivate", map[string]string{"note": "burst"}))
	if version("s0") != v0 {
		t.Fatal("a refused call changed the account")
	}

	// 2. Only the transaction throttled (account + audit event): neither is written.
	f.set(func(r ddbRequest) fault {
		if r.Op == "TransactWriteItems" {
			return throughput
		}
		return pass
	})
	before := trail(t, tb.clean, ws, "s0")
	unavailable(e.call(ws, pat.id, "POST", "/v1/accounts/s0/deactivate", map[string]string{"note": "burst"}))
	if a, _ := tb.clean.GetAccount(context.Background(), ws, "s0"); a.Version != v0 || a.State != account.StateActive {
		t.Fatalf("the throttled transaction changed the account: v%d %s", a.Version, a.State)
	}
	if after := trail(t, tb.clean, ws, "s0"); len(after) != len(before) {
		t.Fatalf("the throttled transaction wrote an audit event: %v", actions(after))
	}
	// The burst is over: the admin's retry lands once, with its event.
	f.set(nil)
	if a := e.call(ws, pat.id, "POST", "/v1/accounts/s0/deactivate", map[string]string{"note": "burst"}); a.status != http.StatusOK {
		t.Fatalf("the retry after the burst: %s", a)
	}
	after := trail(t, tb.clean, ws, "s0")
	if len(after) != len(before)+1 || after[len(after)-1].Action != account.ActDeactivate || after[len(after)-1].Version != v0+1 ||
		version("s0") != v0+1 {
		t.Fatalf("after the retry: v%d, trail %v", version("s0"), actions(after))
	}

	// 3. The burst starts right after the transaction committed: the answer is 503
	// (the account's details could not be read back) though the change is stored,
	// once, with its event. A retry is refused as done already, not applied twice.
	committed := false
	f.set(func(r ddbRequest) fault {
		if committed {
			return throughput
		}
		committed = r.Op == "TransactWriteItems"
		return pass
	})
	v1 := version("s1")
	unavailable(e.call(ws, pat.id, "POST", "/v1/accounts/s1/deactivate", map[string]string{"note": "late burst"}))
	f.set(nil)
	a, _ := tb.clean.GetAccount(context.Background(), ws, "s1")
	evs := trail(t, tb.clean, ws, "s1")
	if a.State != account.StateDeactivated || a.Version != v1+1 || evs[len(evs)-1].Version != v1+1 ||
		evs[len(evs)-1].Action != account.ActDeactivate {
		t.Fatalf("the change before the late burst: %s v%d, trail %v", a.State, a.Version, actions(evs))
	}
	retry := e.call(ws, pat.id, "POST", "/v1/accounts/s1/deactivate", map[string]string{"note": "late burst"})
	if code, _ := retry.apiError(t); retry.status != http.StatusConflict || code != "illegal_transition" {
		t.Fatalf("retrying a change that landed: %s", retry)
	}
	if n := len(trail(t, tb.clean, ws, "s1")); n != len(evs) {
		t.Fatalf("the retry added %d events", n-len(evs))
	}
	// The causes are in the log for operators, not in any answer.
	if !strings.Contains(e.logs.String(), "ProvisionedThroughputExceededException") {
		t.Fatalf("the 503s' cause is not logged:\n%s", e.logs)
	}
	reqs, injected := f.counts()
	t.Logf("%d DynamoDB requests, faults %v; every refused call left nothing half-written (%v)",
		reqs, injected, time.Since(start).Round(time.Millisecond))
}

// window throttles every request of a burst: it starts at the first request
// startsAt accepts and lasts n requests.
type window struct {
	mu       sync.Mutex
	startsAt func(ddbRequest) bool
	n        int
	left     int
	started  bool
}

func (w *window) rule(r ddbRequest) fault {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.started && w.startsAt(r) {
		w.started, w.left = true, w.n
	}
	if w.started && w.left > 0 {
		w.left--
		return everything(r)
	}
	return pass
}

func (w *window) begun() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.started
}

func (w *window) over() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.started && w.left == 0
}

// TestThrottleBurstScheduledRuns: a burst of throttling longer than the SDK's
// retries hits each scheduled function mid-run. The expiry check (one account at a
// time, so the burst's place is known) fails the accounts it hits before anything
// is spent: they stay due with their tokens, nobody is disconnected. The reminders
// run fails the claims it hits: those people stay due. The next runs finish it all:
// every token spent once, every reminder sent once.
func TestThrottleBurstScheduledRuns(t *testing.T) {
	start := time.Now()
	clk := newManual()
	tb := newTable(t, clk)
	c := newChannel(t, clk)
	sesURL := standin.SESLocal(t)
	standin.SESClear(t, sesURL)
	owners := []person{olivia, omar,
		{"u-owen", "Owen", "owen@acme.example", workspace.RoleOwner, false},
		{"u-oona", "Oona", "oona@acme.example", workspace.RoleOwner, false}}
	seedWorkspace(t, tb.clean, ws, "Acme Brands", append([]person{pat, ada}, owners...)...)
	const live, dead = 10, 12
	original := map[string]string{}
	for i := range live {
		tok, g, _ := c.issue("sandbox-omar")
		id := fmt.Sprintf("s%02d", i)
		c.addAccount(tb.clean, ws, id, olivia.id, tok, g)
		original[id] = tok.Refresh.Reveal()
	}
	var want []string
	for i := range dead {
		o := owners[i%len(owners)]
		id := fmt.Sprintf("d%02d", i)
		if _, err := addDisconnected(tb.clean, clk, ws, id, o.id); err != nil {
			t.Fatal(err)
		}
		want = append(want, o.email+" "+id)
	}
	clk.Advance(59 * time.Minute)
	f := newDDBFaults()
	st := tb.open(f)
	logs := &syncBuffer{}
	check := c.checkupService(st, c.client(0), logs)
	check.Workers = 1

	// The expiry check: a burst of 24 requests from the fourth token read on.
	reads := 0
	w := &window{n: 24, startsAt: func(r ddbRequest) bool {
		if r.Op == "GetItem" && strings.Contains(r.Body, `"TOKEN#`) && r.Attempt == 1 {
			reads++
		}
		return reads == 4
	}}
	f.set(w.rule)
	sum, err := check.Run(context.Background())
	first := f.total()
	f.set(nil)
	if !w.begun() || sum.Counts[checkup.OutcomeFailed] == 0 || sum.Counts[checkup.OutcomeDisconnected] != 0 {
		t.Fatalf("expiry check under the burst: %+v %v", sum, err)
	}
	t.Logf("expiry check under a burst (%d throttled answers): %v, complete %v, err %v", first, sum.Counts, sum.Complete, err)
	renewed := 0
	for id, refresh := range original {
		a, _ := tb.clean.GetAccount(context.Background(), ws, id)
		tok := c.tokensOf(tb.clean, ws, id)
		switch {
		case a.State != account.StateActive || a.TransientFailures != 0:
			t.Fatalf("%s after the burst: %s %s, %d failures", id, a.State, a.Reason, a.TransientFailures)
		case tok.Refresh.Reveal() != refresh:
			renewed++
			if !a.LastProbeAt.Equal(clk.Now()) {
				t.Fatalf("%s: renewed tokens stored but the account was not updated", id)
			}
		case a.DueAt.After(clk.Now()):
			t.Fatalf("%s was not renewed, yet is no longer due (%v)", id, a.DueAt)
		}
	}
	if renewed != sum.Counts[checkup.OutcomeRefreshed] {
		t.Fatalf("%d accounts hold new tokens, the run renewed %d", renewed, sum.Counts[checkup.OutcomeRefreshed])
	}

	// The reminders run: a burst of 9 requests from the fourth claim on, which is the
	// second person's first (each has three accounts, claimed one after the other):
	// all three of their claims fail.
	claims := 0
	w = &window{n: 9, startsAt: func(r ddbRequest) bool {
		if reminderClaim(r) && r.Attempt == 1 {
			claims++
		}
		return claims == 4
	}}
	f.set(w.rule)
	rsum, err := digestService(c.reg, st, clk, sesSender(t, sesURL, nil, 50, nil), logs).Run(context.Background())
	if err != nil || !w.over() || rsum.Counts[digest.CountFailed] != 3 || rsum.Counts[digest.CountEmails] != len(owners)-1 {
		t.Fatalf("reminders under the burst: %+v %v", rsum, err)
	}
	t.Logf("reminders under a burst (%d throttled answers): %v", f.total()-first, rsum.Counts)
	f.set(nil)

	// The next runs, five minutes (a scheduler retry) and a quarter of an hour later.
	clk.Advance(5 * time.Minute)
	sum, err = check.Run(context.Background())
	if err != nil || !sum.Complete || sum.Counts[checkup.OutcomeRefreshed] != live-renewed || len(sum.Counts) != 1 {
		t.Fatalf("the expiry check after the burst: %+v %v", sum, err)
	}
	clk.Advance(10 * time.Minute)
	rsum, err = digestService(c.reg, st, clk, sesSender(t, sesURL, nil, 50, nil), logs).Run(context.Background())
	if err != nil || !rsum.Complete || rsum.Counts[digest.CountFailed] != 0 || rsum.Counts[digest.CountUncertain] != 0 {
		t.Fatalf("reminders after the burst: %+v %v", rsum, err)
	}
	clk.Advance(15 * time.Minute)
	if rsum, err := digestService(c.reg, st, clk, sesSender(t, sesURL, nil, 50, nil), logs).Run(context.Background()); err != nil ||
		rsum.Counts[digest.CountEmails] != 0 || rsum.Counts[digest.CountAccounts] != 0 {
		t.Fatalf("a reminders run after settling: %+v %v", rsum, err)
	}
	exactlyOnce(t, tally(t, standin.SESMessages(t, sesURL, time.Time{})), want)
	// Every account was renewed once, and what is stored is live: the next renewal of
	// each works.
	if ok, refused, reused := c.renewals(); ok != live || refused != 0 || len(reused) != 0 {
		t.Fatalf("renewals: %d ok, %d refused, reused %v", ok, refused, reused)
	}
	clk.Advance(30 * time.Minute)
	if sum, err := check.Run(context.Background()); err != nil || sum.Counts[checkup.OutcomeRefreshed] != live || len(sum.Counts) != 1 {
		t.Fatalf("the renewal after: %+v %v", sum, err)
	}
	for i := range dead {
		a, _ := tb.clean.GetAccount(context.Background(), ws, fmt.Sprintf("d%02d", i))
		if !a.RemindAt.After(clk.Now()) {
			t.Fatalf("%s is still due for reminders: %v", a.ID, a.RemindAt)
		}
	}
	runs, err := tb.clean.LastRuns(context.Background())
	if err != nil || len(runs) != 2 || !runs[0].Complete || !runs[1].Complete {
		t.Fatalf("run records: %+v %v", runs, err)
	}
	reqs, injected := f.counts()
	t.Logf("%d DynamoDB requests, faults %v; repaired by the next runs (%v)", reqs, injected, time.Since(start).Round(time.Millisecond))
}

// reminderClaim reports whether r claims a (step, person) pair: a conditional PutItem
// of a send record whose key names a person (the step's own record does not).
func reminderClaim(r ddbRequest) bool {
	return r.Op == "PutItem" && strings.Contains(r.Body, `"SEND#`) && !strings.Contains(r.Body, `"SEND#renew#`) &&
		strings.Contains(r.Body, `#u-`)
}
