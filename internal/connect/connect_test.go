package connect

import (
	"context"
	"crypto/rand"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/relinkhq/relink/internal/account"
	"github.com/relinkhq/relink/internal/bolt"
	"github.com/relinkhq/relink/internal/channel"
	"github.com/relinkhq/relink/internal/clock"
	"github.com/relinkhq/relink/internal/ident"
	"github.com/relinkhq/relink/internal/relink"
	"github.com/relinkhq/relink/internal/sandbox"
	"github.com/relinkhq/relink/internal/store"
	"github.com/relinkhq/relink/internal/vault"
	"github.com/relinkhq/relink/internal/workspace"
)

var t0 = time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)

type staticCreds struct{}

func (staticCreds) Credentials(context.Context, string) (channel.Credentials, error) {
	return channel.Credentials{ClientID: "relink-local", ClientSecret: vault.Secret(sandbox.ClientSecret)}, nil
}

type ringSource struct{ ring vault.KeyRing }

func (r ringSource) KeyRing(context.Context) (vault.KeyRing, error) { return r.ring, nil }

type fixture struct {
	svc     *Service
	store   store.Store
	clock   *clock.Manual
	sandbox *sandbox.Server
	srv     *httptest.Server
	vault   *vault.Vault
}

const ws = "ws1"

var (
	olivia = Who{WorkspaceID: ws, UserID: "u-olivia", Role: workspace.RoleOwner}
	omar   = Who{WorkspaceID: ws, UserID: "u-omar", Role: workspace.RoleOwner}
)

func newFixture(t *testing.T) *fixture {
	t.Helper()
	clk := clock.NewManual(t0)
	st, err := bolt.Open(filepath.Join(t.TempDir(), "relink.db"), store.Config{Clock: clk, CursorKey: []byte("connect-test-cursor-key-0123456789")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	sb := sandbox.New(clk, rand.Reader)
	mux := http.NewServeMux()
	mux.Handle("/sandbox/", sb)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	reg, err := channel.Default(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := vault.GenerateKeyRing("k1")
	if err != nil {
		t.Fatal(err)
	}
	ring, err := vault.ParseKeyRing(raw)
	if err != nil {
		t.Fatal(err)
	}
	v := vault.New(ringSource{ring})
	ctx := context.Background()
	for _, u := range []workspace.User{
		{WorkspaceID: ws, ID: "u-olivia", Email: "olivia@example.com", Role: workspace.RoleOwner},
		{WorkspaceID: ws, ID: "u-omar", Email: "omar@example.com", Role: workspace.RoleOwner},
		{WorkspaceID: ws, ID: "u-admin", Email: "admin@example.com", Role: workspace.RoleAdmin},
	} {
		if _, err := st.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	svc := &Service{Store: st, Registry: reg, Credentials: staticCreds{},
		Identifiers: map[string]Identifier{channel.SandboxID: SandboxIdentifier{HTTP: srv.Client()}},
		Vault:       v, Clock: clk, IDs: &ident.Sequence{Prefix: "id-"}, Random: rand.Reader,
		BaseURL: "https://relink.example"}
	return &fixture{svc: svc, store: st, clock: clk, sandbox: sb, srv: srv, vault: v}
}

// consent plays the person on the sandbox's consent screen and returns what the
// channel sends back to Relink's callback.
func (f *fixture) consent(t *testing.T, authorizeURL, profile, decision string, refuse ...string) Callback {
	t.Helper()
	u, err := url.Parse(authorizeURL)
	if err != nil {
		t.Fatal(err)
	}
	page, err := http.Get(authorizeURL)
	if err != nil || page.StatusCode != http.StatusOK {
		t.Fatalf("consent page: %v %v", err, page)
	}
	page.Body.Close()
	form := u.Query()
	form.Set("profile", profile)
	form.Set("decision", decision)
	for _, s := range strings.Fields(form.Get("scope")) {
		if !slices.Contains(refuse, s) {
			form.Add("grant_scope", s)
		}
	}
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.PostForm(f.srv.URL+"/sandbox/oauth/authorize", form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || resp.StatusCode != http.StatusFound || !strings.HasPrefix(loc.String(), "https://relink.example/oauth/callback") {
		t.Fatalf("consent answered %d, Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	q := loc.Query()
	return Callback{State: q.Get("state"), Code: q.Get("code"), Error: q.Get("error")}
}

func (f *fixture) connect(t *testing.T, who Who, accountID, profile string, refuse ...string) (Outcome, error) {
	t.Helper()
	u, err := f.svc.Start(context.Background(), who, channel.SandboxID, accountID)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	return f.svc.Callback(context.Background(), f.consent(t, u, profile, "allow", refuse...))
}

func (f *fixture) all(t *testing.T) map[string]account.Account {
	t.Helper()
	p, err := f.store.ListAccounts(context.Background(), ws, account.Filter{}, store.Page{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]account.Account{}
	for _, a := range p.Accounts {
		out[a.ExternalID] = a
	}
	return out
}

func TestConnectReaddAndRefusals(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()

	// Connect: one sandbox login grants two pages → two accounts under one parent profile.
	out, err := f.connect(t, olivia, "", "sandbox-olivia")
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	if len(out.Accounts) != 2 {
		t.Fatalf("connected %d accounts, want 2", len(out.Accounts))
	}
	for _, a := range out.Accounts {
		if a.State != account.StateActive || a.OwnerID != "u-olivia" || a.ParentProfileID != "sandbox-olivia" || !a.Refreshable ||
			!a.TokenExpiresAt.Equal(t0.Add(time.Hour)) || !a.RefreshExpiresAt.Equal(t0.Add(90*24*time.Hour)) {
			t.Fatalf("connected account = %+v", a)
		}
		sealed, err := f.store.GetTokens(ctx, ws, a.ID)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(sealed), "sandbox") {
			t.Fatal("tokens are not sealed at rest")
		}
		tok, err := f.vault.OpenTokens(ctx, sealed, ws+"/"+a.ID)
		if err != nil || tok.Access.Reveal() == "" || tok.Refresh.Reveal() == "" {
			t.Fatalf("stored tokens: %v", err)
		}
	}
	before := f.all(t)
	brand := before["sandbox-1"]

	// Re-add with "report" refused: the same account, in place, now action required
	// with exactly the missing permission and what it breaks.
	f.clock.Advance(time.Hour)
	out, err = f.connect(t, olivia, brand.ID, "sandbox-olivia", "report")
	if err != nil {
		t.Fatalf("re-add: %v", err)
	}
	after := f.all(t)
	if len(after) != 2 || len(out.Accounts) != 1 || out.Accounts[0].ID != brand.ID {
		t.Fatalf("re-add created or touched other accounts: %d accounts, outcome %d", len(after), len(out.Accounts))
	}
	re := after["sandbox-1"]
	if re.State != account.StateActionRequired || re.Version != brand.Version+1 ||
		!slices.EqualFunc(re.Missing, []account.MissingPermission{{Name: "report", Kind: channel.KindScope, Breaks: []account.Capability{account.CapReport}}},
			func(a, b account.MissingPermission) bool { return a.Name == b.Name && slices.Equal(a.Breaks, b.Breaks) }) {
		t.Fatalf("re-added account = %+v", re)
	}
	if after["sandbox-2"].Version != before["sandbox-2"].Version {
		t.Fatal("a re-add of one account changed its sibling")
	}

	// Nothing below may change any account.
	unchanged := func(what string) {
		t.Helper()
		now := f.all(t)
		for ext, a := range after {
			if now[ext].Version != a.Version || now[ext].OwnerID != a.OwnerID {
				t.Fatalf("%s changed %s", what, ext)
			}
		}
		if len(now) != len(after) {
			t.Fatalf("%s created accounts", what)
		}
	}

	// Replayed state.
	u, _ := f.svc.Start(ctx, olivia, channel.SandboxID, "")
	cb := f.consent(t, u, "sandbox-olivia", "allow")
	if _, err := f.svc.Callback(ctx, cb); err != nil {
		t.Fatalf("callback: %v", err)
	}
	after = f.all(t)
	if _, err := f.svc.Callback(ctx, cb); relink.ErrorCode(err) != relink.ENOTFOUND {
		t.Fatalf("replayed state: %v", err)
	}
	unchanged("a replayed state")

	// Forged state.
	for _, forged := range []string{"", "abc", strings.Repeat("A", 43), cb.State + "x"} {
		if _, err := f.svc.Callback(ctx, Callback{State: forged, Code: cb.Code}); relink.ErrorCode(err) != relink.ENOTFOUND {
			t.Fatalf("forged state %q: %v", forged, err)
		}
	}
	unchanged("a forged state")

	// A consent that took too long.
	u, _ = f.svc.Start(ctx, olivia, channel.SandboxID, "")
	f.clock.Advance(11 * time.Minute)
	if _, err := f.svc.Callback(ctx, Callback{State: stateOf(t, u), Code: "whatever"}); relink.ErrorCode(err) != relink.EGONE {
		t.Fatalf("expired consent: %v", err)
	}
	unchanged("an expired consent")

	// Denied on the consent screen.
	u, _ = f.svc.Start(ctx, olivia, channel.SandboxID, "")
	out, err = f.svc.Callback(ctx, f.consent(t, u, "sandbox-olivia", "deny"))
	if err != nil || !out.Denied {
		t.Fatalf("denied consent: %+v %v", out, err)
	}
	unchanged("a denied consent")

	// Another owner signing in with Olivia's profile: transfer first.
	_, err = f.connect(t, omar, "", "sandbox-olivia")
	if relink.ErrorCode(err) != relink.EFORBIDDEN || !strings.Contains(relink.ErrorMessage(err), "transfer") {
		t.Fatalf("parent profile of another owner: %v", err)
	}
	unchanged("another owner's login")

	// Another owner's account ID cannot even start.
	if _, err := f.svc.Start(ctx, omar, channel.SandboxID, brand.ID); relink.ErrorCode(err) != relink.ENOTFOUND {
		t.Fatalf("start on another owner's account: %v", err)
	}

	// A re-add signed in with a profile that does not manage the account.
	_, err = f.connect(t, olivia, brand.ID, "sandbox-omar")
	if relink.ErrorCode(err) != relink.EINVALID || !strings.Contains(relink.ErrorMessage(err), "Sandbox Brand") {
		t.Fatalf("re-add with the wrong profile: %v", err)
	}
	unchanged("a re-add with the wrong profile")

	// An admin may re-add an owner's account; it stays the owner's.
	admin := Who{WorkspaceID: ws, UserID: "u-admin", Role: workspace.RoleAdmin}
	out, err = f.connect(t, admin, brand.ID, "sandbox-olivia")
	if err != nil || out.Accounts[0].State != account.StateActive || out.Accounts[0].OwnerID != "u-olivia" {
		t.Fatalf("admin re-add: %+v %v", out, err)
	}
}

// TestReaddKeepsRefreshTokenNotResent: a channel that answers a re-add without a refresh
// token must not cost the stored one.
func TestReaddKeepsRefreshTokenNotResent(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	out, err := f.connect(t, olivia, "", "sandbox-olivia")
	if err != nil {
		t.Fatal(err)
	}
	a := out.Accounts[0]
	sealed, _ := f.store.GetTokens(ctx, ws, a.ID)
	first, _ := f.vault.OpenTokens(ctx, sealed, ws+"/"+a.ID)

	ch, _ := f.svc.Registry.Get(channel.SandboxID)
	tokens, grant := vault.Tokens{Access: "new-access"}, account.Grant{Scopes: ch.Scopes()}
	got, err := f.svc.connectOne(ctx, workspace.User{WorkspaceID: ws, ID: "u-olivia", Role: workspace.RoleOwner}, ch,
		step{id: Identity{ExternalID: a.ExternalID, Name: a.DisplayName, Parent: "sandbox-olivia"}, existing: &a}, tokens, grant, t0)
	if err != nil {
		t.Fatal(err)
	}
	sealed, _ = f.store.GetTokens(ctx, ws, a.ID)
	kept, _ := f.vault.OpenTokens(ctx, sealed, ws+"/"+a.ID)
	if kept.Access.Reveal() != "new-access" || kept.Refresh.Reveal() != first.Refresh.Reveal() || !got.Refreshable {
		t.Fatalf("refresh token lost on re-add: refreshable=%v", got.Refreshable)
	}
}

func stateOf(t *testing.T, authorizeURL string) string {
	u, err := url.Parse(authorizeURL)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query().Get("state")
}

// TestChannelErrorsOnCallback: a person saying no is not an error; the channel failing
// or refusing is, with a message that never echoes free text from the query.
func TestChannelErrorsOnCallback(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	for _, tc := range []struct {
		err    string
		denied bool
		code   string
		shows  string
	}{
		{err: "access_denied", denied: true},
		{err: "server_error", code: relink.EUNAVAILABLE},
		{err: "invalid_scope", code: relink.EINVALID, shows: "(invalid_scope)"},
		{err: "<script>alert(1)</script>", code: relink.EINVALID, shows: "(an error)"},
	} {
		u, err := f.svc.Start(ctx, olivia, channel.SandboxID, "")
		if err != nil {
			t.Fatal(err)
		}
		out, err := f.svc.Callback(ctx, Callback{State: stateOf(t, u), Error: tc.err})
		if out.Denied != tc.denied || relink.ErrorCode(err) != tc.code || !strings.Contains(relink.ErrorMessage(err), tc.shows) ||
			strings.Contains(relink.ErrorMessage(err), "<script>") {
			t.Errorf("error=%s: denied %v, %v", tc.err, out.Denied, err)
		}
	}
	if len(f.all(t)) != 0 {
		t.Fatal("a failed callback created accounts")
	}
}
