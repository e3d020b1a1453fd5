package faults

// Fault 7: both scheduled functions twice at once (four processes: two expiry
// checks, two reminders runs, each with its own DynamoDB client and SES sender) over
// a few hundred sandbox accounts on moto. Half are due for renewal, some were revoked
// at the channel, some are disconnected already. Nobody may be disconnected but the
// revoked; each refresh token may be spent once (the sandbox refuses a rotated-out
// one, as careful channels revoke the grant); every reminder goes out exactly once.

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/relinkhq/relink/internal/account"
	"github.com/relinkhq/relink/internal/channel"
	"github.com/relinkhq/relink/internal/checkup"
	"github.com/relinkhq/relink/internal/connect"
	"github.com/relinkhq/relink/internal/digest"
	"github.com/relinkhq/relink/internal/sandbox"
	"github.com/relinkhq/relink/internal/standin"
	"github.com/relinkhq/relink/internal/vault"
	"github.com/relinkhq/relink/internal/workspace"
)

// loadAccounts is how many sandbox accounts TestBothFunctionsTwiceUnderLoad creates
// unless RELINK_FAULTS_LOAD_ACCOUNTS says otherwise (moto serves one request at a
// time, ~5–10 ms each on the project machine; each account costs a few per run).
const loadAccounts = 200

func TestBothFunctionsTwiceUnderLoad(t *testing.T) {
	n := loadAccounts
	if v := os.Getenv("RELINK_FAULTS_LOAD_ACCOUNTS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 20 || n > 5000 {
			t.Fatalf("RELINK_FAULTS_LOAD_ACCOUNTS=%q: want 20 to 5000", v)
		}
	}
	start := time.Now()
	clk := newManual()
	tb := newTable(t, clk)
	c := newChannel(t, clk)
	sesURL := standin.SESLocal(t)
	standin.SESClear(t, sesURL)
	ctx := context.Background()

	// Three workspaces, two owners each; the first copies its subscribed admin on
	// every reminder from step 1.
	type owned struct {
		ws string
		p  person
	}
	var owners []owned
	admins := map[string]person{}
	for i, w := range []string{"ws-a", "ws-b", "ws-c"} {
		ps := []person{
			{fmt.Sprintf("u-%s-1", w), "Owner One", fmt.Sprintf("one@%s.example", w), workspace.RoleOwner, false},
			{fmt.Sprintf("u-%s-2", w), "Owner Two", fmt.Sprintf("two@%s.example", w), workspace.RoleOwner, false},
		}
		admin := person{fmt.Sprintf("u-%s-admin", w), "Admin", fmt.Sprintf("admin@%s.example", w), workspace.RoleAdmin, true}
		admins[w] = admin
		seedWorkspace(t, tb.clean, w, "Brands "+strconv.Itoa(i), append(ps, admin)...)
		for _, p := range ps {
			owners = append(owners, owned{w, p})
		}
	}
	wsA, err := tb.clean.GetWorkspace(ctx, "ws-a")
	if err != nil {
		t.Fatal(err)
	}
	wsA.Settings.CopyAdminsFromStep = 1
	if _, err := tb.clean.UpdateWorkspace(ctx, wsA); err != nil {
		// One conditional PutItem: a retry after a lost answer finds its own write.
		if got, gerr := tb.clean.GetWorkspace(ctx, "ws-a"); gerr != nil || got.Settings.CopyAdminsFromStep != 1 {
			t.Fatal(err)
		}
	}

	// The accounts: due (connected 45 minutes ago: the hour-long token lapses within
	// the run's hour), fresh (connected now: not due), disconnected; one in ten of
	// the due ones and five fresh ones revoked at the sandbox afterwards.
	type spec struct {
		ws, id, owner, grant string
		tokens               vault.Tokens
		g                    account.Grant
		due, revoked         bool
	}
	nDue := n / 2
	nDead := n / 10
	nFresh := n - nDue - nDead
	var specs []*spec
	issue := func(prefix string, count int, due bool) {
		for i := range count {
			o := owners[len(specs)%len(owners)]
			tok, g, grant := c.issue("sandbox-omar")
			specs = append(specs, &spec{ws: o.ws, id: fmt.Sprintf("%s%03d", prefix, i), owner: o.p.id, grant: grant, tokens: tok, g: g, due: due})
		}
	}
	clk.Set(t0.Add(-45 * time.Minute))
	issue("l", nDue, true)
	// Two more logins through the consent flow: a login with two pages (they share a
	// refresh token) and one with one page.
	conn := c.connectService(tb.clean)
	var consented []account.Account
	for _, profile := range []string{"sandbox-olivia", "sandbox-omar"} {
		consented = append(consented, c.consent(conn, connect.Who{WorkspaceID: "ws-a", UserID: owners[0].p.id, Role: workspace.RoleOwner}, profile)...)
	}
	clk.Set(t0)
	issue("f", nFresh, false)
	parallel(t, len(specs), 8, func(i int) error {
		s := specs[i]
		if !s.due {
			_, err := c.tryAddAccount(tb.clean, s.ws, s.id, s.owner, s.tokens, s.g)
			return err
		}
		// Created 45 minutes ago, as its tokens were.
		return addAt(c, tb, s.ws, s.id, s.owner, s.tokens, s.g, t0.Add(-45*time.Minute))
	})
	var want []string // (recipient, account) pairs to be told exactly once
	troubled := func(ws, owner, id string) {
		for _, o := range owners {
			if o.p.id == owner {
				want = append(want, o.p.email+" "+id)
			}
		}
		if ws == "ws-a" {
			want = append(want, admins[ws].email+" "+id)
		}
	}
	parallel(t, nDead, 8, func(i int) error {
		o := owners[i%len(owners)]
		_, err := addDisconnected(tb.clean, clk, o.ws, fmt.Sprintf("x%03d", i), o.p.id)
		return err
	})
	for i := range nDead {
		o := owners[i%len(owners)]
		troubled(o.ws, o.p.id, fmt.Sprintf("x%03d", i))
	}
	revokedFresh := 0
	for i, s := range specs {
		if s.due && i%10 == 3 || !s.due && revokedFresh < 5 {
			if !s.due {
				revokedFresh++
			}
			s.revoked = true
			if err := c.sandbox.Act(s.grant, sandbox.ActRevoke, ""); err != nil {
				t.Fatal(err)
			}
			if s.due {
				troubled(s.ws, s.owner, s.id)
			}
		}
	}
	versions := map[string]int64{}
	for _, s := range specs {
		a, err := tb.clean.GetAccount(ctx, s.ws, s.id)
		if err != nil || (a.DueAt.After(t0) == s.due) {
			t.Fatalf("%s: due %v at %v (want due: %v) %v", s.id, a.DueAt, t0, s.due, err)
		}
		versions[s.id] = a.Version
	}
	seeded := time.Since(start)
	refreshOK0, _, _ := c.renewals()

	// Four processes at once: two expiry checks, two reminders runs.
	logs := &syncBuffer{}
	var checks []*checkup.Service
	var reminders []*digest.Service
	var transports []*ddbFaults
	for range 2 {
		f := newDDBFaults()
		transports = append(transports, f)
		checks = append(checks, c.checkupService(tb.open(f), c.client(10*time.Second), logs))
	}
	for range 2 {
		f := newDDBFaults()
		transports = append(transports, f)
		reminders = append(reminders, digestService(c.reg, tb.open(f), clk, sesSender(t, sesURL, nil, 50, nil), logs))
	}
	checkSums := make([]checkup.Summary, 2)
	remindSums := make([]digest.Summary, 2)
	ran := time.Now()
	var wg sync.WaitGroup
	for i := range 2 {
		wg.Go(func() {
			sum, err := checks[i].Run(ctx)
			if err != nil {
				t.Error(err)
			}
			checkSums[i] = sum
		})
		wg.Go(func() {
			sum, err := reminders[i].Run(ctx)
			if err != nil {
				t.Error(err)
			}
			remindSums[i] = sum
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	concurrent := time.Since(ran)
	// A quarter of an hour later: each function once more (the schedule), which settles
	// what the concurrent runs left open (accounts a run found changed meanwhile, the
	// reminders of accounts disconnected while the reminders ran).
	clk.Advance(15 * time.Minute)
	settleCheck, err := checks[0].Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	settleRemind, err := reminders[0].Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	total := time.Since(ran)
	c.mu.Lock()
	channelCalls := c.calls
	c.mu.Unlock()

	// Nobody disconnected but the revoked and due; every other due account renewed,
	// holding live tokens (the sandbox says the stored refresh token is its current
	// one); the others untouched.
	disconnected := 0
	for _, s := range specs {
		a, err := tb.clean.GetAccount(ctx, s.ws, s.id)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case s.due && s.revoked:
			if a.State != account.StateDisconnected || a.Reason != account.ReasonRevoked {
				t.Fatalf("%s (revoked): %s %s", s.id, a.State, a.Reason)
			}
			disconnected++
		case s.due:
			tok := c.tokensOf(tb.clean, s.ws, s.id)
			if a.State != account.StateActive || a.TransientFailures != 0 || tok.Refresh.Reveal() == s.tokens.Refresh.Reveal() {
				t.Fatalf("%s (due): %s %s, %d failures, renewed %v", s.id, a.State, a.Reason, a.TransientFailures,
					tok.Refresh.Reveal() != s.tokens.Refresh.Reveal())
			}
			if !c.live(tok.Refresh.Reveal()) || !c.live(tok.Access.Reveal()) {
				t.Fatalf("%s: the stored tokens are not the channel's current ones", s.id)
			}
		default:
			if a.State != account.StateActive || a.Version > versions[s.id]+2 { // at most the reminders' bookkeeping
				t.Fatalf("%s (not due): %s v%d (was v%d)", s.id, a.State, a.Version, versions[s.id])
			}
			if tok := c.tokensOf(tb.clean, s.ws, s.id); tok.Refresh.Reveal() != s.tokens.Refresh.Reveal() {
				t.Fatalf("%s (not due) was renewed", s.id)
			}
		}
	}
	for _, a := range consented {
		got, _ := tb.clean.GetAccount(ctx, a.WorkspaceID, a.ID)
		tok := c.tokensOf(tb.clean, a.WorkspaceID, a.ID)
		if got.State != account.StateActive || !c.live(tok.Refresh.Reveal()) {
			t.Fatalf("%s (consented, %s): %s %s, live %v", a.ID, a.ParentProfileID, got.State, got.Reason, c.live(tok.Refresh.Reveal()))
		}
	}
	// Each refresh token was presented once: no reuse, the revoked ones refused once.
	ok, refused, reused := c.renewals()
	if len(reused) != 0 || refused != disconnected {
		t.Fatalf("renewals: %d ok, %d refused (want %d), reused %v", ok-refreshOK0, refused, disconnected, reused)
	}
	// Every reminder exactly once.
	msgs := standin.SESMessages(t, sesURL, time.Time{})
	exactlyOnce(t, tally(t, msgs), want)
	emails := 0
	for _, s := range append(remindSums, settleRemind) {
		if s.Counts[digest.CountFailed] != 0 || s.Counts[digest.CountUncertain] != 0 {
			t.Fatalf("reminders run %s: %v", s.ID, s.Counts)
		}
		emails += s.Counts[digest.CountEmails]
	}
	if emails != len(msgs) {
		t.Fatalf("the runs counted %d emails, SES holds %d", emails, len(msgs))
	}
	requests := 0
	for _, f := range transports {
		r, _ := f.counts()
		requests += r
	}
	t.Logf("load: %d sandbox accounts + %d via consent (%d due, %d revoked and due, %d disconnected already), seeded in %v",
		len(specs), len(consented), nDue, disconnected, nDead, seeded.Round(time.Millisecond))
	t.Logf("two expiry checks and two reminders runs at once: %v; the settling runs: %v; %d DynamoDB requests, %d channel calls, %d renewals, %d emails",
		concurrent.Round(time.Millisecond), (total - concurrent).Round(time.Millisecond), requests, channelCalls, ok-refreshOK0, len(msgs))
	for i, s := range checkSums {
		t.Logf("expiry check %d: %v", i+1, s.Counts)
	}
	t.Logf("expiry check, settling: %v", settleCheck.Counts)
	for i, s := range remindSums {
		t.Logf("reminders %d: %v", i+1, s.Counts)
	}
	t.Logf("reminders, settling: %v", settleRemind.Counts)
	if lines := errorLines(logs.String()); len(lines) > 0 {
		t.Logf("%d error lines, e.g. %s", len(lines), lines[0])
	}
}

// addAt stores a connected sandbox account as if created at `at`.
func addAt(c *chanEnv, tb *table, ws, id, owner string, tokens vault.Tokens, g account.Grant, at time.Time) error {
	sealed, err := c.vault.SealTokens(context.Background(), tokens, vault.AccountBinding(ws, id))
	if err != nil {
		return err
	}
	if err := tb.clean.PutTokens(context.Background(), ws, id, sealed); err != nil {
		return err
	}
	ch, err := account.New(account.Spec{WorkspaceID: ws, ID: id, Channel: channel.SandboxID, ExternalID: "ext-" + id,
		DisplayName: "Brand " + id, OwnerID: owner, Kind: account.KindCompany, Grant: &g},
		account.Command{Actor: account.SystemActor("test"), At: at, EventID: "create-" + id})
	if err != nil {
		return err
	}
	return tb.clean.CreateAccount(context.Background(), ch)
}

// live asks the sandbox (RFC 7662) whether a token is active: for a refresh token,
// that it is the grant's current one, not rotated out.
func (c *chanEnv) live(token string) bool {
	resp, err := c.srv.Client().PostForm(c.srv.URL+"/sandbox/oauth/introspect", url.Values{
		"token": {token}, "client_id": {"relink-local"}, "client_secret": {sandbox.ClientSecret}})
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	var got struct{ Active bool }
	if err := jsonDecode(resp.Body, &got); err != nil {
		c.t.Fatal(err)
	}
	return got.Active
}
