package probe

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/relinkhq/relink/internal/account"
	"github.com/relinkhq/relink/internal/channel"
	"github.com/relinkhq/relink/internal/clock"
	"github.com/relinkhq/relink/internal/relink"
	"github.com/relinkhq/relink/internal/sandbox"
	"github.com/relinkhq/relink/internal/vault"
)

const access = "stored-access-token-value"

// channelCase is one channel's introspection as channels.md documents it.
type channelCase struct {
	path    string // where the check goes
	valid   reply
	invalid reply
	reason  string // what the invalid answer means
	// scopesReported: the valid answer lists scopes (else the stored ones stand).
	scopesReported bool
	// expiry is what the valid answer says about the token's expiry (zero: never or
	// not reported, see neverExpires).
	expiry       time.Time
	neverExpires bool
	sent         func(t *testing.T, r seen) // checks the request
}

func unix(t time.Time) string { return strconv.FormatInt(t.Unix(), 10) }

func allScopes(ch channel.Channel, sep string) string { return strings.Join(ch.Scopes(), sep) }

func debugTokenSent(t *testing.T, r seen) {
	t.Helper()
	if r.method != http.MethodGet || r.query.Get("input_token") != access || r.query.Get("access_token") != appID+"|"+appSecret {
		t.Errorf("debug_token request: %s %v", r.method, r.query)
	}
}

func bearerSent(t *testing.T, r seen) {
	t.Helper()
	if r.method != http.MethodGet || r.header.Get("Authorization") != "Bearer "+access {
		t.Errorf("me request: %s Authorization %q", r.method, r.header.Get("Authorization"))
	}
}

func channelCases(reg *channel.Registry, t *testing.T) map[string]channelCase {
	exp := t0.Add(50 * 24 * time.Hour).Truncate(time.Second)
	google := func(id string) channelCase {
		ch := get(t, reg, id)
		return channelCase{
			path: "/tokeninfo",
			valid: reply{200, `{"azp":"` + appID + `","aud":"` + appID + `","sub":"1100","scope":"` + allScopes(ch, " ") +
				`","exp":"` + unix(t0.Add(3599*time.Second)) + `","expires_in":"3599","access_type":"offline"}`},
			invalid:        reply{400, `{"error":"invalid_token","error_description":"Invalid Value"}`},
			reason:         account.ReasonExpired, // no refresh token stored: only reconnecting helps
			scopesReported: true, expiry: t0.Add(3599 * time.Second),
			sent: func(t *testing.T, r seen) {
				if r.method != http.MethodGet || r.query.Get("access_token") != access {
					t.Errorf("tokeninfo request: %s %v", r.method, r.query)
				}
			},
		}
	}
	return map[string]channelCase{
		"facebook": {
			path: "/v19.0/debug_token",
			valid: reply{200, `{"data":{"app_id":"` + appID + `","type":"PAGE","application":"Relink","data_access_expires_at":` + unix(exp) +
				`,"expires_at":0,"is_valid":true,"scopes":["` + strings.Join(get(t, reg, "facebook").Scopes(), `","`) + `"],"profile_id":"1015","user_id":"10215241773831025"}}`},
			invalid: reply{200, `{"data":{"app_id":"` + appID + `","type":"PAGE","application":"Relink","expires_at":0,"is_valid":false,` +
				`"error":{"code":190,"message":"Error validating access token: The session has been invalidated because the user changed their password or Facebook has changed the session for security reasons.","subcode":460},"scopes":[]}}`},
			reason: account.ReasonPasswordChanged, scopesReported: true, neverExpires: true, sent: debugTokenSent,
		},
		"instagram": {
			path: "/v19.0/debug_token",
			valid: reply{200, `{"data":{"app_id":"` + appID + `","type":"PAGE","expires_at":0,"is_valid":true,"scopes":["` +
				strings.Join(get(t, reg, "instagram").Scopes(), `","`) + `"]}}`},
			invalid: reply{200, `{"data":{"app_id":"` + appID + `","type":"PAGE","expires_at":0,"is_valid":false,` +
				`"error":{"code":190,"message":"Error validating access token: User has not authorized application.","subcode":458},"scopes":[]}}`},
			reason: account.ReasonAppRemoved, scopesReported: true, neverExpires: true, sent: debugTokenSent,
		},
		"threads": {
			path: "/v1.0/debug_token",
			valid: reply{200, `{"data":{"type":"USER","application":"Relink","data_access_expires_at":` + unix(exp.Add(30*24*time.Hour)) +
				`,"expires_at":` + unix(exp) + `,"is_valid":true,"issued_at":` + unix(t0.Add(-10*24*time.Hour)) + `,"scopes":["` +
				strings.Join(get(t, reg, "threads").Scopes(), `","`) + `"],"user_id":"1234"}}`},
			invalid: reply{200, `{"data":{"type":"USER","is_valid":false,"expires_at":` + unix(t0.Add(-time.Hour)) +
				`,"error":{"code":190,"message":"Error validating access token: Session has expired.","subcode":463}}}`},
			reason: account.ReasonExpired, scopesReported: true, expiry: exp, sent: debugTokenSent,
		},
		"instagram_login": {
			path:  "/me",
			valid: reply{200, `{"user_id":"17841400000000000","username":"brand"}`},
			invalid: reply{400, `{"error":{"message":"Error validating access token: The session has been invalidated because the user changed their password.",` +
				`"type":"OAuthException","code":190,"error_subcode":460,"fbtrace_id":"AbCdEf"}}`},
			reason: account.ReasonPasswordChanged, sent: bearerSent,
		},
		"linkedin": {
			path: "/oauth/v2/introspectToken",
			valid: reply{200, `{"active":true,"client_id":"` + appID + `","authorized_at":1493055596,"created_at":1493055596,"status":"active","expires_at":` +
				unix(exp) + `,"scope":"` + allScopes(get(t, reg, "linkedin"), ",") + `","auth_type":"3L"}`},
			invalid: reply{200, `{"active":false,"status":"revoked"}`},
			reason:  account.ReasonRevoked, scopesReported: true, expiry: exp,
			sent: func(t *testing.T, r seen) {
				if r.method != http.MethodPost || r.form.Get("token") != access || r.form.Get("client_id") != appID || r.form.Get("client_secret") != appSecret {
					t.Errorf("introspectToken request: %s %v", r.method, r.form)
				}
			},
		},
		"youtube":         google("youtube"),
		"google_business": google("google_business"),
		"x": {
			path:    "/2/users/me",
			valid:   reply{200, `{"data":{"id":"2244994945","name":"Brand","username":"brand"}}`},
			invalid: reply{401, `{"title":"Unauthorized","type":"about:blank","status":401,"detail":"Unauthorized"}`},
			reason:  account.ReasonExpired, sent: bearerSent,
		},
		"tiktok": {
			path:  "/v2/user/info/",
			valid: reply{200, `{"data":{"user":{"open_id":"723f24d7-e717-40f8-a2b6-cb8464cd23b4"}},"error":{"code":"ok","message":"","log_id":"20220829194722CBE87ED59D524E727021"}}`},
			invalid: reply{401, `{"data":{},"error":{"code":"access_token_invalid","message":"The access token is invalid or not found in the request.",` +
				`"log_id":"20220829194722CBE87ED59D524E727021"}}`},
			reason: account.ReasonExpired, sent: bearerSent,
		},
		"pinterest": {
			path:    "/v5/user_account",
			valid:   reply{200, `{"account_type":"BUSINESS","username":"brand","profile_image":"https://i.pinimg.com/x.jpg"}`},
			invalid: reply{401, `{"code":2,"message":"Authentication failed."}`},
			reason:  account.ReasonInvalidToken, sent: bearerSent,
		},
		channel.SandboxID: {
			path: "/sandbox/oauth/introspect",
			valid: reply{200, `{"active":true,"scope":"` + allScopes(get(t, reg, channel.SandboxID), " ") + `","exp":` + unix(t0.Add(time.Hour)) +
				`,"iat":` + unix(t0) + `,"sub":"sandbox-olivia","client_id":"relink-local","token_type":"bearer"}`},
			invalid: reply{200, `{"active":false,"reason":"password_changed"}`},
			reason:  account.ReasonPasswordChanged, scopesReported: true, expiry: t0.Add(time.Hour),
			sent: func(t *testing.T, r seen) {
				user, pass, ok := basicAuth(r.header)
				if r.method != http.MethodPost || r.form.Get("token") != access || !ok || user != "relink-local" || pass != "sandbox-secret" {
					t.Errorf("introspect request: %s %v basic=%v", r.method, r.form, ok)
				}
			},
		},
	}
}

func basicAuth(h http.Header) (user, pass string, ok bool) {
	r := http.Request{Header: h}
	return r.BasicAuth()
}

// storedTokens are what connect sealed: an unexpired access token (Meta Page tokens
// have no expiry) with every scope asked for, and no refresh token, so a check never
// renews them.
func storedTokens(ch channel.Channel) vault.Tokens {
	t := vault.Tokens{Access: access, Scopes: ch.Scopes(), TokenType: "bearer", IssuedAt: t0.Add(-2 * time.Hour)}
	if !ch.PageTokensNeverExpire {
		t.AccessExpiresAt = t0.Add(30 * time.Minute)
	}
	return t
}

// TestCheckEveryChannel checks every registered channel against its own documented
// answers: valid, invalid with its reason, and the outages that must never disconnect.
func TestCheckEveryChannel(t *testing.T) {
	reg := registry(t, "http://127.0.0.1:9")
	cases := channelCases(reg, t)
	for _, id := range reg.IDs() {
		tc, ok := cases[id]
		if !ok {
			t.Errorf("%s: no test case; every channel needs one", id)
			continue
		}
		t.Run(id, func(t *testing.T) {
			f := newFake(t)
			ch := retarget(t, get(t, reg, id), f.URL)
			p := newProber(clock.NewManual(t0), f.Client())
			a, tokens := acct(ch), storedTokens(ch)
			ctx := context.Background()

			f.on(tc.path, tc.valid.status, tc.valid.body)
			res, err := p.Check(ctx, ch, a, tokens)
			if err != nil || !res.Valid || res.Tokens != nil {
				t.Fatalf("valid check: %+v, %v", res, err)
			}
			if res.Grant.Missing != nil || !slices.Equal(res.Grant.Scopes, ch.Scopes()) || !slices.Equal(res.Grant.Tasks, a.Tasks) {
				t.Errorf("valid grant: %+v", res.Grant)
			}
			switch {
			case tc.neverExpires:
				if !res.Grant.TokenExpiresAt.IsZero() {
					t.Errorf("expiry %v, want never", res.Grant.TokenExpiresAt)
				}
			case !tc.expiry.IsZero():
				if !res.Grant.TokenExpiresAt.Equal(tc.expiry) {
					t.Errorf("expiry %v, want the channel's %v", res.Grant.TokenExpiresAt, tc.expiry)
				}
			default:
				if !res.Grant.TokenExpiresAt.Equal(tokens.AccessExpiresAt) {
					t.Errorf("expiry %v, want the stored %v", res.Grant.TokenExpiresAt, tokens.AccessExpiresAt)
				}
			}
			reqs := f.requests()
			if len(reqs) != 1 || reqs[0].path != tc.path {
				t.Fatalf("requests: %+v", reqs)
			}
			tc.sent(t, reqs[0])

			// Scopes the channel reports replace the stored ones.
			if tc.scopesReported {
				res, _ := p.Check(ctx, ch, a, vault.Tokens{Access: access, AccessExpiresAt: tokens.AccessExpiresAt, Scopes: []string{"stale"}})
				if !slices.Equal(res.Grant.Scopes, ch.Scopes()) {
					t.Errorf("reported scopes: %v", res.Grant.Scopes)
				}
			}

			f.on(tc.path, tc.invalid.status, tc.invalid.body)
			res, err = p.Check(ctx, ch, a, tokens)
			if err != nil || res.Valid || !res.Failure.Reauth || res.Failure.Transient || res.Failure.RefreshFirst || res.Failure.Reason != tc.reason {
				t.Errorf("invalid check: %+v, %v; want reauth %s", res.Failure, err, tc.reason)
			}
			if res.Failure.Message == "" || res.Failure.ChannelError.HTTPStatus != tc.invalid.status {
				t.Errorf("invalid check keeps no channel error: %+v", res.Failure)
			}
			noSecret(t, id, texts(err, res.Failure), access, appSecret)

			for _, outage := range []reply{
				{http.StatusServiceUnavailable, `<html>Service Unavailable</html>`},
				{http.StatusTooManyRequests, `{}`},
				{http.StatusInternalServerError, tc.invalid.body}, // a 5xx never disconnects, whatever it says
			} {
				f.on(tc.path, outage.status, outage.body)
				res, err := p.Check(ctx, ch, a, tokens)
				if err != nil || res.Valid || !res.Failure.Transient || res.Failure.Reauth {
					t.Errorf("HTTP %d: %+v, %v; want transient", outage.status, res.Failure, err)
				}
			}
			f.Close()
			res, err = p.Check(ctx, ch, a, tokens)
			if err != nil || res.Valid || !res.Failure.Transient || res.Failure.Reauth {
				t.Errorf("no answer: %+v, %v; want transient", res.Failure, err)
			}
		})
	}
}

func TestCheckTimeoutIsTransient(t *testing.T) {
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	}))
	defer slow.Close()
	reg := registry(t, "")
	ch := retarget(t, get(t, reg, "x"), slow.URL)
	hc := slow.Client()
	hc.Timeout = 50 * time.Millisecond
	res, err := newProber(clock.NewManual(t0), hc).Check(context.Background(), ch, acct(ch), storedTokens(ch))
	if err != nil || !res.Failure.Transient || res.Failure.Reauth {
		t.Fatalf("timeout: %+v, %v", res.Failure, err)
	}
}

// TestDebugToken covers debug_token's own shapes (channels.md §1.2, §1.3).
func TestDebugToken(t *testing.T) {
	reg := registry(t, "")
	f := newFake(t)
	fb := retarget(t, get(t, reg, "facebook"), f.URL)
	p := newProber(clock.NewManual(t0), f.Client())
	a := acct(fb)
	ctx := context.Background()
	check := func(body string) Result {
		t.Helper()
		f.on("/v19.0/debug_token", 200, body)
		res, err := p.Check(ctx, fb, a, vault.Tokens{Access: access, Scopes: fb.Scopes()})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	invalid := func(errObj string) string {
		return `{"data":{"app_id":"` + appID + `","type":"PAGE","expires_at":0,"is_valid":false,"error":` + errObj + `,"scopes":[]}}`
	}

	t.Run("subcode and error_subcode", func(t *testing.T) {
		for _, tc := range []struct {
			sub    int
			reason string
		}{
			{460, account.ReasonPasswordChanged}, {458, account.ReasonAppRemoved}, {492, account.ReasonRoleLost},
			{463, account.ReasonExpired}, {459, account.ReasonCheckpoint}, {493, account.ReasonDataAccessExpired},
			{467, account.ReasonInvalidToken},
		} {
			// debug_token spells it "subcode"; API errors "error_subcode". Both are read.
			for _, field := range []string{"subcode", "error_subcode"} {
				res := check(invalid(`{"code":190,"message":"Error validating access token.","` + field + `":` + strconv.Itoa(tc.sub) + `}`))
				if res.Valid || !res.Failure.Reauth || res.Failure.Reason != tc.reason || res.Failure.ChannelError.Subcode != strconv.Itoa(tc.sub) {
					t.Errorf("%s %d: %+v, want %s", field, tc.sub, res.Failure, tc.reason)
				}
			}
		}
	})

	t.Run("invalid without an error object", func(t *testing.T) {
		res := check(`{"data":{"is_valid":false,"expires_at":0,"scopes":[]}}`)
		if !res.Failure.Reauth || res.Failure.Reason != account.ReasonInvalidToken {
			t.Errorf("no error, never expires: %+v", res.Failure)
		}
		res = check(`{"data":{"is_valid":false,"expires_at":` + unix(t0.Add(-time.Minute)) + `,"scopes":[]}}`)
		if !res.Failure.Reauth || res.Failure.Reason != account.ReasonExpired {
			t.Errorf("no error, expiry passed: %+v", res.Failure)
		}
	})

	t.Run("expiries", func(t *testing.T) {
		// A Page token: expires_at 0 is "never", whatever Relink had stored.
		f.on("/v19.0/debug_token", 200, `{"data":{"is_valid":true,"expires_at":0,"data_access_expires_at":`+unix(t0.Add(90*24*time.Hour))+`,"scopes":[]}}`)
		res, err := p.Check(ctx, fb, a, vault.Tokens{Access: access, AccessExpiresAt: t0.Add(60 * 24 * time.Hour)})
		if err != nil || !res.Valid || !res.Grant.TokenExpiresAt.IsZero() || !res.DataAccessExpiresAt.Equal(t0.Add(90*24*time.Hour)) {
			t.Errorf("Page token: %+v, %v", res, err)
		}
		res = check(`{"data":{"is_valid":true,"type":"USER","expires_at":` + unix(t0.Add(59*24*time.Hour)) + `}}`)
		if !res.Valid || !res.Grant.TokenExpiresAt.Equal(t0.Add(59*24*time.Hour)) || !res.DataAccessExpiresAt.IsZero() {
			t.Errorf("user token: %+v", res)
		}
		if !slices.Equal(res.Grant.Scopes, fb.Scopes()) {
			t.Errorf("no scopes reported: the stored ones stand, got %v", res.Grant.Scopes)
		}
	})

	t.Run("scopes diagnosed", func(t *testing.T) {
		scopes := slices.DeleteFunc(fb.Scopes(), func(s string) bool { return s == "read_insights" })
		a := a
		a.Tasks = []string{"MANAGE", "CREATE_CONTENT", "MODERATE", "MESSAGING", "ADVERTISE"} // no ANALYZE
		f.on("/v19.0/debug_token", 200, `{"data":{"is_valid":true,"expires_at":0,"scopes":["`+strings.Join(scopes, `","`)+`"]}}`)
		res, err := p.Check(ctx, fb, a, vault.Tokens{Access: access, Scopes: fb.Scopes()})
		if err != nil || !res.Valid {
			t.Fatalf("%+v, %v", res, err)
		}
		want := []account.MissingPermission{
			{Name: "read_insights", Kind: channel.KindScope, Breaks: []account.Capability{account.CapReport}},
			{Name: "ANALYZE", Kind: channel.KindTask, Breaks: []account.Capability{account.CapReport}},
		}
		if !slices.EqualFunc(res.Grant.Missing, want, func(x, y account.MissingPermission) bool {
			return x.Name == y.Name && x.Kind == y.Kind && slices.Equal(x.Breaks, y.Breaks)
		}) || !slices.Equal(res.Grant.Scopes, scopes) || !slices.Equal(res.Grant.Tasks, a.Tasks) {
			t.Errorf("grant: %+v", res.Grant)
		}
	})

	t.Run("refusals of Relink's own call never disconnect", func(t *testing.T) {
		for _, rp := range []reply{
			// A wrong app secret: a 190 about the app token, not the Page token.
			{400, `{"error":{"message":"Invalid OAuth access token signature.","type":"OAuthException","code":190,"fbtrace_id":"AbC"}}`},
			{400, `{"error":{"message":"(#100) The App_id in the input_token did not match the Viewing App","type":"OAuthException","code":100}}`},
			{200, `<html>not json</html>`},
			{200, `{"error":{"code":190,"message":"odd"}}`},
		} {
			f.on("/v19.0/debug_token", rp.status, rp.body)
			res, err := p.Check(ctx, fb, a, vault.Tokens{Access: access})
			if err != nil || res.Valid || res.Failure.Reauth || res.Failure.Transient || res.Failure.PermissionMissing ||
				res.Failure.Reason != channel.ReasonRequestRejected {
				t.Errorf("%d %s: %+v, %v", rp.status, rp.body, res.Failure, err)
			}
		}
		f.on("/v19.0/debug_token", 400, `{"error":{"message":"Invalid OAuth access token signature.","type":"OAuthException","code":190}}`)
		res, _ := p.Check(ctx, fb, a, vault.Tokens{Access: access})
		if res.Failure.ChannelError.Code != "190" {
			t.Errorf("the channel's error is not kept: %+v", res.Failure.ChannelError)
		}
	})
}

func TestCheckTikTokErrorUnder200(t *testing.T) {
	reg := registry(t, "")
	f := newFake(t)
	tt := retarget(t, get(t, reg, "tiktok"), f.URL)
	p := newProber(clock.NewManual(t0), f.Client())
	f.on("/v2/user/info/", 200, `{"data":{},"error":{"code":"scope_not_authorized","message":"The user did not authorize the scope required for completing this request.","log_id":"2022"}}`)
	res, err := p.Check(context.Background(), tt, acct(tt), storedTokens(tt))
	if err != nil || res.Valid || !res.Failure.PermissionMissing || res.Failure.Reauth {
		t.Fatalf("a 200 with an error code: %+v, %v", res.Failure, err)
	}
}

// TestCheckRenewsFirst: an expired access token is renewed before it is checked, and
// the renewed tokens come back to be stored.
func TestCheckRenewsFirst(t *testing.T) {
	reg := registry(t, "")
	ctx := context.Background()

	t.Run("google, known expired", func(t *testing.T) {
		f := newFake(t)
		yt := retarget(t, get(t, reg, "youtube"), f.URL)
		p := newProber(clock.NewManual(t0), f.Client())
		f.on("/token", 200, `{"access_token":"ya29.new-access","expires_in":3599,"scope":"`+allScopes(yt, " ")+`","token_type":"Bearer"}`)
		f.handle("/tokeninfo", func(r seen) reply {
			if r.query.Get("access_token") != "ya29.new-access" {
				return reply{400, `{"error":"invalid_token","error_description":"Invalid Value"}`}
			}
			return reply{200, `{"scope":"` + allScopes(yt, " ") + `","exp":"` + unix(t0.Add(3599*time.Second)) + `","expires_in":"3599"}`}
		})
		old := vault.Tokens{Access: access, Refresh: "1//refresh-token", AccessExpiresAt: t0.Add(-time.Minute), Scopes: yt.Scopes()}
		res, err := p.Check(ctx, yt, acct(yt), old)
		if err != nil || !res.Valid || res.Tokens == nil {
			t.Fatalf("%+v, %v", res, err)
		}
		nt := *res.Tokens
		if nt.Access.Reveal() != "ya29.new-access" || nt.Refresh.Reveal() != "1//refresh-token" || !nt.IssuedAt.Equal(t0) ||
			!nt.AccessExpiresAt.Equal(t0.Add(3599*time.Second)) {
			t.Errorf("renewed tokens: access %v, expiry %v, issued %v", nt.Access.Reveal() == "ya29.new-access", nt.AccessExpiresAt, nt.IssuedAt)
		}
		if !res.Grant.Refreshable || !res.Grant.TokenExpiresAt.Equal(t0.Add(3599*time.Second)) || res.Grant.Missing != nil {
			t.Errorf("grant: %+v", res.Grant)
		}
		var paths []string
		for _, r := range f.requests() {
			paths = append(paths, r.path)
		}
		if !slices.Equal(paths, []string{"/token", "/tokeninfo"}) {
			t.Errorf("calls: %v; want the renewal, then one check", paths)
		}
	})

	t.Run("google, renewal refused", func(t *testing.T) {
		f := newFake(t)
		yt := retarget(t, get(t, reg, "youtube"), f.URL)
		p := newProber(clock.NewManual(t0), f.Client())
		f.on("/token", 400, `{"error":"invalid_grant","error_description":"Token has been expired or revoked."}`)
		res, err := p.Check(ctx, yt, acct(yt), vault.Tokens{Access: access, Refresh: "1//dead", AccessExpiresAt: t0.Add(-time.Minute)})
		if err != nil || res.Valid || res.Tokens != nil || !res.Failure.Reauth || res.Failure.RefreshFirst || res.Failure.Reason != account.ReasonRevoked {
			t.Fatalf("%+v, %v", res, err)
		}
		f.on("/token", 503, ``)
		res, err = p.Check(ctx, yt, acct(yt), vault.Tokens{Access: access, Refresh: "1//dead", AccessExpiresAt: t0.Add(-time.Minute)})
		if err != nil || res.Valid || !res.Failure.Transient || res.Failure.Reauth {
			t.Fatalf("renewal outage: %+v, %v", res, err)
		}
	})

	t.Run("x says expired before Relink knew", func(t *testing.T) {
		f := newFake(t)
		x := retarget(t, get(t, reg, "x"), f.URL)
		p := newProber(clock.NewManual(t0), f.Client())
		f.on("/2/oauth2/token", 200, `{"token_type":"bearer","expires_in":7200,"access_token":"x-new-access","refresh_token":"x-new-refresh","scope":"`+allScopes(x, " ")+`"}`)
		f.handle("/2/users/me", func(r seen) reply {
			if r.header.Get("Authorization") != "Bearer x-new-access" {
				return reply{401, `{"title":"Unauthorized","type":"about:blank","status":401,"detail":"Unauthorized"}`}
			}
			return reply{200, `{"data":{"id":"1","username":"brand"}}`}
		})
		res, err := p.Check(ctx, x, acct(x), vault.Tokens{Access: access, Refresh: "x-old-refresh", AccessExpiresAt: t0.Add(time.Hour)})
		if err != nil || !res.Valid || res.Tokens == nil || res.Tokens.Refresh.Reveal() != "x-new-refresh" {
			t.Fatalf("%+v, %v", res, err)
		}
		if n := len(f.requests()); n != 3 {
			t.Errorf("%d calls; want check, renewal, check", n)
		}
		// The renewal fails: the spent refresh token means a person must reconnect.
		f.on("/2/oauth2/token", 400, `{"error":"invalid_request","error_description":"Value passed for the token was invalid."}`)
		res, err = p.Check(ctx, x, acct(x), vault.Tokens{Access: access, Refresh: "x-old-refresh", AccessExpiresAt: t0.Add(time.Hour)})
		if err != nil || res.Valid || res.Tokens != nil || !res.Failure.Reauth || res.Failure.Reason != account.ReasonRevoked {
			t.Fatalf("renewal refused: %+v, %v", res, err)
		}
	})
}

func TestCheckSandbox(t *testing.T) {
	e := newSandbox(t)
	ctx := context.Background()
	a := acct(e.ch)
	tokens := e.connect(t)

	res, err := e.p.Check(ctx, e.ch, a, tokens)
	if err != nil || !res.Valid || res.Grant.Missing != nil || !res.Grant.TokenExpiresAt.Equal(t0.Add(sandbox.AccessTTL)) {
		t.Fatalf("fresh grant: %+v, %v", res, err)
	}
	e.act(t, "drop_scope", "report")
	res, err = e.p.Check(ctx, e.ch, a, tokens)
	if err != nil || !res.Valid || len(res.Grant.Missing) != 1 || res.Grant.Missing[0].Name != "report" {
		t.Fatalf("scope dropped: %+v, %v", res.Grant, err)
	}
	for _, tc := range []struct{ action, reason string }{
		{"rate_limit", ""}, {"outage", ""},
	} {
		e.act(t, tc.action, "")
		res, err = e.p.Check(ctx, e.ch, a, tokens)
		if err != nil || res.Valid || !res.Failure.Transient || res.Failure.Reauth {
			t.Errorf("%s: %+v, %v", tc.action, res.Failure, err)
		}
		for range 2 { // use up the failing calls
			e.p.Check(ctx, e.ch, a, tokens)
		}
	}

	// The access token expired: the check renews it (rotating the refresh token) and
	// says the grant is fine.
	e.clk.Advance(2 * time.Hour)
	res, err = e.p.Check(ctx, e.ch, a, tokens)
	if err != nil || !res.Valid || res.Tokens == nil || res.Tokens.Refresh.Reveal() == tokens.Refresh.Reveal() {
		t.Fatalf("expired access token: %+v, %v", res, err)
	}
	renewed := *res.Tokens
	// The old refresh token was rotated out.
	res, err = e.p.Check(ctx, e.ch, a, tokens)
	if err != nil || res.Valid || res.Tokens != nil || !res.Failure.Reauth || res.Failure.Reason != account.ReasonRevoked {
		t.Fatalf("check with the rotated-out tokens: %+v, %v", res, err)
	}

	for _, tc := range []struct{ action, reason string }{
		{"password_changed", account.ReasonPasswordChanged}, {"revoke", account.ReasonRevoked},
	} {
		e2 := newSandbox(t)
		tk := e2.connect(t)
		e2.act(t, tc.action, "")
		res, err := e2.p.Check(ctx, e2.ch, a, tk)
		if err != nil || res.Valid || !res.Failure.Reauth || res.Failure.Reason != tc.reason {
			t.Errorf("%s: %+v, %v", tc.action, res.Failure, err)
		}
		noSecret(t, tc.action, texts(err, res.Failure), tk.Access.Reveal(), tk.Refresh.Reveal(), "sandbox-secret")
	}
	noSecret(t, "sandbox", texts(err, res.Failure), renewed.Access.Reveal(), renewed.Refresh.Reveal())
}

// TestCheckOwnFaults: only Relink's own faults are errors, and none shows a secret.
func TestCheckOwnFaults(t *testing.T) {
	reg := registry(t, "")
	f := newFake(t)
	f.on("/v19.0/debug_token", 200, `{"data":{"is_valid":true,"expires_at":0}}`)
	fb := retarget(t, get(t, reg, "facebook"), f.URL)
	ctx := context.Background()

	p := &Prober{HTTP: f.Client(), Credentials: creds{missing: map[string]bool{"facebook": true}}, Clock: clock.NewManual(t0)}
	res, err := p.Check(ctx, fb, acct(fb), storedTokens(fb))
	if relink.ErrorCode(err) != relink.EUNAVAILABLE || res.Valid || res.Failure.Reason != "" {
		t.Errorf("no credentials: %+v, %v", res, err)
	}

	p = newProber(clock.NewManual(t0), f.Client())
	other := acct(fb)
	other.Channel = "instagram"
	if _, err := p.Check(ctx, fb, other, storedTokens(fb)); relink.ErrorCode(err) != relink.EINTERNAL {
		t.Errorf("account on another channel: %v", err)
	}

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	for _, id := range []string{"facebook", "linkedin", "youtube", "x"} {
		ch := retarget(t, get(t, reg, id), f.URL)
		res, err = p.Check(cctx, ch, acct(ch), storedTokens(ch))
		if !errors.Is(err, context.Canceled) || res.Valid {
			t.Errorf("%s cancelled: %+v, %v", id, res, err)
		}
		noSecret(t, id+" cancelled", texts(err), access, appSecret)
	}
	yt := retarget(t, get(t, reg, "youtube"), f.URL)
	_, err = p.Check(cctx, yt, acct(yt), vault.Tokens{Access: access, Refresh: "1//refresh-secret", AccessExpiresAt: t0.Add(-time.Minute)})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("renewal cancelled: %v", err)
	}
	noSecret(t, "renewal cancelled", texts(err), access, appSecret, "1//refresh-secret")

	// No access token and no way to renew one: nothing to ask.
	res, err = p.Check(ctx, fb, acct(fb), vault.Tokens{})
	if err != nil || res.Valid || !res.Failure.Reauth || res.Failure.Reason != account.ReasonInvalidToken {
		t.Errorf("empty tokens: %+v, %v", res, err)
	}
}

// TestIntrospectionRefusals: introspection endpoints signed with Relink's app answer
// errors about Relink's call (a wrong client secret), never about the account's token.
func TestIntrospectionRefusals(t *testing.T) {
	reg := registry(t, "http://127.0.0.1:9")
	ctx := context.Background()
	for _, tc := range []struct {
		id, path string
		rp       reply
	}{
		{"linkedin", "/oauth/v2/introspectToken", reply{400, `{"error":"invalid_request","error_description":"Invalid client id or token"}`}},
		{"linkedin", "/oauth/v2/introspectToken", reply{401, `{"error":"invalid_client","error_description":"Invalid client secret"}`}},
		{"linkedin", "/oauth/v2/introspectToken", reply{401, ``}},
		{"linkedin", "/oauth/v2/introspectToken", reply{200, `{"status":"active"}`}},
		{channel.SandboxID, "/sandbox/oauth/introspect", reply{401, `{"error":"invalid_client","error_description":"Unknown client or wrong secret."}`}},
		{channel.SandboxID, "/sandbox/oauth/introspect", reply{401, ``}},
		{"youtube", "/tokeninfo", reply{200, `not json`}},
		{"pinterest", "/v5/user_account", reply{200, `not json`}},
	} {
		f := newFake(t)
		ch := retarget(t, get(t, reg, tc.id), f.URL)
		f.on(tc.path, tc.rp.status, tc.rp.body)
		res, err := newProber(clock.NewManual(t0), f.Client()).Check(ctx, ch, acct(ch), storedTokens(ch))
		if err != nil || res.Valid || res.Failure.Reauth || res.Failure.Transient || res.Failure.Reason != channel.ReasonRequestRejected {
			t.Errorf("%s %d %s: %+v, %v", tc.id, tc.rp.status, tc.rp.body, res.Failure, err)
		}
	}
}
