package api

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
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
	"github.com/relinkhq/relink/internal/relink"
	"github.com/relinkhq/relink/internal/sandbox"
	"github.com/relinkhq/relink/internal/store"
	"github.com/relinkhq/relink/internal/store/storetest"
	"github.com/relinkhq/relink/internal/vault"
	"github.com/relinkhq/relink/internal/workspace"
)

// FuzzAdminAPI sends one arbitrary request — caller, method, path and query string,
// content type, body — to the admin API's real handler over the embedded store, as
// API Gateway hands it over (the caller's verified claims in the context). The store
// holds what the sample events under events/admin-api act on (the demo workspace's
// people, Facebook Pages in every state, two groups; Beta, another workspace) plus
// accounts connected through the sandbox, whose tokens the activation check asks the
// sandbox about (no other host is reachable). Properties:
//
//   - never a 5xx, and nothing logged as our failure;
//   - every answer is JSON (the document itself aside), and every answer of a route
//     in openapi.yaml matches it: status, content type, schema;
//   - every refusal is the one error shape {"error":{"code","message"[,"field"][,"readd"]}},
//     nothing more, with a known code whose status is the answer's;
//   - a refused request changes nothing: no account, audit event, token, person,
//     group, setting or link, and it writes nothing to the store at all, except the
//     re-add links an activation refused for a dead token hands out (a consent and a
//     reconnect link, as documented);
//   - after any write the store is put back as it was built, so every input meets the
//     same state.
//
// Inputs may hold placeholders ({sbrand}, {scoffee}, {cursor}, {events_cursor}) for
// IDs and cursors the fixture only knows once built. Seeds: every route, valid and
// refused (f.Add below), and every sample event of events/admin-api
// (testdata/fuzz/FuzzAdminAPI).
func FuzzAdminAPI(f *testing.F) {
	for _, s := range fuzzAPISeeds {
		f.Add(s.caller, s.method, s.target, "application/json", []byte(s.body))
	}
	f.Add(uint8(0), "POST", "/v1/accounts/acct-fb-coffee/deactivate", "text/plain", []byte(`{"note":"x"}`))
	f.Add(uint8(0), "POST", "/v1/accounts/acct-fb-coffee/deactivate", "application/json; charset=utf-8", []byte(`{"note":"x"}`))
	f.Add(uint8(0), "POST", "/v1/accounts/acct-fb-coffee/deactivate", "application/x-www-form-urlencoded", []byte(`note=x`))
	f.Add(uint8(0), "POST", "/v1/users", "", []byte(`{"email":"x@acme.example","role":"owner"}`))
	f.Add(uint8(0), "POST", "/v1/accounts/acct-fb-bistro/deactivate", "application/json", bytes.Repeat([]byte(" "), MaxBody+1))

	fx := newAPIFuzzFixture(f)
	f.Fuzz(func(t *testing.T, caller uint8, method, target, contentType string, body []byte) {
		target = fx.expand(target)
		if !strings.HasPrefix(target, "/") {
			target = "/" + target
		}
		u, err := url.Parse("https://api.test" + target)
		if err != nil || u.Host != "api.test" {
			return // API Gateway refuses what does not parse (see internal/apigw)
		}
		req, err := http.NewRequest(method, u.String(), bytes.NewReader(fx.expandBytes(body)))
		if err != nil {
			return // not an HTTP method
		}
		req.URL.RawQuery = u.RawQuery // as it came, malformed or not
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		claims := fuzzCallers[int(caller)%len(fuzzCallers)]
		if claims.Subject != "" {
			req = req.WithContext(auth.WithClaims(req.Context(), claims))
		}
		fx.writes = nil
		rec := httptest.NewRecorder()
		fx.handler.ServeHTTP(rec, req)
		defer fx.after(t)

		a := answer{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
		what := fmt.Sprintf("%s %s as %v (%q, %q)", method, target, claims, contentType, body)
		if a.status >= 500 {
			t.Fatalf("%s → %d\n%s\nlog: %s", what, a.status, a.body, fx.logs.String())
		}
		if strings.Contains(fx.logs.String(), `"level":"ERROR"`) {
			t.Fatalf("%s → %d was logged as our failure: %s", what, a.status, fx.logs.String())
		}
		isDoc := req.Method == http.MethodGet && req.URL.Path == "/v1/openapi.yaml" && a.status == http.StatusOK
		switch {
		case isDoc, a.status == http.StatusNoContent:
		case a.header.Get("Content-Type") != "application/json" || !json.Valid(a.body):
			t.Fatalf("%s → %d is not JSON: %q\n%s", what, a.status, a.header.Get("Content-Type"), a.body)
		}
		fuzzContract(t, req, body, a)
		if a.status < 400 {
			return
		}
		checkErrorShape(t, what, a)
		allowed := []string(nil)
		if code, _ := a.errorCode(); code == relink.EREAUTH && bytes.Contains(a.body, []byte(`"readd"`)) {
			allowed = []string{"PutConsent", "CreateLink"} // the re-add links the answer carries
		}
		requireNoWrites(t, what, a, fx, allowed...)
	})
}

// requireNoWrites: the request wrote nothing but what is allowed, and the snapshot is
// as built.
func requireNoWrites(t *testing.T, what string, a answer, fx *apiFuzzFixture, allowed ...string) {
	t.Helper()
	for _, w := range fx.writes {
		if !slices.Contains(allowed, w) {
			t.Fatalf("%s → %d wrote %v to the store\n%s", what, a.status, fx.writes, a.body)
		}
	}
	if now := fx.snapshot(t); now != fx.before {
		t.Fatalf("%s → %d changed the store:\nbefore %s\nafter  %s", what, a.status, fx.before, now)
	}
}

// fuzzContract holds the answer to openapi.yaml when the route is in the document
// (the contract check of every other test).
func fuzzContract(t *testing.T, req *http.Request, body []byte, a answer) {
	t.Helper()
	// The contract parses the request again as a server would, so give it the form a
	// server reads off the wire; a target it cannot read is no documented route.
	target := req.URL.EscapedPath()
	if req.URL.RawQuery != "" {
		target += "?" + req.URL.RawQuery
	}
	if _, err := http.ReadRequest(bufio.NewReader(strings.NewReader(req.Method + " " + target + " HTTP/1.0\r\n\r\n"))); err != nil {
		return
	}
	switch {
	case a.status == http.StatusRequestEntityTooLarge || a.status == http.StatusUnsupportedMediaType:
		return // documented once for every route, in the Invalid response's description
	case a.status == http.StatusBadRequest && bytes.Contains(a.body, []byte(`"An ID is missing or not valid."`)):
		// Known deviation: the embedded store refuses an ID holding its key separator
		// (NUL) as invalid, on routes whose documented answers have no 400.
		return
	}
	var raw []byte
	if len(body) > 0 {
		raw = body
	}
	contract.check(t, req.Method, target, raw, a)
}

// checkErrorShape: exactly {"error":{"code","message"[,"field"][,"readd"]}}, a known
// code, and the status that code maps to.
func checkErrorShape(t *testing.T, what string, a answer) {
	t.Helper()
	var e struct {
		Error struct {
			Code    string          `json:"code"`
			Message string          `json:"message"`
			Field   string          `json:"field"`
			Readd   json.RawMessage `json:"readd"`
		} `json:"error"`
	}
	dec := json.NewDecoder(bytes.NewReader(a.body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil || e.Error.Code == "" || e.Error.Message == "" {
		t.Fatalf("%s → %d: not the error shape (%v)\n%s", what, a.status, err, a.body)
	}
	if got := relink.HTTPStatus(relink.Errorf(e.Error.Code, "")); got != a.status || e.Error.Code == relink.EINTERNAL {
		t.Fatalf("%s → %d with code %q (which means %d)", what, a.status, e.Error.Code, got)
	}
	if len(e.Error.Readd) > 0 && e.Error.Code != relink.EREAUTH {
		t.Fatalf("%s → re-add links with %q", what, e.Error.Code)
	}
}

// fuzzCallers are the claims a request may carry: the events' people, a foreign
// workspace's admin, nobody (no claims), someone unknown, an unknown workspace.
var fuzzCallers = []auth.Claims{
	{Subject: "u-primary", WorkspaceID: "demo"}, {Subject: "u-alex", WorkspaceID: "demo"}, {Subject: "u-olivia", WorkspaceID: "demo"},
	{Subject: "u-rita", WorkspaceID: "demo"}, {Subject: "u-publisher", WorkspaceID: "demo"}, {Subject: "u-bob", WorkspaceID: "beta"},
	{}, {Subject: "u-nobody", WorkspaceID: "demo"}, {Subject: "u-primary", WorkspaceID: "gamma"},
}

type apiSeed struct {
	caller         uint8
	method, target string
	body           string
}

// fuzzAPISeeds call every route, as the primary admin unless said, successfully and not.
var fuzzAPISeeds = []apiSeed{
	{0, "GET", "/v1/accounts", ""}, {0, "GET", "/v1/accounts?state=disconnected&channel=facebook&owner_id=u-olivia&limit=2", ""},
	{0, "GET", "/v1/accounts?limit=1&cursor={cursor}", ""}, {0, "GET", "/v1/accounts?cursor={cursor}&state=active", ""},
	{0, "GET", "/v1/accounts?expiring_within_days=30&group=grp-cafes", ""}, {0, "GET", "/v1/accounts?limit=-1", ""},
	{0, "GET", "/v1/accounts?cursor=%%%", ""}, {0, "GET", "/v1/accounts?staet=active", ""}, {2, "GET", "/v1/accounts", ""},
	{0, "GET", "/v1/accounts/acct-fb-coffee", ""}, {3, "GET", "/v1/accounts/acct-fb-coffee", ""}, {5, "GET", "/v1/accounts/acct-fb-coffee", ""},
	{0, "GET", "/v1/accounts/{sbrand}/events?limit=1", ""}, {0, "GET", "/v1/accounts/{sbrand}/events?cursor={events_cursor}", ""},
	{0, "GET", "/v1/accounts/acct-fb-coffee/events?cursor={cursor}", ""},
	{0, "POST", "/v1/accounts/acct-fb-bistro/deactivate", `{"note":"closed"}`}, {2, "POST", "/v1/accounts/acct-fb-bistro/deactivate", `{}`},
	{0, "POST", "/v1/accounts/acct-fb-bistro/deactivate", `{"note":5}`}, {0, "POST", "/v1/accounts/acct-fb-bistro/deactivate", `{} {}`},
	{0, "POST", "/v1/accounts/{scoffee}/activate", `{"note":"back"}`}, {0, "POST", "/v1/accounts/acct-fb-tea/activate", ``},
	{0, "POST", "/v1/accounts/acct-fb-coffee/activate", ``}, {0, "POST", "/v1/accounts/acct-fb-bakery/readd", ``},
	{0, "POST", "/v1/accounts/acct-fb-diner/readd", ``}, {0, "POST", "/v1/accounts/acct-fb-bakery/remind", ``},
	{0, "POST", "/v1/accounts/acct-fb-coffee/remind", ``}, {0, "POST", "/v1/accounts/acct-fb-juice/transfer", `{"owner_id":"u-olivia","with_parent_profile":true}`},
	{0, "POST", "/v1/accounts/acct-fb-coffee/transfer", `{"owner_id":42}`}, {0, "POST", "/v1/accounts/acct-fb-coffee/transfer", `[1,2]`},
	{0, "POST", "/v1/accounts/acct-fb-coffee/transfer", `{"owner_id":"u-publisher"}`},
	{0, "DELETE", "/v1/accounts/acct-fb-bagels", `{"confirmation":"Acme Bagels"}`}, {1, "DELETE", "/v1/accounts/acct-fb-bagels", `{"confirmation":"Acme Bagels"}`},
	{0, "DELETE", "/v1/accounts/acct-fb-bagels", `{"confirmation":"acme bagels"}`}, {0, "POST", "/v1/accounts/acct-fb-deli/restore", `{"note":"oops"}`},
	{0, "POST", "/v1/accounts/acct-fb-coffee/restore", ``},
	{4, "POST", "/v1/accounts/acct-fb-coffee/failures", `{"http_status":400,"body":{"error":{"message":"Error validating access token: The session has been invalidated because the user changed their password.","type":"OAuthException","code":190,"error_subcode":460}}}`},
	{4, "POST", "/v1/accounts/{sbrand}/failures", `{"http_status":401,"body":{"error":"invalid_token","reason":"password_changed"}}`},
	{4, "POST", "/v1/accounts/{sbrand}/failures", `{"http_status":503,"body":"<html>Service Unavailable</html>"}`},
	{4, "POST", "/v1/accounts/acct-fb-coffee/failures", `{"http_status":1000}`}, {4, "POST", "/v1/accounts/acct-fb-coffee/failures", `{"http_status":0,"body":null}`},
	{0, "GET", "/v1/users", ""}, {2, "GET", "/v1/users", ""}, {0, "POST", "/v1/users", `{"email":"nora@acme.example","name":"Nora","role":"owner"}`},
	{0, "POST", "/v1/users", `{"email":"not-an-address","role":"owner"}`}, {0, "POST", "/v1/users", `{"email":"OLIVIA.owner@acme.example","role":"owner"}`},
	{0, "GET", "/v1/users/u-olivia", ""}, {3, "GET", "/v1/users/u-olivia", ""}, {0, "PATCH", "/v1/users/u-rita", `{"name":"Rita O.","email":" Rita.O@Acme.example "}`},
	{1, "PATCH", "/v1/users/u-rita", `{"role":"admin"}`}, {0, "PATCH", "/v1/users/u-primary", `{"role":"owner"}`},
	{0, "GET", "/v1/users/u-olivia/preferences", ""}, {2, "PATCH", "/v1/users/u-olivia/preferences", `{"notify_trouble":true,"unsubscribed":false}`},
	{2, "PATCH", "/v1/users/u-olivia/preferences", `{"notify_trouble":"yes"}`}, {0, "POST", "/v1/users/u-olivia/connect-link", `{"send":true}`},
	{0, "POST", "/v1/users/u-publisher/connect-link", `{"send":true}`}, {0, "POST", "/v1/users/u-olivia/connect-link", ``},
	{0, "GET", "/v1/groups", ""}, {0, "POST", "/v1/groups", `{"name":"Bakeries","subscribers":["u-alex"],"account_ids":["acct-fb-bakery"]}`},
	{0, "POST", "/v1/groups", `{"name":""}`}, {0, "POST", "/v1/groups", `{"name":"P","subscribers":["u-publisher"]}`},
	{0, "GET", "/v1/groups/grp-cafes", ""}, {0, "PATCH", "/v1/groups/grp-cafes", `{"name":"Cafés & tea rooms","subscribers":["u-alex","u-primary"]}`},
	{0, "DELETE", "/v1/groups/grp-old", ""}, {0, "POST", "/v1/groups/grp-cafes/accounts", `{"account_ids":["acct-fb-tea","acct-fb-coffee"]}`},
	{0, "POST", "/v1/groups/grp-cafes/accounts", `{"account_ids":["acct-fb-nope"]}`}, {0, "DELETE", "/v1/groups/grp-cafes/accounts/acct-fb-bakery", ""},
	{0, "DELETE", "/v1/groups/grp-cafes/accounts/acct-fb-juice", ""},
	{0, "POST", "/v1/invites", `{"emails":["maya.baker@acme.example","Olivia.Owner@acme.example"],"channels":["sandbox"],"message":"Hi"}`},
	{0, "POST", "/v1/invites", `{"emails":["maya.baker@acme.example"],"channels":["myspace"]}`}, {4, "POST", "/v1/invites", `{"emails":["m@acme.example"]}`},
	{0, "GET", "/v1/dashboard", ""}, {4, "GET", "/v1/dashboard", ""}, {0, "GET", "/v1/workspace", ""},
	{0, "PATCH", "/v1/workspace", `{"settings":{"time_zone":"Europe/Amsterdam","warning_window_days":14}}`},
	{0, "PATCH", "/v1/workspace", `{"settings":{"time_zone":"Mars/Olympus_Mons"}}`}, {0, "PATCH", "/v1/workspace", `{"settings":{"warning_window_days":99999999999}}`},
	{2, "PATCH", "/v1/workspace", `{"settings":{"warning_window_days":60}}`},
	{0, "GET", "/v1/openapi.yaml", ""}, {6, "GET", "/v1/accounts", ""}, {7, "GET", "/v1/accounts", ""}, {8, "GET", "/v1/accounts", ""},
	{0, "PUT", "/v1/accounts/acct-fb-coffee", "{}"}, {0, "GET", "/v1/nothing", ""}, {0, "GET", "/v1/accounts/%2e%2e/events", ""},
	{0, "GET", "/v1/accounts/a%00b", ""}, {0, "GET", "/v1//accounts", ""},
}

// apiFuzzFixture is the admin API over a recording store, with the state every input
// starts from.
type apiFuzzFixture struct {
	handler *Handler
	store   *storetest.Recorder
	mailbox *mailbox.Mailbox
	path    string
	cfg     store.Config
	golden  []byte
	before  string
	logs    *fuzzLogBuffer
	values  map[string]string // placeholder name → value
	writes  []string
}

func newAPIFuzzFixture(f *testing.F) *apiFuzzFixture {
	f.Helper()
	ctx := context.Background()
	clk := clock.NewManual(t0)
	dir := f.TempDir()
	if shm, err := os.MkdirTemp("/dev/shm", "relink-fuzz-"); err == nil { // resets are file copies: keep them in memory
		dir = shm
		f.Cleanup(func() { os.RemoveAll(shm) })
	}
	fx := &apiFuzzFixture{path: filepath.Join(dir, "relink.db"), cfg: store.Config{Clock: clk, CursorKey: bytes.Repeat([]byte("c"), 32)},
		logs: &fuzzLogBuffer{}, mailbox: mailbox.New(clk), values: map[string]string{}}
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
	// Only the sandbox answers: a check that tried any real channel would fail loudly.
	local := srv.Client()
	local.Transport = onlyHost{host: strings.TrimPrefix(srv.URL, "http://"), next: local.Transport}
	reg, err := channel.Default(srv.URL)
	if err != nil {
		f.Fatal(err)
	}
	raw, _ := vault.GenerateKeyRing("k1")
	kr, _ := vault.ParseKeyRing(raw)
	v := vault.New(ring{kr})
	logger := slog.New(slog.NewJSONHandler(fx.logs, nil))
	ids := ident.NewULID(clk.Now)
	owner := portal.New(portal.Deps{Store: fx.store, Registry: reg, Credentials: creds{},
		Identifiers: map[string]connect.Identifier{channel.SandboxID: connect.SandboxIdentifier{HTTP: local}},
		Vault:       v, Mail: fx.mailbox, Clock: clk, IDs: ids, Random: rand.Reader, HTTP: local, BaseURL: "https://relink.test",
		CodePepper: bytes.Repeat([]byte("p"), 32), UnsubscribeKey: bytes.Repeat([]byte("u"), 32), Logger: logger})
	svc := &admin.Service{Store: fx.store, Registry: reg, Links: owner.Links, Connect: owner.Connect, Mail: fx.mailbox,
		Clock: clk, IDs: ids, Random: rand.Reader, Logger: logger,
		Checker: admin.ProbeChecker{Store: fx.store, Vault: v, Registry: reg, Prober: &probe.Prober{HTTP: local, Credentials: creds{}, Clock: clk}}}
	fx.handler = NewHandler(svc, logger)

	// What the admin-api sample events act on (functions_test.go seedAdmin), at t0.
	for _, w := range []workspace.Workspace{{ID: "demo", Name: "Acme Brands"}, {ID: "beta", Name: "Beta Corp"}} {
		w.Settings, w.CreatedAt, w.UpdatedAt = workspace.DefaultSettings(), t0, t0
		if _, err := st.CreateWorkspace(ctx, w); err != nil {
			f.Fatal(err)
		}
	}
	for _, u := range []workspace.User{
		{WorkspaceID: "demo", ID: "u-primary", Email: "pat.primary@acme.example", Name: "Pat Primary", Role: workspace.RolePrimaryAdmin},
		{WorkspaceID: "demo", ID: "u-olivia", Email: "olivia.owner@acme.example", Name: "Olivia Owner", Role: workspace.RoleOwner},
		{WorkspaceID: "demo", ID: "u-publisher", Email: "publisher@acme.example", Name: "Publisher", Role: workspace.RoleService},
		{WorkspaceID: "demo", ID: "u-alex", Email: "alex.admin@acme.example", Name: "Alex Admin", Role: workspace.RoleAdmin,
			Preferences: workspace.Preferences{NotifyTrouble: true}},
		{WorkspaceID: "demo", ID: "u-rita", Email: "rita.owner@acme.example", Name: "Rita Owner", Role: workspace.RoleOwner},
		{WorkspaceID: "beta", ID: "u-bob", Email: "bob@beta.example", Name: "Bob", Role: workspace.RolePrimaryAdmin},
	} {
		u.CreatedAt, u.UpdatedAt = t0, t0
		if _, err := st.CreateUser(ctx, u); err != nil {
			f.Fatal(err)
		}
	}
	pat := account.Actor{ID: "u-primary", Role: workspace.RolePrimaryAdmin}
	for _, a := range []struct {
		id, name, owner string
		then            []account.Command
	}{
		{"acct-fb-coffee", "Acme Coffee", "u-olivia", nil},
		{"acct-fb-bakery", "Acme Bakery", "u-olivia", []account.Command{{Action: account.ActDisconnect, Reason: account.ReasonPasswordChanged,
			Actor: account.SystemActor("expiry-check"), ChannelError: &account.ChannelError{HTTPStatus: 400, Code: "190", Subcode: "460",
				Message: "Error validating access token: The session has been invalidated because the user changed their password."}}}},
		{"acct-fb-bistro", "Acme Bistro", "u-olivia", nil},
		{"acct-fb-tea", "Acme Tea Room", "u-olivia", []account.Command{{Action: account.ActDeactivate, Actor: pat, Note: "closed for the winter"}}},
		{"acct-fb-bagels", "Acme Bagels", "u-olivia", nil},
		{"acct-fb-deli", "Acme Deli", "u-olivia", []account.Command{{Action: account.ActDelete, Actor: pat, Confirmation: "Acme Deli"}}},
		{"acct-fb-diner", "Acme Diner", "u-olivia", []account.Command{{Action: account.ActDelete, Actor: pat, Confirmation: "Acme Diner"}}},
		{"acct-fb-juice", "Acme Juice Bar", "u-rita", nil},
		{"acct-fb-smoothie", "Acme Smoothies", "u-rita", nil},
	} {
		at := t0.Add(-7 * 24 * time.Hour)
		c, err := account.New(account.Spec{WorkspaceID: "demo", ID: a.id, Channel: "facebook", ExternalID: "page-" + a.id,
			DisplayName: a.name, OwnerID: a.owner, Kind: account.KindCompany, ParentProfileID: "fb-" + strings.TrimPrefix(a.owner, "u-"),
			Grant: &account.Grant{Scopes: []string{"pages_show_list", "pages_manage_posts"}}},
			account.Command{Actor: pat, At: at, EventID: "evt-create-" + a.id})
		if err != nil {
			f.Fatal(err)
		}
		if err := st.CreateAccount(ctx, c); err != nil {
			f.Fatal(err)
		}
		for i, cmd := range a.then {
			cmd.At, cmd.EventID = at.Add(time.Duration(i+1)*time.Hour), fmt.Sprintf("evt-%d-%s", i, a.id)
			if c, err = account.Transition(c.After, cmd); err != nil {
				f.Fatal(err)
			}
			if err := st.Apply(ctx, c); err != nil {
				f.Fatal(err)
			}
		}
	}
	for _, g := range []workspace.Group{
		{ID: "grp-cafes", Name: "Cafés", AccountIDs: []string{"acct-fb-coffee", "acct-fb-bakery", "acct-fb-bistro"}, Subscribers: []string{"u-alex", "u-primary"}},
		{ID: "grp-old", Name: "Closed shops"},
	} {
		g.WorkspaceID, g.CreatedAt, g.UpdatedAt = "demo", t0, t0
		if _, err := st.CreateGroup(ctx, g); err != nil {
			f.Fatal(err)
		}
	}
	// Olivia's sandbox accounts, with live tokens; the second one switched off, so that
	// activating it asks the sandbox.
	start, err := owner.Connect.Start(ctx, connect.Who{WorkspaceID: "demo", UserID: "u-olivia", Role: workspace.RoleOwner}, channel.SandboxID, "")
	if err != nil {
		f.Fatal(err)
	}
	out, err := owner.Connect.Callback(ctx, fuzzSandboxConsent(f, srv, start, "sandbox-olivia"))
	if err != nil || len(out.Accounts) != 2 {
		f.Fatalf("sandbox connect: %+v, %v", out, err)
	}
	fx.values["sbrand"], fx.values["scoffee"] = out.Accounts[0].ID, out.Accounts[1].ID
	principal := auth.Principal{WorkspaceID: "demo", UserID: "u-primary", Role: workspace.RolePrimaryAdmin, Name: "Pat Primary"}
	if _, err := svc.Deactivate(ctx, principal, out.Accounts[1].ID, admin.Note{Note: "paused"}); err != nil {
		f.Fatal(err)
	}
	if _, err := svc.Deactivate(ctx, principal, out.Accounts[0].ID, admin.Note{}); err != nil {
		f.Fatal(err)
	}
	if _, err := svc.Activate(ctx, principal, out.Accounts[0].ID, admin.Note{}); err != nil {
		f.Fatal(err)
	}
	page, err := st.ListAccounts(ctx, "demo", account.Filter{}, store.Page{Limit: 1})
	if err != nil || page.Next == "" {
		f.Fatalf("no second page: %v", err)
	}
	fx.values["cursor"] = page.Next
	evs, err := st.Events(ctx, "demo", out.Accounts[0].ID, store.Page{Limit: 1})
	if err != nil || evs.Next == "" {
		f.Fatalf("no second page of events: %v", err)
	}
	fx.values["events_cursor"] = evs.Next

	if err := st.Close(); err != nil {
		f.Fatal(err)
	}
	if fx.golden, err = os.ReadFile(fx.path); err != nil {
		f.Fatal(err)
	}
	fx.reopen(f)
	fx.before = fx.snapshot(f)
	fx.writes = nil
	fx.mailbox.Clear()
	fx.logs.Reset()
	return fx
}

// onlyHost lets requests reach one host: the fuzz targets never touch the network.
type onlyHost struct {
	host string
	next http.RoundTripper
}

func (o onlyHost) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Host != o.host {
		return nil, errors.New("fuzz fixture: no network beyond the sandbox (asked for " + r.URL.Host + ")")
	}
	return o.next.RoundTrip(r)
}

// fuzzSandboxConsent answers the sandbox's consent screen, allowing every scope.
func fuzzSandboxConsent(tb testing.TB, srv *httptest.Server, authorizeURL, profile string) connect.Callback {
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
	q := fuzzMust(url.Parse(resp.Header.Get("Location"))).Query()
	return connect.Callback{State: q.Get("state"), Code: q.Get("code"), Error: q.Get("error")}
}

func fuzzMust[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

var fuzzPlaceholder = regexp.MustCompile(`\{[a-z_]+\}`)

func (fx *apiFuzzFixture) expand(s string) string {
	return fuzzPlaceholder.ReplaceAllStringFunc(s, func(p string) string {
		if v, ok := fx.values[p[1:len(p)-1]]; ok {
			return v
		}
		return p
	})
}

func (fx *apiFuzzFixture) expandBytes(b []byte) []byte {
	if !bytes.Contains(b, []byte("{")) {
		return b
	}
	return []byte(fx.expand(string(b)))
}

// after puts the store back as built when the input wrote anything.
func (fx *apiFuzzFixture) after(t *testing.T) {
	fx.logs.Reset()
	fx.mailbox.Clear()
	if len(fx.writes) == 0 {
		return
	}
	if err := fx.store.Store.(*bolt.Store).Close(); err != nil {
		t.Fatal(err)
	}
	fx.reopen(t)
}

func (fx *apiFuzzFixture) reopen(tb testing.TB) {
	if err := os.WriteFile(fx.path, fx.golden, 0o600); err != nil {
		tb.Fatal(err)
	}
	st, err := bolt.Open(fx.path, fx.cfg)
	if err != nil {
		tb.Fatal(err)
	}
	fx.store.Store = st
}

// snapshot is everything a request could change, in both workspaces: settings,
// people, groups, accounts (deleted ones too) with their tokens and audit trails.
func (fx *apiFuzzFixture) snapshot(tb testing.TB) string {
	ctx := context.Background()
	st := fx.store.Store
	type wsState struct {
		Workspace workspace.Workspace
		Users     []workspace.User
		Groups    []workspace.Group
		Accounts  []account.Account
		Tokens    map[string][]byte
		Events    map[string][]account.Event
	}
	out := map[string]*wsState{}
	for _, ws := range []string{"demo", "beta"} {
		s := &wsState{Tokens: map[string][]byte{}, Events: map[string][]account.Event{}}
		var err error
		if s.Workspace, err = st.GetWorkspace(ctx, ws); err != nil {
			tb.Fatal(err)
		}
		if s.Users, err = st.ListUsers(ctx, ws); err != nil {
			tb.Fatal(err)
		}
		if s.Groups, err = st.ListGroups(ctx, ws); err != nil {
			tb.Fatal(err)
		}
		for _, state := range []account.State{"", account.StateDeleted} {
			p, err := st.ListAccounts(ctx, ws, account.Filter{State: state}, store.Page{Limit: store.MaxLimit})
			if err != nil {
				tb.Fatal(err)
			}
			s.Accounts = append(s.Accounts, p.Accounts...)
		}
		for _, a := range s.Accounts {
			s.Tokens[a.ID], _ = st.GetTokens(ctx, ws, a.ID)
			ev, err := st.Events(ctx, ws, a.ID, store.Page{Limit: store.MaxLimit})
			if err != nil {
				tb.Fatal(err)
			}
			s.Events[a.ID] = ev.Events
		}
		out[ws] = s
	}
	b, err := json.Marshal(out)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

type fuzzLogBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *fuzzLogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}
func (l *fuzzLogBuffer) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }
func (l *fuzzLogBuffer) Reset()         { l.mu.Lock(); defer l.mu.Unlock(); l.b.Reset() }
