package portal

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
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
	"github.com/relinkhq/relink/internal/vault"
	"github.com/relinkhq/relink/internal/workspace"
)

var t0 = time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)

const ws = "ws1"

// env is the owner pages over TLS (so Secure cookies behave as in production), with
// the sandbox channel mounted on the same server, the embedded store, the dev mailbox
// and a JSON log captured for the secrets-hygiene checks.
type env struct {
	t       *testing.T
	srv     *httptest.Server
	svc     *Service
	store   store.Store
	clock   *clock.Manual
	mailbox *mailbox.Mailbox
	sandbox *sandbox.Server
	vault   *vault.Vault
	logs    *syncBuffer
	extra   *http.ServeMux // fake channels' endpoints, under /fake/
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

type ring struct{ r vault.KeyRing }

func (r ring) KeyRing(context.Context) (vault.KeyRing, error) { return r.r, nil }

type creds struct{}

func (creds) Credentials(context.Context, string) (channel.Credentials, error) {
	return channel.Credentials{ClientID: "relink-local", ClientSecret: vault.Secret(sandbox.ClientSecret)}, nil
}

// newEnv starts the pages. extraChannels (rebased onto this server by the caller) join
// the sandbox in the registry.
func newEnv(t *testing.T, extraChannels ...func(e *env, base string) (channel.Channel, connect.Identifier)) *env {
	t.Helper()
	clk := clock.NewManual(t0)
	st, err := bolt.Open(filepath.Join(t.TempDir(), "relink.db"), store.Config{Clock: clk, CursorKey: bytes.Repeat([]byte("c"), 32)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e := &env{t: t, store: st, clock: clk, mailbox: mailbox.New(clk), sandbox: sandbox.New(clk, rand.Reader), logs: &syncBuffer{},
		extra: http.NewServeMux()}
	raw, _ := vault.GenerateKeyRing("k1")
	kr, _ := vault.ParseKeyRing(raw)
	e.vault = vault.New(ring{kr})

	mux := http.NewServeMux()
	mux.Handle("/sandbox/", e.sandbox)
	mux.Handle("/fake/", e.extra)
	var h http.Handler
	mux.Handle("/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	e.srv = httptest.NewTLSServer(mux)
	t.Cleanup(e.srv.Close)

	channels := []channel.Channel{channel.Sandbox(e.srv.URL)}
	ids := map[string]connect.Identifier{channel.SandboxID: connect.SandboxIdentifier{HTTP: e.srv.Client()}}
	for _, extra := range extraChannels {
		ch, id := extra(e, e.srv.URL+"/fake")
		channels = append(channels, ch)
		ids[ch.ID] = id
	}
	reg, err := channel.NewRegistry(channels...)
	if err != nil {
		t.Fatal(err)
	}
	keys, _ := secrets.DeriveAppKeys(bytes.Repeat([]byte("m"), 40))
	logger := slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e.svc = New(Deps{Store: st, Registry: reg, Credentials: creds{}, Identifiers: ids, Vault: e.vault, Mail: e.mailbox,
		Clock: clk, IDs: ident.NewULID(clk.Now), Random: rand.Reader, HTTP: e.srv.Client(), BaseURL: e.srv.URL,
		CodePepper: keys.CodePepper, UnsubscribeKey: keys.Unsubscribe, Logger: logger})
	h = NewHandler(e.svc, Signer{Key: keys.Session})

	ctx := context.Background()
	if _, err := st.CreateWorkspace(ctx, workspace.Workspace{ID: ws, Name: "Acme Brands", Settings: workspace.DefaultSettings(),
		CreatedAt: t0, UpdatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	for _, u := range []workspace.User{
		{WorkspaceID: ws, ID: "u-olivia", Email: "olivia@acme.example", Name: "Olivia", Role: workspace.RoleOwner},
		{WorkspaceID: ws, ID: "u-omar", Email: "omar@acme.example", Name: "Omar", Role: workspace.RoleOwner},
		{WorkspaceID: ws, ID: "u-pat", Email: "pat@acme.example", Name: "Pat", Role: workspace.RolePrimaryAdmin},
	} {
		if _, err := st.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

// link issues a magic link and returns its token.
func (e *env) link(userID string, purpose magiclink.Purpose, channels ...string) string {
	e.t.Helper()
	u, err := e.store.GetUser(context.Background(), ws, userID)
	if err != nil {
		e.t.Fatal(err)
	}
	url, _, err := e.svc.Links.Issue(context.Background(), magiclink.Spec{WorkspaceID: ws, UserID: userID, Email: u.Email,
		Purpose: purpose, Channels: channels, Message: "Please connect the brand accounts."})
	if err != nil {
		e.t.Fatal(err)
	}
	return url[strings.LastIndex(url, "/")+1:]
}

// account creates an account in a given state through the real transitions.
func (e *env) account(id, ch, ext, name, owner, parent string, state account.State) account.Account {
	e.t.Helper()
	ctx := context.Background()
	actor := account.Actor{ID: "u-pat", Role: workspace.RolePrimaryAdmin}
	c, err := account.New(account.Spec{WorkspaceID: ws, ID: id, Channel: ch, ExternalID: ext, DisplayName: name, OwnerID: owner,
		Kind: account.KindCompany, ParentProfileID: parent, Grant: &account.Grant{Scopes: []string{"profile"}}},
		account.Command{Actor: actor, At: e.clock.Now(), EventID: id + "-created"})
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.store.CreateAccount(ctx, c); err != nil {
		e.t.Fatal(err)
	}
	a := c.After
	if state == account.StateDisconnected {
		c, err = account.Transition(a, account.Command{Action: account.ActDisconnect, Actor: account.SystemActor("expiry-check"),
			At: e.clock.Now(), EventID: id + "-disc", Reason: account.ReasonPasswordChanged,
			ChannelError: &account.ChannelError{HTTPStatus: 400, Code: "190", Subcode: "460", Message: "The session has been invalidated."}})
		if err != nil {
			e.t.Fatal(err)
		}
		if err := e.store.Apply(ctx, c); err != nil {
			e.t.Fatal(err)
		}
		a = c.After
	}
	return a
}

func (e *env) get(id string) account.Account {
	e.t.Helper()
	a, err := e.store.GetAccount(context.Background(), ws, id)
	if err != nil {
		e.t.Fatal(err)
	}
	return a
}

// browser is a person's browser: its own cookies, following redirects like a browser
// does, and remembering every page it saw (for the secrets-hygiene checks).
type browser struct {
	e      *env
	client *http.Client
	seen   *syncBuffer
	last   string // the last page's body
	csrf   string // the last CSRF token a page carried
}

func (e *env) browser() *browser {
	jar, _ := cookiejar.New(nil)
	c := *e.srv.Client() // a copy: the server's client is shared
	c.Jar = jar
	return &browser{e: e, client: &c, seen: &syncBuffer{}}
}

type result struct {
	status int
	url    *url.URL
	header http.Header
	body   string
}

func (b *browser) do(req *http.Request) result {
	b.e.t.Helper()
	resp, err := b.client.Do(req)
	if err != nil {
		b.e.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	b.last = string(body)
	if m := csrfField.FindStringSubmatch(b.last); m != nil {
		b.csrf = m[1]
	}
	b.seen.Write(body)
	for k, vs := range resp.Header {
		b.seen.Write([]byte(k + ": " + strings.Join(vs, "; ") + "\n"))
	}
	return result{status: resp.StatusCode, url: resp.Request.URL, header: resp.Header, body: string(body)}
}

func (b *browser) open(path string) result {
	b.e.t.Helper()
	if !strings.HasPrefix(path, "http") {
		path = b.e.srv.URL + path
	}
	req, _ := http.NewRequest(http.MethodGet, path, nil)
	return b.do(req)
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// post submits a form of the last page, with its CSRF token, as the browser would
// (same origin).
func (b *browser) post(path string, form url.Values) result {
	b.e.t.Helper()
	if form.Get("csrf") == "" {
		form.Set("csrf", b.csrf)
	}
	target := path
	if !strings.HasPrefix(path, "http") {
		target = b.e.srv.URL + path
	}
	req, _ := http.NewRequest(http.MethodPost, target, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", b.e.srv.URL)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	return b.do(req)
}

// consent answers the sandbox's consent page the browser is on: allow with profile
// (refusing the listed scopes), or deny when profile is "".
func (b *browser) consent(p result, profile string, refuse ...string) result {
	b.e.t.Helper()
	if p.status != http.StatusOK || !strings.Contains(p.url.Path, "/sandbox/oauth/authorize") {
		b.e.t.Fatalf("not on the consent page: %d %s\n%s", p.status, p.url, p.body)
	}
	form := p.url.Query()
	if profile == "" {
		form.Set("decision", "deny")
	} else {
		form.Set("decision", "allow")
		form.Set("profile", profile)
		for _, s := range strings.Fields(form.Get("scope")) {
			if !contains(refuse, s) {
				form.Add("grant_scope", s)
			}
		}
	}
	return b.post("/sandbox/oauth/authorize", form)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// reconnect presses the Reconnect button of one account on the accounts page.
func (b *browser) reconnect(accountID string) result {
	b.e.t.Helper()
	if !strings.Contains(b.last, `name="account" value="`+accountID+`"`) {
		b.e.t.Fatalf("no Reconnect button for %s on the page:\n%s", accountID, b.last)
	}
	return b.post("/me/reconnect", url.Values{"account": {accountID}})
}

func mustContain(t *testing.T, p result, parts ...string) {
	t.Helper()
	for _, s := range parts {
		if !strings.Contains(p.body, s) {
			t.Fatalf("page %s (%d) lacks %q:\n%s", p.url, p.status, s, p.body)
		}
	}
}
