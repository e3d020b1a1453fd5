package probe

import (
	"context"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/relinkhq/relink/internal/account"
	"github.com/relinkhq/relink/internal/channel"
	"github.com/relinkhq/relink/internal/clock"
	"github.com/relinkhq/relink/internal/relink"
	"github.com/relinkhq/relink/internal/vault"
)

const day = 24 * time.Hour

func TestRefreshSandboxRotation(t *testing.T) {
	e := newSandbox(t)
	ctx := context.Background()
	a := acct(e.ch)
	first := e.connect(t, "profile", "publish", "report")

	e.clk.Advance(50 * time.Minute)
	second, g, err := e.p.Refresh(ctx, e.ch, a, first)
	if err != nil {
		t.Fatal(err)
	}
	now := e.clk.Now()
	if second.Refresh == "" || second.Refresh.Reveal() == first.Refresh.Reveal() || second.Access.Reveal() == first.Access.Reveal() {
		t.Fatal("the refresh token was not rotated")
	}
	if !second.AccessExpiresAt.Equal(now.Add(time.Hour)) || !second.RefreshExpiresAt.Equal(now.Add(90*day)) || !second.IssuedAt.Equal(now) {
		t.Errorf("renewed tokens: access %v refresh %v issued %v", second.AccessExpiresAt, second.RefreshExpiresAt, second.IssuedAt)
	}
	if !slices.Equal(g.Scopes, []string{"profile", "publish", "report"}) || !g.Refreshable ||
		!g.TokenExpiresAt.Equal(second.AccessExpiresAt) || !g.RefreshExpiresAt.Equal(second.RefreshExpiresAt) ||
		len(g.Missing) != 2 || g.Missing[0].Name != "engage" || g.Missing[1].Name != "ads" {
		t.Errorf("grant: %+v", g)
	}
	if res, err := e.p.Check(ctx, e.ch, a, second); err != nil || !res.Valid {
		t.Errorf("the renewed token does not work: %+v, %v", res, err)
	}

	// The old refresh token stopped working: a second renewal with it is refused for good.
	_, _, err = e.p.Refresh(ctx, e.ch, a, first)
	te := tokenErr(t, err)
	if !te.Reauth || te.Transient || te.Reason != account.ReasonRevoked || te.ChannelError.Code != "invalid_grant" {
		t.Errorf("old refresh token: %+v", te.Classification)
	}
	noSecret(t, "rotated out", texts(err), first.Refresh.Reveal(), second.Refresh.Reveal(), "sandbox-secret")
	// The newest one still works.
	if _, _, err := e.p.Refresh(ctx, e.ch, a, second); err != nil {
		t.Errorf("newest refresh token: %v", err)
	}

	// An outage at the token endpoint never disconnects.
	e.act(t, "outage", "")
	third, _, _ := e.p.Refresh(ctx, e.ch, a, second)
	if third.Access != "" {
		t.Error("tokens returned with an error")
	}
}

// TestRefreshQuirks: each channel's token endpoint, answered as channels.md documents.
func TestRefreshQuirks(t *testing.T) {
	reg := registry(t, "")
	ctx := context.Background()
	type want struct {
		refresh          string
		accessExpires    time.Time
		refreshExpires   time.Time
		scopes           []string
		clientAuthHeader bool
		form             map[string]string
	}
	for _, tc := range []struct {
		name, id, path string
		stored         vault.Tokens
		answer         string
		want           want
	}{
		{
			name: "google resends no refresh token", id: "youtube", path: "/token",
			stored: vault.Tokens{Access: access, Refresh: "1//stored-refresh", AccessExpiresAt: t0.Add(5 * time.Minute),
				Scopes: []string{"https://www.googleapis.com/auth/youtube.readonly"}},
			answer: `{"access_token":"ya29.new","expires_in":3599,"scope":"https://www.googleapis.com/auth/youtube.readonly","token_type":"Bearer"}`,
			want: want{refresh: "1//stored-refresh", accessExpires: t0.Add(3599 * time.Second),
				scopes: []string{"https://www.googleapis.com/auth/youtube.readonly"},
				form:   map[string]string{"grant_type": "refresh_token", "refresh_token": "1//stored-refresh", "client_id": appID, "client_secret": appSecret}},
		},
		{
			name: "a stored refresh end stands when the token is not resent", id: "pinterest", path: "/v5/oauth/token",
			stored: vault.Tokens{Access: access, Refresh: "pinr.stored", AccessExpiresAt: t0.Add(time.Hour), RefreshExpiresAt: t0.Add(20 * day),
				Scopes: []string{"pins:read"}},
			answer: `{"access_token":"pina.new","response_type":"refresh_token","token_type":"bearer","expires_in":2592000,"scope":"pins:read boards:read"}`,
			want: want{refresh: "pinr.stored", accessExpires: t0.Add(30 * day), refreshExpires: t0.Add(20 * day),
				scopes: []string{"pins:read", "boards:read"}, clientAuthHeader: true,
				form: map[string]string{"grant_type": "refresh_token", "refresh_token": "pinr.stored"}},
		},
		{
			name: "linkedin keeps its fixed refresh end", id: "linkedin", path: "/oauth/v2/accessToken",
			stored: vault.Tokens{Access: access, Refresh: "AQX-stored", AccessExpiresAt: t0.Add(3 * day), RefreshExpiresAt: t0.Add(306 * day),
				Scopes: []string{"rw_organization_admin"}},
			// Even an answer that would extend it to a full year does not.
			answer: `{"access_token":"AQV-new","expires_in":5184000,"refresh_token":"AQX-new","refresh_token_expires_in":31536000,"scope":"rw_organization_admin,w_organization_social"}`,
			want: want{refresh: "AQX-new", accessExpires: t0.Add(60 * day), refreshExpires: t0.Add(306 * day),
				scopes: []string{"rw_organization_admin", "w_organization_social"},
				form:   map[string]string{"grant_type": "refresh_token", "refresh_token": "AQX-stored", "client_id": appID, "client_secret": appSecret}},
		},
		{
			name: "tiktok client_key and refresh_expires_in", id: "tiktok", path: "/v2/oauth/token/",
			stored: vault.Tokens{Access: access, Refresh: "rft.stored", AccessExpiresAt: t0.Add(10 * time.Minute), RefreshExpiresAt: t0.Add(100 * day)},
			answer: `{"open_id":"723f24d7-e717-40f8-a2b6-cb8464cd23b4","scope":"user.info.basic,video.publish","access_token":"act.new","expires_in":7200,` +
				`"refresh_token":"rft.new","refresh_expires_in":15552000,"token_type":"Bearer"}`,
			want: want{refresh: "rft.new", accessExpires: t0.Add(2 * time.Hour), refreshExpires: t0.Add(180 * day),
				scopes: []string{"user.info.basic", "video.publish"},
				form: map[string]string{"grant_type": "refresh_token", "refresh_token": "rft.stored", "client_key": appID,
					"client_secret": appSecret}},
		},
		{
			name: "pinterest basic auth, continuous refresh", id: "pinterest", path: "/v5/oauth/token",
			stored: vault.Tokens{Access: access, Refresh: "pinr.stored", AccessExpiresAt: t0.Add(time.Hour), RefreshExpiresAt: t0.Add(20 * day)},
			answer: `{"access_token":"pina.new","refresh_token":"pinr.new","response_type":"everlasting_refresh","token_type":"bearer","expires_in":2592000,` +
				`"refresh_token_expires_in":5184000,"scope":"boards:read pins:read"}`,
			want: want{refresh: "pinr.new", accessExpires: t0.Add(30 * day), refreshExpires: t0.Add(60 * day),
				scopes: []string{"boards:read", "pins:read"}, clientAuthHeader: true,
				form: map[string]string{"grant_type": "refresh_token", "refresh_token": "pinr.stored"}},
		},
		{
			name: "x basic auth, rotation", id: "x", path: "/2/oauth2/token",
			stored: vault.Tokens{Access: access, Refresh: "x.stored", AccessExpiresAt: t0.Add(time.Minute), Scopes: []string{"tweet.read"}},
			answer: `{"token_type":"bearer","expires_in":7200,"access_token":"x.new","refresh_token":"x.rotated","scope":"tweet.read users.read offline.access"}`,
			want: want{refresh: "x.rotated", accessExpires: t0.Add(2 * time.Hour),
				scopes: []string{"tweet.read", "users.read", "offline.access"}, clientAuthHeader: true,
				form: map[string]string{"grant_type": "refresh_token", "refresh_token": "x.stored"}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t)
			ch := retarget(t, get(t, reg, tc.id), f.URL)
			f.on(tc.path, 200, tc.answer)
			a := acct(ch)
			a.Tasks = []string{"KEPT"}
			nt, g, err := newProber(clock.NewManual(t0), f.Client()).Refresh(ctx, ch, a, tc.stored)
			if err != nil {
				t.Fatal(err)
			}
			w := tc.want
			if nt.Refresh.Reveal() != w.refresh || !nt.AccessExpiresAt.Equal(w.accessExpires) || !nt.RefreshExpiresAt.Equal(w.refreshExpires) ||
				!slices.Equal(nt.Scopes, w.scopes) || !nt.IssuedAt.Equal(t0) || nt.Access == "" {
				t.Errorf("tokens: refresh ok=%v, access expires %v, refresh expires %v, scopes %v, issued %v",
					nt.Refresh.Reveal() == w.refresh, nt.AccessExpiresAt, nt.RefreshExpiresAt, nt.Scopes, nt.IssuedAt)
			}
			if !g.Refreshable || !g.TokenExpiresAt.Equal(w.accessExpires) || !g.RefreshExpiresAt.Equal(w.refreshExpires) ||
				!slices.Equal(g.Scopes, w.scopes) || !slices.Equal(g.Tasks, []string{"KEPT"}) {
				t.Errorf("grant: %+v", g)
			}
			reqs := f.requests()
			if len(reqs) != 1 || reqs[0].path != tc.path || reqs[0].method != http.MethodPost {
				t.Fatalf("requests: %+v", reqs)
			}
			r := reqs[0]
			for k, v := range w.form {
				if r.form.Get(k) != v {
					t.Errorf("form %s = %q, want %q", k, r.form.Get(k), v)
				}
			}
			user, pass, basic := basicAuth(r.header)
			if w.clientAuthHeader != basic || basic && (user != appID || pass != appSecret) || basic && r.form.Has("client_secret") {
				t.Errorf("client authentication: basic=%v form=%v", basic, r.form)
			}
		})
	}
}

func TestRefreshRefusals(t *testing.T) {
	reg := registry(t, "")
	ctx := context.Background()
	stored := vault.Tokens{Access: access, Refresh: "stored-refresh-secret", AccessExpiresAt: t0.Add(time.Minute)}
	for _, tc := range []struct {
		id, path  string
		status    int
		body      string
		reauth    bool
		transient bool
		reason    string
	}{
		{"youtube", "/token", 400, `{"error":"invalid_grant","error_description":"Token has been expired or revoked."}`, true, false, account.ReasonRevoked},
		{"linkedin", "/oauth/v2/accessToken", 400, `{"error":"invalid_grant","error_description":"The provided authorization grant or refresh token is invalid, expired or revoked."}`,
			true, false, account.ReasonRevoked},
		{"tiktok", "/v2/oauth/token/", 400, `{"error":"invalid_grant","error_description":"Refresh token is invalid or expired.","log_id":"2022"}`, true, false, account.ReasonRevoked},
		{"x", "/2/oauth2/token", 400, `{"error":"invalid_request","error_description":"Value passed for the token was invalid."}`, true, false, account.ReasonRevoked},
		{"pinterest", "/v5/oauth/token", 401, `{"code":2,"message":"Authentication failed."}`, true, false, account.ReasonInvalidToken},
		{"youtube", "/token", 503, `<html>unavailable</html>`, false, true, account.ReasonTransient},
		{"tiktok", "/v2/oauth/token/", 500, `{"error":"invalid_grant"}`, false, true, account.ReasonTransient},
		{"x", "/2/oauth2/token", 429, `{"title":"Too Many Requests","detail":"Too Many Requests","type":"about:blank","status":429}`, false, true, account.ReasonTransient},
		// Relink's own client authentication is wrong: not the account's fault.
		{"x", "/2/oauth2/token", 401, `{"error":"unauthorized_client","error_description":"Missing valid authorization header"}`, false, false, channel.ReasonRequestRejected},
	} {
		f := newFake(t)
		ch := retarget(t, get(t, reg, tc.id), f.URL)
		f.on(tc.path, tc.status, tc.body)
		nt, _, err := newProber(clock.NewManual(t0), f.Client()).Refresh(ctx, ch, acct(ch), stored)
		te := tokenErr(t, err)
		if te.Reauth != tc.reauth || te.Transient != tc.transient || te.Reason != tc.reason || te.Status != tc.status || nt.Access != "" {
			t.Errorf("%s %d: %+v", tc.id, tc.status, te)
		}
		noSecret(t, tc.id, texts(err), access, stored.Refresh.Reveal(), appSecret)
	}

	// No answer at all.
	f := newFake(t)
	yt := retarget(t, get(t, reg, "youtube"), f.URL)
	f.Close()
	_, _, err := newProber(clock.NewManual(t0), nil).Refresh(ctx, yt, acct(yt), stored)
	if te := tokenErr(t, err); !te.Transient || te.Reauth {
		t.Errorf("closed token endpoint: %+v", te)
	}

	// No credentials is Relink's fault, not the channel's.
	p := &Prober{Credentials: creds{missing: map[string]bool{"youtube": true}}, Clock: clock.NewManual(t0)}
	if _, _, err := p.Refresh(ctx, yt, acct(yt), stored); relink.ErrorCode(err) != relink.EUNAVAILABLE {
		t.Errorf("no credentials: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, _, err := newProber(clock.NewManual(t0), nil).Refresh(cctx, yt, acct(yt), stored); relink.ErrorCode(err) != relink.EUNAVAILABLE {
		t.Errorf("cancelled: %v", err)
	}
}

func TestSelfRefresh(t *testing.T) {
	reg := registry(t, "")
	ctx := context.Background()
	for _, tc := range []struct{ id, grant string }{{"instagram_login", "ig_refresh_token"}, {"threads", "th_refresh_token"}} {
		t.Run(tc.id, func(t *testing.T) {
			f := newFake(t)
			ch := retarget(t, get(t, reg, tc.id), f.URL)
			f.on("/refresh_access_token", 200, `{"access_token":"renewed-long-lived","token_type":"bearer","expires_in":5183944}`)
			clk := clock.NewManual(t0)
			p := newProber(clk, f.Client())
			a := acct(ch)
			issued := t0.Add(-2 * time.Hour)
			stored := vault.Tokens{Access: access, AccessExpiresAt: issued.Add(60 * day), IssuedAt: issued, Scopes: ch.Scopes(), TokenType: "bearer"}

			// Less than a day old: refused here, without asking the channel.
			_, _, err := p.Refresh(ctx, ch, a, stored)
			te := tokenErr(t, err)
			if te.Reauth || te.Transient || te.PermissionMissing || te.Message == "" || len(f.requests()) != 0 {
				t.Fatalf("too young: %+v, %d calls", te, len(f.requests()))
			}
			if NeedsRefresh(ch, stored, clk.Now()) {
				t.Error("NeedsRefresh for a token younger than a day")
			}

			clk.Set(issued.Add(day + time.Minute))
			nt, g, err := p.Refresh(ctx, ch, a, stored)
			if err != nil {
				t.Fatal(err)
			}
			now := clk.Now()
			if nt.Access.Reveal() != "renewed-long-lived" || nt.Refresh != "" || !nt.IssuedAt.Equal(now) ||
				!nt.AccessExpiresAt.Equal(now.Add(5183944*time.Second)) || !slices.Equal(nt.Scopes, ch.Scopes()) {
				t.Errorf("renewed: expires %v issued %v scopes %v", nt.AccessExpiresAt, nt.IssuedAt, nt.Scopes)
			}
			if !g.Refreshable || !g.TokenExpiresAt.Equal(nt.AccessExpiresAt) || g.Missing != nil {
				t.Errorf("grant: %+v", g)
			}
			r := f.requests()[0]
			if r.method != http.MethodGet || r.query.Get("grant_type") != tc.grant || r.query.Get("access_token") != access {
				t.Errorf("request: %s %v", r.method, r.query)
			}

			// Sealed before IssuedAt was recorded: old enough.
			old := stored
			old.IssuedAt = time.Time{}
			clk.Set(t0)
			if _, _, err := p.Refresh(ctx, ch, a, old); err != nil {
				t.Errorf("unknown issue time: %v", err)
			}

			// Expired: it can no longer renew itself; no call is made.
			n := len(f.requests())
			clk.Set(stored.AccessExpiresAt.Add(time.Second))
			_, _, err = p.Refresh(ctx, ch, a, stored)
			if te := tokenErr(t, err); !te.Reauth || te.Reason != account.ReasonExpired || len(f.requests()) != n {
				t.Errorf("expired: %+v", te)
			}

			// The channel refuses: its own classification.
			clk.Set(issued.Add(2 * day))
			f.on("/refresh_access_token", 400, `{"error":{"message":"Error validating access token: The session has been invalidated because the user changed their password.","type":"OAuthException","code":190,"error_subcode":460}}`)
			_, _, err = p.Refresh(ctx, ch, a, stored)
			if te := tokenErr(t, err); !te.Reauth || te.Reason != account.ReasonPasswordChanged || te.Status != 400 {
				t.Errorf("refused: %+v", te)
			}
			f.on("/refresh_access_token", 503, ``)
			_, _, err = p.Refresh(ctx, ch, a, stored)
			if te := tokenErr(t, err); !te.Transient || te.Reauth {
				t.Errorf("outage: %+v", te)
			}
			f.on("/refresh_access_token", 200, `{"token_type":"bearer"}`)
			_, _, err = p.Refresh(ctx, ch, a, stored)
			if te := tokenErr(t, err); te.Reauth || te.Transient {
				t.Errorf("no access token in the answer: %+v", te)
			}
			noSecret(t, tc.id, texts(err), access)
		})
	}
}

func TestRefreshNotRenewable(t *testing.T) {
	reg := registry(t, "")
	for _, tc := range []struct {
		id     string
		tokens vault.Tokens
	}{
		{"facebook", vault.Tokens{Access: access}},
		{"instagram", vault.Tokens{Access: access, AccessExpiresAt: t0.Add(day)}},
		{"linkedin", vault.Tokens{Access: access, AccessExpiresAt: t0.Add(day)}}, // not an approved partner: no refresh token
	} {
		f := newFake(t)
		ch := retarget(t, get(t, reg, tc.id), f.URL)
		_, _, err := newProber(clock.NewManual(t0), f.Client()).Refresh(context.Background(), ch, acct(ch), tc.tokens)
		te := tokenErr(t, err)
		if te.Reauth || te.Transient || te.PermissionMissing || te.Reason != channel.ReasonRequestRejected || te.Message == "" || len(f.requests()) != 0 {
			t.Errorf("%s: %+v", tc.id, te)
		}
		if NeedsRefresh(ch, tc.tokens, t0.Add(day)) {
			t.Errorf("%s: NeedsRefresh", tc.id)
		}
	}
}

func TestNeedsRefresh(t *testing.T) {
	reg := registry(t, "http://127.0.0.1:9")
	yt, ig, fb, sb := get(t, reg, "youtube"), get(t, reg, "instagram_login"), get(t, reg, "facebook"), get(t, reg, channel.SandboxID)
	google := vault.Tokens{Access: access, Refresh: "r", AccessExpiresAt: t0.Add(time.Hour)} // lead 10 min
	igTok := vault.Tokens{Access: access, AccessExpiresAt: t0.Add(60 * day), IssuedAt: t0}   // lead 7 days, min age 1 day
	sbTok := vault.Tokens{Access: access, Refresh: "r", AccessExpiresAt: t0.Add(time.Hour), RefreshExpiresAt: t0.Add(90 * day)}
	for _, tc := range []struct {
		name string
		ch   channel.Channel
		t    vault.Tokens
		at   time.Time
		want bool
	}{
		{"google fresh", yt, google, t0, false},
		{"google just before the lead", yt, google, t0.Add(49*time.Minute + 59*time.Second), false},
		{"google at the lead", yt, google, t0.Add(50 * time.Minute), true},
		{"google expired", yt, google, t0.Add(2 * time.Hour), true},
		{"google without a refresh token", yt, vault.Tokens{Access: access, AccessExpiresAt: t0.Add(time.Hour)}, t0.Add(55 * time.Minute), false},
		{"no known expiry", yt, vault.Tokens{Access: access, Refresh: "r"}, t0.Add(100 * day), false},
		{"sandbox in the lead", sb, sbTok, t0.Add(55 * time.Minute), true},
		{"sandbox refresh token ended", sb, sbTok, t0.Add(91 * day), false},
		{"instagram login fresh", ig, igTok, t0.Add(day), false},
		{"instagram login in the lead", ig, igTok, t0.Add(53 * day), true},
		{"instagram login in the lead, too young", ig, vault.Tokens{Access: access, AccessExpiresAt: t0.Add(3 * day), IssuedAt: t0}, t0.Add(12 * time.Hour), false},
		{"instagram login in the lead, old enough", ig, vault.Tokens{Access: access, AccessExpiresAt: t0.Add(3 * day), IssuedAt: t0}, t0.Add(day), true},
		{"instagram login unknown issue time", ig, vault.Tokens{Access: access, AccessExpiresAt: t0.Add(3 * day)}, t0, true},
		{"instagram login expired", ig, igTok, t0.Add(60 * day), false},
		{"facebook page token", fb, vault.Tokens{Access: access}, t0.Add(365 * day), false},
		{"facebook user token near its end", fb, vault.Tokens{Access: access, AccessExpiresAt: t0.Add(day)}, t0, false},
	} {
		if got := NeedsRefresh(tc.ch, tc.t, tc.at); got != tc.want {
			t.Errorf("%s: NeedsRefresh = %v, want %v", tc.name, got, tc.want)
		}
	}
}
