package faults

// Fault 5: the Lambda deadline comes mid-run. Each scheduled function stops starting
// work Margin before its context's deadline (20 s in AWS; a second or two here), lets what
// is in flight finish, and says complete:false. Nothing is left half-done, and the
// next run finishes the rest without doing anything twice.

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/relinkhq/relink/internal/account"
	"github.com/relinkhq/relink/internal/checkup"
	"github.com/relinkhq/relink/internal/digest"
	"github.com/relinkhq/relink/internal/relink"
	"github.com/relinkhq/relink/internal/standin"
	"github.com/relinkhq/relink/internal/store"
)

// TestDeadlineMidExpiryCheck: 24 due accounts, four checked at a time, each renewal
// held 1.2 s at the channel; the run may start work for a second. It renews some and
// stops: every account is either renewed completely (new tokens stored, account
// updated, claim settled) or untouched (its old tokens, unspent and unclaimed, and
// still due). The next run renews exactly the others.
func TestDeadlineMidExpiryCheck(t *testing.T) {
	start := time.Now()
	clk := newManual()
	tb := newTable(t, clk)
	c := newChannel(t, clk)
	seedWorkspace(t, tb.clean, ws, "Acme Brands", pat, olivia)
	const n = 24
	before := map[string]account.Account{}
	refresh := map[string]string{}
	for i := range n {
		tok, g, _ := c.issue("sandbox-omar")
		id := fmt.Sprintf("s%02d", i)
		before[id] = c.addAccount(tb.clean, ws, id, olivia.id, tok, g)
		refresh[id] = tok.Refresh.Reveal()
	}
	c.setHook(func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path == "/sandbox/oauth/token" {
			time.Sleep(1200 * time.Millisecond)
		}
		return false
	})
	logs := &syncBuffer{}
	check := c.checkupService(tb.open(nil), c.client(10*time.Second), logs)
	check.Workers, check.PerChannel, check.Margin = 4, 4, 1500*time.Millisecond
	clk.Advance(59 * time.Minute)
	ctx, cancel := context.WithTimeout(context.Background(), 2500*time.Millisecond)
	defer cancel()
	sum, err := check.Run(ctx)
	elapsed := time.Since(start)
	if err != nil || sum.Complete || sum.Counts[checkup.OutcomeRefreshed] == 0 || sum.Counts[checkup.OutcomeRefreshed] >= n ||
		len(sum.Counts) != 1 {
		t.Fatalf("the run at its deadline: %+v %v", sum, err)
	}
	renewed := 0
	for id, b := range before {
		a, _ := tb.clean.GetAccount(context.Background(), ws, id)
		tok := c.tokensOf(tb.clean, ws, id)
		claim, cerr := tb.clean.GetSend(context.Background(), renewKey(refresh[id]))
		switch {
		case tok.Refresh.Reveal() != refresh[id]:
			renewed++
			if a.Version != b.Version+1 || !a.LastProbeAt.Equal(clk.Now()) || !a.DueAt.After(clk.Now()) || cerr != nil ||
				claim.State != store.SendSent {
				t.Fatalf("%s renewed only in part: v%d, probed %v, due %v, claim %+v %v", id, a.Version, a.LastProbeAt, a.DueAt, claim, cerr)
			}
		case a.Version != b.Version || a.DueAt.After(clk.Now()) || relink.ErrorCode(cerr) != relink.ENOTFOUND:
			t.Fatalf("%s not renewed, yet touched: v%d (was %d), due %v, claim %+v %v", id, a.Version, b.Version, a.DueAt, claim, cerr)
		}
	}
	if renewed != sum.Counts[checkup.OutcomeRefreshed] {
		t.Fatalf("%d accounts hold new tokens, the run counted %d", renewed, sum.Counts[checkup.OutcomeRefreshed])
	}
	if runs, _ := tb.clean.LastRuns(context.Background()); len(runs) != 1 || runs[0].Complete {
		t.Fatalf("run record: %+v", runs)
	}
	c.setHook(nil)
	clk.Advance(5 * time.Minute)
	sum2, err := check.Run(context.Background())
	if err != nil || !sum2.Complete || sum2.Counts[checkup.OutcomeRefreshed] != n-renewed || len(sum2.Counts) != 1 {
		t.Fatalf("the next run: %+v %v", sum2, err)
	}
	if ok, refused, reused := c.renewals(); ok != n || refused != 0 || len(reused) != 0 {
		t.Fatalf("renewals: %d ok, %d refused, reused %v", ok, refused, reused)
	}
	if lines := errorLines(logs.String()); len(lines) != 0 {
		t.Fatalf("errors logged:\n%s", strings.Join(lines, "\n"))
	}
	t.Logf("first run (deadline 2.5 s, margin 1.5 s) renewed %d of %d in %v and said complete:false; the next renewed %d",
		renewed, n, elapsed.Round(time.Millisecond), sum2.Counts[checkup.OutcomeRefreshed])
}

// TestDeadlineMidReminders: twelve people to email through SES at four a second; the
// run may start sends for two and a half seconds (less what reading the due accounts
// took), time for ten at most. It sends some and stops: each person is
// either sent (claim settled with SES's message ID) or untouched (no claim). The next
// run sends the others, and each person has exactly one email.
func TestDeadlineMidReminders(t *testing.T) {
	start := time.Now()
	clk := newManual()
	tb := newTable(t, clk)
	c := newChannel(t, clk)
	sesURL := standin.SESLocal(t)
	standin.SESClear(t, sesURL)
	people := owners(12)
	seedWorkspace(t, tb.clean, ws, "Acme Brands", append([]person{pat}, people...)...)
	var want []string
	for i, o := range people {
		id := fmt.Sprintf("d%02d", i)
		if _, err := addDisconnected(tb.clean, clk, ws, id, o.id); err != nil {
			t.Fatal(err)
		}
		want = append(want, o.email+" "+id)
	}
	logs := &syncBuffer{}
	sender := sesSender(t, sesURL, nil, 4, nil)
	svc := digestService(c.reg, tb.open(nil), clk, sender, logs)
	svc.Margin = 2500 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	sum, err := svc.Run(ctx)
	sent := sum.Counts[digest.CountEmails]
	if err != nil || sum.Complete || sent == 0 || sent >= len(people) || sum.Counts[digest.CountFailed] != 0 {
		t.Fatalf("the run at its deadline: %+v %v\n%s", sum, err, logs)
	}
	ids := map[string]bool{}
	for _, m := range standin.SESMessages(t, sesURL, time.Time{}) {
		ids[m.MessageID] = true
	}
	if len(ids) != sent {
		t.Fatalf("SES holds %d messages, the run counted %d", len(ids), sent)
	}
	for i, o := range people {
		rec, err := tb.clean.GetSend(context.Background(), stepKey(t, tb.clean, fmt.Sprintf("d%02d", i), t0)+"#"+o.id)
		switch {
		case err == nil && (rec.State != store.SendSent || !ids[rec.MessageID]):
			t.Fatalf("%s: left half-done: %+v", o.id, rec)
		case err != nil && relink.ErrorCode(err) != relink.ENOTFOUND:
			t.Fatal(err)
		}
	}
	clk.Advance(15 * time.Minute)
	sum2, err := digestService(c.reg, tb.open(nil), clk, sender, logs).Run(context.Background())
	if err != nil || !sum2.Complete || sum2.Counts[digest.CountEmails] != len(people)-sent || sum2.Counts[digest.CountTaken] != sent {
		t.Fatalf("the next run: %+v %v", sum2, err)
	}
	exactlyOnce(t, tally(t, standin.SESMessages(t, sesURL, time.Time{})), want)
	clk.Advance(15 * time.Minute)
	if sum3, err := digestService(c.reg, tb.open(nil), clk, sender, logs).Run(context.Background()); err != nil ||
		sum3.Counts[digest.CountAccounts] != 0 {
		t.Fatalf("a run after: %+v %v", sum3, err)
	}
	t.Logf("first run (deadline 5 s, margin 2.5 s) sent %d of %d and said complete:false; the next sent %d (%v)",
		sent, len(people), sum2.Counts[digest.CountEmails], time.Since(start).Round(time.Millisecond))
}
