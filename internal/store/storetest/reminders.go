package storetest

import (
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/relinkhq/relink/internal/account"
	"github.com/relinkhq/relink/internal/relink"
	"github.com/relinkhq/relink/internal/store"
)

// remind stores the reminders' quiet change moving a's RemindAt to next, checks that
// it is quiet (version bumped, no audit event) and returns the account as stored.
func (e *env) remind(t *testing.T, a account.Account, next time.Time) account.Account {
	t.Helper()
	before, err := e.s.Events(e.ctx, a.WorkspaceID, a.ID, store.Page{Limit: store.MaxLimit})
	must(t, err, "events before reminded")
	c := account.Reminded(a, next, e.clock.Now())
	must(t, e.s.Apply(e.ctx, c), "apply reminded to "+a.ID)
	got, err := e.s.GetAccount(e.ctx, a.WorkspaceID, a.ID)
	must(t, err, "get reminded account")
	same(t, got, c.After, "account after reminded")
	if got.Version != a.Version+1 {
		t.Fatalf("reminded %s: version %d, want %d", a.ID, got.Version, a.Version+1)
	}
	after, err := e.s.Events(e.ctx, a.WorkspaceID, a.ID, store.Page{Limit: store.MaxLimit})
	must(t, err, "events after reminded")
	if len(after.Events) != len(before.Events) {
		t.Fatalf("reminded %s added an audit event", a.ID)
	}
	return got
}

// remindSet lists the remind index up to now at a page size as workspace/ID → RemindAt.
func remindSet(t *testing.T, e *env, now time.Time, limit int) map[string]time.Time {
	t.Helper()
	got := map[string]time.Time{}
	for _, a := range indexAll(t, e, remindIndex, now, limit) {
		k := a.WorkspaceID + "/" + a.ID
		if _, dup := got[k]; dup {
			t.Fatalf("%s listed twice in the remind index", k)
		}
		got[k] = a.RemindAt
	}
	return got
}

// wantSet is the part of model (workspace/ID → RemindAt) the remind index lists at now.
func wantSet(model map[string]time.Time, now time.Time) map[string]time.Time {
	want := map[string]time.Time{}
	for k, at := range model {
		if !at.IsZero() && !at.After(now) {
			want[k] = at
		}
	}
	return want
}

func sameSet(t *testing.T, got, want map[string]time.Time, what string) {
	t.Helper()
	if !maps.EqualFunc(got, want, time.Time.Equal) {
		var missing, extra []string
		for k := range want {
			if _, ok := got[k]; !ok {
				missing = append(missing, k)
			}
		}
		for k, at := range got {
			if w, ok := want[k]; !ok || !w.Equal(at) {
				extra = append(extra, fmt.Sprintf("%s@%s", k, at.Format(time.RFC3339)))
			}
		}
		slices.Sort(missing)
		slices.Sort(extra)
		t.Fatalf("%s: %d listed, want %d; missing %v, extra or moved %v", what, len(got), len(want), missing, extra)
	}
}

func testRemindIndex(t *testing.T, e *env) {
	model := map[string]time.Time{} // workspace/ID → RemindAt as stored, zero: no entry
	accounts := map[string]account.Account{}
	keep := func(a account.Account) {
		model[a.WorkspaceID+"/"+a.ID] = a.RemindAt
		accounts[a.WorkspaceID+"/"+a.ID] = a
	}
	// Connected with a known expiry: reminders look at them from creation (RemindAt = T0).
	// Then the reminders move some on, to the past, the future, or never again (zero).
	for i := range 32 {
		ws := "ws1"
		if i%2 == 1 {
			ws = "ws2" // the remind index spans workspaces
		}
		a := e.newAccount(t, account.Spec{WorkspaceID: ws, ID: fmt.Sprintf("r%02d", i),
			Grant: &account.Grant{TokenExpiresAt: T0.Add(30 * day)}})
		if !a.RemindAt.Equal(T0) {
			t.Fatalf("new account with a known expiry: RemindAt %v, want %v", a.RemindAt, T0)
		}
		switch i % 4 {
		case 1:
			a = e.remind(t, a, T0.Add(time.Duration(i)*time.Hour)) // +1h … +29h
		case 2:
			a = e.remind(t, a, T0.Add(-time.Duration(i)*time.Hour)) // in the past
		case 3:
			a = e.remind(t, a, time.Time{}) // never again: out of the index
		}
		keep(a)
	}
	// Nothing to remind of: connected without a known expiry (scheduled in the due
	// index all the same), and pending accounts.
	for i := range 6 {
		keep(e.newAccount(t, account.Spec{WorkspaceID: "ws1", ID: fmt.Sprintf("z%02d", i), Grant: &account.Grant{}}))
	}
	for i := range 3 {
		keep(e.newAccount(t, account.Spec{WorkspaceID: "ws2", ID: fmt.Sprintf("p%02d", i)}))
	}
	for k, a := range accounts {
		if a.ID[0] != 'r' && !a.RemindAt.IsZero() {
			t.Fatalf("%s has RemindAt %v: nothing to remind of", k, a.RemindAt)
		}
	}
	// A disconnect an hour later: the domain sets RemindAt to the change's time.
	e.clock.Advance(time.Hour)
	troubled := e.newAccount(t, account.Spec{WorkspaceID: "ws2", ID: "t00", Grant: &account.Grant{}})
	troubled = e.apply(t, troubled, account.Command{Action: account.ActDisconnect, Actor: system, Reason: account.ReasonRevoked}).After
	if !troubled.RemindAt.Equal(T0.Add(time.Hour)) {
		t.Fatalf("disconnected account: RemindAt %v, want the change's time", troubled.RemindAt)
	}
	keep(troubled)
	// A soft-deleted account the reminders still look at, until it is gone.
	gone := e.newAccount(t, account.Spec{WorkspaceID: "ws1", ID: "g00", Grant: &account.Grant{TokenExpiresAt: T0.Add(30 * day)}})
	gone = e.apply(t, gone, account.Command{Action: account.ActDelete, Confirmation: gone.DisplayName}).After
	gone = e.remind(t, gone, T0.Add(2*time.Hour))
	keep(gone)

	now := T0.Add(10 * time.Hour)
	for _, limit := range []int{1, 3, 1000} {
		sameSet(t, remindSet(t, e, now, limit), wantSet(model, now), fmt.Sprintf("reminders due at +10h, pages of %d", limit))
	}
	far := T0.Add(365 * day)
	sameSet(t, remindSet(t, e, far, 7), wantSet(model, far), "reminders due in a year (every entry)")
	if got := remindSet(t, e, T0.Add(-365*day), 50); len(got) != 0 {
		t.Fatalf("%d reminders due a year before anything was set", len(got))
	}
	// Listed accounts are whole accounts.
	p, err := e.s.RemindersDue(e.ctx, store.DueShard("ws2", "t00", e.s.Shards()), now, store.Page{Limit: store.MaxLimit})
	must(t, err, "reminders due in t00's shard")
	found := false
	for _, a := range p.Accounts {
		if a.WorkspaceID == "ws2" && a.ID == "t00" {
			same(t, a, troubled, "listed account")
			found = true
		}
	}
	if !found {
		t.Fatal("t00 not listed in its shard")
	}

	// The due index is its own: every scheduled account, whatever its RemindAt.
	wantDue := map[string]bool{}
	for k, a := range accounts {
		if !a.DueAt.IsZero() {
			wantDue[k] = true
		}
	}
	gotDue := map[string]bool{}
	for _, a := range dueAll(t, e, far, 1000) {
		gotDue[a.WorkspaceID+"/"+a.ID] = true
	}
	if !maps.Equal(gotDue, wantDue) {
		t.Fatalf("due index beside the remind index: %d listed, want %d", len(gotDue), len(wantDue))
	}

	// Moving RemindAt moves the entry: later leaves "due now", earlier enters it, zero
	// removes it for good.
	move := func(k string, next time.Time) {
		t.Helper()
		a := e.remind(t, accounts[k], next)
		keep(a)
	}
	move("ws2/r01", T0.Add(20*time.Hour)) // was +1h
	move("ws2/r13", T0.Add(-time.Hour))   // was +13h
	move("ws1/r02", time.Time{})          // was in the past
	move("ws1/r00", T0.Add(5*time.Hour))  // was T0: moves within "due now"
	move("ws2/r03", T0.Add(3*time.Hour))  // was zero: back in the index
	sameSet(t, remindSet(t, e, now, 2), wantSet(model, now), "reminders due at +10h after moves")
	sameSet(t, remindSet(t, e, far, 1000), wantSet(model, far), "every reminder after moves")
	if _, ok := remindSet(t, e, far, 1000)["ws1/r02"]; ok {
		t.Fatal("an account moved to zero is still in the remind index")
	}

	// Cursors are bound to the index, shard and time.
	var cursor string
	var shard int
	for s := range e.s.Shards() {
		p, err := e.s.RemindersDue(e.ctx, s, now, store.Page{Limit: 1})
		must(t, err, "reminders page")
		if p.Next != "" {
			cursor, shard = p.Next, s
			break
		}
	}
	if cursor == "" {
		t.Fatal("no remind shard had a second page")
	}
	_, err = e.s.RemindersDue(e.ctx, shard, now, store.Page{Limit: 1, Cursor: cursor})
	must(t, err, "second page with its own cursor")
	_, err = e.s.RemindersDue(e.ctx, (shard+1)%e.s.Shards(), now, store.Page{Limit: 1, Cursor: cursor})
	wantCode(t, err, relink.EINVALID, "remind cursor on another shard")
	_, err = e.s.RemindersDue(e.ctx, shard, now.Add(time.Second), store.Page{Limit: 1, Cursor: cursor})
	wantCode(t, err, relink.EINVALID, "remind cursor at another time")
	_, err = e.s.DueAccounts(e.ctx, shard, now, store.Page{Limit: 1, Cursor: cursor})
	wantCode(t, err, relink.EINVALID, "remind cursor on the due index")
	_, err = e.s.ListAccounts(e.ctx, "ws1", account.Filter{}, store.Page{Limit: 1, Cursor: cursor})
	wantCode(t, err, relink.EINVALID, "remind cursor on an account listing")
	dueCursorUsed := false
	for s := range e.s.Shards() {
		p, err := e.s.DueAccounts(e.ctx, s, far, store.Page{Limit: 1})
		must(t, err, "due page")
		if p.Next != "" {
			_, err = e.s.RemindersDue(e.ctx, s, far, store.Page{Limit: 1, Cursor: p.Next})
			wantCode(t, err, relink.EINVALID, "due cursor on the remind index")
			dueCursorUsed = true
			break
		}
	}
	if !dueCursorUsed {
		t.Fatal("no due shard had a second page")
	}
	for _, bad := range []int{-1, e.s.Shards()} {
		_, err = e.s.RemindersDue(e.ctx, bad, now, store.Page{})
		wantCode(t, err, relink.EINVALID, fmt.Sprintf("remind shard %d", bad))
	}
	for _, limit := range []int{-1, store.MaxLimit + 1} {
		_, err = e.s.RemindersDue(e.ctx, 0, now, store.Page{Limit: limit})
		wantCode(t, err, relink.EINVALID, fmt.Sprintf("remind page limit %d", limit))
	}

	// Past its purge time the soft-deleted account is never listed, whatever the
	// caller's now; the store's clock decides.
	if _, ok := remindSet(t, e, now, 1000)["ws1/g00"]; !ok {
		t.Fatal("a soft-deleted account within retention is missing from the remind index")
	}
	e.clock.Set(gone.PurgeAt)
	delete(model, "ws1/g00")
	sameSet(t, remindSet(t, e, now, 3), wantSet(model, now), "reminders due after the purge time")
}
