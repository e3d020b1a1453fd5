package digest

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"net/url"
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
	"github.com/relinkhq/relink/internal/ident"
	"github.com/relinkhq/relink/internal/magiclink"
	"github.com/relinkhq/relink/internal/mail"
	"github.com/relinkhq/relink/internal/mailbox"
	"github.com/relinkhq/relink/internal/portal"
	"github.com/relinkhq/relink/internal/relink"
	"github.com/relinkhq/relink/internal/reminder"
	"github.com/relinkhq/relink/internal/store"
	"github.com/relinkhq/relink/internal/workspace"
)

// t0 is a Monday 09:00 UTC.
var t0 = time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)

const ws = "ws1"

// People of the test workspace: an owner, a primary admin, an admin who asked to hear
// about trouble, and an admin who did not.
const (
	owner   = "olivia@acme.example"
	primary = "pat@acme.example"
	ada     = "ada@acme.example"
	quiet   = "quentin@acme.example"
)

type env struct {
	t     *testing.T
	store store.Store
	clock *clock.Manual
	box   *mailbox.Mailbox
	svc   *Service
	logs  *syncBuffer
	ids   *ident.ULID
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

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newEnv(t *testing.T, st store.Store, clk *clock.Manual, sender mail.Sender) *env {
	t.Helper()
	reg, err := channel.Default("https://sandbox.relink.example")
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, store: st, clock: clk, logs: &syncBuffer{}, ids: ident.NewULID(clk.Now)}
	if sender == nil {
		e.box = mailbox.New(clk)
		sender = e.box
	}
	e.svc = &Service{Store: st, Registry: reg,
		Links:       &portal.Links{Store: st, Clock: clk, Random: rand.Reader, BaseURL: "https://relink.example"},
		Unsubscribe: portal.Unsubscriber{Key: bytes.Repeat([]byte("u"), 32), BaseURL: "https://relink.example"},
		Mail:        sender, Clock: clk, IDs: e.ids, Logger: slog.New(slog.NewJSONHandler(e.logs, nil))}
	return e
}

func boltEnv(t *testing.T) *env {
	t.Helper()
	clk := clock.NewManual(t0)
	st, err := bolt.Open(filepath.Join(t.TempDir(), "relink.db"), store.Config{Clock: clk, CursorKey: bytes.Repeat([]byte("c"), 32)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e := newEnv(t, st, clk, nil)
	e.seed(ws)
	return e
}

// seed creates a workspace and its four people.
func (e *env) seed(wsID string) {
	e.t.Helper()
	ctx := context.Background()
	if _, err := e.store.CreateWorkspace(ctx, workspace.Workspace{ID: wsID, Name: "Acme Brands", Settings: workspace.DefaultSettings(),
		CreatedAt: t0, UpdatedAt: t0}); err != nil {
		e.t.Fatal(err)
	}
	for _, u := range []workspace.User{
		{ID: "u-olivia", Name: "Olivia", Email: owner, Role: workspace.RoleOwner},
		{ID: "u-pat", Name: "Pat", Email: primary, Role: workspace.RolePrimaryAdmin},
		{ID: "u-ada", Name: "Ada", Email: ada, Role: workspace.RoleAdmin, Preferences: workspace.Preferences{NotifyTrouble: true}},
		{ID: "u-quentin", Name: "Quentin", Email: quiet, Role: workspace.RoleAdmin},
	} {
		u.WorkspaceID, u.CreatedAt, u.UpdatedAt = wsID, t0, t0
		if _, err := e.store.CreateUser(ctx, u); err != nil {
			e.t.Fatal(err)
		}
	}
}

// addAccount connects an account now; grant may set a hard expiry.
func (e *env) addAccount(wsID, id string, kind account.Kind, grant account.Grant) account.Account {
	e.t.Helper()
	ch, err := e.svc.Registry.Get("facebook")
	if err != nil {
		e.t.Fatal(err)
	}
	if grant.Scopes == nil {
		for _, p := range ch.Permissions {
			if p.Kind == channel.KindScope {
				grant.Scopes = append(grant.Scopes, p.Name)
			} else {
				grant.Tasks = append(grant.Tasks, p.Name)
			}
		}
	}
	grant.Missing = ch.Diagnose(grant.Scopes, grant.Tasks)
	c, err := account.New(account.Spec{WorkspaceID: wsID, ID: id, Channel: "facebook", ExternalID: "page-" + id, DisplayName: "Acme " + id,
		OwnerID: "u-olivia", Kind: kind, Grant: &grant}, account.Command{Actor: account.SystemActor("test"), At: e.clock.Now(), EventID: e.ids.New()})
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.store.CreateAccount(context.Background(), c); err != nil {
		e.t.Fatal(err)
	}
	return c.After
}

func (e *env) act(wsID, id string, cmd account.Command) account.Account {
	e.t.Helper()
	ctx := context.Background()
	for range 3 {
		a, err := e.store.GetAccount(ctx, wsID, id)
		if err != nil {
			e.t.Fatal(err)
		}
		cmd.Actor, cmd.At, cmd.EventID = account.SystemActor("test"), e.clock.Now(), e.ids.New()
		c, err := account.Transition(a, cmd)
		if err != nil {
			e.t.Fatal(err)
		}
		if err := e.store.Apply(ctx, c); err == nil {
			return c.After
		} else if relink.ErrorCode(err) != relink.ECONFLICT {
			e.t.Fatal(err)
		}
	}
	e.t.Fatal("kept conflicting")
	return account.Account{}
}

func (e *env) disconnect(wsID, id, reason string) account.Account {
	return e.act(wsID, id, account.Command{Action: account.ActDisconnect, Reason: reason})
}

func (e *env) run() Summary {
	e.t.Helper()
	sum, err := e.svc.Run(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	return sum
}

// every runs the function every step until d has passed, as EventBridge would.
func (e *env) every(step, d time.Duration) {
	e.t.Helper()
	for end := e.clock.Now().Add(d); e.clock.Now().Before(end); {
		e.clock.Advance(step)
		e.run()
	}
}

// received lists, per recipient, the days after t0 (fractional) each email arrived and
// its subject.
func (e *env) received(addr string) []string {
	var out []string
	for _, m := range e.mails(addr) {
		out = append(out, fmt.Sprintf("%s %s", m.At.Sub(t0).Round(time.Minute), m.Subject))
	}
	return out
}

func days(d ...float64) []time.Duration {
	var out []time.Duration
	for _, x := range d {
		out = append(out, time.Duration(x*24*float64(time.Hour)))
	}
	return out
}

// mails are the emails to addr, oldest first.
func (e *env) mails(addr string) []mailbox.Mail {
	ms := e.box.To(addr)
	slices.Reverse(ms)
	return ms
}

// arrivals are the times after t0 of the emails to addr.
func (e *env) arrivals(addr string) []time.Duration {
	var out []time.Duration
	for _, m := range e.mails(addr) {
		out = append(out, m.At.Sub(t0))
	}
	return out
}

// sameSchedule checks each email arrived within the run interval after its step.
func sameSchedule(t *testing.T, who string, got, want []time.Duration, slack time.Duration) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s got %d emails at %v, want %d at %v", who, len(got), got, len(want), want)
	}
	for i := range want {
		if got[i] < want[i] || got[i] > want[i]+slack {
			t.Fatalf("%s email %d at %v, want within %v after %v (all: %v)", who, i+1, got[i], slack, want[i], got)
		}
	}
}

// TestExponentialSeriesOverFortyDays: a password change disconnects an account; runs
// every 15 minutes for 40 days send the owner steps at days 0, 1, 2, 4, 8, 16 (cap 30:
// then 46), each once; the subscribed admin is copied from step 3; the admin who did
// not subscribe and the primary admin hear nothing.
func TestExponentialSeriesOverFortyDays(t *testing.T) {
	e := boltEnv(t)
	e.addAccount(ws, "a1", account.KindCompany, account.Grant{})
	e.disconnect(ws, "a1", account.ReasonPasswordChanged)
	e.run() // at t0: step 1
	e.every(15*time.Minute, 40*24*time.Hour)

	sameSchedule(t, "owner", e.arrivals(owner), days(0, 1, 2, 4, 8, 16), 15*time.Minute)
	sameSchedule(t, "subscribed admin", e.arrivals(ada), days(2, 4, 8, 16), 15*time.Minute)
	if n := len(e.mails(primary)) + len(e.mails(quiet)); n != 0 {
		t.Fatalf("admins who did not subscribe got %d emails", n)
	}
	first := e.mails(owner)[0]
	if first.Subject != "Reconnect Acme a1 on Facebook Pages" && !strings.Contains(first.Subject, "Acme a1") {
		t.Fatalf("subject %q", first.Subject)
	}
	if !strings.Contains(first.Text, "password") {
		t.Fatalf("the email does not say why:\n%s", first.Text)
	}
	// The owner's email carries a working personal link; the copied admin's does not.
	link := firstLink(t, first.Text, "/l/")
	if _, err := e.store.GetLink(context.Background(), hashOf(t, link)); err != nil {
		t.Fatalf("the email's link %s is not stored: %v", link, err)
	}
	if strings.Contains(e.mails(ada)[0].Text, "/l/") {
		t.Fatal("a copied admin got the owner's personal link")
	}
	for _, m := range append(e.mails(owner), e.mails(ada)...) {
		if len(m.To) != 1 || len(m.Cc) != 0 {
			t.Fatalf("each person gets their own email: to %v cc %v", m.To, m.Cc)
		}
		firstLink(t, m.Text, "/unsubscribe?t=")
	}
	if strings.Contains(e.logs.String(), `"level":"ERROR"`) {
		t.Fatalf("errors logged:\n%s", e.logs.String())
	}
}

// TestSeriesPolicy: the workspace chose the series policy: days 0, 2, 7, 12, 17, 22,
// then round 2 at 27; the primary admin is copied on step 1 and the last step, which
// says "still disconnected".
func TestSeriesPolicy(t *testing.T) {
	e := boltEnv(t)
	w, _ := e.store.GetWorkspace(context.Background(), ws)
	w.Settings.ReminderPolicy = workspace.PolicySeries
	if _, err := e.store.UpdateWorkspace(context.Background(), w); err != nil {
		t.Fatal(err)
	}
	e.addAccount(ws, "a1", account.KindCompany, account.Grant{})
	e.disconnect(ws, "a1", account.ReasonRoleLost)
	e.run()
	e.every(time.Hour, 28*24*time.Hour)
	sameSchedule(t, "owner", e.arrivals(owner), days(0, 2, 7, 12, 17, 22, 27), time.Hour)
	sameSchedule(t, "primary admin", e.arrivals(primary), days(0, 22, 27), time.Hour) // and round 2 begins
	last := e.mails(primary)[1]
	if !strings.HasPrefix(last.Subject, "Still disconnected") {
		t.Fatalf("the series' last step: %q", last.Subject)
	}
}

// TestWeeklyBeforeAndAfterExpiry: a token with a hard expiry 15 days out is reminded
// every Monday 09:00 before it (owner and, for a company account, every admin), then
// disconnected by expiry and reminded weekly after.
func TestWeeklyBeforeAndAfterExpiry(t *testing.T) {
	e := boltEnv(t)
	exp := t0.Add(15*24*time.Hour + 3*time.Hour) // Tuesday 8 December, 12:00
	e.addAccount(ws, "a1", account.KindCompany, account.Grant{TokenExpiresAt: exp})
	e.every(time.Hour, 15*24*time.Hour+3*time.Hour)
	e.disconnect(ws, "a1", account.ReasonExpired) // the expiry check would do this
	e.every(time.Hour, 15*24*time.Hour)
	// Mondays inside the window: t0 (connected inside it: at once), +7, +14; then at
	// the expiry, +7 and +14 days after it.
	want := days(0, 7, 14, 15.125, 22.125, 29.125)
	sameSchedule(t, "owner", e.arrivals(owner), want, time.Hour)
	sameSchedule(t, "admin", e.arrivals(quiet), want, time.Hour)
	if s := e.mails(owner)[0].Subject; !strings.HasPrefix(s, "Update required: Acme a1") {
		t.Fatalf("subject %q", s)
	}
	if s := e.mails(owner)[3].Subject; !strings.Contains(s, "has expired") {
		t.Fatalf("subject %q", s)
	}
}

// TestReconnectStopsReminders: after the first reminder the owner reconnects: nothing
// more is sent, and the account leaves the remind index.
func TestReconnectStopsReminders(t *testing.T) {
	e := boltEnv(t)
	e.addAccount(ws, "a1", account.KindPersonal, account.Grant{})
	e.disconnect(ws, "a1", account.ReasonRevoked)
	e.run()
	e.clock.Advance(6 * time.Hour)
	before, _ := e.store.GetAccount(context.Background(), ws, "a1")
	g := account.Grant{Scopes: before.Scopes, Tasks: before.Tasks}
	if a := e.act(ws, "a1", account.Command{Action: account.ActAuthorize, Grant: &g}); a.State != account.StateActive || !a.RemindAt.IsZero() {
		t.Fatalf("after reconnect: %s remind %v", a.State, a.RemindAt)
	}
	e.every(time.Hour, 30*24*time.Hour)
	if n := len(e.mails(owner)); n != 1 {
		t.Fatalf("%d emails, want just the one before the reconnect", n)
	}
	due, err := e.store.RemindersDue(context.Background(), 0, e.clock.Now(), store.Page{Limit: 10})
	if err != nil || len(due.Accounts) != 0 {
		t.Fatalf("still due: %v %v", due.Accounts, err)
	}
}

// TestOneDigestPerRecipient: three accounts in trouble at once are one email to the
// owner, naming each with what is broken.
func TestOneDigestPerRecipient(t *testing.T) {
	e := boltEnv(t)
	e.addAccount(ws, "a1", account.KindPersonal, account.Grant{})
	e.addAccount(ws, "a2", account.KindPersonal, account.Grant{})
	e.addAccount(ws, "a3", account.KindPersonal, account.Grant{Scopes: []string{"pages_show_list", "pages_read_engagement"}, Tasks: []string{"ANALYZE"}})
	e.disconnect(ws, "a1", account.ReasonPasswordChanged)
	e.disconnect(ws, "a2", account.ReasonPageDeleted)
	sum := e.run()
	if sum.Counts[CountEmails] != 1 || sum.Counts[CountItems] != 3 {
		t.Fatalf("run: %v", sum.Counts)
	}
	m := e.mails(owner)[0]
	if m.Subject != "3 accounts in Acme Brands need attention" {
		t.Fatalf("subject %q", m.Subject)
	}
	for _, want := range []string{"Acme a1", "Acme a2", "Acme a3", "password", "no longer exists", "pages_manage_posts", "publishing"} {
		if !strings.Contains(m.Text, want) {
			t.Fatalf("the digest lacks %q:\n%s", want, m.Text)
		}
	}
}

// TestFailedSendIsRetriedNextRun: the provider fails for the owner (an outage): the
// admin's copy goes out, the owner's is retried by the next run and delivered once.
func TestFailedSendIsRetriedNextRun(t *testing.T) {
	e := boltEnv(t)
	w, _ := e.store.GetWorkspace(context.Background(), ws)
	w.Settings.CopyAdminsFromStep = 1
	if _, err := e.store.UpdateWorkspace(context.Background(), w); err != nil {
		t.Fatal(err)
	}
	e.addAccount(ws, "a1", account.KindPersonal, account.Grant{})
	e.disconnect(ws, "a1", account.ReasonRevoked)
	e.box.FailFor(owner, relink.Errorf(relink.EUNAVAILABLE, "the provider is down"))
	sum := e.run()
	if sum.Counts[CountFailed] != 1 || sum.Counts[CountItems] != 1 || len(e.mails(ada)) != 1 {
		t.Fatalf("run during the outage: %v", sum.Counts)
	}
	if a, _ := e.store.GetAccount(context.Background(), ws, "a1"); !a.RemindAt.Equal(e.clock.Now()) {
		t.Fatalf("an unsettled step must keep the account due: remind %v", a.RemindAt)
	}
	e.clock.Advance(15 * time.Minute)
	sum = e.run() // still failing: still not lost
	if sum.Counts[CountFailed] != 1 {
		t.Fatalf("second run: %v", sum.Counts)
	}
	e.box.Heal()
	e.every(15*time.Minute, 2*time.Hour)
	if n, m := len(e.mails(owner)), len(e.mails(ada)); n != 1 || m != 1 {
		t.Fatalf("after the outage: owner %d, admin %d emails; want one each", n, m)
	}
}

// TestRejectedAddressIsNotRetried: a permanent refusal is recorded, not retried.
func TestRejectedAddressIsNotRetried(t *testing.T) {
	e := boltEnv(t)
	e.addAccount(ws, "a1", account.KindPersonal, account.Grant{})
	e.disconnect(ws, "a1", account.ReasonRevoked)
	e.box.FailFor(owner, relink.Errorf(relink.EINVALID, "address rejected"))
	if sum := e.run(); sum.Counts[CountRejected] != 1 {
		t.Fatalf("run: %v", sum.Counts)
	}
	e.box.Heal()
	e.every(15*time.Minute, 12*time.Hour)
	if n := len(e.mails(owner)); n != 0 {
		t.Fatalf("a refused step was sent again %d times", n)
	}
	e.every(time.Hour, 24*time.Hour) // step 2 is a new step: it goes out
	if n := len(e.mails(owner)); n != 1 {
		t.Fatalf("step 2: %d emails", n)
	}
}

// TestUnsubscribedAreSkipped: a person who opted out gets nothing; the others do.
func TestUnsubscribedAreSkipped(t *testing.T) {
	e := boltEnv(t)
	u, _ := e.store.GetUserByEmail(context.Background(), ws, owner)
	u.Preferences.Unsubscribed = true
	if _, err := e.store.UpdateUser(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	e.addAccount(ws, "a1", account.KindPersonal, account.Grant{})
	e.disconnect(ws, "a1", account.ReasonRevoked)
	e.every(time.Hour, 3*24*time.Hour)
	if n := len(e.mails(owner)); n != 0 {
		t.Fatalf("the unsubscribed owner got %d emails", n)
	}
	if n := len(e.mails(ada)); n != 1 {
		t.Fatalf("the subscribed admin got %d emails, want the step-3 copy", n)
	}
}

// TestConcurrentRunsSendOnce: four runs at once over 60 accounts send each (recipient,
// step) exactly once between them.
func TestConcurrentRunsSendOnce(t *testing.T) {
	e := boltEnv(t)
	w, _ := e.store.GetWorkspace(context.Background(), ws)
	w.Settings.CopyAdminsFromStep = 1
	if _, err := e.store.UpdateWorkspace(context.Background(), w); err != nil {
		t.Fatal(err)
	}
	for i := range 60 {
		id := fmt.Sprintf("a%02d", i)
		e.addAccount(ws, id, account.KindPersonal, account.Grant{})
		e.disconnect(ws, id, account.ReasonRevoked)
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			if _, err := e.svc.Run(context.Background()); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	e.clock.Advance(15 * time.Minute)
	e.run() // settles whatever a concurrent run left open
	checkOnce(t, e.box.All(), map[string]int{owner: 60, ada: 60})
}

// checkOnce counts (recipient, account) mentions over emails and wants exactly want
// per recipient, each account once.
func checkOnce(t *testing.T, mails []mailbox.Mail, want map[string]int) {
	t.Helper()
	seen := map[string]int{}
	per := map[string]int{}
	re := regexp.MustCompile(`Acme (a\d+)`)
	for _, m := range mails {
		names := map[string]bool{}
		for _, n := range re.FindAllStringSubmatch(m.Text, -1) {
			names[n[1]] = true
		}
		for n := range names {
			seen[m.To[0]+" "+n]++
			per[m.To[0]]++
		}
	}
	for k, n := range seen {
		if n != 1 {
			t.Fatalf("%s mentioned %d times", k, n)
		}
	}
	for who, n := range want {
		if per[who] != n {
			t.Fatalf("%s: %d accounts mentioned, want %d", who, per[who], n)
		}
	}
}

// TestCrashedClaimIsNeverResent: a claim left "sending" by a run that died during the
// provider call is never sent again (it may have gone out), once it is older than any
// run lives; a fresh claim of a live run keeps the step open instead.
func TestCrashedClaimIsNeverResent(t *testing.T) {
	e := boltEnv(t)
	e.addAccount(ws, "a1", account.KindPersonal, account.Grant{})
	a := e.disconnect(ws, "a1", account.ReasonRevoked)
	steps := dueSteps(t, e, a)
	key := steps[0].Key + "#u-olivia"
	if ok, err := e.store.ClaimSend(context.Background(), key, "run-in-flight", e.clock.Now()); !ok || err != nil {
		t.Fatal(ok, err)
	}
	sum := e.run()
	if sum.Counts[CountTaken] != 1 || len(e.box.All()) != 0 {
		t.Fatalf("run beside a live one: %v", sum.Counts)
	}
	if got, _ := e.store.GetAccount(context.Background(), ws, "a1"); !got.RemindAt.Equal(e.clock.Now()) {
		t.Fatal("a step another run is sending must stay open until it settles")
	}
	e.clock.Advance(StaleClaim)
	sum = e.run()
	if sum.Counts[CountUncertain] != 1 || len(e.box.All()) != 0 {
		t.Fatalf("run after the other died: %v, %d emails", sum.Counts, len(e.box.All()))
	}
	if _, err := e.store.GetSend(context.Background(), steps[0].Key); err != nil {
		t.Fatalf("the step is not marked done: %v", err)
	}
}

// TestReleasedClaimIsSentByTheNextRun: a live run's send failed and it released its
// claim: the next run sends it.
func TestReleasedClaimIsSentByTheNextRun(t *testing.T) {
	e := boltEnv(t)
	e.addAccount(ws, "a1", account.KindPersonal, account.Grant{})
	a := e.disconnect(ws, "a1", account.ReasonRevoked)
	key := dueSteps(t, e, a)[0].Key + "#u-olivia"
	ctx := context.Background()
	if ok, err := e.store.ClaimSend(ctx, key, "other", e.clock.Now()); !ok || err != nil {
		t.Fatal(ok, err)
	}
	e.run()
	if err := e.store.ReleaseSend(ctx, key, "other"); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(15 * time.Minute)
	e.run()
	if n := len(e.mails(owner)); n != 1 {
		t.Fatalf("%d emails after the other run released its claim", n)
	}
}

func dueSteps(t *testing.T, e *env, a account.Account) []reminder.Step {
	t.Helper()
	w, _ := e.store.GetWorkspace(context.Background(), ws)
	steps := reminder.Due(a, w.Settings, nil, e.clock.Now())
	if len(steps) == 0 {
		t.Fatal("no step due")
	}
	return steps
}

// TestDeadlineLeavesWorkForTheNextRun: a run whose deadline is near sends nothing and
// says so; the accounts stay due and the next run sends everything.
func TestDeadlineLeavesWorkForTheNextRun(t *testing.T) {
	e := boltEnv(t)
	e.addAccount(ws, "a1", account.KindPersonal, account.Grant{})
	e.disconnect(ws, "a1", account.ReasonRevoked)
	ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(time.Second))
	defer cancel()
	sum, err := e.svc.Run(ctx)
	if err != nil || sum.Complete || len(e.box.All()) != 0 {
		t.Fatalf("run at its deadline: %+v %v", sum, err)
	}
	if sum := e.run(); !sum.Complete || len(e.mails(owner)) != 1 {
		t.Fatalf("next run: %+v", sum)
	}
	runs, _ := e.store.LastRuns(context.Background())
	if len(runs) != 1 || runs[0].Function != FunctionName || runs[0].Counts[CountEmails] != 1 {
		t.Fatalf("run record: %+v", runs)
	}
}

func firstLink(t *testing.T, text, marker string) string {
	t.Helper()
	for _, f := range strings.Fields(text) {
		if strings.Contains(f, marker) && strings.HasPrefix(f, "https://") {
			return strings.TrimRight(f, ".,)>")
		}
	}
	t.Fatalf("no %s link in:\n%s", marker, text)
	return ""
}

// hashOf is the stored hash of a magic link's token (the last path segment).
func hashOf(t *testing.T, link string) string {
	t.Helper()
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	h, err := magiclink.HashToken(u.Path[strings.LastIndex(u.Path, "/")+1:])
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// TestNoRepeatsPastSendRetention: send records live store.SendRetention (400 days);
// an account disconnected for longer must not get its first steps again when their
// records lapse. Runs every 6 hours for 430 days.
func TestNoRepeatsPastSendRetention(t *testing.T) {
	e := boltEnv(t)
	e.addAccount(ws, "a1", account.KindPersonal, account.Grant{})
	e.disconnect(ws, "a1", account.ReasonRevoked)
	e.run()
	e.every(6*time.Hour, 430*24*time.Hour)
	want := days(0, 1, 2, 4, 8, 16)
	for d := 46.0; d <= 430; d += 30 {
		want = append(want, days(d)...)
	}
	sameSchedule(t, "owner", e.arrivals(owner), want, 6*time.Hour)
}

// TestPartitionsShareTheWork: partitions of a sweep (as separate invocations would run
// them) each remind their own shards' accounts; together, everyone once.
func TestPartitionsShareTheWork(t *testing.T) {
	e := boltEnv(t)
	for i := range 40 {
		id := fmt.Sprintf("a%02d", i)
		e.addAccount(ws, id, account.KindPersonal, account.Grant{})
		e.disconnect(ws, id, account.ReasonRevoked)
	}
	total := 0
	for i := range 3 {
		sum, err := e.svc.Handle(context.Background(), []byte(fmt.Sprintf(`{"partition":{"index":%d,"count":3}}`, i)))
		if err != nil {
			t.Fatal(err)
		}
		if sum.Counts[CountAccounts] == 0 || sum.Counts[CountAccounts] == 40 {
			t.Fatalf("partition %d took %d accounts: not a share", i, sum.Counts[CountAccounts])
		}
		total += sum.Counts[CountItems]
	}
	if total != 40 {
		t.Fatalf("%d reminders over the partitions, want 40", total)
	}
	e.clock.Advance(15 * time.Minute)
	if sum := e.run(); sum.Counts[CountAccounts] != 0 {
		t.Fatalf("left due after the partitions: %v", sum.Counts)
	}
	checkOnce(t, e.box.All(), map[string]int{owner: 40})
	if _, err := e.svc.Handle(context.Background(), []byte(`{"partition":{"index":0,"count":99}}`)); relink.ErrorCode(err) != relink.EINVALID {
		t.Fatalf("a partition beyond the shards: %v", err)
	}
}
