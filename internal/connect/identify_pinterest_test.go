package connect

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/relinkhq/relink/internal/account"
	"github.com/relinkhq/relink/internal/channel"
)

// pinterestAPI answers GET /v5/user_account like Pinterest API v5 (channels.md §8).
func pinterestAPI(t *testing.T, fails map[string]answer, me map[string]any) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if a, ok := failure(fails, r.URL.Path); ok {
			a.write(w)
			return
		}
		if r.URL.Path != "/v5/user_account" {
			http.NotFound(w, r)
			return
		}
		if bearer(t, w, r, "pina.access") {
			writeJSON(w, 200, me)
		}
	}
}

var pinterestMe = map[string]any{"account_type": "BUSINESS", "id": "549755885175", "profile_image": "https://i.pinimg.com/600x600_R/42/f5/36/42f5.jpg",
	"website_url": "https://acme.example", "username": "acmecoffee", "about": "Coffee, roasted.", "business_name": "Acme Coffee",
	"board_count": 12, "pin_count": 340, "follower_count": 1200, "following_count": 10, "monthly_views": 50000}

func pinterestStub(t *testing.T, fails map[string]answer, me map[string]any) (channel.Channel, Identifier, *oauth2.Token, *httptest.Server) {
	ch, srv := stubChannel(t, channel.Pinterest(), map[string]any{"access_token": "pina.access", "refresh_token": "pinr.refresh",
		"response_type": "authorization_code", "token_type": "bearer", "expires_in": 2592000, "refresh_token_expires_in": 5184000,
		"scope": strings.Join(channel.Pinterest().Scopes(), " ")}, pinterestAPI(t, fails, me))
	return ch, PinterestIdentifier{HTTP: srv.Client()}, &oauth2.Token{AccessToken: "pina.access"}, srv
}

func pinterestSetup(t *testing.T, fail *answer) (channel.Channel, Identifier, *oauth2.Token, *httptest.Server) {
	return pinterestStub(t, everywhere(fail), pinterestMe)
}

func TestPinterestIdentifiesTheAccount(t *testing.T) {
	sameIdentities(t, identities(t, pinterestSetup), []Identity{{ExternalID: "549755885175", Name: "@acmecoffee", Kind: account.KindCompany}})
	// An answer without id: the username is the only identifier there is.
	noID := map[string]any{"account_type": "PINNER", "username": "oliviapins"}
	sameIdentities(t, identities(t, func(t *testing.T, _ *answer) (channel.Channel, Identifier, *oauth2.Token, *httptest.Server) {
		return pinterestStub(t, nil, noID)
	}), []Identity{{ExternalID: "oliviapins", Name: "@oliviapins", Kind: account.KindCompany}})
}

func TestPinterestConnectsEndToEnd(t *testing.T) {
	f := newFixture(t)
	ch, id, _, _ := pinterestSetup(t, nil)
	f.useChannel(t, ch, id)
	out, err := f.connectVia(t, olivia, "pinterest")
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	if len(out.Accounts) != 1 {
		t.Fatalf("connected %d accounts, want 1", len(out.Accounts))
	}
	a := out.Accounts[0]
	if a.ExternalID != "549755885175" || a.DisplayName != "@acmecoffee" || a.Kind != account.KindCompany || a.State != account.StateActive ||
		!a.Refreshable || !a.TokenExpiresAt.Equal(t0.Add(30*24*time.Hour)) || !a.RefreshExpiresAt.Equal(t0.Add(60*24*time.Hour)) {
		t.Fatalf("Pinterest account = %+v", a)
	}
	if access, refresh := f.sealed(t, a); access != "pina.access" || refresh != "pinr.refresh" {
		t.Fatal("sealed tokens are not the login's")
	}
}
