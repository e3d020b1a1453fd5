// Package storetest is the conformance suite every store.Store implementation must pass,
// unchanged: the DynamoDB adapter against a DynamoDB-API server, and the embedded store.
package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/relinkhq/relink/internal/account"
	"github.com/relinkhq/relink/internal/clock"
	"github.com/relinkhq/relink/internal/relink"
	"github.com/relinkhq/relink/internal/store"
	"github.com/relinkhq/relink/internal/workspace"
)

// Opener returns a new, empty store built with cfg. Each call must be independent of
// the others (its own file or table), as subtests run against fresh stores.
type Opener func(t *testing.T, cfg store.Config) store.Store

// T0 is the suite's starting time.
var T0 = time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)

const day = 24 * time.Hour

// Run runs the whole suite. Subtests counted by the caller's -v output make the
// conformance figures.
func Run(t *testing.T, open Opener) {
	t.Run("Workspaces", func(t *testing.T) { testWorkspaces(t, newEnv(t, open)) })
	t.Run("Users", func(t *testing.T) { testUsers(t, newEnv(t, open)) })
	t.Run("UsersByEmail", func(t *testing.T) { testUsersByEmail(t, newEnv(t, open)) })
	t.Run("Groups", func(t *testing.T) { testGroups(t, newEnv(t, open)) })
	t.Run("AccountCRUD", func(t *testing.T) { testAccountCRUD(t, newEnv(t, open)) })
	t.Run("AccountUniqueness", func(t *testing.T) { testAccountUniqueness(t, newEnv(t, open)) })
	t.Run("ApplyAndAudit", func(t *testing.T) { testApplyAndAudit(t, newEnv(t, open)) })
	t.Run("SoftDeleteRetention", func(t *testing.T) { testSoftDelete(t, newEnv(t, open)) })
	t.Run("ListPagination", func(t *testing.T) { testListPagination(t, newEnv(t, open)) })
	t.Run("OwnerQueries", func(t *testing.T) { testOwnerQueries(t, newEnv(t, open)) })
	t.Run("DueIndex", func(t *testing.T) { testDueIndex(t, newEnv(t, open)) })
	t.Run("RemindIndex", func(t *testing.T) { testRemindIndex(t, newEnv(t, open)) })
	t.Run("EventPagination", func(t *testing.T) { testEventPagination(t, newEnv(t, open)) })
	t.Run("Concurrency", func(t *testing.T) { testConcurrency(t, newEnv(t, open)) })
	t.Run("Tokens", func(t *testing.T) { testTokens(t, newEnv(t, open)) })
	t.Run("Links", func(t *testing.T) { testLinks(t, newEnv(t, open)) })
	t.Run("Consents", func(t *testing.T) { testConsents(t, newEnv(t, open)) })
	t.Run("Codes", func(t *testing.T) { testCodes(t, newEnv(t, open)) })
	t.Run("CodePayload", func(t *testing.T) { testCodePayload(t, newEnv(t, open)) })
	t.Run("Limits", func(t *testing.T) { testLimits(t, newEnv(t, open)) })
	t.Run("Sends", func(t *testing.T) { testSends(t, newEnv(t, open)) })
	t.Run("SendClaimRace", func(t *testing.T) { testSendClaimRace(t, newEnv(t, open)) })
	t.Run("Runs", func(t *testing.T) { testRuns(t, newEnv(t, open)) })
}

type env struct {
	s     store.Store
	clock *clock.Manual
	ctx   context.Context
	seq   int
	mu    sync.Mutex
}

// CursorKey is the key the suite signs cursors with.
var CursorKey = []byte("storetest-cursor-key-0123456789abcdef")

const shards = 8

func newEnv(t *testing.T, open Opener) *env {
	c := clock.NewManual(T0)
	s := open(t, store.Config{Clock: c, CursorKey: CursorKey, Shards: shards})
	return &env{s: s, clock: c, ctx: context.Background()}
}

func (e *env) id(prefix string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.seq++
	return fmt.Sprintf("%s%05d", prefix, e.seq)
}

var (
	primary = account.Actor{ID: "u-primary", Role: workspace.RolePrimaryAdmin}
	system  = account.SystemActor("storetest")
)

// wantCode fails the test unless err carries code.
func wantCode(t *testing.T, err error, code, what string) {
	t.Helper()
	if got := relink.ErrorCode(err); got != code {
		t.Fatalf("%s: error %v (code %q), want code %q", what, err, got, code)
	}
}

func must(t *testing.T, err error, what string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// same compares two values as the store contract promises them back: empty slices as
// nil, times as instants.
func same(t *testing.T, got, want any, what string) {
	t.Helper()
	g, w := normalize(got), normalize(want)
	if !reflect.DeepEqual(g, w) {
		gj, _ := json.Marshal(g)
		wj, _ := json.Marshal(w)
		t.Fatalf("%s:\n got  %s\n want %s", what, gj, wj)
	}
}

func normalize(v any) any {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		panic(err)
	}
	return dropEmpty(out)
}

func dropEmpty(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, val := range x {
			val = dropEmpty(val)
			if arr, ok := val.([]any); ok && len(arr) == 0 {
				val = nil
			}
			if s, ok := val.(string); ok {
				if tm, err := time.Parse(time.RFC3339Nano, s); err == nil {
					val = tm.UTC().Format(time.RFC3339Nano)
				}
			}
			x[k] = val
		}
		return x
	case []any:
		for i := range x {
			x[i] = dropEmpty(x[i])
		}
		return x
	}
	return v
}

func testWorkspaces(t *testing.T, e *env) {
	w := workspace.Workspace{ID: "ws1", Name: "Acme", Settings: workspace.DefaultSettings(), CreatedAt: T0, UpdatedAt: T0}
	w.Settings.TimeZone = "Europe/Amsterdam"
	w.Settings.ReminderPolicy = workspace.PolicySeries
	got, err := e.s.CreateWorkspace(e.ctx, w)
	must(t, err, "create workspace")
	if got.Version != 1 {
		t.Fatalf("created version %d, want 1", got.Version)
	}
	w.Version = 1
	same(t, got, w, "created workspace")
	read, err := e.s.GetWorkspace(e.ctx, "ws1")
	must(t, err, "get workspace")
	same(t, read, w, "read workspace")

	_, err = e.s.CreateWorkspace(e.ctx, w)
	wantCode(t, err, relink.ECONFLICT, "create existing workspace")
	_, err = e.s.GetWorkspace(e.ctx, "nope")
	wantCode(t, err, relink.ENOTFOUND, "get missing workspace")

	read.Name = "Acme Inc."
	read.Settings.WarningWindow = 14 * day
	read.UpdatedAt = T0.Add(time.Hour)
	upd, err := e.s.UpdateWorkspace(e.ctx, read)
	must(t, err, "update workspace")
	if upd.Version != 2 || upd.Name != "Acme Inc." {
		t.Fatalf("updated = %+v", upd)
	}
	again, _ := e.s.GetWorkspace(e.ctx, "ws1")
	same(t, again, upd, "read updated workspace")

	_, err = e.s.UpdateWorkspace(e.ctx, read) // still version 1: stale
	wantCode(t, err, relink.ECONFLICT, "stale workspace update")
	_, err = e.s.UpdateWorkspace(e.ctx, workspace.Workspace{ID: "nope", Name: "x", Version: 1})
	wantCode(t, err, relink.ENOTFOUND, "update missing workspace")
	after, _ := e.s.GetWorkspace(e.ctx, "ws1")
	same(t, after, upd, "workspace after rejected writes")
}

func user(ws, id, email string, role workspace.Role) workspace.User {
	return workspace.User{WorkspaceID: ws, ID: id, Email: email, Name: "Name " + id, Role: role,
		Preferences: workspace.Preferences{NotifyTrouble: true}, CreatedAt: T0, UpdatedAt: T0}
}

func testUsers(t *testing.T, e *env) {
	u1 := user("ws1", "u1", "alice@example.com", workspace.RolePrimaryAdmin)
	got, err := e.s.CreateUser(e.ctx, u1)
	must(t, err, "create user")
	u1.Version = 1
	same(t, got, u1, "created user")
	read, err := e.s.GetUser(e.ctx, "ws1", "u1")
	must(t, err, "get user")
	same(t, read, u1, "read user")
	byEmail, err := e.s.GetUserByEmail(e.ctx, "ws1", "alice@example.com")
	must(t, err, "get user by email")
	same(t, byEmail, u1, "user by email")

	_, err = e.s.CreateUser(e.ctx, user("ws1", "u1", "other@example.com", workspace.RoleOwner))
	wantCode(t, err, relink.ECONFLICT, "duplicate user ID")
	_, err = e.s.CreateUser(e.ctx, user("ws1", "u2", "alice@example.com", workspace.RoleOwner))
	wantCode(t, err, relink.ECONFLICT, "duplicate email in workspace")
	_, err = e.s.GetUser(e.ctx, "ws1", "u2")
	wantCode(t, err, relink.ENOTFOUND, "user of a rejected create")
	_, err = e.s.CreateUser(e.ctx, user("ws2", "u1", "alice@example.com", workspace.RoleOwner))
	must(t, err, "same email and ID in another workspace")

	_, err = e.s.GetUser(e.ctx, "ws1", "nope")
	wantCode(t, err, relink.ENOTFOUND, "missing user")
	_, err = e.s.GetUserByEmail(e.ctx, "ws1", "nobody@example.com")
	wantCode(t, err, relink.ENOTFOUND, "missing email")
	_, err = e.s.GetUserByEmail(e.ctx, "ws3", "alice@example.com")
	wantCode(t, err, relink.ENOTFOUND, "email in a workspace without it")

	u3, err := e.s.CreateUser(e.ctx, user("ws1", "u3", "carol@example.com", workspace.RoleOwner))
	must(t, err, "create u3")

	// Changing an address frees the old one and claims the new one.
	read.Email = "alice.new@example.com"
	read.Preferences.Unsubscribed = true
	upd, err := e.s.UpdateUser(e.ctx, read)
	must(t, err, "update user email")
	if upd.Version != 2 {
		t.Fatalf("updated user version %d", upd.Version)
	}
	_, err = e.s.GetUserByEmail(e.ctx, "ws1", "alice@example.com")
	wantCode(t, err, relink.ENOTFOUND, "old email after change")
	byEmail, err = e.s.GetUserByEmail(e.ctx, "ws1", "alice.new@example.com")
	must(t, err, "new email after change")
	same(t, byEmail, upd, "user by new email")
	_, err = e.s.CreateUser(e.ctx, user("ws1", "u4", "alice@example.com", workspace.RoleOwner))
	must(t, err, "reuse a freed email")

	// Taking someone else's address is refused and changes nothing.
	clash := upd
	clash.Email = "carol@example.com"
	_, err = e.s.UpdateUser(e.ctx, clash)
	wantCode(t, err, relink.ECONFLICT, "update to a taken email")
	still, _ := e.s.GetUser(e.ctx, "ws1", "u1")
	same(t, still, upd, "user after refused email change")
	carol, _ := e.s.GetUserByEmail(e.ctx, "ws1", "carol@example.com")
	same(t, carol, u3, "owner of the contested email")

	_, err = e.s.UpdateUser(e.ctx, read) // version 1: stale
	wantCode(t, err, relink.ECONFLICT, "stale user update")
	_, err = e.s.UpdateUser(e.ctx, user("ws1", "ghost", "ghost@example.com", workspace.RoleOwner))
	wantCode(t, err, relink.ENOTFOUND, "update missing user")

	list, err := e.s.ListUsers(e.ctx, "ws1")
	must(t, err, "list users")
	var ids []string
	for _, u := range list {
		ids = append(ids, u.ID)
	}
	if !slices.Equal(ids, []string{"u1", "u3", "u4"}) {
		t.Fatalf("list users = %v, want [u1 u3 u4]", ids)
	}
	empty, err := e.s.ListUsers(e.ctx, "ws-none")
	must(t, err, "list users of empty workspace")
	if len(empty) != 0 {
		t.Fatalf("empty workspace lists %d users", len(empty))
	}
}

// usersByEmail returns the (workspace, user) pairs UsersByEmail finds for address.
func usersByEmail(t *testing.T, e *env, address string) []string {
	t.Helper()
	users, err := e.s.UsersByEmail(e.ctx, address)
	must(t, err, "users by email "+address)
	var got []string
	for _, u := range users {
		if u.Email != address {
			t.Fatalf("users by email %s returned %s/%s with address %s", address, u.WorkspaceID, u.ID, u.Email)
		}
		got = append(got, u.WorkspaceID+"/"+u.ID)
	}
	return got
}

func testUsersByEmail(t *testing.T, e *env) {
	const olivia = "olivia@acme.example"
	// Created out of workspace order; the result is ordered by workspace.
	created := map[string]workspace.User{}
	for _, u := range []workspace.User{
		user("ws-b", "u1", olivia, workspace.RoleOwner),
		user("ws-c", "u2", olivia, workspace.RoleAdmin),
		user("ws-a", "u7", olivia, workspace.RolePrimaryAdmin),
		user("ws-a", "u8", "bob@acme.example", workspace.RoleOwner),
		user("ws-d", "u9", "olivia@acme.example.org", workspace.RoleOwner), // a longer address, not a match
	} {
		got, err := e.s.CreateUser(e.ctx, u)
		must(t, err, "create user "+u.WorkspaceID+"/"+u.ID)
		created[u.WorkspaceID+"/"+u.ID] = got
	}
	users, err := e.s.UsersByEmail(e.ctx, olivia)
	must(t, err, "users by email")
	if len(users) != 3 {
		t.Fatalf("users by email = %d users, want 3", len(users))
	}
	for i, id := range []string{"ws-a/u7", "ws-b/u1", "ws-c/u2"} {
		same(t, users[i], created[id], fmt.Sprintf("user %d by email (ordered by workspace)", i))
	}
	if got := usersByEmail(t, e, "bob@acme.example"); !slices.Equal(got, []string{"ws-a/u8"}) {
		t.Fatalf("bob = %v", got)
	}
	for _, unknown := range []string{"nobody@acme.example", "olivia@acme.exampl", "OLIVIA@ACME.EXAMPLE", ""} {
		users, err := e.s.UsersByEmail(e.ctx, unknown)
		must(t, err, fmt.Sprintf("users by unknown address %q", unknown))
		if len(users) != 0 {
			t.Fatalf("unknown address %q finds %d users", unknown, len(users))
		}
	}

	// Uniqueness within a workspace is unchanged, and a refused create leaves nothing.
	_, err = e.s.CreateUser(e.ctx, user("ws-a", "u10", olivia, workspace.RoleOwner))
	wantCode(t, err, relink.ECONFLICT, "second user with the address in one workspace")
	byEmail, err := e.s.GetUserByEmail(e.ctx, "ws-b", olivia)
	must(t, err, "get user by email in one workspace")
	same(t, byEmail, created["ws-b/u1"], "user by email in ws-b")

	// An address change moves the user from one address's list to the other's.
	moved := created["ws-b/u1"]
	moved.Email = "olivia@newco.example"
	_, err = e.s.UpdateUser(e.ctx, moved)
	must(t, err, "change address")
	if got := usersByEmail(t, e, olivia); !slices.Equal(got, []string{"ws-a/u7", "ws-c/u2"}) {
		t.Fatalf("old address after change = %v", got)
	}
	if got := usersByEmail(t, e, "olivia@newco.example"); !slices.Equal(got, []string{"ws-b/u1"}) {
		t.Fatalf("new address after change = %v", got)
	}
	// Back again: the freed claim can be taken again in the same workspace.
	back, _ := e.s.GetUser(e.ctx, "ws-b", "u1")
	back.Email = olivia
	_, err = e.s.UpdateUser(e.ctx, back)
	must(t, err, "change address back")
	if got := usersByEmail(t, e, olivia); !slices.Equal(got, []string{"ws-a/u7", "ws-b/u1", "ws-c/u2"}) {
		t.Fatalf("address after changing back = %v", got)
	}
	// A refused change (address taken in that workspace) moves nothing.
	clash, _ := e.s.GetUser(e.ctx, "ws-a", "u8")
	clash.Email = olivia
	_, err = e.s.UpdateUser(e.ctx, clash)
	wantCode(t, err, relink.ECONFLICT, "change to an address taken in the workspace")
	if got := usersByEmail(t, e, "bob@acme.example"); !slices.Equal(got, []string{"ws-a/u8"}) {
		t.Fatalf("bob after a refused change = %v", got)
	}

	// The result is bounded: the first MaxUsersByEmail workspaces.
	const many = "many@acme.example"
	var want []string
	for i := range store.MaxUsersByEmail + 1 {
		ws := fmt.Sprintf("ws-many-%03d", i)
		_, err := e.s.CreateUser(e.ctx, user(ws, "u1", many, workspace.RoleOwner))
		must(t, err, "create user in "+ws)
		if i < store.MaxUsersByEmail {
			want = append(want, ws+"/u1")
		}
	}
	if got := usersByEmail(t, e, many); !slices.Equal(got, want) {
		t.Fatalf("address in %d workspaces: %d users (first %v), want the first %d", store.MaxUsersByEmail+1, len(got), got[:min(3, len(got))], len(want))
	}
}

func testGroups(t *testing.T, e *env) {
	g := workspace.Group{WorkspaceID: "ws1", ID: "g1", Name: "EMEA", AccountIDs: []string{"a1", "a2"},
		Subscribers: []string{"u1"}, CreatedAt: T0, UpdatedAt: T0}
	got, err := e.s.CreateGroup(e.ctx, g)
	must(t, err, "create group")
	g.Version = 1
	same(t, got, g, "created group")
	_, err = e.s.CreateGroup(e.ctx, g)
	wantCode(t, err, relink.ECONFLICT, "duplicate group")
	_, err = e.s.CreateGroup(e.ctx, workspace.Group{WorkspaceID: "ws1", ID: "g0", Name: "Empty", CreatedAt: T0})
	must(t, err, "create empty group")

	read, err := e.s.GetGroup(e.ctx, "ws1", "g1")
	must(t, err, "get group")
	same(t, read, g, "read group")
	read.AccountIDs = append(read.AccountIDs, "a3")
	read.Subscribers = nil
	upd, err := e.s.UpdateGroup(e.ctx, read)
	must(t, err, "update group")
	if upd.Version != 2 || len(upd.AccountIDs) != 3 || len(upd.Subscribers) != 0 {
		t.Fatalf("updated group = %+v", upd)
	}
	_, err = e.s.UpdateGroup(e.ctx, read)
	wantCode(t, err, relink.ECONFLICT, "stale group update")
	_, err = e.s.GetGroup(e.ctx, "ws2", "g1")
	wantCode(t, err, relink.ENOTFOUND, "group from another workspace")

	list, err := e.s.ListGroups(e.ctx, "ws1")
	must(t, err, "list groups")
	if len(list) != 2 || list[0].ID != "g0" || list[1].ID != "g1" {
		t.Fatalf("list groups = %+v", list)
	}
	wantCode(t, e.s.DeleteGroup(e.ctx, "ws1", "g1", 1), relink.ECONFLICT, "delete stale group")
	must(t, e.s.DeleteGroup(e.ctx, "ws1", "g1", 2), "delete group")
	_, err = e.s.GetGroup(e.ctx, "ws1", "g1")
	wantCode(t, err, relink.ENOTFOUND, "deleted group")
	wantCode(t, e.s.DeleteGroup(e.ctx, "ws1", "g1", 2), relink.ENOTFOUND, "delete missing group")
}

// newAccount creates an account through account.New and the store.
func (e *env) newAccount(t *testing.T, spec account.Spec) account.Account {
	t.Helper()
	if spec.Kind == "" {
		spec.Kind = account.KindCompany
	}
	if spec.DisplayName == "" {
		spec.DisplayName = "Account " + spec.ID
	}
	if spec.OwnerID == "" {
		spec.OwnerID = "u-owner"
	}
	if spec.Channel == "" {
		spec.Channel = "facebook"
	}
	if spec.ExternalID == "" {
		spec.ExternalID = "ext-" + spec.ID
	}
	c, err := account.New(spec, account.Command{Actor: primary, At: e.clock.Now(), EventID: e.id("evt-")})
	must(t, err, "account.New")
	must(t, e.s.CreateAccount(e.ctx, c), "create account "+spec.ID)
	return c.After
}

// apply runs a transition and stores it.
func (e *env) apply(t *testing.T, a account.Account, cmd account.Command) account.Change {
	t.Helper()
	if cmd.Actor.ID == "" {
		cmd.Actor = primary
	}
	cmd.At = e.clock.Now()
	cmd.EventID = e.id("evt-")
	c, err := account.Transition(a, cmd)
	must(t, err, fmt.Sprintf("transition %s on %s", cmd.Action, a.ID))
	must(t, e.s.Apply(e.ctx, c), fmt.Sprintf("apply %s on %s", cmd.Action, a.ID))
	return c
}

func fullGrant() *account.Grant {
	return &account.Grant{
		Scopes: []string{"pages_show_list", "pages_read_engagement"}, Tasks: []string{"ANALYZE", "MODERATE"},
		Missing: []account.MissingPermission{
			{Name: "pages_manage_posts", Kind: "scope", Breaks: []account.Capability{account.CapPublish}},
			{Name: "CREATE_CONTENT", Kind: "task", Breaks: []account.Capability{account.CapPublish, account.CapEngage}},
		},
		Refreshable: true, TokenExpiresAt: T0.Add(2 * time.Hour), RefreshExpiresAt: T0.Add(180 * day),
	}
}

func testAccountCRUD(t *testing.T, e *env) {
	ctx := e.ctx
	c, err := account.New(account.Spec{WorkspaceID: "ws1", ID: "a1", Channel: "facebook", ExternalID: "page-1",
		DisplayName: "Acme Coffee", OwnerID: "u1", Kind: account.KindPersonal, ParentProfileID: "fb-user-9", Grant: fullGrant()},
		account.Command{Actor: primary, At: T0, EventID: "evt-create"})
	must(t, err, "account.New")
	must(t, e.s.CreateAccount(ctx, c), "create account")

	got, err := e.s.GetAccount(ctx, "ws1", "a1")
	must(t, err, "get account")
	same(t, got, c.After, "stored account (every field round-trips)")
	found, err := e.s.FindAccount(ctx, "ws1", "facebook", "page-1")
	must(t, err, "find account by external ID")
	same(t, found, c.After, "found account")

	_, err = e.s.GetAccount(ctx, "ws1", "nope")
	wantCode(t, err, relink.ENOTFOUND, "missing account")
	_, err = e.s.GetAccount(ctx, "ws2", "a1")
	wantCode(t, err, relink.ENOTFOUND, "account from another workspace")
	_, err = e.s.FindAccount(ctx, "ws2", "facebook", "page-1")
	wantCode(t, err, relink.ENOTFOUND, "find in another workspace")
	_, err = e.s.FindAccount(ctx, "ws1", "instagram", "page-1")
	wantCode(t, err, relink.ENOTFOUND, "find on another channel")

	ev, err := e.s.Events(ctx, "ws1", "a1", store.Page{})
	must(t, err, "events")
	if len(ev.Events) != 1 || ev.Next != "" {
		t.Fatalf("events after create = %+v", ev)
	}
	same(t, ev.Events[0], *c.Event, "create event")
	ev, err = e.s.Events(ctx, "ws2", "a1", store.Page{})
	must(t, err, "events from another workspace")
	if len(ev.Events) != 0 {
		t.Fatalf("events leak across workspaces: %+v", ev.Events)
	}
}

func testAccountUniqueness(t *testing.T, e *env) {
	ctx := e.ctx
	e.newAccount(t, account.Spec{WorkspaceID: "ws1", ID: "a1", Channel: "linkedin", ExternalID: "org-1"})

	dupID, _ := account.New(account.Spec{WorkspaceID: "ws1", ID: "a1", Channel: "x", ExternalID: "x-1",
		DisplayName: "Dup", OwnerID: "u1", Kind: account.KindCompany}, account.Command{Actor: primary, At: T0, EventID: "e-dup"})
	wantCode(t, e.s.CreateAccount(ctx, dupID), relink.ECONFLICT, "duplicate account ID")
	if _, err := e.s.FindAccount(ctx, "ws1", "x", "x-1"); relink.ErrorCode(err) != relink.ENOTFOUND {
		t.Fatalf("a refused create left its external ID behind: %v", err)
	}

	dupExt, _ := account.New(account.Spec{WorkspaceID: "ws1", ID: "a2", Channel: "linkedin", ExternalID: "org-1",
		DisplayName: "Dup", OwnerID: "u1", Kind: account.KindCompany}, account.Command{Actor: primary, At: T0, EventID: "e-dup2"})
	wantCode(t, e.s.CreateAccount(ctx, dupExt), relink.ECONFLICT, "duplicate channel+external ID")
	_, err := e.s.GetAccount(ctx, "ws1", "a2")
	wantCode(t, err, relink.ENOTFOUND, "account of a refused create")
	ev, _ := e.s.Events(ctx, "ws1", "a2", store.Page{})
	if len(ev.Events) != 0 {
		t.Fatalf("a refused create left events: %+v", ev.Events)
	}

	e.newAccount(t, account.Spec{WorkspaceID: "ws1", ID: "a3", Channel: "x", ExternalID: "org-1"})
	e.newAccount(t, account.Spec{WorkspaceID: "ws2", ID: "a1", Channel: "linkedin", ExternalID: "org-1"})
}

func testApplyAndAudit(t *testing.T, e *env) {
	ctx := e.ctx
	a := e.newAccount(t, account.Spec{WorkspaceID: "ws1", ID: "a1"})

	e.clock.Advance(time.Hour)
	c1 := e.apply(t, a, account.Command{Action: account.ActAuthorize, Grant: fullGrant()})
	got, err := e.s.GetAccount(ctx, "ws1", "a1")
	must(t, err, "get after authorize")
	same(t, got, c1.After, "account after authorize")

	// Replaying the same change finds a newer version.
	wantCode(t, e.s.Apply(ctx, c1), relink.ECONFLICT, "stale apply")
	got2, _ := e.s.GetAccount(ctx, "ws1", "a1")
	same(t, got2, c1.After, "account after stale apply")

	e.clock.Advance(time.Hour)
	c2 := e.apply(t, c1.After, account.Command{Action: account.ActDisconnect, Actor: system, Reason: account.ReasonPasswordChanged,
		ChannelError: &account.ChannelError{HTTPStatus: 400, Code: "190", Subcode: "460", Message: "Error validating access token"}})

	// A quiet change bumps the version without an audit event.
	e.clock.Advance(time.Hour)
	c3 := e.apply(t, c2.After, account.Command{Action: account.ActDisconnect, Actor: system, Reason: account.ReasonPasswordChanged})
	if c3.Event != nil {
		t.Fatal("expected a quiet change")
	}
	got, _ = e.s.GetAccount(ctx, "ws1", "a1")
	same(t, got, c3.After, "account after quiet change")

	ev, err := e.s.Events(ctx, "ws1", "a1", store.Page{})
	must(t, err, "events")
	if len(ev.Events) != 3 {
		t.Fatalf("events = %d, want 3 (create, authorize, disconnect)", len(ev.Events))
	}
	same(t, ev.Events[1], *c1.Event, "authorize event")
	same(t, ev.Events[2], *c2.Event, "disconnect event")

	// Apply to an account that does not exist.
	ghost := c3
	ghost.Before.ID, ghost.After.ID = "ghost", "ghost"
	ghost.Event = &account.Event{WorkspaceID: "ws1", AccountID: "ghost", ID: "e-ghost", Version: c3.After.Version, At: T0}
	wantCode(t, e.s.Apply(ctx, ghost), relink.ENOTFOUND, "apply to missing account")
	ev, _ = e.s.Events(ctx, "ws1", "ghost", store.Page{})
	if len(ev.Events) != 0 {
		t.Fatalf("a refused apply left events: %+v", ev.Events)
	}
}

func testSoftDelete(t *testing.T, e *env) {
	ctx := e.ctx
	a := e.newAccount(t, account.Spec{WorkspaceID: "ws1", ID: "a1", Channel: "tiktok", ExternalID: "tt-1", DisplayName: "Acme TT",
		Grant: &account.Grant{}})
	b := e.newAccount(t, account.Spec{WorkspaceID: "ws1", ID: "a2", Channel: "tiktok", ExternalID: "tt-2", DisplayName: "Acme TT2",
		Grant: &account.Grant{}})
	del := e.apply(t, a, account.Command{Action: account.ActDelete, Confirmation: "Acme TT"})
	delB := e.apply(t, b, account.Command{Action: account.ActDelete, Confirmation: "Acme TT2"})

	got, err := e.s.GetAccount(ctx, "ws1", "a1")
	must(t, err, "get deleted account within retention")
	same(t, got, del.After, "deleted account")
	if ids := listIDs(t, e, "ws1", account.Filter{}, 10); len(ids) != 0 {
		t.Fatalf("default listing shows deleted accounts: %v", ids)
	}
	if ids := listIDs(t, e, "ws1", account.Filter{State: account.StateDeleted}, 10); !slices.Equal(ids, []string{"a1", "a2"}) {
		t.Fatalf("deleted listing = %v", ids)
	}
	// Within retention the identity is still held: re-adding must restore, not duplicate.
	dup, _ := account.New(account.Spec{WorkspaceID: "ws1", ID: "a9", Channel: "tiktok", ExternalID: "tt-1",
		DisplayName: "Again", OwnerID: "u1", Kind: account.KindCompany}, account.Command{Actor: primary, At: e.clock.Now(), EventID: "e-a9"})
	wantCode(t, e.s.CreateAccount(ctx, dup), relink.ECONFLICT, "re-create within retention")

	// Restore one within retention.
	e.clock.Advance(account.Retention - time.Minute)
	e.apply(t, delB.After, account.Command{Action: account.ActRestore})

	// Past retention the other is gone everywhere, whether or not TTL removed it.
	e.clock.Advance(2 * time.Minute)
	_, err = e.s.GetAccount(ctx, "ws1", "a1")
	wantCode(t, err, relink.ENOTFOUND, "get purged account")
	_, err = e.s.FindAccount(ctx, "ws1", "tiktok", "tt-1")
	wantCode(t, err, relink.ENOTFOUND, "find purged account")
	if ids := listIDs(t, e, "ws1", account.Filter{State: account.StateDeleted}, 10); len(ids) != 0 {
		t.Fatalf("purged accounts listed: %v", ids)
	}
	restore, err := account.Transition(del.After, account.Command{Action: account.ActRestore, Actor: primary,
		At: del.After.DeletedAt.Add(time.Hour), EventID: "e-late"}) // a restore computed before the purge…
	must(t, err, "transition restore")
	wantCode(t, e.s.Apply(ctx, restore), relink.ENOTFOUND, "…cannot land after it")
	if ids := listIDs(t, e, "ws1", account.Filter{}, 10); !slices.Equal(ids, []string{"a2"}) {
		t.Fatalf("listing after purge = %v, want [a2]", ids)
	}

	// The identity is free again.
	dup.Before, dup.After.CreatedAt = account.Account{}, e.clock.Now()
	must(t, e.s.CreateAccount(ctx, dup), "re-create after purge")
	f, err := e.s.FindAccount(ctx, "ws1", "tiktok", "tt-1")
	must(t, err, "find re-created account")
	if f.ID != "a9" {
		t.Fatalf("found %s, want a9", f.ID)
	}
}

func listIDs(t *testing.T, e *env, ws string, f account.Filter, limit int) []string {
	t.Helper()
	var ids []string
	cursor := ""
	for range 10000 {
		p, err := e.s.ListAccounts(e.ctx, ws, f, store.Page{Limit: limit, Cursor: cursor})
		must(t, err, "list accounts")
		if len(p.Accounts) > limit {
			t.Fatalf("page of %d accounts exceeds limit %d", len(p.Accounts), limit)
		}
		for _, a := range p.Accounts {
			if !f.Match(a) {
				t.Fatalf("listed %s (%s/%s) does not match filter %+v", a.ID, a.State, a.Channel, f)
			}
			ids = append(ids, a.ID)
		}
		if p.Next == "" {
			return ids
		}
		cursor = p.Next
	}
	t.Fatal("listing never ends")
	return nil
}

// seed creates n accounts in ws concurrently, spread over channels, owners, states and
// expiries, and returns them as stored (the model the listings are checked against).
func seed(t *testing.T, e *env, ws string, n int) map[string]account.Account {
	t.Helper()
	channels := []string{"facebook", "linkedin", "x", "tiktok"}
	model := make(map[string]account.Account, n)
	var mu sync.Mutex
	jobs := make(chan int)
	var wg sync.WaitGroup
	errs := make(chan error, 1)
	for range 8 {
		wg.Go(func() {
			for i := range jobs {
				a, err := seedOne(e, ws, i, channels)
				if err != nil {
					select {
					case errs <- err:
					default:
					}
					continue
				}
				mu.Lock()
				model[a.ID] = a
				mu.Unlock()
			}
		})
	}
	for i := range n {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	select {
	case err := <-errs:
		t.Fatalf("seeding: %v", err)
	default:
	}
	return model
}

func seedOne(e *env, ws string, i int, channels []string) (account.Account, error) {
	now := e.clock.Now()
	id := fmt.Sprintf("a%05d", i)
	name := "Account " + id
	c, err := account.New(account.Spec{WorkspaceID: ws, ID: id, Channel: channels[i%len(channels)], ExternalID: "ext-" + id,
		DisplayName: name, OwnerID: fmt.Sprintf("u%d", i%5), Kind: account.KindCompany,
		Grant: &account.Grant{TokenExpiresAt: now.Add(time.Duration(1+i%40) * day)}},
		account.Command{Actor: primary, At: now, EventID: fmt.Sprintf("e-%s-%d", ws, i)})
	if err != nil {
		return account.Account{}, err
	}
	if err := e.s.CreateAccount(e.ctx, c); err != nil {
		return account.Account{}, err
	}
	a := c.After
	var cmd *account.Command
	switch {
	case i%13 == 0:
		cmd = &account.Command{Action: account.ActDelete, Confirmation: name}
	case i%11 == 0:
		cmd = &account.Command{Action: account.ActDeactivate}
	case i%7 == 0:
		cmd = &account.Command{Action: account.ActDisconnect, Reason: account.ReasonRevoked}
	}
	if cmd == nil {
		return a, nil
	}
	cmd.Actor, cmd.At, cmd.EventID = primary, now, fmt.Sprintf("e2-%s-%d", ws, i)
	c, err = account.Transition(a, *cmd)
	if err != nil {
		return account.Account{}, err
	}
	if err := e.s.Apply(e.ctx, c); err != nil {
		return account.Account{}, err
	}
	return c.After, nil
}

func testListPagination(t *testing.T, e *env) {
	const n = 1200
	model := seed(t, e, "big", n)
	other := seed(t, e, "small", 30)
	if len(model) != n || len(other) != 30 {
		t.Fatalf("seeded %d + %d accounts", len(model), len(other))
	}
	filters := []account.Filter{
		{},
		{State: account.StateDisconnected},
		{State: account.StateDeleted},
		{Channel: "x"},
		{OwnerID: "u3"},
		{OwnerID: "u3", State: account.StateActive, Channel: "tiktok"},
		{ExpiringBefore: T0.Add(10 * day)},
		{Channel: "no-such-channel"},
	}
	for _, f := range filters {
		var want []string
		for id, a := range model {
			if f.Match(a) {
				want = append(want, id)
			}
		}
		sort.Strings(want)
		for _, limit := range []int{97, 1000} {
			got := listIDs(t, e, "big", f, limit)
			if dup := firstDuplicate(got); dup != "" {
				t.Fatalf("filter %+v limit %d: %s listed twice", f, limit, dup)
			}
			if !slices.IsSorted(got) {
				t.Fatalf("filter %+v limit %d: not ordered by ID", f, limit)
			}
			if !slices.Equal(got, want) {
				t.Fatalf("filter %+v limit %d: listed %d accounts, want %d (first missing %q)", f, limit, len(got), len(want), firstMissing(want, got))
			}
		}
	}
	// A full page of a listing returns complete accounts.
	p, err := e.s.ListAccounts(e.ctx, "big", account.Filter{}, store.Page{Limit: 5})
	must(t, err, "first page")
	for _, a := range p.Accounts {
		same(t, a, model[a.ID], "listed account "+a.ID)
	}

	// Cursors are opaque and bound to their listing.
	if p.Next == "" {
		t.Fatal("first page of 1,200 accounts has no next cursor")
	}
	tampered := []byte(p.Next)
	tampered[len(tampered)/2] ^= 0x01
	if tampered[len(tampered)/2] == '.' || tampered[len(tampered)/2] == '/' {
		tampered[len(tampered)/2] = 'A'
	}
	for name, tc := range map[string]struct {
		ws     string
		f      account.Filter
		cursor string
	}{
		"tampered":           {"big", account.Filter{}, string(tampered)},
		"garbage":            {"big", account.Filter{}, "!!not-a-cursor!!"},
		"truncated":          {"big", account.Filter{}, p.Next[:len(p.Next)-3]},
		"other workspace":    {"small", account.Filter{}, p.Next},
		"other filter":       {"big", account.Filter{State: account.StateActive}, p.Next},
		"huge":               {"big", account.Filter{}, string(make([]byte, 5000))},
		"due cursor as list": {"big", account.Filter{}, dueCursor(t, e)},
	} {
		_, err := e.s.ListAccounts(e.ctx, tc.ws, tc.f, store.Page{Limit: 5, Cursor: tc.cursor})
		wantCode(t, err, relink.EINVALID, "cursor "+name)
	}
	for _, limit := range []int{-1, store.MaxLimit + 1} {
		_, err := e.s.ListAccounts(e.ctx, "big", account.Filter{}, store.Page{Limit: limit})
		wantCode(t, err, relink.EINVALID, fmt.Sprintf("limit %d", limit))
	}
	_, err = e.s.ListAccounts(e.ctx, "big", account.Filter{State: "bogus"}, store.Page{})
	wantCode(t, err, relink.EINVALID, "unknown state filter")
	def, err := e.s.ListAccounts(e.ctx, "big", account.Filter{}, store.Page{})
	must(t, err, "default page")
	if len(def.Accounts) != store.DefaultLimit {
		t.Fatalf("default page has %d accounts, want %d", len(def.Accounts), store.DefaultLimit)
	}
	if ids := listIDs(t, e, "empty-ws", account.Filter{}, 10); len(ids) != 0 {
		t.Fatalf("empty workspace lists %v", ids)
	}
}

// dueCursor returns a valid cursor of another listing kind, if the store makes one.
func dueCursor(t *testing.T, e *env) string {
	for shard := range e.s.Shards() {
		p, err := e.s.DueAccounts(e.ctx, shard, e.clock.Now().Add(365*day), store.Page{Limit: 1})
		must(t, err, "due page")
		if p.Next != "" {
			return p.Next
		}
	}
	return "x"
}

func firstDuplicate(ids []string) string {
	seen := map[string]bool{}
	for _, id := range ids {
		if seen[id] {
			return id
		}
		seen[id] = true
	}
	return ""
}

func firstMissing(want, got []string) string {
	g := map[string]bool{}
	for _, id := range got {
		g[id] = true
	}
	for _, id := range want {
		if !g[id] {
			return id
		}
	}
	for _, id := range got {
		if !slices.Contains(want, id) {
			return "extra " + id
		}
	}
	return ""
}

func testOwnerQueries(t *testing.T, e *env) {
	for i := range 12 {
		owner := "u1"
		if i%3 == 0 {
			owner = "u2"
		}
		e.newAccount(t, account.Spec{WorkspaceID: "ws1", ID: fmt.Sprintf("a%02d", i), OwnerID: owner, Grant: &account.Grant{}})
	}
	e.newAccount(t, account.Spec{WorkspaceID: "ws2", ID: "b1", OwnerID: "u1"}) // same owner ID, other workspace

	u1 := listIDs(t, e, "ws1", account.Filter{OwnerID: "u1"}, 3)
	if want := []string{"a01", "a02", "a04", "a05", "a07", "a08", "a10", "a11"}; !slices.Equal(u1, want) {
		t.Fatalf("u1 accounts = %v, want %v", u1, want)
	}
	a, _ := e.s.GetAccount(e.ctx, "ws1", "a04")
	e.apply(t, a, account.Command{Action: account.ActTransfer, NewOwnerID: "u2"})
	u1 = listIDs(t, e, "ws1", account.Filter{OwnerID: "u1"}, 3)
	u2 := listIDs(t, e, "ws1", account.Filter{OwnerID: "u2"}, 3)
	if slices.Contains(u1, "a04") || !slices.Contains(u2, "a04") || len(u2) != 5 {
		t.Fatalf("after transfer u1=%v u2=%v", u1, u2)
	}
	b, _ := e.s.GetAccount(e.ctx, "ws1", "a05")
	e.apply(t, b, account.Command{Action: account.ActDeactivate})
	if got := listIDs(t, e, "ws1", account.Filter{OwnerID: "u1", State: account.StateDeactivated}, 3); !slices.Equal(got, []string{"a05"}) {
		t.Fatalf("u1 deactivated = %v", got)
	}
	if got := listIDs(t, e, "ws2", account.Filter{OwnerID: "u1"}, 3); !slices.Equal(got, []string{"b1"}) {
		t.Fatalf("ws2 u1 = %v", got)
	}
}

// timeIndex is one of the sparse, sharded time indexes as the suite reads it.
type timeIndex struct {
	name string
	list func(e *env, shard int, now time.Time, p store.Page) (store.AccountPage, error)
	at   func(account.Account) time.Time
}

var (
	dueIndex = timeIndex{name: "due",
		list: func(e *env, shard int, now time.Time, p store.Page) (store.AccountPage, error) {
			return e.s.DueAccounts(e.ctx, shard, now, p)
		},
		at: func(a account.Account) time.Time { return a.DueAt }}
	remindIndex = timeIndex{name: "remind",
		list: func(e *env, shard int, now time.Time, p store.Page) (store.AccountPage, error) {
			return e.s.RemindersDue(e.ctx, shard, now, p)
		},
		at: func(a account.Account) time.Time { return a.RemindAt }}
)

func dueAll(t *testing.T, e *env, now time.Time, limit int) []account.Account {
	t.Helper()
	return indexAll(t, e, dueIndex, now, limit)
}

// indexAll reads every shard of ix up to now, page by page, checking that each
// account is in its shard, at a time not after now, and in time order.
func indexAll(t *testing.T, e *env, ix timeIndex, now time.Time, limit int) []account.Account {
	t.Helper()
	var out []account.Account
	for shard := range e.s.Shards() {
		cursor := ""
		var last time.Time
		for {
			p, err := ix.list(e, shard, now, store.Page{Limit: limit, Cursor: cursor})
			must(t, err, fmt.Sprintf("%s shard %d", ix.name, shard))
			if len(p.Accounts) > limit {
				t.Fatalf("%s page of %d exceeds limit %d", ix.name, len(p.Accounts), limit)
			}
			for _, a := range p.Accounts {
				if got := store.DueShard(a.WorkspaceID, a.ID, e.s.Shards()); got != shard {
					t.Fatalf("%s/%s listed in %s shard %d, belongs to %d", a.WorkspaceID, a.ID, ix.name, shard, got)
				}
				if at := ix.at(a); at.IsZero() || at.After(now) {
					t.Fatalf("%s listed in the %s index at %v (now %v)", a.ID, ix.name, at, now)
				}
				if ix.at(a).Before(last) {
					t.Fatalf("%s shard %d not ordered by time", ix.name, shard)
				}
				last = ix.at(a)
				out = append(out, a)
			}
			if p.Next == "" {
				break
			}
			cursor = p.Next
		}
	}
	return out
}

func testDueIndex(t *testing.T, e *env) {
	if e.s.Shards() != shards {
		t.Fatalf("Shards() = %d, want %d", e.s.Shards(), shards)
	}
	want := map[string]bool{}
	key := func(a account.Account) string { return a.WorkspaceID + "/" + a.ID }
	for i := range 30 {
		a := e.newAccount(t, account.Spec{WorkspaceID: "ws1", ID: fmt.Sprintf("d%02d", i), Grant: &account.Grant{}})
		c := e.apply(t, a, account.Command{Action: account.ActDisconnect, Actor: system, Reason: account.ReasonUnreachable})
		want[key(c.After)] = true // an unreachable channel is tried again 6 hours later
	}
	for i := range 30 {
		ws := "ws1"
		if i%2 == 0 {
			ws = "ws2" // the due index spans workspaces
		}
		a := e.newAccount(t, account.Spec{WorkspaceID: ws, ID: fmt.Sprintf("x%02d", i),
			Grant: &account.Grant{TokenExpiresAt: T0.Add(time.Duration(i+1) * time.Hour)}})
		if i+1 <= 10 {
			want[key(a)] = true
		}
	}
	for i := range 20 {
		a := e.newAccount(t, account.Spec{WorkspaceID: "ws1", ID: fmt.Sprintf("n%02d", i), Grant: &account.Grant{}})
		e.apply(t, a, account.Command{Action: account.ActDeactivate})
	}
	for i := range 5 {
		e.newAccount(t, account.Spec{WorkspaceID: "ws1", ID: fmt.Sprintf("p%02d", i)}) // pending: not scheduled
	}

	now := T0.Add(10 * time.Hour)
	got := map[string]bool{}
	for _, a := range dueAll(t, e, now, 3) {
		if got[key(a)] {
			t.Fatalf("%s listed twice", key(a))
		}
		got[key(a)] = true
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("due at +10h: got %d accounts, want %d", len(got), len(want))
	}

	// Leaving a scheduled state leaves the index; a later due time leaves "due now".
	d0, _ := e.s.GetAccount(e.ctx, "ws1", "d00")
	e.apply(t, d0, account.Command{Action: account.ActDeactivate})
	x1, _ := e.s.GetAccount(e.ctx, "ws1", "x01")
	e.clock.Advance(time.Hour)
	e.apply(t, x1, account.Command{Action: account.ActProbe, Actor: system,
		Grant: &account.Grant{TokenExpiresAt: T0.Add(60 * day)}})
	delete(want, "ws1/d00")
	delete(want, "ws1/x01")
	got = map[string]bool{}
	for _, a := range dueAll(t, e, now, 1000) {
		got[key(a)] = true
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("due after changes: got %d accounts, want %d", len(got), len(want))
	}
	if n := len(dueAll(t, e, T0.Add(-time.Hour), 50)); n != 0 {
		t.Fatalf("%d accounts due before anything was scheduled", n)
	}

	// Cursors are bound to shard and time.
	var cursor string
	var shard int
	for s := range e.s.Shards() {
		p, err := e.s.DueAccounts(e.ctx, s, now, store.Page{Limit: 1})
		must(t, err, "due page")
		if p.Next != "" {
			cursor, shard = p.Next, s
			break
		}
	}
	if cursor == "" {
		t.Fatal("no shard had a second page")
	}
	_, err := e.s.DueAccounts(e.ctx, (shard+1)%e.s.Shards(), now, store.Page{Limit: 1, Cursor: cursor})
	wantCode(t, err, relink.EINVALID, "due cursor on another shard")
	_, err = e.s.DueAccounts(e.ctx, shard, now.Add(time.Second), store.Page{Limit: 1, Cursor: cursor})
	wantCode(t, err, relink.EINVALID, "due cursor at another time")
	for _, bad := range []int{-1, e.s.Shards()} {
		_, err = e.s.DueAccounts(e.ctx, bad, now, store.Page{})
		wantCode(t, err, relink.EINVALID, fmt.Sprintf("shard %d", bad))
	}
}

func testEventPagination(t *testing.T, e *env) {
	a := e.newAccount(t, account.Spec{WorkspaceID: "ws1", ID: "a1", Grant: &account.Grant{}})
	var wantIDs []string
	first, _ := e.s.Events(e.ctx, "ws1", "a1", store.Page{})
	wantIDs = append(wantIDs, first.Events[0].ID)
	for i := range 25 {
		e.clock.Advance(time.Minute)
		action := account.ActDeactivate
		if i%2 == 1 {
			action = account.ActActivate
		}
		c := e.apply(t, a, account.Command{Action: action, TokenValid: true})
		a = c.After
		wantIDs = append(wantIDs, c.Event.ID)
	}
	var got []string
	var versions []int64
	cursor := ""
	for {
		p, err := e.s.Events(e.ctx, "ws1", "a1", store.Page{Limit: 4, Cursor: cursor})
		must(t, err, "events page")
		if len(p.Events) > 4 {
			t.Fatalf("events page of %d", len(p.Events))
		}
		for _, ev := range p.Events {
			got = append(got, ev.ID)
			versions = append(versions, ev.Version)
		}
		if p.Next == "" {
			break
		}
		cursor = p.Next
	}
	if !slices.Equal(got, wantIDs) {
		t.Fatalf("events = %v, want %v", got, wantIDs)
	}
	for i, v := range versions {
		if v != int64(i+1) {
			t.Fatalf("event %d has version %d", i, v)
		}
	}
	_, err := e.s.Events(e.ctx, "ws1", "other", store.Page{Limit: 4, Cursor: cursor + "x"})
	wantCode(t, err, relink.EINVALID, "events cursor")
}

// testConcurrency: 50 goroutines transition one account at once. Every success must be
// in the audit trail, every loser must get a conflict, and no update may be lost.
func testConcurrency(t *testing.T, e *env) {
	const workers = 50
	e.newAccount(t, account.Spec{WorkspaceID: "ws1", ID: "hot", Grant: &account.Grant{}})

	toggle := func(a account.Account, eventID string) (account.Change, error) {
		action := account.ActDeactivate
		if a.State == account.StateDeactivated {
			action = account.ActActivate
		}
		return account.Transition(a, account.Command{Action: action, Actor: primary, At: e.clock.Now(), EventID: eventID, TokenValid: true})
	}

	// Round 1: one attempt each, all released at once.
	var (
		wg       sync.WaitGroup
		start    = make(chan struct{})
		mu       sync.Mutex
		won      []string
		failures []error
	)
	for i := range workers {
		wg.Go(func() {
			eventID := fmt.Sprintf("race-%02d", i)
			a, err := e.s.GetAccount(e.ctx, "ws1", "hot")
			<-start
			if err == nil {
				var c account.Change
				if c, err = toggle(a, eventID); err == nil {
					err = e.s.Apply(e.ctx, c)
				}
			}
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				won = append(won, eventID)
			} else if relink.ErrorCode(err) != relink.ECONFLICT {
				failures = append(failures, err)
			}
		})
	}
	close(start)
	wg.Wait()
	if len(failures) > 0 {
		t.Fatalf("losers must get a conflict, got: %v", failures[0])
	}
	if len(won) == 0 {
		t.Fatal("no goroutine won")
	}

	// Round 2: each retries on conflict until its change lands.
	var retried []string
	for i := range workers {
		wg.Go(func() {
			eventID := fmt.Sprintf("retry-%02d", i)
			for attempt := 0; ; attempt++ {
				a, err := e.s.GetAccount(e.ctx, "ws1", "hot")
				if err == nil {
					var c account.Change
					if c, err = toggle(a, eventID); err == nil {
						err = e.s.Apply(e.ctx, c)
					}
				}
				if err == nil {
					mu.Lock()
					retried = append(retried, eventID)
					mu.Unlock()
					return
				}
				if relink.ErrorCode(err) != relink.ECONFLICT || attempt > 10*workers {
					mu.Lock()
					failures = append(failures, err)
					mu.Unlock()
					return
				}
			}
		})
	}
	wg.Wait()
	if len(failures) > 0 {
		t.Fatalf("retrying writer failed: %v", failures[0])
	}

	var trail []account.Event
	cursor := ""
	for {
		p, err := e.s.Events(e.ctx, "ws1", "hot", store.Page{Limit: store.MaxLimit, Cursor: cursor})
		must(t, err, "events")
		trail = append(trail, p.Events...)
		if p.Next == "" {
			break
		}
		cursor = p.Next
	}
	successes := len(won) + len(retried)
	if len(trail) != 1+successes {
		t.Fatalf("audit trail has %d events, want 1 + %d successes", len(trail), successes)
	}
	inTrail := map[string]bool{}
	for i, ev := range trail {
		if ev.Version != int64(i+1) {
			t.Fatalf("event %d has version %d: the trail has a gap or a duplicate", i, ev.Version)
		}
		if i > 0 && ev.From != trail[i-1].To {
			t.Fatalf("event %d moves from %s but the previous one ended in %s: an update was lost", i, ev.From, trail[i-1].To)
		}
		inTrail[ev.ID] = true
	}
	for _, id := range append(won, retried...) {
		if !inTrail[id] {
			t.Fatalf("successful change %s missing from the audit trail", id)
		}
	}
	final, err := e.s.GetAccount(e.ctx, "ws1", "hot")
	must(t, err, "final account")
	if final.Version != int64(1+successes) || final.State != trail[len(trail)-1].To {
		t.Fatalf("final account v%d %s, want v%d %s", final.Version, final.State, 1+successes, trail[len(trail)-1].To)
	}
	t.Logf("round 1: %d of %d won, %d conflicts; round 2: %d of %d landed with retries", len(won), workers, workers-len(won), len(retried), workers)
}
