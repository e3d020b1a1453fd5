package connect

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/relinkhq/relink/internal/account"
	"github.com/relinkhq/relink/internal/channel"
	"github.com/relinkhq/relink/internal/sandbox"
)

// threadsAPI answers like graph.threads.net (channels.md §3): the th_exchange_token
// swap and /v1.0/me.
func threadsAPI(t *testing.T, fails map[string]answer) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if a, ok := failure(fails, r.URL.Path); ok {
			a.write(w)
			return
		}
		q := r.URL.Query()
		switch r.URL.Path {
		case "/access_token":
			if q.Get("grant_type") != "th_exchange_token" || q.Get("client_secret") != sandbox.ClientSecret ||
				q.Get("access_token") != "th-short" || r.Header.Get("Authorization") != "" {
				t.Errorf("long-lived exchange with %v, Authorization %q", q, r.Header.Get("Authorization"))
			}
			writeJSON(w, 200, map[string]any{"access_token": "th-long", "token_type": "bearer", "expires_in": 5183944})
		case "/v1.0/me":
			if q.Get("fields") != "id,username" {
				t.Errorf("/me fields = %q", q.Get("fields"))
			}
			if bearer(t, w, r, "th-long") {
				writeJSON(w, 200, map[string]any{"id": "25000000000000001", "username": "olivia.bakes"})
			}
		default:
			http.NotFound(w, r)
		}
	}
}

func threadsSetup(t *testing.T, fail *answer) (channel.Channel, Identifier, *oauth2.Token, *httptest.Server) {
	ch, srv := stubChannel(t, channel.Threads(), map[string]any{"access_token": "th-short", "user_id": "25000000000000001"},
		threadsAPI(t, everywhere(fail)))
	return ch, ThreadsIdentifier{HTTP: srv.Client(), Credentials: staticCreds{}}, &oauth2.Token{AccessToken: "th-short"}, srv
}

func TestThreadsIdentifiesTheProfile(t *testing.T) {
	ids := identities(t, threadsSetup)
	sameIdentities(t, ids, []Identity{{ExternalID: "25000000000000001", Name: "@olivia.bakes", Kind: account.KindCompany}})
	if ids[0].Token == nil || ids[0].Token.AccessToken != "th-long" {
		t.Fatal("the profile should carry the long-lived token")
	}
}

func TestThreadsConnectsEndToEnd(t *testing.T) {
	f := newFixture(t)
	ch, id, _, _ := threadsSetup(t, nil)
	f.useChannel(t, ch, id)
	out, err := f.connectVia(t, omar, "threads")
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	if len(out.Accounts) != 1 {
		t.Fatalf("connected %d accounts, want 1", len(out.Accounts))
	}
	a := out.Accounts[0]
	if a.ExternalID != "25000000000000001" || a.DisplayName != "@olivia.bakes" || a.OwnerID != "u-omar" || a.ParentProfileID != "" ||
		a.State != account.StateActive || !a.Refreshable || !a.TokenExpiresAt.Equal(t0.Add(5183944*time.Second)) {
		t.Fatalf("Threads account = %+v", a)
	}
	if access, _ := f.sealed(t, a); access != "th-long" {
		t.Fatal("the short-lived token was sealed instead of the long-lived one")
	}
}
