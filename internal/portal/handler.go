package portal

import (
	"bytes"
	"embed"
	"html/template"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/relinkhq/relink/internal/account"
	"github.com/relinkhq/relink/internal/connect"
	"github.com/relinkhq/relink/internal/relink"
)

//go:embed templates/*.html static/*
var assets embed.FS

// pages are parsed on first use, not at start-up: the functions that only send mail
// or answer JSON import this package and never render a page.
var pages = sync.OnceValue(func() *template.Template {
	return template.Must(template.New("").Funcs(template.FuncMap{
		"date": func(t time.Time) string { return t.UTC().Format("2 January 2006") },
	}).ParseFS(assets, "templates/*.html"))
})

// maxForm bounds a form body: every form here is a few short fields.
const maxForm = 16 << 10

// Handler serves the owner pages. Routes:
//
//	GET  /l/{token}            open a magic link: start a session, go to the accounts
//	GET  /me                   the person's accounts; Reconnect each; connect a new one
//	POST /me/reconnect         start the channel's consent for one account
//	POST /me/connect           start the channel's consent for new accounts
//	GET  /invite               an invite: choose a channel
//	POST /invite/connect       start the consent of an invite
//	GET  /invite/code          type the emailed code
//	POST /invite/code          check it and add the accounts
//	POST /invite/code/resend   email a new code
//	GET  /oauth/callback       where channels send people back
//	GET  /link/new             ask for a new link by address
//	POST /link/new             … by address or from an old link's page
//	POST /signout              end the session
//	GET  /unsubscribe          confirm stopping reminder emails (signed link)
//	POST /unsubscribe          stop (or restart) them
//	GET  /assets/portal.css
type Handler struct {
	svc    *Service
	signer Signer
	logger *slog.Logger
	csp    string
	mux    *http.ServeMux
}

// Routes lists the method and path of every route, for the API Gateway template check.
var Routes = []string{
	"GET /l/{token}", "GET /me", "POST /me/reconnect", "POST /me/connect", "GET /invite", "POST /invite/connect",
	"GET /invite/code", "POST /invite/code", "POST /invite/code/resend", "GET /oauth/callback",
	"GET /link/new", "POST /link/new", "POST /signout", "GET /unsubscribe", "POST /unsubscribe", "GET /assets/portal.css",
}

// NewHandler returns the owner pages' handler.
func NewHandler(svc *Service, signer Signer) *Handler {
	h := &Handler{svc: svc, signer: signer, logger: svc.Logger}
	if h.logger == nil {
		h.logger = slog.Default()
	}
	// Forms may end in a redirect to a channel's consent screen, and CSP's form-action
	// covers redirects: allow exactly the registry's authorize origins, nothing else.
	origins := []string{"'self'"}
	for _, id := range svc.Registry.IDs() {
		ch, _ := svc.Registry.Get(id)
		if u, err := url.Parse(ch.AuthorizeURL); err == nil && u.Host != "" {
			if o := u.Scheme + "://" + u.Host; !slices.Contains(origins, o) {
				origins = append(origins, o)
			}
		}
	}
	h.csp = "default-src 'none'; style-src 'self'; img-src 'self'; form-action " + strings.Join(origins, " ") +
		"; frame-ancestors 'none'; base-uri 'none'"

	cop := http.NewCrossOriginProtection()
	post := func(f http.HandlerFunc) http.Handler { return cop.Handler(h.checkCSRF(f)) }
	m := http.NewServeMux()
	m.HandleFunc("GET /l/{token}", h.open)
	m.HandleFunc("GET /me", h.me)
	m.Handle("POST /me/reconnect", post(h.reconnect))
	m.Handle("POST /me/connect", post(h.connectNew))
	m.HandleFunc("GET /invite", h.invite)
	m.Handle("POST /invite/connect", post(h.connectNew))
	m.HandleFunc("GET /invite/code", h.codeForm)
	m.Handle("POST /invite/code", post(h.confirmCode))
	m.Handle("POST /invite/code/resend", post(h.resendCode))
	m.HandleFunc("GET /oauth/callback", h.callback)
	m.HandleFunc("GET /link/new", h.requestForm)
	m.Handle("POST /link/new", post(h.requestLink))
	m.Handle("POST /signout", post(h.signout))
	m.HandleFunc("GET /unsubscribe", h.unsubscribeForm)
	m.Handle("POST /unsubscribe", post(h.unsubscribe))
	m.HandleFunc("GET /assets/portal.css", h.css)
	h.mux = m
	return h
}

// ServeHTTP sets the headers every page carries, bounds bodies, and serves the route.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", h.csp)
	hd.Set("Referrer-Policy", "no-referrer") // link and callback URLs carry secrets
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Cache-Control", "no-store")
	if r.TLS != nil || r.Header.Get("X-Forwarded-Proto") == "https" {
		hd.Set("Strict-Transport-Security", "max-age=31536000")
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if _, pattern := h.mux.Handler(r); pattern == "" {
		h.fail(w, r, relink.Errorf(relink.ENOTFOUND, "There is no page here. Open the link from your email."))
		return
	}
	h.mux.ServeHTTP(w, r)
}

// Match reports whether the handler serves r's path (the local server routes by it).
func (h *Handler) Match(r *http.Request) bool {
	_, pattern := h.mux.Handler(r)
	return pattern != ""
}

// page is what every template gets.
type page struct {
	Title  string
	CSRF   string
	Viewer *Viewer
	Flash  *flash
	Error  string
	Data   any
}

type flash struct {
	Kind  string // "ok" or "warn"
	Text  string
	Names []string
}

func (h *Handler) render(w http.ResponseWriter, r *http.Request, status int, name string, p page) {
	if p.CSRF == "" {
		p.CSRF = h.csrf(w, r)
	}
	var b bytes.Buffer
	if err := pages().ExecuteTemplate(&b, name, p); err != nil {
		h.logger.ErrorContext(r.Context(), "render page", "route", r.Pattern, "template", name, "err", err)
		status, b = http.StatusInternalServerError, bytes.Buffer{}
		_ = pages().ExecuteTemplate(&b, "message.html", page{Title: "Something went wrong",
			Data: message{Text: "Something went wrong on our side. Try again in a minute."}})
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
}

// csrf returns the form token for this browser, setting its CSRF cookie if it has none.
func (h *Handler) csrf(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(csrfCookie); err == nil && c.Value != "" && len(c.Value) < 100 {
		return h.signer.CSRFToken(c.Value)
	}
	v, err := newCSRFCookie(h.svc.Random)
	if err != nil {
		return ""
	}
	setCookie(w, csrfCookie, v, 24*time.Hour)
	// Later reads in this request see it too.
	r.AddCookie(&http.Cookie{Name: csrfCookie, Value: v})
	return h.signer.CSRFToken(v)
}

// checkCSRF refuses a POST whose form token does not match the browser's CSRF cookie.
func (h *Handler) checkCSRF(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			h.fail(w, r, relink.Errorf(relink.EINVALID, "The form could not be read. Go back, reload the page and try again."))
			return
		}
		c, err := r.Cookie(csrfCookie)
		if err != nil || !h.signer.CheckCSRF(c.Value, r.PostForm.Get("csrf")) {
			h.fail(w, r, relink.Errorf(relink.EFORBIDDEN, "This form has expired. Go back, reload the page and try again."))
			return
		}
		next(w, r)
	}
}

// viewer resumes the browser's session, or answers with the "session ended" page.
func (h *Handler) viewer(w http.ResponseWriter, r *http.Request) (Viewer, bool) {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		h.fail(w, r, relink.Errorf(relink.EUNAUTHORIZED, "To see your accounts, open the link from your email."))
		return Viewer{}, false
	}
	sess, ok := h.signer.Decode(c.Value, h.svc.Clock.Now())
	if !ok {
		clearCookie(w, sessionCookie)
		h.fail(w, r, relink.Errorf(relink.EUNAUTHORIZED, "Your session has ended. Open the link from your email again."))
		return Viewer{}, false
	}
	v, err := h.svc.Resume(r.Context(), sess)
	if err != nil {
		if relink.ErrorCode(err) == relink.EUNAUTHORIZED {
			clearCookie(w, sessionCookie)
		}
		h.fail(w, r, err)
		return Viewer{}, false
	}
	return v, true
}

func (h *Handler) open(w http.ResponseWriter, r *http.Request) {
	token := r.PathValue("token")
	sess, err := h.svc.Open(r.Context(), token)
	switch relink.ErrorCode(err) {
	case "":
	case relink.EGONE:
		h.render(w, r, http.StatusGone, "link_gone.html", page{Title: "This link no longer works",
			Data: linkGone{Reason: relink.ErrorMessage(err), Token: token}})
		return
	case relink.ENOTFOUND:
		h.render(w, r, http.StatusNotFound, "request.html", page{Title: "This link is not valid",
			Data: requestPage{Intro: relink.ErrorMessage(err)}})
		return
	default:
		h.fail(w, r, err)
		return
	}
	value, err := h.signer.Encode(sess)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	// Max-Age from the service clock: the browser counts it from receipt, so its own clock never matters.
	setCookie(w, sessionCookie, value, time.Unix(sess.Expires, 0).Sub(h.svc.Clock.Now()).Round(time.Second))
	to := "/me"
	if sess.Purpose == "invite" {
		to = "/invite"
	}
	// The token leaves the address bar at once: a reload or a shared screen shows /me.
	http.Redirect(w, r, to, http.StatusSeeOther)
}

func (h *Handler) me(w http.ResponseWriter, r *http.Request) {
	v, ok := h.viewer(w, r)
	if !ok {
		return
	}
	o, err := h.svc.Overview(r.Context(), v)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.render(w, r, http.StatusOK, "me.html", page{Title: "Your accounts", Viewer: &v, Flash: outcomeFlash(r.URL.Query(), o), Data: o})
}

// outcomeFlash reads "?connected=<ids>" after a consent: the confirmation bar names the
// viewer's accounts among those IDs (nothing else can be made to appear).
func outcomeFlash(q url.Values, o Overview) *flash {
	ids := strings.Split(q.Get("connected"), ",")
	if len(ids) == 0 || ids[0] == "" || len(ids) > 50 {
		return nil
	}
	f := &flash{Kind: "ok"}
	for _, a := range o.Accounts {
		if slices.Contains(ids, a.ID) {
			f.Names = append(f.Names, a.Name)
			if a.State == account.StateActionRequired {
				f.Kind = "warn"
			}
		}
	}
	if len(f.Names) == 0 {
		return nil
	}
	f.Text = "Connected:"
	if f.Kind == "warn" {
		f.Text = "Connected, but some permissions are still missing — see below:"
	}
	return f
}

func (h *Handler) reconnect(w http.ResponseWriter, r *http.Request) {
	v, ok := h.viewer(w, r)
	if !ok {
		return
	}
	to, err := h.svc.Reconnect(r.Context(), v, r.PostForm.Get("account"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
}

func (h *Handler) connectNew(w http.ResponseWriter, r *http.Request) {
	v, ok := h.viewer(w, r)
	if !ok {
		return
	}
	to, err := h.svc.ConnectNew(r.Context(), v, r.PostForm.Get("channel"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
}

func (h *Handler) invite(w http.ResponseWriter, r *http.Request) {
	v, ok := h.viewer(w, r)
	if !ok {
		return
	}
	inv, err := h.svc.Invitation(r.Context(), v)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	// The link names the invited person, not the inviter (whom it does not record), so
	// the page says "You were invited" rather than naming the invited person as their
	// own inviter. InvitedBy stays empty until links record who sent the invite.
	h.render(w, r, http.StatusOK, "invite.html", page{Title: "Connect your accounts", Viewer: &v, Data: inv})
}

type codePage struct {
	Flow, SentTo string
	Pending      []string
}

func (h *Handler) codeForm(w http.ResponseWriter, r *http.Request) {
	v, ok := h.viewer(w, r)
	if !ok {
		return
	}
	out, err := h.svc.Pending(r.Context(), v, r.URL.Query().Get("flow"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.render(w, r, http.StatusOK, "code.html", page{Title: "Type your code", Viewer: &v,
		Data: codePage{Flow: out.Flow, SentTo: out.CodeSentTo, Pending: out.Pending}})
}

func (h *Handler) confirmCode(w http.ResponseWriter, r *http.Request) {
	v, ok := h.viewer(w, r)
	if !ok {
		return
	}
	flow := r.PostForm.Get("flow")
	out, err := h.svc.ConfirmCode(r.Context(), v, flow, r.PostForm.Get("code"))
	if relink.ErrorCode(err) == relink.EINVALID || relink.ErrorCode(err) == relink.ECONFLICT {
		// A wrong code: the same form again, saying how many attempts are left.
		p, _ := h.svc.Pending(r.Context(), v, flow)
		h.render(w, r, relink.HTTPStatus(err), "code.html", page{Title: "Type your code", Viewer: &v, Error: relink.ErrorMessage(err),
			Data: codePage{Flow: flow, SentTo: p.CodeSentTo, Pending: p.Pending}})
		return
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.done(w, r, out)
}

func (h *Handler) resendCode(w http.ResponseWriter, r *http.Request) {
	v, ok := h.viewer(w, r)
	if !ok {
		return
	}
	out, err := h.svc.ResendCode(r.Context(), v, r.PostForm.Get("flow"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.render(w, r, http.StatusOK, "code.html", page{Title: "Type your code", Viewer: &v,
		Flash: &flash{Kind: "ok", Text: "We sent a new code to " + out.CodeSentTo + ". The earlier code no longer works."},
		Data:  codePage{Flow: out.Flow, SentTo: out.CodeSentTo, Pending: out.Pending}})
}

func (h *Handler) callback(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	out, err := h.svc.Callback(r.Context(), connect.Callback{State: q.Get("state"), Code: q.Get("code"), Error: q.Get("error")})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	switch {
	case out.Denied:
		h.render(w, r, http.StatusOK, "message.html", page{Title: "Nothing was changed", Data: message{
			Heading: "Nothing was changed",
			Text:    "You chose not to give access, so nothing was connected. You can try again whenever you like.",
			Back:    h.backTo(r, out)}})
	case out.Flow != "":
		http.Redirect(w, r, "/invite/code?"+url.Values{"flow": {out.Flow}}.Encode(), http.StatusSeeOther)
	default:
		h.done(w, r, out)
	}
}

// done confirms connected accounts: on the person's own page when this browser holds
// their session, else (an admin following a re-add link) on a page of its own.
func (h *Handler) done(w http.ResponseWriter, r *http.Request, out connect.Outcome) {
	if h.backTo(r, out) == "/me" {
		ids := make([]string, len(out.Accounts))
		for i, a := range out.Accounts {
			ids[i] = a.ID
		}
		http.Redirect(w, r, "/me?"+url.Values{"connected": {strings.Join(ids, ",")}}.Encode(), http.StatusSeeOther)
		return
	}
	f := &flash{Kind: "ok", Text: "Connected:"}
	for _, a := range out.Accounts {
		f.Names = append(f.Names, a.DisplayName)
		if a.State == account.StateActionRequired {
			f.Kind, f.Text = "warn", "Connected, but some permissions are still missing:"
		}
	}
	h.render(w, r, http.StatusOK, "message.html", page{Title: "Connected", Flash: f,
		Data: message{Heading: "All done", Text: "You can close this tab."}})
}

// backTo is "/me" when this browser's session belongs to the person of the outcome.
func (h *Handler) backTo(r *http.Request, out connect.Outcome) string {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return ""
	}
	if sess, ok := h.signer.Decode(c.Value, h.svc.Clock.Now()); ok && sess.WorkspaceID == out.WorkspaceID && sess.UserID == out.UserID {
		return "/me"
	}
	return ""
}

type linkGone struct{ Reason, Token string }

type requestPage struct{ Intro string }

type message struct{ Heading, Text, Back string }

func (h *Handler) requestForm(w http.ResponseWriter, r *http.Request) {
	h.render(w, r, http.StatusOK, "request.html", page{Title: "Ask for a new link", Data: requestPage{}})
}

func (h *Handler) requestLink(w http.ResponseWriter, r *http.Request) {
	err := h.svc.RequestLink(r.Context(), LinkRequest{Token: r.PostForm.Get("token"), Email: r.PostForm.Get("email"), ClientIP: clientIP(r)})
	if relink.ErrorCode(err) == relink.EINVALID {
		h.render(w, r, http.StatusBadRequest, "request.html", page{Title: "Ask for a new link", Error: relink.ErrorMessage(err), Data: requestPage{}})
		return
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	text := "If this address belongs to someone with accounts in Relink, a new link is on its way. Check your inbox (and spam folder) in a minute."
	if r.PostForm.Get("token") != "" {
		text = "If this link was yours, a new one is on its way to the address it was sent to. Check your inbox (and spam folder) in a minute."
	}
	h.render(w, r, http.StatusOK, "message.html", page{Title: "Check your email", Data: message{Heading: "Check your email", Text: text}})
}

func (h *Handler) signout(w http.ResponseWriter, r *http.Request) {
	clearCookie(w, sessionCookie)
	h.render(w, r, http.StatusOK, "message.html", page{Title: "Signed out", Data: message{Heading: "You are signed out",
		Text: "Open the link from your email to come back."}})
}

func (h *Handler) css(w http.ResponseWriter, r *http.Request) {
	b, _ := assets.ReadFile("static/portal.css")
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=3600")
	_, _ = w.Write(b)
}

// fail answers with a friendly page. Only failures that are ours are logged, once, here
// at the edge, by route pattern: paths carry link tokens, which are never logged.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	status := relink.HTTPStatus(err)
	if status >= 500 {
		h.logger.ErrorContext(r.Context(), "owner page failed", "route", r.Pattern, "status", status, "err", err)
	}
	p := page{Title: "That did not work", Data: message{Heading: headings[status], Text: relink.ErrorMessage(err)}}
	if status == http.StatusUnauthorized {
		h.render(w, r, status, "request.html", page{Title: "Open your link again", Data: requestPage{Intro: relink.ErrorMessage(err)}})
		return
	}
	if p.Data.(message).Heading == "" {
		p.Data = message{Heading: "That did not work", Text: relink.ErrorMessage(err)}
	}
	if status == http.StatusInternalServerError {
		p.Data = message{Heading: headings[status], Text: "Something went wrong on our side. Try again in a minute; if it keeps happening, tell your admin."}
	}
	h.render(w, r, status, "message.html", p)
}

var headings = map[int]string{
	http.StatusNotFound:            "Not found",
	http.StatusForbidden:           "Not allowed",
	http.StatusConflict:            "That cannot be done right now",
	http.StatusGone:                "This has ended",
	http.StatusTooManyRequests:     "Too many tries",
	http.StatusServiceUnavailable:  "Try again in a minute",
	http.StatusInternalServerError: "Something went wrong",
	http.StatusBadRequest:          "That did not work",
}

// clientIP is the address the request came from (API Gateway's source IP, or the
// local server's peer), without the port.
func clientIP(r *http.Request) string {
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return host
	}
	return r.RemoteAddr
}
