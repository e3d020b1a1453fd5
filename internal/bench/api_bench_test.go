package bench

// Issue #8 item 3: the admin API's latency in process — internal/api's handler called
// directly (API Gateway's JWT authorizer is replaced by the claims it would pass, as
// apigw does), over the embedded store and over DynamoDB on dynalite (see
// BenchmarkAPI for how transitions' transactions are applied there; moto on request). The workspace holds 1,000 accounts. One benchmark
// op is one request, so allocs/op is allocations per request (everything in this
// process: handler, admin service, store adapter, SDK client, and for activate the
// sandbox channel's introspection server, which runs in process too).
//
//   - list: GET /v1/accounts, paginated through all 1,000 accounts (default page, 50);
//     each op is one page, a listing is 20 pages;
//   - get: GET /v1/accounts/{id}, cycling through the accounts;
//   - transition: POST deactivate and activate in turn on a sandbox-connected account;
//     activate checks the token with the channel first (the sandbox, on httptest).
//
// p50 and p99 of the ops are reported with b.ReportMetric; run with -benchtime=Nx.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/relinkhq/relink/internal/account"
	"github.com/relinkhq/relink/internal/admin"
	"github.com/relinkhq/relink/internal/api"
	"github.com/relinkhq/relink/internal/auth"
	"github.com/relinkhq/relink/internal/bolt"
	"github.com/relinkhq/relink/internal/channel"
	"github.com/relinkhq/relink/internal/clock"
	"github.com/relinkhq/relink/internal/connect"
	"github.com/relinkhq/relink/internal/dynamo"
	"github.com/relinkhq/relink/internal/ident"
	"github.com/relinkhq/relink/internal/mailbox"
	"github.com/relinkhq/relink/internal/portal"
	"github.com/relinkhq/relink/internal/probe"
	"github.com/relinkhq/relink/internal/sandbox"
	"github.com/relinkhq/relink/internal/standin"
	"github.com/relinkhq/relink/internal/store"
	"github.com/relinkhq/relink/internal/vault"
	"github.com/relinkhq/relink/internal/workspace"
)

const (
	apiAccounts = 1000
	apiWS       = "ws-bench"
	apiAdmin    = "u-admin"
)

type sandboxCreds struct{}

func (sandboxCreds) Credentials(context.Context, string) (channel.Credentials, error) {
	return channel.Credentials{ClientID: "relink-local", ClientSecret: vault.Secret(sandbox.ClientSecret)}, nil
}

// apiEnv is the admin API over one store, with the sandbox channel on a test server.
type apiEnv struct {
	handler  http.Handler
	ids      []string // the seeded accounts
	switched string   // a sandbox-connected account, for transitions
	ctx      context.Context
}

// seedAPI writes the workspace, its admin and owners, and 1,000 accounts.
func seedAPI(tb testing.TB, st store.Store, reg *channel.Registry, at time.Time) []string {
	ctx := context.Background()
	if _, err := st.CreateWorkspace(ctx, workspace.Workspace{ID: apiWS, Name: "Acme Brands", Settings: workspace.DefaultSettings(),
		CreatedAt: at, UpdatedAt: at}); err != nil {
		tb.Fatal(err)
	}
	people := []workspace.User{{ID: apiAdmin, Name: "Pat", Role: workspace.RolePrimaryAdmin}}
	for j, o := range owners {
		people = append(people, workspace.User{ID: o, Name: fmt.Sprintf("Owner %d", j), Role: workspace.RoleOwner})
	}
	for _, u := range people {
		u.WorkspaceID, u.Email, u.CreatedAt, u.UpdatedAt = apiWS, u.ID+"@acme.example", at, at
		if _, err := st.CreateUser(ctx, u); err != nil {
			tb.Fatal(err)
		}
	}
	var ids []string
	for i := range apiAccounts {
		chID := sweepChannels[i%len(sweepChannels)]
		ch, err := reg.Get(chID)
		if err != nil {
			tb.Fatal(err)
		}
		var g account.Grant
		for _, p := range ch.Permissions {
			if p.Kind == channel.KindScope {
				g.Scopes = append(g.Scopes, p.Name)
			}
		}
		// Some accounts miss their Page tasks: action required, with what breaks.
		g.Missing = ch.Diagnose(g.Scopes, g.Tasks)
		g.TokenExpiresAt = at.Add(time.Duration(10+i%80) * 24 * time.Hour)
		id := fmt.Sprintf("acct-%04d", i)
		c, err := account.New(account.Spec{WorkspaceID: apiWS, ID: id, Channel: chID, ExternalID: "ext-" + id,
			DisplayName: "Brand " + id, OwnerID: owners[i%len(owners)], Kind: account.KindCompany, Grant: &g},
			account.Command{Actor: account.SystemActor("bench"), At: at, EventID: "evt-" + id})
		if err != nil {
			tb.Fatal(err)
		}
		if err := st.CreateAccount(ctx, c); err != nil {
			tb.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids
}

func newAPIEnv(tb testing.TB, st store.Store, ids []string, clk clock.Clock, reg func(sandboxURL string) *channel.Registry) *apiEnv {
	sb := sandbox.New(clk, rand.Reader)
	mux := http.NewServeMux()
	mux.Handle("/sandbox/", sb)
	srv := httptest.NewServer(mux)
	tb.Cleanup(srv.Close)
	registry := reg(srv.URL)
	logger := slog.New(slog.NewJSONHandler(io.Discard, nil)) // formatted as in Lambda, then dropped
	v := newVault(tb)
	gen := ident.NewULID(clk.Now)
	box := mailbox.New(clk)
	owners := portal.New(portal.Deps{Store: st, Registry: registry, Credentials: sandboxCreds{},
		Identifiers: map[string]connect.Identifier{channel.SandboxID: connect.SandboxIdentifier{HTTP: srv.Client()}},
		Vault:       v, Mail: box, Clock: clk, IDs: gen, Random: rand.Reader, HTTP: srv.Client(), BaseURL: srv.URL,
		CodePepper: bytes.Repeat([]byte("p"), 32), UnsubscribeKey: bytes.Repeat([]byte("u"), 32), Logger: logger})
	svc := &admin.Service{Store: st, Registry: registry, Links: owners.Links, Connect: owners.Connect, Mail: box,
		Clock: clk, IDs: gen, Random: rand.Reader, Logger: logger,
		Checker: admin.ProbeChecker{Store: st, Vault: v, Registry: registry,
			Prober: &probe.Prober{HTTP: srv.Client(), Credentials: sandboxCreds{}, Clock: clk}}}
	e := &apiEnv{handler: api.NewHandler(svc, logger), ids: ids,
		ctx: auth.WithClaims(context.Background(), auth.Claims{Subject: apiAdmin, WorkspaceID: apiWS})}

	// One account connected through the sandbox's consent, so activate can check it.
	ctx := context.Background()
	authorize, err := owners.Connect.Start(ctx, connect.Who{WorkspaceID: apiWS, UserID: apiAdmin, Role: workspace.RolePrimaryAdmin}, channel.SandboxID, "")
	if err != nil {
		tb.Fatal(err)
	}
	u, _ := url.Parse(authorize)
	form := u.Query()
	form.Set("profile", "sandbox-omar")
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
	loc, _ := url.Parse(resp.Header.Get("Location"))
	q := loc.Query()
	out, err := owners.Connect.Callback(ctx, connect.Callback{State: q.Get("state"), Code: q.Get("code"), Error: q.Get("error")})
	if err != nil || len(out.Accounts) == 0 {
		tb.Fatalf("connect through the sandbox: %v %+v", err, out)
	}
	e.switched = out.Accounts[0].ID
	return e
}

// do serves one request in process and checks its status.
func (e *apiEnv) do(tb testing.TB, method, path string, body []byte, want int) []byte {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req := httptest.NewRequestWithContext(e.ctx, method, path, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	rec := httptest.NewRecorder()
	e.handler.ServeHTTP(rec, req)
	if rec.Code != want {
		tb.Fatalf("%s %s: %d, want %d\n%s", method, path, rec.Code, want, rec.Body.Bytes())
	}
	return rec.Body.Bytes()
}

func BenchmarkAPI(b *testing.B) {
	registry := func(tb testing.TB) func(string) *channel.Registry {
		return func(sandboxURL string) *channel.Registry {
			reg, err := channel.Default(sandboxURL)
			if err != nil {
				tb.Fatal(err)
			}
			return reg
		}
	}
	b.Run("bolt", func(b *testing.B) {
		clk := clock.System{}
		reg := registry(b)("https://sandbox.relink.example")
		// Seeded on tmpfs when there is one (an fsync per account), measured on disk.
		seedDir := b.TempDir()
		if dir, err := os.MkdirTemp("/dev/shm", "relink-bench-api-"); err == nil {
			seedDir = dir
			b.Cleanup(func() { os.RemoveAll(dir) })
		}
		seedPath, runPath := filepath.Join(seedDir, "seed.db"), filepath.Join(b.TempDir(), "relink.db")
		seed, err := bolt.Open(seedPath, store.Config{Clock: clk, CursorKey: cursorKey})
		if err != nil {
			b.Fatal(err)
		}
		ids := seedAPI(b, seed, reg, time.Now().UTC())
		seed.Close()
		if err := copyFile(seedPath, runPath); err != nil {
			b.Fatal(err)
		}
		st, err := bolt.Open(runPath, store.Config{Clock: clk, CursorKey: cursorKey})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { st.Close() })
		apiRoutes(b, "bolt", newAPIEnv(b, st, ids, clk, registry(b)))
	})
	// DynamoDB on dynalite: its latency is closer to DynamoDB's than moto's (Python,
	// one request at a time). dynalite has no transactions, so the two writes of a
	// transition go one after the other (one more round trip than DynamoDB's single
	// TransactWriteItems). RELINK_BENCH_API_MOTO=1 adds the same on moto.
	dynamoRoutes := func(b *testing.B, endpoint string, noTx bool, kind string) {
		clk := clock.System{}
		tbl := newTable(b, endpoint, noTx)
		loader := newBulk(tbl.c, tbl.name)
		seed, err := dynamo.New(loader, tbl.name, store.Config{Clock: clk, CursorKey: cursorKey})
		if err != nil {
			b.Fatal(err)
		}
		ids := seedAPI(b, seed, registry(b)("https://sandbox.relink.example"), time.Now().UTC())
		if err := loader.close(); err != nil {
			b.Fatal(err)
		}
		st, err := dynamo.New(tbl.db, tbl.name, store.Config{Clock: clk, CursorKey: cursorKey})
		if err != nil {
			b.Fatal(err)
		}
		apiRoutes(b, kind, newAPIEnv(b, st, ids, clk, registry(b)))
	}
	b.Run("dynamodb-dynalite", func(b *testing.B) {
		dynamoRoutes(b, standin.Dynalite(b), true, "dynamodb (dynalite)")
	})
	b.Run("dynamodb-moto", func(b *testing.B) {
		if os.Getenv("RELINK_BENCH_API_MOTO") != "1" {
			b.Skip("RELINK_BENCH_API_MOTO=1 runs the API over moto too")
		}
		dynamoRoutes(b, standin.Moto(b), false, "dynamodb (moto)")
	})
}

// apiRoutes measures list, get and transition on e.
func apiRoutes(b *testing.B, kind string, e *apiEnv) {
	b.Run("list", func(b *testing.B) {
		lat := make([]time.Duration, 0, b.N)
		cursor, pages, listings, seen := "", 0, 0, 0
		var listingTime time.Duration
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			path := "/v1/accounts"
			if cursor != "" {
				path += "?cursor=" + url.QueryEscape(cursor)
			}
			t0 := time.Now()
			body := e.do(b, http.MethodGet, path, nil, http.StatusOK)
			d := time.Since(t0)
			lat = append(lat, d)
			listingTime += d
			b.StopTimer()
			var page struct {
				Accounts []json.RawMessage `json:"accounts"`
				Next     string            `json:"next"`
			}
			if err := json.Unmarshal(body, &page); err != nil {
				b.Fatal(err)
			}
			seen += len(page.Accounts)
			pages++
			cursor = page.Next
			if cursor == "" {
				if seen != len(e.ids)+1 { // the seeded accounts and the sandbox one
					b.Fatalf("a listing returned %d accounts, want %d", seen, len(e.ids)+1)
				}
				listings++
				seen = 0
			}
			b.StartTimer()
		}
		b.StopTimer()
		pageCursor := ""
		allocs := testing.AllocsPerRun(20, func() {
			path := "/v1/accounts"
			if pageCursor != "" {
				path += "?cursor=" + url.QueryEscape(pageCursor)
			}
			body := e.do(b, http.MethodGet, path, nil, http.StatusOK)
			var page struct {
				Next string `json:"next"`
			}
			_ = json.Unmarshal(body, &page)
			pageCursor = page.Next
		})
		apiReport(b, kind, "list page (50 of 1,001)", lat, allocs)
		// A whole listing is 21 pages (1,000 seeded + the sandbox account).
		b.ReportMetric(ms(listingTime)/float64(pages)*21, "ms/listing")
		if len(lat) >= 20 {
			record(figure{Section: "api", Name: fmt.Sprintf("%s list all 1,001 accounts (21 pages)", kind),
				Value: ms(listingTime) / float64(pages) * 21, Unit: "ms", Note: fmt.Sprintf("mean page × 21; %d full listings walked", listings)})
		}
	})
	b.Run("get", func(b *testing.B) {
		lat := make([]time.Duration, 0, b.N)
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			t0 := time.Now()
			e.do(b, http.MethodGet, "/v1/accounts/"+e.ids[i%len(e.ids)], nil, http.StatusOK)
			lat = append(lat, time.Since(t0))
		}
		b.StopTimer()
		i := 0
		allocs := testing.AllocsPerRun(20, func() {
			e.do(b, http.MethodGet, "/v1/accounts/"+e.ids[i%len(e.ids)], nil, http.StatusOK)
			i++
		})
		apiReport(b, kind, "get", lat, allocs)
	})
	b.Run("transition", func(b *testing.B) {
		var deact, act []time.Duration
		note := []byte(`{"note":"bench"}`)
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			t0 := time.Now()
			if i%2 == 0 {
				e.do(b, http.MethodPost, "/v1/accounts/"+e.switched+"/deactivate", note, http.StatusOK)
				deact = append(deact, time.Since(t0))
			} else {
				e.do(b, http.MethodPost, "/v1/accounts/"+e.switched+"/activate", nil, http.StatusOK)
				act = append(act, time.Since(t0))
			}
		}
		b.StopTimer()
		if b.N%2 == 1 { // leave it active for the next run
			e.do(b, http.MethodPost, "/v1/accounts/"+e.switched+"/activate", nil, http.StatusOK)
		}
		n := 0
		allocs := testing.AllocsPerRun(20, func() {
			if n%2 == 0 {
				e.do(b, http.MethodPost, "/v1/accounts/"+e.switched+"/deactivate", note, http.StatusOK)
			} else {
				e.do(b, http.MethodPost, "/v1/accounts/"+e.switched+"/activate", nil, http.StatusOK)
			}
			n++
		})
		if n%2 == 1 {
			e.do(b, http.MethodPost, "/v1/accounts/"+e.switched+"/activate", nil, http.StatusOK)
		}
		apiReport(b, kind, "transition (deactivate/activate)", append(slices.Clone(deact), act...), allocs)
		if len(deact) > 0 && len(act) > 0 {
			slices.Sort(deact)
			slices.Sort(act)
			b.ReportMetric(percentile(deact, 50), "deactivate-p50-ms")
			b.ReportMetric(percentile(act, 50), "activate-p50-ms")
			b.ReportMetric(percentile(act, 99), "activate-p99-ms")
		}
	})
}

func apiReport(b *testing.B, kind, what string, lat []time.Duration, allocs float64) {
	s := slices.Clone(lat)
	slices.Sort(s)
	p50, p99 := percentile(s, 50), percentile(s, 99)
	b.ReportMetric(p50, "p50-ms")
	b.ReportMetric(p99, "p99-ms")
	if len(s) < 20 {
		return // a warm-up round of the benchmark framework
	}
	record(figure{Section: "api", Name: fmt.Sprintf("%s %s p50", kind, what), Value: p50, Unit: "ms",
		Note: fmt.Sprintf("%d requests; %.0f allocations per request", len(s), allocs)})
	record(figure{Section: "api", Name: fmt.Sprintf("%s %s p99", kind, what), Value: p99, Unit: "ms",
		Baseline: p50, BaseName: "p50"})
}
