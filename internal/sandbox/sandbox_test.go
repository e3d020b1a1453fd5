package sandbox

import (
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/relinkhq/relink/internal/clock"
)

const (
	clientID = "relink-test"
	callback = "https://app.example/callback"
)

type env struct {
	t   *testing.T
	s   *Server
	srv *httptest.Server
	clk *clock.Manual
	hc  *http.Client // does not follow redirects
}

func newEnv(t *testing.T) *env {
	t.Helper()
	clk := clock.NewManual(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC))
	s := New(clk, rand.Reader)
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return &env{t: t, s: s, srv: srv, clk: clk, hc: hc}
}

func (e *env) do(req *http.Request) (*http.Response, string) {
	e.t.Helper()
	resp, err := e.hc.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func (e *env) get(path string) (*http.Response, string) {
	e.t.Helper()
	req, _ := http.NewRequest("GET", e.srv.URL+path, nil)
	return e.do(req)
}

func (e *env) postForm(path string, v url.Values) (*http.Response, string) {
	e.t.Helper()
	req, _ := http.NewRequest("POST", e.srv.URL+path, strings.NewReader(v.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return e.do(req)
}

// verifier is a fixed RFC 7636 verifier; s256 of it is the challenge.
const verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"

func authParams(scope string) url.Values {
	return url.Values{
		"response_type": {"code"}, "client_id": {clientID}, "redirect_uri": {callback},
		"scope": {scope}, "state": {"st-123"}, "code_challenge": {s256(verifier)}, "code_challenge_method": {"S256"},
	}
}

// consent posts the consent form as the page's browser would and returns the redirect.
func (e *env) consent(scope, decision string, granted ...string) *url.URL {
	e.t.Helper()
	v := authParams(scope)
	v.Set("decision", decision)
	v.Set("profile", "sandbox-olivia")
	v["grant_scope"] = granted
	resp, body := e.postForm("/sandbox/oauth/authorize", v)
	if resp.StatusCode != http.StatusFound {
		e.t.Fatalf("consent: status %d: %s", resp.StatusCode, body)
	}
	u, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || !strings.HasPrefix(u.String(), callback+"?") {
		e.t.Fatalf("consent redirected to %q", resp.Header.Get("Location"))
	}
	return u
}

// token calls the token endpoint with form client credentials.
func (e *env) token(v url.Values) (int, map[string]any) {
	e.t.Helper()
	v.Set("client_id", clientID)
	v.Set("client_secret", ClientSecret)
	resp, body := e.postForm("/sandbox/oauth/token", v)
	return resp.StatusCode, decode(e.t, body)
}

func decode(t *testing.T, body string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatalf("not JSON: %q", body)
	}
	return m
}

type tokens struct{ access, refresh string }

// connect runs the dance and returns the tokens and the grant ID.
func (e *env) connect(granted ...string) (tokens, string) {
	e.t.Helper()
	code := e.consent("profile publish report", "allow", granted...).Query().Get("code")
	status, m := e.token(url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {callback}, "code_verifier": {verifier}})
	if status != 200 {
		e.t.Fatalf("exchange: %d %v", status, m)
	}
	gs := e.s.Grants()
	return tokens{m["access_token"].(string), m["refresh_token"].(string)}, gs[len(gs)-1].ID
}

func (e *env) refresh(rt string) (int, map[string]any) {
	e.t.Helper()
	return e.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}})
}

func (e *env) api(access, path string) (int, map[string]any) {
	e.t.Helper()
	req, _ := http.NewRequest("GET", e.srv.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+access)
	resp, body := e.do(req)
	return resp.StatusCode, decode(e.t, body)
}

func wantErr(t *testing.T, what string, status int, m map[string]any, wantStatus int, code, reason string) {
	t.Helper()
	if status != wantStatus || m["error"] != code || reason != "" && m["reason"] != reason {
		t.Fatalf("%s: got %d %v, want %d error=%s reason=%s", what, status, m, wantStatus, code, reason)
	}
}

func TestConsentPageAndDance(t *testing.T) {
	e := newEnv(t)
	resp, body := e.get("/sandbox/oauth/authorize?" + authParams("profile publish report ads").Encode())
	if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "form-action 'self' https://app.example") {
		t.Fatalf("consent page: %d %v", resp.StatusCode, resp.Header)
	}
	for _, want := range []string{`value="ads" checked`, `value="report" checked`, "Sandbox Coffee", `name="code_challenge"`, "<label"} {
		if !strings.Contains(body, want) {
			t.Errorf("consent page lacks %q", want)
		}
	}
	if strings.Contains(body, "<script") || strings.Contains(body, "style=") {
		t.Error("consent page has inline script or style")
	}

	// Allow with "ads" unchecked.
	u := e.consent("profile publish report ads", "allow", "profile", "publish", "report")
	if u.Query().Get("state") != "st-123" || u.Query().Get("code") == "" {
		t.Fatalf("redirect %v", u)
	}
	status, m := e.token(url.Values{"grant_type": {"authorization_code"}, "code": {u.Query().Get("code")}, "redirect_uri": {callback}, "code_verifier": {verifier}})
	if status != 200 || m["token_type"] != "bearer" || m["expires_in"] != 3600.0 || m["refresh_expires_in"] != 7776000.0 ||
		m["scope"] != "profile publish report" || m["profile_id"] != "sandbox-olivia" || m["refresh_token"] == "" {
		t.Fatalf("exchange: %d %v", status, m)
	}
	at := m["access_token"].(string)
	if len(at) != 43 {
		t.Errorf("access token %d chars, want 43 (32 bytes base64url)", len(at))
	}

	status, me := e.api(at, "/sandbox/api/me")
	pages, _ := me["pages"].([]any)
	if status != 200 || me["id"] != "sandbox-olivia" || len(pages) != 2 {
		t.Fatalf("me: %d %v", status, me)
	}
	if p := pages[1].(map[string]any); p["id"] != "sandbox-2" || len(p["scopes"].([]any)) != 3 {
		t.Fatalf("page: %v", p)
	}
	if status, _ := e.api(at, "/sandbox/api/pages/sandbox-1/insights"); status != 200 {
		t.Fatalf("insights: %d", status)
	}
	if status, m := e.api(at, "/sandbox/api/pages/sandbox-3/insights"); status != 404 {
		t.Fatalf("insights on another profile's page: %d %v", status, m)
	}

	// Introspection with Basic auth (form-encoded credentials).
	req, _ := http.NewRequest("POST", e.srv.URL+"/sandbox/oauth/introspect", strings.NewReader("token="+at))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(clientID), url.QueryEscape(ClientSecret))
	resp, body = e.do(req)
	in := decode(t, body)
	if resp.StatusCode != 200 || in["active"] != true || in["sub"] != "sandbox-olivia" || in["client_id"] != clientID ||
		in["scope"] != "profile publish report" || in["token_type"] != "bearer" || in["exp"] != float64(e.clk.Now().Add(time.Hour).Unix()) {
		t.Fatalf("introspect: %d %v", resp.StatusCode, in)
	}
}

func TestControls(t *testing.T) {
	cases := []struct {
		action, scope string
		check         func(e *env, tk tokens)
	}{
		{"revoke", "", func(e *env, tk tokens) {
			s, m := e.api(tk.access, "/sandbox/api/me")
			wantErr(e.t, "me", s, m, 401, "invalid_token", "revoked")
			s, m = e.refresh(tk.refresh)
			wantErr(e.t, "refresh", s, m, 400, "invalid_grant", "revoked")
		}},
		{"expire", "", func(e *env, tk tokens) {
			s, m := e.api(tk.access, "/sandbox/api/me")
			wantErr(e.t, "me", s, m, 401, "invalid_token", "expired")
			s, m = e.refresh(tk.refresh)
			if s != 200 {
				e.t.Fatalf("refresh after expire: %d %v", s, m)
			}
			if s, m = e.api(m["access_token"].(string), "/sandbox/api/me"); s != 200 {
				e.t.Fatalf("me with the new token: %d %v", s, m)
			}
		}},
		{"expire_refresh", "", func(e *env, tk tokens) {
			s, m := e.refresh(tk.refresh)
			wantErr(e.t, "refresh", s, m, 400, "invalid_grant", "expired")
		}},
		{"drop_scope", "report", func(e *env, tk tokens) {
			s, m := e.api(tk.access, "/sandbox/api/pages/sandbox-1/insights")
			wantErr(e.t, "insights", s, m, 403, "insufficient_scope", "permission_missing")
			s, m = e.api(tk.access, "/sandbox/api/me")
			if s != 200 || len(m["pages"].([]any)[0].(map[string]any)["scopes"].([]any)) != 2 {
				e.t.Fatalf("me after drop: %d %v", s, m)
			}
		}},
		{"password_changed", "", func(e *env, tk tokens) {
			s, m := e.api(tk.access, "/sandbox/api/me")
			wantErr(e.t, "me", s, m, 401, "invalid_token", "password_changed")
		}},
		{"checkpoint", "", func(e *env, tk tokens) {
			s, m := e.refresh(tk.refresh)
			wantErr(e.t, "refresh", s, m, 400, "invalid_grant", "checkpoint")
		}},
		{"role_lost", "", func(e *env, tk tokens) {
			s, m := e.api(tk.access, "/sandbox/api/me")
			wantErr(e.t, "me", s, m, 401, "invalid_token", "role_lost")
		}},
		{"rate_limit", "", func(e *env, tk tokens) {
			for i := 0; i < 3; i++ {
				s, m := e.api(tk.access, "/sandbox/api/me")
				wantErr(e.t, "me", s, m, 429, "rate_limited", "transient")
			}
			if s, m := e.api(tk.access, "/sandbox/api/me"); s != 200 {
				e.t.Fatalf("4th call: %d %v", s, m)
			}
		}},
		{"outage", "", func(e *env, tk tokens) {
			s, m := e.api(tk.access, "/sandbox/api/me")
			wantErr(e.t, "me", s, m, 503, "temporarily_unavailable", "")
			s, m = e.refresh(tk.refresh)
			wantErr(e.t, "refresh", s, m, 503, "temporarily_unavailable", "")
			s, m = e.api(tk.access, "/sandbox/api/me")
			wantErr(e.t, "me", s, m, 503, "temporarily_unavailable", "")
			if s, m = e.refresh(tk.refresh); s != 200 {
				e.t.Fatalf("4th call: %d %v", s, m)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.action, func(t *testing.T) {
			e := newEnv(t)
			tk, id := e.connect("profile", "publish", "report")
			if err := e.s.Act(id, c.action, c.scope); err != nil {
				t.Fatal(err)
			}
			c.check(e, tk)
		})
	}
}

func TestActRejects(t *testing.T) {
	e := newEnv(t)
	_, id := e.connect("profile")
	for _, c := range [][3]string{{"g-nope", "revoke", ""}, {id, "explode", ""}, {id, "drop_scope", "ads"}} {
		if err := e.s.Act(c[0], c[1], c[2]); err == nil {
			t.Errorf("Act%q succeeded", c)
		}
	}
}

func TestClockExpiry(t *testing.T) {
	e := newEnv(t)
	tk, _ := e.connect("profile")
	e.clk.Advance(time.Hour)
	s, m := e.api(tk.access, "/sandbox/api/me")
	wantErr(t, "me after 1h", s, m, 401, "invalid_token", "expired")
	if g := e.s.Grants()[0]; g.State != "access expired" {
		t.Fatalf("state %q", g.State)
	}
	e.clk.Advance(90 * 24 * time.Hour)
	s, m = e.refresh(tk.refresh)
	wantErr(t, "refresh after 90 days", s, m, 400, "invalid_grant", "expired")

	// Codes live one minute.
	code := e.consent("profile", "allow", "profile").Query().Get("code")
	e.clk.Advance(CodeTTL)
	s, m = e.token(url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {callback}, "code_verifier": {verifier}})
	wantErr(t, "expired code", s, m, 400, "invalid_grant", "")
}

func TestRefreshRotation(t *testing.T) {
	e := newEnv(t)
	tk, _ := e.connect("profile", "report")
	s, m := e.refresh(tk.refresh)
	if s != 200 || m["refresh_token"] == tk.refresh || m["scope"] != "profile report" {
		t.Fatalf("refresh: %d %v", s, m)
	}
	s, bad := e.refresh(tk.refresh)
	wantErr(t, "old refresh token", s, bad, 400, "invalid_grant", "revoked")
	// The newest one still works, and the old access token lives until it expires.
	if s, m = e.refresh(m["refresh_token"].(string)); s != 200 {
		t.Fatalf("new refresh token: %d %v", s, m)
	}
	if s, m = e.api(tk.access, "/sandbox/api/me"); s != 200 {
		t.Fatalf("old access token: %d %v", s, m)
	}
	// An access token is not a refresh token, and vice versa.
	s, m = e.refresh(tk.access)
	wantErr(t, "access as refresh", s, m, 400, "invalid_grant", "invalid_token")
	s, m = e.api(tk.refresh, "/sandbox/api/me")
	wantErr(t, "refresh as access", s, m, 401, "invalid_token", "invalid_token")
}

func TestCodeReuseAndVerifier(t *testing.T) {
	e := newEnv(t)
	code := e.consent("profile", "allow", "profile").Query().Get("code")
	ex := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {callback}, "code_verifier": {verifier}}
	s, m := e.token(ex)
	if s != 200 {
		t.Fatalf("exchange: %d %v", s, m)
	}
	access := m["access_token"].(string)
	s, m = e.token(ex)
	wantErr(t, "reused code", s, m, 400, "invalid_grant", "")
	// A replayed code revokes what it issued.
	s, m = e.api(access, "/sandbox/api/me")
	wantErr(t, "me after code replay", s, m, 401, "invalid_token", "revoked")

	for name, mutate := range map[string]func(url.Values){
		"wrong verifier":     func(v url.Values) { v.Set("code_verifier", strings.Repeat("a", 43)) },
		"short verifier":     func(v url.Values) { v.Set("code_verifier", "abc") },
		"other redirect_uri": func(v url.Values) { v.Set("redirect_uri", "https://app.example/other") },
	} {
		v := url.Values{"grant_type": {"authorization_code"}, "code": {e.consent("profile", "allow", "profile").Query().Get("code")},
			"redirect_uri": {callback}, "code_verifier": {verifier}}
		mutate(v)
		s, m := e.token(v)
		wantErr(t, name, s, m, 400, "invalid_grant", "")
	}
}

func TestDeny(t *testing.T) {
	e := newEnv(t)
	u := e.consent("profile publish", "deny")
	if q := u.Query(); q.Get("error") != "access_denied" || q.Get("state") != "st-123" || q.Has("code") {
		t.Fatalf("deny redirect %v", u)
	}
}

func TestBadAuthorizeRequests(t *testing.T) {
	cases := map[string]func(url.Values){
		"no redirect_uri":       func(v url.Values) { v.Del("redirect_uri") },
		"javascript redirect":   func(v url.Values) { v.Set("redirect_uri", "javascript:alert(1)") },
		"relative redirect":     func(v url.Values) { v.Set("redirect_uri", "/callback") },
		"fragment in redirect":  func(v url.Values) { v.Set("redirect_uri", callback+"#x") },
		"host with semicolon":   func(v url.Values) { v.Set("redirect_uri", "https://a;script-src:*/cb") },
		"no challenge":          func(v url.Values) { v.Del("code_challenge") },
		"plain challenge":       func(v url.Values) { v.Set("code_challenge_method", "plain") },
		"short challenge":       func(v url.Values) { v.Set("code_challenge", "abc") },
		"no state":              func(v url.Values) { v.Del("state") },
		"token response_type":   func(v url.Values) { v.Set("response_type", "token") },
		"no client":             func(v url.Values) { v.Del("client_id") },
		"unknown scope":         func(v url.Values) { v.Set("scope", "profile everything") },
		"no scope":              func(v url.Values) { v.Del("scope") },
		"repeated redirect_uri": func(v url.Values) { v.Add("redirect_uri", "https://evil.example/") },
	}
	e := newEnv(t)
	for name, mutate := range cases {
		v := authParams("profile publish")
		mutate(v)
		resp, body := e.get("/sandbox/oauth/authorize?" + v.Encode())
		if resp.StatusCode != 400 || resp.Header.Get("Location") != "" || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") ||
			!strings.Contains(body, `role="alert"`) {
			t.Errorf("GET %s: %d location=%q", name, resp.StatusCode, resp.Header.Get("Location"))
		}
		v.Set("decision", "allow")
		v.Set("profile", "sandbox-olivia")
		if resp, _ := e.postForm("/sandbox/oauth/authorize", v); resp.StatusCode != 400 || resp.Header.Get("Location") != "" {
			t.Errorf("POST %s: %d location=%q", name, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	// Consent cannot grant what was not asked for, nor name an unknown profile.
	v := authParams("profile")
	v.Set("decision", "allow")
	v.Set("profile", "sandbox-olivia")
	v["grant_scope"] = []string{"profile", "ads"}
	if resp, _ := e.postForm("/sandbox/oauth/authorize", v); resp.StatusCode != 400 {
		t.Errorf("unrequested scope: %d", resp.StatusCode)
	}
	v["grant_scope"] = []string{"profile"}
	v.Set("profile", "someone")
	if resp, _ := e.postForm("/sandbox/oauth/authorize", v); resp.StatusCode != 400 {
		t.Errorf("unknown profile: %d", resp.StatusCode)
	}
}

// TestMalformedTokenRequests: anything a client can send gets a 4xx JSON error, never a 5xx.
func TestMalformedTokenRequests(t *testing.T) {
	e := newEnv(t)
	tk, _ := e.connect("profile")
	good := "client_id=" + clientID + "&client_secret=" + ClientSecret
	cases := []struct {
		name, path, ctype, body, basic string
		want                           int
		code                           string
	}{
		{"empty body", "token", "application/x-www-form-urlencoded", "", "", 401, "invalid_client"},
		{"json body", "token", "application/json", `{"grant_type":"refresh_token"}`, "", 400, "invalid_request"},
		{"no content type", "token", "", good + "&grant_type=refresh_token", "", 400, "invalid_request"},
		{"bad percent", "token", "application/x-www-form-urlencoded", "grant_type=%zz&" + good, "", 400, "invalid_request"},
		{"wrong secret", "token", "application/x-www-form-urlencoded", "client_id=a&client_secret=nope&grant_type=refresh_token", "", 401, "invalid_client"},
		{"empty client", "token", "application/x-www-form-urlencoded", "client_id=&client_secret=" + ClientSecret, "", 401, "invalid_client"},
		{"basic and form secret", "token", "application/x-www-form-urlencoded", good + "&grant_type=refresh_token", clientID + ":" + ClientSecret, 400, "invalid_request"},
		{"bad basic escape", "token", "application/x-www-form-urlencoded", "grant_type=refresh_token&refresh_token=x", "%zz:" + ClientSecret, 401, "invalid_client"},
		{"basic wrong secret", "token", "application/x-www-form-urlencoded", "grant_type=refresh_token", clientID + ":x", 401, "invalid_client"},
		{"no grant type", "token", "application/x-www-form-urlencoded", good, "", 400, "invalid_request"},
		{"password grant", "token", "application/x-www-form-urlencoded", good + "&grant_type=password", "", 400, "unsupported_grant_type"},
		{"repeated param", "token", "application/x-www-form-urlencoded", good + "&grant_type=refresh_token&grant_type=refresh_token", "", 400, "invalid_request"},
		{"no code", "token", "application/x-www-form-urlencoded", good + "&grant_type=authorization_code", "", 400, "invalid_request"},
		{"no verifier", "token", "application/x-www-form-urlencoded", good + "&grant_type=authorization_code&code=x&redirect_uri=" + callback, "", 400, "invalid_request"},
		{"unknown code", "token", "application/x-www-form-urlencoded", good + "&grant_type=authorization_code&code=x&redirect_uri=" + callback + "&code_verifier=" + verifier, "", 400, "invalid_grant"},
		{"no refresh token", "token", "application/x-www-form-urlencoded", good + "&grant_type=refresh_token", "", 400, "invalid_request"},
		{"unknown refresh", "token", "application/x-www-form-urlencoded", good + "&grant_type=refresh_token&refresh_token=" + strings.Repeat("A", 43), "", 400, "invalid_grant"},
		{"bad refresh scope", "token", "application/x-www-form-urlencoded", good + "&grant_type=refresh_token&scope=root&refresh_token=" + tk.refresh, "", 400, "invalid_scope"},
		{"wider refresh scope", "token", "application/x-www-form-urlencoded", good + "&grant_type=refresh_token&scope=profile+ads&refresh_token=" + tk.refresh, "", 400, "invalid_scope"},
		{"other client refresh", "token", "application/x-www-form-urlencoded", "client_id=other&client_secret=" + ClientSecret + "&grant_type=refresh_token&refresh_token=" + tk.refresh, "", 400, "invalid_grant"},
		{"query params", "token?grant_type=refresh_token", "application/x-www-form-urlencoded", good, "", 400, "invalid_request"},
		{"huge body", "token", "application/x-www-form-urlencoded", good + "&x=" + strings.Repeat("a", 100<<10), "", 400, "invalid_request"},
		{"introspect no token", "introspect", "application/x-www-form-urlencoded", good, "", 400, "invalid_request"},
		{"introspect no auth", "introspect", "application/x-www-form-urlencoded", "token=" + tk.access, "", 401, "invalid_client"},
		{"revoke no token", "revoke", "application/x-www-form-urlencoded", good, "", 400, "invalid_request"},
		{"revoke bad hint", "revoke", "application/x-www-form-urlencoded", good + "&token=x&token_type_hint=id_token", "", 400, "unsupported_token_type"},
		{"revoke other client", "revoke", "application/x-www-form-urlencoded", "client_id=other&client_secret=" + ClientSecret + "&token=" + tk.access, "", 400, "invalid_request"},
	}
	for _, c := range cases {
		req, _ := http.NewRequest("POST", e.srv.URL+"/sandbox/oauth/"+c.path, strings.NewReader(c.body))
		if c.ctype != "" {
			req.Header.Set("Content-Type", c.ctype)
		}
		if c.basic != "" {
			u, p, _ := strings.Cut(c.basic, ":")
			req.SetBasicAuth(u, p)
		}
		resp, body := e.do(req)
		var m map[string]any
		if resp.StatusCode != c.want || json.Unmarshal([]byte(body), &m) != nil || m["error"] != c.code {
			t.Errorf("%s: got %d %s, want %d %s", c.name, resp.StatusCode, body, c.want, c.code)
		}
		if strings.Contains(body, tk.access) || strings.Contains(body, tk.refresh) {
			t.Errorf("%s: a token leaked into an error", c.name)
		}
	}
	// Other methods and bearer failures stay 4xx too.
	if resp, _ := e.get("/sandbox/oauth/token"); resp.StatusCode != 405 {
		t.Errorf("GET token: %d", resp.StatusCode)
	}
	for _, h := range []string{"", "Bearer", "Bearer ", "Basic Zm9vOmJhcg==", "Bearer " + strings.Repeat("x", 5000)} {
		req, _ := http.NewRequest("GET", e.srv.URL+"/sandbox/api/me", nil)
		req.Header.Set("Authorization", h)
		if resp, body := e.do(req); resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("Authorization %.20q: %d %s", h, resp.StatusCode, body)
		}
	}
	// The grant survived all of it.
	if s, m := e.api(tk.access, "/sandbox/api/me"); s != 200 {
		t.Fatalf("me: %d %v", s, m)
	}
}

func TestIntrospectAndRevoke(t *testing.T) {
	e := newEnv(t)
	tk, _ := e.connect("profile")
	auth := url.Values{"client_id": {clientID}, "client_secret": {ClientSecret}}
	introspect := func(token string) map[string]any {
		v := url.Values{"token": {token}}
		for k, vs := range auth {
			v[k] = vs
		}
		resp, body := e.postForm("/sandbox/oauth/introspect", v)
		if resp.StatusCode != 200 {
			t.Fatalf("introspect: %d %s", resp.StatusCode, body)
		}
		return decode(t, body)
	}
	if m := introspect(tk.refresh); m["active"] != true || m["token_type"] != "refresh_token" {
		t.Fatalf("refresh introspection: %v", m)
	}
	if m := introspect("nope"); m["active"] != false || m["reason"] != "invalid_token" || len(m) != 2 {
		t.Fatalf("unknown token: %v", m)
	}
	v := url.Values{"token": {tk.refresh}, "token_type_hint": {"refresh_token"}}
	for k, vs := range auth {
		v[k] = vs
	}
	if resp, body := e.postForm("/sandbox/oauth/revoke", v); resp.StatusCode != 200 || strings.TrimSpace(body) != "{}" {
		t.Fatalf("revoke: %d %s", resp.StatusCode, body)
	}
	if m := introspect(tk.access); m["active"] != false || m["reason"] != "revoked" {
		t.Fatalf("after revoke: %v", m)
	}
	s, m := e.api(tk.access, "/sandbox/api/me")
	wantErr(t, "me after revoke", s, m, 401, "invalid_token", "revoked")
	v.Set("token", "unknown")
	if resp, _ := e.postForm("/sandbox/oauth/revoke", v); resp.StatusCode != 200 {
		t.Fatalf("revoking an unknown token: %d", resp.StatusCode)
	}
}

func TestControlsPage(t *testing.T) {
	e := newEnv(t)
	tk, id := e.connect("profile", "report")
	resp, body := e.get("/sandbox/controls")
	if resp.StatusCode != 200 || !strings.Contains(body, id) || !strings.Contains(body, "Olivia") || !strings.Contains(body, "active") {
		t.Fatalf("controls page: %d\n%s", resp.StatusCode, body)
	}
	if strings.Contains(body, tk.access) || strings.Contains(body, tk.refresh) {
		t.Fatal("controls page shows a token")
	}
	resp, _ = e.postForm("/sandbox/controls", url.Values{"grant": {id}, "action": {"drop_scope"}, "scope": {"report"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/sandbox/controls" {
		t.Fatalf("control: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if g := e.s.Grants()[0]; strings.Join(g.Scopes, " ") != "profile" {
		t.Fatalf("scopes after drop: %v", g.Scopes)
	}
	if resp, _ := e.postForm("/sandbox/controls", url.Values{"grant": {id}, "action": {"nope"}}); resp.StatusCode != 400 {
		t.Fatalf("unknown action: %d", resp.StatusCode)
	}
	// A cross-site form cannot pull the controls.
	req, _ := http.NewRequest("POST", e.srv.URL+"/sandbox/controls", strings.NewReader("grant="+id+"&action=revoke"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	if resp, _ := e.do(req); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-site control: %d", resp.StatusCode)
	}
	if g := e.s.Grants()[0]; g.State != "active" {
		t.Fatalf("state after cross-site post: %q", g.State)
	}
	if resp, body := e.get("/sandbox/static.css"); resp.StatusCode != 200 || !strings.Contains(body, "body{") {
		t.Fatalf("css: %d", resp.StatusCode)
	}
}
