// Package probe asks a channel whether an account's stored tokens still work, and
// renews them where the channel allows it without a person. The scheduled expiry
// check and the admin API's activation call it; what to do with the answer (a state
// change, reminders) is theirs. Per-channel facts: shared/channels.md §0, §11, §12.
//
// Nothing here logs, and no error's text holds a token or an app secret: channel
// answers are reduced to classifications, and failed requests (whose URLs may carry
// a token in the query) are never wrapped.
package probe

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"time"

	"github.com/relinkhq/relink/internal/account"
	"github.com/relinkhq/relink/internal/channel"
	"github.com/relinkhq/relink/internal/clock"
	"github.com/relinkhq/relink/internal/relink"
	"github.com/relinkhq/relink/internal/vault"
)

// Credentials gives Relink's app credentials on a channel. connect.Credentials has the
// same method; it is declared here so that probe does not import connect.
type Credentials interface {
	Credentials(ctx context.Context, channelID string) (channel.Credentials, error)
}

// Prober checks and renews tokens; it holds no state of its own, so one serves every
// account concurrently. Clock is required, and Credentials for channels whose checks
// or renewals are signed with Relink's app.
type Prober struct {
	HTTP        *http.Client // nil: http.DefaultClient
	Credentials Credentials
	Clock       clock.Clock
	Renewals    Renewals // nil: no guard (a single process)
}

// Result is what a check found.
type Result struct {
	// Valid: the channel accepts the access token.
	Valid bool
	// Grant, when Valid, is what the token holds now: the scopes the channel reports
	// (the stored ones where it reports none), the account's Page tasks (no check
	// learns them), what is missing for them, whether it renews without a person, and
	// its expiries (the channel's where it reports them; zero TokenExpiresAt: never).
	Grant account.Grant
	// Failure, when !Valid, is why: Transient (5xx, 429, timeouts, no answer: never a
	// disconnect), Reauth with a Reason, PermissionMissing, or neither (the channel
	// refused Relink's own request, which says nothing about the token).
	Failure channel.Classification
	// Tokens is set when the check had to renew the tokens first (an expired access
	// token with a refresh token). The caller stores them before anything else uses
	// the account: after a rotation the stored refresh token no longer works. It can
	// be set whatever the rest of the result, and alongside an error.
	Tokens *vault.Tokens
	// DataAccessExpiresAt is Meta's data_access_expires_at: when the app's access to
	// the account's data lapses unless the person uses it (90 days, §1.1). Zero: not
	// reported. It is not a token expiry, so it is kept apart from Grant.
	DataAccessExpiresAt time.Time
}

// Check asks the channel, with the channel's introspection, whether the stored tokens
// still work. An access token known to have expired (or that the channel says expired)
// is renewed first when a refresh token allows it; Result.Tokens then holds the new
// tokens. The error is only for Relink's own faults (no app credentials, a cancelled
// context, a mismatched account); whatever the channel answered is in the Result.
func (p *Prober) Check(ctx context.Context, ch channel.Channel, a account.Account, t vault.Tokens) (Result, error) {
	var res Result
	if err := p.ready(ch, a); err != nil {
		return res, err
	}
	now := p.Clock.Now()
	renew := func() (bool, error) {
		nt, _, err := p.Refresh(ctx, ch, a, t)
		if err != nil {
			var te *channel.TokenError
			if errors.As(err, &te) {
				res.Failure = te.Classification
				res.Failure.RefreshFirst = false // the renewal itself failed
				return false, nil
			}
			return false, err
		}
		t, res.Tokens = nt, &nt
		return true, nil
	}
	refreshed := false
	if canRenewWithRefreshToken(t) && (t.Access == "" || expired(t.AccessExpiresAt, now)) {
		ok, err := renew()
		if err != nil || !ok {
			return res, err
		}
		refreshed = true
	}
	if t.Access == "" {
		res.Failure = dead(account.ReasonInvalidToken) // nothing to check, nothing to renew with
		return res, nil
	}
	f, err := p.introspect(ctx, ch, t)
	if err != nil {
		return res, err
	}
	// The channel says the access token lapsed: one refresh, then ask again.
	if !f.valid && f.failure.RefreshFirst && !refreshed && canRenewWithRefreshToken(t) {
		ok, err := renew()
		if err != nil || !ok {
			return res, err
		}
		if f, err = p.introspect(ctx, ch, t); err != nil {
			return res, err
		}
	}
	if !f.valid {
		// Relink has refreshed already or cannot: only a person can help now.
		f.failure.RefreshFirst = false
		res.Failure = f.failure
		return res, nil
	}
	scopes := f.scopes
	if scopes == nil {
		scopes = storedScopes(a, t)
	}
	expiry := t.AccessExpiresAt
	if f.expiryKnown {
		expiry = f.expiresAt
	}
	res.Valid = true
	res.Grant = grantFor(ch, a, t, scopes)
	res.Grant.TokenExpiresAt = expiry
	res.DataAccessExpiresAt = f.dataAccessExpiresAt
	return res, nil
}

// NeedsRefresh reports whether the tokens should be renewed at now: the access token
// expires within ch.RefreshLead (or has expired) and can be renewed without a person —
// with a refresh token not known to have ended, or, for a self-renewing token
// (Instagram Login, Threads), one that has not expired and is SelfRefreshMinAge old
// (an unknown issue time counts as old enough).
func NeedsRefresh(ch channel.Channel, t vault.Tokens, now time.Time) bool {
	if t.AccessExpiresAt.IsZero() || now.Before(t.AccessExpiresAt.Add(-ch.RefreshLead)) {
		return false // no known expiry (Page tokens), or not yet due
	}
	if canRenewWithRefreshToken(t) {
		return t.RefreshExpiresAt.IsZero() || now.Before(t.RefreshExpiresAt)
	}
	return ch.SelfRefreshGrant != "" && t.Access != "" && !expired(t.AccessExpiresAt, now) && oldEnough(ch, t, now)
}

func (p *Prober) ready(ch channel.Channel, a account.Account) error {
	if p.Clock == nil || ch.Classify == nil {
		return relink.Errorf(relink.EINTERNAL, "The prober is not set up.")
	}
	if a.Channel != ch.ID {
		return relink.Errorf(relink.EINTERNAL, "account %s is on channel %q, not %q", a.ID, a.Channel, ch.ID)
	}
	return nil
}

func (p *Prober) client() *http.Client {
	if p.HTTP != nil {
		return p.HTTP
	}
	return http.DefaultClient
}

// credentials reads Relink's app on the channel; missing ones are Relink's fault.
func (p *Prober) credentials(ctx context.Context, ch channel.Channel) (channel.Credentials, error) {
	if p.Credentials == nil {
		return channel.Credentials{}, relink.Errorf(relink.EINTERNAL, "No app credentials source for %s.", ch.Name)
	}
	cred, err := p.Credentials.Credentials(ctx, ch.ID)
	if err != nil {
		return channel.Credentials{}, err
	}
	if cred.ClientID == "" || cred.ClientSecret == "" {
		return channel.Credentials{}, relink.Errorf(relink.EUNAVAILABLE, "The app credentials for %s are incomplete.", ch.Name)
	}
	return cred, nil
}

// grantFor is what an account holds with tokens t and scopes: its tasks are kept,
// since neither a check nor a renewal learns Page tasks.
func grantFor(ch channel.Channel, a account.Account, t vault.Tokens, scopes []string) account.Grant {
	scopes = slices.Clone(scopes)
	tasks := slices.Clone(a.Tasks)
	return account.Grant{
		Scopes: scopes, Tasks: tasks, Missing: ch.Diagnose(scopes, tasks),
		Refreshable:    t.Refresh != "" || ch.SelfRefreshGrant != "",
		TokenExpiresAt: t.AccessExpiresAt, RefreshExpiresAt: t.RefreshExpiresAt,
	}
}

// storedScopes are the scopes sealed with the tokens, else the account's.
func storedScopes(a account.Account, t vault.Tokens) []string {
	if t.Scopes != nil {
		return t.Scopes
	}
	return a.Scopes
}

func canRenewWithRefreshToken(t vault.Tokens) bool { return t.Refresh != "" }

// expired reports a known expiry at or before now.
func expired(at, now time.Time) bool { return !at.IsZero() && !now.Before(at) }

func oldEnough(ch channel.Channel, t vault.Tokens, now time.Time) bool {
	return t.IssuedAt.IsZero() || now.Sub(t.IssuedAt) >= ch.SelfRefreshMinAge
}

// dead classifies a token only a person reconnecting can fix.
func dead(reason string) channel.Classification {
	return channel.Classification{Reason: reason, Message: channel.Message(reason), Reauth: true}
}

// refusedRequest is a channel's refusal of Relink's own request (an introspection
// signed with the app's credentials, a renewal asked too early): recorded, but it says
// nothing about the token, so it never disconnects. Transient failures stay transient.
func refusedRequest(c channel.Classification) channel.Classification {
	if c.Transient {
		return c
	}
	return channel.Classification{
		Reason: channel.ReasonRequestRejected, Message: channel.Message(channel.ReasonRequestRejected),
		ChannelError: c.ChannelError,
	}
}

// cancelled is the error for a context the caller ended: Relink's doing, not the channel's.
func cancelled(ctx context.Context, what string) error {
	return relink.Wrap(ctx.Err(), relink.EUNAVAILABLE, "The %s was cancelled.", what)
}
