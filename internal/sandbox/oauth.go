package sandbox

import (
	"encoding/json"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/relinkhq/relink/internal/account"
)

const maxForm = 64 << 10

// oauthError is the error body of every JSON endpoint: RFC 6749 §5.2 / RFC 6750 §3.1
// codes plus the account reason channel.classifySandbox reads.
type oauthError struct {
	Error       string `json:"error"`
	Description string `json:"error_description,omitempty"`
	Reason      string `json:"reason,omitempty"`
}

type tokenResponse struct {
	AccessToken      string `json:"access_token"`
	TokenType        string `json:"token_type"`
	ExpiresIn        int    `json:"expires_in"`
	RefreshToken     string `json:"refresh_token"`
	RefreshExpiresIn int    `json:"refresh_expires_in"`
	Scope            string `json:"scope"`
	ProfileID        string `json:"profile_id"`
}

// reply is a JSON answer computed under the lock and written after it.
type reply struct {
	status int
	body   any
}

func fail(status int, code, desc, reason string) reply {
	return reply{status, oauthError{Error: code, Description: desc, Reason: reason}}
}

func badRequest(desc string) reply { return fail(http.StatusBadRequest, "invalid_request", desc, "") }

func invalidGrant(desc, reason string) reply {
	return fail(http.StatusBadRequest, "invalid_grant", desc, reason)
}

func writeJSON(w http.ResponseWriter, rp reply) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store") // token responses must not be cached (RFC 6749 §5.1)
	h.Set("Pragma", "no-cache")
	switch rp.status {
	case http.StatusTooManyRequests, http.StatusServiceUnavailable:
		h.Set("Retry-After", "1")
	case http.StatusUnauthorized, http.StatusForbidden:
		if e, ok := rp.body.(oauthError); ok && e.Error != "invalid_client" {
			h.Set("WWW-Authenticate", `Bearer realm="sandbox", error="`+e.Error+`", error_description="`+e.Description+`"`)
		}
	}
	w.WriteHeader(rp.status)
	_ = json.NewEncoder(w).Encode(rp.body) // the client hung up; nothing to do
}

// throttled spends one of the grant's failing calls, if any are left. Caller holds s.mu.
func throttled(g *grant) (reply, bool) {
	if g.failLeft == 0 {
		return reply{}, false
	}
	g.failLeft--
	if g.failStatus == http.StatusTooManyRequests {
		return fail(g.failStatus, "rate_limited", "Too many calls; try again shortly.", account.ReasonTransient), true
	}
	return fail(g.failStatus, "temporarily_unavailable", "The sandbox is having an outage.", account.ReasonTransient), true
}

// clientForm parses a client's form POST and authenticates it: HTTP Basic with
// form-encoded credentials (RFC 6749 §2.3.1) or client_id/client_secret in the body,
// never both. Parameters may not repeat or travel in the query (§3.1, §3.2).
func clientForm(w http.ResponseWriter, r *http.Request) (url.Values, string, *reply) {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/x-www-form-urlencoded" {
		rp := badRequest("The body must be application/x-www-form-urlencoded.")
		return nil, "", &rp
	}
	if r.URL.RawQuery != "" {
		rp := badRequest("Parameters belong in the body, not the query string.")
		return nil, "", &rp
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		rp := badRequest("The form could not be read.")
		return nil, "", &rp
	}
	form := r.PostForm
	for k, vs := range form {
		if len(vs) > 1 {
			rp := badRequest("The parameter " + strconv.Quote(k) + " is repeated.")
			return nil, "", &rp
		}
	}
	id, secret := form.Get("client_id"), form.Get("client_secret")
	user, pass, basic := r.BasicAuth()
	if basic {
		if form.Has("client_secret") {
			rp := badRequest("Use one client authentication method, not two.")
			return nil, "", &rp
		}
		u, err1 := url.QueryUnescape(user)
		p, err2 := url.QueryUnescape(pass)
		if err1 != nil || err2 != nil || id != "" && id != u {
			rp := fail(http.StatusUnauthorized, "invalid_client", "The client credentials are malformed.", "")
			return nil, "", &rp
		}
		id, secret = u, p
	}
	if id == "" || !equalSecret(secret, ClientSecret) {
		if basic {
			w.Header().Set("WWW-Authenticate", `Basic realm="sandbox"`)
		}
		rp := fail(http.StatusUnauthorized, "invalid_client", "Unknown client or wrong secret (the sandbox secret is "+ClientSecret+").", "")
		return nil, "", &rp
	}
	return form, id, nil
}

func (s *Server) tokenEndpoint(w http.ResponseWriter, r *http.Request) {
	form, clientID, errp := clientForm(w, r)
	if errp != nil {
		writeJSON(w, *errp)
		return
	}
	switch gt := form.Get("grant_type"); gt {
	case "authorization_code":
		writeJSON(w, s.exchangeCode(form, clientID))
	case "refresh_token":
		writeJSON(w, s.refresh(form, clientID))
	case "":
		writeJSON(w, badRequest("grant_type is missing."))
	default:
		writeJSON(w, fail(http.StatusBadRequest, "unsupported_grant_type", "The sandbox supports authorization_code and refresh_token.", ""))
	}
}

func (s *Server) exchangeCode(form url.Values, clientID string) reply {
	raw, redirectURI, verifier := form.Get("code"), form.Get("redirect_uri"), form.Get("code_verifier")
	switch {
	case raw == "":
		return badRequest("code is missing.")
	case redirectURI == "":
		return badRequest("redirect_uri is missing.")
	case verifier == "":
		return badRequest("code_verifier is missing (PKCE is required).")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clk.Now()
	c := s.codes[raw]
	if c == nil {
		return invalidGrant("Unknown authorization code.", "")
	}
	if c.used {
		// A replayed code means it leaked: revoke what it issued (RFC 6749 §4.1.2).
		if c.grant != nil && c.grant.dead == "" {
			c.grant.dead = account.ReasonRevoked
		}
		return invalidGrant("The authorization code was already used.", "")
	}
	// Any presentation spends the code, so a wrong verifier cannot be retried.
	c.used = true
	switch {
	case !now.Before(c.expires):
		return invalidGrant("The authorization code expired.", account.ReasonExpired)
	case c.clientID != clientID:
		return invalidGrant("The code was issued to another client.", "")
	case c.redirectURI != redirectURI:
		return invalidGrant("redirect_uri differs from the authorization request.", "")
	case !pkceValue(verifier) || !equalSecret(s256(verifier), c.challenge):
		return invalidGrant("code_verifier does not match the code_challenge.", "")
	}
	id, err := s.newGrantID()
	if err != nil {
		return fail(http.StatusInternalServerError, "server_error", "The sandbox could not mint a grant.", "")
	}
	g := &grant{id: id, clientID: clientID, profile: c.profile, scopes: c.scopes, issued: now}
	resp, err := s.issue(g, now)
	if err != nil {
		return fail(http.StatusInternalServerError, "server_error", "The sandbox could not mint a token.", "")
	}
	c.grant = g
	s.grants[id] = g
	s.order = append(s.order, id)
	return reply{http.StatusOK, resp}
}

func (s *Server) refresh(form url.Values, clientID string) reply {
	raw := form.Get("refresh_token")
	if raw == "" {
		return badRequest("refresh_token is missing.")
	}
	var narrowed []string
	if form.Has("scope") {
		sc, err := parseScopes(form.Get("scope"))
		if err != nil {
			return fail(http.StatusBadRequest, "invalid_scope", err.Error(), "")
		}
		narrowed = sc
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clk.Now()
	t := s.tokens[raw]
	if t == nil || !t.refresh || t.grant.clientID != clientID {
		return invalidGrant("Unknown refresh token.", account.ReasonInvalidToken)
	}
	g := t.grant
	if rp, ok := throttled(g); ok {
		return rp
	}
	switch {
	case g.dead != "":
		return invalidGrant("The grant is no longer valid.", g.dead)
	case t.replaced:
		return invalidGrant("The refresh token was rotated out; use the newest one.", account.ReasonRevoked)
	case !now.Before(t.expires):
		return invalidGrant("The refresh token expired.", account.ReasonExpired)
	}
	// Narrowing would need per-token scopes; the sandbox only accepts the granted set.
	if narrowed != nil && !sameSet(narrowed, g.scopes) {
		return fail(http.StatusBadRequest, "invalid_scope", "A refresh may only repeat the granted scopes: "+strings.Join(g.scopes, " ")+".", "")
	}
	resp, err := s.issue(g, now)
	if err != nil {
		return fail(http.StatusInternalServerError, "server_error", "The sandbox could not mint a token.", "")
	}
	return reply{http.StatusOK, resp}
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

type introspection struct {
	Active    bool   `json:"active"`
	Scope     string `json:"scope,omitempty"`
	Exp       int64  `json:"exp,omitempty"`
	Iat       int64  `json:"iat,omitempty"`
	Sub       string `json:"sub,omitempty"`
	ClientID  string `json:"client_id,omitempty"`
	TokenType string `json:"token_type,omitempty"`
	Reason    string `json:"reason,omitempty"` // sandbox extension: why it is inactive
}

// tokenRequest reads an authenticated request about one token (introspect, revoke);
// when it answers ok=false it has already written the error.
func tokenRequest(w http.ResponseWriter, r *http.Request) (form url.Values, clientID, token string, ok bool) {
	form, clientID, errp := clientForm(w, r)
	if errp != nil {
		writeJSON(w, *errp)
		return nil, "", "", false
	}
	token = form.Get("token")
	if token == "" {
		writeJSON(w, badRequest("token is missing."))
		return nil, "", "", false
	}
	return form, clientID, token, true
}

// introspect is RFC 7662. Tokens of other clients read as inactive, not as an error,
// so a client learns nothing about them.
func (s *Server) introspect(w http.ResponseWriter, r *http.Request) {
	_, clientID, raw, ok := tokenRequest(w, r)
	if !ok {
		return
	}
	writeJSON(w, s.inspect(raw, clientID))
}

func (s *Server) inspect(raw, clientID string) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clk.Now()
	inactive := func(reason string) reply { return reply{http.StatusOK, introspection{Reason: reason}} }
	t := s.tokens[raw]
	if t == nil || t.grant.clientID != clientID {
		return inactive(account.ReasonInvalidToken)
	}
	g := t.grant
	if rp, ok := throttled(g); ok {
		return rp
	}
	switch {
	case g.dead != "":
		return inactive(g.dead)
	case t.replaced:
		return inactive(account.ReasonRevoked)
	case !now.Before(t.expires):
		return inactive(account.ReasonExpired)
	}
	typ := "bearer"
	if t.refresh {
		typ = "refresh_token"
	}
	return reply{http.StatusOK, introspection{
		Active: true, Scope: strings.Join(g.scopes, " "), Exp: t.expires.Unix(), Iat: g.issued.Unix(),
		Sub: g.profile.ID, ClientID: g.clientID, TokenType: typ,
	}}
}

// revoke is RFC 7009: either token kills the whole grant; unknown tokens are fine.
func (s *Server) revoke(w http.ResponseWriter, r *http.Request) {
	form, clientID, raw, ok := tokenRequest(w, r)
	if !ok {
		return
	}
	if hint := form.Get("token_type_hint"); hint != "" && hint != "access_token" && hint != "refresh_token" {
		writeJSON(w, fail(http.StatusBadRequest, "unsupported_token_type", "token_type_hint must be access_token or refresh_token.", ""))
		return
	}
	s.mu.Lock()
	rp := reply{http.StatusOK, struct{}{}}
	if t := s.tokens[raw]; t != nil {
		switch {
		case t.grant.clientID != clientID:
			rp = badRequest("The token was issued to another client.")
		case t.grant.dead == "":
			t.grant.dead = account.ReasonRevoked
		}
	}
	s.mu.Unlock()
	writeJSON(w, rp)
}
