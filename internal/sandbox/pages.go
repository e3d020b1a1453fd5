package sandbox

import (
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/relinkhq/relink/internal/relink"
)

// authRequest is a validated authorization request.
type authRequest struct {
	ClientID, RedirectURI, State, Challenge string
	Scopes                                  []string
	redirect                                *url.URL
}

// parseAuthRequest validates the authorize parameters (RFC 6749 §4.1.1, RFC 7636 §4.3).
// Every failure is answered with a page: with no client registration, no redirect
// URI can be trusted with an error.
func parseAuthRequest(v url.Values) (authRequest, error) {
	for _, k := range []string{"response_type", "client_id", "redirect_uri", "scope", "state", "code_challenge", "code_challenge_method"} {
		if len(v[k]) > 1 {
			return authRequest{}, errors.New("The parameter " + k + " is repeated.")
		}
	}
	req := authRequest{ClientID: v.Get("client_id"), RedirectURI: v.Get("redirect_uri"), State: v.Get("state"), Challenge: v.Get("code_challenge")}
	u, err := url.Parse(req.RedirectURI)
	switch {
	case v.Get("response_type") != "code":
		return req, errors.New("response_type must be code.")
	case req.ClientID == "":
		return req, errors.New("client_id is missing.")
	case req.RedirectURI == "":
		return req, errors.New("redirect_uri is missing.")
	case err != nil || u.Scheme != "http" && u.Scheme != "https" || u.Host == "" || u.User != nil || u.Fragment != "" || u.Opaque != "" ||
		strings.ContainsAny(u.Host, ";,'\" "): // the origin goes into the CSP header
		return req, errors.New("redirect_uri must be an absolute http or https URL without credentials or fragment.")
	case req.State == "":
		return req, errors.New("state is missing; the sandbox requires it, as protection against forged callbacks.")
	case req.Challenge == "":
		return req, errors.New("code_challenge is missing; the sandbox requires PKCE.")
	case v.Get("code_challenge_method") != "S256":
		return req, errors.New("code_challenge_method must be S256.")
	case !pkceValue(req.Challenge):
		return req, errors.New("code_challenge must be 43 to 128 URL-safe characters.")
	}
	req.redirect = u
	if req.Scopes, err = parseScopes(v.Get("scope")); err != nil {
		return req, errors.New(err.Error())
	}
	if len(req.Scopes) == 0 {
		return req, errors.New("scope is missing.")
	}
	return req, nil
}

// securePage sets the headers of every HTML page; formTo is an extra form-action
// origin (the consent form's redirect ends there, and CSP checks redirects too).
func securePage(w http.ResponseWriter, formTo string) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; form-action 'self' "+formTo+"; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer") // the page URLs carry state and challenges
	h.Set("Cache-Control", "no-store")
}

func errorPage(w http.ResponseWriter, status int, msg string) {
	securePage(w, "")
	w.WriteHeader(status)
	_ = errorTmpl.Execute(w, msg)
}

type scopeView struct{ Name, Desc string }

func scopeDesc(s string) string {
	switch s {
	case "profile":
		return "See the account's name"
	case "publish":
		return "Publish posts"
	case "engage":
		return "Answer comments and messages"
	case "report":
		return "Read statistics"
	case "ads":
		return "Manage ads"
	}
	return s
}

func (s *Server) authorizePage(w http.ResponseWriter, r *http.Request) {
	req, err := parseAuthRequest(r.URL.Query())
	if err != nil {
		errorPage(w, http.StatusBadRequest, err.Error())
		return
	}
	data := struct {
		authRequest
		Scope, RedirectHost string
		Scopes              []scopeView
		Profiles            []profile
	}{authRequest: req, Scope: strings.Join(req.Scopes, " "), RedirectHost: req.redirect.Host, Profiles: s.profiles}
	for _, sc := range req.Scopes {
		data.Scopes = append(data.Scopes, scopeView{sc, scopeDesc(sc)})
	}
	securePage(w, req.redirect.Scheme+"://"+req.redirect.Host)
	_ = consentTmpl.Execute(w, data)
}

// authorizeDecision handles the consent form: the request is validated again from the
// hidden fields, since the form is as forgeable as the query.
func (s *Server) authorizeDecision(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		errorPage(w, http.StatusBadRequest, "The form could not be read.")
		return
	}
	req, err := parseAuthRequest(r.PostForm)
	if err != nil {
		errorPage(w, http.StatusBadRequest, err.Error())
		return
	}
	back := *req.redirect
	q := back.Query()
	q.Set("state", req.State)
	switch r.PostForm.Get("decision") {
	case "deny":
		q.Set("error", "access_denied")
	case "allow":
		p := s.findProfile(r.PostForm.Get("profile"))
		if p == nil {
			errorPage(w, http.StatusBadRequest, "Choose a sandbox profile.")
			return
		}
		var granted []string
		for _, sc := range req.Scopes { // requested order; unchecked ones are refused
			if slices.Contains(r.PostForm["grant_scope"], sc) {
				granted = append(granted, sc)
			}
		}
		for _, sc := range r.PostForm["grant_scope"] {
			if !slices.Contains(req.Scopes, sc) {
				errorPage(w, http.StatusBadRequest, "The scope "+sc+" was not requested.")
				return
			}
		}
		raw, err := s.newToken()
		if err != nil {
			errorPage(w, http.StatusInternalServerError, "The sandbox could not mint a code.")
			return
		}
		s.mu.Lock()
		s.codes[raw] = &code{
			clientID: req.ClientID, redirectURI: req.RedirectURI, challenge: req.Challenge,
			profile: p, scopes: granted, expires: s.clk.Now().Add(CodeTTL),
		}
		s.mu.Unlock()
		q.Set("code", raw)
	default:
		errorPage(w, http.StatusBadRequest, "Choose Allow or Deny.")
		return
	}
	back.RawQuery = q.Encode()
	w.Header().Set("Location", back.String())
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusFound)
}

type actionView struct{ Value, Label string }

func actionLabel(a string) string {
	switch a {
	case ActRevoke:
		return "Revoke"
	case ActExpire:
		return "Expire access token"
	case ActExpireRefresh:
		return "Expire refresh token"
	case ActRateLimit:
		return "Rate-limit next 3 calls"
	case ActOutage:
		return "Outage for next 3 calls"
	}
	r := strings.ReplaceAll(a, "_", " ")
	return strings.ToUpper(r[:1]) + r[1:]
}

func (s *Server) controlsPage(w http.ResponseWriter, r *http.Request) {
	data := struct {
		Grants  []GrantInfo
		Actions []actionView
	}{Grants: s.Grants()}
	for _, a := range strings.Fields(actionList) {
		data.Actions = append(data.Actions, actionView{a, actionLabel(a)})
	}
	securePage(w, "")
	_ = controlsTmpl.Execute(w, data)
}

func (s *Server) controlsAction(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		errorPage(w, http.StatusBadRequest, "The form could not be read.")
		return
	}
	if err := s.Act(r.PostForm.Get("grant"), r.PostForm.Get("action"), r.PostForm.Get("scope")); err != nil {
		errorPage(w, http.StatusBadRequest, relink.ErrorMessage(err))
		return
	}
	http.Redirect(w, r, "/sandbox/controls", http.StatusSeeOther)
}

func serveCSS(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	_, _ = w.Write([]byte(css))
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

const css = `body{font:16px/1.5 system-ui,sans-serif;margin:0;padding:1rem;color:#111;background:#fff}
main{max-width:60rem;margin:auto}
fieldset{margin:1rem 0;border:1px solid #888;padding:.5rem 1rem}
button{font:inherit;padding:.4rem 1rem;margin:.2rem .4rem .2rem 0;cursor:pointer}
button:focus-visible,input:focus-visible,select:focus-visible{outline:3px solid #1a5fb4;outline-offset:2px}
table{border-collapse:collapse;width:100%}
th,td{border:1px solid #888;padding:.4rem;text-align:left;vertical-align:top}
.error{border-left:4px solid #a51d2d;padding-left:1rem}
`

const layoutTmpl = `{{define "head"}}<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.}} · Relink sandbox</title><link rel="stylesheet" href="/sandbox/static.css"></head><body><main>{{end}}
{{define "foot"}}</main></body></html>{{end}}`

var (
	errorTmpl = template.Must(template.New("error").Parse(layoutTmpl + `{{template "head" "Error"}}
<h1>The request cannot be completed</h1>
<p class="error" role="alert">{{.}}</p>
{{template "foot"}}`))

	consentTmpl = template.Must(template.New("consent").Parse(layoutTmpl + `{{template "head" "Allow access?"}}
<h1>Allow {{.ClientID}} to use your sandbox accounts?</h1>
<p>After you choose, you will be sent back to <strong>{{.RedirectHost}}</strong>.</p>
<form method="post" action="/sandbox/oauth/authorize">
<input type="hidden" name="response_type" value="code">
<input type="hidden" name="client_id" value="{{.ClientID}}">
<input type="hidden" name="redirect_uri" value="{{.RedirectURI}}">
<input type="hidden" name="scope" value="{{.Scope}}">
<input type="hidden" name="state" value="{{.State}}">
<input type="hidden" name="code_challenge" value="{{.Challenge}}">
<input type="hidden" name="code_challenge_method" value="S256">
<fieldset><legend>Log in as</legend>
{{range $i, $p := .Profiles}}<div><input type="radio" id="profile-{{$p.ID}}" name="profile" value="{{$p.ID}}"{{if eq $i 0}} checked{{end}}>
<label for="profile-{{$p.ID}}">{{$p.Name}} (pages: {{range $j, $pg := $p.Pages}}{{if $j}}, {{end}}{{$pg.Name}}{{end}})</label></div>
{{end}}</fieldset>
<fieldset><legend>Permissions — uncheck any you want to refuse</legend>
{{range .Scopes}}<div><input type="checkbox" id="scope-{{.Name}}" name="grant_scope" value="{{.Name}}" checked>
<label for="scope-{{.Name}}"><code>{{.Name}}</code>: {{.Desc}}</label></div>
{{end}}</fieldset>
<button type="submit" name="decision" value="allow">Allow</button>
<button type="submit" name="decision" value="deny">Deny</button>
</form>
{{template "foot"}}`))

	controlsTmpl = template.Must(template.New("controls").Funcs(template.FuncMap{"time": fmtTime, "join": strings.Join}).Parse(layoutTmpl + `{{template "head" "Controls"}}
<h1>Sandbox controls</h1>
<p>Make a grant fail the way real platforms do. Grants are listed oldest first; tokens are never shown.</p>
{{if not .Grants}}<p>No grants yet: connect a sandbox account first.</p>{{else}}
<table><caption>Grants</caption>
<thead><tr><th scope="col">Grant</th><th scope="col">Profile</th><th scope="col">Client</th><th scope="col">Scopes</th><th scope="col">Access expires</th><th scope="col">Refresh expires</th><th scope="col">State</th><th scope="col">Actions</th></tr></thead>
<tbody>{{range $g := .Grants}}<tr>
<th scope="row"><code>{{$g.ID}}</code></th><td>{{$g.ProfileName}}<br>{{join $g.Pages ", "}}</td><td>{{$g.ClientID}}</td>
<td>{{join $g.Scopes " "}}</td><td>{{time $g.AccessExpires}}</td><td>{{time $g.RefreshExpires}}</td>
<td>{{$g.State}}{{if $g.FailingCalls}} ({{$g.FailingCalls}} failing calls left){{end}}</td>
<td><form method="post" action="/sandbox/controls"><input type="hidden" name="grant" value="{{$g.ID}}">
{{range $.Actions}}<button type="submit" name="action" value="{{.Value}}">{{.Label}}</button>{{end}}
{{if $g.Scopes}}<div><label for="scope-{{$g.ID}}">Scope</label> <select id="scope-{{$g.ID}}" name="scope">{{range $g.Scopes}}<option>{{.}}</option>{{end}}</select>
<button type="submit" name="action" value="drop_scope">Drop scope</button></div>{{end}}
</form></td></tr>
{{end}}</tbody></table>{{end}}
{{template "foot"}}`))
)
