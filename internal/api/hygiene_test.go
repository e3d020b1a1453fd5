package api

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/relinkhq/relink/internal/admin"
	"github.com/relinkhq/relink/internal/api/apitest"
	"github.com/relinkhq/relink/internal/auth"
	"github.com/relinkhq/relink/internal/bolt"
	"github.com/relinkhq/relink/internal/channel"
	"github.com/relinkhq/relink/internal/clock"
	"github.com/relinkhq/relink/internal/connect"
	"github.com/relinkhq/relink/internal/ident"
	"github.com/relinkhq/relink/internal/mailbox"
	"github.com/relinkhq/relink/internal/portal"
	"github.com/relinkhq/relink/internal/probe"
	"github.com/relinkhq/relink/internal/sandbox"
	"github.com/relinkhq/relink/internal/secrets"
	"github.com/relinkhq/relink/internal/store"
	"github.com/relinkhq/relink/internal/vault"
	"github.com/relinkhq/relink/internal/workspace"
)

// Secrets hygiene (issue #7, item 5).
//
// Full flows run over HTTP against stacks wired as the local server wires them, with
// app keys derived from a random master key and a random token key ring: the admin
// API's lifecycle scenario (apitest), an owner's magic-link pages (reconnect, connect,
// sign out, a rotated link, new links by link and by address), an invite confirmed
// with an emailed code after a wrong one and a resend, a token refresh, and failures
// that are ours (the channel down, email refused, the store gone) so that error paths
// log. Everything is captured: every log line (the logger injected into every service,
// and the default logger, which nothing should use) and every answer the stack gives
// a browser or an API client, headers and body.
//
// The secrets are collected where they are minted: access and refresh tokens from the
// sandbox's token endpoint answers, magic-link tokens and one-time codes from the dev
// mailbox (and the API answers that hand a link out by design), session and CSRF
// cookie values from Set-Cookie, bearer tokens and channel client credentials from the
// requests, the client secret from the credentials, and the app master key, the keys
// derived from it and the token key ring. None may appear, raw or base64-, hex-, URL-,
// HTML- or JSON-encoded, in any log line or answer, except exactly where it must be:
// a cookie in the Set-Cookie header that sets it; a magic link in the API answer that
// returns it on purpose (connect-link, readd, the activate refusal with re-add links)
// and on the "this link no longer works" page of that very link. The emails themselves
// legitimately hold links and codes; they are not logs and are scanned only for the
// other kinds.

// exchange is one request the stack answered, as the client saw it.
type exchange struct {
	method, path, query string
	authorization       string
	status              int
	header              http.Header
	body                []byte
}

// recorder keeps every exchange that passes through the stack's handler.
type recorder struct {
	next http.Handler
	mu   sync.Mutex
	ex   []exchange
}

func (rec *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	cw := &captureWriter{ResponseWriter: w}
	rec.next.ServeHTTP(cw, r)
	if !cw.wrote {
		cw.WriteHeader(http.StatusOK)
	}
	rec.mu.Lock()
	rec.ex = append(rec.ex, exchange{method: r.Method, path: r.URL.Path, query: r.URL.RawQuery,
		authorization: r.Header.Get("Authorization"), status: cw.status, header: cw.header, body: cw.buf.Bytes()})
	rec.mu.Unlock()
}

func (rec *recorder) all() []exchange {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return slices.Clone(rec.ex)
}

type captureWriter struct {
	http.ResponseWriter
	wrote  bool
	status int
	header http.Header
	buf    bytes.Buffer
}

func (c *captureWriter) WriteHeader(status int) {
	if !c.wrote {
		c.wrote, c.status, c.header = true, status, c.ResponseWriter.Header().Clone()
	}
	c.ResponseWriter.WriteHeader(status)
}

func (c *captureWriter) Write(b []byte) (int, error) {
	if !c.wrote {
		c.WriteHeader(http.StatusOK)
	}
	c.buf.Write(b)
	return c.ResponseWriter.Write(b)
}

func (c *captureWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }

// hygieneStack is one stack under capture.
type hygieneStack struct {
	*env
	rec  *recorder
	keys map[string][]byte // app master key, derived keys, token key ring material
}

// newHygieneStack wires a stack as the local server does (devserver's build): app keys
// derived from a master key, a token key ring, one JSON logger for every service.
func newHygieneStack(t *testing.T) *hygieneStack {
	t.Helper()
	master := make([]byte, 32)
	if _, err := io.ReadFull(rand.Reader, master); err != nil {
		t.Fatal(err)
	}
	keys, err := secrets.DeriveAppKeys(master)
	if err != nil {
		t.Fatal(err)
	}
	rawRing, err := vault.GenerateKeyRing("k1")
	if err != nil {
		t.Fatal(err)
	}
	kr, err := vault.ParseKeyRing(rawRing)
	if err != nil {
		t.Fatal(err)
	}
	h := &hygieneStack{keys: map[string][]byte{"app master key": master, "cursor key": keys.Cursor,
		"session key": keys.Session, "code pepper": keys.CodePepper, "unsubscribe key": keys.Unsubscribe,
		"API token key": keys.APIToken}}
	for id, m := range kr.Keys {
		h.keys["token key "+id] = m
	}

	clk := clock.NewManual(t0)
	st, err := bolt.Open(filepath.Join(t.TempDir(), "relink.db"), store.Config{Clock: clk, CursorKey: keys.Cursor})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e := &env{t: t, clock: clk, store: st, mailbox: mailbox.New(clk), sandbox: sandbox.New(clk, rand.Reader), logs: &syncBuffer{}}
	mux := http.NewServeMux()
	mux.Handle("/sandbox/", e.sandbox)
	h.rec = &recorder{next: mux}
	e.srv = httptest.NewServer(h.rec)
	e.api = e.srv
	t.Cleanup(e.srv.Close)
	reg, err := channel.Default(e.srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewJSONHandler(e.logs, nil))
	ids := ident.NewULID(clk.Now)
	v := vault.New(ring{kr})
	e.portal = portal.New(portal.Deps{Store: st, Registry: reg, Credentials: creds{},
		Identifiers: map[string]connect.Identifier{channel.SandboxID: connect.SandboxIdentifier{HTTP: e.srv.Client()}},
		Vault:       v, Mail: e.mailbox, Clock: clk, IDs: ids, Random: rand.Reader, HTTP: e.srv.Client(), BaseURL: e.srv.URL,
		CodePepper: keys.CodePepper, UnsubscribeKey: keys.Unsubscribe, Logger: logger})
	e.svc = &admin.Service{Store: st, Registry: reg, Links: e.portal.Links, Connect: e.portal.Connect, Mail: e.mailbox,
		Clock: clk, IDs: ids, Random: rand.Reader, Logger: logger,
		Checker: admin.ProbeChecker{Store: st, Vault: v, Registry: reg,
			Prober: &probe.Prober{HTTP: e.srv.Client(), Credentials: creds{}, Clock: clk}}}
	e.handler = NewHandler(e.svc, logger)
	e.issuer = auth.Issuer{Key: keys.APIToken, Issuer: "relink-local", Audience: "relink-api", Now: clk.Now}
	mux.Handle("/v1/", e.issuer.Middleware(e.handler))
	owner := portal.NewHandler(e.portal, portal.Signer{Key: keys.Session})
	for _, r := range portal.Routes {
		mux.Handle(r, owner)
	}
	e.seed()
	h.env = e
	return h
}

// hbrowser is a person's browser: cookies kept, redirects followed.
type hbrowser struct {
	t    *testing.T
	c    *http.Client
	base string
}

type hpage struct {
	status int
	url    *url.URL
	body   []byte
}

func (h *hygieneStack) browser() *hbrowser {
	jar, _ := cookiejar.New(nil)
	return &hbrowser{t: h.t, c: &http.Client{Jar: jar}, base: h.srv.URL}
}

func (b *hbrowser) do(req *http.Request) hpage {
	b.t.Helper()
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return hpage{status: resp.StatusCode, url: resp.Request.URL, body: body}
}

func (b *hbrowser) get(u string) hpage {
	b.t.Helper()
	if strings.HasPrefix(u, "/") {
		u = b.base + u
	}
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	return b.do(req)
}

var csrfValue = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// post submits a form of page (its CSRF token included).
func (b *hbrowser) post(path string, page hpage, form url.Values) hpage {
	b.t.Helper()
	if m := csrfValue.FindSubmatch(page.body); m != nil {
		form.Set("csrf", html.UnescapeString(string(m[1])))
	}
	req, _ := http.NewRequest(http.MethodPost, b.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", b.base)
	return b.do(req)
}

// consent allows everything on the sandbox consent page the browser is on.
func (b *hbrowser) consent(page hpage, profile string) hpage {
	b.t.Helper()
	if page.status != http.StatusOK || !strings.HasSuffix(page.url.Path, "/sandbox/oauth/authorize") {
		b.t.Fatalf("not on the sandbox consent page: %d %s\n%s", page.status, page.url, page.body)
	}
	form := page.url.Query()
	form.Set("decision", "allow")
	form.Set("profile", profile)
	for _, sc := range strings.Fields(form.Get("scope")) {
		form.Add("grant_scope", sc)
	}
	return b.post("/sandbox/oauth/authorize", hpage{}, form)
}

func expectPage(t *testing.T, step string, p hpage, status int, path string) {
	t.Helper()
	if p.status != status || (path != "" && p.url.Path != path) {
		t.Fatalf("%s: %d %s, want %d %s\n%s", step, p.status, p.url, status, path, p.body)
	}
}

var (
	linkToken = regexp.MustCompile(`/l/([A-Za-z0-9_-]{43})`)
	codeLine  = regexp.MustCompile(`Your Relink code: (\d{3}) (\d{3})`)
	flowField = regexp.MustCompile(`name="flow" value="([^"]+)"`)
)

// newestLink is the magic-link token of the newest email to address.
func (h *hygieneStack) newestLink(address string) string {
	h.t.Helper()
	for _, m := range h.mailbox.To(address) {
		if s := linkToken.FindStringSubmatch(m.Text); s != nil {
			return s[1]
		}
	}
	h.t.Fatalf("no link emailed to %s", address)
	return ""
}

func (h *hygieneStack) newestCode(address string) string {
	h.t.Helper()
	for _, m := range h.mailbox.To(address) {
		if s := codeLine.FindStringSubmatch(m.Subject); s != nil {
			return s[1] + s[2]
		}
	}
	h.t.Fatalf("no code emailed to %s", address)
	return ""
}

func (h *hygieneStack) grantOf(profile string) string {
	h.t.Helper()
	var id string
	for _, g := range h.sandbox.Grants() {
		if g.ProfileID == profile {
			id = g.ID // the newest
		}
	}
	if id == "" {
		h.t.Fatalf("no sandbox grant for %s", profile)
	}
	return id
}

func (h *hygieneStack) must(step string, a answer, status int) answer {
	h.t.Helper()
	if a.status != status {
		h.t.Fatalf("%s: %d, want %d\n%s", step, a.status, status, a.body)
	}
	return a
}

// ownerFlows drives the owner pages and the failure paths on a stack of its own.
func (h *hygieneStack) ownerFlows() {
	t := h.t
	pat := h.token(wsA, patID)
	brand := h.connect(wsA, oliviaID, workspace.RoleOwner, "sandbox-olivia")[0].ID
	for _, p := range []string{"/v1/dashboard", "/v1/accounts", "/v1/accounts/" + brand, "/v1/accounts/" + brand + "/events",
		"/v1/users", "/v1/users/" + oliviaID, "/v1/groups", "/v1/workspace"} {
		h.must("GET "+p, h.call(pat, "GET", p, nil), 200)
	}

	// An emailed connect link opens Olivia's pages: reconnect, connect, sign out.
	h.must("email a connect link", h.call(pat, "POST", "/v1/users/"+oliviaID+"/connect-link", map[string]any{"send": true}), 200)
	emailed := h.newestLink("olivia@acme.example")
	b := h.browser()
	page := b.get("/l/" + emailed)
	expectPage(t, "open the emailed link", page, 200, "/me")
	page = b.consent(b.post("/me/reconnect", page, url.Values{"account": {brand}}), "sandbox-olivia")
	expectPage(t, "reconnect", page, 200, "/me")
	page = b.consent(b.post("/me/connect", page, url.Values{"channel": {"sandbox"}}), "sandbox-olivia")
	expectPage(t, "connect", page, 200, "/me")
	expectPage(t, "sign out", b.post("/signout", page, url.Values{}), 200, "")
	expectPage(t, "after signing out", b.get("/me"), 401, "/me")

	// A copied link (handed out in the API answer) works elsewhere; the emailed one stops,
	// and its page offers a new one, by the old link and by address.
	var cl admin.ConnectLink
	h.must("copy a connect link", h.call(pat, "POST", "/v1/users/"+oliviaID+"/connect-link", map[string]any{"send": false}), 200).json(t, &cl)
	expectPage(t, "open the copied link", h.browser().get(cl.URL), 200, "/me")
	b3 := h.browser()
	page = b3.get("/l/" + emailed)
	expectPage(t, "open the rotated link", page, 410, "")
	expectPage(t, "new link by the old one", b3.post("/link/new", page, url.Values{"token": {emailed}}), 200, "")
	page = b3.get("/link/new")
	expectPage(t, "new link by address", b3.post("/link/new", page, url.Values{"email": {"olivia@acme.example"}}), 200, "")
	expectPage(t, "open the requested link", h.browser().get("/l/"+h.newestLink("olivia@acme.example")), 200, "/me")

	// An invite, confirmed with the emailed code after a wrong one and a resend.
	h.must("invite", h.call(pat, "POST", "/v1/invites", map[string]any{"emails": []string{"zed@acme.example"},
		"channels": []string{"sandbox"}, "message": "Connect the studio, please."}), 200)
	b4 := h.browser()
	page = b4.get("/l/" + h.newestLink("zed@acme.example"))
	expectPage(t, "open the invite", page, 200, "/invite")
	page = b4.consent(b4.post("/invite/connect", page, url.Values{"channel": {"sandbox"}}), "sandbox-omar")
	expectPage(t, "after the invite's consent", page, 200, "/invite/code")
	flow := string(flowField.FindSubmatch(page.body)[1])
	first := h.newestCode("zed@acme.example")
	wrong := fmt.Sprintf("%06d", (mustAtoi(first)+1)%1000000)
	page = b4.post("/invite/code", page, url.Values{"flow": {flow}, "code": {wrong}})
	expectPage(t, "a wrong code", page, 400, "")
	page = b4.post("/invite/code/resend", page, url.Values{"flow": {flow}})
	expectPage(t, "resend the code", page, 200, "")
	second := h.newestCode("zed@acme.example")
	if second == first {
		t.Fatal("the resent code is the first one")
	}
	page = b4.post("/invite/code", page, url.Values{"flow": {flow}, "code": {second}})
	expectPage(t, "the right code", page, 200, "/me")
	var zed admin.AccountList
	h.call(pat, "GET", "/v1/accounts?channel=sandbox&state=active", nil).json(t, &zed)

	// The access token expired: activating refreshes it (a new access and refresh token).
	h.must("deactivate", h.call(pat, "POST", "/v1/accounts/"+brand+"/deactivate", map[string]any{"note": "pause"}), 200)
	if err := h.sandbox.Act(h.grantOf("sandbox-olivia"), sandbox.ActExpire, ""); err != nil {
		t.Fatal(err)
	}
	h.must("activate with a refresh", h.call(pat, "POST", "/v1/accounts/"+brand+"/activate", nil), 200)

	// The password changed: the report disconnects; re-add links; a reminder now.
	if err := h.sandbox.Act(h.grantOf("sandbox-olivia"), sandbox.ActPasswordChanged, ""); err != nil {
		t.Fatal(err)
	}
	h.must("report", h.call(h.token(wsA, svcID), "POST", "/v1/accounts/"+brand+"/failures", map[string]any{"http_status": 401,
		"body": map[string]any{"error": "invalid_token", "reason": "password_changed"}}), 200)
	h.must("readd", h.call(pat, "POST", "/v1/accounts/"+brand+"/readd", nil), 200)
	h.must("remind", h.call(pat, "POST", "/v1/accounts/"+brand+"/remind", nil), 200)
	h.must("deactivate the dead one", h.call(pat, "POST", "/v1/accounts/"+brand+"/deactivate", nil), 200)
	h.must("activate the dead one", h.call(pat, "POST", "/v1/accounts/"+brand+"/activate", nil), 409)

	// Our failures, which are logged: the channel is down during a token check …
	var studio string
	var list admin.AccountList
	h.call(pat, "GET", "/v1/accounts?state=active", nil).json(t, &list)
	for _, a := range list.Accounts {
		if a.Name == "Sandbox Studio" {
			studio = a.ID
		}
	}
	if studio == "" {
		t.Fatalf("Zed's account is not active: %+v", list.Accounts)
	}
	h.must("deactivate Zed's", h.call(pat, "POST", "/v1/accounts/"+studio+"/deactivate", nil), 200)
	if err := h.sandbox.Act(h.grantOf("sandbox-omar"), sandbox.ActOutage, ""); err != nil {
		t.Fatal(err)
	}
	h.must("activate while the channel is down", h.call(pat, "POST", "/v1/accounts/"+studio+"/activate", nil), 503)

	// … email is refused …
	for _, a := range []string{"olivia@acme.example", "fail@acme.example"} {
		h.mailbox.FailFor(a, nil)
	}
	h.must("email a link, refused", h.call(pat, "POST", "/v1/users/"+oliviaID+"/connect-link", map[string]any{"send": true}), 503)
	h.must("a new owner, email refused", h.call(pat, "POST", "/v1/users", map[string]any{"email": "fail@acme.example", "role": "owner"}), 201)
	h.must("invite, email refused", h.call(pat, "POST", "/v1/invites", map[string]any{"emails": []string{"fail@acme.example"},
		"channels": []string{"sandbox"}}), 200)
	b5 := h.browser()
	page = b5.get("/link/new")
	b5.post("/link/new", page, url.Values{"email": {"fail@acme.example"}})
	h.mailbox.Heal()

	// … a token that is not one, and then the store is gone.
	h.must("a made-up token", h.call("not-a-token", "GET", "/v1/accounts", nil), 401)
	if err := h.store.(interface{ Close() error }).Close(); err != nil {
		t.Fatal(err)
	}
	h.must("the store is gone", h.call(pat, "GET", "/v1/accounts", nil), 500)
	expectPage(t, "the store is gone (owner pages)", b4.get("/me"), 500, "")
}

func mustAtoi(s string) int {
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}

// secret is one value that must not leak, and what it is.
type secret struct {
	kind  string
	value string
	raw   []byte // binary keys: encoded forms only

	all  []string       // forms(), once
	code *regexp.Regexp // a one-time code standing alone
}

// prepared computes what found needs, once.
func (s secret) prepared() secret {
	if s.kind == "one-time code" {
		v := s.value
		s.code = regexp.MustCompile(`(^|[^0-9])(` + v + `|` + v[:3] + ` ` + v[3:] + `|` + v[:3] + `-` + v[3:] + `)($|[^0-9])`)
		return s
	}
	s.all = s.forms()
	return s
}

// forms are the ways a secret could be written out.
func (s secret) forms() []string {
	var out []string
	add := func(v string) {
		if len(v) >= 8 && !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	b := s.raw
	if b == nil {
		b = []byte(s.value)
		add(s.value)
		add(url.QueryEscape(s.value))
		add(url.PathEscape(s.value))
		add(html.EscapeString(s.value))
		j, _ := json.Marshal(s.value)
		add(strings.Trim(string(j), `"`))
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		add(enc.EncodeToString(b))
	}
	if s.raw != nil {
		add(hex.EncodeToString(b))
		add(strings.ToUpper(hex.EncodeToString(b)))
	}
	return out
}

// found reports whether text holds the secret in any form. A one-time code is six
// digits: it counts only standing alone (not inside a longer number), plain or spaced.
func (s secret) found(text string) bool {
	if s.code != nil {
		return s.code.MatchString(text)
	}
	for _, f := range s.all {
		if strings.Contains(text, f) {
			return true
		}
	}
	return false
}

// place is one captured text: a log line, an answer's body or one of its headers,
// with the secrets that may stand there.
type place struct {
	where   string
	text    string
	allowed []string
}

// harvest collects the secrets a stack minted and the places they must not be.
func (h *hygieneStack) harvest(secrets map[string]secret, places *[]place) (mail []place) {
	t := h.t
	add := func(kind, value string) {
		if value != "" {
			if _, ok := secrets[value]; !ok {
				secrets[value] = secret{kind: kind, value: value}
			}
		}
	}
	for name, k := range h.keys {
		secrets[name+hex.EncodeToString(k)] = secret{kind: name, raw: k}
	}
	add("client secret", sandbox.ClientSecret)

	// The mailbox: links and codes; the emails are kept apart.
	for _, m := range h.mailbox.All() {
		for _, s := range linkToken.FindAllStringSubmatch(m.Text+m.HTML, -1) {
			add("magic-link token", s[1])
		}
		for _, s := range codeLine.FindAllStringSubmatch(m.Subject+"\n"+m.Text, -1) {
			add("one-time code", s[1]+s[2])
		}
		mail = append(mail, place{where: "the email " + m.ID + " " + m.Subject, text: m.Subject + "\n" + m.Text + "\n" + m.HTML})
	}

	// Mint points: the channel's token answers, cookies set, credentials presented.
	serverToServer := []string{"/sandbox/oauth/token", "/sandbox/oauth/introspect", "/sandbox/oauth/revoke", "/sandbox/api/"}
	for _, x := range h.rec.all() {
		if x.path == "/sandbox/oauth/token" && x.status == 200 {
			var tok struct{ AccessToken, RefreshToken string }
			var raw map[string]any
			if json.Unmarshal(x.body, &raw) != nil {
				t.Fatalf("sandbox token answer is not JSON: %s", x.body)
			}
			tok.AccessToken, _ = raw["access_token"].(string)
			tok.RefreshToken, _ = raw["refresh_token"].(string)
			add("access token", tok.AccessToken)
			add("refresh token", tok.RefreshToken)
		}
		if scheme, cred, ok := strings.Cut(x.authorization, " "); ok {
			switch scheme {
			case "Bearer":
				if strings.HasPrefix(x.path, "/v1/") {
					add("admin API bearer token", cred)
				} else {
					add("access token", cred)
				}
			case "Basic":
				add("channel client credentials", cred)
			}
		}
		for _, c := range (&http.Response{Header: x.header}).Cookies() {
			if c.Value != "" {
				add("cookie "+c.Name, c.Value)
			}
		}
		if strings.HasPrefix(x.path, "/v1/") {
			for _, s := range linkToken.FindAllStringSubmatch(string(x.body), -1) {
				add("magic-link token", s[1])
			}
		}
	}

	// Places: every answer to a browser or API client, header by header and its body.
	for _, x := range h.rec.all() {
		if slices.ContainsFunc(serverToServer, func(p string) bool { return strings.HasPrefix(x.path, p) }) {
			continue // the channel answering Relink's own back end
		}
		name := x.method + " " + x.path
		var bodyAllowed []string
		if x.method == "POST" && strings.HasPrefix(x.path, "/v1/") && (strings.HasSuffix(x.path, "/connect-link") ||
			strings.HasSuffix(x.path, "/readd") || strings.HasSuffix(x.path, "/activate")) {
			// These answers hand a link out on purpose: the links they return, there only.
			for _, s := range linkToken.FindAllStringSubmatch(string(x.body), -1) {
				bodyAllowed = append(bodyAllowed, s[1])
			}
		}
		if tok, ok := strings.CutPrefix(x.path, "/l/"); ok && x.status == http.StatusGone {
			bodyAllowed = append(bodyAllowed, tok) // "this link no longer works", with a form to replace it
		}
		*places = append(*places, place{where: fmt.Sprintf("the body of %s (%d)", name, x.status), text: string(x.body), allowed: bodyAllowed})
		for k, vs := range x.header {
			for _, v := range vs {
				var allowed []string
				if k == "Set-Cookie" {
					if c, err := http.ParseSetCookie(v); err == nil {
						allowed = append(allowed, c.Value)
					}
				}
				*places = append(*places, place{where: fmt.Sprintf("the %s header of %s (%d)", k, name, x.status), text: k + ": " + v, allowed: allowed})
			}
		}
	}
	return mail
}

// TestNoSecretsInLogsOrAnswers: see the comment at the top of this file.
func TestNoSecretsInLogsOrAnswers(t *testing.T) {
	// Anything logged through the default logger (or the log package) is caught too.
	stray := &syncBuffer{}
	prevLogger, prevOut, prevFlags := slog.Default(), log.Writer(), log.Flags()
	slog.SetDefault(slog.New(slog.NewJSONHandler(stray, nil)))
	t.Cleanup(func() {
		slog.SetDefault(prevLogger)
		log.SetOutput(prevOut)
		log.SetFlags(prevFlags)
	})

	lifecycle := newHygieneStack(t)
	apitest.Lifecycle(t, lifecycle.stack(), omarID)
	owner := newHygieneStack(t)
	owner.ownerFlows()

	secretsByValue := map[string]secret{}
	var places, mail []place
	var logText strings.Builder
	for _, h := range []*hygieneStack{lifecycle, owner} {
		h.srv.Close() // every request finished: its answer recorded, its log line written
		mail = append(mail, h.harvest(secretsByValue, &places)...)
		logText.WriteString(h.logs.String())
	}
	logText.WriteString(stray.String())

	// Every log line is one JSON object with a time, a level and a message.
	lines := strings.Split(strings.TrimRight(logText.String(), "\n"), "\n")
	levels, apiLines := map[string]int{}, 0
	for i, line := range lines {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Errorf("log line %d is not JSON: %v\n%s", i+1, err, line)
			continue
		}
		ts, _ := rec["time"].(string)
		if _, err := time.Parse(time.RFC3339Nano, ts); err != nil {
			t.Errorf("log line %d has no valid time: %s", i+1, line)
		}
		lvl, _ := rec["level"].(string)
		if !slices.Contains([]string{"DEBUG", "INFO", "WARN", "ERROR"}, lvl) {
			t.Errorf("log line %d has no level: %s", i+1, line)
		}
		if msg, _ := rec["msg"].(string); msg == "" {
			t.Errorf("log line %d has no message: %s", i+1, line)
		}
		levels[lvl]++
		if rec["msg"] == "api request" {
			apiLines++
		}
		places = append(places, place{where: fmt.Sprintf("log line %d", i+1), text: line})
	}
	if stray.String() != "" {
		t.Errorf("something logged through the default logger instead of the injected one:\n%s", stray.String())
	}
	// Every API request is logged once; our failures are logged as errors.
	apiRequests := 0
	for _, h := range []*hygieneStack{lifecycle, owner} {
		for _, x := range h.rec.all() {
			if strings.HasPrefix(x.path, "/v1/") && x.path != "/v1/openapi.yaml" {
				apiRequests++
			}
		}
	}
	if apiLines != apiRequests || levels["ERROR"] < 7 {
		t.Fatalf("%d API requests but %d request log lines; %d errors logged, want at least 7:\n%s",
			apiRequests, apiLines, levels["ERROR"], logText.String())
	}

	// The secrets were collected, of every kind.
	kinds := map[string]int{}
	var all []secret
	for _, s := range secretsByValue {
		kinds[s.kind]++
		all = append(all, s.prepared())
	}
	sort.Slice(all, func(i, j int) bool { return all[i].kind+all[i].value < all[j].kind+all[j].value })
	for kind, least := range map[string]int{"access token": 6, "refresh token": 6, "magic-link token": 12, "one-time code": 3,
		"cookie __Host-relink-session": 5, "cookie __Host-relink-csrf": 5, "admin API bearer token": 3, "client secret": 1,
		"app master key": 2, "session key": 2, "API token key": 2, "cursor key": 2, "code pepper": 2, "unsubscribe key": 2,
		"token key k1": 2} {
		if kinds[kind] < least {
			t.Errorf("only %d secrets of kind %q collected, want at least %d", kinds[kind], kind, least)
		}
	}

	// None is anywhere it may not be.
	scanned := 0
	for _, p := range places {
		scanned += len(p.text)
		for _, s := range all {
			if s.found(p.text) && !slices.Contains(p.allowed, s.value) {
				t.Errorf("a %s (%.6s…) is in %s:\n%.600s", s.kind, s.value+hex.EncodeToString(s.raw), p.where, p.text)
			}
		}
	}
	// Emails carry links and codes by design; nothing else secret.
	for _, p := range mail {
		for _, s := range all {
			if s.kind != "magic-link token" && s.kind != "one-time code" && s.found(p.text) {
				t.Errorf("a %s is in %s", s.kind, p.where)
			}
		}
	}
	var summary []string
	for k, n := range kinds {
		summary = append(summary, fmt.Sprintf("%s %d", k, n))
	}
	sort.Strings(summary)
	t.Logf("secrets hygiene: %d secrets (%s) searched in %d places (%d log lines, %d answers' bodies and headers), %d KB; %d emails checked apart",
		len(all), strings.Join(summary, ", "), len(places), len(lines), len(places)-len(lines), scanned/1024, len(mail))
}
