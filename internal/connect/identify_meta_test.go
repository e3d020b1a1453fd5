package connect

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/relinkhq/relink/internal/account"
	"github.com/relinkhq/relink/internal/channel"
	"github.com/relinkhq/relink/internal/relink"
	"github.com/relinkhq/relink/internal/sandbox"
)

// useChannel points the fixture's service at one real channel entry whose token
// endpoint is a test server, identified by id.
func (f *fixture) useChannel(t *testing.T, ch channel.Channel, id Identifier) {
	t.Helper()
	reg, err := channel.NewRegistry(ch)
	if err != nil {
		t.Fatal(err)
	}
	f.svc.Registry = reg
	f.svc.Identifiers = map[string]Identifier{ch.ID: id}
}

// callback plays a consent the channel accepted: Start for the state, then Callback
// with it and any code.
func (f *fixture) callback(t *testing.T, who Who, channelID string) (Outcome, error) {
	t.Helper()
	u, err := f.svc.Start(context.Background(), who, channelID, "")
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	return f.svc.Callback(context.Background(), Callback{State: stateOf(t, u), Code: "code-1"})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// graphServer answers like the Graph API (channels.md §1): the code exchange, the
// long-lived exchange, /me and /me/accounts over two pages of results. accountsFail,
// when set, is the body /me/accounts answers with HTTP 400.
func graphServer(t *testing.T, accountsFail map[string]any) *httptest.Server {
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		bearer := r.Header.Get("Authorization")
		switch {
		case r.URL.Path == "/oauth/access_token" && r.Method == http.MethodPost:
			if err := r.ParseForm(); err != nil || r.PostForm.Get("code") != "code-1" {
				writeJSON(w, 400, map[string]any{"error": map[string]any{"message": "bad code", "type": "OAuthException", "code": 100}})
				return
			}
			writeJSON(w, 200, map[string]any{"access_token": "short-user", "token_type": "bearer", "expires_in": 5000})
		case r.URL.Path == "/oauth/access_token":
			if q.Get("grant_type") != "fb_exchange_token" || q.Get("client_id") != "relink-local" ||
				q.Get("client_secret") != sandbox.ClientSecret || q.Get("fb_exchange_token") != "short-user" {
				t.Errorf("long-lived exchange with %v", q)
				writeJSON(w, 400, map[string]any{"error": map[string]any{"message": "bad", "type": "OAuthException", "code": 100}})
				return
			}
			writeJSON(w, 200, map[string]any{"access_token": "long-user", "token_type": "bearer", "expires_in": 5183944})
		case bearer != "Bearer long-user":
			t.Errorf("%s called with %q, want the long-lived token", r.URL.Path, bearer)
			writeJSON(w, 400, map[string]any{"error": map[string]any{"message": "Invalid OAuth access token.", "type": "OAuthException", "code": 190}})
		case r.URL.Path == "/me":
			writeJSON(w, 200, map[string]any{"id": "fb-user-1", "name": "Olivia"})
		case r.URL.Path == "/me/accounts" && accountsFail != nil:
			writeJSON(w, 400, accountsFail)
		case r.URL.Path == "/me/accounts" && q.Get("after") == "":
			if q.Get("fields") != "id,name,tasks,access_token" {
				t.Errorf("/me/accounts fields = %q", q.Get("fields"))
			}
			writeJSON(w, 200, map[string]any{
				"data": []map[string]any{{"id": "page-1", "name": "Olivia Bakery", "access_token": "page-token-1",
					"tasks": []string{"ANALYZE", "ADVERTISE", "MESSAGING", "MODERATE", "CREATE_CONTENT", "MANAGE"}}},
				"paging": map[string]any{"cursors": map[string]any{"before": "b0", "after": "c1"},
					"next": srv.URL + "/me/accounts?fields=id,name,tasks,access_token&after=c1"},
			})
		case r.URL.Path == "/me/accounts":
			writeJSON(w, 200, map[string]any{
				"data": []map[string]any{{"id": "page-2", "name": "Olivia Cafe", "access_token": "page-token-2",
					"tasks": []string{"ANALYZE", "ADVERTISE", "MESSAGING", "MODERATE", "MANAGE"}}},
				"paging": map[string]any{"cursors": map[string]any{"before": "c1", "after": "c2"}},
			})
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func facebookFixture(t *testing.T, accountsFail map[string]any) *fixture {
	f := newFixture(t)
	srv := graphServer(t, accountsFail)
	fb := channel.Facebook()
	fb.Endpoints.TokenURL = srv.URL + "/oauth/access_token"
	fb.Endpoints.ExchangeURL = srv.URL + "/oauth/access_token"
	f.useChannel(t, fb, FacebookIdentifier{HTTP: srv.Client(), GraphURL: srv.URL,
		Credentials: staticCreds{}})
	return f
}

func TestFacebookConnectsPagesWithTheirTokens(t *testing.T) {
	f := facebookFixture(t, nil)
	ctx := context.Background()
	out, err := f.callback(t, olivia, "facebook")
	if err != nil {
		t.Fatalf("callback: %v", err)
	}
	if len(out.Accounts) != 2 {
		t.Fatalf("connected %d accounts, want 2 (both result pages)", len(out.Accounts))
	}
	all := f.all(t)
	for ext, want := range map[string]string{"page-1": "page-token-1", "page-2": "page-token-2"} {
		a := all[ext]
		if a.Channel != "facebook" || a.ParentProfileID != "fb-user-1" || a.OwnerID != "u-olivia" || a.Kind != account.KindCompany ||
			a.Refreshable || !a.TokenExpiresAt.IsZero() {
			t.Fatalf("%s = %+v", ext, a)
		}
		sealed, err := f.store.GetTokens(ctx, ws, a.ID)
		if err != nil {
			t.Fatal(err)
		}
		tok, err := f.vault.OpenTokens(ctx, sealed, ws+"/"+a.ID)
		if err != nil || tok.Access.Reveal() != want || !tok.AccessExpiresAt.IsZero() || tok.Refresh != "" {
			t.Fatalf("%s sealed token: %v, want its own Page token that never expires", ext, err)
		}
	}
	if a := all["page-1"]; a.State != account.StateActive || len(a.Missing) != 0 || a.DisplayName != "Olivia Bakery" {
		t.Fatalf("page with every task = %+v", a)
	}
	b := all["page-2"]
	if b.State != account.StateActionRequired ||
		!slices.EqualFunc(b.Missing, []account.MissingPermission{{Name: "CREATE_CONTENT", Kind: channel.KindTask, Breaks: []account.Capability{account.CapPublish}}},
			func(x, y account.MissingPermission) bool {
				return x.Name == y.Name && x.Kind == y.Kind && slices.Equal(x.Breaks, y.Breaks)
			}) {
		t.Fatalf("page without CREATE_CONTENT = %+v", b)
	}
}

func TestFacebookAccountsRefusedCreatesNothing(t *testing.T) {
	f := facebookFixture(t, map[string]any{"error": map[string]any{"message": "Error validating access token: The user has changed the password.",
		"type": "OAuthException", "code": 190, "error_subcode": 460, "fbtrace_id": "EJplcsCHuLu"}})
	_, err := f.callback(t, olivia, "facebook")
	var te *channel.TokenError
	if relink.ErrorCode(err) != relink.EINVALID || !errors.As(err, &te) || te.Status != 400 || te.Transient {
		t.Fatalf("callback on a 190/460 answer: %v", err)
	}
	if n := len(f.all(t)); n != 0 {
		t.Fatalf("a refused identity call created %d accounts", n)
	}
}
