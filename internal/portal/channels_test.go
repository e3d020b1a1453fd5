package portal

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/relinkhq/relink/internal/account"
	"github.com/relinkhq/relink/internal/channel"
	"github.com/relinkhq/relink/internal/connect"
	"github.com/relinkhq/relink/internal/magiclink"
)

// provider is a channel's authorization server as a person meets it: the authorize
// endpoint consents at once (the person is signed in and clicks Continue) and sends
// the browser back with a code bound to the PKCE challenge; the token endpoint takes
// the code once.
type provider struct {
	t        *testing.T
	prefix   string // path prefix under the env's /fake/
	mu       sync.Mutex
	codes    map[string]string // code → challenge
	n        int
	tokenRes map[string]any
}

func (p *provider) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	back, err := url.Parse(q.Get("redirect_uri"))
	if err != nil || q.Get("client_id") != "relink-local" || q.Get("state") == "" || q.Get("response_type") != "code" {
		p.t.Errorf("authorize with %v", q)
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	p.mu.Lock()
	p.n++
	code := "code-" + strings.Repeat("x", p.n)
	p.codes[code] = q.Get("code_challenge")
	p.mu.Unlock()
	bq := back.Query()
	bq.Set("code", code)
	bq.Set("state", q.Get("state"))
	back.RawQuery = bq.Encode()
	http.Redirect(w, r, back.String(), http.StatusFound)
}

func (p *provider) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	code := r.PostForm.Get("code")
	p.mu.Lock()
	challenge, ok := p.codes[code]
	delete(p.codes, code)
	p.mu.Unlock()
	sum := sha256.Sum256([]byte(r.PostForm.Get("code_verifier")))
	if !ok || challenge != "" && base64.RawURLEncoding.EncodeToString(sum[:]) != challenge {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": "invalid_grant"})
		return
	}
	writeJSON(w, http.StatusOK, p.tokenRes)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (e *env) provider(prefix string, tokenRes map[string]any) *provider {
	p := &provider{t: e.t, prefix: prefix, codes: map[string]string{}, tokenRes: tokenRes}
	e.extra.HandleFunc("GET /fake/"+prefix+"/authorize", p.authorize)
	e.extra.HandleFunc("POST /fake/"+prefix+"/token", p.token)
	return p
}

// facebook is the Facebook Pages entry on a Graph-shaped fake: the long-lived
// exchange, /me, and /me/accounts with each Page's tasks and Page token. Acme Bakery's
// manager lost CREATE_CONTENT.
func facebook(e *env, base string) (channel.Channel, connect.Identifier) {
	ch := channel.Facebook()
	ch.AuthorizeURL, ch.TokenURL = base+"/facebook/authorize", base+"/facebook/token"
	ch.ExchangeURL = base + "/facebook/graph/oauth/access_token"
	return ch, connect.FacebookIdentifier{HTTP: e.srv.Client(), GraphURL: base + "/facebook/graph", Credentials: creds{}}
}

func (e *env) graph() {
	e.provider("facebook", map[string]any{"access_token": "short-user", "token_type": "bearer", "expires_in": 5000})
	all := []string{"pages_show_list", "pages_manage_posts", "pages_read_engagement", "pages_manage_engagement",
		"pages_read_user_content", "pages_manage_metadata", "pages_messaging", "read_insights", "publish_video", "ads_management"}
	e.extra.HandleFunc("GET /fake/facebook/graph/oauth/access_token", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("fb_exchange_token") != "short-user" {
			writeJSON(w, 400, map[string]any{"error": map[string]any{"message": "Invalid OAuth access token.", "type": "OAuthException", "code": 190}})
			return
		}
		writeJSON(w, 200, map[string]any{"access_token": "long-user", "token_type": "bearer", "expires_in": 5183944,
			"scope": strings.Join(all, ",")})
	})
	e.extra.HandleFunc("GET /fake/facebook/graph/me", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string]any{"id": "fb-olivia", "name": "Olivia"})
	})
	e.extra.HandleFunc("GET /fake/facebook/graph/me/accounts", func(w http.ResponseWriter, r *http.Request) {
		tasks := []string{"ANALYZE", "ADVERTISE", "MODERATE", "CREATE_CONTENT", "MANAGE", "MESSAGING"}
		writeJSON(w, 200, map[string]any{"data": []map[string]any{
			{"id": "101010", "name": "Acme Coffee", "access_token": "page-coffee", "tasks": tasks},
			{"id": "202020", "name": "Acme Bakery", "access_token": "page-bakery", "tasks": []string{"ANALYZE", "ADVERTISE", "MODERATE", "MANAGE", "MESSAGING"}},
		}})
	})
}

func youtube(e *env, base string) (channel.Channel, connect.Identifier) {
	ch := channel.YouTube()
	ch.AuthorizeURL, ch.TokenURL = base+"/google/authorize", base+"/google/token"
	return ch, connect.GoogleIdentifier{HTTP: e.srv.Client(), APIURL: base + "/google/api"}
}

func (e *env) google() {
	yt := channel.YouTube()
	e.provider("google", map[string]any{"access_token": "ya29.access", "refresh_token": "1//refresh", "expires_in": 3599,
		"token_type": "Bearer", "scope": strings.Join(yt.Scopes(), " ")})
	e.extra.HandleFunc("GET /fake/google/api/youtube/v3/channels", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer ya29.access" {
			writeJSON(w, 401, map[string]any{"error": map[string]any{"code": 401, "message": "Request had invalid authentication credentials.", "status": "UNAUTHENTICATED"}})
			return
		}
		writeJSON(w, 200, map[string]any{"kind": "youtube#channelListResponse",
			"items": []map[string]any{{"kind": "youtube#channel", "id": "UC-acme", "snippet": map[string]any{"title": "Acme TV"}}}})
	})
}

// TestReconnectFacebookAndYouTube walks the owner's path on two real channel entries
// against servers answering like Graph and Google: a disconnected Page comes back
// active, its sibling Page missing CREATE_CONTENT comes back action required with
// exactly that; a disconnected YouTube channel comes back active and refreshable.
func TestReconnectFacebookAndYouTube(t *testing.T) {
	e := newEnv(t, facebook, youtube)
	e.graph()
	e.google()
	coffee := e.account("acct-coffee", "facebook", "101010", "Acme Coffee", "u-olivia", "fb-olivia", account.StateDisconnected)
	bakery := e.account("acct-bakery", "facebook", "202020", "Acme Bakery", "u-olivia", "fb-olivia", account.StateDisconnected)
	tv := e.account("acct-tv", "youtube", "UC-acme", "Acme TV", "u-olivia", "", account.StateDisconnected)

	b := e.browser()
	b.open("/l/" + e.link("u-olivia", magiclink.PurposeReconnect))
	mustContain(t, b.reconnect(coffee.ID), `class="flash flash-ok"`, "Connected:", "Acme Coffee")
	if a := e.get(coffee.ID); a.State != account.StateActive || !a.TokenExpiresAt.IsZero() {
		t.Fatalf("Acme Coffee (a Page token never expires): %+v", a)
	}

	p := b.reconnect(bakery.ID)
	mustContain(t, p, `class="flash flash-warn"`, "Acme Bakery", "Action required", "<code>CREATE_CONTENT</code>", "breaks publishing")
	a := e.get(bakery.ID)
	if a.State != account.StateActionRequired || len(a.Missing) != 1 || a.Missing[0].Name != "CREATE_CONTENT" ||
		a.Missing[0].Kind != channel.KindTask || len(a.Missing[0].Breaks) != 1 || a.Missing[0].Breaks[0] != account.CapPublish {
		t.Fatalf("Acme Bakery: %+v", a)
	}

	mustContain(t, b.reconnect(tv.ID), `class="flash flash-ok"`, "Acme TV")
	if a := e.get(tv.ID); a.State != account.StateActive || !a.Refreshable || !a.TokenExpiresAt.Equal(t0.Add(3599e9)) {
		t.Fatalf("Acme TV: %+v", a)
	}
}
