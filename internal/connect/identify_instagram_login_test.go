package connect

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/relinkhq/relink/internal/account"
	"github.com/relinkhq/relink/internal/channel"
	"github.com/relinkhq/relink/internal/sandbox"
)

// instagramLoginAPI answers like graph.instagram.com (channels.md §2.2): the
// ig_exchange_token swap (token in the query, app secret) and /me.
func instagramLoginAPI(t *testing.T, fails map[string]answer, me map[string]any) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if a, ok := failure(fails, r.URL.Path); ok {
			a.write(w)
			return
		}
		q := r.URL.Query()
		switch r.URL.Path {
		case "/access_token":
			if q.Get("grant_type") != "ig_exchange_token" || q.Get("client_secret") != sandbox.ClientSecret ||
				q.Get("access_token") != "ig-short" || r.Header.Get("Authorization") != "" {
				t.Errorf("long-lived exchange with %v, Authorization %q", q, r.Header.Get("Authorization"))
			}
			writeJSON(w, 200, map[string]any{"access_token": "ig-long", "token_type": "bearer", "expires_in": 5183944})
		case "/me":
			if q.Get("fields") != "user_id,username" {
				t.Errorf("/me fields = %q", q.Get("fields"))
			}
			if bearer(t, w, r, "ig-long") {
				writeJSON(w, 200, me)
			}
		default:
			http.NotFound(w, r)
		}
	}
}

var instagramLoginMe = map[string]any{"id": "26121000000000001", "user_id": "17841400000000009", "username": "oliviabakes"}

func instagramLoginStub(t *testing.T, fails map[string]answer, me map[string]any) (channel.Channel, Identifier, *oauth2.Token, *httptest.Server) {
	ch, srv := stubChannel(t, channel.InstagramLogin(), map[string]any{"access_token": "ig-short", "user_id": 17841400000000009,
		"permissions": "instagram_business_basic,instagram_business_content_publish"}, instagramLoginAPI(t, fails, me))
	return ch, InstagramLoginIdentifier{HTTP: srv.Client(), Credentials: staticCreds{}}, &oauth2.Token{AccessToken: "ig-short"}, srv
}

func instagramLoginSetup(t *testing.T, fail *answer) (channel.Channel, Identifier, *oauth2.Token, *httptest.Server) {
	return instagramLoginStub(t, everywhere(fail), instagramLoginMe)
}

func TestInstagramLoginIdentifiesTheAccount(t *testing.T) {
	ids := identities(t, instagramLoginSetup)
	sameIdentities(t, ids, []Identity{{ExternalID: "17841400000000009", Name: "@oliviabakes", Kind: account.KindCompany}})
	if ids[0].Token == nil || ids[0].Token.AccessToken != "ig-long" || ids[0].Token.Extra("expires_in") != 5183944.0 {
		t.Fatalf("the account should carry the long-lived token, got %+v", ids[0].Token)
	}
	// The app-scoped "id" never stands in for user_id: a different ID would make a second account.
	ch, id, tok, _ := instagramLoginStub(t, nil, map[string]any{"id": "26121000000000001", "username": "oliviabakes"})
	var te *channel.TokenError
	if _, err := id.Identify(context.Background(), ch, tok); !errors.As(err, &te) || te.Reason != channel.ReasonRequestRejected {
		t.Fatalf("identify without user_id = %v", err)
	}
}

func TestInstagramLoginConnectsEndToEnd(t *testing.T) {
	f := newFixture(t)
	ch, id, _, _ := instagramLoginSetup(t, nil)
	f.useChannel(t, ch, id)
	out, err := f.connectVia(t, olivia, "instagram_login")
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	if len(out.Accounts) != 1 {
		t.Fatalf("connected %d accounts, want 1", len(out.Accounts))
	}
	a := out.Accounts[0]
	// Scopes come from the request (the answer says "permissions", not "scope"), so
	// nothing is missing; the 60-day token renews itself.
	if a.ExternalID != "17841400000000009" || a.DisplayName != "@oliviabakes" || a.ParentProfileID != "" || a.Kind != account.KindCompany ||
		a.State != account.StateActive || !a.Refreshable || !a.TokenExpiresAt.Equal(t0.Add(5183944*time.Second)) {
		t.Fatalf("Instagram Login account = %+v", a)
	}
	if access, _ := f.sealed(t, a); access != "ig-long" {
		t.Fatal("the short-lived token was sealed instead of the long-lived one")
	}
}

func TestInstagramLoginRefusedAfterExchange(t *testing.T) {
	// The exchange works, then /me says the account is gone for the app.
	ch, id, tok, _ := instagramLoginStub(t, map[string]answer{"/me": {400,
		`{"error":{"message":"Error validating access token: The user has not authorized application 1234.","type":"OAuthException","code":190,"error_subcode":458,"fbtrace_id":"AbCd"}}`}},
		instagramLoginMe)
	_, err := id.Identify(context.Background(), ch, tok)
	var te *channel.TokenError
	if !errors.As(err, &te) || te.Reason != account.ReasonAppRemoved || te.Status != 400 {
		t.Fatalf("identify = %v", err)
	}
}
