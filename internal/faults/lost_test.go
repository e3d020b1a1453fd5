package faults

// Fault 6b: a failure between the two steps of a transition. An account change and
// its audit event are one TransactWriteItems: a 500 before DynamoDB applied it
// leaves neither, and the SDK's retry lands it once; a 500 after DynamoDB applied it
// (the answer lost) makes the SDK send it again with the same ClientRequestToken,
// which DynamoDB (and the moto launcher) answers with the first answer instead of
// applying it twice.
//
// Then the same for every write of both scheduled functions: each first answer is
// lost after DynamoDB applied the write, and everything still happens exactly once.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/relinkhq/relink/internal/account"
	"github.com/relinkhq/relink/internal/checkup"
	"github.com/relinkhq/relink/internal/consent"
	"github.com/relinkhq/relink/internal/digest"
	"github.com/relinkhq/relink/internal/relink"
	"github.com/relinkhq/relink/internal/standin"
)

// tokensSeen records the ClientRequestToken of every TransactWriteItems attempt.
type tokensSeen struct {
	mu     sync.Mutex
	tokens []string
}

func (s *tokensSeen) note(r ddbRequest) {
	if r.Op != "TransactWriteItems" {
		return
	}
	var in struct{ ClientRequestToken string }
	_ = json.Unmarshal([]byte(r.Body), &in)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens = append(s.tokens, in.ClientRequestToken)
}

func (s *tokensSeen) take() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.tokens
	s.tokens = nil
	return out
}

func TestTransactionFaultsLandOnce(t *testing.T) {
	start := time.Now()
	clk := newManual()
	tb := newTable(t, clk)
	c := newChannel(t, clk)
	seedWorkspace(t, tb.clean, ws, "Acme Brands", pat, ada, olivia)
	for _, id := range []string{"a", "b", "c"} {
		tok, g, _ := c.issue("sandbox-olivia")
		c.addAccount(tb.clean, ws, id, olivia.id, tok, g)
	}
	f := newDDBFaults()
	seen := &tokensSeen{}
	f.setBefore(seen.note)
	e := newAPI(t, tb.open(f), c)
	// onTransaction injects what on the transaction's attempts (1-based), nothing else.
	onTransaction := func(what map[int]fault) {
		f.set(func(r ddbRequest) fault {
			if r.Op == "TransactWriteItems" {
				return what[r.Attempt]
			}
			return pass
		})
	}
	landedOnce := func(id string, wantVersion int64) {
		t.Helper()
		a, err := tb.clean.GetAccount(context.Background(), ws, id)
		if err != nil {
			t.Fatal(err)
		}
		evs := trail(t, tb.clean, ws, id)
		contiguous(t, evs, a)
		if a.State != account.StateDeactivated || a.Version != wantVersion || evs[len(evs)-1].Action != account.ActDeactivate ||
			evs[len(evs)-2].Action == account.ActDeactivate {
			t.Fatalf("%s: %s v%d, trail %v", id, a.State, a.Version, actions(evs))
		}
	}

	// 1. A 500 before DynamoDB applied it: retried by the SDK, landed once.
	onTransaction(map[int]fault{1: serverError})
	if a := e.call(ws, pat.id, "POST", "/v1/accounts/a/deactivate", nil); a.status != http.StatusOK {
		t.Fatalf("500 before applying, then the retry: %s", a)
	}
	landedOnce("a", 2)
	seen.take()

	// 2. Applied, answer lost: the SDK retries with the same ClientRequestToken and
	// DynamoDB answers with the first answer. One change, one event, and the admin
	// is told it worked.
	onTransaction(map[int]fault{1: lostAnswer})
	if a := e.call(ws, pat.id, "POST", "/v1/accounts/b/deactivate", nil); a.status != http.StatusOK {
		t.Fatalf("applied, answer lost, then the retry: %s", a)
	}
	landedOnce("b", 2)
	if toks := seen.take(); len(toks) != 2 || toks[0] == "" || toks[0] != toks[1] {
		t.Fatalf("the retry's ClientRequestToken: %q", toks)
	}

	// 3. Applied, and every answer lost (three attempts, one token): the admin gets an
	// error that says to try again, with nothing of DynamoDB in it; the change is
	// stored once; retrying is refused as done already.
	onTransaction(map[int]fault{1: lostAnswer, 2: lostAnswer, 3: lostAnswer})
	a := e.call(ws, pat.id, "POST", "/v1/accounts/c/deactivate", nil)
	f.set(nil)
	code, msg := a.apiError(t)
	if a.status != http.StatusServiceUnavailable || code != "unavailable" {
		t.Fatalf("every answer lost: %s (want 503 unavailable: DynamoDB's 500s are an outage, not a bug of ours)", a)
	}
	noInternals(t, a)
	if toks := seen.take(); len(toks) != 3 || toks[0] != toks[1] || toks[1] != toks[2] {
		t.Fatalf("the retries' ClientRequestTokens: %q", toks)
	}
	landedOnce("c", 2)
	retry := e.call(ws, pat.id, "POST", "/v1/accounts/c/deactivate", nil)
	if code, _ := retry.apiError(t); retry.status != http.StatusConflict || code != "illegal_transition" {
		t.Fatalf("retrying a change that landed: %s", retry)
	}
	landedOnce("c", 2)
	reqs, injected := f.counts()
	t.Logf("%d requests, faults %v; each change landed once (%q on 503) (%v)", reqs, injected, msg, time.Since(start).Round(time.Millisecond))
}

// writes are the DynamoDB operations that change something.
func write(r ddbRequest) bool {
	switch r.Op {
	case "PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem":
		return true
	}
	return false
}

// TestLostAnswersOnEveryWrite: both scheduled functions run while DynamoDB applies
// every write but the first answer to each is lost (a reset connection, a 500), so
// the SDK sends each write a second time. Single-item conditional writes have no
// request token: the retry finds its own first attempt already applied. Every due
// token is still renewed exactly once, and every reminder sent exactly once — none
// skipped because a claim looked taken by someone else.
func TestLostAnswersOnEveryWrite(t *testing.T) {
	start := time.Now()
	clk := newManual()
	tb := newTable(t, clk)
	c := newChannel(t, clk)
	sesURL := standin.SESLocal(t)
	standin.SESClear(t, sesURL)
	people := owners(3)
	seedWorkspace(t, tb.clean, ws, "Acme Brands", append([]person{pat}, people...)...)
	const live = 6
	original := map[string]string{}
	for i := range live {
		tok, g, _ := c.issue("sandbox-omar")
		id := fmt.Sprintf("s%d", i)
		c.addAccount(tb.clean, ws, id, people[0].id, tok, g)
		original[id] = tok.Refresh.Reveal()
	}
	var want []string
	for i := range 6 {
		o := people[i%len(people)]
		id := fmt.Sprintf("d%d", i)
		if _, err := addDisconnected(tb.clean, clk, ws, id, o.id); err != nil {
			t.Fatal(err)
		}
		want = append(want, o.email+" "+id)
	}
	f := newDDBFaults()
	f.set(func(r ddbRequest) fault {
		if write(r) && r.Attempt == 1 {
			return lostAnswer
		}
		return pass
	})
	st := tb.open(f)
	logs := &syncBuffer{}
	clk.Advance(59 * time.Minute)
	sum, err := c.checkupService(st, c.client(0), logs).Run(context.Background())
	if err != nil || !sum.Complete || sum.Counts[checkup.OutcomeFailed]+sum.Counts[checkup.OutcomeTransient]+
		sum.Counts[checkup.OutcomeDisconnected] != 0 {
		t.Fatalf("expiry check: %+v %v", sum, err)
	}
	for id, refresh := range original {
		a, _ := tb.clean.GetAccount(context.Background(), ws, id)
		if tok := c.tokensOf(tb.clean, ws, id); tok.Refresh.Reveal() == refresh || a.State != account.StateActive ||
			!a.LastProbeAt.Equal(clk.Now()) {
			t.Fatalf("%s was not renewed in the run: %s, probed %v (run: %v)\n%s", id, a.State, a.LastProbeAt, sum.Counts, logs)
		}
	}
	if ok, refused, reused := c.renewals(); ok != live || refused != 0 || len(reused) != 0 {
		t.Fatalf("renewals: %d ok, %d refused, reused %v", ok, refused, reused)
	}
	rsum, err := digestService(c.reg, st, clk, sesSender(t, sesURL, nil, 50, nil), logs).Run(context.Background())
	if err != nil || !rsum.Complete || rsum.Counts[digest.CountEmails] != len(people) || rsum.Counts[digest.CountItems] != len(want) {
		t.Fatalf("reminders: %+v %v\n%s", rsum, err, logs)
	}
	f.set(nil)
	for range 2 {
		clk.Advance(digest.StaleClaim)
		if rsum, err := digestService(c.reg, st, clk, sesSender(t, sesURL, nil, 50, nil), logs).Run(context.Background()); err != nil ||
			rsum.Counts[digest.CountEmails] != 0 || rsum.Counts[digest.CountUncertain] != 0 {
			t.Fatalf("a later reminders run: %+v %v", rsum, err)
		}
	}
	exactlyOnce(t, tally(t, standin.SESMessages(t, sesURL, time.Time{})), want)
	reqs, injected := f.counts()
	t.Logf("expiry check %v, reminders %v; %d requests, %v (%v)", sum.Counts, rsum.Counts, reqs, injected,
		time.Since(start).Round(time.Millisecond))
}

// TestLostAnswerOnConsentTake: the answer to the consent take (the OAuth callback's
// single-use state) is lost after DynamoDB applied it; the SDK's retry must still
// hand the consent to this callback, not turn the person away as "already used",
// and a second callback with the same state must still be refused.
func TestLostAnswerOnConsentTake(t *testing.T) {
	clk := newManual()
	tb := newTable(t, clk)
	ctx := context.Background()
	want := consent.State{Hash: strings.Repeat("ab", 32), WorkspaceID: ws, UserID: "u-olivia", Channel: "sandbox",
		Verifier: "verifier", CreatedAt: clk.Now(), ExpiresAt: clk.Now().Add(10 * time.Minute)}
	if err := tb.clean.PutConsent(ctx, want); err != nil {
		t.Fatal(err)
	}
	f := newDDBFaults()
	f.set(func(r ddbRequest) fault {
		if write(r) && r.Attempt == 1 {
			return lostAnswer
		}
		return pass
	})
	st := tb.open(f)
	got, err := st.TakeConsent(ctx, want.Hash, clk.Now())
	if err != nil {
		t.Fatalf("take after a lost answer: %v", err)
	}
	if got.UserID != want.UserID || got.Verifier != want.Verifier || got.Channel != want.Channel {
		t.Fatalf("took %+v, want %+v", got, want)
	}
	if _, injected := f.counts(); injected[lostAnswer] == 0 {
		t.Fatal("no answer was lost: the test tested nothing")
	}
	if _, err := st.TakeConsent(ctx, want.Hash, clk.Now()); relink.ErrorCode(err) != relink.ENOTFOUND {
		t.Fatalf("second take: %v, want not found", err)
	}
}
