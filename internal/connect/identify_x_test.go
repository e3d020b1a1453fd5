package connect

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/relinkhq/relink/internal/account"
	"github.com/relinkhq/relink/internal/channel"
)

// xAPI answers GET /2/users/me like X API v2 (channels.md §6).
func xAPI(t *testing.T, fails map[string]answer, me map[string]any) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if a, ok := failure(fails, r.URL.Path); ok {
			a.write(w)
			return
		}
		if r.URL.Path != "/2/users/me" {
			http.NotFound(w, r)
			return
		}
		if bearer(t, w, r, "x-access") {
			writeJSON(w, 200, me)
		}
	}
}

var xMe = map[string]any{"data": map[string]any{"id": "1400000000000000001", "name": "Acme Coffee", "username": "acmecoffee"}}

// xScopes is every scope Relink asks X for.
var xScopes = strings.Join(channel.X().Scopes(), " ")

func xStub(t *testing.T, fails map[string]answer, me map[string]any) (channel.Channel, Identifier, *oauth2.Token, *httptest.Server) {
	ch, srv := stubChannel(t, channel.X(), map[string]any{"token_type": "bearer", "expires_in": 7200, "access_token": "x-access",
		"refresh_token": "x-refresh", "scope": xScopes}, xAPI(t, fails, me))
	return ch, XIdentifier{HTTP: srv.Client()}, &oauth2.Token{AccessToken: "x-access"}, srv
}

func xSetup(t *testing.T, fail *answer) (channel.Channel, Identifier, *oauth2.Token, *httptest.Server) {
	return xStub(t, everywhere(fail), xMe)
}

func TestXIdentifiesTheAccount(t *testing.T) {
	sameIdentities(t, identities(t, xSetup), []Identity{{ExternalID: "1400000000000000001", Name: "@acmecoffee", Kind: account.KindCompany}})
	// X can answer 200 with only an errors list (a suspended account): nothing to connect.
	ch, id, tok, _ := xStub(t, nil, map[string]any{"errors": []map[string]any{{"title": "Forbidden", "detail": "User has been suspended: [acmecoffee].",
		"type": "https://api.twitter.com/2/problems/resource-not-found"}}})
	var te *channel.TokenError
	if _, err := id.Identify(context.Background(), ch, tok); !errors.As(err, &te) || te.Reason != channel.ReasonRequestRejected {
		t.Fatalf("identify on an errors-only answer = %v", err)
	}
}

func TestXConnectsEndToEnd(t *testing.T) {
	f := newFixture(t)
	ch, id, _, _ := xSetup(t, nil)
	f.useChannel(t, ch, id)
	out, err := f.connectVia(t, omar, "x")
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	if len(out.Accounts) != 1 {
		t.Fatalf("connected %d accounts, want 1", len(out.Accounts))
	}
	a := out.Accounts[0]
	if a.ExternalID != "1400000000000000001" || a.DisplayName != "@acmecoffee" || a.ParentProfileID != "" || a.Kind != account.KindCompany ||
		a.State != account.StateActive || !a.Refreshable || !a.TokenExpiresAt.Equal(t0.Add(2*time.Hour)) {
		t.Fatalf("X account = %+v", a)
	}
	if access, refresh := f.sealed(t, a); access != "x-access" || refresh != "x-refresh" {
		t.Fatal("sealed tokens are not the login's")
	}
}
