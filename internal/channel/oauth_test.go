package channel

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/relinkhq/relink/internal/account"
)

var now0 = time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)

// tokenServer answers the token endpoint with body and status, and records the request.
type tokenServer struct {
	*httptest.Server
	form   url.Values
	header http.Header
}

func newTokenServer(t *testing.T, status int, body string) *tokenServer {
	ts := &tokenServer{}
	ts.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		ts.form, _ = url.ParseQuery(string(raw))
		ts.header = r.Header.Clone()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		w.Write([]byte(body))
	}))
	t.Cleanup(ts.Close)
	return ts
}

func at(c Channel, tokenURL string) Channel {
	c.TokenURL = tokenURL
	return c
}

func TestGoogleConsentAndExchange(t *testing.T) {
	ts := newTokenServer(t, 200, `{"access_token":"ya29.a0Af","expires_in":3599,"refresh_token":"1//0g-refresh","scope":"https://www.googleapis.com/auth/youtube.upload https://www.googleapis.com/auth/youtube.readonly","token_type":"Bearer"}`)
	yt := at(YouTube(), ts.URL)
	cfg := yt.OAuthConfig(Credentials{ClientID: "client-1", ClientSecret: "s3cret"}, "https://relink.example/callback", account.CapPublish)
	verifier := "verifier-verifier-verifier-verifier-verifier-123"
	u, err := url.Parse(yt.AuthCodeURL(cfg, "state-1", verifier))
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	sum := sha256.Sum256([]byte(verifier))
	for k, want := range map[string]string{
		"access_type": "offline", "prompt": "consent", "state": "state-1", "client_id": "client-1", "response_type": "code",
		"code_challenge_method": "S256", "code_challenge": base64.RawURLEncoding.EncodeToString(sum[:]),
		"redirect_uri": "https://relink.example/callback",
	} {
		if q.Get(k) != want {
			t.Errorf("authorize %s = %q, want %q", k, q.Get(k), want)
		}
	}
	if !strings.Contains(q.Get("scope"), "https://www.googleapis.com/auth/youtube.upload") || strings.Contains(q.Get("scope"), ",") {
		t.Errorf("scope = %q", q.Get("scope"))
	}

	tok, err := yt.Exchange(context.Background(), cfg, "code-1", verifier)
	if err != nil {
		t.Fatal(err)
	}
	if ts.form.Get("code_verifier") != verifier || ts.form.Get("grant_type") != "authorization_code" || ts.form.Get("code") != "code-1" {
		t.Fatalf("token request = %v", ts.form)
	}
	tokens, grant := yt.Grant(tok, cfg.Scopes, now0)
	if tokens.Access.Reveal() != "ya29.a0Af" || tokens.Refresh.Reveal() != "1//0g-refresh" || !grant.Refreshable || !tokens.IssuedAt.Equal(now0) ||
		!grant.TokenExpiresAt.Equal(now0.Add(3599*time.Second)) || !grant.RefreshExpiresAt.IsZero() ||
		!slices.Equal(grant.Scopes, []string{"https://www.googleapis.com/auth/youtube.upload", "https://www.googleapis.com/auth/youtube.readonly"}) {
		t.Fatalf("grant = %+v", grant)
	}
}

func TestExchangeRefusalIsClassified(t *testing.T) {
	ts := newTokenServer(t, 400, `{"error":"invalid_grant","error_description":"Token has been expired or revoked."}`)
	g := at(GoogleBusiness(), ts.URL)
	cfg := g.OAuthConfig(Credentials{ClientID: "c", ClientSecret: "s"}, "https://relink.example/cb")
	_, err := g.Exchange(context.Background(), cfg, "code", "v")
	var te *TokenError
	if !errors.As(err, &te) || !te.Reauth || te.Transient || te.Status != 400 || te.ChannelError.Code != "invalid_grant" {
		t.Fatalf("refusal = %#v", err)
	}
	if strings.Contains(err.Error(), "expired or revoked") {
		t.Error("the endpoint's body leaked into the error text")
	}

	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()
	gone := at(GoogleBusiness(), down.URL)
	_, err = gone.Exchange(context.Background(), gone.OAuthConfig(Credentials{ClientID: "c", ClientSecret: "s"}, "https://relink.example/cb"), "code", "v")
	if !errors.As(err, &te) || !te.Transient {
		t.Fatalf("unreachable token endpoint: %#v", err)
	}
}

func TestTikTokQuirks(t *testing.T) {
	ts := newTokenServer(t, 200, `{"open_id":"723f24d7-e717-40f8-a2b6-cb8464cd23b4","scope":"user.info.basic,video.publish","access_token":"act.example12345","expires_in":86400,"refresh_token":"rft.example12345","refresh_expires_in":31536000,"token_type":"Bearer"}`)
	tt := at(TikTok(), ts.URL)
	cfg := tt.OAuthConfig(Credentials{ClientID: "key-1", ClientSecret: "s"}, "https://relink.example/cb", account.CapPublish)
	q, _ := url.ParseQuery(strings.SplitN(tt.AuthCodeURL(cfg, "st", "v"), "?", 2)[1])
	if q.Get("client_key") != "key-1" || !strings.Contains(q.Get("scope"), ",") || q.Get("code_challenge") != "" {
		t.Fatalf("TikTok authorize query = %v", q)
	}
	tok, err := tt.Exchange(context.Background(), cfg, "code", "")
	if err != nil {
		t.Fatal(err)
	}
	if ts.form.Get("client_key") != "key-1" {
		t.Fatalf("token request lacks client_key: %v", ts.form)
	}
	_, grant := tt.Grant(tok, cfg.Scopes, now0)
	if !slices.Equal(grant.Scopes, []string{"user.info.basic", "video.publish"}) ||
		!grant.RefreshExpiresAt.Equal(now0.Add(365*24*time.Hour)) || !grant.TokenExpiresAt.Equal(now0.Add(24*time.Hour)) {
		t.Fatalf("TikTok grant = %+v (responses win over documented lifetimes)", grant)
	}
}

func TestPinterestBasicAuthAndRefreshEnd(t *testing.T) {
	ts := newTokenServer(t, 200, `{"access_token":"pina.x","refresh_token":"pinr.x","response_type":"authorization_code","token_type":"bearer","expires_in":2592000,"refresh_token_expires_in":31536000,"scope":"boards:read boards:write pins:read"}`)
	p := at(Pinterest(), ts.URL)
	cfg := p.OAuthConfig(Credentials{ClientID: "app", ClientSecret: "secret"}, "https://relink.example/cb")
	tok, err := p.Exchange(context.Background(), cfg, "code", "")
	if err != nil {
		t.Fatal(err)
	}
	if user, pass, ok := (&http.Request{Header: ts.header}).BasicAuth(); !ok || user != "app" || pass != "secret" || ts.form.Get("client_secret") != "" {
		t.Fatalf("Pinterest client auth: basic %v %q, form %v", ok, user, ts.form)
	}
	_, grant := p.Grant(tok, nil, now0)
	if !grant.RefreshExpiresAt.Equal(now0.Add(365*24*time.Hour)) || len(grant.Scopes) != 3 {
		t.Fatalf("Pinterest grant = %+v", grant)
	}
}

func TestFacebookPageTokenHasNoExpiry(t *testing.T) {
	ts := newTokenServer(t, 200, `{"access_token":"EAAB-page","token_type":"bearer"}`)
	fb := at(Facebook(), ts.URL)
	cfg := fb.OAuthConfig(Credentials{ClientID: "app", ClientSecret: "s"}, "https://relink.example/cb")
	tok, err := fb.Exchange(context.Background(), cfg, "code", "")
	if err != nil {
		t.Fatal(err)
	}
	tokens, grant := fb.Grant(tok, []string{"pages_show_list"}, now0)
	if !grant.TokenExpiresAt.IsZero() || grant.Refreshable || tokens.Refresh != "" || !slices.Equal(grant.Scopes, []string{"pages_show_list"}) {
		t.Fatalf("Facebook grant = %+v", grant)
	}
	// A long-lived user token says how long it lives (§1.1 sample).
	ts2 := newTokenServer(t, 200, `{"access_token":"EAAB-user","token_type":"bearer","expires_in":5183944}`)
	fb2 := at(Facebook(), ts2.URL)
	tok, err = fb2.Exchange(context.Background(), fb2.OAuthConfig(Credentials{ClientID: "app", ClientSecret: "s"}, "https://relink.example/cb"), "code", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, g := fb.Grant(tok, nil, now0); !g.TokenExpiresAt.Equal(now0.Add(5183944 * time.Second)) {
		t.Fatalf("long-lived user token expiry = %v", g.TokenExpiresAt)
	}
}

func TestSeconds(t *testing.T) {
	for _, tc := range []struct {
		in   any
		want time.Duration
		ok   bool
	}{{3600.0, time.Hour, true}, {"7200", 2 * time.Hour, true}, {"x", 0, false}, {-1.0, 0, false}, {nil, 0, false}, {1e12, 0, false}} {
		got, ok := seconds(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("seconds(%v) = %v, %v", tc.in, got, ok)
		}
	}
}
