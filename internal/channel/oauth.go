package channel

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/relinkhq/relink/internal/account"
	"github.com/relinkhq/relink/internal/vault"
)

// Credentials are Relink's app on a channel.
type Credentials struct {
	ClientID     string
	ClientSecret vault.Secret
}

// OAuthConfig is the golang.org/x/oauth2 configuration of the channel for an app and a
// callback URL, asking for the scopes the given capabilities need (all when none).
func (c Channel) OAuthConfig(cred Credentials, redirectURL string, caps ...account.Capability) *oauth2.Config {
	style := oauth2.AuthStyleInParams
	if c.ClientAuthHeader {
		style = oauth2.AuthStyleInHeader
	}
	return &oauth2.Config{
		ClientID: cred.ClientID, ClientSecret: cred.ClientSecret.Reveal(), RedirectURL: redirectURL,
		Endpoint: oauth2.Endpoint{AuthURL: c.AuthorizeURL, TokenURL: c.TokenURL, AuthStyle: style},
		Scopes:   c.Scopes(caps...),
	}
}

// AuthCodeURL is the consent URL for a state, with the PKCE S256 challenge of verifier
// where the channel takes one, and the channel's own parameter quirks.
func (c Channel) AuthCodeURL(cfg *oauth2.Config, state, verifier string) string {
	var opts []oauth2.AuthCodeOption
	if c.PKCE {
		opts = append(opts, oauth2.S256ChallengeOption(verifier))
	}
	if c.ScopeSeparator != "" {
		opts = append(opts, oauth2.SetAuthURLParam("scope", strings.Join(cfg.Scopes, c.ScopeSeparator)))
	}
	if c.ClientIDParam != "" {
		opts = append(opts, oauth2.SetAuthURLParam(c.ClientIDParam, cfg.ClientID))
	}
	for _, k := range slices.Sorted(maps.Keys(c.AuthParams)) {
		opts = append(opts, oauth2.SetAuthURLParam(k, c.AuthParams[k]))
	}
	return cfg.AuthCodeURL(state, opts...)
}

// TokenError is a token endpoint's refusal, classified by the channel. Its text holds
// the reason code only, never the endpoint's body (which may echo what was sent).
type TokenError struct {
	Classification
	Status int
}

func (e *TokenError) Error() string {
	return fmt.Sprintf("token endpoint refused (HTTP %d): %s", e.Status, e.Reason)
}

// Exchange swaps an authorization code for tokens. A refusal comes back as a
// *TokenError; a failure to reach the channel as a transient *TokenError.
func (c Channel) Exchange(ctx context.Context, cfg *oauth2.Config, code, verifier string) (*oauth2.Token, error) {
	var opts []oauth2.AuthCodeOption
	if c.PKCE {
		opts = append(opts, oauth2.VerifierOption(verifier))
	}
	if c.ClientIDParam != "" {
		opts = append(opts, oauth2.SetAuthURLParam(c.ClientIDParam, cfg.ClientID))
	}
	tok, err := cfg.Exchange(ctx, code, opts...)
	if err != nil {
		return nil, c.TokenFailure(err)
	}
	return tok, nil
}

// TokenFailure classifies what x/oauth2 returned from the channel's token endpoint: a
// refusal (*oauth2.RetrieveError) by the channel's classifier, no answer (timeout,
// connection refused) as transient. Both come back as a *TokenError; a cancelled
// context is returned as it is, since it is the caller's doing.
func (c Channel) TokenFailure(err error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) && re.Response != nil {
		return &TokenError{Classification: c.Classify(re.Response.StatusCode, re.Body), Status: re.Response.StatusCode}
	}
	if errors.Is(err, context.Canceled) {
		return err
	}
	// No answer (timeout, connection refused): try again later, never a disconnect.
	return &TokenError{Classification: c.Classify(0, nil)}
}

// Grant reads a token response: the tokens to seal, and what the account learns about
// its grant (the missing permissions are the caller's to diagnose, since Page tasks
// come from the identity call). requested are the scopes asked for, assumed granted
// when the channel does not say.
func (c Channel) Grant(tok *oauth2.Token, requested []string, now time.Time) (vault.Tokens, account.Grant) {
	// expires_in is read against the injected clock (x/oauth2 stamps Expiry from the
	// wall clock); without it, the documented lifetime stands in.
	var access time.Time
	if secs, ok := seconds(tok.Extra("expires_in")); ok {
		access = now.Add(secs)
	} else if !tok.Expiry.IsZero() {
		access = tok.Expiry
	} else if !c.PageTokensNeverExpire && c.AccessTTL > 0 {
		access = now.Add(c.AccessTTL)
	}
	var refreshEnd time.Time
	if tok.RefreshToken != "" {
		if secs, ok := seconds(tok.Extra("refresh_expires_in")); ok {
			refreshEnd = now.Add(secs)
		} else if secs, ok := seconds(tok.Extra("refresh_token_expires_in")); ok {
			refreshEnd = now.Add(secs)
		} else if c.RefreshTTL > 0 {
			refreshEnd = now.Add(c.RefreshTTL)
		}
	}
	scopes := requested
	if s, ok := tok.Extra("scope").(string); ok && strings.TrimSpace(s) != "" {
		scopes = strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == ',' })
	}
	scopes = slices.Clone(scopes)
	return vault.Tokens{
			Access: vault.Secret(tok.AccessToken), Refresh: vault.Secret(tok.RefreshToken),
			AccessExpiresAt: access, RefreshExpiresAt: refreshEnd, Scopes: scopes, TokenType: tok.TokenType,
			IssuedAt: now, // self-renewing tokens may be renewed only once old enough
		}, account.Grant{
			Scopes: scopes,
			// Renewable without a person: a refresh token, or a token that renews itself.
			Refreshable:      tok.RefreshToken != "" || c.SelfRefreshGrant != "",
			TokenExpiresAt:   access,
			RefreshExpiresAt: refreshEnd,
		}
}

// seconds reads a lifetime in seconds from a JSON number or numeric string.
func seconds(v any) (time.Duration, bool) {
	var n float64
	switch x := v.(type) {
	case float64:
		n = x
	case string:
		f, err := strconv.ParseFloat(x, 64)
		if err != nil {
			return 0, false
		}
		n = f
	default:
		return 0, false
	}
	if n <= 0 || n > 10*365*24*3600 {
		return 0, false
	}
	return time.Duration(n) * time.Second, true
}
