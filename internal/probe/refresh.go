package probe

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/relinkhq/relink/internal/account"
	"github.com/relinkhq/relink/internal/channel"
	"github.com/relinkhq/relink/internal/vault"
)

// Refresh renews the access token where the channel can without a person: with the
// refresh token (grant_type=refresh_token), or, for tokens that renew themselves
// (Instagram Login, Threads), with the token itself. It returns the tokens to store —
// a rotated refresh token included, so the caller stores them BEFORE using the new
// access token — and the grant they carry (the account's Page tasks kept).
//
// A refusal is a *channel.TokenError, classified by the channel: invalid_grant and the
// like need a person (Reauth), 5xx, 429 and no answer are Transient. Tokens that cannot
// be renewed without a person (Meta's, a grant without a refresh token, a self-renewing
// token younger than a day) are refused without calling the channel, with a
// classification that is neither. Other errors are Relink's own (no app credentials, a
// cancelled context).
func (p *Prober) Refresh(ctx context.Context, ch channel.Channel, a account.Account, t vault.Tokens) (vault.Tokens, account.Grant, error) {
	if err := p.ready(ch, a); err != nil {
		return vault.Tokens{}, account.Grant{}, err
	}
	renew := p.refreshGrant
	switch {
	case canRenewWithRefreshToken(t):
	case ch.SelfRefreshGrant != "":
		renew = p.selfRefresh
	default:
		renew = nil
	}
	if renew != nil {
		if p.Renewals == nil {
			return renew(ctx, ch, a, t)
		}
		done, err := p.Renewals.Claim(ctx, t)
		if err != nil {
			return vault.Tokens{}, account.Grant{}, err
		}
		nt, g, err := renew(ctx, ch, a, t)
		done(err)
		return nt, g, err
	}
	msg := fmt.Sprintf("%s issued no refresh token for this account, so only reconnecting renews it.", ch.Name)
	if ch.PageTokensNeverExpire {
		msg = fmt.Sprintf("%s tokens are renewed only by reconnecting; Page tokens do not expire.", ch.Name)
	}
	return vault.Tokens{}, account.Grant{}, notNow(msg)
}

// refreshGrant is grant_type=refresh_token at the channel's token endpoint, with the
// client authentication the channel wants (Pinterest's and X's Basic header) and its
// client ID parameter (TikTok's client_key).
func (p *Prober) refreshGrant(ctx context.Context, ch channel.Channel, a account.Account, t vault.Tokens) (vault.Tokens, account.Grant, error) {
	cred, err := p.credentials(ctx, ch)
	if err != nil {
		return vault.Tokens{}, account.Grant{}, err
	}
	cfg := ch.OAuthConfig(cred, "")
	params := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {t.Refresh.Reveal()}}
	if ch.ClientIDParam != "" {
		params.Set(ch.ClientIDParam, cred.ClientID)
	}
	// x/oauth2's own refresher (Config.TokenSource) sends no extra parameters, which
	// TikTok needs. clientcredentials lets EndpointParams override grant_type for such
	// providers and otherwise requests and parses tokens the same way (the stored
	// refresh token stands in for one the channel did not resend).
	cc := clientcredentials.Config{
		ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret, TokenURL: cfg.Endpoint.TokenURL,
		AuthStyle: cfg.Endpoint.AuthStyle, EndpointParams: params,
	}
	tok, err := cc.Token(context.WithValue(ctx, oauth2.HTTPClient, p.client()))
	if err != nil {
		if errors.Is(ctx.Err(), context.Canceled) {
			return vault.Tokens{}, account.Grant{}, cancelled(ctx, "token renewal")
		}
		return vault.Tokens{}, account.Grant{}, ch.TokenFailure(err)
	}
	now := p.Clock.Now()
	nt, _ := ch.Grant(tok, storedScopes(a, t), now)
	if sent, _ := tok.Extra("refresh_token").(string); sent == "" || sent == t.Refresh.Reveal() {
		// Not rotated: the stored refresh token, and its end where known, stand.
		nt.Refresh = t.Refresh
		if !t.RefreshExpiresAt.IsZero() {
			nt.RefreshExpiresAt = t.RefreshExpiresAt
		}
	} else if ch.FixedRefreshEnd && !t.RefreshExpiresAt.IsZero() {
		// LinkedIn: refreshing never extends the end set at consent (§4).
		nt.RefreshExpiresAt = t.RefreshExpiresAt
	}
	return nt, grantFor(ch, a, nt, nt.Scopes), nil
}

// selfRefresh renews a long-lived token with itself: GET RefreshURL?grant_type=
// ig_refresh_token|th_refresh_token&access_token= (§2.2, §3). The channel allows it
// once the token is a day old and before it expires; outside that it is refused here,
// since the channel's refusal could read like a dead token.
func (p *Prober) selfRefresh(ctx context.Context, ch channel.Channel, a account.Account, t vault.Tokens) (vault.Tokens, account.Grant, error) {
	now := p.Clock.Now()
	switch {
	case t.Access == "":
		return vault.Tokens{}, account.Grant{}, &channel.TokenError{Classification: dead(account.ReasonInvalidToken)}
	case expired(t.AccessExpiresAt, now):
		// "Tokens that have not been refreshed in 60 days will expire and can no
		// longer be refreshed" (§3).
		return vault.Tokens{}, account.Grant{}, &channel.TokenError{Classification: dead(account.ReasonExpired)}
	case !oldEnough(ch, t, now):
		return vault.Tokens{}, account.Grant{}, notNow(fmt.Sprintf(
			"%s renews a token only once it is %d hours old; Relink renews it later.", ch.Name, int(ch.SelfRefreshMinAge.Hours())))
	}
	req, err := newRequest(ctx, ch, http.MethodGet, withQuery(ch.RefreshURL, url.Values{
		"grant_type": {ch.SelfRefreshGrant}, "access_token": {t.Access.Reveal()},
	}), nil)
	if err != nil {
		return vault.Tokens{}, account.Grant{}, err
	}
	ans, err := p.send(ctx, req, "token renewal")
	if err != nil {
		return vault.Tokens{}, account.Grant{}, err
	}
	if ans.status != http.StatusOK {
		return vault.Tokens{}, account.Grant{}, &channel.TokenError{Classification: ch.Classify(ans.status, ans.body), Status: ans.status}
	}
	var raw map[string]any // {"access_token","token_type","expires_in"}
	access := ""
	if json.Unmarshal(ans.body, &raw) == nil {
		access, _ = raw["access_token"].(string)
	}
	if access == "" {
		return vault.Tokens{}, account.Grant{}, &channel.TokenError{Classification: refusedRequest(ch.Classify(ans.status, ans.body)), Status: ans.status}
	}
	typ, _ := raw["token_type"].(string)
	// ch.Grant reads expires_in against the injected clock and stamps IssuedAt.
	nt, _ := ch.Grant((&oauth2.Token{AccessToken: access, TokenType: typ}).WithExtra(raw), storedScopes(a, t), p.Clock.Now())
	return nt, grantFor(ch, a, nt, nt.Scopes), nil
}

// notNow refuses a renewal Relink will not ask for: not a disconnect, not transient.
func notNow(message string) error {
	return &channel.TokenError{Classification: channel.Classification{Reason: channel.ReasonRequestRejected, Message: message}}
}
