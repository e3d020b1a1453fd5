package portal

// Fuzz targets for what reaches the owner pages from outside: magic-link tokens
// (GET /l/{token}), OAuth callbacks (GET /oauth/callback) and typed one-time codes
// (POST /invite/code). Each drives the real handler over the embedded store, built
// once per fuzzing process (fuzzFixture): a workspace with owners, accounts connected
// through the sandbox, links in every state, a pending consent and an invite waiting
// for its emailed code. Every request goes through a store that records its writes;
// after any write the store file is put back as it was built, so every input meets
// the same state. Inputs may hold placeholders ("{connect}", "{state}", "{code}"…)
// that stand for the fixture's secrets, so the fuzzer also works next to the values
// that open something, which it could never guess.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/relinkhq/relink/internal/account"
	"github.com/relinkhq/relink/internal/bolt"
	"github.com/relinkhq/relink/internal/channel"
	"github.com/relinkhq/relink/internal/clock"
	"github.com/relinkhq/relink/internal/connect"
	"github.com/relinkhq/relink/internal/ident"
	"github.com/relinkhq/relink/internal/magiclink"
	"github.com/relinkhq/relink/internal/mailbox"
	"github.com/relinkhq/relink/internal/sandbox"
	"github.com/relinkhq/relink/internal/secrets"
	"github.com/relinkhq/relink/internal/store"
	"github.com/relinkhq/relink/internal/store/storetest"
	"github.com/relinkhq/relink/internal/vault"
	"github.com/relinkhq/relink/internal/workspace"
)

// FuzzOpenLink: GET /l/{token} with any token. Properties: never a 5xx; a friendly
// HTML page for every refusal; only the fixture's three usable tokens, exactly as
// issued, open a session (303 to /me or /invite, the token gone from the address, a
// session cookie), and that counts one use and nothing else; the expired, revoked and
// used-up links are a 410 page, anything else a 404 page (or the mux's redirect of a
// path to clean), and none of these changes anything in the store.
func FuzzOpenLink(f *testing.F) {
	for _, s := range []string{"{connect}", "{reconnect}", "{invite}", "{expired}", "{revoked}", "{usedup}", "{connect}=", "{connect}A",
		" {connect}", "{connect}%00", "", ".", "..", "%", "a/b", strings.Repeat("A", 43), "<script>alert(1)</script>"} {
		f.Add(s)
	}
	fx := newFuzzFixture(f)
	f.Fuzz(func(t *testing.T, token string) {
		token = fx.expand(token)
		usable := slices.Contains([]string{fx.tokens["connect"], fx.tokens["reconnect"], fx.tokens["invite"]}, token)
		req := httptest.NewRequest(http.MethodGet, "https://relink.test/l/"+url.PathEscape(token), nil)
		defer fx.after(t)
		resp := fx.serve(t, req)
		switch {
		case resp.Code == http.StatusSeeOther:
			to := resp.Header().Get("Location")
			if !usable || (to != "/me" && to != "/invite") || strings.Contains(to, token) {
				t.Fatalf("token %q opened a session: %d → %q", token, resp.Code, to)
			}
			if !strings.Contains(resp.Header().Get("Set-Cookie"), sessionCookie+"=") {
				t.Fatal("a session without a cookie")
			}
			fx.requireWrites(t, "UseLink")
		case usable:
			t.Fatalf("usable token %q refused: %d\n%s", token, resp.Code, resp.Body)
		case slices.Contains([]string{fx.tokens["expired"], fx.tokens["revoked"], fx.tokens["usedup"]}, token):
			fx.requireFriendly(t, resp, http.StatusGone)
			fx.requireWrites(t)
			fx.requireUnchanged(t)
		default:
			fx.requireFriendly(t, resp, http.StatusMovedPermanently, http.StatusNotFound) // 301: the mux cleaning "/l/.."
			fx.requireWrites(t)
			fx.requireUnchanged(t)
		}
	})
}

// FuzzOAuthCallback: GET /oauth/callback with any query (state, code, error and
// anything else), with or without an owner's session. Properties: never a 5xx, except
// 503 when a known consent's channel itself said server_error or
// temporarily_unavailable (the person is asked to retry); a friendly HTML page for
// every refusal; a refused callback changes nothing but using up the consent it names
// (single use), and never adds, changes or removes an account, a token, a person or a
// link; the channel's error text is shown only when it is a plain error code, never
// free text from the query.
func FuzzOAuthCallback(f *testing.F) {
	for _, q := range []string{"state={state}&code=wrong-code", "state={state}&error=access_denied&error_description=The+user+denied",
		"state={state}&error=server_error", "state={state}&error=invalid_scope", "state={state}&error=%3Cb%3Ehi%3C%2Fb%3E",
		"state={state}", "state={state}&code=", "state={state}&state=x&code=y", "state=forged&code=y", "code=y", "",
		"state=%%%&code=1", "error=access_denied", "state={state}x&code=y", "state={state}&code=" + strings.Repeat("c", 600)} {
		f.Add(q, false)
		f.Add(q, true)
	}
	fx := newFuzzFixture(f)
	f.Fuzz(func(t *testing.T, query string, withSession bool) {
		query = fx.expand(query)
		req := httptest.NewRequest(http.MethodGet, "https://relink.test/oauth/callback", nil)
		req.URL.RawQuery = query
		if withSession {
			fx.sessionOf(req, "u-olivia")
		}
		defer fx.after(t)
		resp := fx.serve(t, req)
		q := req.URL.Query()
		knownState := q.Get("state") == fx.tokens["state"]
		retry := knownState && (q.Get("error") == "server_error" || q.Get("error") == "temporarily_unavailable")
		if resp.Code == http.StatusServiceUnavailable && retry {
			fx.requireFriendly(t, resp, http.StatusServiceUnavailable)
		} else {
			fx.requireFriendly(t, resp, http.StatusOK, http.StatusBadRequest, http.StatusNotFound, http.StatusGone)
		}
		if e := q.Get("error"); len(e) >= 4 && strings.ContainsAny(e, `<>"'&`) && strings.Contains(resp.Body.String(), e) {
			t.Fatalf("the page shows the query's error text %q", e)
		}
		if knownState {
			fx.requireWrites(t, "TakeConsent")
		} else {
			fx.requireWrites(t)
		}
		fx.requireUnchanged(t) // a code the sandbox never issued connects nothing
	})
}

// FuzzInviteCode: POST /invite/code with any form body, as the invited person (whose
// invite holds a login waiting for its code), as another owner, with a forged session
// or none. Properties: never a 5xx; a friendly HTML page for every refusal; only the
// invited person, with the form's CSRF token, typing the emailed digits (spaces
// allowed) adds the held accounts (303 to /me); every other attempt changes nothing
// but the code's attempt count, and only the invited person's attempts count.
func FuzzInviteCode(f *testing.F) {
	for _, body := range []string{"csrf={csrf}&flow={flow}&code={code}", "csrf={csrf}&flow={flow}&code={code3}+{code3b}",
		"csrf={csrf}&flow={flow}&code=000000", "csrf={csrf}&flow={flow}&code=", "csrf={csrf}&flow={flow}",
		"csrf={csrf}&flow=nope&code={code}", "csrf=forged&flow={flow}&code={code}", "flow={flow}&code={code}",
		"csrf={csrf}&flow={flow}&code={code}&code=000000", "csrf={csrf}&flow={flow}&flow=x&code={code}", "%%%", "",
		"csrf={csrf}&flow=" + strings.Repeat("f", 101) + "&code={code}"} {
		for who := uint8(0); who < 4; who++ {
			f.Add(body, who)
		}
	}
	fx := newFuzzFixture(f)
	f.Fuzz(func(t *testing.T, body string, who uint8) {
		body = fx.expand(body)
		req := httptest.NewRequest(http.MethodPost, "https://relink.test/invite/code", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", "https://relink.test")
		req.Header.Set("Sec-Fetch-Site", "same-origin")
		invited := false
		switch who % 4 {
		case 0:
			fx.sessionOf(req, "u-omar")
			invited = true
		case 1:
			fx.sessionOf(req, "u-olivia")
		case 2:
			req.AddCookie(&http.Cookie{Name: sessionCookie, Value: "eyJ3Ijoid3MxIiwidSI6InUtb21hciJ9.forged"})
			req.AddCookie(&http.Cookie{Name: csrfCookie, Value: fx.csrfCookie})
		}
		defer fx.after(t)
		resp := fx.serve(t, req)
		form, err := url.ParseQuery(body) // as the handler reads it: a malformed or oversized form is refused whole
		right := err == nil && len(body) <= maxForm && invited && form.Get("csrf") == fx.tokens["csrf"] && form.Get("flow") == fx.tokens["flow"] &&
			strings.Join(strings.Fields(form.Get("code")), "") == fx.tokens["code"]
		if resp.Code == http.StatusSeeOther {
			if !right || !strings.HasPrefix(resp.Header().Get("Location"), "/me?connected=") {
				t.Fatalf("body %q as %d: %d → %q", body, who%4, resp.Code, resp.Header().Get("Location"))
			}
			if !slices.Contains(fx.writes, "CreateAccount") {
				t.Fatalf("the right code added nothing: %v", fx.writes)
			}
			return
		}
		if right {
			t.Fatalf("the right code was refused: %d\n%s", resp.Code, resp.Body)
		}
		fx.requireFriendly(t, resp, http.StatusBadRequest, http.StatusForbidden, http.StatusNotFound, http.StatusGone, http.StatusUnauthorized)
		if err == nil && len(body) <= maxForm && invited && form.Get("csrf") == fx.tokens["csrf"] && form.Get("flow") == fx.tokens["flow"] {
			fx.requireWrites(t, "UpdateCode") // the attempt counts
		} else {
			fx.requireWrites(t)
		}
		fx.requireUnchanged(t)
	})
}

// fuzzFixture is the owner pages over a recording store, with the state every input
// starts from.
type fuzzFixture struct {
	handler    *Handler
	svc        *Service
	signer     Signer
	store      *storetest.Recorder
	mailbox    *mailbox.Mailbox
	clock      *clock.Manual
	path       string
	cfg        store.Config
	golden     []byte // the store file as built
	before     string // the snapshot of golden
	logs       *fuzzLogs
	tokens     map[string]string // placeholder name → secret
	sessions   map[string]string // user ID → session cookie value
	csrfCookie string
	writes     []string // the writes of the input being run
}

func newFuzzFixture(f *testing.F) *fuzzFixture {
	f.Helper()
	ctx := context.Background()
	clk := clock.NewManual(t0)
	dir := f.TempDir()
	if shm, err := os.MkdirTemp("/dev/shm", "relink-fuzz-"); err == nil { // resets are file copies: keep them in memory
		dir = shm
		f.Cleanup(func() { os.RemoveAll(shm) })
	}
	fx := &fuzzFixture{clock: clk, path: filepath.Join(dir, "relink.db"), logs: &fuzzLogs{}, mailbox: mailbox.New(clk),
		cfg: store.Config{Clock: clk, CursorKey: bytes.Repeat([]byte("c"), 32)}, tokens: map[string]string{}, sessions: map[string]string{}}
	st, err := bolt.Open(fx.path, fx.cfg)
	if err != nil {
		f.Fatal(err)
	}
	fx.store = &storetest.Recorder{Store: st, Writes: &fx.writes}
	f.Cleanup(func() { fx.store.Store.(*bolt.Store).Close() })

	sb := sandbox.New(clk, rand.Reader)
	mux := http.NewServeMux()
	mux.Handle("/sandbox/", sb)
	srv := httptest.NewServer(mux)
	f.Cleanup(srv.Close)
	reg, err := channel.NewRegistry(channel.Sandbox(srv.URL))
	if err != nil {
		f.Fatal(err)
	}
	raw, _ := vault.GenerateKeyRing("k1")
	kr, _ := vault.ParseKeyRing(raw)
	keys, _ := secrets.DeriveAppKeys(bytes.Repeat([]byte("m"), 40))
	fx.svc = New(Deps{Store: fx.store, Registry: reg, Credentials: creds{},
		Identifiers: map[string]connect.Identifier{channel.SandboxID: connect.SandboxIdentifier{HTTP: srv.Client()}},
		Vault:       vault.New(ring{kr}), Mail: fx.mailbox, Clock: clk, IDs: ident.NewULID(clk.Now), Random: rand.Reader,
		HTTP: srv.Client(), BaseURL: "https://relink.test", CodePepper: keys.CodePepper, UnsubscribeKey: keys.Unsubscribe,
		Logger: slog.New(slog.NewJSONHandler(fx.logs, nil))})
	fx.signer = Signer{Key: keys.Session}
	fx.handler = NewHandler(fx.svc, fx.signer)

	// People.
	if _, err := st.CreateWorkspace(ctx, workspace.Workspace{ID: ws, Name: "Acme Brands", Settings: workspace.DefaultSettings(),
		CreatedAt: t0, UpdatedAt: t0}); err != nil {
		f.Fatal(err)
	}
	for _, u := range []workspace.User{
		{WorkspaceID: ws, ID: "u-olivia", Email: "olivia@acme.example", Name: "Olivia", Role: workspace.RoleOwner},
		{WorkspaceID: ws, ID: "u-omar", Email: "omar@acme.example", Name: "Omar", Role: workspace.RoleOwner},
		{WorkspaceID: ws, ID: "u-pat", Email: "pat@acme.example", Name: "Pat", Role: workspace.RolePrimaryAdmin},
	} {
		u.CreatedAt, u.UpdatedAt = t0, t0
		if _, err := st.CreateUser(ctx, u); err != nil {
			f.Fatal(err)
		}
	}
	// Links in every state.
	issue := func(name, user string, purpose magiclink.Purpose, at time.Time, edit func(*magiclink.Link)) magiclink.Link {
		tok, l, err := magiclink.Issue(magiclink.Spec{WorkspaceID: ws, UserID: user, Email: user[2:] + "@acme.example", Purpose: purpose,
			Channels: []string{channel.SandboxID}}, at, rand.Reader)
		if err != nil {
			f.Fatal(err)
		}
		if edit != nil {
			edit(&l)
		}
		if err := st.CreateLink(ctx, l); err != nil {
			f.Fatal(err)
		}
		fx.tokens[name] = tok
		return l
	}
	connectLink := issue("connect", "u-olivia", magiclink.PurposeConnect, t0, nil)
	issue("reconnect", "u-olivia", magiclink.PurposeReconnect, t0, nil)
	inviteLink := issue("invite", "u-omar", magiclink.PurposeInvite, t0, nil)
	issue("expired", "u-olivia", magiclink.PurposeConnect, t0.Add(-40*24*time.Hour), nil)
	issue("revoked", "u-omar", magiclink.PurposeReconnect, t0, func(l *magiclink.Link) { l.RevokedAt = t0 })
	issue("usedup", "u-olivia", magiclink.PurposeInvite, t0, func(l *magiclink.Link) { l.Uses = l.MaxUses })

	// Olivia's accounts, connected through the sandbox.
	who := func(user string, l magiclink.Link) connect.Who {
		return connect.Who{WorkspaceID: ws, UserID: user, Role: workspace.RoleOwner, LinkHash: l.Hash}
	}
	out, err := fx.svc.Connect.Callback(ctx, sandboxConsent(f, srv, fx.start(f, who("u-olivia", connectLink), ""), "sandbox-olivia"))
	if err != nil || len(out.Accounts) == 0 {
		f.Fatalf("connect: %v", err)
	}
	// A consent waiting for the channel: Olivia reconnecting her first account.
	fx.tokens["state"] = mustQuery(f, fx.start(f, who("u-olivia", connectLink), out.Accounts[0].ID), "state")
	// An invite whose login waits for the code emailed to Omar.
	held, err := fx.svc.Connect.Callback(ctx, sandboxConsent(f, srv, fx.start(f, who("u-omar", inviteLink), ""), "sandbox-omar"))
	if err != nil || held.Flow == "" {
		f.Fatalf("invite: %+v, %v", held, err)
	}
	mails := fx.mailbox.To("omar@acme.example")
	code := regexp.MustCompile(`\b(\d{3}) (\d{3})\b`).FindStringSubmatch(mails[len(mails)-1].Text)
	if code == nil {
		f.Fatal("no code in the invite email")
	}
	fx.tokens["flow"], fx.tokens["code"], fx.tokens["code3"], fx.tokens["code3b"] = held.Flow, code[1]+code[2], code[1], code[2]

	// Browsers: a session each for Olivia and Omar, and a CSRF cookie with its form token.
	for user, l := range map[string]magiclink.Link{"u-olivia": connectLink, "u-omar": inviteLink} {
		v, err := fx.signer.Encode(Session{WorkspaceID: ws, UserID: user, LinkHash: l.Hash, Purpose: l.Purpose, Expires: t0.Add(SessionTTL).Unix()})
		if err != nil {
			f.Fatal(err)
		}
		fx.sessions[user] = v
	}
	fx.csrfCookie = "fuzz-csrf-cookie-0123456789abcdefghijklmnop"
	fx.tokens["csrf"] = fx.signer.CSRFToken(fx.csrfCookie)

	// The state every input starts from.
	if err := st.Close(); err != nil {
		f.Fatal(err)
	}
	if fx.golden, err = os.ReadFile(fx.path); err != nil {
		f.Fatal(err)
	}
	fx.reopen(f)
	fx.before = fx.snapshot(f)
	fx.writes = nil
	return fx
}

func (fx *fuzzFixture) start(tb testing.TB, w connect.Who, accountID string) string {
	u, err := fx.svc.Connect.Start(context.Background(), w, channel.SandboxID, accountID)
	if err != nil {
		tb.Fatal(err)
	}
	return u
}

// sandboxConsent answers the sandbox's consent screen for an authorize URL, allowing
// every scope with profile, and returns the callback the sandbox sends back.
func sandboxConsent(tb testing.TB, srv *httptest.Server, authorizeURL, profile string) connect.Callback {
	u, _ := url.Parse(authorizeURL)
	form := u.Query()
	form.Set("profile", profile)
	form.Set("decision", "allow")
	for _, s := range strings.Fields(form.Get("scope")) {
		form.Add("grant_scope", s)
	}
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.PostForm(srv.URL+"/sandbox/oauth/authorize", form)
	if err != nil {
		tb.Fatal(err)
	}
	resp.Body.Close()
	loc, _ := url.Parse(resp.Header.Get("Location"))
	q := loc.Query()
	return connect.Callback{State: q.Get("state"), Code: q.Get("code"), Error: q.Get("error")}
}

func mustQuery(tb testing.TB, rawURL, name string) string {
	u, err := url.Parse(rawURL)
	if err != nil || u.Query().Get(name) == "" {
		tb.Fatalf("no %s in %q", name, rawURL)
	}
	return u.Query().Get(name)
}

var placeholder = regexp.MustCompile(`\{[a-z0-9]+\}`)

// expand replaces the placeholders of an input with the fixture's secrets.
func (fx *fuzzFixture) expand(s string) string {
	return placeholder.ReplaceAllStringFunc(s, func(p string) string {
		if v, ok := fx.tokens[p[1:len(p)-1]]; ok {
			return v
		}
		return p
	})
}

func (fx *fuzzFixture) sessionOf(req *http.Request, user string) {
	req.AddCookie(&http.Cookie{Name: sessionCookie, Value: fx.sessions[user]})
	req.AddCookie(&http.Cookie{Name: csrfCookie, Value: fx.csrfCookie})
}

// serve runs one request through the handler, recording the store's writes.
func (fx *fuzzFixture) serve(t *testing.T, req *http.Request) *httptest.ResponseRecorder {
	t.Helper()
	fx.writes = nil
	resp := httptest.NewRecorder()
	fx.handler.ServeHTTP(resp, req)
	if resp.Code >= 500 && resp.Code != http.StatusServiceUnavailable {
		t.Fatalf("%s %s answered %d\n%s\nlog: %s", req.Method, req.URL, resp.Code, resp.Body, fx.logs.String())
	}
	if strings.Contains(fx.logs.String(), `"level":"ERROR"`) && resp.Code != http.StatusServiceUnavailable {
		t.Fatalf("%s %s (%d) was logged as our failure: %s", req.Method, req.URL, resp.Code, fx.logs.String())
	}
	return resp
}

// after puts the store back as built when the input wrote anything.
func (fx *fuzzFixture) after(t *testing.T) {
	fx.logs.Reset()
	if len(fx.writes) > 0 {
		fx.reset(t)
	}
}

func (fx *fuzzFixture) reset(tb testing.TB) {
	if err := fx.store.Store.(*bolt.Store).Close(); err != nil {
		tb.Fatal(err)
	}
	fx.reopen(tb)
}

// reopen opens the store file as built.
func (fx *fuzzFixture) reopen(tb testing.TB) {
	if err := os.WriteFile(fx.path, fx.golden, 0o600); err != nil {
		tb.Fatal(err)
	}
	st, err := bolt.Open(fx.path, fx.cfg)
	if err != nil {
		tb.Fatal(err)
	}
	fx.store.Store = st
	fx.mailbox.Clear()
}

// requireFriendly: one of the statuses, as an HTML page (or a redirect the mux makes).
func (fx *fuzzFixture) requireFriendly(t *testing.T, resp *httptest.ResponseRecorder, statuses ...int) {
	t.Helper()
	if !slices.Contains(statuses, resp.Code) {
		t.Fatalf("status %d, want one of %v\n%s", resp.Code, statuses, resp.Body)
	}
	if resp.Code == http.StatusMovedPermanently {
		return
	}
	body := resp.Body.String()
	if !strings.HasPrefix(resp.Header().Get("Content-Type"), "text/html") || !strings.Contains(body, "</html>") ||
		!strings.Contains(body, "<h1") || resp.Header().Get("Content-Security-Policy") == "" {
		t.Fatalf("%d is not a friendly page: %q\n%s", resp.Code, resp.Header().Get("Content-Type"), body)
	}
	if strings.Contains(body, "Something went wrong on our side") {
		t.Fatalf("%d says the failure is ours:\n%s", resp.Code, body)
	}
}

// requireWrites: the input wrote exactly these (in any order, each at most once).
func (fx *fuzzFixture) requireWrites(t *testing.T, allowed ...string) {
	t.Helper()
	for _, w := range fx.writes {
		if !slices.Contains(allowed, w) {
			t.Fatalf("the store was written (%v); allowed: %v", fx.writes, allowed)
		}
	}
	if len(fx.writes) > len(allowed) {
		t.Fatalf("writes %v, allowed once each: %v", fx.writes, allowed)
	}
}

// requireUnchanged: accounts, their tokens and trails, people and links are as built.
func (fx *fuzzFixture) requireUnchanged(t *testing.T) {
	t.Helper()
	if now := fx.snapshot(t); now != fx.before {
		t.Fatalf("a refused request changed the store:\nbefore %s\nafter  %s", fx.before, now)
	}
}

func (fx *fuzzFixture) snapshot(tb testing.TB) string {
	ctx := context.Background()
	st := fx.store.Store
	var out struct {
		Accounts []account.Account
		Tokens   map[string][]byte
		Events   map[string][]account.Event
		Users    []workspace.User
		Links    map[string]magiclink.Link
	}
	out.Tokens, out.Events, out.Links = map[string][]byte{}, map[string][]account.Event{}, map[string]magiclink.Link{}
	for _, state := range []account.State{"", account.StateDeleted} {
		p, err := st.ListAccounts(ctx, ws, account.Filter{State: state}, store.Page{Limit: store.MaxLimit})
		if err != nil {
			tb.Fatal(err)
		}
		out.Accounts = append(out.Accounts, p.Accounts...)
	}
	for _, a := range out.Accounts {
		out.Tokens[a.ID], _ = st.GetTokens(ctx, ws, a.ID)
		ev, err := st.Events(ctx, ws, a.ID, store.Page{Limit: store.MaxLimit})
		if err != nil {
			tb.Fatal(err)
		}
		out.Events[a.ID] = ev.Events
	}
	var err error
	if out.Users, err = st.ListUsers(ctx, ws); err != nil {
		tb.Fatal(err)
	}
	for name, tok := range fx.tokens {
		if h, err := magiclink.HashToken(tok); err == nil {
			out.Links[name], _ = st.GetLink(ctx, h)
		}
	}
	b, err := json.Marshal(out)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

// fuzzLogs is the fixture's JSON log, emptied after each input.
type fuzzLogs struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *fuzzLogs) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}
func (l *fuzzLogs) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }
func (l *fuzzLogs) Reset()         { l.mu.Lock(); defer l.mu.Unlock(); l.b.Reset() }
