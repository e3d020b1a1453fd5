package connect

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"testing"

	"golang.org/x/oauth2"

	"github.com/relinkhq/relink/internal/account"
	"github.com/relinkhq/relink/internal/channel"
	"github.com/relinkhq/relink/internal/sandbox"
)

// instagramAPI answers like the Graph API for Instagram via Facebook Login (channels.md
// §1.1, §2.1): the long-lived exchange, /me, and /me/accounts over two pages, where
// one Page has no linked professional account and one lacks CREATE_CONTENT.
func instagramAPI(t *testing.T, fails map[string]answer) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if a, ok := failure(fails, r.URL.Path); ok {
			a.write(w)
			return
		}
		q := r.URL.Query()
		switch r.URL.Path {
		case "/v19.0/oauth/access_token":
			if q.Get("grant_type") != "fb_exchange_token" || q.Get("client_id") != "relink-local" ||
				q.Get("client_secret") != sandbox.ClientSecret || q.Get("fb_exchange_token") != "short-user" {
				t.Errorf("long-lived exchange with %v", q)
			}
			writeJSON(w, 200, map[string]any{"access_token": "long-user", "token_type": "bearer", "expires_in": 5183944})
		case "/v19.0/me":
			if bearer(t, w, r, "long-user") {
				writeJSON(w, 200, map[string]any{"id": "fb-user-1"})
			}
		case "/v19.0/me/accounts":
			if !bearer(t, w, r, "long-user") {
				return
			}
			if q.Get("fields") != "id,name,access_token,tasks,instagram_business_account{id,username,name}" {
				t.Errorf("/me/accounts fields = %q", q.Get("fields"))
			}
			all := []string{"ANALYZE", "ADVERTISE", "MESSAGING", "MODERATE", "CREATE_CONTENT", "MANAGE"}
			if q.Get("after") == "" {
				writeJSON(w, 200, map[string]any{
					"data": []map[string]any{
						{"id": "page-1", "name": "Olivia Bakery", "access_token": "page-token-1", "tasks": all,
							"instagram_business_account": map[string]any{"id": "17841400000000001", "username": "oliviabakery", "name": "Olivia Bakery"}},
						{"id": "page-2", "name": "Olivia Archive", "access_token": "page-token-2", "tasks": all},
					},
					"paging": map[string]any{"cursors": map[string]any{"before": "b0", "after": "c1"},
						"next": "http://" + r.Host + "/v19.0/me/accounts?" + url.Values{"fields": {q.Get("fields")}, "after": {"c1"}}.Encode()},
				})
				return
			}
			writeJSON(w, 200, map[string]any{
				"data": []map[string]any{
					{"id": "page-3", "name": "Olivia Cafe", "access_token": "page-token-3", "tasks": []string{"ANALYZE", "MODERATE"},
						"instagram_business_account": map[string]any{"id": "17841400000000002", "username": "oliviacafe", "name": "Olivia Cafe"}},
				},
				"paging": map[string]any{"cursors": map[string]any{"before": "c1", "after": "c2"}},
			})
		default:
			http.NotFound(w, r)
		}
	}
}

func instagramStub(t *testing.T, fails map[string]answer) (channel.Channel, Identifier, *oauth2.Token, *httptest.Server) {
	ch, srv := stubChannel(t, channel.Instagram(), map[string]any{"access_token": "short-user", "token_type": "bearer", "expires_in": 5000},
		instagramAPI(t, fails))
	id := InstagramIdentifier{HTTP: srv.Client(), GraphURL: rebase(t, DefaultGraphURL, srv.URL), Credentials: staticCreds{}}
	return ch, id, &oauth2.Token{AccessToken: "short-user"}, srv
}

func instagramSetup(t *testing.T, fail *answer) (channel.Channel, Identifier, *oauth2.Token, *httptest.Server) {
	return instagramStub(t, everywhere(fail))
}

func TestInstagramIdentifiesLinkedAccounts(t *testing.T) {
	ids := identities(t, instagramSetup)
	sameIdentities(t, ids, []Identity{
		{ExternalID: "17841400000000001", Name: "@oliviabakery", Parent: "fb-user-1", Kind: account.KindCompany,
			Tasks: []string{"ANALYZE", "ADVERTISE", "MESSAGING", "MODERATE", "CREATE_CONTENT", "MANAGE"}},
		{ExternalID: "17841400000000002", Name: "@oliviacafe", Parent: "fb-user-1", Kind: account.KindCompany,
			Tasks: []string{"ANALYZE", "MODERATE"}},
	})
	if ids[0].Token.AccessToken != "page-token-1" || ids[1].Token.AccessToken != "page-token-3" {
		t.Fatal("each account should carry its linked Page's own token")
	}
}

func TestInstagramConnectsEndToEnd(t *testing.T) {
	f := newFixture(t)
	ch, id, _, _ := instagramSetup(t, nil)
	f.useChannel(t, ch, id)
	out, err := f.connectVia(t, olivia, "instagram")
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	if len(out.Accounts) != 2 {
		t.Fatalf("connected %d accounts, want 2", len(out.Accounts))
	}
	all := f.all(t)
	for ext, want := range map[string]string{"17841400000000001": "page-token-1", "17841400000000002": "page-token-3"} {
		a := all[ext]
		if a.Channel != "instagram" || a.ParentProfileID != "fb-user-1" || a.OwnerID != "u-olivia" || a.Kind != account.KindCompany ||
			a.Refreshable || !a.TokenExpiresAt.IsZero() {
			t.Fatalf("%s = %+v", ext, a)
		}
		if access, _ := f.sealed(t, a); access != want {
			t.Fatalf("%s sealed the wrong token", ext)
		}
	}
	if a := all["17841400000000001"]; a.State != account.StateActive || a.DisplayName != "@oliviabakery" {
		t.Fatalf("account whose Page grants every task = %+v", a)
	}
	b := all["17841400000000002"]
	if b.State != account.StateActionRequired || len(b.Missing) != 1 || b.Missing[0].Name != "CREATE_CONTENT" ||
		b.Missing[0].Kind != channel.KindTask || !slices.Equal(b.Missing[0].Breaks, []account.Capability{account.CapPublish}) {
		t.Fatalf("account whose Page lacks CREATE_CONTENT = %+v", b)
	}
}

func TestInstagramPagesRefusedMidway(t *testing.T) {
	// The Pages list refused after /me answered: the permission is gone (§1.3 code 10).
	ch, id, tok, _ := instagramStub(t, map[string]answer{"/v19.0/me/accounts": {400,
		`{"error":{"message":"(#10) To use 'Page Public Content Access', your use of this endpoint must be reviewed.","type":"OAuthException","code":10,"fbtrace_id":"AbCd"}}`}})
	_, err := id.Identify(context.Background(), ch, tok)
	var te *channel.TokenError
	if !errors.As(err, &te) || te.Reason != account.ReasonPermissionMissing || !te.PermissionMissing {
		t.Fatalf("identify = %v", err)
	}
	// A /me without an ID cannot name the parent profile: refused, classified.
	ch, id, tok, _ = instagramStub(t, map[string]answer{"/v19.0/me": {200, `{"name":"Olivia"}`}})
	if _, err := id.Identify(context.Background(), ch, tok); !errors.As(err, &te) || te.Reason != channel.ReasonRequestRejected {
		t.Fatalf("identify without a user ID = %v", err)
	}
}
