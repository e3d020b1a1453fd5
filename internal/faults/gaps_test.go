package faults

// Known gaps: faults these tests found that Relink does not survive yet, and whose
// fix is a design decision for the packages concerned rather than a one-line repair.
// Each test pins what happens today, so the gap stays visible and reproducible; when
// a fix changes the outcome, the test fails and says so — then make it assert the
// repair instead.

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/relinkhq/relink/internal/account"
	"github.com/relinkhq/relink/internal/checkup"
	"github.com/relinkhq/relink/internal/digest"
	"github.com/relinkhq/relink/internal/relink"
	"github.com/relinkhq/relink/internal/standin"
)

// TestRenewedTokensLostToThrottledWrite: the channel renews a token (rotating the
// refresh token) and the expiry check's write of the new tokens is throttled past the
// SDK's retries. The new tokens existed only in memory; the store still holds the
// spent refresh token, whose claim says it was spent. The next run sees the claim
// settled long ago and the spent token still held: the account is disconnected
// (invalid_token, saying the renewed token was lost) and reminders start, instead of
// showing active with a token that no longer works.
func TestRenewedTokensLostToThrottledWrite(t *testing.T) {
	clk := newManual()
	tb := newTable(t, clk)
	c := newChannel(t, clk)
	seedWorkspace(t, tb.clean, ws, "Acme Brands", pat, olivia)
	tok, g, _ := c.issue("sandbox-omar")
	c.addAccount(tb.clean, ws, "s0", olivia.id, tok, g)
	f := newDDBFaults()
	f.set(func(r ddbRequest) fault {
		if r.Op == "PutItem" && strings.Contains(r.Body, `"TOKEN#s0"`) {
			return throughput
		}
		return pass
	})
	logs := &syncBuffer{}
	check := c.checkupService(tb.open(f), c.client(0), logs)
	clk.Advance(59 * time.Minute)
	if sum, err := check.Run(context.Background()); err != nil || sum.Counts[checkup.OutcomeFailed] != 1 {
		t.Fatalf("the run whose token write was throttled: %+v %v", sum, err)
	}
	f.set(nil)
	clk.Advance(time.Hour)
	if sum, err := check.Run(context.Background()); err != nil || sum.Counts[checkup.OutcomeDisconnected] != 1 {
		t.Fatalf("the next run: %+v %v", sum, err)
	}
	a, _ := tb.clean.GetAccount(context.Background(), ws, "s0")
	if a.State != account.StateDisconnected || a.Reason != account.ReasonInvalidToken || a.ChannelError == nil ||
		!strings.Contains(a.ChannelError.Message, "lost") || a.RemindAt.IsZero() {
		t.Fatalf("after the lost renewal: %s %s %+v remind %v", a.State, a.Reason, a.ChannelError, a.RemindAt)
	}
}

// TestReminderClaimsAndABurst: a reminders run reads and writes what the email needs
// (owners' names, the magic link) before it claims anything, so between a claim and
// the provider call nothing can fail but the call. A DynamoDB burst that starts right
// after the claims cannot strand a known-unsent claim: the email goes out, its
// "sent" marks fail, and the next run counts the claims uncertain and sends nothing
// again — correctly, since it went out. A burst that hits the link write fails the
// person before anything is claimed, and the next run sends it.
func TestReminderClaimsAndABurst(t *testing.T) {
	clk := newManual()
	tb := newTable(t, clk)
	c := newChannel(t, clk)
	sesURL := standin.SESLocal(t)
	standin.SESClear(t, sesURL)
	seedWorkspace(t, tb.clean, ws, "Acme Brands", pat, olivia)
	for _, id := range []string{"d1", "d2"} {
		if _, err := addDisconnected(tb.clean, clk, ws, id, olivia.id); err != nil {
			t.Fatal(err)
		}
	}
	f := newDDBFaults()
	claims := 0
	f.set(func(r ddbRequest) fault {
		if claims == 2 {
			return throughput // the burst: from just after the second claim on
		}
		if reminderClaim(r) {
			claims++
		}
		return pass
	})
	logs := &syncBuffer{}
	sender := sesSender(t, sesURL, nil, 50, nil)
	sum, err := digestService(c.reg, tb.open(f), clk, sender, logs).Run(context.Background())
	f.set(nil)
	if err != nil || sum.Counts[digest.CountEmails] != 1 || len(standin.SESMessages(t, sesURL, time.Time{})) != 1 {
		t.Fatalf("the run hit by the burst after its claims: %+v %v", sum, err)
	}
	clk.Advance(digest.StaleClaim)
	sum, err = digestService(c.reg, tb.open(nil), clk, sender, logs).Run(context.Background())
	if err != nil || sum.Counts[digest.CountUncertain] != 2 || sum.Counts[digest.CountEmails] != 0 ||
		len(standin.SESMessages(t, sesURL, time.Time{})) != 1 {
		t.Fatalf("the next run: %+v %v", sum, err)
	}

	// A burst on the magic link's write (a transaction with its pointer): nothing is
	// claimed, and the next run sends.
	for _, id := range []string{"d3"} {
		if _, err := addDisconnected(tb.clean, clk, ws, id, olivia.id); err != nil {
			t.Fatal(err)
		}
	}
	f.set(func(r ddbRequest) fault {
		if r.Op == "TransactWriteItems" && strings.Contains(r.Body, `"LINK#`) {
			return throughput
		}
		return pass
	})
	sum, err = digestService(c.reg, tb.open(f), clk, sender, logs).Run(context.Background())
	f.set(nil)
	if err != nil || sum.Counts[digest.CountFailed] != 1 || sum.Counts[digest.CountEmails] != 0 {
		t.Fatalf("the run whose link write failed: %+v %v", sum, err)
	}
	if _, err := tb.clean.GetSend(context.Background(), stepKey(t, tb.clean, "d3", clk.Now())+"#"+olivia.id); relink.ErrorCode(err) != relink.ENOTFOUND {
		t.Fatalf("a claim was taken for an email that could not be written: %v", err)
	}
	clk.Advance(15 * time.Minute)
	sum, err = digestService(c.reg, tb.open(nil), clk, sender, logs).Run(context.Background())
	if err != nil || sum.Counts[digest.CountEmails] != 1 || len(standin.SESMessages(t, sesURL, time.Time{})) != 2 {
		t.Fatalf("the run after: %+v %v", sum, err)
	}
}
