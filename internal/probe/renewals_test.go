package probe

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/relinkhq/relink/internal/bolt"
	"github.com/relinkhq/relink/internal/channel"
	"github.com/relinkhq/relink/internal/clock"
	"github.com/relinkhq/relink/internal/ident"
	"github.com/relinkhq/relink/internal/relink"
	"github.com/relinkhq/relink/internal/store"
	"github.com/relinkhq/relink/internal/vault"
)

// TestStoreRenewals: one claim per refresh token; a second claimant is told someone
// is renewing (fresh claim) or that it was renewed (spent); a renewal the channel
// never decided is released; a dead process's claim does not block forever.
func TestStoreRenewals(t *testing.T) {
	clk := clock.NewManual(time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC))
	st, err := bolt.Open(filepath.Join(t.TempDir(), "r.db"), store.Config{Clock: clk, CursorKey: bytes.Repeat([]byte("c"), 32)})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	r := &StoreRenewals{Sends: st, Clock: clk, IDs: ident.NewULID(clk.Now)}
	ctx := context.Background()
	tok := vault.Tokens{Access: "a1", Refresh: "r1"}

	done, err := r.Claim(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Claim(ctx, tok); !errors.Is(err, ErrRenewing) {
		t.Fatalf("second claim while the first renews: %v", err)
	}
	if _, err := r.Claim(ctx, vault.Tokens{Refresh: "r2"}); err != nil {
		t.Fatalf("another token is not blocked: %v", err)
	}
	done(&channel.TokenError{Classification: channel.Transient()}) // an outage: not spent
	done2, err := r.Claim(ctx, tok)
	if err != nil {
		t.Fatalf("after a release: %v", err)
	}
	done2(nil) // renewed: spent
	if _, err := r.Claim(ctx, tok); relink.ErrorCode(err) != relink.ECONFLICT {
		t.Fatalf("claim of a spent token: %v", err)
	}
	// Still held long after it was spent: the renewed tokens were never stored.
	clk.Advance(StaleRenewal)
	if _, err := r.Claim(ctx, tok); !errors.Is(err, ErrRenewalLost) {
		t.Fatalf("claim of a token spent long ago: %v", err)
	}

	// A token the channel refused for good stays refused, with its reason, for whoever
	// presents it next (a sibling account of the same login, a later run) — however
	// long after: it was never spent, so no renewal was lost.
	doneDead, err := r.Claim(ctx, vault.Tokens{Refresh: "r-revoked"})
	if err != nil {
		t.Fatal(err)
	}
	doneDead(&channel.TokenError{Classification: channel.Classification{Reason: "revoked", Reauth: true}, Status: 400})
	for _, wait := range []time.Duration{0, 2 * StaleRenewal} {
		clk.Advance(wait)
		_, err := r.Claim(ctx, vault.Tokens{Refresh: "r-revoked"})
		var te *channel.TokenError
		if !errors.As(err, &te) || !te.Reauth || te.Reason != "revoked" || errors.Is(err, ErrRenewalLost) {
			t.Fatalf("claim of a refused token %v later: %v", wait, err)
		}
	}

	// A self-renewing token (no refresh token) is claimed by the token itself.
	self := vault.Tokens{Access: "long-lived"}
	if _, err := r.Claim(ctx, self); err != nil {
		t.Fatal(err)
	}
	// Its claimant dies; after StaleRenewal the next one goes ahead.
	if _, err := r.Claim(ctx, self); !errors.Is(err, ErrRenewing) {
		t.Fatalf("fresh claim: %v", err)
	}
	clk.Advance(StaleRenewal)
	if _, err := r.Claim(ctx, self); err != nil {
		t.Fatalf("a dead claimant's claim still blocks: %v", err)
	}
}
