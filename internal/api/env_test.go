package api

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/relinkhq/relink/internal/account"
	"github.com/relinkhq/relink/internal/admin"
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
	"github.com/relinkhq/relink/internal/store"
	"github.com/relinkhq/relink/internal/vault"
	"github.com/relinkhq/relink/internal/workspace"
)

var t0 = time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)

// The two workspaces and their people.
const (
	wsA, wsB                              = "ws-a", "ws-b"
	patID, adaID, oliviaID, omarID, svcID = "u-pat", "u-ada", "u-olivia", "u-omar", "u-svc"
	bobID                                 = "u-bob"
)

type creds struct{}

func (creds) Credentials(context.Context, string) (channel.Credentials, error) {
	return channel.Credentials{ClientID: "relink-local", ClientSecret: vault.Secret(sandbox.ClientSecret)}, nil
}

type ring struct{ r vault.KeyRing }

func (r ring) KeyRing(context.Context) (vault.KeyRing, error) { return r.r, nil }

// env is the admin API over a given store, with the sandbox channel on a test server
// (for connects, re-adds and token checks), the dev mailbox and dev tokens.
type env struct {
	t       *testing.T
	store   store.Store
	clock   *clock.Manual
	mailbox *mailbox.Mailbox
	sandbox *sandbox.Server
	srv     *httptest.Server // the sandbox, the owner pages and the API, as the local server has them
	api     *httptest.Server // the same server
	issuer  auth.Issuer
	svc     *admin.Service
	portal  *portal.Service
	handler *Handler
	logs    *syncBuffer
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

func boltStore(t *testing.T, clk clock.Clock) store.Store {
	st, err := bolt.Open(filepath.Join(t.TempDir(), "relink.db"), store.Config{Clock: clk, CursorKey: bytes.Repeat([]byte("c"), 32)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func newEnv(t *testing.T, open func(*testing.T, clock.Clock) store.Store) *env {
	t.Helper()
	clk := clock.NewManual(t0)
	e := &env{t: t, clock: clk, store: open(t, clk), mailbox: mailbox.New(clk), sandbox: sandbox.New(clk, rand.Reader), logs: &syncBuffer{}}
	raw, _ := vault.GenerateKeyRing("k1")
	kr, _ := vault.ParseKeyRing(raw)
	v := vault.New(ring{kr})
	mux := http.NewServeMux()
	mux.Handle("/sandbox/", e.sandbox)
	e.srv = httptest.NewServer(mux)
	e.api = e.srv
	t.Cleanup(e.srv.Close)
	reg, err := channel.Default(e.srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewJSONHandler(e.logs, nil))
	ids := ident.NewULID(clk.Now)
	e.portal = portal.New(portal.Deps{Store: e.store, Registry: reg, Credentials: creds{},
		Identifiers: map[string]connect.Identifier{channel.SandboxID: connect.SandboxIdentifier{HTTP: e.srv.Client()}},
		Vault:       v, Mail: e.mailbox, Clock: clk, IDs: ids, Random: rand.Reader, HTTP: e.srv.Client(), BaseURL: e.srv.URL,
		CodePepper: bytes.Repeat([]byte("p"), 32), UnsubscribeKey: bytes.Repeat([]byte("u"), 32), Logger: logger})
	e.svc = &admin.Service{Store: e.store, Registry: reg, Links: e.portal.Links, Connect: e.portal.Connect, Mail: e.mailbox,
		Clock: clk, IDs: ids, Random: rand.Reader, Logger: logger,
		Checker: admin.ProbeChecker{Store: e.store, Vault: v, Registry: reg,
			Prober: &probe.Prober{HTTP: e.srv.Client(), Credentials: creds{}, Clock: clk}}}
	e.handler = NewHandler(e.svc, logger)
	e.issuer = auth.Issuer{Key: bytes.Repeat([]byte("k"), 32), Issuer: "relink-local", Audience: "relink-api", Now: clk.Now}
	mux.Handle("/v1/", e.issuer.Middleware(e.handler))
	owner := portal.NewHandler(e.portal, portal.Signer{Key: bytes.Repeat([]byte("s"), 32)})
	for _, r := range portal.Routes {
		mux.Handle(r, owner)
	}
	e.seed()
	return e
}

func (e *env) seed() {
	ctx := context.Background()
	for _, w := range []workspace.Workspace{{ID: wsA, Name: "Acme Brands"}, {ID: wsB, Name: "Beta Corp"}} {
		w.Settings, w.CreatedAt, w.UpdatedAt = workspace.DefaultSettings(), t0, t0
		if _, err := e.store.CreateWorkspace(ctx, w); err != nil {
			e.t.Fatal(err)
		}
	}
	for _, u := range []workspace.User{
		{WorkspaceID: wsA, ID: patID, Email: "pat@acme.example", Name: "Pat Primary", Role: workspace.RolePrimaryAdmin},
		{WorkspaceID: wsA, ID: adaID, Email: "ada@acme.example", Name: "Ada Admin", Role: workspace.RoleAdmin,
			Preferences: workspace.Preferences{NotifyTrouble: true}},
		{WorkspaceID: wsA, ID: oliviaID, Email: "olivia@acme.example", Name: "Olivia Owner", Role: workspace.RoleOwner},
		{WorkspaceID: wsA, ID: omarID, Email: "omar@acme.example", Name: "Omar Owner", Role: workspace.RoleOwner},
		{WorkspaceID: wsA, ID: svcID, Email: "publisher@acme.example", Name: "Publisher", Role: workspace.RoleService},
		{WorkspaceID: wsB, ID: bobID, Email: "bob@beta.example", Name: "Bob", Role: workspace.RolePrimaryAdmin},
	} {
		u.CreatedAt, u.UpdatedAt = t0, t0
		if _, err := e.store.CreateUser(ctx, u); err != nil {
			e.t.Fatal(err)
		}
	}
}

// token is a dev bearer token for a user.
func (e *env) token(ws, user string) string {
	tok, err := e.issuer.Issue(auth.Claims{Subject: user, WorkspaceID: ws})
	if err != nil {
		e.t.Fatal(err)
	}
	return tok
}

// connect runs a sandbox consent for who and returns the accounts it connected.
func (e *env) connect(ws, userID string, role workspace.Role, profile string, refuse ...string) []account.Account {
	e.t.Helper()
	ctx := context.Background()
	u, err := e.portal.Connect.Start(ctx, connect.Who{WorkspaceID: ws, UserID: userID, Role: role}, channel.SandboxID, "")
	if err != nil {
		e.t.Fatal(err)
	}
	out, err := e.portal.Connect.Callback(ctx, e.consent(u, profile, refuse...))
	if err != nil {
		e.t.Fatal(err)
	}
	return out.Accounts
}

// consent answers the sandbox's consent screen for an authorize URL.
func (e *env) consent(authorizeURL, profile string, refuse ...string) connect.Callback {
	e.t.Helper()
	u, _ := url.Parse(authorizeURL)
	form := u.Query()
	form.Set("profile", profile)
	form.Set("decision", "allow")
	for _, s := range strings.Fields(form.Get("scope")) {
		if !slices.Contains(refuse, s) {
			form.Add("grant_scope", s)
		}
	}
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.PostForm(e.srv.URL+"/sandbox/oauth/authorize", form)
	if err != nil {
		e.t.Fatal(err)
	}
	resp.Body.Close()
	loc, _ := url.Parse(resp.Header.Get("Location"))
	q := loc.Query()
	return connect.Callback{State: q.Get("state"), Code: q.Get("code"), Error: q.Get("error")}
}

// answer is one API response, checked against the OpenAPI document.
type answer struct {
	status int
	header http.Header
	body   []byte
}

func (a answer) json(t *testing.T, into any) {
	t.Helper()
	if err := json.Unmarshal(a.body, into); err != nil {
		t.Fatalf("response is not JSON: %v\n%s", err, a.body)
	}
}

func (a answer) errorCode() (code, field string) {
	var e struct {
		Error struct{ Code, Field string } `json:"error"`
	}
	_ = json.Unmarshal(a.body, &e)
	return e.Error.Code, e.Error.Field
}

// call sends a request as token (empty: none) and validates request and response
// against the OpenAPI document.
func (e *env) call(token, method, path string, body any) answer {
	e.t.Helper()
	var rd io.Reader
	var raw []byte
	switch b := body.(type) {
	case nil:
	case string:
		raw = []byte(b)
	case []byte:
		raw = b
	default:
		raw, _ = json.Marshal(b)
	}
	if raw != nil {
		rd = bytes.NewReader(raw)
	}
	req, _ := http.NewRequest(method, e.api.URL+path, rd)
	if raw != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, header: resp.Header, body: got}
	contract.check(e.t, method, path, raw, a)
	return a
}

// contract validates exchanges against openapi.yaml.
var contract = &openapiContract{}

type openapiContract struct {
	once   sync.Once
	router routers.Router
	err    error
}

func (c *openapiContract) load() {
	doc, err := openapi3.NewLoader().LoadFromData(OpenAPI)
	if err == nil {
		err = doc.Validate(context.Background())
	}
	if err == nil {
		c.router, err = legacy.NewRouter(doc)
	}
	c.err = err
}

// check fails the test when a response (of a route in the document) does not match
// the document: status, content type and schema, additional properties included.
func (c *openapiContract) check(t *testing.T, method, path string, body []byte, a answer) {
	t.Helper()
	c.once.Do(c.load)
	if c.err != nil {
		t.Fatalf("openapi.yaml: %v", c.err)
	}
	req := httptest.NewRequest(method, path, bytes.NewReader(body))
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	route, params, err := c.router.FindRoute(req)
	if err != nil {
		return // not a documented route: the 404/405 answers are checked by their tests
	}
	opts := &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, IncludeResponseStatus: true,
		ExcludeRequestBody: true, ExcludeRequestQueryParams: true}
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: opts}
	rv := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: a.status, Header: a.header, Options: opts}
	rv.SetBodyBytes(a.body)
	if err := openapi3filter.ValidateResponse(context.Background(), rv); err != nil {
		t.Errorf("%s %s → %d does not match openapi.yaml: %v\n%s", method, path, a.status, err, a.body)
	}
}

func readAnswer(t *testing.T, resp *http.Response) answer {
	t.Helper()
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{status: resp.StatusCode, header: resp.Header, body: b}
}
