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

// googleBusinessAPI answers like the Business Profile APIs (channels.md §5): the
// account management API's accounts list over two pages (the person's own account and
// a location group), and the business information API's locations of each, paged,
// with one location listed under both.
func googleBusinessAPI(t *testing.T, fails map[string]answer) http.HandlerFunc {
	loc := func(name, title string) map[string]any { return map[string]any{"name": name, "title": title} }
	return func(w http.ResponseWriter, r *http.Request) {
		if a, ok := failure(fails, r.URL.Path); ok {
			a.write(w)
			return
		}
		if !bearer(t, w, r, "ya29.gbp") {
			return
		}
		q := r.URL.Query()
		page := q.Get("pageToken")
		switch r.URL.Path {
		case "/v1/accounts":
			if q.Get("pageSize") != "20" {
				t.Errorf("accounts.list pageSize %q", q.Get("pageSize"))
			}
			if page == "" {
				writeJSON(w, 200, map[string]any{"accounts": []map[string]any{{"name": "accounts/1111", "accountName": "Olivia Baker",
					"type": "PERSONAL", "role": "PRIMARY_OWNER", "verificationState": "UNVERIFIED", "vettedState": "NOT_VETTED"}},
					"nextPageToken": "acc-2"})
				return
			}
			writeJSON(w, 200, map[string]any{"accounts": []map[string]any{{"name": "accounts/2222", "accountName": "Acme Stores",
				"type": "LOCATION_GROUP", "role": "MANAGER", "verificationState": "VERIFIED"}}})
		case "/v1/accounts/1111/locations", "/v1/accounts/2222/locations":
			if q.Get("readMask") != "name,title" || q.Get("pageSize") != "100" {
				t.Errorf("locations.list with %v", q)
			}
			switch {
			case strings.Contains(r.URL.Path, "1111") && page == "":
				writeJSON(w, 200, map[string]any{"locations": []map[string]any{loc("locations/8800001", "Acme Store Amsterdam")},
					"nextPageToken": "loc-2", "totalSize": 2})
			case strings.Contains(r.URL.Path, "1111"):
				writeJSON(w, 200, map[string]any{"locations": []map[string]any{loc("locations/8800002", "Acme Store Utrecht")}, "totalSize": 2})
			default:
				writeJSON(w, 200, map[string]any{"locations": []map[string]any{loc("locations/8800002", "Acme Store Utrecht"),
					loc("locations/8800003", "Acme Outlet"), loc("../../evil", "Not a location")}})
			}
		default:
			http.NotFound(w, r)
		}
	}
}

func googleBusinessStub(t *testing.T, fails map[string]answer) (channel.Channel, Identifier, *oauth2.Token, *httptest.Server) {
	ch, srv := stubChannel(t, channel.GoogleBusiness(), map[string]any{"access_token": "ya29.gbp", "refresh_token": "1//gbp-refresh",
		"expires_in": 3599, "token_type": "Bearer", "scope": "https://www.googleapis.com/auth/business.manage"},
		googleBusinessAPI(t, fails))
	return ch, GoogleBusinessIdentifier{HTTP: srv.Client()}, &oauth2.Token{AccessToken: "ya29.gbp", TokenType: "Bearer"}, srv
}

func googleBusinessSetup(t *testing.T, fail *answer) (channel.Channel, Identifier, *oauth2.Token, *httptest.Server) {
	return googleBusinessStub(t, everywhere(fail))
}

func TestGoogleBusinessIdentifiesLocations(t *testing.T) {
	ch := channel.GoogleBusiness()
	if !strings.HasPrefix(ch.IdentityURL, "https://mybusinessaccountmanagement.googleapis.com/") ||
		!strings.HasPrefix(ch.AccountsURL, "https://mybusinessbusinessinformation.googleapis.com/") {
		t.Fatalf("registry URLs: %q, %q", ch.IdentityURL, ch.AccountsURL)
	}
	ids := identities(t, googleBusinessSetup)
	sameIdentities(t, ids, []Identity{
		{ExternalID: "locations/8800001", Name: "Acme Store Amsterdam", Parent: "accounts/1111", Kind: account.KindCompany, Tasks: []string{"PRIMARY_OWNER"}},
		{ExternalID: "locations/8800002", Name: "Acme Store Utrecht", Parent: "accounts/1111", Kind: account.KindCompany, Tasks: []string{"PRIMARY_OWNER"}},
		{ExternalID: "locations/8800003", Name: "Acme Outlet", Parent: "accounts/1111", Kind: account.KindCompany, Tasks: []string{"MANAGER"}},
	})
}

func TestGoogleBusinessRefusals(t *testing.T) {
	// Locations refused after the accounts answered: the scope is missing (§5, 403).
	ch, id, tok, _ := googleBusinessStub(t, map[string]answer{"/v1/accounts/2222/locations": {403,
		`{"error":{"code":403,"message":"Request had insufficient authentication scopes.","errors":[{"message":"Insufficient Permission","domain":"global","reason":"insufficientPermissions"}],"status":"PERMISSION_DENIED","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"ACCESS_TOKEN_SCOPE_INSUFFICIENT","domain":"googleapis.com","metadata":{"service":"mybusinessbusinessinformation.googleapis.com"}}]}}`}})
	_, err := id.Identify(context.Background(), ch, tok)
	var te *channel.TokenError
	if !errors.As(err, &te) || te.Reason != account.ReasonPermissionMissing || te.Status != 403 {
		t.Fatalf("identify = %v", err)
	}
	// The API not yet approved for the project answers 429 with a zero quota: retry later.
	ch, id, tok, _ = googleBusinessStub(t, map[string]answer{"/v1/accounts": {429,
		`{"error":{"code":429,"message":"Quota exceeded for quota metric 'Requests' and limit 'Requests per minute' of service 'mybusinessaccountmanagement.googleapis.com'.","status":"RESOURCE_EXHAUSTED"}}`}})
	if _, err := id.Identify(context.Background(), ch, tok); !errors.As(err, &te) || !te.Transient || te.Reauth {
		t.Fatalf("identify on a zero quota = %v", err)
	}
}

func TestGoogleBusinessConnectsEndToEnd(t *testing.T) {
	f := newFixture(t)
	ch, id, _, _ := googleBusinessSetup(t, nil)
	f.useChannel(t, ch, id)
	out, err := f.connectVia(t, omar, "google_business")
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	if len(out.Accounts) != 3 {
		t.Fatalf("connected %d accounts, want 3", len(out.Accounts))
	}
	for _, a := range out.Accounts {
		if !strings.HasPrefix(a.ExternalID, "locations/") || a.ParentProfileID != "accounts/1111" || a.OwnerID != "u-omar" ||
			a.Kind != account.KindCompany || a.State != account.StateActive || len(a.Missing) != 0 || !a.Refreshable ||
			!a.TokenExpiresAt.Equal(t0.Add(3599*time.Second)) {
			t.Fatalf("Business Profile location = %+v", a)
		}
		if access, refresh := f.sealed(t, a); access != "ya29.gbp" || refresh != "1//gbp-refresh" {
			t.Fatal("sealed tokens are not the login's")
		}
	}
	if all := f.all(t); all["locations/8800001"].DisplayName != "Acme Store Amsterdam" {
		t.Fatalf("accounts = %+v", all)
	}
}
