package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/relinkhq/relink/internal/account"
	"github.com/relinkhq/relink/internal/admin"
	"github.com/relinkhq/relink/internal/auth"
	"github.com/relinkhq/relink/internal/bolt"
	"github.com/relinkhq/relink/internal/clock"
	"github.com/relinkhq/relink/internal/consent"
	"github.com/relinkhq/relink/internal/magiclink"
	"github.com/relinkhq/relink/internal/store"
	"github.com/relinkhq/relink/internal/workspace"
)

// Tenant isolation and roles, generated (issue #7, item 2).
//
// Every route the handler serves (its own route table: a new route without a row here
// fails the test) is called by callers that must not get at Acme's data or exceed their
// role: Acme's owner and service, Beta Corp's primary admin and admin, no token, and a
// token naming Acme's primary admin under Beta Corp's workspace claim. Requests use
// realistic IDs and bodies that Acme's primary admin gets a success for (checked, as a
// control), so a refusal is down to who calls. Around every call the whole store is
// snapshotted, and a spy on the store port records every write:
//
//   - refused calls and reads write nothing: no write reaches the store, the snapshot
//     of both workspaces (accounts with versions, audit events, sealed tokens, users,
//     groups, links, codes, settings, runs) is unchanged, and so is the store file;
//   - a call that is allowed changes its caller's workspace only: every write is tagged
//     with the caller's workspace and the other workspace's snapshot is unchanged;
//   - Beta Corp's callers never see Acme's data: no ID, name or address of Acme (that
//     the request did not itself carry) is in any answer, and another workspace's ID
//     answers exactly as an ID that exists nowhere does (404, same body);
//   - the expected status comes from the role rules of internal/admin (see isoRules).

// Beta Corp's people besides Bob, its primary admin.
const (
	beaID = "u-bea" // admin
	benID = "u-ben" // owner of Beta's one account
)

// storeWrite is one write that reached the store, with the workspace it was for.
type storeWrite struct{ op, ws string }

// spyStore passes everything to the store and records writes. Every method is written
// out (nothing embedded): a method added to store.Store does not compile here until it
// is sorted into a read or a write.
type spyStore struct {
	s store.Store

	mu       sync.Mutex
	writes   []storeWrite
	links    map[string]string // link hash → workspace, every link ever created
	consents map[string]string // consent hash → workspace
	codes    map[string]string // flow ID → workspace
	sends    map[string]bool
}

var _ store.Store = (*spyStore)(nil)

func newSpy(s store.Store) *spyStore {
	return &spyStore{s: s, links: map[string]string{}, consents: map[string]string{}, codes: map[string]string{}, sends: map[string]bool{}}
}

func (p *spyStore) note(op, ws string) {
	p.mu.Lock()
	p.writes = append(p.writes, storeWrite{op, ws})
	p.mu.Unlock()
}

// take returns the writes since the last take and forgets them.
func (p *spyStore) take() []storeWrite {
	p.mu.Lock()
	defer p.mu.Unlock()
	w := p.writes
	p.writes = nil
	return w
}

func (p *spyStore) known() (links, codes map[string]string, sends []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	links, codes = map[string]string{}, map[string]string{}
	for k, v := range p.links {
		links[k] = v
	}
	for k, v := range p.codes {
		codes[k] = v
	}
	for k := range p.sends {
		sends = append(sends, k)
	}
	sort.Strings(sends)
	return links, codes, sends
}

func (p *spyStore) lookup(m map[string]string, k string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if ws, ok := m[k]; ok {
		return ws
	}
	return "?"
}

// limitWorkspace reads the workspace out of a rate-limit key ("remind#<ws>#<id>").
func limitWorkspace(key string) string {
	for _, ws := range []string{wsA, wsB} {
		if strings.Contains(key, "#"+ws+"#") {
			return ws
		}
	}
	return "global"
}

// Reads.
func (p *spyStore) GetWorkspace(ctx context.Context, id string) (workspace.Workspace, error) {
	return p.s.GetWorkspace(ctx, id)
}
func (p *spyStore) GetUser(ctx context.Context, ws, id string) (workspace.User, error) {
	return p.s.GetUser(ctx, ws, id)
}
func (p *spyStore) GetUserByEmail(ctx context.Context, ws, email string) (workspace.User, error) {
	return p.s.GetUserByEmail(ctx, ws, email)
}
func (p *spyStore) ListUsers(ctx context.Context, ws string) ([]workspace.User, error) {
	return p.s.ListUsers(ctx, ws)
}
func (p *spyStore) UsersByEmail(ctx context.Context, email string) ([]workspace.User, error) {
	return p.s.UsersByEmail(ctx, email)
}
func (p *spyStore) GetGroup(ctx context.Context, ws, id string) (workspace.Group, error) {
	return p.s.GetGroup(ctx, ws, id)
}
func (p *spyStore) ListGroups(ctx context.Context, ws string) ([]workspace.Group, error) {
	return p.s.ListGroups(ctx, ws)
}
func (p *spyStore) GetAccount(ctx context.Context, ws, id string) (account.Account, error) {
	return p.s.GetAccount(ctx, ws, id)
}
func (p *spyStore) FindAccount(ctx context.Context, ws, channel, externalID string) (account.Account, error) {
	return p.s.FindAccount(ctx, ws, channel, externalID)
}
func (p *spyStore) ListAccounts(ctx context.Context, ws string, f account.Filter, pg store.Page) (store.AccountPage, error) {
	return p.s.ListAccounts(ctx, ws, f, pg)
}
func (p *spyStore) DueAccounts(ctx context.Context, shard int, now time.Time, pg store.Page) (store.AccountPage, error) {
	return p.s.DueAccounts(ctx, shard, now, pg)
}
func (p *spyStore) RemindersDue(ctx context.Context, shard int, now time.Time, pg store.Page) (store.AccountPage, error) {
	return p.s.RemindersDue(ctx, shard, now, pg)
}
func (p *spyStore) Shards() int { return p.s.Shards() }
func (p *spyStore) Events(ctx context.Context, ws, accountID string, pg store.Page) (store.EventPage, error) {
	return p.s.Events(ctx, ws, accountID, pg)
}
func (p *spyStore) GetTokens(ctx context.Context, ws, accountID string) ([]byte, error) {
	return p.s.GetTokens(ctx, ws, accountID)
}
func (p *spyStore) GetLink(ctx context.Context, hash string) (magiclink.Link, error) {
	return p.s.GetLink(ctx, hash)
}
func (p *spyStore) GetCode(ctx context.Context, id string) (magiclink.Code, error) {
	return p.s.GetCode(ctx, id)
}
func (p *spyStore) GetSend(ctx context.Context, key string) (store.Send, error) {
	return p.s.GetSend(ctx, key)
}
func (p *spyStore) LastRuns(ctx context.Context) ([]store.Run, error) { return p.s.LastRuns(ctx) }

// Writes.
func (p *spyStore) CreateWorkspace(ctx context.Context, w workspace.Workspace) (workspace.Workspace, error) {
	p.note("CreateWorkspace", w.ID)
	return p.s.CreateWorkspace(ctx, w)
}
func (p *spyStore) UpdateWorkspace(ctx context.Context, w workspace.Workspace) (workspace.Workspace, error) {
	p.note("UpdateWorkspace", w.ID)
	return p.s.UpdateWorkspace(ctx, w)
}
func (p *spyStore) CreateUser(ctx context.Context, u workspace.User) (workspace.User, error) {
	p.note("CreateUser", u.WorkspaceID)
	return p.s.CreateUser(ctx, u)
}
func (p *spyStore) UpdateUser(ctx context.Context, u workspace.User) (workspace.User, error) {
	p.note("UpdateUser", u.WorkspaceID)
	return p.s.UpdateUser(ctx, u)
}
func (p *spyStore) CreateGroup(ctx context.Context, g workspace.Group) (workspace.Group, error) {
	p.note("CreateGroup", g.WorkspaceID)
	return p.s.CreateGroup(ctx, g)
}
func (p *spyStore) UpdateGroup(ctx context.Context, g workspace.Group) (workspace.Group, error) {
	p.note("UpdateGroup", g.WorkspaceID)
	return p.s.UpdateGroup(ctx, g)
}
func (p *spyStore) DeleteGroup(ctx context.Context, ws, id string, version int64) error {
	p.note("DeleteGroup", ws)
	return p.s.DeleteGroup(ctx, ws, id, version)
}
func (p *spyStore) CreateAccount(ctx context.Context, c account.Change) error {
	p.note("CreateAccount", c.After.WorkspaceID)
	return p.s.CreateAccount(ctx, c)
}
func (p *spyStore) Apply(ctx context.Context, c account.Change) error {
	p.note("Apply", c.After.WorkspaceID)
	return p.s.Apply(ctx, c)
}
func (p *spyStore) PutTokens(ctx context.Context, ws, accountID string, sealed []byte) error {
	p.note("PutTokens", ws)
	return p.s.PutTokens(ctx, ws, accountID, sealed)
}
func (p *spyStore) DeleteTokens(ctx context.Context, ws, accountID string) error {
	p.note("DeleteTokens", ws)
	return p.s.DeleteTokens(ctx, ws, accountID)
}
func (p *spyStore) CreateLink(ctx context.Context, l magiclink.Link) error {
	p.note("CreateLink", l.WorkspaceID)
	p.mu.Lock()
	p.links[l.Hash] = l.WorkspaceID
	p.mu.Unlock()
	return p.s.CreateLink(ctx, l)
}
func (p *spyStore) UseLink(ctx context.Context, hash string, now time.Time) (magiclink.Link, error) {
	p.note("UseLink", p.lookup(p.links, hash))
	return p.s.UseLink(ctx, hash, now)
}
func (p *spyStore) RevokeLinks(ctx context.Context, ws, userID string, purpose magiclink.Purpose, now time.Time) (int, error) {
	p.note("RevokeLinks", ws)
	return p.s.RevokeLinks(ctx, ws, userID, purpose, now)
}
func (p *spyStore) PutConsent(ctx context.Context, s consent.State) error {
	p.note("PutConsent", s.WorkspaceID)
	p.mu.Lock()
	p.consents[s.Hash] = s.WorkspaceID
	p.mu.Unlock()
	return p.s.PutConsent(ctx, s)
}
func (p *spyStore) TakeConsent(ctx context.Context, hash string, now time.Time) (consent.State, error) {
	p.note("TakeConsent", p.lookup(p.consents, hash))
	return p.s.TakeConsent(ctx, hash, now)
}
func (p *spyStore) PutCode(ctx context.Context, c magiclink.Code) error {
	p.note("PutCode", c.WorkspaceID)
	p.mu.Lock()
	p.codes[c.ID] = c.WorkspaceID
	p.mu.Unlock()
	return p.s.PutCode(ctx, c)
}
func (p *spyStore) UpdateCode(ctx context.Context, c magiclink.Code) error {
	p.note("UpdateCode", c.WorkspaceID)
	return p.s.UpdateCode(ctx, c)
}
func (p *spyStore) Allow(ctx context.Context, key string, limit int, window time.Duration, now time.Time) (bool, error) {
	p.note("Allow", limitWorkspace(key))
	return p.s.Allow(ctx, key, limit, window, now)
}
func (p *spyStore) ClaimSend(ctx context.Context, key, owner string, now time.Time) (bool, error) {
	p.note("ClaimSend", "global")
	p.mu.Lock()
	p.sends[key] = true
	p.mu.Unlock()
	return p.s.ClaimSend(ctx, key, owner, now)
}
func (p *spyStore) MarkSent(ctx context.Context, key, owner, messageID string, now time.Time) error {
	p.note("MarkSent", "global")
	return p.s.MarkSent(ctx, key, owner, messageID, now)
}
func (p *spyStore) ReleaseSend(ctx context.Context, key, owner string) error {
	p.note("ReleaseSend", "global")
	return p.s.ReleaseSend(ctx, key, owner)
}
func (p *spyStore) PutRun(ctx context.Context, r store.Run) error {
	p.note("PutRun", "global")
	return p.s.PutRun(ctx, r)
}

// iso is the isolation fixture: Acme as in the route tests (Olivia holds Sandbox
// Brand, in a group, and Sandbox Coffee; Omar holds Sandbox Studio) and a Beta Corp
// with people, an account and a group of its own, on a spied embedded store.
type iso struct {
	*env
	spy *spyStore
	db  string // the store file

	brand, coffee, studio, groupA string
	beta, groupB                  string
	grantOlivia, grantBen         string // their sandbox grants
}

func newIso(t *testing.T) *iso {
	t.Helper()
	x := &iso{}
	x.env = newEnv(t, func(t *testing.T, clk clock.Clock) store.Store {
		x.db = filepath.Join(t.TempDir(), "relink.db")
		st, err := bolt.Open(x.db, store.Config{Clock: clk, CursorKey: bytes.Repeat([]byte("c"), 32)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		x.spy = newSpy(st)
		return x.spy
	})
	ctx := context.Background()
	olivia := x.connect(wsA, oliviaID, workspace.RoleOwner, "sandbox-olivia")
	x.brand, x.coffee = olivia[0].ID, olivia[1].ID
	x.grantOlivia = x.lastGrant()
	x.studio = x.connect(wsA, omarID, workspace.RoleOwner, "sandbox-omar")[0].ID
	g, err := x.svc.CreateGroup(ctx, x.as(wsA, patID), admin.GroupInput{Name: ptr("Coffee brands"),
		Subscribers: &[]string{adaID}, AccountIDs: &[]string{x.brand}})
	if err != nil {
		t.Fatal(err)
	}
	x.groupA = g.ID

	for _, u := range []workspace.User{
		{WorkspaceID: wsB, ID: beaID, Email: "bea@beta.example", Name: "Bea Betaadmin", Role: workspace.RoleAdmin},
		{WorkspaceID: wsB, ID: benID, Email: "ben@beta.example", Name: "Ben Betaowner", Role: workspace.RoleOwner},
	} {
		u.CreatedAt, u.UpdatedAt = t0, t0
		if _, err := x.store.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	x.beta = x.connect(wsB, benID, workspace.RoleOwner, "sandbox-omar")[0].ID
	x.grantBen = x.lastGrant()
	g, err = x.svc.CreateGroup(ctx, x.as(wsB, bobID), admin.GroupInput{Name: ptr("Beta launches"),
		Subscribers: &[]string{bobID, beaID}, AccountIDs: &[]string{x.beta}})
	if err != nil {
		t.Fatal(err)
	}
	x.groupB = g.ID
	x.spy.take()
	return x
}

func (x *iso) lastGrant() string {
	g := x.sandbox.Grants()
	return g[len(g)-1].ID
}

func (x *iso) as(ws, user string) auth.Principal {
	u, err := x.store.GetUser(context.Background(), ws, user)
	if err != nil {
		x.t.Fatal(err)
	}
	return auth.Principal{WorkspaceID: ws, UserID: u.ID, Role: u.Role, Name: u.Name}
}

// States some routes need, made the same way in both workspaces.
func (x *iso) deactivated() {
	ctx := context.Background()
	for _, d := range []struct{ ws, by, id string }{{wsA, patID, x.brand}, {wsB, bobID, x.beta}} {
		if _, err := x.svc.Deactivate(ctx, x.as(d.ws, d.by), d.id, admin.Note{}); err != nil {
			x.t.Fatal(err)
		}
	}
}

func (x *iso) troubled() {
	ctx := context.Background()
	for _, d := range []struct{ ws, by, id, grant string }{{wsA, svcID, x.brand, x.grantOlivia}, {wsB, bobID, x.beta, x.grantBen}} {
		if err := x.sandbox.Act(d.grant, "password_changed", ""); err != nil {
			x.t.Fatal(err)
		}
		if _, err := x.svc.ReportFailure(ctx, x.as(d.ws, d.by), d.id, admin.FailureReport{HTTPStatus: 401,
			Body: []byte(`{"error":"invalid_token","reason":"password_changed"}`)}); err != nil {
			x.t.Fatal(err)
		}
	}
}

func (x *iso) deleted() {
	ctx := context.Background()
	for _, d := range []struct{ ws, by, id, name string }{{wsA, patID, x.brand, "Sandbox Brand"}, {wsB, bobID, x.beta, "Sandbox Studio"}} {
		if _, err := x.svc.Delete(ctx, x.as(d.ws, d.by), d.id, admin.Deletion{Confirmation: d.name}); err != nil {
			x.t.Fatal(err)
		}
	}
}

// snapshot is the whole store state, one entry per entity ("ws-a/account/<id>" → its
// JSON), read past the spy.
type snapshot map[string]string

func (x *iso) snap() snapshot {
	x.t.Helper()
	ctx := context.Background()
	s := snapshot{}
	put := func(k string, v any, err error) {
		if err != nil {
			s[k] = "error: " + err.Error()
			return
		}
		b, _ := json.Marshal(v)
		s[k] = string(b)
	}
	st := x.spy.s
	for _, ws := range []string{wsA, wsB} {
		w, err := st.GetWorkspace(ctx, ws)
		put(ws+"/workspace", w, err)
		users, err := st.ListUsers(ctx, ws)
		put(ws+"/users", len(users), err)
		for _, u := range users {
			put(ws+"/user/"+u.ID, u, nil)
		}
		groups, err := st.ListGroups(ctx, ws)
		put(ws+"/groups", len(groups), err)
		for _, g := range groups {
			put(ws+"/group/"+g.ID, g, nil)
		}
		for _, f := range []account.Filter{{}, {State: account.StateDeleted}} {
			pg := store.Page{Limit: store.MaxLimit}
			for {
				got, err := st.ListAccounts(ctx, ws, f, pg)
				if err != nil {
					x.t.Fatal(err)
				}
				for _, a := range got.Accounts {
					put(ws+"/account/"+a.ID, a, nil)
					var evs []account.Event
					ep := store.Page{Limit: store.MaxLimit}
					for {
						e, err := st.Events(ctx, ws, a.ID, ep)
						if err != nil {
							x.t.Fatal(err)
						}
						evs = append(evs, e.Events...)
						if ep.Cursor = e.Next; e.Next == "" {
							break
						}
					}
					put(ws+"/events/"+a.ID, evs, nil)
					sealed, err := st.GetTokens(ctx, ws, a.ID)
					sum := sha256.Sum256(sealed)
					put(ws+"/tokens/"+a.ID, hex.EncodeToString(sum[:]), err)
				}
				if pg.Cursor = got.Next; got.Next == "" {
					break
				}
			}
		}
	}
	links, codes, sends := x.spy.known()
	for hash, ws := range links {
		l, err := st.GetLink(ctx, hash)
		put(ws+"/link/"+hash, l, err)
	}
	for id, ws := range codes {
		c, err := st.GetCode(ctx, id)
		put(ws+"/code/"+id, c, err)
	}
	for _, k := range sends {
		sd, err := st.GetSend(ctx, k)
		put("global/send/"+k, sd, err)
	}
	runs, err := st.LastRuns(ctx)
	put("global/runs", runs, err)
	return s
}

// diff lists the entries under prefix ("" for all) that differ between s and t.
func (s snapshot) diff(t snapshot, prefix string) []string {
	var out []string
	for k, v := range s {
		if strings.HasPrefix(k, prefix) && t[k] != v {
			out = append(out, fmt.Sprintf("%s: %s → %s", k, v, orGone(t, k)))
		}
	}
	for k, v := range t {
		if _, ok := s[k]; !ok && strings.HasPrefix(k, prefix) {
			out = append(out, fmt.Sprintf("%s: (none) → %s", k, v))
		}
	}
	sort.Strings(out)
	return out
}

func orGone(s snapshot, k string) string {
	if v, ok := s[k]; ok {
		return v
	}
	return "(gone)"
}

// markers are the strings that identify a workspace's data: IDs, names, addresses.
func (x *iso) markers(ws string) []string {
	ctx := context.Background()
	st := x.spy.s
	w, _ := st.GetWorkspace(ctx, ws)
	out := []string{w.ID, w.Name}
	users, _ := st.ListUsers(ctx, ws)
	for _, u := range users {
		out = append(out, u.ID, u.Email, u.Name)
	}
	groups, _ := st.ListGroups(ctx, ws)
	for _, g := range groups {
		out = append(out, g.ID, g.Name)
	}
	for _, f := range []account.Filter{{}, {State: account.StateDeleted}} {
		got, _ := st.ListAccounts(ctx, ws, f, store.Page{Limit: store.MaxLimit})
		for _, a := range got.Accounts {
			out = append(out, a.ID, a.DisplayName, a.ExternalID, a.ParentProfileID)
		}
	}
	return out
}

// foreignMarkers are ws's markers that nothing of other shares (the sandbox profiles,
// and so some page names, are the same in both workspaces).
func (x *iso) foreignMarkers(ws, other string) []string {
	theirs := strings.Join(x.markers(other), "\n")
	var out []string
	for _, m := range x.markers(ws) {
		if len(m) >= 4 && !strings.Contains(theirs, m) && !slices.Contains(out, m) {
			out = append(out, m)
		}
	}
	return out
}

// isoCaller is who calls.
type isoCaller struct {
	name     string
	ws, user string // user "": no token
	role     workspace.Role
	forged   bool // the token's workspace claim is not the person's workspace
}

var isoCallers = []isoCaller{
	{name: "owner", ws: wsA, user: oliviaID, role: workspace.RoleOwner},
	{name: "service", ws: wsA, user: svcID, role: workspace.RoleService},
	{name: "other_workspace_primary_admin", ws: wsB, user: bobID, role: workspace.RolePrimaryAdmin},
	{name: "other_workspace_admin", ws: wsB, user: beaID, role: workspace.RoleAdmin},
	{name: "no_token"},
	{name: "forged_workspace_claim", ws: wsB, user: patID, forged: true},
}

func (x *iso) tokenFor(c isoCaller) string {
	if c.user == "" {
		return ""
	}
	return x.token(c.ws, c.user)
}

// rule is who may call a route, as internal/admin decides (admin.go's role sets and
// each method's allow call; users.go's personFor).
type rule struct {
	name   string
	roles  []workspace.Role // the roles allow() lets through
	person bool             // personFor: admins anyone; anyone else only themselves, others read as 404
	public bool             // no token needed
}

var (
	allRoles   = []workspace.Role{workspace.RolePrimaryAdmin, workspace.RoleAdmin, workspace.RoleService, workspace.RoleOwner}
	adminRoles = []workspace.Role{workspace.RolePrimaryAdmin, workspace.RoleAdmin}
	isoRules   = struct{ public, member, readers, reporters, admins, primary, person rule }{
		public:    rule{name: "public", public: true},
		member:    rule{name: "anyone in the workspace (GetWorkspace has no allow)", roles: allRoles},
		readers:   rule{name: "readers (owners: their own accounts)", roles: allRoles},
		reporters: rule{name: "reporters", roles: []workspace.Role{workspace.RolePrimaryAdmin, workspace.RoleAdmin, workspace.RoleService}},
		admins:    rule{name: "admins", roles: adminRoles},
		primary:   rule{name: "primary admin only", roles: []workspace.Role{workspace.RolePrimaryAdmin}},
		person:    rule{name: "the person, or an admin", roles: allRoles, person: true},
	}
)

// view is the data a request names: Acme's ("a", Olivia's own things), Beta's own
// ("b"), Acme's but another owner's ("peer", for Olivia) or the service's own ("self").
type view struct {
	acct, acctName, user, other, group, add, sub string
}

func (x *iso) view(target string) view {
	a := view{acct: x.brand, acctName: "Sandbox Brand", user: oliviaID, other: omarID, group: x.groupA, add: x.coffee, sub: adaID}
	switch target {
	case "b":
		return view{acct: x.beta, acctName: "Sandbox Studio", user: benID, other: beaID, group: x.groupB, add: x.beta, sub: beaID}
	case "peer":
		return view{acct: x.studio, acctName: "Sandbox Studio", user: omarID, other: oliviaID, group: x.groupA, add: x.coffee, sub: adaID}
	case "self":
		a.user = svcID
	}
	return a
}

// isoRoute is one route: its request on Acme's data (which Acme's primary admin gets
// ok for), who may, and what else it needs.
type isoRoute struct {
	route string
	path  string // with {acct}, {user}, {group} filled from a view
	body  func(v view) any
	may   rule
	ok    int
	setup func(x *iso)
	// crossA: the answer when Beta's admins send Acme's request to a route without IDs
	// in its path whose body names Acme's data (0 when the body names none).
	crossA int
	// own: for a read of a whole collection, something of Beta's the answer to Beta's
	// admins must hold (so their 200 is their own data, not an empty page).
	own func(x *iso) string
}

func (rt isoRoute) method() string { return strings.Fields(rt.route)[0] }

func (rt isoRoute) scoped() bool { return strings.Contains(rt.path, "{") }

func (rt isoRoute) request(x *iso, target string) (string, any) {
	v := x.view(target)
	path := strings.NewReplacer("{acct}", v.acct, "{user}", v.user, "{group}", v.group).Replace(rt.path)
	var b any
	if rt.body != nil {
		b = rt.body(v)
	}
	return path, b
}

func obj(kv ...any) map[string]any {
	m := map[string]any{}
	for i := 0; i < len(kv); i += 2 {
		m[kv[i].(string)] = kv[i+1]
	}
	return m
}

func isoRoutes() []isoRoute {
	r := isoRules
	failure := func(view) any {
		return obj("http_status", 401, "body", obj("error", "invalid_token", "reason", "password_changed"))
	}
	return []isoRoute{
		{route: "GET /v1/openapi.yaml", path: "/v1/openapi.yaml", may: r.public, ok: 200},
		{route: "GET /v1/accounts", path: "/v1/accounts", may: r.readers, ok: 200, own: func(x *iso) string { return x.beta }},
		{route: "GET /v1/accounts/{id}", path: "/v1/accounts/{acct}", may: r.readers, ok: 200},
		{route: "GET /v1/accounts/{id}/events", path: "/v1/accounts/{acct}/events", may: r.readers, ok: 200},
		{route: "POST /v1/accounts/{id}/deactivate", path: "/v1/accounts/{acct}/deactivate", may: r.admins, ok: 200,
			body: func(view) any { return obj("note", "paused") }},
		{route: "POST /v1/accounts/{id}/activate", path: "/v1/accounts/{acct}/activate", may: r.admins, ok: 200,
			body: func(view) any { return obj("note", "back on") }, setup: (*iso).deactivated},
		{route: "POST /v1/accounts/{id}/readd", path: "/v1/accounts/{acct}/readd", may: r.admins, ok: 200},
		{route: "POST /v1/accounts/{id}/remind", path: "/v1/accounts/{acct}/remind", may: r.admins, ok: 200, setup: (*iso).troubled},
		{route: "POST /v1/accounts/{id}/transfer", path: "/v1/accounts/{acct}/transfer", may: r.admins, ok: 200,
			body: func(v view) any { return obj("owner_id", v.other, "note", "moving") }},
		{route: "DELETE /v1/accounts/{id}", path: "/v1/accounts/{acct}", may: r.primary, ok: 200,
			body: func(v view) any { return obj("confirmation", v.acctName) }},
		{route: "POST /v1/accounts/{id}/restore", path: "/v1/accounts/{acct}/restore", may: r.admins, ok: 200, setup: (*iso).deleted},
		{route: "POST /v1/accounts/{id}/failures", path: "/v1/accounts/{acct}/failures", may: r.reporters, ok: 200, body: failure},
		{route: "GET /v1/users", path: "/v1/users", may: r.admins, ok: 200, own: func(*iso) string { return benID }},
		{route: "POST /v1/users", path: "/v1/users", may: r.admins, ok: 201,
			body: func(view) any { return obj("email", "nora@new.example", "name", "Nora New", "role", "owner") }},
		{route: "GET /v1/users/{id}", path: "/v1/users/{user}", may: r.person, ok: 200},
		{route: "PATCH /v1/users/{id}", path: "/v1/users/{user}", may: r.admins, ok: 200,
			body: func(view) any { return obj("name", "Renamed Person") }},
		{route: "GET /v1/users/{id}/preferences", path: "/v1/users/{user}/preferences", may: r.person, ok: 200},
		{route: "PATCH /v1/users/{id}/preferences", path: "/v1/users/{user}/preferences", may: r.person, ok: 200,
			body: func(view) any { return obj("notify_trouble", true, "unsubscribed", true) }},
		{route: "POST /v1/users/{id}/connect-link", path: "/v1/users/{user}/connect-link", may: r.admins, ok: 200,
			body: func(view) any { return obj("send", true) }},
		{route: "GET /v1/groups", path: "/v1/groups", may: r.admins, ok: 200, own: func(x *iso) string { return x.groupB }},
		{route: "POST /v1/groups", path: "/v1/groups", may: r.admins, ok: 201, crossA: 400,
			body: func(v view) any {
				return obj("name", "New group", "account_ids", []string{v.add}, "subscribers", []string{v.sub})
			}},
		{route: "GET /v1/groups/{id}", path: "/v1/groups/{group}", may: r.admins, ok: 200},
		{route: "PATCH /v1/groups/{id}", path: "/v1/groups/{group}", may: r.admins, ok: 200,
			body: func(v view) any { return obj("name", "Renamed group", "subscribers", []string{v.sub}) }},
		{route: "DELETE /v1/groups/{id}", path: "/v1/groups/{group}", may: r.admins, ok: 204},
		{route: "POST /v1/groups/{id}/accounts", path: "/v1/groups/{group}/accounts", may: r.admins, ok: 200,
			body: func(v view) any { return obj("account_ids", []string{v.add}) }},
		{route: "DELETE /v1/groups/{id}/accounts/{account_id}", path: "/v1/groups/{group}/accounts/{acct}", may: r.admins, ok: 200},
		{route: "POST /v1/invites", path: "/v1/invites", may: r.admins, ok: 200,
			body: func(view) any {
				return obj("emails", []string{"sam@new.example"}, "channels", []string{"sandbox"}, "message", "Please connect.")
			}},
		{route: "GET /v1/dashboard", path: "/v1/dashboard", may: r.admins, ok: 200, own: func(*iso) string { return `"total":1,` }},
		{route: "GET /v1/workspace", path: "/v1/workspace", may: r.member, ok: 200, own: func(*iso) string { return "Beta Corp" }},
		{route: "PATCH /v1/workspace", path: "/v1/workspace", may: r.admins, ok: 200,
			body: func(view) any {
				return obj("settings", obj("time_zone", "Europe/Amsterdam", "reminder_policy", "series"))
			}},
	}
}

// want is the answer a caller must get for the route's request on target's data.
func (rt isoRoute) want(c isoCaller, target string) int {
	switch {
	case rt.may.public:
		return 200
	case c.user == "" || c.forged:
		return 401
	case !slices.Contains(rt.may.roles, c.role):
		return 403 // every method checks the role before it reads anything
	case target == "b" || target == "self":
		return rt.ok
	case target == "peer":
		return 404 // owners: another owner's account or person reads as not found
	case c.ws != wsA && rt.scoped():
		return 404 // another workspace's IDs: not found, never 403
	case c.ws != wsA && rt.crossA != 0:
		return rt.crossA
	case rt.may.person && c.role != workspace.RolePrimaryAdmin && c.role != workspace.RoleAdmin && c.user != oliviaID:
		return 404
	}
	return rt.ok
}

// attempt is one call and what it must get.
type attempt struct {
	label        string
	caller       isoCaller
	method, path string
	body         any
	want         int
	target       string
}

var isoCalls, isoCells atomic.Int64

// TestTenantIsolationAndRoles: every route × every caller of isoCallers, plus the
// variants (Beta's own data, another owner's, the service's own), the cross-workspace
// references and the privilege escalations below. Figures are logged at the end.
func TestTenantIsolationAndRoles(t *testing.T) {
	routes := isoRoutes()
	served := newEnv(t, boltStore).handler.Routes()
	var table []string
	for _, rt := range routes {
		table = append(table, rt.route)
	}
	for _, r := range served {
		if !slices.Contains(table, r) {
			t.Errorf("route %s is served but has no row in isoRoutes: say who may call it", r)
		}
	}
	for _, r := range table {
		if !slices.Contains(served, r) {
			t.Errorf("isoRoutes has %s, which is not served", r)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	var attempts atomic.Int64
	isoCalls.Store(0)
	isoCells.Store(0)
	t.Cleanup(func() {
		t.Logf("tenant isolation: %d routes × %d callers = %d route/caller cells; %d attempts, %d HTTP calls in all",
			len(routes), len(isoCallers), isoCells.Load(), attempts.Load(), isoCalls.Load())
	})

	for _, rt := range routes {
		t.Run(rt.route, func(t *testing.T) {
			t.Parallel()
			fresh := func() *iso {
				x := newIso(t)
				if rt.setup != nil {
					rt.setup(x)
					x.spy.take()
				}
				return x
			}
			// The control: Acme's primary admin gets ok for the request the others send.
			ctl := fresh()
			path, b := rt.request(ctl, "a")
			if got := ctl.call(ctl.token(wsA, patID), rt.method(), path, b); got.status != rt.ok {
				t.Fatalf("control: Acme's primary admin gets %d for %s %s, want %d\n%s", got.status, rt.method(), path, rt.ok, got.body)
			}
			isoCalls.Add(1)

			shared := fresh() // for the calls that must change nothing
			for _, c := range isoCallers {
				isoCells.Add(1)
				targets := []string{"a"}
				if c.ws == wsB && !c.forged && !rt.may.public {
					pa, ba := rt.request(shared, "a")
					pb, bb := rt.request(shared, "b")
					if pa != pb || !sameJSON(ba, bb) {
						targets = append(targets, "b") // the same request on Beta's own data
					}
				}
				if c.name == "owner" && (strings.Contains(rt.path, "{acct}") || strings.Contains(rt.path, "{user}")) {
					targets = append(targets, "peer")
				}
				if c.name == "service" && strings.Contains(rt.path, "{user}") {
					targets = append(targets, "self")
				}
				for _, target := range targets {
					want := rt.want(c, target)
					x := shared
					if want < 300 && rt.method() != http.MethodGet {
						x = fresh() // a change that is allowed: on a fixture of its own
					}
					path, b := rt.request(x, target)
					attempts.Add(1)
					x.try(t, attempt{label: c.name + "/" + target, caller: c, method: rt.method(), path: path, body: b, want: want, target: target}, rt.own)
				}
			}
		})
	}

	for _, ex := range isoExtras() {
		t.Run("extra/"+ex.name, func(t *testing.T) {
			t.Parallel()
			x := newIso(t)
			if ex.setup != nil {
				ex.setup(x)
				x.spy.take()
			}
			path, b := ex.req(x)
			attempts.Add(1)
			x.try(t, attempt{label: ex.name, caller: ex.caller, method: ex.method, path: path, body: b, want: ex.want, target: ex.target}, nil)
			if ex.check != nil {
				ex.check(t, x)
			}
		})
	}
}

func sameJSON(a, b any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return bytes.Equal(ja, jb)
}

// try makes one call and checks everything about it.
func (x *iso) try(t *testing.T, at attempt, own func(*iso) string) {
	t.Helper()
	label := fmt.Sprintf("%s %s as %s", at.method, at.path, at.label)
	aMarkers := x.foreignMarkers(wsA, wsB)
	bMarkers := x.foreignMarkers(wsB, wsA)
	before := x.snap()
	file := x.file()
	x.spy.take()

	got := x.call(x.tokenFor(at.caller), at.method, at.path, at.body)
	isoCalls.Add(1)
	if got.status != at.want {
		t.Errorf("%s: %d, want %d\n%s", label, got.status, at.want, got.body)
	}
	// Another workspace's ID answers exactly as an ID that exists nowhere.
	var ghost answer
	ghosted := at.caller.ws == wsB && !at.caller.forged && at.target == "a" && at.want == 404
	if ghosted {
		r := x.ghosts()
		ghost = x.call(x.tokenFor(at.caller), at.method, r.Replace(at.path), at.body)
		isoCalls.Add(1)
		if ghost.status != got.status || !bytes.Equal(ghost.body, got.body) {
			t.Errorf("%s: another workspace's ID is told apart from one that exists nowhere:\n%d %s\n%d %s",
				label, got.status, got.body, ghost.status, ghost.body)
		}
	}
	writes := x.spy.take()
	after := x.snap()

	req, _ := json.Marshal(at.body)
	sent := at.path + "\n" + string(req)
	leaks := func(markers []string, whose string) {
		text := string(got.body) + "\n" + headerText(got.header)
		if ghosted {
			text += "\n" + string(ghost.body)
		}
		for _, m := range markers {
			if strings.Contains(text, m) && !strings.Contains(sent, m) {
				t.Errorf("%s: the answer holds %s's %q:\n%s", label, whose, m, got.body)
			}
		}
	}

	changed := got.status < 300 && at.method != http.MethodGet
	switch {
	case !changed:
		// Refused, or a read: nothing at all is written.
		if len(writes) > 0 {
			t.Errorf("%s (%d) wrote to the store: %v", label, got.status, writes)
		}
		if d := before.diff(after, ""); len(d) > 0 {
			t.Errorf("%s (%d) changed the store:\n  %s", label, got.status, strings.Join(d, "\n  "))
		}
		if !bytes.Equal(file, x.file()) {
			t.Errorf("%s (%d) changed the store file", label, got.status)
		}
	default:
		// Allowed: the caller's workspace only.
		other := wsA
		if at.caller.ws == wsA {
			other = wsB
		}
		for _, w := range writes {
			if w.ws != at.caller.ws {
				t.Errorf("%s: a write outside the caller's workspace: %s for %s", label, w.op, w.ws)
			}
		}
		if d := before.diff(after, other+"/"); len(d) > 0 {
			t.Errorf("%s changed %s:\n  %s", label, other, strings.Join(d, "\n  "))
		}
		if d := before.diff(after, "global/"); len(d) > 0 {
			t.Errorf("%s changed what no workspace owns:\n  %s", label, strings.Join(d, "\n  "))
		}
		if len(before.diff(after, at.caller.ws+"/")) == 0 {
			t.Errorf("%s answered %d but changed nothing", label, got.status)
		}
	}

	switch {
	case at.caller.user == "" || at.caller.forged:
		leaks(aMarkers, "Acme")
		leaks(bMarkers, "Beta Corp")
	case at.caller.ws == wsB:
		leaks(aMarkers, "Acme")
		if own != nil && got.status == 200 && at.method == http.MethodGet && !strings.Contains(string(got.body), own(x)) {
			t.Errorf("%s: Beta's own %q is not in the answer:\n%s", label, own(x), got.body)
		}
	case at.caller.user == oliviaID && got.status < 300:
		leaks([]string{omarID, "omar@acme.example", "Omar Owner", x.studio}, "another owner (Omar)")
	}
}

// ghosts swaps Acme's IDs for IDs of the same shape that exist nowhere.
func (x *iso) ghosts() *strings.Replacer {
	ids := x.svc.IDs
	return strings.NewReplacer(x.brand, ids.New(), x.coffee, ids.New(), x.studio, ids.New(), x.groupA, ids.New(),
		"/"+oliviaID, "/u-nobody", "/"+omarID, "/u-nobody")
}

func (x *iso) file() []byte {
	b, err := os.ReadFile(x.db)
	if err != nil {
		x.t.Fatal(err)
	}
	return b
}

func headerText(h http.Header) string {
	var b strings.Builder
	for k, vs := range h {
		for _, v := range vs {
			fmt.Fprintf(&b, "%s: %s\n", k, v)
		}
	}
	return b.String()
}

// isoExtra is one more call: a cross-workspace reference in a body or query, or a
// privilege escalation.
type isoExtra struct {
	name   string
	caller isoCaller
	method string
	req    func(x *iso) (string, any)
	want   int
	target string // "a" when the path names Acme's data (for the not-found comparison)
	setup  func(x *iso)
	check  func(t *testing.T, x *iso)
}

func callerNamed(name string) isoCaller {
	for _, c := range isoCallers {
		if c.name == name {
			return c
		}
	}
	switch name {
	case "admin":
		return isoCaller{name: "admin", ws: wsA, user: adaID, role: workspace.RoleAdmin}
	case "primary":
		return isoCaller{name: "primary", ws: wsA, user: patID, role: workspace.RolePrimaryAdmin}
	}
	panic("no caller " + name)
}

func fixed(path string, body any) func(*iso) (string, any) {
	return func(*iso) (string, any) { return path, body }
}

func isoExtras() []isoExtra {
	bob, bea := callerNamed("other_workspace_primary_admin"), callerNamed("other_workspace_admin")
	owner, svc := callerNamed("owner"), callerNamed("service")
	ada, pat := callerNamed("admin"), callerNamed("primary")
	return []isoExtra{
		// Beta's admins, on their own data, naming Acme's: refused, nothing learnt.
		{name: "cross/list by another workspace's owner", caller: bob, method: "GET", want: 200,
			req: fixed("/v1/accounts?owner_id="+oliviaID, nil),
			check: func(t *testing.T, x *iso) {
				got := x.call(x.token(wsB, bobID), "GET", "/v1/accounts?owner_id="+oliviaID, nil)
				if !strings.Contains(string(got.body), `"accounts":[]`) {
					t.Errorf("Beta's list by Acme's owner is not empty: %s", got.body)
				}
			}},
		{name: "cross/list by another workspace's group", caller: bob, method: "GET", want: 400,
			req: func(x *iso) (string, any) { return "/v1/accounts?group=" + x.groupA, nil }},
		{name: "cross/another workspace's cursor", caller: bob, method: "GET", want: 400,
			req: func(x *iso) (string, any) {
				var l admin.AccountList
				x.call(x.token(wsA, patID), "GET", "/v1/accounts?limit=1", nil).json(x.t, &l)
				if l.Next == "" {
					x.t.Fatal("no cursor")
				}
				return "/v1/accounts?limit=1&cursor=" + l.Next, nil
			}},
		{name: "cross/another workspace's events cursor", caller: bob, method: "GET", want: 404, target: "a",
			req: func(x *iso) (string, any) {
				x.call(x.token(wsA, patID), "POST", "/v1/accounts/"+x.brand+"/deactivate", nil)
				var l admin.EventList
				x.call(x.token(wsA, patID), "GET", "/v1/accounts/"+x.brand+"/events?limit=1", nil).json(x.t, &l)
				if l.Next == "" {
					x.t.Fatal("no cursor")
				}
				x.spy.take()
				return "/v1/accounts/" + x.brand + "/events?limit=1&cursor=" + l.Next, nil
			}},
		{name: "cross/transfer to another workspace's person", caller: bob, method: "POST", want: 400,
			req: func(x *iso) (string, any) { return "/v1/accounts/" + x.beta + "/transfer", obj("owner_id", oliviaID) }},
		{name: "cross/group with another workspace's subscriber", caller: bob, method: "POST", want: 400,
			req: fixed("/v1/groups", obj("name", "Mixed", "subscribers", []string{adaID}))},
		{name: "cross/group patched with another workspace's account", caller: bea, method: "PATCH", want: 400,
			req: func(x *iso) (string, any) { return "/v1/groups/" + x.groupB, obj("account_ids", []string{x.brand}) }},
		{name: "cross/group patched with another workspace's subscriber", caller: bea, method: "PATCH", want: 400,
			req: func(x *iso) (string, any) { return "/v1/groups/" + x.groupB, obj("subscribers", []string{oliviaID}) }},
		{name: "cross/another workspace's account added to own group", caller: bob, method: "POST", want: 400,
			req: func(x *iso) (string, any) {
				return "/v1/groups/" + x.groupB + "/accounts", obj("account_ids", []string{x.brand})
			}},
		{name: "cross/own account added to another workspace's group", caller: bob, method: "POST", want: 404, target: "a",
			req: func(x *iso) (string, any) {
				return "/v1/groups/" + x.groupA + "/accounts", obj("account_ids", []string{x.beta})
			}},
		{name: "cross/another workspace's account removed from own group", caller: bob, method: "DELETE", want: 404,
			req: func(x *iso) (string, any) { return "/v1/groups/" + x.groupB + "/accounts/" + x.brand, nil }},
		{name: "cross/another workspace's audit trail", caller: bea, method: "GET", want: 404, target: "a",
			req: func(x *iso) (string, any) { return "/v1/accounts/" + x.brand + "/events", nil }},

		// Owners.
		{name: "escalate/owner makes themselves admin", caller: owner, method: "PATCH", want: 403,
			req: fixed("/v1/users/"+oliviaID, obj("role", "admin"))},
		{name: "escalate/owner makes themselves primary admin", caller: owner, method: "PATCH", want: 403,
			req: fixed("/v1/users/"+oliviaID, obj("role", "primary_admin"))},
		{name: "escalate/owner adds an admin", caller: owner, method: "POST", want: 403,
			req: fixed("/v1/users", obj("email", "mallory@acme.example", "role", "admin"))},
		{name: "escalate/owner lists another owner's accounts", caller: owner, method: "GET", want: 403,
			req: fixed("/v1/accounts?owner_id="+omarID, nil)},
		{name: "escalate/owner copies their own connect link", caller: owner, method: "POST", want: 403,
			req: fixed("/v1/users/"+oliviaID+"/connect-link", obj("send", false))},
		{name: "escalate/owner reads another owner's audit trail", caller: owner, method: "GET", want: 404,
			req: func(x *iso) (string, any) { return "/v1/accounts/" + x.studio + "/events", nil }},
		{name: "escalate/owner unsubscribes another owner", caller: owner, method: "PATCH", want: 404,
			req: fixed("/v1/users/"+omarID+"/preferences", obj("unsubscribed", true))},
		{name: "escalate/owner renames the workspace", caller: owner, method: "PATCH", want: 403,
			req: fixed("/v1/workspace", obj("name", "Olivia Inc"))},
		// Services.
		{name: "escalate/service makes itself admin", caller: svc, method: "PATCH", want: 403,
			req: fixed("/v1/users/"+svcID, obj("role", "admin"))},
		{name: "escalate/service adds a service", caller: svc, method: "POST", want: 403,
			req: fixed("/v1/users", obj("email", "bot@acme.example", "role", "service"))},
		{name: "escalate/service restores a deleted account", caller: svc, method: "POST", want: 403, setup: (*iso).deleted,
			req: func(x *iso) (string, any) { return "/v1/accounts/" + x.brand + "/restore", nil }},
		// Admins.
		{name: "escalate/admin deletes an account", caller: ada, method: "DELETE", want: 403,
			req: func(x *iso) (string, any) { return "/v1/accounts/" + x.brand, obj("confirmation", "Sandbox Brand") }},
		{name: "escalate/admin makes themselves primary admin", caller: ada, method: "PATCH", want: 403,
			req: fixed("/v1/users/"+adaID, obj("role", "primary_admin"))},
		{name: "escalate/admin demotes the primary admin", caller: ada, method: "PATCH", want: 403,
			req: fixed("/v1/users/"+patID, obj("role", "admin"))},
		{name: "escalate/admin takes the primary admin's address", caller: ada, method: "PATCH", want: 403,
			req: fixed("/v1/users/"+patID, obj("email", "ada+pat@acme.example"))},
		{name: "escalate/admin promotes an owner to admin", caller: ada, method: "PATCH", want: 403,
			req: fixed("/v1/users/"+oliviaID, obj("role", "admin"))},
		{name: "escalate/admin adds an admin", caller: ada, method: "POST", want: 403,
			req: fixed("/v1/users", obj("email", "mallory@acme.example", "role", "admin"))},
		{name: "escalate/admin adds a primary admin", caller: ada, method: "POST", want: 400,
			req: fixed("/v1/users", obj("email", "mallory@acme.example", "role", "primary_admin"))},
		{name: "escalate/other workspace's admin demotes its primary admin", caller: bea, method: "PATCH", want: 403,
			req: fixed("/v1/users/"+bobID, obj("role", "admin"))},
		// The primary admin cannot hand the role on, nor drop it.
		{name: "escalate/a second primary admin", caller: pat, method: "PATCH", want: 400,
			req: fixed("/v1/users/"+oliviaID, obj("role", "primary_admin"))},
		{name: "escalate/the primary admin steps down", caller: pat, method: "PATCH", want: 400,
			req: fixed("/v1/users/"+patID, obj("role", "admin"))},
		// A role change counts at once: a demoted admin's token carries no admin rights.
		{name: "escalate/demoted admin's token", method: "POST", want: 403,
			caller: isoCaller{name: "demoted admin", ws: wsA, user: adaID, role: workspace.RoleOwner},
			setup: func(x *iso) {
				if _, err := x.svc.UpdateUser(context.Background(), x.as(wsA, patID), adaID, admin.UserPatch{Role: ptr(workspace.RoleOwner)}); err != nil {
					x.t.Fatal(err)
				}
			},
			req: func(x *iso) (string, any) { return "/v1/accounts/" + x.brand + "/deactivate", nil }},
	}
}
