package connect

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/relinkhq/relink/internal/account"
	"github.com/relinkhq/relink/internal/channel"
)

// tiktokAPI answers GET /v2/user/info/ like TikTok's API v2 (channels.md §7), whose
// successes carry "error":{"code":"ok"}.
func tiktokAPI(t *testing.T, fails map[string]answer, info map[string]any) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if a, ok := failure(fails, r.URL.Path); ok {
			a.write(w)
			return
		}
		if r.URL.Path != "/v2/user/info/" {
			http.NotFound(w, r)
			return
		}
		if f := r.URL.Query().Get("fields"); f != "open_id,display_name" {
			t.Errorf("user info fields = %q", f)
		}
		if bearer(t, w, r, "act.tiktok") {
			writeJSON(w, 200, info)
		}
	}
}

var tiktokInfo = map[string]any{"data": map[string]any{"user": map[string]any{"open_id": "-000abcdOpenID1", "display_name": "Acme Tok"}},
	"error": map[string]any{"code": "ok", "message": "", "log_id": "20261123090000CBE87ED59D524E727021"}}

func tiktokStub(t *testing.T, fails map[string]answer, info map[string]any) (channel.Channel, Identifier, *oauth2.Token, *httptest.Server) {
	// Every scope but video.list is granted, so reports break.
	ch, srv := stubChannel(t, channel.TikTok(), map[string]any{"access_token": "act.tiktok", "expires_in": 7200, "open_id": "-000abcdOpenID1",
		"refresh_expires_in": 15552000, "refresh_token": "rft.tiktok", "token_type": "Bearer",
		"scope": "user.info.basic,video.publish,video.upload,user.info.stats,user.info.profile"}, tiktokAPI(t, fails, info))
	return ch, TikTokIdentifier{HTTP: srv.Client()}, &oauth2.Token{AccessToken: "act.tiktok", TokenType: "Bearer"}, srv
}

func tiktokSetup(t *testing.T, fail *answer) (channel.Channel, Identifier, *oauth2.Token, *httptest.Server) {
	return tiktokStub(t, everywhere(fail), tiktokInfo)
}

func TestTikTokIdentifiesTheAccount(t *testing.T) {
	sameIdentities(t, identities(t, tiktokSetup), []Identity{{ExternalID: "-000abcdOpenID1", Name: "Acme Tok", Kind: account.KindCompany}})
	// A refusal under HTTP 200 is still a refusal, classified by its code.
	ch, id, tok, _ := tiktokStub(t, nil, map[string]any{"data": map[string]any{},
		"error": map[string]any{"code": "scope_not_authorized", "message": "The user did not authorize the scope required for completing this request.", "log_id": "2026112309"}})
	var te *channel.TokenError
	if _, err := id.Identify(context.Background(), ch, tok); !errors.As(err, &te) || te.Reason != account.ReasonPermissionMissing ||
		te.ChannelError.Code != "scope_not_authorized" {
		t.Fatalf("identify on a 200 refusal = %v", err)
	}
	// "ok" without a user is nothing to connect.
	ch, id, tok, _ = tiktokStub(t, nil, map[string]any{"data": map[string]any{}, "error": map[string]any{"code": "ok"}})
	if _, err := id.Identify(context.Background(), ch, tok); !errors.As(err, &te) || te.Reason != channel.ReasonRequestRejected {
		t.Fatalf("identify on an empty success = %v", err)
	}
}

func TestTikTokConnectsEndToEnd(t *testing.T) {
	f := newFixture(t)
	ch, id, _, _ := tiktokSetup(t, nil)
	f.useChannel(t, ch, id)
	out, err := f.connectVia(t, olivia, "tiktok")
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	if len(out.Accounts) != 1 {
		t.Fatalf("connected %d accounts, want 1", len(out.Accounts))
	}
	a := out.Accounts[0]
	if a.ExternalID != "-000abcdOpenID1" || a.DisplayName != "Acme Tok" || a.Kind != account.KindCompany ||
		a.State != account.StateActionRequired || len(a.Missing) != 1 || a.Missing[0].Name != "video.list" ||
		!slices.Equal(a.Missing[0].Breaks, []account.Capability{account.CapReport}) ||
		!a.Refreshable || !a.TokenExpiresAt.Equal(t0.Add(2*time.Hour)) || !a.RefreshExpiresAt.Equal(t0.Add(180*24*time.Hour)) {
		t.Fatalf("TikTok account = %+v", a)
	}
	if access, refresh := f.sealed(t, a); access != "act.tiktok" || refresh != "rft.tiktok" {
		t.Fatal("sealed tokens are not the login's")
	}
}
