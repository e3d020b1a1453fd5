package probe

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/relinkhq/relink/internal/account"
	"github.com/relinkhq/relink/internal/channel"
	"github.com/relinkhq/relink/internal/clock"
	"github.com/relinkhq/relink/internal/ident"
	"github.com/relinkhq/relink/internal/relink"
	"github.com/relinkhq/relink/internal/store"
	"github.com/relinkhq/relink/internal/vault"
)

// Renewals guards the spending of a refresh token. Channels accept a rotating refresh
// token once, and careful ones revoke the whole grant when a spent one comes back, so
// two processes (two expiry-check instances, an admin's activate beside the schedule)
// must never both send the same one. Claim is called before the token goes to the
// channel; done after, with the renewal's error.
type Renewals interface {
	Claim(ctx context.Context, t vault.Tokens) (done func(refreshErr error), err error)
}

// ErrRenewing means another process is renewing these tokens right now: leave the
// account for later. It is EUNAVAILABLE to anyone who shows it to a person.
var ErrRenewing = relink.Errorf(relink.EUNAVAILABLE, "This account's token is being renewed right now. Try again in a minute.")

// ErrRenewalLost means the token was spent on a renewal whose result was never stored
// (the process died or its write failed after the channel answered): the tokens held
// no longer work and only reconnecting restores the grant.
var ErrRenewalLost = relink.Errorf(relink.EREAUTH, "The renewed token was lost before it could be stored; reconnect the account.")

// StaleRenewal is how old a claim must be to belong to a process that died mid-renewal:
// far longer than one renewal call takes.
const StaleRenewal = 5 * time.Minute

// deadMark, in a closed claim's message ID, says the channel refused the token for
// good, followed by the account reason it gave.
const deadMark = "dead:"

// StoreRenewals keeps the claims in the store's send records, keyed by the SHA-256 of
// the token being spent (the refresh token, or a self-renewing token itself).
type StoreRenewals struct {
	Sends  store.Sends
	Clock  clock.Clock
	IDs    ident.Generator
	Logger *slog.Logger
}

var _ Renewals = (*StoreRenewals)(nil)

// Claim takes the right to spend t's renewal secret. A spent or dead token stays
// claimed; a renewal the channel never decided (an outage, a refused request, our own
// failure) is released for the next try. ECONFLICT means the tokens were already
// renewed (read the stored ones again); ErrRenewing, that someone is renewing them now.
func (r *StoreRenewals) Claim(ctx context.Context, t vault.Tokens) (func(error), error) {
	secret := t.Refresh.Reveal()
	if secret == "" {
		secret = t.Access.Reveal()
	}
	sum := sha256.Sum256([]byte(secret))
	key, owner, now := store.RenewalKeyPrefix+hex.EncodeToString(sum[:]), r.IDs.New(), r.Clock.Now()
	ok, err := r.Sends.ClaimSend(ctx, key, owner, now)
	if err != nil {
		return nil, fmt.Errorf("claim renewal: %w", err)
	}
	if !ok {
		rec, err := r.Sends.GetSend(ctx, key)
		switch {
		case err != nil && relink.ErrorCode(err) != relink.ENOTFOUND:
			return nil, fmt.Errorf("read renewal claim: %w", err)
		case err == nil && rec.Owner == owner && rec.State == store.SendSending:
			// Our own claim: the store applied it but its answer was lost, and the
			// retried write found it. Carry on as its owner.
		case err == nil && rec.State == store.SendSent && strings.HasPrefix(rec.MessageID, deadMark):
			// The channel refused this token for good when it was presented: it is
			// still dead (a sibling account of the same login, or a later run, asks).
			return nil, &channel.TokenError{Classification: channel.Classification{
				Reason: strings.TrimPrefix(rec.MessageID, deadMark), Reauth: true,
				Message:      "The channel refused this token when it was last presented; reconnect the account.",
				ChannelError: account.ChannelError{Message: "The token was refused at its last renewal (" + rec.SentAt.UTC().Format(time.RFC3339) + ")."},
			}}
		case err == nil && rec.State == store.SendSent && now.Sub(rec.SentAt) >= StaleRenewal:
			// Spent long ago, yet still the token held: whoever renewed it never
			// stored what the channel gave back. Only the channel has the grant now.
			return nil, ErrRenewalLost
		case err == nil && rec.State == store.SendSent:
			return nil, relink.Errorf(relink.ECONFLICT, "These tokens were renewed already.")
		case err == nil && now.Sub(rec.ClaimedAt) < StaleRenewal:
			return nil, ErrRenewing
		default:
			// A dead process's claim, or one released just now: go ahead. Had that process
			// spent the token, the channel says so, and the renewed tokens died with it.
			return func(error) {}, nil
		}
	}
	logger := r.Logger
	if logger == nil {
		logger = slog.Default()
	}
	return func(refreshErr error) {
		bg := context.WithoutCancel(ctx)
		var te *channel.TokenError
		if refreshErr == nil || errors.As(refreshErr, &te) && te.Reauth {
			mark := "" // spent on a renewal
			if refreshErr != nil {
				mark = deadMark + te.Reason // refused for good: whoever presents it next learns why
			}
			if err := r.Sends.MarkSent(bg, key, owner, mark, r.Clock.Now()); err != nil {
				logger.WarnContext(ctx, "record renewal", "err", err)
			}
			return
		}
		if err := r.Sends.ReleaseSend(bg, key, owner); err != nil {
			logger.WarnContext(ctx, "release renewal claim", "err", err)
		}
	}, nil
}
