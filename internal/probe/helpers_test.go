package probe

import (
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/relinkhq/relink/internal/account"
	"github.com/relinkhq/relink/internal/channel"
	"github.com/relinkhq/relink/internal/clock"
	"github.com/relinkhq/relink/internal/relink"
	"github.com/relinkhq/relink/internal/sandbox"
	"github.com/relinkhq/relink/internal/vault"
)

var t0 = time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)

const (
	appID     = "app-1234"
	appSecret = "app-secret-do-not-leak"
)

// creds answers every channel with one app, the sandbox with the sandbox's secret;
// channels in missing have none configured.
type creds struct{ missing map[string]bool }

func (c creds) Credentials(_ context.Context, id string) (channel.Credentials, error) {
	switch {
	case c.missing[id]:
		return channel.Credentials{}, relink.Errorf(relink.EUNAVAILABLE, "Connecting this channel is not set up yet.")
	case id == channel.SandboxID:
		return channel.Credentials{ClientID: "relink-local", ClientSecret: vault.Secret(sandbox.ClientSecret)}, nil
	}
	return channel.Credentials{ClientID: appID, ClientSecret: appSecret}, nil
}

// reply is one canned answer.
type reply struct {
	status int
	body   string
}

// seen is one request a fake channel received.
type seen struct {
	method, path string
	query, form  url.Values
	header       http.Header
}

// fake is a channel's API: it answers each path with a canned reply or a handler and
// records every request.
type fake struct {
	*httptest.Server
	mu       sync.Mutex
	replies  map[string]reply
	handlers map[string]func(seen) reply
	reqs     []seen
}

func newFake(t *testing.T) *fake {
	f := &fake{replies: map[string]reply{}, handlers: map[string]func(seen) reply{}}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		form, _ := url.ParseQuery(string(raw))
		s := seen{method: r.Method, path: r.URL.Path, query: r.URL.Query(), form: form, header: r.Header.Clone()}
		f.mu.Lock()
		f.reqs = append(f.reqs, s)
		rp, ok := f.replies[r.URL.Path]
		h := f.handlers[r.URL.Path]
		f.mu.Unlock()
		if h != nil {
			rp, ok = h(s), true
		}
		if !ok {
			rp = reply{http.StatusNotFound, `{"error":"no such path in the fake"}`}
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(rp.status)
		io.WriteString(w, rp.body)
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fake) on(path string, status int, body string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.replies[path] = reply{status, body}
}

func (f *fake) handle(path string, h func(seen) reply) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.handlers[path] = h
}

func (f *fake) requests() []seen {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]seen(nil), f.reqs...)
}

// retarget points every endpoint of ch at base, keeping the documented paths and
// queries, so a fake answers by the real path.
func retarget(t *testing.T, ch channel.Channel, base string) channel.Channel {
	t.Helper()
	b, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []*string{&ch.AuthorizeURL, &ch.TokenURL, &ch.IntrospectURL, &ch.RevokeURL, &ch.IdentityURL,
		&ch.AccountsURL, &ch.ExchangeURL, &ch.RefreshURL} {
		if *u == "" {
			continue
		}
		p, err := url.Parse(*u)
		if err != nil {
			t.Fatal(err)
		}
		p.Scheme, p.Host = b.Scheme, b.Host
		*u = p.String()
	}
	return ch
}

func registry(t *testing.T, sandboxURL string) *channel.Registry {
	t.Helper()
	reg, err := channel.Default(sandboxURL)
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

func get(t *testing.T, reg *channel.Registry, id string) channel.Channel {
	t.Helper()
	ch, err := reg.Get(id)
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

func newProber(clk clock.Clock, hc *http.Client) *Prober {
	return &Prober{HTTP: hc, Credentials: creds{}, Clock: clk}
}

// acct is an account on ch holding every Page task the channel knows.
func acct(ch channel.Channel) account.Account {
	var tasks []string
	for _, p := range ch.Permissions {
		if p.Kind == channel.KindTask {
			tasks = append(tasks, p.Name)
		}
	}
	return account.Account{WorkspaceID: "ws1", ID: "acc-" + ch.ID, Channel: ch.ID, Scopes: ch.Scopes(), Tasks: tasks}
}

// noSecret fails when any text holds one of the secrets.
func noSecret(t *testing.T, what string, texts []string, secrets ...string) {
	t.Helper()
	for _, text := range texts {
		for _, s := range secrets {
			if s != "" && strings.Contains(text, s) {
				t.Errorf("%s: a secret appears in %q", what, text)
			}
		}
	}
}

// texts is everything a result or error could show: error text and classifications.
func texts(err error, cs ...channel.Classification) []string {
	var out []string
	if err != nil {
		out = append(out, err.Error())
		var te *channel.TokenError
		if errors.As(err, &te) {
			cs = append(cs, te.Classification)
		}
	}
	for _, c := range cs {
		out = append(out, c.Reason, c.Message, c.ChannelError.Code, c.ChannelError.Subcode, c.ChannelError.Message)
	}
	return out
}

func tokenErr(t *testing.T, err error) *channel.TokenError {
	t.Helper()
	var te *channel.TokenError
	if !errors.As(err, &te) {
		t.Fatalf("error %v (%T) is not a *channel.TokenError", err, err)
	}
	return te
}

// sandboxEnv is a real sandbox authorization server on the test clock.
type sandboxEnv struct {
	sb  *sandbox.Server
	srv *httptest.Server
	clk *clock.Manual
	ch  channel.Channel
	p   *Prober
}

func newSandbox(t *testing.T) *sandboxEnv {
	t.Helper()
	clk := clock.NewManual(t0)
	sb := sandbox.New(clk, rand.Reader)
	mux := http.NewServeMux()
	mux.Handle("/sandbox/", sb)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	ch := get(t, registry(t, srv.URL), channel.SandboxID)
	return &sandboxEnv{sb: sb, srv: srv, clk: clk, ch: ch, p: newProber(clk, srv.Client())}
}

// connect plays a person granting scopes (all when none) on the consent screen and
// returns the tokens Relink would seal, as connect does.
func (e *sandboxEnv) connect(t *testing.T, scopes ...string) vault.Tokens {
	t.Helper()
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, e.srv.Client())
	cred, _ := creds{}.Credentials(ctx, channel.SandboxID)
	cfg := e.ch.OAuthConfig(cred, "https://relink.example/oauth/callback")
	verifier := oauth2.GenerateVerifier()
	u, err := url.Parse(e.ch.AuthCodeURL(cfg, "state-1", verifier))
	if err != nil {
		t.Fatal(err)
	}
	form := u.Query()
	form.Set("decision", "allow")
	form.Set("profile", "sandbox-olivia")
	if len(scopes) == 0 {
		scopes = strings.Fields(form.Get("scope"))
	}
	form["grant_scope"] = scopes
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.PostForm(e.srv.URL+"/sandbox/oauth/authorize", form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || loc.Query().Get("code") == "" {
		t.Fatalf("consent answered %d, Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	tok, err := e.ch.Exchange(ctx, cfg, loc.Query().Get("code"), verifier)
	if err != nil {
		t.Fatal(err)
	}
	tokens, _ := e.ch.Grant(tok, cfg.Scopes, e.clk.Now())
	return tokens
}

func (e *sandboxEnv) act(t *testing.T, action, scope string) {
	t.Helper()
	grants := e.sb.Grants()
	if len(grants) == 0 {
		t.Fatal("no sandbox grant")
	}
	if err := e.sb.Act(grants[len(grants)-1].ID, action, scope); err != nil {
		t.Fatal(err)
	}
}
