package connect

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/relinkhq/relink/internal/account"
	"github.com/relinkhq/relink/internal/channel"
)

// youtubeServer answers Google's token endpoint and YouTube's channels.list
// (channels.md §5); fail, when set, is the body channels.list answers with HTTP 401.
func youtubeServer(t *testing.T, scopes []string, fail map[string]any) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/token" && r.Method == http.MethodPost:
			writeJSON(w, 200, map[string]any{"access_token": "ya29.access", "refresh_token": "1//refresh", "expires_in": 3599,
				"token_type": "Bearer", "scope": strings.Join(scopes, " ")})
		case r.URL.Path == "/youtube/v3/channels":
			if q := r.URL.Query(); q.Get("part") != "snippet" || q.Get("mine") != "true" || r.Header.Get("Authorization") != "Bearer ya29.access" {
				t.Errorf("channels.list called with %v, %q", q, r.Header.Get("Authorization"))
			}
			if fail != nil {
				writeJSON(w, 401, fail)
				return
			}
			writeJSON(w, 200, map[string]any{"kind": "youtube#channelListResponse", "pageInfo": map[string]any{"totalResults": 1, "resultsPerPage": 5},
				"items": []map[string]any{{"kind": "youtube#channel", "id": "UC-olivia", "snippet": map[string]any{"title": "Olivia Bakes", "description": "Cakes"}}}})
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func youtubeFixture(t *testing.T, fail map[string]any) *fixture {
	f := newFixture(t)
	yt := channel.YouTube()
	srv := youtubeServer(t, yt.Scopes(), fail)
	yt.Endpoints.TokenURL = srv.URL + "/token"
	f.useChannel(t, yt, GoogleIdentifier{HTTP: srv.Client(), APIURL: srv.URL})
	return f
}

func TestYouTubeConnectsChannel(t *testing.T) {
	f := youtubeFixture(t, nil)
	out, err := f.callback(t, olivia, "youtube")
	if err != nil {
		t.Fatalf("callback: %v", err)
	}
	if len(out.Accounts) != 1 {
		t.Fatalf("connected %d accounts, want 1", len(out.Accounts))
	}
	a := out.Accounts[0]
	if a.ExternalID != "UC-olivia" || a.DisplayName != "Olivia Bakes" || a.ParentProfileID != "" || a.Kind != account.KindCompany ||
		a.State != account.StateActive || !a.Refreshable || !a.TokenExpiresAt.Equal(t0.Add(3599e9)) {
		t.Fatalf("YouTube account = %+v", a)
	}
	sealed, _ := f.store.GetTokens(context.Background(), ws, a.ID)
	tok, err := f.vault.OpenTokens(context.Background(), sealed, ws+"/"+a.ID)
	if err != nil || tok.Access.Reveal() != "ya29.access" || tok.Refresh.Reveal() != "1//refresh" {
		t.Fatalf("sealed tokens: %v", err)
	}
}

func TestYouTubeAuthErrorCreatesNothing(t *testing.T) {
	f := youtubeFixture(t, map[string]any{"error": map[string]any{"code": 401,
		"message": "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.",
		"errors":  []map[string]any{{"message": "Invalid Credentials", "domain": "global", "reason": "authError", "location": "Authorization", "locationType": "header"}},
		"status":  "UNAUTHENTICATED"}})
	_, err := f.callback(t, olivia, "youtube")
	var te *channel.TokenError
	if err == nil || !errors.As(err, &te) || te.Status != 401 || te.Transient {
		t.Fatalf("callback on a 401 authError: %v", err)
	}
	if n := len(f.all(t)); n != 0 {
		t.Fatalf("a refused identity call created %d accounts", n)
	}
}
