package checkup

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/relinkhq/relink/internal/account"
	"github.com/relinkhq/relink/internal/bolt"
	"github.com/relinkhq/relink/internal/channel"
	"github.com/relinkhq/relink/internal/clock"
	"github.com/relinkhq/relink/internal/connect"
	"github.com/relinkhq/relink/internal/ident"
	"github.com/relinkhq/relink/internal/probe"
	"github.com/relinkhq/relink/internal/relink"
	"github.com/relinkhq/relink/internal/sandbox"
	"github.com/relinkhq/relink/internal/store"
	"github.com/relinkhq/relink/internal/sweep"
	"github.com/relinkhq/relink/internal/vault"
	"github.com/relinkhq/relink/internal/workspace"
)

var t0 = time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)

const ws = "ws1"

type creds struct{}

func (creds) Credentials(context.Context, string) (channel.Credentials, error) {
	return channel.Credentials{ClientID: "relink-local", ClientSecret: vault.Secret(sandbox.ClientSecret)}, nil
}

type ring struct{ r vault.KeyRing }

func (r ring) KeyRing(context.Context) (vault.KeyRing, error) { return r.r, nil }

// env is the expiry check over the embedded store, with the sandbox channel as the
// platform: real OAuth, rotating refresh tokens, RFC 7662 introspection. A switch
// makes every sandbox call answer 503 (an outage), and in-flight calls are counted.
type env struct {
	t       *testing.T
	store   store.Store
	clock   *clock.Manual
	sandbox *sandbox.Server
	srv     *httptest.Server
	svc     *Service
	connect *connect.Service
	vault   *vault.Vault
	logs    *bytes.Buffer

	outage   atomic.Bool
	inFlight atomic.Int32
	maxSeen  atomic.Int32
	hold     atomic.Pointer[chan struct{}] // when set, sandbox calls wait on it (to observe concurrency)
}

func newEnv(t *testing.T) *env {
	t.Helper()
	clk := clock.NewManual(t0)
	st, err := bolt.Open(filepath.Join(t.TempDir(), "relink.db"), store.Config{Clock: clk, CursorKey: bytes.Repeat([]byte("c"), 32)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e := &env{t: t, store: st, clock: clk, sandbox: sandbox.New(clk, rand.Reader), logs: &bytes.Buffer{}}
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := e.inFlight.Add(1)
		defer e.inFlight.Add(-1)
		for {
			m := e.maxSeen.Load()
			if n <= m || e.maxSeen.CompareAndSwap(m, n) {
				break
			}
		}
		if h := e.hold.Load(); h != nil && r.URL.Path != "/sandbox/oauth/authorize" {
			<-*h
		}
		if e.outage.Load() && r.URL.Path != "/sandbox/oauth/authorize" {
			http.Error(w, `{"error":"temporarily_unavailable"}`, http.StatusServiceUnavailable)
			return
		}
		e.sandbox.ServeHTTP(w, r)
	}))
	t.Cleanup(e.srv.Close)
	reg, err := channel.NewRegistry(channel.Sandbox(e.srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := vault.GenerateKeyRing("k1")
	kr, _ := vault.ParseKeyRing(raw)
	e.vault = vault.New(ring{kr})
	ids := ident.NewULID(clk.Now)
	e.connect = &connect.Service{Store: st, Registry: reg, Credentials: creds{},
		Identifiers: map[string]connect.Identifier{channel.SandboxID: connect.SandboxIdentifier{HTTP: e.srv.Client()}},
		Vault:       e.vault, Clock: clk, IDs: ids, Random: rand.Reader, BaseURL: "https://relink.example", HTTP: e.srv.Client()}
	e.svc = &Service{Store: st, Registry: reg, Vault: e.vault, Prober: &probe.Prober{HTTP: e.srv.Client(), Credentials: creds{}, Clock: clk,
		Renewals: &probe.StoreRenewals{Sends: st, Clock: clk, IDs: ids}},
		Clock: clk, IDs: ids, Logger: slog.New(slog.NewJSONHandler(e.logs, nil)), RatePerChannel: 1000}
	ctx := context.Background()
	if _, err := st.CreateWorkspace(ctx, workspace.Workspace{ID: ws, Name: "Acme", Settings: workspace.DefaultSettings(), CreatedAt: t0, UpdatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateUser(ctx, workspace.User{WorkspaceID: ws, ID: "u-olivia", Email: "olivia@acme.example", Role: workspace.RoleOwner}); err != nil {
		t.Fatal(err)
	}
	return e
}

// connectSandbox connects the sandbox profile's pages through a real consent.
func (e *env) connectSandbox(profile string, refuse ...string) []account.Account {
	e.t.Helper()
	ctx := context.Background()
	u, err := e.connect.Start(ctx, connect.Who{WorkspaceID: ws, UserID: "u-olivia", Role: workspace.RoleOwner}, channel.SandboxID, "")
	if err != nil {
		e.t.Fatal(err)
	}
	au, _ := url.Parse(u)
	form := au.Query()
	form.Set("decision", "allow")
	form.Set("profile", profile)
	for _, s := range strings.Fields(form.Get("scope")) {
		refused := false
		for _, r := range refuse {
			refused = refused || r == s
		}
		if !refused {
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
	out, err := e.connect.Callback(ctx, connect.Callback{State: loc.Query().Get("state"), Code: loc.Query().Get("code")})
	if err != nil {
		e.t.Fatal(err)
	}
	return out.Accounts
}

func (e *env) get(id string) account.Account {
	e.t.Helper()
	a, err := e.store.GetAccount(context.Background(), ws, id)
	if err != nil {
		e.t.Fatal(err)
	}
	return a
}

func (e *env) tokens(id string) vault.Tokens {
	e.t.Helper()
	sealed, err := e.store.GetTokens(context.Background(), ws, id)
	if err != nil {
		e.t.Fatal(err)
	}
	tok, err := e.vault.OpenTokens(context.Background(), sealed, vault.AccountBinding(ws, id))
	if err != nil {
		e.t.Fatal(err)
	}
	return tok
}

func (e *env) run() Summary {
	e.t.Helper()
	sum, err := e.svc.Run(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	return sum
}

func (e *env) grantOf(profile string) string {
	for _, g := range e.sandbox.Grants() {
		if g.ProfileID == profile {
			return g.ID
		}
	}
	e.t.Fatalf("no grant for %s", profile)
	return ""
}

// TestRefreshRotatesAndStoresFirst: an access token about to lapse is renewed; the
// rotated refresh token is stored (the old one no longer works at the channel), and
// the account stays active with its new expiry.
func TestRefreshRotatesAndStoresFirst(t *testing.T) {
	e := newEnv(t)
	a := e.connectSandbox("sandbox-omar")[0]
	before := e.tokens(a.ID)
	if sum := e.run(); sum.Counts[OutcomeRefreshed]+sum.Counts[OutcomeChecked] != 0 {
		t.Fatalf("nothing was due, yet: %v", sum.Counts)
	}
	e.clock.Advance(time.Hour - time.Minute) // the hour-long access token lapses within the next run's hour
	sum := e.run()
	if sum.Counts[OutcomeRefreshed] != 1 || !sum.Complete {
		t.Fatalf("run: %+v", sum)
	}
	after := e.tokens(a.ID)
	if after.Refresh.Reveal() == before.Refresh.Reveal() || after.Access.Reveal() == before.Access.Reveal() {
		t.Fatal("the rotated tokens were not stored")
	}
	got := e.get(a.ID)
	if got.State != account.StateActive || !got.TokenExpiresAt.Equal(e.clock.Now().Add(time.Hour)) || !got.LastProbeAt.Equal(e.clock.Now()) {
		t.Fatalf("after refresh: %+v", got)
	}
	// The old refresh token is spent at the channel: reusing it is invalid_grant.
	_, _, err := e.svc.Prober.Refresh(context.Background(), channel.Sandbox(e.srv.URL), got, before)
	if err == nil {
		t.Fatal("the rotated-out refresh token still works")
	}
	// Audit: a refresh that changes nothing a person would audit is quiet.
	evs, _ := e.store.Events(context.Background(), ws, a.ID, store.Page{Limit: 100})
	if len(evs.Events) != 1 {
		t.Fatalf("%d audit events, want just the creation", len(evs.Events))
	}
}

// TestInvalidGrantDisconnects: a revoked grant fails the refresh with invalid_grant,
// and the account is disconnected with the channel's reason.
func TestInvalidGrantDisconnects(t *testing.T) {
	e := newEnv(t)
	a := e.connectSandbox("sandbox-omar")[0]
	if err := e.sandbox.Act(e.grantOf("sandbox-omar"), sandbox.ActRevoke, ""); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Hour - time.Minute)
	if sum := e.run(); sum.Counts[OutcomeDisconnected] != 1 {
		t.Fatalf("run: %v", sum.Counts)
	}
	got := e.get(a.ID)
	if got.State != account.StateDisconnected || got.Reason != account.ReasonRevoked || got.ChannelError == nil || got.ChannelError.Code != "invalid_grant" {
		t.Fatalf("after revoke: state %s reason %s error %+v", got.State, got.Reason, got.ChannelError)
	}
	if !got.DueAt.IsZero() || !got.RemindAt.Equal(e.clock.Now()) {
		t.Fatalf("a dead token must leave the check schedule and start reminders: due %v remind %v", got.DueAt, got.RemindAt)
	}
	// A later run does not touch it again.
	e.clock.Advance(25 * time.Hour)
	if sum := e.run(); len(sum.Counts) != 0 {
		t.Fatalf("a disconnected account was checked again: %v", sum.Counts)
	}
}

// TestPasswordChangedOnCheck: a daily check finds the password changed.
func TestPasswordChangedOnCheck(t *testing.T) {
	e := newEnv(t)
	a := e.connectSandbox("sandbox-omar")[0]
	e.clock.Advance(time.Hour - time.Minute)
	e.run() // refreshed
	if err := e.sandbox.Act(e.grantOf("sandbox-omar"), sandbox.ActPasswordChanged, ""); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Hour)
	e.run()
	if got := e.get(a.ID); got.State != account.StateDisconnected || got.Reason != account.ReasonPasswordChanged {
		t.Fatalf("after the password changed: %s %s", got.State, got.Reason)
	}
}

// TestMissingPermissionOnCheck: a scope dropped at the channel makes the account
// action required with exactly that scope; granting it again brings it back.
func TestMissingPermissionOnCheck(t *testing.T) {
	e := newEnv(t)
	a := e.connectSandbox("sandbox-omar")[0]
	if err := e.sandbox.Act(e.grantOf("sandbox-omar"), sandbox.ActDropScope, "report"); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Hour - time.Minute)
	e.run()
	got := e.get(a.ID)
	if got.State != account.StateActionRequired || len(got.Missing) != 1 || got.Missing[0].Name != "report" {
		t.Fatalf("after a dropped scope: %s %+v", got.State, got.Missing)
	}
}

// TestOutageThreeDaysThenFour: hourly runs through an outage (every call 503): after
// three days the account is still active, backing off; past four days it is marked
// unreachable; when the channel is back, a later check makes it active again.
func TestOutageThreeDaysThenFour(t *testing.T) {
	e := newEnv(t)
	a := e.connectSandbox("sandbox-omar")[0]
	e.outage.Store(true)
	attempts := 0
	hourly := func(hours int) {
		for range hours {
			e.clock.Advance(time.Hour)
			sum := e.run()
			attempts += sum.Counts[OutcomeTransient]
		}
	}
	hourly(72)
	got := e.get(a.ID)
	if got.State != account.StateActive || got.TransientFailures == 0 {
		t.Fatalf("after 3 days of 503: %s, %d failures", got.State, got.TransientFailures)
	}
	if attempts == 0 || attempts > 72/6+4 {
		t.Fatalf("%d attempts in 72 hours: the back-off should space them (1, 2, 4, then 6 hours)", attempts)
	}
	hourly(30)
	got = e.get(a.ID)
	if got.State != account.StateDisconnected || got.Reason != account.ReasonUnreachable {
		t.Fatalf("after 4+ days of 503: %s %s", got.State, got.Reason)
	}
	evs, _ := e.store.Events(context.Background(), ws, a.ID, store.Page{Limit: 1000})
	last := evs.Events[len(evs.Events)-1]
	if last.Action != account.ActDisconnect || last.Reason != account.ReasonUnreachable || last.ChannelError == nil || last.ChannelError.HTTPStatus != 503 {
		t.Fatalf("last event %+v %+v", last, last.ChannelError)
	}
	// The channel comes back: the unreachable account is tried again and recovers.
	e.outage.Store(false)
	hourly(7)
	if got := e.get(a.ID); got.State != account.StateActive || got.TransientFailures != 0 {
		t.Fatalf("after the outage: %s %s, %d failures", got.State, got.Reason, got.TransientFailures)
	}
}

// TestHardExpiryDisconnects: a token whose lifetime ends is disconnected as expired,
// without asking the channel.
func TestHardExpiryDisconnects(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c, err := account.New(account.Spec{WorkspaceID: ws, ID: "acct-threads", Channel: channel.SandboxID, ExternalID: "th-1", DisplayName: "Threads",
		OwnerID: "u-olivia", Kind: account.KindCompany, Grant: &account.Grant{Scopes: []string{"profile"}, TokenExpiresAt: t0.Add(5 * 24 * time.Hour)}},
		account.Command{Actor: account.SystemActor("test"), At: t0, EventID: "e1"})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.store.CreateAccount(ctx, c); err != nil {
		t.Fatal(err)
	}
	e.outage.Store(true) // any call to the channel would fail: none must be made
	e.clock.Advance(5*24*time.Hour + time.Minute)
	sum := e.run()
	if got := e.get("acct-threads"); got.State != account.StateDisconnected || got.Reason != account.ReasonExpired || sum.Counts[OutcomeDisconnected] != 1 {
		t.Fatalf("after the hard expiry: %s %s %v", got.State, got.Reason, sum.Counts)
	}
}

// TestOnlyDueAccountsAndDeadline: accounts not due are not touched; a run whose
// deadline is near starts nothing and says it is incomplete; the next run does it all.
func TestOnlyDueAccountsAndDeadline(t *testing.T) {
	e := newEnv(t)
	e.connectSandbox("sandbox-olivia") // two accounts
	e.connectSandbox("sandbox-omar")   // one more
	all, _ := e.store.ListAccounts(context.Background(), ws, account.Filter{}, store.Page{Limit: 10})
	versions := map[string]int64{}
	for _, a := range all.Accounts {
		versions[a.ID] = a.Version
	}
	e.clock.Advance(20 * time.Minute) // nothing due yet: hour-long tokens are renewed from half their life
	e.run()
	for _, a := range all.Accounts {
		if e.get(a.ID).Version != versions[a.ID] {
			t.Fatal("a run touched an account that was not due")
		}
	}
	e.clock.Advance(39 * time.Minute)
	ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(e.svc.Margin/2+time.Millisecond))
	defer cancel()
	e.svc.defaults()
	sum, err := e.svc.Run(ctx)
	if err != nil || sum.Complete || len(sum.Counts) != 0 {
		t.Fatalf("run at its deadline: %+v %v", sum, err)
	}
	sum = e.run()
	if !sum.Complete || sum.Counts[OutcomeRefreshed] != 3 {
		t.Fatalf("the next run: %+v", sum)
	}
	runs, err := e.store.LastRuns(context.Background())
	if err != nil || len(runs) != 1 || runs[0].Function != FunctionName || runs[0].Counts[OutcomeRefreshed] != 3 || !runs[0].Complete {
		t.Fatalf("run record: %+v %v", runs, err)
	}
}

// TestPerChannelConcurrency: no more than PerChannel calls to one channel at once,
// however many accounts are due and workers free.
func TestPerChannelConcurrency(t *testing.T) {
	e := newEnv(t)
	for range 4 {
		e.connectSandbox("sandbox-olivia")
	}
	// Six more accounts on the same sandbox login (created apart, so they are due).
	ctx := context.Background()
	tok := e.tokens(e.connectSandbox("sandbox-omar")[0].ID)
	for i := range 6 {
		id := "extra-" + string(rune('a'+i))
		c, _ := account.New(account.Spec{WorkspaceID: ws, ID: id, Channel: channel.SandboxID, ExternalID: id, DisplayName: id, OwnerID: "u-olivia",
			Kind: account.KindCompany, Grant: &account.Grant{Scopes: tok.Scopes, Refreshable: true, TokenExpiresAt: tok.AccessExpiresAt,
				RefreshExpiresAt: tok.RefreshExpiresAt}}, account.Command{Actor: account.SystemActor("test"), At: t0, EventID: id})
		if err := e.store.CreateAccount(ctx, c); err != nil {
			t.Fatal(err)
		}
		sealed, _ := e.vault.SealTokens(ctx, tok, vault.AccountBinding(ws, id))
		if err := e.store.PutTokens(ctx, ws, id, sealed); err != nil {
			t.Fatal(err)
		}
	}
	e.svc.PerChannel, e.svc.Workers = 2, 16
	e.maxSeen.Store(0)
	hold := make(chan struct{})
	e.hold.Store(&hold)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		e.clock.Advance(25 * time.Hour)
		e.run()
	}()
	// Let calls through one by one while the run is going.
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	for {
		select {
		case hold <- struct{}{}:
			continue
		case <-done:
		}
		break
	}
	if m := e.maxSeen.Load(); m > 2 || m == 0 {
		t.Fatalf("%d calls to the channel at once, want at most 2", m)
	}
}

type noCreds struct{}

func (noCreds) Credentials(context.Context, string) (channel.Credentials, error) {
	return channel.Credentials{}, nil // incomplete: Relink's own misconfiguration
}

// TestMissingCredentialsChangeNothing: without Relink's app credentials for a channel
// no account of it is touched (it is Relink's fault, not the token's); they stay due,
// and the failure is logged once an hour, not once per account per run.
func TestMissingCredentialsChangeNothing(t *testing.T) {
	e := newEnv(t)
	accts := e.connectSandbox("sandbox-olivia")
	e.svc.Prober = &probe.Prober{HTTP: e.srv.Client(), Credentials: noCreds{}, Clock: e.clock,
		Renewals: &probe.StoreRenewals{Sends: e.store, Clock: e.clock, IDs: e.svc.IDs}}
	e.clock.Advance(59 * time.Minute)
	for range 3 {
		if sum := e.run(); sum.Counts[OutcomeFailed] != len(accts) {
			t.Fatalf("run: %v", sum.Counts)
		}
		e.clock.Advance(15 * time.Minute)
	}
	for _, a := range accts {
		if got := e.get(a.ID); got.State != account.StateActive || got.TransientFailures != 0 || got.Version != a.Version {
			t.Fatalf("an account was changed for Relink's own fault: %+v", got)
		}
	}
	if n := strings.Count(e.logs.String(), `"msg":"check account"`); n != 1 {
		t.Fatalf("%d error lines in 45 minutes, want 1:\n%s", n, e.logs.String())
	}
	e.clock.Advance(time.Hour)
	e.run()
	if n := strings.Count(e.logs.String(), `"msg":"check account"`); n != 2 {
		t.Fatalf("%d error lines after another hour, want 2", n)
	}
	if strings.Contains(e.logs.String(), "sandbox-secret") || strings.Contains(e.logs.String(), sandbox.ClientSecret) {
		t.Fatal("a secret in the logs")
	}
}

// TestTwoRunsAtOnceDoNotDisconnect: two expiry-check runs (two Lambda instances) find
// the same account due at the same moment. The rotating refresh token may be sent to
// the channel once — the sandbox, like careful providers, revokes the whole grant when
// a spent one comes back — so the second run sees the first one's claim and leaves
// the account for later; the account stays active with working tokens.
func TestTwoRunsAtOnceDoNotDisconnect(t *testing.T) {
	e := newEnv(t)
	a := e.connectSandbox("sandbox-omar")[0]
	other := &Service{Store: e.store, Registry: e.svc.Registry, Vault: e.vault, Prober: e.svc.Prober, Clock: e.clock,
		IDs: e.svc.IDs, Logger: e.svc.Logger, RatePerChannel: 1000}
	e.clock.Advance(59 * time.Minute)
	hold := make(chan struct{})
	e.hold.Store(&hold)
	sums := make([]Summary, 2)
	done := make(chan int, 2)
	for i, svc := range []*Service{e.svc, other} {
		go func() {
			sum, err := svc.Run(context.Background())
			if err != nil {
				t.Error(err)
			}
			sums[i] = sum
			done <- i
		}()
	}
	// One renewal reaches the channel and is held there; the other run must finish
	// meanwhile without calling the channel.
	first := <-done
	// The winner's call may still be on its way to the channel.
	for deadline := time.Now().Add(10 * time.Second); e.inFlight.Load() == 0 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	if n := e.inFlight.Load(); n != 1 {
		t.Fatalf("%d calls at the channel, want the one held", n)
	}
	e.hold.Store(nil)
	close(hold)
	<-done
	got := e.get(a.ID)
	if got.State != account.StateActive {
		t.Fatalf("after two runs at once: %s %s (runs %v, %v)", got.State, got.Reason, sums[0].Counts, sums[1].Counts)
	}
	if sums[first].Counts[OutcomeSkipped] != 1 || sums[1-first].Counts[OutcomeRefreshed] != 1 {
		t.Fatalf("want one renewal and one skip: %v, %v", sums[0].Counts, sums[1].Counts)
	}
	// The stored tokens are the live ones: the next renewal works.
	e.clock.Advance(59 * time.Minute)
	if sum := e.run(); sum.Counts[OutcomeRefreshed] != 1 {
		t.Fatalf("next renewal: %v", sum.Counts)
	}
	if got := e.get(a.ID); got.State != account.StateActive {
		t.Fatalf("after the next renewal: %s %s", got.State, got.Reason)
	}
}

// TestRenewalClaimReleasedAfterOutage: a renewal the channel never decided (503) gives
// its claim back, so the next run renews with the same refresh token.
func TestRenewalClaimReleasedAfterOutage(t *testing.T) {
	e := newEnv(t)
	a := e.connectSandbox("sandbox-omar")[0]
	e.clock.Advance(59 * time.Minute)
	e.outage.Store(true)
	if sum := e.run(); sum.Counts[OutcomeTransient] != 1 {
		t.Fatalf("during the outage: %v", sum.Counts)
	}
	e.outage.Store(false)
	e.clock.Advance(time.Hour) // the back-off
	if sum := e.run(); sum.Counts[OutcomeRefreshed] != 1 {
		t.Fatalf("after the outage: %v", sum.Counts)
	}
	if got := e.get(a.ID); got.State != account.StateActive {
		t.Fatalf("%s %s", got.State, got.Reason)
	}
}

// fanout starts partitions in-process, as the Lambda fan-out does across invocations.
type fanout struct {
	mu      sync.Mutex
	started []sweep.Partition
	wg      sync.WaitGroup
	run     func(p sweep.Partition)
}

func (f *fanout) Start(_ context.Context, p sweep.Partition) error {
	f.mu.Lock()
	f.started = append(f.started, p)
	f.mu.Unlock()
	f.wg.Go(func() { f.run(p) })
	return nil
}

// TestPartitionedSweepExactlyOnce: a table with 64 shards and 640 due accounts (their
// lifetime ended, so no channel is called); the last sweep was cut short, so the
// coordinator plans more partitions, starts them (each a separate service, as separate
// invocations are) and sweeps partition 0 itself. Every account is disconnected exactly
// once — one transition each in its audit trail — and none is left due.
func TestPartitionedSweepExactlyOnce(t *testing.T) {
	clk := clock.NewManual(t0)
	st, err := bolt.Open(filepath.Join(t.TempDir(), "relink.db"), store.Config{Clock: clk, CursorKey: bytes.Repeat([]byte("c"), 32), Shards: 64})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	if _, err := st.CreateWorkspace(ctx, workspace.Workspace{ID: ws, Name: "Acme", Settings: workspace.DefaultSettings(), CreatedAt: t0, UpdatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	const n = 640
	for i := range n {
		id := fmt.Sprintf("acct-%04d", i)
		c, err := account.New(account.Spec{WorkspaceID: ws, ID: id, Channel: channel.SandboxID, ExternalID: id, DisplayName: id, OwnerID: "u-olivia",
			Kind: account.KindCompany, Grant: &account.Grant{Scopes: []string{"profile"}, TokenExpiresAt: t0.Add(time.Hour)}},
			account.Command{Actor: account.SystemActor("test"), At: t0, EventID: "e-" + id})
		if err != nil {
			t.Fatal(err)
		}
		if err := st.CreateAccount(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	reg, _ := channel.NewRegistry(channel.Sandbox("http://127.0.0.1:1"))
	ids := ident.NewULID(clk.Now)
	newService := func() *Service {
		return &Service{Store: st, Registry: reg, Prober: &probe.Prober{Clock: clk}, Clock: clk, IDs: ids,
			Logger: slog.New(slog.DiscardHandler), Margin: time.Second}
	}
	// The last sweep, in 4 partitions, was cut short after 4 minutes and 600 accounts.
	if err := st.PutRun(ctx, store.Run{Function: FunctionName, ID: "last", StartedAt: t0.Add(-time.Hour),
		FinishedAt: t0.Add(-time.Hour + 4*time.Minute), Counts: map[string]int{OutcomeDisconnected: 600, CountPartitions: 4}}); err != nil {
		t.Fatal(err)
	}
	clk.Advance(2 * time.Hour)

	var mu sync.Mutex
	sums := map[int]Summary{}
	f := &fanout{}
	f.run = func(p sweep.Partition) {
		payload, _ := json.Marshal(sweep.Request{Partition: &p})
		sum, err := newService().Handle(ctx, payload)
		if err != nil {
			t.Error(err)
		}
		mu.Lock()
		sums[p.Index] = sum
		mu.Unlock()
	}
	coord := newService()
	coord.Fanout = f
	dctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	sum, err := coord.Run(dctx)
	if err != nil {
		t.Fatal(err)
	}
	f.wg.Wait()
	parts := sum.Partition.Count
	if parts != 8 || len(f.started) != parts-1 {
		t.Fatalf("coordinator planned %d partitions and started %v", parts, f.started)
	}
	total := sum.Counts[OutcomeDisconnected]
	for i := 1; i < parts; i++ {
		if sums[i].Partition != (sweep.Partition{Index: i, Count: parts}) || !sums[i].Complete {
			t.Fatalf("partition %d: %+v", i, sums[i])
		}
		total += sums[i].Counts[OutcomeDisconnected]
	}
	if total != n {
		t.Fatalf("%d accounts disconnected over %d partitions, want %d", total, parts, n)
	}
	for i := range n {
		id := fmt.Sprintf("acct-%04d", i)
		evs, err := st.Events(ctx, ws, id, store.Page{Limit: 10})
		if err != nil || len(evs.Events) != 2 || evs.Events[1].Action != account.ActDisconnect {
			t.Fatalf("%s: %d audit events (%v), want created and one disconnect", id, len(evs.Events), err)
		}
	}
	for shard := range st.Shards() {
		if due, _ := st.DueAccounts(ctx, shard, clk.Now(), store.Page{Limit: 10}); len(due.Accounts) != 0 {
			t.Fatalf("shard %d still has due accounts", shard)
		}
	}
	runs, _ := st.LastRuns(ctx)
	if len(runs) != 1 || runs[0].Counts[CountPartitions] != parts {
		t.Fatalf("the coordinator's record: %+v", runs)
	}
	// An invocation naming a partition that does not exist is refused.
	if _, err := newService().Handle(ctx, []byte(`{"partition":{"index":3,"count":2}}`)); relink.ErrorCode(err) != relink.EINVALID {
		t.Fatalf("bad partition: %v", err)
	}
}
