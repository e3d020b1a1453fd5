package devserver

import (
	"context"
	"crypto/rand"
	"embed"
	"html/template"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/relinkhq/relink/internal/account"
	"github.com/relinkhq/relink/internal/admin"
	"github.com/relinkhq/relink/internal/api"
	"github.com/relinkhq/relink/internal/auth"
	"github.com/relinkhq/relink/internal/channel"
	"github.com/relinkhq/relink/internal/checkup"
	"github.com/relinkhq/relink/internal/clock"
	"github.com/relinkhq/relink/internal/connect"
	"github.com/relinkhq/relink/internal/demo"
	"github.com/relinkhq/relink/internal/digest"
	"github.com/relinkhq/relink/internal/ident"
	"github.com/relinkhq/relink/internal/magiclink"
	"github.com/relinkhq/relink/internal/mailbox"
	"github.com/relinkhq/relink/internal/portal"
	"github.com/relinkhq/relink/internal/probe"
	"github.com/relinkhq/relink/internal/relink"
	"github.com/relinkhq/relink/internal/sandbox"
	"github.com/relinkhq/relink/internal/secrets"
	"github.com/relinkhq/relink/internal/store"
	"github.com/relinkhq/relink/internal/vault"
	"github.com/relinkhq/relink/internal/workspace"
)

//go:embed templates/*.html static/*.css
var assets embed.FS

var pages = template.Must(template.New("").Funcs(template.FuncMap{
	"when":   when,
	"label":  func(s string) string { return strings.ReplaceAll(s, "_", " ") },
	"joinCs": joinCapabilities,
}).ParseFS(assets, "templates/*.html"))

// handler serves the local overview pages and the dev mailbox; the owner pages, the
// sandbox channel and (later) the admin API are mounted beside them.
type handler struct {
	store   store.Store
	clock   clock.Clock
	logger  *slog.Logger
	mailbox *mailbox.Mailbox
}

// appConfig is what the local app is built from.
type appConfig struct {
	Store   store.Store
	Clock   *clock.Offset
	IDs     ident.Generator
	Keys    secrets.AppKeys
	Ring    vault.KeyRing
	BaseURL string
	Logger  *slog.Logger
}

// app is the local service: every route, and what the banner needs.
type app struct {
	handler http.Handler
	portal  *portal.Service
	mailbox *mailbox.Mailbox
	sandbox *sandbox.Server
	issuer  auth.Issuer
	// scheduler runs the expiry check and reminders on the local clock.
	scheduler *scheduler
}

// apiToken is a dev bearer token for a person of the demo workspace.
func (a *app) apiToken(userID string) (string, error) {
	return a.issuer.Issue(auth.Claims{Subject: userID, WorkspaceID: demo.WorkspaceID})
}

type fixedRing struct{ ring vault.KeyRing }

func (f fixedRing) KeyRing(context.Context) (vault.KeyRing, error) { return f.ring, nil }

// build wires the local service: the same services and handlers as the Lambda
// functions, over the embedded store, the dev mailbox and the sandbox channel.
func build(cfg appConfig) (*app, error) {
	registry, err := channel.Default(cfg.BaseURL)
	if err != nil {
		return nil, err
	}
	// The sandbox's app credentials are fixed; real channels' come from
	// RELINK_SECRET_RELINK_CHANNELS ({"facebook":{"client_id":…,"client_secret":…}}) if set.
	creds := &secrets.ChannelCredentials{Values: secrets.Env{}, Name: "relink/channels",
		Fixed: map[string]channel.Credentials{channel.SandboxID: {ClientID: "relink-local", ClientSecret: vault.Secret(sandbox.ClientSecret)}}}
	box := mailbox.New(cfg.Clock)
	sb := sandbox.New(cfg.Clock, rand.Reader)
	channelHTTP := &http.Client{Timeout: 10 * time.Second}
	svc := portal.New(portal.Deps{
		Store: cfg.Store, Registry: registry, Credentials: creds, Identifiers: connect.DefaultIdentifiers(channelHTTP, creds),
		Vault: vault.New(fixedRing{cfg.Ring}), Mail: box, Clock: cfg.Clock, IDs: cfg.IDs, Random: rand.Reader, HTTP: channelHTTP,
		BaseURL: cfg.BaseURL, CodePepper: cfg.Keys.CodePepper, UnsubscribeKey: cfg.Keys.Unsubscribe, Logger: cfg.Logger,
	})
	owner := portal.NewHandler(svc, portal.Signer{Key: cfg.Keys.Session})
	// One prober for the admin API and the expiry check, guarding refresh tokens as the
	// functions do across Lambda instances.
	prober := &probe.Prober{HTTP: channelHTTP, Credentials: creds, Clock: cfg.Clock,
		Renewals: &probe.StoreRenewals{Sends: cfg.Store, Clock: cfg.Clock, IDs: cfg.IDs, Logger: cfg.Logger}}
	// The admin API behind dev tokens, as API Gateway's JWT authorizer puts it in AWS.
	issuer := auth.Issuer{Key: cfg.Keys.APIToken, Issuer: "relink-local", Audience: "relink-api", Now: cfg.Clock.Now}
	adminSvc := &admin.Service{Store: cfg.Store, Registry: registry, Links: svc.Links, Connect: svc.Connect, Mail: box,
		Clock: cfg.Clock, IDs: cfg.IDs, Random: rand.Reader, Logger: cfg.Logger,
		Checker: admin.ProbeChecker{Store: cfg.Store, Vault: vault.New(fixedRing{cfg.Ring}), Registry: registry,
			Prober: prober}}
	adminAPI := issuer.Middleware(api.NewHandler(adminSvc, cfg.Logger))
	// The two scheduled functions, on the local clock.
	sched := &scheduler{clock: cfg.Clock, logger: cfg.Logger,
		checks: &checkup.Service{Store: cfg.Store, Registry: registry, Vault: vault.New(fixedRing{cfg.Ring}),
			Prober: prober, Clock: cfg.Clock, IDs: cfg.IDs,
			Logger: cfg.Logger, Margin: time.Second},
		reminders: &digest.Service{Store: cfg.Store, Registry: registry, Links: svc.Links, Unsubscribe: svc.Unsubscribe,
			Mail: box, Clock: cfg.Clock, IDs: cfg.IDs, Logger: cfg.Logger, Margin: time.Second}}

	h := &handler{store: cfg.Store, clock: cfg.Clock, logger: cfg.Logger, mailbox: box}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", h.overview)
	mux.HandleFunc("GET /dev/accounts/{id}", h.account)
	mux.HandleFunc("GET /dev/mail", h.mail)
	mux.HandleFunc("GET /dev/mail/{id}/html", h.mailHTML)
	mux.HandleFunc("GET /dev/clock", sched.page(h))
	mux.Handle("POST /dev/clock", http.NewCrossOriginProtection().Handler(sched.move(h)))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok\n")) })
	mux.Handle("GET /static/", http.FileServerFS(assets))
	for _, route := range portal.Routes {
		mux.Handle(route, owner)
	}
	mux.Handle("/v1/", adminAPI)
	// The sandbox channel's authorization server and its controls (revoke, expire,
	// drop a permission, password change…), so every state can be produced by hand.
	mux.Handle("/sandbox/", sb)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		h.fail(w, r, relink.Errorf(relink.ENOTFOUND, "There is no page at %s.", r.URL.Path))
	})
	return &app{handler: secure(mux), portal: svc, mailbox: box, sandbox: sb, issuer: issuer, scheduler: sched}, nil
}

// ownerLink rotates the person's personal connect link and returns it, so every start
// prints one that works (and the previous start's stops working).
func (a *app) ownerLink(ctx context.Context, userID string) (string, error) {
	u, err := a.portal.Store.GetUser(ctx, demo.WorkspaceID, userID)
	if err != nil {
		return "", err
	}
	url, _, err := a.portal.Links.Rotate(ctx, magiclink.Spec{WorkspaceID: demo.WorkspaceID, UserID: u.ID, Email: u.Email,
		Purpose: magiclink.PurposeConnect})
	return url, err
}

// secure sets the headers every page carries: no inline script or style, no framing,
// and no referrer, so that links carrying secrets never leak through Referer.
func secure(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

type row struct {
	account.Account
	OwnerName string
	Expiring  bool
}

type overviewPage struct {
	Workspace workspace.Workspace
	Now       time.Time
	Users     []workspace.User
	Rows      []row
	Counts    []stateCount
}

type stateCount struct {
	State account.State
	N     int
}

func (h *handler) overview(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	wsID := r.URL.Query().Get("workspace")
	if wsID == "" {
		wsID = demo.WorkspaceID
	}
	ws, err := h.store.GetWorkspace(ctx, wsID)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	users, err := h.store.ListUsers(ctx, wsID)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	names := map[string]string{}
	for _, u := range users {
		names[u.ID] = u.Name
	}
	accounts, err := h.allAccounts(ctx, wsID, account.Filter{})
	if err == nil {
		var deleted []account.Account
		deleted, err = h.allAccounts(ctx, wsID, account.Filter{State: account.StateDeleted})
		accounts = append(accounts, deleted...)
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	now := h.clock.Now()
	page := overviewPage{Workspace: ws, Now: now, Users: users}
	count := map[account.State]int{}
	for _, a := range accounts {
		count[a.State]++
		page.Rows = append(page.Rows, row{Account: a, OwnerName: names[a.OwnerID],
			Expiring: a.Expiring(now, ws.Settings.WarningWindow)})
	}
	for _, s := range account.States {
		page.Counts = append(page.Counts, stateCount{State: s, N: count[s]})
	}
	h.render(w, r, "overview.html", page)
}

func (h *handler) allAccounts(ctx context.Context, wsID string, f account.Filter) ([]account.Account, error) {
	var out []account.Account
	p := store.Page{Limit: store.MaxLimit}
	for {
		page, err := h.store.ListAccounts(ctx, wsID, f, p)
		if err != nil {
			return nil, err
		}
		out = append(out, page.Accounts...)
		if page.Next == "" {
			return out, nil
		}
		p.Cursor = page.Next
	}
}

type accountPage struct {
	Account   account.Account
	OwnerName string
	Events    []account.Event
	Now       time.Time
}

func (h *handler) account(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	wsID := r.URL.Query().Get("workspace")
	if wsID == "" {
		wsID = demo.WorkspaceID
	}
	a, err := h.store.GetAccount(ctx, wsID, r.PathValue("id"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	page := accountPage{Account: a, Now: h.clock.Now()}
	if u, err := h.store.GetUser(ctx, wsID, a.OwnerID); err == nil {
		page.OwnerName = u.Name
	}
	p := store.Page{Limit: store.MaxLimit}
	for {
		ev, err := h.store.Events(ctx, wsID, a.ID, p)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		page.Events = append(page.Events, ev.Events...)
		if ev.Next == "" {
			break
		}
		p.Cursor = ev.Next
	}
	h.render(w, r, "account.html", page)
}

func (h *handler) render(w http.ResponseWriter, r *http.Request, name string, data any) {
	var b strings.Builder
	if err := pages.ExecuteTemplate(&b, name, data); err != nil {
		h.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Write([]byte(b.String()))
}

type errorPage struct {
	Status  int
	Message string
}

// fail answers with a friendly page; internal details go to the log only.
func (h *handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	status := relink.HTTPStatus(err)
	if status >= 500 {
		h.logger.ErrorContext(r.Context(), "request failed", "path", r.URL.Path, "err", err)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := pages.ExecuteTemplate(w, "error.html", errorPage{Status: status, Message: relink.ErrorMessage(err)}); err != nil {
		h.logger.ErrorContext(r.Context(), "render error page", "err", err)
	}
}

// when renders a time for people: "—" for none.
func when(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}

func joinCapabilities(cs []account.Capability) string {
	s := make([]string, len(cs))
	for i, c := range cs {
		s[i] = string(c)
	}
	return strings.Join(s, ", ")
}
