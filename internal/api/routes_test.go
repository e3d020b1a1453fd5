package api

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/relinkhq/relink/internal/account"
	"github.com/relinkhq/relink/internal/admin"
	"github.com/relinkhq/relink/internal/auth"
	"github.com/relinkhq/relink/internal/mailbox"
	"github.com/relinkhq/relink/internal/workspace"
)

type mailboxMail = mailbox.Mail

// fixture is the state every route case starts from: Olivia holds Sandbox Brand (with
// a group) and Sandbox Coffee, Omar holds Sandbox Studio, and Beta Corp has its own.
type fixture struct {
	*env
	brand, coffee, studio, betaAcct string
	group                           string
}

func newFixture(t *testing.T) *fixture {
	e := newEnv(t, boltStore)
	f := &fixture{env: e}
	olivia := e.connect(wsA, oliviaID, workspace.RoleOwner, "sandbox-olivia")
	f.brand, f.coffee = olivia[0].ID, olivia[1].ID
	f.studio = e.connect(wsA, omarID, workspace.RoleOwner, "sandbox-omar")[0].ID
	f.betaAcct = e.connect(wsB, bobID, workspace.RolePrimaryAdmin, "sandbox-omar")[0].ID
	g, err := e.svc.CreateGroup(context.Background(), f.principal(patID), admin.GroupInput{Name: ptr("Coffee brands"),
		Subscribers: &[]string{adaID}, AccountIDs: &[]string{f.brand}})
	if err != nil {
		t.Fatal(err)
	}
	f.group = g.ID
	return f
}

func ptr[T any](v T) *T { return &v }

func (f *fixture) principal(user string) auth.Principal {
	u, err := f.store.GetUser(context.Background(), wsA, user)
	if err != nil {
		f.t.Fatal(err)
	}
	return auth.Principal{WorkspaceID: wsA, UserID: u.ID, Role: u.Role, Name: u.Name}
}

// setup prepares a state some routes need (a deactivated or deleted account).
func (f *fixture) deactivate(id string) {
	if _, err := f.svc.Deactivate(context.Background(), f.principal(patID), id, admin.Note{}); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) delete(id string) {
	a, _ := f.store.GetAccount(context.Background(), wsA, id)
	if _, err := f.svc.Delete(context.Background(), f.principal(patID), id, admin.Deletion{Confirmation: a.DisplayName}); err != nil {
		f.t.Fatal(err)
	}
}

// Callers of the table.
const (
	primary    = "primary"
	anAdmin    = "admin"
	owner      = "owner"       // Olivia, who holds Sandbox Brand
	otherOwner = "other_owner" // Omar
	service    = "service"
	foreign    = "foreign" // Bob, primary admin of Beta Corp
	anonymous  = "anonymous"
)

var callers = []string{primary, anAdmin, owner, otherOwner, service, foreign, anonymous}

func (f *fixture) tokenOf(caller string) string {
	switch caller {
	case primary:
		return f.token(wsA, patID)
	case anAdmin:
		return f.token(wsA, adaID)
	case owner:
		return f.token(wsA, oliviaID)
	case otherOwner:
		return f.token(wsA, omarID)
	case service:
		return f.token(wsA, svcID)
	case foreign:
		return f.token(wsB, bobID)
	}
	return ""
}

// routeCase is one route: how to call it successfully, what each caller gets, and
// a request it must refuse as bad input (naming the field).
type routeCase struct {
	route   string // "METHOD /path" as registered
	path    func(f *fixture) string
	body    func(f *fixture) any
	setup   func(f *fixture)
	want    map[string]int // caller → status; callers not listed get the route's default
	invalid func(f *fixture) (path string, body any, field string)
}

func ids(f *fixture, p string) string {
	return strings.NewReplacer("{brand}", f.brand, "{coffee}", f.coffee, "{studio}", f.studio, "{group}", f.group,
		"{olivia}", oliviaID, "{omar}", omarID, "{ada}", adaID).Replace(p)
}

func at(p string) func(f *fixture) string { return func(f *fixture) string { return ids(f, p) } }

func body(v any) func(f *fixture) any { return func(*fixture) any { return v } }

// adminOnly: admins succeed with ok, owners and services are refused, Beta Corp's
// admin does not find Acme's IDs.
func adminOnly(ok int) map[string]int {
	return map[string]int{primary: ok, anAdmin: ok, owner: 403, otherOwner: 403, service: 403, foreign: 404, anonymous: 401}
}

func routeCases() []routeCase {
	return []routeCase{
		{route: "GET /v1/accounts", path: at("/v1/accounts"),
			want:    map[string]int{primary: 200, anAdmin: 200, owner: 200, otherOwner: 200, service: 200, foreign: 200, anonymous: 401},
			invalid: func(*fixture) (string, any, string) { return "/v1/accounts?state=sleepy", nil, "state" }},
		{route: "GET /v1/accounts/{id}", path: at("/v1/accounts/{brand}"),
			want: map[string]int{primary: 200, anAdmin: 200, owner: 200, otherOwner: 404, service: 200, foreign: 404, anonymous: 401}},
		{route: "GET /v1/accounts/{id}/events", path: at("/v1/accounts/{brand}/events"),
			want: map[string]int{primary: 200, anAdmin: 200, owner: 200, otherOwner: 404, service: 200, foreign: 404, anonymous: 401},
			invalid: func(f *fixture) (string, any, string) {
				return ids(f, "/v1/accounts/{brand}/events?cursor=forged"), nil, "cursor"
			}},
		{route: "POST /v1/accounts/{id}/deactivate", path: at("/v1/accounts/{brand}/deactivate"), body: body(map[string]any{"note": "paused"}),
			want: adminOnly(200),
			invalid: func(f *fixture) (string, any, string) {
				return ids(f, "/v1/accounts/{brand}/deactivate"), map[string]any{"note": 5}, "note"
			}},
		{route: "POST /v1/accounts/{id}/activate", path: at("/v1/accounts/{brand}/activate"), setup: func(f *fixture) { f.deactivate(f.brand) },
			want: adminOnly(200),
			invalid: func(f *fixture) (string, any, string) {
				return ids(f, "/v1/accounts/{brand}/activate"), map[string]any{"nope": 1}, "nope"
			}},
		{route: "POST /v1/accounts/{id}/readd", path: at("/v1/accounts/{brand}/readd"), want: adminOnly(200)},
		{route: "POST /v1/accounts/{id}/remind", path: at("/v1/accounts/{brand}/remind"),
			setup: func(f *fixture) { f.sandbox.Act(f.sandboxGrant(), "password_changed", ""); f.report(f.brand) },
			want:  adminOnly(200)},
		{route: "POST /v1/accounts/{id}/transfer", path: at("/v1/accounts/{brand}/transfer"), body: body(map[string]any{"owner_id": omarID}),
			want: adminOnly(200),
			invalid: func(f *fixture) (string, any, string) {
				return ids(f, "/v1/accounts/{brand}/transfer"), map[string]any{"owner_id": "u-nobody"}, "owner_id"
			}},
		{route: "DELETE /v1/accounts/{id}", path: at("/v1/accounts/{brand}"), body: body(map[string]any{"confirmation": "Sandbox Brand"}),
			want: map[string]int{primary: 200, anAdmin: 403, owner: 403, otherOwner: 403, service: 403, foreign: 404, anonymous: 401},
			invalid: func(f *fixture) (string, any, string) {
				return ids(f, "/v1/accounts/{brand}"), map[string]any{"confirmation": "Brand"}, "confirmation"
			}},
		{route: "POST /v1/accounts/{id}/restore", path: at("/v1/accounts/{brand}/restore"), setup: func(f *fixture) { f.delete(f.brand) },
			want: adminOnly(200)},
		{route: "POST /v1/accounts/{id}/failures", path: at("/v1/accounts/{brand}/failures"),
			body: body(map[string]any{"http_status": 401, "body": map[string]any{"error": "invalid_token", "reason": "password_changed"}}),
			want: map[string]int{primary: 200, anAdmin: 200, owner: 403, otherOwner: 403, service: 200, foreign: 404, anonymous: 401},
			invalid: func(f *fixture) (string, any, string) {
				return ids(f, "/v1/accounts/{brand}/failures"), map[string]any{"http_status": 1000}, "http_status"
			}},
		{route: "GET /v1/users", path: at("/v1/users"),
			want: map[string]int{primary: 200, anAdmin: 200, owner: 403, otherOwner: 403, service: 403, foreign: 200, anonymous: 401}},
		{route: "POST /v1/users", path: at("/v1/users"), body: body(map[string]any{"email": "nora@acme.example", "name": "Nora", "role": "owner"}),
			want: map[string]int{primary: 201, anAdmin: 201, owner: 403, otherOwner: 403, service: 403, foreign: 201, anonymous: 401},
			invalid: func(*fixture) (string, any, string) {
				return "/v1/users", map[string]any{"email": "not-an-address", "role": "owner"}, "email"
			}},
		{route: "GET /v1/users/{id}", path: at("/v1/users/{olivia}"),
			want: map[string]int{primary: 200, anAdmin: 200, owner: 200, otherOwner: 404, service: 404, foreign: 404, anonymous: 401}},
		{route: "PATCH /v1/users/{id}", path: at("/v1/users/{olivia}"), body: body(map[string]any{"name": "Olivia O."}),
			want: adminOnly(200),
			invalid: func(f *fixture) (string, any, string) {
				return ids(f, "/v1/users/{olivia}"), map[string]any{"role": "primary_admin"}, "role"
			}},
		{route: "GET /v1/users/{id}/preferences", path: at("/v1/users/{olivia}/preferences"),
			want: map[string]int{primary: 200, anAdmin: 200, owner: 200, otherOwner: 404, service: 404, foreign: 404, anonymous: 401}},
		{route: "PATCH /v1/users/{id}/preferences", path: at("/v1/users/{olivia}/preferences"), body: body(map[string]any{"notify_trouble": true}),
			want: map[string]int{primary: 200, anAdmin: 200, owner: 200, otherOwner: 404, service: 404, foreign: 404, anonymous: 401},
			invalid: func(f *fixture) (string, any, string) {
				return ids(f, "/v1/users/{olivia}/preferences"), map[string]any{"notify_trouble": "yes"}, "notify_trouble"
			}},
		{route: "POST /v1/users/{id}/connect-link", path: at("/v1/users/{olivia}/connect-link"), body: body(map[string]any{"send": true}),
			want: adminOnly(200),
			invalid: func(f *fixture) (string, any, string) {
				return ids(f, "/v1/users/{olivia}/connect-link"), map[string]any{"send": "please"}, "send"
			}},
		{route: "GET /v1/groups", path: at("/v1/groups"),
			want: map[string]int{primary: 200, anAdmin: 200, owner: 403, otherOwner: 403, service: 403, foreign: 200, anonymous: 401}},
		{route: "POST /v1/groups", path: at("/v1/groups"), body: func(f *fixture) any { return map[string]any{"name": "Studio", "account_ids": []string{f.studio}} },
			want:    map[string]int{primary: 201, anAdmin: 201, owner: 403, otherOwner: 403, service: 403, foreign: 400, anonymous: 401},
			invalid: func(*fixture) (string, any, string) { return "/v1/groups", map[string]any{"name": ""}, "name" }},
		{route: "GET /v1/groups/{id}", path: at("/v1/groups/{group}"), want: adminOnly(200)},
		{route: "PATCH /v1/groups/{id}", path: at("/v1/groups/{group}"), body: body(map[string]any{"name": "Coffee"}), want: adminOnly(200),
			invalid: func(f *fixture) (string, any, string) {
				return ids(f, "/v1/groups/{group}"), map[string]any{"subscribers": []string{"u-x"}}, "subscribers"
			}},
		{route: "DELETE /v1/groups/{id}", path: at("/v1/groups/{group}"), want: adminOnly(204)},
		{route: "POST /v1/groups/{id}/accounts", path: at("/v1/groups/{group}/accounts"),
			body: func(f *fixture) any { return map[string]any{"account_ids": []string{f.coffee}} }, want: adminOnly(200),
			invalid: func(f *fixture) (string, any, string) {
				return ids(f, "/v1/groups/{group}/accounts"), map[string]any{"account_ids": []string{}}, "account_ids"
			}},
		{route: "DELETE /v1/groups/{id}/accounts/{account_id}", path: at("/v1/groups/{group}/accounts/{brand}"), want: adminOnly(200)},
		{route: "POST /v1/invites", path: at("/v1/invites"), body: body(map[string]any{"emails": []string{"new@acme.example"}, "channels": []string{"sandbox"}}),
			want: map[string]int{primary: 200, anAdmin: 200, owner: 403, otherOwner: 403, service: 403, foreign: 200, anonymous: 401},
			invalid: func(*fixture) (string, any, string) {
				return "/v1/invites", map[string]any{"emails": []string{"x@y.z"}, "channels": []string{"myspace"}}, "channels"
			}},
		{route: "GET /v1/dashboard", path: at("/v1/dashboard"),
			want: map[string]int{primary: 200, anAdmin: 200, owner: 403, otherOwner: 403, service: 403, foreign: 200, anonymous: 401}},
		{route: "GET /v1/workspace", path: at("/v1/workspace"),
			want: map[string]int{primary: 200, anAdmin: 200, owner: 200, otherOwner: 200, service: 200, foreign: 200, anonymous: 401}},
		{route: "PATCH /v1/workspace", path: at("/v1/workspace"), body: body(map[string]any{"settings": map[string]any{"time_zone": "Europe/Amsterdam"}}),
			want: map[string]int{primary: 200, anAdmin: 200, owner: 403, otherOwner: 403, service: 403, foreign: 200, anonymous: 401},
			invalid: func(*fixture) (string, any, string) {
				return "/v1/workspace", map[string]any{"settings": map[string]any{"time_zone": "Mars/Olympus"}}, "settings.time_zone"
			}},
	}
}

// sandboxGrant is the sandbox grant behind Olivia's accounts.
func (f *fixture) sandboxGrant() string {
	for _, g := range f.sandbox.Grants() {
		if g.ProfileID == "sandbox-olivia" {
			return g.ID
		}
	}
	f.t.Fatal("no sandbox grant for Olivia")
	return ""
}

// report makes an account disconnected the way the publisher would.
func (f *fixture) report(id string) {
	if _, err := f.svc.ReportFailure(context.Background(), f.principal(svcID), id, admin.FailureReport{HTTPStatus: 401,
		Body: []byte(`{"error":"invalid_token","reason":"password_changed"}`)}); err != nil {
		f.t.Fatal(err)
	}
}

// TestEveryRouteForEveryCaller: every route, for every kind of caller: success, the
// wrong role (403), another workspace's admin (404 for Acme's IDs, their own data
// otherwise), no token (401), and a bad input that names its field — each answer
// checked against openapi.yaml.
func TestEveryRouteForEveryCaller(t *testing.T) {
	covered := map[string]bool{}
	for _, rc := range routeCases() {
		covered[rc.route] = true
		for _, caller := range callers {
			t.Run(rc.route+"/"+caller, func(t *testing.T) {
				f := newFixture(t)
				if rc.setup != nil {
					rc.setup(f)
				}
				var b any
				if rc.body != nil {
					b = rc.body(f)
				}
				method := strings.Fields(rc.route)[0]
				got := f.call(f.tokenOf(caller), method, rc.path(f), b)
				if want := rc.want[caller]; got.status != want {
					t.Fatalf("%s as %s: %d, want %d\n%s", rc.route, caller, got.status, want, got.body)
				}
				if caller == foreign && got.status < 300 && method == http.MethodGet {
					for _, id := range []string{f.brand, f.coffee, f.studio, oliviaID, f.group} {
						if strings.Contains(string(got.body), id) {
							t.Fatalf("Beta Corp's admin sees Acme's %s:\n%s", id, got.body)
						}
					}
				}
			})
		}
		if rc.invalid != nil {
			t.Run(rc.route+"/invalid", func(t *testing.T) {
				f := newFixture(t)
				if rc.setup != nil {
					rc.setup(f)
				}
				path, b, field := rc.invalid(f)
				got := f.call(f.tokenOf(primary), strings.Fields(rc.route)[0], path, b)
				code, gotField := got.errorCode()
				if got.status != http.StatusBadRequest || code != "invalid" || gotField != field {
					t.Fatalf("bad input: %d %s field %q, want 400 invalid field %q\n%s", got.status, code, gotField, field, got.body)
				}
			})
		}
	}
	// Every registered route has a case (the OpenAPI route is checked by the contract test).
	f := newEnv(t, boltStore)
	for _, r := range f.handler.Routes() {
		if !covered[r] && r != "GET /v1/openapi.yaml" {
			t.Errorf("route %s has no case in routeCases", r)
		}
	}
}

// TestRouteEffects: the successful calls did what they say.
func TestRouteEffects(t *testing.T) {
	f := newFixture(t)
	tok := f.tokenOf(primary)
	ctx := context.Background()

	f.call(tok, "POST", "/v1/accounts/"+f.brand+"/deactivate", map[string]any{"note": "brand paused"})
	if a, _ := f.store.GetAccount(ctx, wsA, f.brand); a.State != account.StateDeactivated {
		t.Fatalf("deactivate: %s", a.State)
	}
	if m := f.mailbox.To("ada@acme.example"); len(m) != 1 || !strings.Contains(m[0].Subject, "switched off") || !strings.Contains(m[0].Text, "brand paused") {
		t.Fatalf("group subscriber not told: %+v", m)
	}
	var ev admin.EventList
	f.call(tok, "GET", "/v1/accounts/"+f.brand+"/events", nil).json(t, &ev)
	last := ev.Events[len(ev.Events)-1]
	if last.Action != account.ActDeactivate || last.Actor != patID || last.Note != "brand paused" {
		t.Fatalf("audit: %+v", last)
	}

	// Owner filter for owners, and owners cannot widen it.
	var list admin.AccountList
	f.call(f.tokenOf(owner), "GET", "/v1/accounts", nil).json(t, &list)
	if len(list.Accounts) != 2 {
		t.Fatalf("Olivia sees %d accounts", len(list.Accounts))
	}
	if got := f.call(f.tokenOf(owner), "GET", "/v1/accounts?owner_id="+omarID, nil); got.status != 403 {
		t.Fatalf("owner asking for another owner's accounts: %d", got.status)
	}
	// Group filter.
	f.call(tok, "GET", "/v1/accounts?group="+f.group, nil).json(t, &list)
	if len(list.Accounts) != 1 || list.Accounts[0].ID != f.brand {
		t.Fatalf("group filter: %+v", list.Accounts)
	}

	// A new owner gets their connect link by email.
	f.call(tok, "POST", "/v1/users", map[string]any{"email": "nora@acme.example", "name": "Nora", "role": "owner"})
	if m := f.mailbox.To("nora@acme.example"); len(m) != 1 || !strings.Contains(m[0].Text, f.srv.URL+"/l/") {
		t.Fatalf("new owner's link: %+v", m)
	}
	// Only the primary admin makes admins; nobody makes a second primary admin.
	if got := f.call(f.tokenOf(anAdmin), "POST", "/v1/users", map[string]any{"email": "x@acme.example", "role": "admin"}); got.status != 403 {
		t.Fatalf("admin making an admin: %d", got.status)
	}
	if got := f.call(tok, "POST", "/v1/users", map[string]any{"email": "y@acme.example", "role": "primary_admin"}); got.status != 400 {
		t.Fatalf("a second primary admin: %d", got.status)
	}
	if got := f.call(tok, "POST", "/v1/users", map[string]any{"email": "olivia@acme.example", "role": "owner"}); got.status != 409 {
		t.Fatalf("duplicate address: %d", got.status)
	}

	// Connect link: copy returns the URL and the older link stops; send emails it.
	var cl admin.ConnectLink
	f.call(tok, "POST", "/v1/users/"+oliviaID+"/connect-link", nil).json(t, &cl)
	if !strings.HasPrefix(cl.URL, f.srv.URL+"/l/") || cl.SentTo != "" {
		t.Fatalf("copy: %+v", cl)
	}
	var sent admin.ConnectLink
	f.call(tok, "POST", "/v1/users/"+oliviaID+"/connect-link", map[string]any{"send": true}).json(t, &sent)
	if sent.URL != "" || sent.SentTo != "olivia@acme.example" {
		t.Fatalf("send: %+v", sent)
	}
	// A link signs in as its person: an admin may copy an owner's or their own, never
	// another admin's (the primary admin may); sending it to them is fine.
	adaTok := f.tokenOf(anAdmin)
	if got := f.call(adaTok, "POST", "/v1/users/"+patID+"/connect-link", nil); got.status != 403 {
		t.Fatalf("an admin copying the primary admin's link: %d", got.status)
	}
	if got := f.call(adaTok, "POST", "/v1/users/"+patID+"/connect-link", map[string]any{"send": true}); got.status != 200 {
		t.Fatalf("an admin sending the primary admin their link: %d", got.status)
	}
	for _, who := range []string{oliviaID, adaID} {
		if got := f.call(adaTok, "POST", "/v1/users/"+who+"/connect-link", nil); got.status != 200 {
			t.Fatalf("an admin copying %s's link: %d", who, got.status)
		}
	}
	if got := f.call(tok, "POST", "/v1/users/"+adaID+"/connect-link", nil); got.status != 200 {
		t.Fatalf("the primary admin copying an admin's link: %d", got.status)
	}
	// The same for re-add: on the primary admin's account, another admin gets the
	// consent link to follow but not the owner's personal link.
	if got := f.call(tok, "POST", "/v1/accounts/"+f.brand+"/transfer", map[string]any{"owner_id": patID}); got.status != 200 {
		t.Fatalf("transfer to the primary admin: %d %s", got.status, got.body)
	}
	var rl admin.ReaddLinks
	f.call(adaTok, "POST", "/v1/accounts/"+f.brand+"/readd", nil).json(t, &rl)
	if rl.ConsentURL == "" || rl.ReconnectURL != "" || rl.ReconnectExpiresAt != nil {
		t.Fatalf("an admin re-adding the primary admin's account: %+v", rl)
	}
	f.call(tok, "POST", "/v1/accounts/"+f.brand+"/readd", nil).json(t, &rl)
	if rl.ReconnectURL == "" {
		t.Fatalf("the primary admin re-adding their own account: %+v", rl)
	}
	if got := f.call(tok, "POST", "/v1/accounts/"+f.brand+"/transfer", map[string]any{"owner_id": oliviaID}); got.status != 200 {
		t.Fatalf("transfer back: %d", got.status)
	}

	// Invite: the address becomes an owner and gets an invite link.
	var inv admin.Invites
	f.call(tok, "POST", "/v1/invites", map[string]any{"emails": []string{"Zed@Acme.example"}, "channels": []string{"sandbox"},
		"message": "Please connect"}).json(t, &inv)
	if len(inv.Invites) != 1 || inv.Invites[0].Status != "sent" || !inv.Invites[0].Created {
		t.Fatalf("invite: %+v", inv)
	}
	if m := f.mailbox.To("zed@acme.example"); len(m) != 1 || !strings.Contains(m[0].Text, "Please connect") {
		t.Fatalf("invite email: %+v", m)
	}

	// Settings: a change shows up, and bad ones are refused whole.
	var w admin.WorkspaceView
	f.call(tok, "PATCH", "/v1/workspace", map[string]any{"settings": map[string]any{"reminder_policy": "series", "warning_window_days": 30}}).json(t, &w)
	if w.Settings.ReminderPolicy != "series" || w.Settings.WarningWindowDays != 30 {
		t.Fatalf("settings: %+v", w.Settings)
	}
	if got := f.call(tok, "PATCH", "/v1/workspace", map[string]any{"settings": map[string]any{"warning_window_days": 0}}); got.status != 400 {
		t.Fatalf("bad window: %d", got.status)
	}
	// Day counts that would overflow a duration into a valid-looking one are refused too.
	for _, field := range []string{"warning_window_days", "exponential_cap_days", "series_first_gap_days", "series_interval_days"} {
		if got := f.call(tok, "PATCH", "/v1/workspace", map[string]any{"settings": map[string]any{field: 281474976710676}}); got.status != 400 {
			t.Fatalf("%s overflowing: %d", field, got.status)
		}
	}
	f.call(tok, "GET", "/v1/workspace", nil).json(t, &w)
	if w.Settings.WarningWindowDays != 30 {
		t.Fatalf("a refused change changed the settings: %+v", w.Settings)
	}

	// Dashboard counts.
	var d admin.Dashboard
	f.call(tok, "GET", "/v1/dashboard", nil).json(t, &d)
	if d.Total != 3 || d.ByState[account.StateDeactivated] != 1 || d.ByChannel["sandbox"] != 3 {
		t.Fatalf("dashboard: %+v", d)
	}

	// Remind: once an hour per account.
	f.sandbox.Act(f.sandboxGrant(), "password_changed", "")
	f.report(f.coffee)
	if got := f.call(tok, "POST", "/v1/accounts/"+f.coffee+"/remind", nil); got.status != 200 {
		t.Fatalf("remind: %d %s", got.status, got.body)
	}
	if got := f.call(f.tokenOf(anAdmin), "POST", "/v1/accounts/"+f.coffee+"/remind", nil); got.status != 429 {
		t.Fatalf("second remind within the hour: %d", got.status)
	}
	f.clock.Advance(61 * 60e9)
	if got := f.call(tok, "POST", "/v1/accounts/"+f.coffee+"/remind", nil); got.status != 200 {
		t.Fatalf("remind after an hour: %d", got.status)
	}
	if m := f.mailbox.To("olivia@acme.example"); !slices.ContainsFunc(m, func(x mailboxMail) bool { return strings.Contains(x.Subject, "Reconnect Sandbox Coffee") }) {
		t.Fatalf("remind email: %+v", m)
	}
}

func (f *fixture) fixture() *fixture { return f }

func (f *fixture) version(id string) int64 {
	a, err := f.store.GetAccount(context.Background(), wsA, id)
	if err != nil {
		f.t.Fatal(err)
	}
	return a.Version
}

// TestUncleanPathsAreNotRoutes: "//" and ".." never redirect (an HTML body): the JSON
// error, 404, and nothing served.
func TestUncleanPathsAreNotRoutes(t *testing.T) {
	h := NewHandler(nil, slog.New(slog.DiscardHandler))
	for _, p := range []string{"/v1//accounts", "/v1/x/../accounts", "/v1/accounts/./a1"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "http://relink.test"+p, nil))
		if rec.Code != 404 || !strings.Contains(rec.Body.String(), `"code":"not_found"`) || rec.Header().Get("Location") != "" {
			t.Fatalf("%s: %d %s", p, rec.Code, rec.Body)
		}
	}
}
