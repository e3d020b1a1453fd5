package faults

// Fault 4: the channel answers 5xx or 429, or too slowly for the prober's HTTP
// client (a 500 ms timeout here; 10 s in the functions). Accounts stay active and
// back off (1, 2, 4 hours…); a renewal the channel never decided gives its claim
// back; nobody is disconnected; when the channel is back, the next due run renews.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/relinkhq/relink/internal/account"
	"github.com/relinkhq/relink/internal/checkup"
	"github.com/relinkhq/relink/internal/connect"
	"github.com/relinkhq/relink/internal/relink"
	"github.com/relinkhq/relink/internal/workspace"
)

// channelCalls are the sandbox's OAuth and API endpoints (not the consent page).
func channelCall(r *http.Request) bool {
	return strings.HasPrefix(r.URL.Path, "/sandbox/oauth/token") || strings.HasPrefix(r.URL.Path, "/sandbox/oauth/introspect") ||
		strings.HasPrefix(r.URL.Path, "/sandbox/api/")
}

// slow holds a request for d, or until the client gives up.
func slow(r *http.Request, d time.Duration) (gaveUp bool) {
	select {
	case <-time.After(d):
		return false
	case <-r.Context().Done():
		return true
	}
}

func renewKey(refresh string) string {
	sum := sha256.Sum256([]byte(refresh))
	return "renew#" + hex.EncodeToString(sum[:])
}

func TestChannelFailuresBackOff(t *testing.T) {
	start := time.Now()
	clk := newManual()
	tb := newTable(t, clk)
	c := newChannel(t, clk)
	seedWorkspace(t, tb.clean, ws, "Acme Brands", pat, olivia)
	var ids []string
	for i := range 6 {
		tok, g, _ := c.issue("sandbox-omar")
		id := fmt.Sprintf("s%d", i)
		c.addAccount(tb.clean, ws, id, olivia.id, tok, g)
		ids = append(ids, id)
	}
	// Two pages of one login, connected through the consent flow: they share a
	// refresh token and are renewed one after the other.
	for _, a := range c.consent(c.connectService(tb.clean), connect.Who{WorkspaceID: ws, UserID: olivia.id, Role: workspace.RoleOwner}, "sandbox-olivia") {
		ids = append(ids, a.ID)
	}
	n := len(ids)
	logs := &syncBuffer{}
	const timeout = 500 * time.Millisecond
	check := c.checkupService(tb.open(nil), c.client(timeout), logs)
	run := func() checkup.Summary {
		t.Helper()
		sum, err := check.Run(context.Background())
		if err != nil || !sum.Complete {
			t.Fatalf("run: %+v %v", sum, err)
		}
		return sum
	}
	refreshOf := map[string]string{}
	for _, id := range ids {
		refreshOf[id] = c.tokensOf(tb.clean, ws, id).Refresh.Reveal()
	}
	// each checks every account: active, failures and next check as given, the
	// tokens it started with, and no renewal claim left behind.
	each := func(failures int, due time.Duration) {
		t.Helper()
		for _, id := range ids {
			a, err := tb.clean.GetAccount(context.Background(), ws, id)
			if err != nil {
				t.Fatal(err)
			}
			if a.State != account.StateActive || a.TransientFailures != failures || !a.DueAt.Equal(clk.Now().Add(due)) {
				t.Fatalf("%s: %s %s, %d failures, due in %v; want active, %d, %v", id, a.State, a.Reason, a.TransientFailures,
					a.DueAt.Sub(clk.Now()), failures, due)
			}
			tok := c.tokensOf(tb.clean, ws, id)
			if tok.Refresh.Reveal() != refreshOf[id] {
				t.Fatalf("%s: tokens changed though no renewal succeeded", id)
			}
			if _, err := tb.clean.GetSend(context.Background(), renewKey(tok.Refresh.Reveal())); relink.ErrorCode(err) != relink.ENOTFOUND {
				t.Fatalf("%s: a renewal the channel never decided kept its claim (%v)", id, err)
			}
		}
	}

	// 1. 5xx and 429, never forwarded.
	var calls atomic.Int64
	statuses := []int{http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout,
		http.StatusTooManyRequests}
	c.setHook(func(w http.ResponseWriter, r *http.Request) bool {
		if !channelCall(r) {
			return false
		}
		s := statuses[int(calls.Add(1))%len(statuses)]
		http.Error(w, `{"error":"temporarily_unavailable"}`, s)
		return true
	})
	clk.Advance(59 * time.Minute)
	if sum := run(); sum.Counts[checkup.OutcomeTransient] != n || len(sum.Counts) != 1 {
		t.Fatalf("during 5xx: %v", sum.Counts)
	}
	each(1, time.Hour)
	clk.Advance(30 * time.Minute)
	if sum := run(); len(sum.Counts) != 0 {
		t.Fatalf("an account backing off was tried: %v", sum.Counts)
	}

	// 2. Too slow: the client gives up after 500 ms; the channel never acts.
	var slowCalls atomic.Int64
	c.setHook(func(w http.ResponseWriter, r *http.Request) bool {
		if !channelCall(r) {
			return false
		}
		slowCalls.Add(1)
		slow(r, 2*timeout)
		http.Error(w, `{"error":"temporarily_unavailable"}`, http.StatusGatewayTimeout)
		return true
	})
	clk.Advance(30 * time.Minute)
	if sum := run(); sum.Counts[checkup.OutcomeTransient] != n || len(sum.Counts) != 1 {
		t.Fatalf("during timeouts: %v", sum.Counts)
	}
	each(2, 2*time.Hour)
	// The channel is still down at the next attempt, two hours on: failures 3, next in 4.
	clk.Advance(2 * time.Hour)
	if sum := run(); sum.Counts[checkup.OutcomeTransient] != n {
		t.Fatalf("timeouts again: %v", sum.Counts)
	}
	each(3, 4*time.Hour)

	// 3. Slow but within the timeout: the renewals go through; failures reset.
	c.setHook(func(w http.ResponseWriter, r *http.Request) bool {
		if channelCall(r) {
			slow(r, timeout/5)
		}
		return false
	})
	clk.Advance(4 * time.Hour)
	if sum := run(); sum.Counts[checkup.OutcomeRefreshed] != n || len(sum.Counts) != 1 {
		t.Fatalf("after the channel came back: %v\n%s", sum.Counts, logs)
	}
	c.setHook(nil)
	for _, id := range ids {
		a, _ := tb.clean.GetAccount(context.Background(), ws, id)
		evs := trail(t, tb.clean, ws, id)
		if a.State != account.StateActive || a.TransientFailures != 0 || !a.LastProbeAt.Equal(clk.Now()) {
			t.Fatalf("%s after recovery: %s, %d failures", id, a.State, a.TransientFailures)
		}
		for _, e := range evs {
			if e.Action == account.ActDisconnect {
				t.Fatalf("%s was disconnected: %v", id, actions(evs))
			}
		}
	}
	if ok, refused, reused := c.renewals(); ok < n-1 || refused != 0 || len(reused) != 0 {
		// The two pages of one login share their renewals, one after the other.
		t.Fatalf("renewals: %d ok, %d refused, reused %v", ok, refused, reused)
	}
	t.Logf("%d accounts through %d 5xx/429 answers and %d timeouts: backed off 1, 2, 4 hours, renewed when back, none "+
		"disconnected (%v)", n, calls.Load(), slowCalls.Load(), time.Since(start).Round(time.Millisecond))
}

// TestLostRenewalAnswer: the channel renews (rotating the refresh token) but its
// answer comes after the prober gave up. Relink cannot have the new tokens: only the
// channel ever held them. The renewal counts as transient and its claim is given
// back; at the next attempt the old refresh token is refused (rotated out) and the
// account is disconnected as revoked — it shows as needing a reconnect, and its
// owner is reminded, rather than looking healthy with a token that cannot work.
// With rotating refresh tokens and no reuse grace period at the channel, this is the
// best there is; the check of the access token alone (no renewal) never costs a
// grant this way, and a 10 s timeout (the functions') makes it rare.
func TestLostRenewalAnswer(t *testing.T) {
	clk := newManual()
	tb := newTable(t, clk)
	c := newChannel(t, clk)
	seedWorkspace(t, tb.clean, ws, "Acme Brands", pat, olivia)
	tok, g, _ := c.issue("sandbox-omar")
	c.addAccount(tb.clean, ws, "s0", olivia.id, tok, g)
	const timeout = 500 * time.Millisecond
	check := c.checkupService(tb.open(nil), c.client(timeout), &syncBuffer{})
	c.setHook(func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path != "/sandbox/oauth/token" {
			return false
		}
		c.sandbox.ServeHTTP(w, r) // the channel renews; its answer is held past the timeout
		slow(r, 2*timeout)
		return true
	})
	clk.Advance(59 * time.Minute)
	if sum, err := check.Run(context.Background()); err != nil || sum.Counts[checkup.OutcomeTransient] != 1 {
		t.Fatalf("the renewal whose answer was lost: %+v %v", sum, err)
	}
	c.setHook(nil)
	a, _ := tb.clean.GetAccount(context.Background(), ws, "s0")
	if a.State != account.StateActive || a.TransientFailures != 1 {
		t.Fatalf("after the lost answer: %s, %d failures", a.State, a.TransientFailures)
	}
	clk.Advance(time.Hour)
	if sum, err := check.Run(context.Background()); err != nil || sum.Counts[checkup.OutcomeDisconnected] != 1 {
		t.Fatalf("the next renewal: %+v %v", sum, err)
	}
	a, _ = tb.clean.GetAccount(context.Background(), ws, "s0")
	if a.State != account.StateDisconnected || a.Reason != account.ReasonRevoked || a.ChannelError == nil ||
		a.ChannelError.Code != "invalid_grant" || !a.RemindAt.Equal(clk.Now()) {
		t.Fatalf("after the next renewal: %s %s %+v, remind at %v", a.State, a.Reason, a.ChannelError, a.RemindAt)
	}
	if _, refused, _ := c.renewals(); refused != 1 {
		t.Fatalf("want the spent token refused once: %d refused", refused)
	}
}
