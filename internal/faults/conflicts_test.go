package faults

// Fault 2: conditional-check failures. Two writers race on one account — an admin
// through the API and the expiry check — and every write is conditional on the
// version read: one wins, the other reads again and decides again (or, after three
// tries, answers 409). The audit trail holds every change that answered success,
// with contiguous versions, and no token is lost in the race.

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/relinkhq/relink/internal/account"
	"github.com/relinkhq/relink/internal/checkup"
	"github.com/relinkhq/relink/internal/sandbox"
)

// contiguous checks that an audit trail's versions are 1, 2, … n and that the account
// is at version n (every change was audited).
func contiguous(t *testing.T, evs []account.Event, a account.Account) {
	t.Helper()
	for i, e := range evs {
		if e.Version != int64(i+1) {
			t.Fatalf("%s: audit versions not contiguous: %v", a.ID, actions(evs))
		}
	}
	if a.Version != int64(len(evs)) {
		t.Fatalf("%s at v%d, its trail ends at v%d: %v", a.ID, a.Version, len(evs), actions(evs))
	}
}

func TestConcurrentWritersOnOneAccount(t *testing.T) {
	start := time.Now()
	clk := newManual()
	tb := newTable(t, clk)
	c := newChannel(t, clk)
	seedWorkspace(t, tb.clean, ws, "Acme Brands", pat, ada, olivia)
	grants := map[string]string{}
	for _, id := range []string{"a", "b", "c"} {
		tok, g, grant := c.issue("sandbox-olivia")
		c.addAccount(tb.clean, ws, id, olivia.id, tok, g)
		grants[id] = grant
	}
	apiFaults := newDDBFaults()
	e := newAPI(t, tb.open(apiFaults), c)
	logs := &syncBuffer{}
	check := c.checkupService(tb.open(newDDBFaults()), c.client(0), logs)
	ctx := context.Background()
	get := func(id string) account.Account {
		t.Helper()
		a, err := tb.clean.GetAccount(ctx, ws, id)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}

	// A. The admin wins. The expiry check renews "a" (the only account due: b and c
	// are deactivated first) and is held at the channel with the new tokens; meanwhile
	// an admin deactivates "a". The check's write then fails its condition: it reads
	// again, finds the account switched off (no longer due) and leaves it. The renewed
	// tokens were stored before that write, so the admin can switch it back on: the
	// channel accepts the token.
	for _, id := range []string{"b", "c"} {
		if a := e.call(ws, pat.id, "POST", "/v1/accounts/"+id+"/deactivate", nil); a.status != http.StatusOK {
			t.Fatalf("deactivate %s: %s", id, a)
		}
	}
	clk.Advance(59 * time.Minute)
	held, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	c.setHook(func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path == "/sandbox/oauth/token" {
			once.Do(func() { close(held) })
			<-release
		}
		return false // then the sandbox answers
	})
	var sum checkup.Summary
	var runErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		sum, runErr = check.Run(ctx)
	}()
	<-held
	if a := e.call(ws, pat.id, "POST", "/v1/accounts/a/deactivate", map[string]string{"note": "Paused"}); a.status != http.StatusOK {
		t.Fatalf("deactivate during the renewal: %s", a)
	}
	close(release)
	<-done
	c.setHook(nil)
	if runErr != nil || sum.Counts[checkup.OutcomeSkipped] != 1 || len(sum.Counts) != 1 {
		t.Fatalf("the expiry check that lost the race: %+v %v\n%s", sum, runErr, logs)
	}
	if got := get("a"); got.State != account.StateDeactivated {
		t.Fatalf("the admin's change was overwritten: %s", got.State)
	}
	if a := e.call(ws, pat.id, "POST", "/v1/accounts/a/activate", nil); a.status != http.StatusOK {
		t.Fatalf("activate with the tokens renewed during the race: %s", a)
	}
	evs := trail(t, tb.clean, ws, "a")
	contiguous(t, evs, get("a"))
	if !slices.Equal(actions(evs), []string{"v1 create", "v2 deactivate", "v3 activate"}) {
		t.Fatalf("a's trail: %v", actions(evs))
	}

	// B. The expiry check wins. The admin's change is read, decided and about to be
	// written when the check (another process) changes the account first: the
	// channel dropped a scope, so the account needs action. The admin's write fails
	// its condition; the service reads again, decides again and lands it: one answer,
	// 200, and both changes in the trail.
	if a := e.call(ws, pat.id, "POST", "/v1/accounts/b/activate", nil); a.status != http.StatusOK {
		t.Fatalf("activate b: %s", a)
	}
	if err := c.sandbox.Act(grants["b"], sandbox.ActDropScope, "ads"); err != nil {
		t.Fatal(err)
	}
	if a := e.call(ws, pat.id, "POST", "/v1/accounts/a/deactivate", nil); a.status != http.StatusOK {
		t.Fatalf("deactivate a: %s", a)
	}
	clk.Advance(59 * time.Minute) // b is due
	var hookSum checkup.Summary
	var hookErr error
	first := true
	apiFaults.setBefore(func(r ddbRequest) {
		if r.Op == "TransactWriteItems" && first {
			first = false
			hookSum, hookErr = check.Run(ctx)
		}
	})
	ans := e.call(ws, pat.id, "POST", "/v1/accounts/b/deactivate", map[string]string{"note": "Paused"})
	apiFaults.setBefore(nil)
	if ans.status != http.StatusOK {
		t.Fatalf("the admin whose first write lost the race: %s", ans)
	}
	if first || hookErr != nil || hookSum.Counts[checkup.OutcomeRefreshed] != 1 {
		t.Fatalf("the expiry check in between: %+v %v", hookSum, hookErr)
	}
	got := get("b")
	evs = trail(t, tb.clean, ws, "b")
	contiguous(t, evs, got)
	if want := []string{"v1 create", "v2 deactivate", "v3 activate", "v4 probe", "v5 deactivate"}; !slices.Equal(actions(evs), want) ||
		evs[3].To != account.StateActionRequired || got.State != account.StateDeactivated {
		t.Fatalf("b: %s, trail %v (want %v, the probe to action_required)", got.State, actions(evs), want)
	}

	// C. Many writers at once over HTTP: a publisher reports failures twelve times
	// at once while an admin transfers the account. Each answer is 200 or, after the
	// service's three tries, 409 conflict; every 200 is in the trail exactly once.
	if a := e.call(ws, pat.id, "POST", "/v1/accounts/c/activate", nil); a.status != http.StatusOK {
		t.Fatalf("activate c: %s", a)
	}
	before := len(trail(t, tb.clean, ws, "c"))
	const writers = 12
	answers := make([]answer, writers+1)
	var wg sync.WaitGroup
	for i := range writers {
		wg.Go(func() {
			answers[i] = e.call(ws, pat.id, "POST", "/v1/accounts/c/failures", map[string]any{
				"http_status": 503, "body": map[string]string{"error": "temporarily_unavailable"}, "note": fmt.Sprintf("report %d", i)})
		})
	}
	wg.Go(func() {
		answers[writers] = e.call(ws, pat.id, "POST", "/v1/accounts/c/transfer", map[string]string{"owner_id": ada.id, "note": "Ada now"})
	})
	wg.Wait()
	ok, conflicts := map[string]bool{}, 0
	for i, a := range answers {
		switch a.status {
		case http.StatusOK:
			ok[fmt.Sprint(i)] = true
		case http.StatusConflict:
			if code, _ := a.apiError(t); code != "conflict" {
				t.Fatalf("a racing writer: %s", a)
			}
			conflicts++
		default:
			t.Fatalf("a racing writer: %s", a)
		}
	}
	got = get("c")
	evs = trail(t, tb.clean, ws, "c")
	contiguous(t, evs, got)
	if len(evs) != before+len(ok) {
		t.Fatalf("%d writers answered 200, the trail grew by %d", len(ok), len(evs)-before)
	}
	for _, ev := range evs[before:] {
		i := fmt.Sprint(writers)
		if ev.Action == account.ActReport {
			_, _ = fmt.Sscanf(ev.Note, "report %s", &i)
		}
		if !ok[i] {
			t.Fatalf("the trail holds a change whose caller was not told it succeeded: %+v", ev)
		}
		delete(ok, i)
	}
	if (got.OwnerID == ada.id) != (answers[writers].status == http.StatusOK) {
		t.Fatalf("transfer answered %d, owner is %s", answers[writers].status, got.OwnerID)
	}
	requests, _ := apiFaults.counts()
	t.Logf("A: the check lost and left it; B: the admin lost once and retried; C: %d writers, %d landed, %d told 409 "+
		"(%d API DynamoDB requests, %v)", writers+1, writers+1-conflicts, conflicts, requests, time.Since(start).Round(time.Millisecond))
}
