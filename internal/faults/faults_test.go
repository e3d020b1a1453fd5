package faults

// The fixtures every fault test shares: a DynamoDB table on moto reached through a
// transport that injects faults, the sandbox channel (a real OAuth 2 server with
// rotating refresh tokens) on httptest with hooks in front of it, SES on
// aws-ses-v2-local behind a transport that injects SES's own errors, and the admin
// API, the expiry check and the reminders wired as the functions wire them.
//
// The SES stand-in is shared by every test of this binary and each SES test clears
// it when it starts: no test here runs in parallel with another.

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	awsses "github.com/aws/aws-sdk-go-v2/service/ses"
	"golang.org/x/oauth2"

	"github.com/relinkhq/relink/internal/account"
	"github.com/relinkhq/relink/internal/admin"
	"github.com/relinkhq/relink/internal/api"
	"github.com/relinkhq/relink/internal/auth"
	"github.com/relinkhq/relink/internal/channel"
	"github.com/relinkhq/relink/internal/checkup"
	"github.com/relinkhq/relink/internal/clock"
	"github.com/relinkhq/relink/internal/connect"
	"github.com/relinkhq/relink/internal/digest"
	"github.com/relinkhq/relink/internal/dynamo"
	"github.com/relinkhq/relink/internal/ident"
	"github.com/relinkhq/relink/internal/mail"
	"github.com/relinkhq/relink/internal/mailbox"
	"github.com/relinkhq/relink/internal/portal"
	"github.com/relinkhq/relink/internal/probe"
	"github.com/relinkhq/relink/internal/relink"
	"github.com/relinkhq/relink/internal/sandbox"
	"github.com/relinkhq/relink/internal/ses"
	"github.com/relinkhq/relink/internal/standin"
	"github.com/relinkhq/relink/internal/store"
	"github.com/relinkhq/relink/internal/vault"
	"github.com/relinkhq/relink/internal/workspace"
)

func TestMain(m *testing.M) { standin.Main(m) }

// t0 is a Monday 09:00 UTC.
var t0 = time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)

const (
	baseURL = "https://relink.example"
	sesFrom = "Relink <noreply@relink.example>"
)

// ---------------------------------------------------------------------------------
// DynamoDB faults

// ddbRequest is one HTTP request of the DynamoDB client, as the fault rule sees it.
type ddbRequest struct {
	N       int    // 1-based index among the requests through this transport
	Op      string // "GetItem", "TransactWriteItems", …
	Attempt int    // the SDK's attempt number for the operation, 1-based
	Max     int    // the SDK's maximum attempts
	Body    string // the request's JSON
}

// fault is what the transport does with a request.
type fault string

const (
	pass fault = ""
	// DynamoDB's two throttling answers: HTTP 400 with the JSON error type, never
	// forwarded.
	throughput fault = "ProvisionedThroughputExceededException"
	throttling fault = "ThrottlingException"
	// serverError is HTTP 500 InternalServerError without forwarding: nothing applied.
	serverError fault = "InternalServerError"
	// lostAnswer forwards the request (moto applies it) and replaces the answer with
	// HTTP 500: the write happened, the client does not know.
	lostAnswer fault = "lost answer"
)

// ddbFaults is an aws.HTTPClient in front of moto that answers some requests with a
// fault instead of (or after) forwarding them. rule decides; it is called under the
// transport's lock, in request order.
type ddbFaults struct {
	next aws.HTTPClient

	mu       sync.Mutex
	rule     func(ddbRequest) fault
	before   func(ddbRequest) // called (outside the lock) before a request is forwarded
	n        int
	seen     map[string]int // requests by operation
	injected map[fault]int
	log      []string // "N Op attempt fault" of each injected fault, for failure messages
}

func newDDBFaults() *ddbFaults {
	return &ddbFaults{next: awshttp.NewBuildableClient(), seen: map[string]int{}, injected: map[fault]int{}}
}

// set replaces the rule (nil: no faults).
func (f *ddbFaults) set(rule func(ddbRequest) fault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rule = rule
}

func (f *ddbFaults) setBefore(hook func(ddbRequest)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.before = hook
}

// counts returns the requests seen (all operations) and the faults injected.
func (f *ddbFaults) counts() (requests int, injected map[fault]int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[fault]int{}
	for k, v := range f.injected {
		out[k] = v
	}
	return f.n, out
}

func (f *ddbFaults) total() int {
	_, inj := f.counts()
	n := 0
	for _, v := range inj {
		n += v
	}
	return n
}

var sdkAttempt = regexp.MustCompile(`attempt=(\d+); max=(\d+)`)

func (f *ddbFaults) Do(req *http.Request) (*http.Response, error) {
	r := ddbRequest{Op: strings.TrimPrefix(req.Header.Get("X-Amz-Target"), "DynamoDB_20120810.")}
	if m := sdkAttempt.FindStringSubmatch(req.Header.Get("Amz-Sdk-Request")); m != nil {
		r.Attempt, _ = strconv.Atoi(m[1])
		r.Max, _ = strconv.Atoi(m[2])
	}
	if req.Body != nil {
		body, err := io.ReadAll(req.Body)
		if err != nil {
			return nil, err
		}
		req.Body.Close()
		r.Body = string(body)
		req.Body = io.NopCloser(strings.NewReader(r.Body))
	}
	f.mu.Lock()
	f.n++
	r.N = f.n
	f.seen[r.Op]++
	what := pass
	if f.rule != nil {
		what = f.rule(r)
	}
	if what != pass {
		f.injected[what]++
		f.log = append(f.log, fmt.Sprintf("%d %s attempt %d: %s", r.N, r.Op, r.Attempt, what))
	}
	before := f.before
	f.mu.Unlock()

	switch what {
	case throughput:
		drain(req)
		return ddbError(req, http.StatusBadRequest, "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
			"The level of configured provisioned throughput for the table was exceeded. Consider increasing your provisioning level with the UpdateTable API."), nil
	case throttling:
		drain(req)
		return ddbError(req, http.StatusBadRequest, "com.amazon.coral.availability#ThrottlingException",
			"Rate of requests exceeds the allowed throughput."), nil
	case serverError:
		drain(req)
		return ddbError(req, http.StatusInternalServerError, "com.amazonaws.dynamodb.v20120810#InternalServerError", "Internal server error"), nil
	}
	if before != nil {
		before(r)
	}
	resp, err := f.next.Do(req)
	if what == lostAnswer && err == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return ddbError(req, http.StatusInternalServerError, "com.amazonaws.dynamodb.v20120810#InternalServerError", "Internal server error"), nil
	}
	return resp, err
}

func drain(req *http.Request) {
	if req.Body != nil {
		_, _ = io.Copy(io.Discard, req.Body)
		req.Body.Close()
	}
}

func ddbError(req *http.Request, status int, typ, msg string) *http.Response {
	body := fmt.Sprintf(`{"__type":%q,"message":%q}`, typ, msg)
	return &http.Response{
		Status: fmt.Sprintf("%d %s", status, http.StatusText(status)), StatusCode: status,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{"Content-Type": {"application/x-amz-json-1.0"}, "X-Amzn-Requestid": {"faults-" + strconv.Itoa(status)}},
		Body:   io.NopCloser(strings.NewReader(body)), ContentLength: int64(len(body)), Request: req,
	}
}

// fastRetries is the SDK's standard retryer as every function gets it (3 attempts,
// the same retryable and throttling errors, the same retry quota), with its sleeps
// cut from up to 2 s and 4 s to a few milliseconds so that the tests stay fast.
func fastRetries() aws.Retryer {
	return retry.NewStandard(func(o *retry.StandardOptions) {
		o.MaxAttempts = 3
		o.Backoff = retry.BackoffDelayerFunc(func(attempt int, _ error) (time.Duration, error) {
			return time.Duration(attempt) * 3 * time.Millisecond, nil
		})
	})
}

// table is one DynamoDB table on moto: clean is a store without faults, for seeding
// and for checking what is really stored; open gives stores through a fault transport.
type table struct {
	t        *testing.T
	name     string
	endpoint string
	clk      clock.Clock
	clean    store.Store
}

var tableSeq atomic.Int64

func newTable(t *testing.T, clk clock.Clock) *table {
	t.Helper()
	endpoint := standin.Moto(t)
	db := dynamodb.NewFromConfig(standin.AWSConfig(endpoint))
	name := fmt.Sprintf("relink-faults-%d-%d", time.Now().UnixNano(), tableSeq.Add(1))
	if err := dynamo.CreateTable(context.Background(), db, name); err != nil {
		t.Fatalf("create table: %v", err)
	}
	t.Cleanup(func() {
		_, _ = db.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(name)})
	})
	tb := &table{t: t, name: name, endpoint: endpoint, clk: clk}
	tb.clean = tb.open(nil)
	return tb
}

// open returns a store on the table whose client goes through f (nil: straight to
// moto), as a separate process would have it.
func (tb *table) open(f *ddbFaults) store.Store {
	tb.t.Helper()
	cfg := standin.AWSConfig(tb.endpoint)
	cfg.Retryer = fastRetries
	if f != nil {
		cfg.HTTPClient = f
	}
	st, err := dynamo.New(dynamodb.NewFromConfig(cfg), tb.name, store.Config{Clock: tb.clk, CursorKey: bytes.Repeat([]byte("c"), 32)})
	if err != nil {
		tb.t.Fatal(err)
	}
	return st
}

// ---------------------------------------------------------------------------------
// The sandbox channel

type creds struct{}

func (creds) Credentials(context.Context, string) (channel.Credentials, error) {
	return channel.Credentials{ClientID: "relink-local", ClientSecret: vault.Secret(sandbox.ClientSecret)}, nil
}

type ring struct{ r vault.KeyRing }

func (r ring) KeyRing(context.Context) (vault.KeyRing, error) { return r.r, nil }

// chanEnv is the sandbox channel served by httptest. A hook may answer a request
// instead of the sandbox (a fault); every refresh token presented at the token
// endpoint is counted with the statuses it was answered, to prove each is spent once.
type chanEnv struct {
	t       *testing.T
	clk     *clock.Manual
	sandbox *sandbox.Server
	srv     *httptest.Server
	reg     *channel.Registry
	ch      channel.Channel
	vault   *vault.Vault

	hook atomic.Pointer[func(w http.ResponseWriter, r *http.Request) bool]

	mu       sync.Mutex
	calls    int
	refresh  map[string][]int // sha256 of a refresh token → status of each presentation
	answered map[string]int   // path → requests the sandbox answered
}

func newChannel(t *testing.T, clk *clock.Manual) *chanEnv {
	t.Helper()
	c := &chanEnv{t: t, clk: clk, sandbox: sandbox.New(clk, rand.Reader), refresh: map[string][]int{}, answered: map[string]int{}}
	c.srv = httptest.NewServer(http.HandlerFunc(c.serve))
	t.Cleanup(c.srv.Close)
	reg, err := channel.Default(c.srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	c.reg = reg
	if c.ch, err = reg.Get(channel.SandboxID); err != nil {
		t.Fatal(err)
	}
	raw, err := vault.GenerateKeyRing("k1")
	if err != nil {
		t.Fatal(err)
	}
	kr, err := vault.ParseKeyRing(raw)
	if err != nil {
		t.Fatal(err)
	}
	c.vault = vault.New(ring{kr})
	return c
}

// statusWriter keeps the status written.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(s int) { w.status = s; w.ResponseWriter.WriteHeader(s) }
func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (c *chanEnv) serve(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	c.calls++
	c.mu.Unlock()
	var refreshKey string
	if r.URL.Path == "/sandbox/oauth/token" {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		if form, err := url.ParseQuery(string(body)); err == nil && form.Get("grant_type") == "refresh_token" {
			sum := sha256.Sum256([]byte(form.Get("refresh_token")))
			refreshKey = hex.EncodeToString(sum[:])
		}
	}
	sw := &statusWriter{ResponseWriter: w}
	if h := c.hook.Load(); h != nil && (*h)(sw, r) {
		c.record(refreshKey, r.URL.Path, sw.status, false)
		return
	}
	c.sandbox.ServeHTTP(sw, r)
	c.record(refreshKey, r.URL.Path, sw.status, true)
}

func (c *chanEnv) record(refreshKey, path string, status int, answered bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if answered {
		c.answered[path]++
	}
	if refreshKey != "" && answered {
		c.refresh[refreshKey] = append(c.refresh[refreshKey], status)
	}
}

// setHook makes h answer the requests it returns true for (nil: none).
func (c *chanEnv) setHook(h func(w http.ResponseWriter, r *http.Request) bool) {
	if h == nil {
		c.hook.Store(nil)
		return
	}
	c.hook.Store(&h)
}

// renewals counts the refresh-token presentations the sandbox answered (ok and
// refused) and lists the refresh tokens presented more than once: a reuse, which the
// channel refuses (careful channels revoke the whole grant).
func (c *chanEnv) renewals() (ok, refused int, reused []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, statuses := range c.refresh {
		if len(statuses) > 1 {
			reused = append(reused, fmt.Sprintf("%.8s… %v", k, statuses))
		}
		for _, s := range statuses {
			if s == http.StatusOK {
				ok++
			} else {
				refused++
			}
		}
	}
	sort.Strings(reused)
	return ok, refused, reused
}

// client is an HTTP client for the channel with the given timeout (0: none).
func (c *chanEnv) client(timeout time.Duration) *http.Client {
	cl := *c.srv.Client()
	cl.Timeout = timeout
	return &cl
}

// issue runs a consent at the sandbox for profile with every scope and exchanges the
// code (PKCE S256): fresh tokens of a new grant, read as Relink reads them, and the
// grant's ID (for the sandbox controls). Calls must not run concurrently.
func (c *chanEnv) issue(profile string) (vault.Tokens, account.Grant, string) {
	c.t.Helper()
	verifier := randomText(c.t, 48)
	sum := sha256.Sum256([]byte(verifier))
	cfg := c.ch.OAuthConfig(channel.Credentials{ClientID: "relink-local", ClientSecret: vault.Secret(sandbox.ClientSecret)},
		baseURL+"/oauth/callback", account.CapPublish, account.CapEngage, account.CapReport, account.CapAds)
	form := url.Values{
		"response_type": {"code"}, "client_id": {cfg.ClientID}, "redirect_uri": {cfg.RedirectURL},
		"scope": {strings.Join(cfg.Scopes, " ")}, "state": {randomText(c.t, 32)},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"},
		"decision": {"allow"}, "profile": {profile}, "grant_scope": cfg.Scopes,
	}
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.PostForm(c.srv.URL+"/sandbox/oauth/authorize", form)
	if err != nil {
		c.t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || loc.Query().Get("code") == "" {
		c.t.Fatalf("consent: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, c.srv.Client())
	tok, err := cfg.Exchange(ctx, loc.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		c.t.Fatal(err)
	}
	tokens, grant := c.ch.Grant(tok, cfg.Scopes, c.clk.Now())
	grant.Missing = c.ch.Diagnose(grant.Scopes, grant.Tasks)
	gs := c.sandbox.Grants()
	return tokens, grant, gs[len(gs)-1].ID
}

func randomText(t *testing.T, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)[:n]
}

// connectService is the connect path over st (the real consent flow).
func (c *chanEnv) connectService(st store.Store) *connect.Service {
	ids := ident.NewULID(c.clk.Now)
	return &connect.Service{Store: st, Registry: c.reg, Credentials: creds{},
		Identifiers: map[string]connect.Identifier{channel.SandboxID: connect.SandboxIdentifier{HTTP: c.srv.Client()}},
		Vault:       c.vault, Clock: c.clk, IDs: ids, Random: rand.Reader, BaseURL: baseURL, HTTP: c.srv.Client()}
}

// consent connects a sandbox profile's pages for a person through connect.Service:
// Start, the sandbox's consent screen, Callback.
func (c *chanEnv) consent(svc *connect.Service, who connect.Who, profile string) []account.Account {
	c.t.Helper()
	ctx := context.Background()
	u, err := svc.Start(ctx, who, channel.SandboxID, "")
	if err != nil {
		c.t.Fatal(err)
	}
	au, _ := url.Parse(u)
	form := au.Query()
	form.Set("decision", "allow")
	form.Set("profile", profile)
	for _, s := range strings.Fields(form.Get("scope")) {
		form.Add("grant_scope", s)
	}
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.PostForm(c.srv.URL+"/sandbox/oauth/authorize", form)
	if err != nil {
		c.t.Fatal(err)
	}
	resp.Body.Close()
	loc, _ := url.Parse(resp.Header.Get("Location"))
	out, err := svc.Callback(ctx, connect.Callback{State: loc.Query().Get("state"), Code: loc.Query().Get("code")})
	if err != nil {
		c.t.Fatal(err)
	}
	return out.Accounts
}

// addAccount stores a connected sandbox account holding tokens (sealed, bound to it).
func (c *chanEnv) addAccount(st store.Store, ws, id, owner string, tokens vault.Tokens, grant account.Grant) account.Account {
	c.t.Helper()
	a, err := c.tryAddAccount(st, ws, id, owner, tokens, grant)
	if err != nil {
		c.t.Fatal(err)
	}
	return a
}

func (c *chanEnv) tryAddAccount(st store.Store, ws, id, owner string, tokens vault.Tokens, grant account.Grant) (account.Account, error) {
	ctx := context.Background()
	sealed, err := c.vault.SealTokens(ctx, tokens, vault.AccountBinding(ws, id))
	if err != nil {
		return account.Account{}, err
	}
	if err := st.PutTokens(ctx, ws, id, sealed); err != nil {
		return account.Account{}, fmt.Errorf("tokens of %s: %w", id, err)
	}
	ch, err := account.New(account.Spec{WorkspaceID: ws, ID: id, Channel: channel.SandboxID, ExternalID: "ext-" + id,
		DisplayName: "Brand " + id, OwnerID: owner, Kind: account.KindCompany, Grant: &grant},
		account.Command{Actor: account.SystemActor("test"), At: c.clk.Now(), EventID: "create-" + id})
	if err != nil {
		return account.Account{}, err
	}
	if err := st.CreateAccount(ctx, ch); err != nil {
		return account.Account{}, fmt.Errorf("create %s: %w", id, err)
	}
	return ch.After, nil
}

// tokensOf opens the tokens stored for an account.
func (c *chanEnv) tokensOf(st store.Store, ws, id string) vault.Tokens {
	c.t.Helper()
	sealed, err := st.GetTokens(context.Background(), ws, id)
	if err != nil {
		c.t.Fatal(err)
	}
	tok, err := c.vault.OpenTokens(context.Background(), sealed, vault.AccountBinding(ws, id))
	if err != nil {
		c.t.Fatal(err)
	}
	return tok
}

// checkupService is the expiry check over st, wired as functions/expiry-check wires it
// (renewal claims in the store), with no per-channel rate limit to speak of.
func (c *chanEnv) checkupService(st store.Store, http *http.Client, logs io.Writer) *checkup.Service {
	ids := ident.NewULID(c.clk.Now)
	return &checkup.Service{Store: st, Registry: c.reg, Vault: c.vault,
		Prober: &probe.Prober{HTTP: http, Credentials: creds{}, Clock: c.clk,
			Renewals: &probe.StoreRenewals{Sends: st, Clock: c.clk, IDs: ids, Logger: slog.New(slog.NewJSONHandler(logs, nil))}},
		Clock: c.clk, IDs: ids, Logger: slog.New(slog.NewJSONHandler(logs, nil)), RatePerChannel: 1000}
}

// digestService is the reminders function over st, mailing through sender.
func digestService(reg *channel.Registry, st store.Store, clk clock.Clock, sender mail.Sender, logs io.Writer) *digest.Service {
	return &digest.Service{Store: st, Registry: reg,
		Links:       &portal.Links{Store: st, Clock: clk, Random: rand.Reader, BaseURL: baseURL},
		Unsubscribe: portal.Unsubscriber{Key: bytes.Repeat([]byte("u"), 32), BaseURL: baseURL},
		Mail:        sender, Clock: clk, IDs: ident.NewULID(clk.Now), Logger: slog.New(slog.NewJSONHandler(logs, nil))}
}

// ---------------------------------------------------------------------------------
// Workspaces, people, accounts

type person struct {
	id, name, email string
	role            workspace.Role
	notify          bool
}

func seedWorkspace(t *testing.T, st store.Store, ws, name string, people ...person) {
	t.Helper()
	ctx := context.Background()
	if _, err := st.CreateWorkspace(ctx, workspace.Workspace{ID: ws, Name: name, Settings: workspace.DefaultSettings(),
		CreatedAt: t0, UpdatedAt: t0}); err != nil {
		// A create is one conditional PutItem, which has no request token: when its
		// answer is lost (moto on a busy machine resets a connection now and then) the
		// SDK's retry finds the workspace its first attempt made.
		if w, gerr := st.GetWorkspace(ctx, ws); relink.ErrorCode(err) != relink.ECONFLICT || gerr != nil || w.Name != name || w.Version != 1 {
			t.Fatal(err)
		}
	}
	for _, p := range people {
		if _, err := st.CreateUser(ctx, workspace.User{WorkspaceID: ws, ID: p.id, Name: p.name, Email: p.email, Role: p.role,
			Preferences: workspace.Preferences{NotifyTrouble: p.notify}, CreatedAt: t0, UpdatedAt: t0}); err != nil {
			t.Fatal(err)
		}
	}
}

// addDisconnected stores a sandbox account that was connected and then lost its
// token (revoked): its owner's reminders are due at once.
func addDisconnected(st store.Store, clk clock.Clock, ws, id, owner string) (account.Account, error) {
	ctx := context.Background()
	actor := account.SystemActor("test")
	c, err := account.New(account.Spec{WorkspaceID: ws, ID: id, Channel: channel.SandboxID, ExternalID: "ext-" + id,
		DisplayName: "Brand " + id, OwnerID: owner, Kind: account.KindCompany,
		Grant: &account.Grant{Scopes: []string{"profile", "publish", "engage", "report", "ads"}}},
		account.Command{Actor: actor, At: clk.Now(), EventID: "create-" + id})
	if err != nil {
		return account.Account{}, err
	}
	if err := st.CreateAccount(ctx, c); err != nil {
		return account.Account{}, fmt.Errorf("create %s: %w", id, err)
	}
	d, err := account.Transition(c.After, account.Command{Action: account.ActDisconnect, Reason: account.ReasonRevoked,
		Actor: actor, At: clk.Now(), EventID: "disconnect-" + id})
	if err != nil {
		return account.Account{}, err
	}
	if err := st.Apply(ctx, d); err != nil {
		return account.Account{}, fmt.Errorf("disconnect %s: %w", id, err)
	}
	return d.After, nil
}

// parallel runs fn(i) for i in [0, n) on workers goroutines and fails on the first error.
func parallel(t *testing.T, n, workers int, fn func(i int) error) {
	t.Helper()
	jobs := make(chan int)
	var mu sync.Mutex
	var first error
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := range jobs {
				if err := fn(i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		})
	}
	for i := range n {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	if first != nil {
		t.Fatal(first)
	}
}

// trail reads an account's whole audit trail through st and checks that its
// versions are strictly increasing and each is an account version that existed.
func trail(t *testing.T, st store.Store, ws, id string) []account.Event {
	t.Helper()
	var out []account.Event
	page := store.Page{Limit: 100}
	for {
		got, err := st.Events(context.Background(), ws, id, page)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, got.Events...)
		if got.Next == "" {
			break
		}
		page.Cursor = got.Next
	}
	for i := 1; i < len(out); i++ {
		if out[i].Version <= out[i-1].Version {
			t.Fatalf("%s: audit versions not increasing: %d after %d", id, out[i].Version, out[i-1].Version)
		}
	}
	return out
}

func actions(evs []account.Event) []string {
	var out []string
	for _, e := range evs {
		out = append(out, fmt.Sprintf("v%d %s", e.Version, e.Action))
	}
	return out
}

// syncBuffer collects log lines from several goroutines.
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

// ---------------------------------------------------------------------------------
// The admin API

// apiEnv is the admin API over a store, wired as functions/admin-api wires it, with
// the dev mailbox for its emails and dev tokens for callers.
type apiEnv struct {
	t      *testing.T
	srv    *httptest.Server
	issuer auth.Issuer
	box    *mailbox.Mailbox
	logs   *syncBuffer
}

func newAPI(t *testing.T, st store.Store, c *chanEnv) *apiEnv {
	t.Helper()
	e := &apiEnv{t: t, box: mailbox.New(c.clk), logs: &syncBuffer{}}
	logger := slog.New(slog.NewJSONHandler(e.logs, nil))
	ids := ident.NewULID(c.clk.Now)
	owners := portal.New(portal.Deps{Store: st, Registry: c.reg, Credentials: creds{},
		Identifiers: map[string]connect.Identifier{channel.SandboxID: connect.SandboxIdentifier{HTTP: c.srv.Client()}},
		Vault:       c.vault, Mail: e.box, Clock: c.clk, IDs: ids, Random: rand.Reader, HTTP: c.srv.Client(), BaseURL: baseURL,
		CodePepper: bytes.Repeat([]byte("p"), 32), UnsubscribeKey: bytes.Repeat([]byte("u"), 32), Logger: logger})
	svc := &admin.Service{Store: st, Registry: c.reg, Links: owners.Links, Connect: owners.Connect, Mail: e.box,
		Clock: c.clk, IDs: ids, Random: rand.Reader, Logger: logger,
		Checker: admin.ProbeChecker{Store: st, Vault: c.vault, Registry: c.reg,
			Prober: &probe.Prober{HTTP: c.client(10 * time.Second), Credentials: creds{}, Clock: c.clk,
				Renewals: &probe.StoreRenewals{Sends: st, Clock: c.clk, IDs: ids, Logger: logger}}}}
	e.issuer = auth.Issuer{Key: bytes.Repeat([]byte("k"), 32), Issuer: "relink-local", Audience: "relink-api", Now: c.clk.Now}
	e.srv = httptest.NewServer(e.issuer.Middleware(api.NewHandler(svc, logger)))
	t.Cleanup(e.srv.Close)
	return e
}

// answer is one API response.
type answer struct {
	status int
	header http.Header
	body   []byte
}

func (a answer) String() string { return fmt.Sprintf("%d %s", a.status, bytes.TrimSpace(a.body)) }

// apiError reads the one error shape strictly: {"error":{"code","message"[,"field"]}}
// and nothing else.
func (a answer) apiError(t *testing.T) (code, message string) {
	t.Helper()
	if ct := a.header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("error answer with content type %q: %s", ct, a)
	}
	var e struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
			Field   string `json:"field"`
		} `json:"error"`
	}
	dec := json.NewDecoder(bytes.NewReader(a.body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil || e.Error.Code == "" || e.Error.Message == "" {
		t.Fatalf("not the error shape (%v): %s", err, a)
	}
	return e.Error.Code, e.Error.Message
}

// call sends a request as user of ws.
func (e *apiEnv) call(ws, user, method, path string, body any) answer {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		raw, _ := json.Marshal(body)
		rd = bytes.NewReader(raw)
	}
	req, _ := http.NewRequest(method, e.srv.URL+path, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	tok, err := e.issuer.Issue(auth.Claims{Subject: user, WorkspaceID: ws})
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(resp.Body)
	return answer{status: resp.StatusCode, header: resp.Header, body: got}
}

// internals are texts that must never reach an API client: the AWS error types and
// messages, the adapter's operation names, the table.
func noInternals(t *testing.T, a answer, extra ...string) {
	t.Helper()
	body := strings.ToLower(string(a.body))
	for _, s := range append([]string{"provisionedthroughput", "throttlingexception", "throughput", "dynamo", "amazonaws",
		"coral", "internalservererror", "relink-faults", "transact", "operation error", "status code", "request id",
		"https response", "retry", "attempt", "quota"}, extra...) {
		if strings.Contains(body, strings.ToLower(s)) {
			t.Fatalf("the answer shows internals (%q): %s", s, a)
		}
	}
}

// ---------------------------------------------------------------------------------
// SES faults

// sesFaults is an aws.HTTPClient in front of aws-ses-v2-local that answers SendEmail
// with SES's own errors: Throttling when rule says so, MessageRejected for the
// addresses in reject. It counts every SendEmail by its first recipient.
type sesFaults struct {
	next aws.HTTPClient

	mu       sync.Mutex
	rule     func(n int, to string) bool // throttle the nth SendEmail (1-based)?
	reject   map[string]bool
	n        int
	attempts map[string]int // SendEmail requests by first To address
	accepted map[string]int // of which forwarded to the stand-in
	throttle int            // Throttling answers
	rejected int            // MessageRejected answers
}

func newSESFaults() *sesFaults {
	return &sesFaults{next: awshttp.NewBuildableClient(), reject: map[string]bool{}, attempts: map[string]int{}, accepted: map[string]int{}}
}

func (f *sesFaults) Do(req *http.Request) (*http.Response, error) {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		return nil, err
	}
	req.Body.Close()
	form, _ := url.ParseQuery(string(body))
	if form.Get("Action") != "SendEmail" {
		req.Body = io.NopCloser(bytes.NewReader(body))
		return f.next.Do(req)
	}
	to := strings.ToLower(form.Get("Destination.ToAddresses.member.1"))
	f.mu.Lock()
	f.n++
	f.attempts[to]++
	var code, msg string
	switch {
	case f.reject[to]:
		f.rejected++
		code, msg = "MessageRejected", "Email address is not verified. The following identities failed the check in region US-EAST-1: "+to
	case f.rule != nil && f.rule(f.n, to):
		f.throttle++
		code, msg = "Throttling", "Maximum sending rate exceeded."
	default:
		f.accepted[to]++
	}
	f.mu.Unlock()
	if code == "" {
		req.Body = io.NopCloser(bytes.NewReader(body))
		return f.next.Do(req)
	}
	x := fmt.Sprintf(`<ErrorResponse xmlns="http://ses.amazonaws.com/doc/2010-12-01/"><Error><Type>Sender</Type>`+
		`<Code>%s</Code><Message>%s</Message></Error><RequestId>faults</RequestId></ErrorResponse>`, code, msg)
	return &http.Response{
		Status: "400 Bad Request", StatusCode: http.StatusBadRequest, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{"Content-Type": {"text/xml"}}, Body: io.NopCloser(strings.NewReader(x)),
		ContentLength: int64(len(x)), Request: req,
	}, nil
}

func (f *sesFaults) set(rule func(n int, to string) bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rule = rule
}

// sleeps records the adapter's waits (limiter and throttling backoffs) and waits a
// tenth of each, so that backoffs of 0.25–2 s do not slow the tests down.
type sleeps struct {
	mu    sync.Mutex
	waits []time.Duration
}

func (s *sleeps) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.waits = append(s.waits, d)
	s.mu.Unlock()
	t := time.NewTimer(d / 10)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// backoffs are the waits of at least 250 ms: the adapter's throttling backoffs (its
// limiter waits are 1/rate, 20 ms at 50 a second).
func (s *sleeps) backoffs() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []time.Duration
	for _, d := range s.waits {
		if d >= 250*time.Millisecond {
			out = append(out, d)
		}
	}
	return out
}

// sesSender is the real SES adapter on aws-ses-v2-local through f, at rate a second.
func sesSender(t *testing.T, endpoint string, f *sesFaults, rate float64, sl *sleeps) *ses.Sender {
	t.Helper()
	cfg := standin.AWSConfig(endpoint)
	if f != nil {
		cfg.HTTPClient = f
	}
	c := ses.Config{From: sesFrom, MaxRate: rate}
	if sl != nil {
		c.Sleep = sl.sleep
	}
	s, err := ses.New(awsses.NewFromConfig(cfg), c)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// brandName finds the accounts a digest names ("Brand l042").
var brandName = regexp.MustCompile(`Brand ([a-z]+\d+)`)

// named lists the account IDs a message's text names, each once.
func named(text string) []string {
	seen := map[string]bool{}
	var out []string
	for _, m := range brandName.FindAllStringSubmatch(text, -1) {
		if !seen[m[1]] {
			seen[m[1]] = true
			out = append(out, m[1])
		}
	}
	slices.Sort(out)
	return out
}

// tally counts, over the stand-in's messages, how often each (recipient, account)
// was told, and checks every message is to one person from Relink.
func tally(t *testing.T, msgs []standin.SESMessage) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, m := range msgs {
		if len(m.Destination.To) != 1 || len(m.Destination.Cc) != 0 || m.From != sesFrom {
			t.Fatalf("each person gets their own email from Relink: %q from %q to %v cc %v", m.Subject, m.From, m.Destination.To, m.Destination.Cc)
		}
		for _, id := range named(m.Body.Text) {
			out[strings.ToLower(m.Destination.To[0])+" "+id]++
		}
	}
	return out
}

// exactlyOnce compares a tally with the (recipient, account) pairs that must each have
// been told once, and nothing else.
func exactlyOnce(t *testing.T, got map[string]int, want []string) {
	t.Helper()
	var wrong []string
	seen := map[string]bool{}
	for _, k := range want {
		seen[k] = true
		if got[k] != 1 {
			wrong = append(wrong, fmt.Sprintf("%s: %d", k, got[k]))
		}
	}
	for k, n := range got {
		if !seen[k] {
			wrong = append(wrong, fmt.Sprintf("%s: %d (not theirs to hear of)", k, n))
		}
	}
	sort.Strings(wrong)
	if len(wrong) > 0 {
		t.Fatalf("%d (recipient, account) pairs not told exactly once, e.g. %v", len(wrong), wrong[:min(10, len(wrong))])
	}
}

// errorLines returns the ERROR log lines.
func errorLines(logs string) []string {
	var out []string
	for _, l := range strings.Split(logs, "\n") {
		if strings.Contains(l, `"level":"ERROR"`) {
			out = append(out, l)
		}
	}
	return out
}

func newManual() *clock.Manual { return clock.NewManual(t0) }

func jsonDecode(r io.Reader, v any) error { return json.NewDecoder(r).Decode(v) }
