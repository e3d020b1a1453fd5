package sandbox

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

func TestOAuth2Library(t *testing.T) {
	e := newEnv(t)
	cfg := oauth2.Config{
		ClientID: clientID, ClientSecret: ClientSecret, RedirectURL: callback,
		Scopes: []string{"profile", "publish", "report", "ads"},
		Endpoint: oauth2.Endpoint{
			AuthURL: e.srv.URL + "/sandbox/oauth/authorize", TokenURL: e.srv.URL + "/sandbox/oauth/token",
		},
	}
	verifier := oauth2.GenerateVerifier()
	authURL := cfg.AuthCodeURL("st-lib", oauth2.S256ChallengeOption(verifier))
	resp, body := e.get(strings.TrimPrefix(authURL, e.srv.URL))
	if resp.StatusCode != 200 || !strings.Contains(body, `value="ads" checked`) {
		t.Fatalf("consent page: %d", resp.StatusCode)
	}
	q, _ := url.ParseQuery(strings.SplitN(authURL, "?", 2)[1])
	q.Set("decision", "allow")
	q.Set("profile", "sandbox-olivia")
	q["grant_scope"] = []string{"profile", "publish", "report"} // "ads" unchecked
	resp, _ = e.postForm("/sandbox/oauth/authorize", q)
	loc, err := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusFound || err != nil || loc.Query().Get("state") != "st-lib" {
		t.Fatalf("consent: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, e.srv.Client())
	tok, err := cfg.Exchange(ctx, loc.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	if tok.RefreshToken == "" || tok.Extra("refresh_expires_in") != 7776000.0 || tok.Extra("scope") != "profile publish report" {
		t.Fatalf("token: %+v scope=%v", tok, tok.Extra("scope"))
	}
	if s, m := e.api(tok.AccessToken, "/sandbox/api/me"); s != 200 || len(m["pages"].([]any)) != 2 {
		t.Fatalf("me: %d %v", s, m)
	}

	// The library refreshes an expired token and gets a rotated refresh token.
	tok.Expiry = time.Now().Add(-time.Minute) // the library reads the wall clock
	grants := e.s.Grants()
	_ = e.s.Act(grants[0].ID, ActExpire, "")
	fresh, err := cfg.TokenSource(ctx, tok).Token()
	if err != nil || fresh.RefreshToken == tok.RefreshToken || fresh.AccessToken == tok.AccessToken {
		t.Fatalf("refresh: %v", err)
	}
	if _, err := cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); !isCode(err, "invalid_grant") {
		t.Fatalf("old refresh token: %v", err)
	}

	// A reused code comes back as a RetrieveError with invalid_grant.
	if _, err := cfg.Exchange(ctx, loc.Query().Get("code"), oauth2.VerifierOption(verifier)); !isCode(err, "invalid_grant") {
		t.Fatalf("reused code: %v", err)
	}
}

func isCode(err error, code string) bool {
	re, ok := err.(*oauth2.RetrieveError)
	return ok && re.ErrorCode == code
}
