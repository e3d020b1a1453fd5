package digest

// Integration tests: the reminders function on the DynamoDB adapter (moto) and
// through the real SES adapter to aws-ses-v2-local. A missing stand-in skips on a
// developer's machine and fails with CI=true (see internal/standin).
//
// The SES stand-in is shared by every test of this binary, and the tests here clear
// it when they start: none of them may run in parallel with another SES test.

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	awsses "github.com/aws/aws-sdk-go-v2/service/ses"

	"github.com/relinkhq/relink/internal/account"
	"github.com/relinkhq/relink/internal/channel"
	"github.com/relinkhq/relink/internal/clock"
	"github.com/relinkhq/relink/internal/dynamo"
	"github.com/relinkhq/relink/internal/ident"
	"github.com/relinkhq/relink/internal/magiclink"
	"github.com/relinkhq/relink/internal/mail"
	"github.com/relinkhq/relink/internal/relink"
	"github.com/relinkhq/relink/internal/reminder"
	"github.com/relinkhq/relink/internal/ses"
	"github.com/relinkhq/relink/internal/standin"
	"github.com/relinkhq/relink/internal/store"
	"github.com/relinkhq/relink/internal/workspace"
)

func TestMain(m *testing.M) { standin.Main(m) }

const sesFrom = "Relink <noreply@relink.example>"

// accountName finds the test accounts named in an email ("Acme a0042").
var accountName = regexp.MustCompile(`Acme (a\d+)`)

// motoStore opens the DynamoDB adapter on a fresh table of the moto stand-in; the
// table is dropped after the test.
func motoStore(t *testing.T, clk clock.Clock) store.Store {
	t.Helper()
	db := dynamodb.NewFromConfig(standin.AWSConfig(standin.Moto(t)))
	name := fmt.Sprintf("relink-digest-%d", time.Now().UnixNano())
	if err := dynamo.CreateTable(context.Background(), db, name); err != nil {
		t.Fatalf("create table: %v", err)
	}
	t.Cleanup(func() {
		_, _ = db.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(name)})
	})
	st, err := dynamo.New(db, name, store.Config{Clock: clk, CursorKey: bytes.Repeat([]byte("c"), 32)})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// flakySender is the real SES adapter behind a switch: while a recipient is listed
// in fail, messages to them fail as an outage would (never reaching SES). It keeps
// the IDs SES answered.
type flakySender struct {
	next mail.Sender

	mu   sync.Mutex
	fail map[string]bool
	ids  []string
}

func (f *flakySender) Send(ctx context.Context, m mail.Message) (string, error) {
	f.mu.Lock()
	for _, to := range append(slices.Clone(m.To), m.Cc...) {
		if f.fail[strings.ToLower(to)] {
			f.mu.Unlock()
			return "", relink.Errorf(relink.EUNAVAILABLE, "The email provider is unavailable; try again later.")
		}
	}
	f.mu.Unlock()
	id, err := f.next.Send(ctx, m)
	if err == nil {
		f.mu.Lock()
		f.ids = append(f.ids, id)
		f.mu.Unlock()
	}
	return id, err
}

func (f *flakySender) failFor(addrs ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail = map[string]bool{}
	for _, a := range addrs {
		f.fail[strings.ToLower(a)] = true
	}
}

func (f *flakySender) sent() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.ids)
}

// sesEnv is the test workspace on DynamoDB (moto), mailing through the real SES
// adapter to aws-ses-v2-local, whose store is emptied first.
func sesEnv(t *testing.T) (*env, *flakySender, string) {
	t.Helper()
	endpoint := standin.SESLocal(t)
	clk := clock.NewManual(t0)
	st := motoStore(t, clk)
	// A fixed rate: aws-ses-v2-local never answers GetSendQuota. The adapter keeps the
	// system clock for its limiter; the manual clock is the function's.
	adapter, err := ses.New(awsses.NewFromConfig(standin.AWSConfig(endpoint)), ses.Config{From: sesFrom, MaxRate: 50})
	if err != nil {
		t.Fatal(err)
	}
	spy := &flakySender{next: adapter}
	e := newEnv(t, st, clk, spy)
	e.seed(ws)
	standin.SESClear(t, endpoint)
	return e, spy, endpoint
}

// copyAdminsAtOnce makes exponential reminders copy subscribed admins from step 1.
func (e *env) copyAdminsAtOnce(wsID string) {
	e.t.Helper()
	w, err := e.store.GetWorkspace(context.Background(), wsID)
	if err != nil {
		e.t.Fatal(err)
	}
	w.Settings.CopyAdminsFromStep = 1
	if _, err := e.store.UpdateWorkspace(context.Background(), w); err != nil {
		e.t.Fatal(err)
	}
}

// byRecipient groups the stand-in's messages by their one To address, checking each
// has exactly one addressee, nobody copied, and Relink's sender.
func byRecipient(t *testing.T, msgs []standin.SESMessage) map[string][]standin.SESMessage {
	t.Helper()
	out := map[string][]standin.SESMessage{}
	for _, m := range msgs {
		if len(m.Destination.To) != 1 || len(m.Destination.Cc) != 0 || len(m.Destination.Bcc) != 0 {
			t.Fatalf("each person gets their own email: %q to %v cc %v bcc %v", m.Subject, m.Destination.To, m.Destination.Cc, m.Destination.Bcc)
		}
		if m.From != sesFrom {
			t.Fatalf("from %q, want %q", m.From, sesFrom)
		}
		out[m.Destination.To[0]] = append(out[m.Destination.To[0]], m)
	}
	return out
}

func recipientsOf(got map[string][]standin.SESMessage) []string {
	var out []string
	for addr, ms := range got {
		for range ms {
			out = append(out, addr)
		}
	}
	sort.Strings(out)
	return out
}

// sameIDs checks that what the stand-in holds is exactly what the adapter reported
// sent.
func sameIDs(t *testing.T, msgs []standin.SESMessage, ids []string) {
	t.Helper()
	var got []string
	for _, m := range msgs {
		got = append(got, m.MessageID)
	}
	slices.Sort(got)
	ids = slices.Clone(ids)
	slices.Sort(ids)
	if !slices.Equal(got, ids) {
		t.Fatalf("the stand-in holds messages %v, the adapter reported %v", got, ids)
	}
}

// checkUnsubscribe checks the email's opt-out link is signed for its recipient.
func (e *env) checkUnsubscribe(m standin.SESMessage, userID string) {
	e.t.Helper()
	link := firstLink(e.t, m.Body.Text, "/unsubscribe?t=")
	u, err := url.Parse(link)
	if err != nil {
		e.t.Fatal(err)
	}
	wsID, uid, ok := e.svc.Unsubscribe.Open(u.Query().Get("t"))
	if !ok || wsID != ws || uid != userID {
		e.t.Fatalf("the opt-out link %s opens as (%q, %q, %v), want %s's", link, wsID, uid, ok, userID)
	}
	if !strings.Contains(m.Body.HTML, "/unsubscribe?t=") {
		e.t.Fatalf("the HTML body of %q has no opt-out link", m.Subject)
	}
}

// checkOwnerLink checks the owner's email carries a stored personal reconnect link.
func (e *env) checkOwnerLink(m standin.SESMessage) {
	e.t.Helper()
	link := firstLink(e.t, m.Body.Text, "/l/")
	l, err := e.store.GetLink(context.Background(), hashOf(e.t, link))
	if err != nil {
		e.t.Fatalf("the email's link %s is not stored: %v", link, err)
	}
	if l.WorkspaceID != ws || l.UserID != "u-olivia" || l.Purpose != magiclink.PurposeReconnect || !strings.EqualFold(l.Email, owner) {
		e.t.Fatalf("the owner's link is someone else's: %+v", l)
	}
	if !strings.Contains(m.Body.HTML, link) {
		e.t.Fatalf("the HTML body lacks the personal link %s", link)
	}
}

func noPersonalLink(t *testing.T, m standin.SESMessage) {
	t.Helper()
	if strings.Contains(m.Body.Text, "/l/") || strings.Contains(m.Body.HTML, "/l/") {
		t.Fatalf("a copied admin (%s) got a personal link:\n%s", m.Destination.To[0], m.Body.Text)
	}
}

// expiry is a hard token expiry inside the warning window: the pre-expiry weekly step
// of t0 (a Monday 09:00) is due at once.
var expiry = t0.Add(15*24*time.Hour + 3*time.Hour) // Tuesday 8 December, 12:00 UTC

// TestRemindersThroughSES: two disconnected personal accounts and an expiring company
// account, admins copied from step 1, one run on DynamoDB through the SES adapter:
// aws-ses-v2-local receives one email per person, addressed to them alone, with the
// subjects the letters word; the owner's carries a stored personal link, the copied
// admins' do not; every email has the recipient's own opt-out link. A second run 15
// minutes later sends nothing.
func TestRemindersThroughSES(t *testing.T) {
	start := time.Now()
	e, spy, endpoint := sesEnv(t)
	e.copyAdminsAtOnce(ws)
	e.addAccount(ws, "a1", account.KindPersonal, account.Grant{})
	e.addAccount(ws, "a2", account.KindPersonal, account.Grant{})
	e.addAccount(ws, "a3", account.KindCompany, account.Grant{TokenExpiresAt: expiry})
	e.disconnect(ws, "a1", account.ReasonRevoked)
	e.disconnect(ws, "a2", account.ReasonPasswordChanged)

	sum := e.run()
	// Olivia and Ada (subscribed, copied from step 1) hear of all three; Pat and
	// Quentin, admins who did not subscribe, only of the company account's expiry.
	if sum.Counts[CountEmails] != 4 || sum.Counts[CountItems] != 8 || sum.Counts[CountFailed] != 0 {
		t.Fatalf("run: %v", sum.Counts)
	}
	msgs := standin.SESMessages(t, endpoint, time.Time{})
	sameIDs(t, msgs, spy.sent())
	got := byRecipient(t, msgs)
	if r, want := recipientsOf(got), []string{ada, owner, primary, quiet}; !slices.Equal(r, want) {
		t.Fatalf("recipients %v, want one email each to %v", r, want)
	}
	expiring := mail.DigestLetter{Items: []mail.DigestItem{{Account: "Acme a3", Channel: "Facebook Pages", Kind: "expiring", Deadline: expiry}}}.Subject()
	for addr, subject := range map[string]string{
		owner:   "3 accounts in Acme Brands need attention",
		ada:     "3 accounts in Acme Brands need attention",
		primary: expiring,
		quiet:   expiring,
	} {
		if s := got[addr][0].Subject; s != subject {
			t.Errorf("%s: subject %q, want %q", addr, s, subject)
		}
	}
	if expiring != "Update required: Acme a3 on Facebook Pages stops working on 8 December" {
		t.Errorf("expiry subject %q", expiring)
	}
	own := got[owner][0]
	for _, want := range []string{"Acme a1", "Acme a2", "Acme a3", "password", "Reconnect"} {
		if !strings.Contains(own.Body.Text, want) {
			t.Fatalf("the owner's digest lacks %q:\n%s", want, own.Body.Text)
		}
	}
	e.checkOwnerLink(own)
	for addr, uid := range map[string]string{owner: "u-olivia", ada: "u-ada", primary: "u-pat", quiet: "u-quentin"} {
		m := got[addr][0]
		e.checkUnsubscribe(m, uid)
		if addr != owner {
			noPersonalLink(t, m)
			if !strings.Contains(m.Body.Text, "You are copied") || !strings.Contains(m.Body.Text, "owner: Olivia") {
				t.Fatalf("%s's copy does not say it is a copy of Olivia's:\n%s", addr, m.Body.Text)
			}
		}
	}

	e.clock.Advance(15 * time.Minute)
	if sum := e.run(); sum.Counts[CountEmails] != 0 || sum.Counts[CountItems] != 0 {
		t.Fatalf("second run: %v", sum.Counts)
	}
	if after := standin.SESMessages(t, endpoint, time.Time{}); len(after) != len(msgs) {
		t.Fatalf("the second run sent %d more emails", len(after)-len(msgs))
	}
	sameIDs(t, msgs, spy.sent())
	if strings.Contains(e.logs.String(), `"level":"ERROR"`) {
		t.Fatalf("errors logged:\n%s", e.logs.String())
	}
	t.Logf("took %v", time.Since(start).Round(time.Millisecond))
}

// TestSESFailureRetriedNextRun: the provider is down for the owner and the primary
// admin during the first run: they get nothing then, the others get theirs; the next
// run (15 minutes later) sends each of the two exactly one email and nobody else a
// second one; a third run sends nothing.
func TestSESFailureRetriedNextRun(t *testing.T) {
	start := time.Now()
	e, spy, endpoint := sesEnv(t)
	e.copyAdminsAtOnce(ws)
	e.addAccount(ws, "a1", account.KindPersonal, account.Grant{})
	e.addAccount(ws, "a3", account.KindCompany, account.Grant{TokenExpiresAt: expiry})
	e.disconnect(ws, "a1", account.ReasonRevoked)

	spy.failFor(owner, primary)
	sum := e.run()
	// Olivia: a1 and a3; Pat: a3 (failed). Ada: a1 and a3; Quentin: a3 (sent).
	if sum.Counts[CountFailed] != 3 || sum.Counts[CountEmails] != 2 || sum.Counts[CountItems] != 3 {
		t.Fatalf("run during the outage: %v", sum.Counts)
	}
	run1 := standin.SESMessages(t, endpoint, time.Time{})
	sameIDs(t, run1, spy.sent())
	if r, want := recipientsOf(byRecipient(t, run1)), []string{ada, quiet}; !slices.Equal(r, want) {
		t.Fatalf("during the outage: recipients %v, want %v", r, want)
	}
	for _, id := range []string{"a1", "a3"} {
		if a, err := e.store.GetAccount(context.Background(), ws, id); err != nil || !a.RemindAt.Equal(e.clock.Now()) {
			t.Fatalf("%s: an unsettled step must keep the account due: remind %v (%v)", id, a.RemindAt, err)
		}
	}

	spy.failFor()
	e.clock.Advance(15 * time.Minute)
	sum = e.run()
	if sum.Counts[CountFailed] != 0 || sum.Counts[CountEmails] != 2 || sum.Counts[CountItems] != 3 || sum.Counts[CountTaken] != 3 {
		t.Fatalf("run after the outage: %v", sum.Counts)
	}
	all := standin.SESMessages(t, endpoint, time.Time{})
	sameIDs(t, all, spy.sent())
	got := byRecipient(t, all)
	if r, want := recipientsOf(got), []string{ada, owner, primary, quiet}; !slices.Equal(r, want) {
		t.Fatalf("after the outage: recipients %v, want one email each to %v", r, want)
	}
	if s := got[owner][0].Subject; s != "2 accounts in Acme Brands need attention" {
		t.Fatalf("the owner's retried digest: subject %q", s)
	}
	e.checkOwnerLink(got[owner][0])
	e.checkUnsubscribe(got[primary][0], "u-pat")
	noPersonalLink(t, got[primary][0])

	e.clock.Advance(15 * time.Minute)
	if sum := e.run(); sum.Counts[CountEmails] != 0 || sum.Counts[CountFailed] != 0 {
		t.Fatalf("third run: %v", sum.Counts)
	}
	if n := len(standin.SESMessages(t, endpoint, time.Time{})); n != len(all) {
		t.Fatalf("the third run sent %d more emails", n-len(all))
	}
	t.Logf("took %v", time.Since(start).Round(time.Millisecond))
}

// loadAccounts is how many accounts TestConcurrentRunsOnDynamoDB creates unless
// RELINK_DIGEST_LOAD_ACCOUNTS says otherwise. moto serves one request at a time (a
// few milliseconds each), and every account costs a few requests per run and
// recipient: 1,000 accounts take a minute or two. Pages of 25 make every shard's
// remind index take several pages.
const loadAccounts = 1000

// TestConcurrentRunsOnDynamoDB: disconnected accounts (1,000 by default) of five owners
// in two workspaces on DynamoDB (moto); two separate services run at once over them,
// reading the remind index in pages of 25, then one more run settles what a concurrent
// run left open. Every (recipient, account) — each owner for their accounts, the
// subscribed admin of the first workspace for its accounts — is reached exactly once,
// nothing fails, and nothing stays due.
func TestConcurrentRunsOnDynamoDB(t *testing.T) {
	n := loadAccounts
	if v := os.Getenv("RELINK_DIGEST_LOAD_ACCOUNTS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 || n > 10000 {
			t.Fatalf("RELINK_DIGEST_LOAD_ACCOUNTS=%q: want 1 to 10000", v)
		}
	}
	start := time.Now()
	clk := clock.NewManual(t0)
	st := motoStore(t, clk)
	e := newEnv(t, st, clk, nil)
	e.seed(ws)
	e.copyAdminsAtOnce(ws)
	ctx := context.Background()

	// Two more owners in ws1; a second workspace with two owners and a primary admin
	// who is not copied on exponential reminders.
	const ws2 = "ws2"
	if _, err := st.CreateWorkspace(ctx, workspace.Workspace{ID: ws2, Name: "Beta Brands", Settings: workspace.DefaultSettings(),
		CreatedAt: t0, UpdatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	for _, u := range []workspace.User{
		{WorkspaceID: ws, ID: "u-owen", Name: "Owen", Email: "owen@acme.example", Role: workspace.RoleOwner},
		{WorkspaceID: ws, ID: "u-oona", Name: "Oona", Email: "oona@acme.example", Role: workspace.RoleOwner},
		{WorkspaceID: ws2, ID: "u-bea", Name: "Bea", Email: "bea@beta.example", Role: workspace.RoleOwner},
		{WorkspaceID: ws2, ID: "u-bo", Name: "Bo", Email: "bo@beta.example", Role: workspace.RoleOwner},
		{WorkspaceID: ws2, ID: "u-pia", Name: "Pia", Email: "pia@beta.example", Role: workspace.RolePrimaryAdmin},
	} {
		u.CreatedAt, u.UpdatedAt = t0, t0
		if _, err := st.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	type owned struct{ ws, id, email string }
	owners := []owned{{ws, "u-olivia", owner}, {ws, "u-owen", "owen@acme.example"}, {ws, "u-oona", "oona@acme.example"},
		{ws2, "u-bea", "bea@beta.example"}, {ws2, "u-bo", "bo@beta.example"}}

	// want holds every (recipient, account) that must be reached exactly once.
	want := map[string]int{}
	specs := make([]account.Spec, n)
	for i := range n {
		o := owners[i%len(owners)]
		id := fmt.Sprintf("a%04d", i)
		specs[i] = account.Spec{WorkspaceID: o.ws, ID: id, Channel: "facebook", ExternalID: "page-" + id,
			DisplayName: "Acme " + id, OwnerID: o.id, Kind: account.KindPersonal}
		want[o.email+" "+id] = 0
		if o.ws == ws {
			want[ada+" "+id] = 0
		}
	}
	seeded := time.Now()
	accounts := createDisconnected(t, e, specs)
	t.Logf("seeded %d disconnected accounts in %v", n, time.Since(seeded).Round(time.Millisecond))

	// A second service: same store and mailbox, its own state and IDs.
	other := &Service{Store: st, Registry: e.svc.Registry, Links: e.svc.Links, Unsubscribe: e.svc.Unsubscribe,
		Mail: e.svc.Mail, Clock: clk, IDs: ident.NewULID(clk.Now), Logger: e.svc.Logger}
	e.svc.PageSize, other.PageSize = 25, 25
	ran := time.Now()
	sums := make([]Summary, 2)
	var wg sync.WaitGroup
	for i, svc := range []*Service{e.svc, other} {
		wg.Go(func() {
			sum, err := svc.Run(ctx)
			if err != nil {
				t.Error(err)
			}
			sums[i] = sum
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	concurrent := time.Since(ran)
	e.clock.Advance(15 * time.Minute)
	settle := e.run()
	for _, s := range append(sums, settle) {
		t.Logf("run %s: %v", s.ID, s.Counts)
	}
	t.Logf("two concurrent runs took %v, the settling run %v", concurrent.Round(time.Millisecond),
		(time.Since(ran) - concurrent).Round(time.Millisecond))

	items, emails := 0, 0
	for _, s := range append(sums, settle) {
		if !s.Complete || s.Counts[CountFailed] != 0 || s.Counts[CountUncertain] != 0 || s.Counts[CountRejected] != 0 {
			t.Fatalf("run %s: complete %v, %v", s.ID, s.Complete, s.Counts)
		}
		items += s.Counts[CountItems]
		emails += s.Counts[CountEmails]
	}
	if items != len(want) {
		t.Fatalf("the runs sent %d (step, recipient) pairs between them, want %d", items, len(want))
	}

	mails := e.box.All()
	mailOf := map[string]string{} // (recipient, account) → the email that told them
	if len(mails) != emails {
		t.Fatalf("%d emails in the mailbox, the runs counted %d", len(mails), emails)
	}
	// Each account has one step due (step 1), so (recipient, account) is (recipient,
	// account, step).
	for _, m := range mails {
		if len(m.To) != 1 || len(m.Cc) != 0 {
			t.Fatalf("each person gets their own email: to %v cc %v", m.To, m.Cc)
		}
		names := map[string]bool{}
		for _, f := range accountName.FindAllStringSubmatch(m.Text, -1) {
			names[f[1]] = true
		}
		for id := range names {
			k := m.To[0] + " " + id
			if _, ok := want[k]; !ok {
				t.Fatalf("%s was told of %s, which is not theirs to hear of", m.To[0], id)
			}
			want[k]++
			mailOf[k] = m.ID
		}
	}
	var wrong []string
	for k, c := range want {
		if c != 1 {
			wrong = append(wrong, fmt.Sprintf("%s: %d", k, c))
		}
	}
	sort.Strings(wrong)
	if len(wrong) > 0 {
		t.Fatalf("%d (recipient, account) pairs not reached exactly once, e.g. %v", len(wrong), wrong[:min(10, len(wrong))])
	}

	// The store agrees: each (step, recipient) is recorded sent once, with the ID of
	// the email that carries it; each step is marked done.
	userOf := map[string]string{ada: "u-ada"}
	for _, o := range owners {
		userOf[o.email] = o.id
	}
	for _, a := range accounts {
		steps := reminder.Due(a, workspace.DefaultSettings(), nil, t0)
		if len(steps) != 1 {
			t.Fatalf("%s: %d steps due at t0, want 1", a.ID, len(steps))
		}
		if _, err := st.GetSend(ctx, steps[0].Key); err != nil {
			t.Fatalf("%s: step not marked done: %v", a.ID, err)
		}
		for k, id := range mailOf {
			addr, acct, _ := strings.Cut(k, " ")
			if acct != a.ID {
				continue
			}
			rec, err := st.GetSend(ctx, steps[0].Key+"#"+userOf[addr])
			if err != nil || rec.State != store.SendSent || rec.MessageID != id {
				t.Fatalf("%s to %s: record %+v (%v), want sent as %s", a.ID, addr, rec, err, id)
			}
		}
	}

	// Nothing stays due: every account was rescheduled to its next step.
	e.clock.Advance(15 * time.Minute)
	if sum := e.run(); sum.Counts[CountAccounts] != 0 || sum.Counts[CountEmails] != 0 {
		t.Fatalf("a run after settling: %v", sum.Counts)
	}
	if strings.Contains(e.logs.String(), `"level":"ERROR"`) {
		t.Fatalf("errors logged:\n%.4000s", e.logs.String())
	}
	t.Logf("took %v", time.Since(start).Round(time.Millisecond))
}

// createDisconnected creates the accounts connected with every permission and
// disconnects each (the token was revoked), 16 at a time.
func createDisconnected(t *testing.T, e *env, specs []account.Spec) []account.Account {
	t.Helper()
	ch, err := e.svc.Registry.Get("facebook")
	if err != nil {
		t.Fatal(err)
	}
	var grant account.Grant
	for _, p := range ch.Permissions {
		if p.Kind == channel.KindScope {
			grant.Scopes = append(grant.Scopes, p.Name)
		} else {
			grant.Tasks = append(grant.Tasks, p.Name)
		}
	}
	grant.Missing = ch.Diagnose(grant.Scopes, grant.Tasks)
	ctx := context.Background()
	out := make([]account.Account, len(specs))
	one := func(i int, spec account.Spec) error {
		g := grant
		g.Scopes, g.Tasks = slices.Clone(grant.Scopes), slices.Clone(grant.Tasks)
		spec.Grant = &g
		actor := account.SystemActor("test")
		c, err := account.New(spec, account.Command{Actor: actor, At: e.clock.Now(), EventID: e.ids.New()})
		if err != nil {
			return err
		}
		if err := e.store.CreateAccount(ctx, c); err != nil {
			return fmt.Errorf("create %s: %w", spec.ID, err)
		}
		d, err := account.Transition(c.After, account.Command{Action: account.ActDisconnect, Reason: account.ReasonRevoked,
			Actor: actor, At: e.clock.Now(), EventID: e.ids.New()})
		if err != nil {
			return err
		}
		if err := e.store.Apply(ctx, d); err != nil {
			return fmt.Errorf("disconnect %s: %w", spec.ID, err)
		}
		out[i] = d.After
		return nil
	}
	jobs := make(chan int)
	errs := make(chan error, 16)
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for i := range jobs {
				if err := one(i, specs[i]); err != nil {
					select {
					case errs <- err:
					default:
					}
				}
			}
		})
	}
	for i := range specs {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
	return out
}
