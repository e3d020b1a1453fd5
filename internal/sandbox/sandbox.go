// Package sandbox is the sandbox channel's OAuth 2 authorization server: a strict,
// in-memory provider for local use and tests (see channel.Sandbox for how Relink reads
// it). It speaks authorization code + PKCE (S256 only), rotating refresh tokens,
// RFC 7662 introspection and RFC 7009 revocation, and serves a tiny API whose errors
// carry the account reason Relink should record.
//
// Its point is the controls: every way a real grant dies or degrades (revoked,
// expired, password changed, checkpoint, a scope dropped, rate limits, outages) can be
// produced by hand on /sandbox/controls or by tests through Act.
//
// Clients: any client_id is accepted, with the client secret ClientSecret, by HTTP
// Basic (RFC 6749 §2.3.1, form-encoded) or in the form. There is no registration, so
// redirect URIs are checked for shape only (absolute http or https) and every
// authorize error is shown as a page, never redirected.
package sandbox

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/relinkhq/relink/internal/account"
	"github.com/relinkhq/relink/internal/clock"
	"github.com/relinkhq/relink/internal/relink"
)

// Lifetimes mirror channel.Sandbox's Lifetime.
const (
	ClientSecret = "sandbox-secret"
	AccessTTL    = time.Hour
	RefreshTTL   = 90 * 24 * time.Hour
	CodeTTL      = time.Minute
	// failCalls is how many calls rate_limit and outage make fail.
	failCalls = 3
	// keepExpired is how long spent codes and old tokens are remembered, so a late
	// use is answered with its real reason instead of "unknown".
	keepExpired = RefreshTTL
	tokenBytes  = 32
)

// Scopes, in display order.
const scopeList = "profile publish engage report ads"

// Actions accepted by Act and the controls page.
const (
	ActRevoke          = "revoke"
	ActExpire          = "expire"         // access tokens expire now; refresh still works
	ActExpireRefresh   = "expire_refresh" // the refresh token expires now
	ActDropScope       = "drop_scope"
	ActPasswordChanged = account.ReasonPasswordChanged
	ActCheckpoint      = account.ReasonCheckpoint
	ActRoleLost        = account.ReasonRoleLost
	ActAppRemoved      = account.ReasonAppRemoved
	ActPageDeleted     = account.ReasonPageDeleted
	ActRateLimit       = "rate_limit" // the next failCalls calls answer 429
	ActOutage          = "outage"     // the next failCalls calls answer 503
)

// actions lists the actions in the order the controls page shows them.
const actionList = "revoke expire expire_refresh password_changed checkpoint role_lost app_removed page_deleted rate_limit outage"

type page struct{ ID, Name string }

type profile struct {
	ID, Name string
	Pages    []page
}

// profiles is the fixed cast: one login grants several pages under one parent profile.
func profiles() []profile {
	return []profile{
		{ID: "sandbox-olivia", Name: "Olivia Sandbox", Pages: []page{{"sandbox-1", "Sandbox Brand"}, {"sandbox-2", "Sandbox Coffee"}}},
		{ID: "sandbox-omar", Name: "Omar Sandbox", Pages: []page{{"sandbox-3", "Sandbox Studio"}}},
	}
}

// Server is the sandbox authorization server. Mount it at "/sandbox/".
type Server struct {
	clk      clock.Clock
	random   io.Reader
	profiles []profile
	mux      *http.ServeMux

	mu     sync.Mutex
	codes  map[string]*code
	tokens map[string]*token
	grants map[string]*grant
	order  []string // grant IDs in issue order, for a stable controls page
}

// code is an authorization code and everything it is bound to.
type code struct {
	clientID, redirectURI, challenge string
	profile                          *profile
	scopes                           []string
	expires                          time.Time
	used                             bool
	grant                            *grant // issued from it, revoked if the code is replayed
}

// grant is one consent: what the controls act on.
type grant struct {
	id, clientID string
	profile      *profile
	scopes       []string
	issued       time.Time
	dead         string // the account reason it stopped working; "" while alive
	failLeft     int    // calls still to fail with failStatus
	failStatus   int
	refresh      *token // the current refresh token
}

type token struct {
	grant    *grant
	refresh  bool
	expires  time.Time
	replaced bool // a rotated-out refresh token
}

// New returns a server taking time from clk and token bytes from random.
func New(clk clock.Clock, random io.Reader) *Server {
	s := &Server{
		clk: clk, random: random, profiles: profiles(),
		codes: map[string]*code{}, tokens: map[string]*token{}, grants: map[string]*grant{},
	}
	// The two HTML forms refuse cross-site posts (Sec-Fetch-Site/Origin), so another
	// site cannot consent or pull controls on the user's behalf.
	cop := http.NewCrossOriginProtection()
	m := http.NewServeMux()
	m.HandleFunc("GET /sandbox/oauth/authorize", s.authorizePage)
	m.Handle("POST /sandbox/oauth/authorize", cop.Handler(http.HandlerFunc(s.authorizeDecision)))
	m.HandleFunc("POST /sandbox/oauth/token", s.tokenEndpoint)
	m.HandleFunc("POST /sandbox/oauth/introspect", s.introspect)
	m.HandleFunc("POST /sandbox/oauth/revoke", s.revoke)
	m.HandleFunc("GET /sandbox/api/me", s.me)
	m.HandleFunc("GET /sandbox/api/pages/{id}/insights", s.insights)
	m.HandleFunc("GET /sandbox/controls", s.controlsPage)
	m.Handle("POST /sandbox/controls", cop.Handler(http.HandlerFunc(s.controlsAction)))
	m.HandleFunc("GET /sandbox/static.css", serveCSS)
	s.mux = m
	return s
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// GrantInfo describes a grant for the controls; it never holds a token.
type GrantInfo struct {
	ID, ClientID, ProfileID, ProfileName string
	Pages                                []string
	Scopes                               []string
	Issued                               time.Time
	AccessExpires                        time.Time // of the newest access token
	RefreshExpires                       time.Time
	State                                string // "active", "access expired", "refresh expired", or the dead reason
	FailingCalls                         int    // calls still to fail (rate_limit, outage)
}

// Grants lists every grant, oldest first.
func (s *Server) Grants() []GrantInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clk.Now()
	out := make([]GrantInfo, 0, len(s.order))
	for _, id := range s.order {
		g := s.grants[id]
		info := GrantInfo{
			ID: g.id, ClientID: g.clientID, ProfileID: g.profile.ID, ProfileName: g.profile.Name,
			Scopes: slices.Clone(g.scopes), Issued: g.issued, RefreshExpires: g.refresh.expires,
			FailingCalls: g.failLeft,
		}
		for _, p := range g.profile.Pages {
			info.Pages = append(info.Pages, p.Name)
		}
		for _, t := range s.tokens {
			if t.grant == g && !t.refresh && t.expires.After(info.AccessExpires) {
				info.AccessExpires = t.expires
			}
		}
		switch {
		case g.dead != "":
			info.State = g.dead
		case !now.Before(info.RefreshExpires):
			info.State = "refresh expired"
		case !now.Before(info.AccessExpires):
			info.State = "access expired"
		default:
			info.State = "active"
		}
		out = append(out, info)
	}
	return out
}

// Act applies a control action to a grant; scope is used by drop_scope only.
func (s *Server) Act(grantID, action, scope string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.grants[grantID]
	if g == nil {
		return relink.Errorf(relink.ENOTFOUND, "There is no grant %q.", grantID)
	}
	now := s.clk.Now()
	switch action {
	case ActRevoke:
		g.dead = account.ReasonRevoked
	case ActPasswordChanged, ActCheckpoint, ActRoleLost, ActAppRemoved, ActPageDeleted:
		g.dead = action
	case ActExpire:
		for _, t := range s.tokens {
			if t.grant == g && !t.refresh && t.expires.After(now) {
				t.expires = now
			}
		}
	case ActExpireRefresh:
		g.refresh.expires = now
	case ActDropScope:
		i := slices.Index(g.scopes, scope)
		if i < 0 {
			return relink.Errorf(relink.EINVALID, "The grant does not hold the scope %q.", scope)
		}
		g.scopes = slices.Delete(slices.Clone(g.scopes), i, i+1)
	case ActRateLimit:
		g.failLeft, g.failStatus = failCalls, http.StatusTooManyRequests
	case ActOutage:
		g.failLeft, g.failStatus = failCalls, http.StatusServiceUnavailable
	default:
		return relink.Errorf(relink.EINVALID, "Unknown action %q.", action)
	}
	return nil
}

// newToken returns 32 random bytes, base64url.
func (s *Server) newToken() (string, error) {
	b := make([]byte, tokenBytes)
	if _, err := io.ReadFull(s.random, b); err != nil {
		return "", fmt.Errorf("sandbox: reading random bytes: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// newGrantID is short and unrelated to any token, so the controls page can show it.
func (s *Server) newGrantID() (string, error) {
	b := make([]byte, 6)
	if _, err := io.ReadFull(s.random, b); err != nil {
		return "", fmt.Errorf("sandbox: reading random bytes: %w", err)
	}
	return "g-" + base64.RawURLEncoding.EncodeToString(b), nil
}

// issue mints an access token and a fresh refresh token for g, retiring the old
// refresh token (rotation). Old access tokens live on until they expire, as on real
// platforms, so a request racing a refresh does not fail. Caller holds s.mu.
func (s *Server) issue(g *grant, now time.Time) (tokenResponse, error) {
	access, err := s.newToken()
	if err != nil {
		return tokenResponse{}, err
	}
	refresh, err := s.newToken()
	if err != nil {
		return tokenResponse{}, err
	}
	s.prune(now)
	if g.refresh != nil {
		g.refresh.replaced = true
	}
	s.tokens[access] = &token{grant: g, expires: now.Add(AccessTTL)}
	g.refresh = &token{grant: g, refresh: true, expires: now.Add(RefreshTTL)}
	s.tokens[refresh] = g.refresh
	return tokenResponse{
		AccessToken: access, TokenType: "bearer", ExpiresIn: int(AccessTTL / time.Second),
		RefreshToken: refresh, RefreshExpiresIn: int(RefreshTTL / time.Second),
		Scope: strings.Join(g.scopes, " "), ProfileID: g.profile.ID,
	}, nil
}

// prune forgets codes and tokens long past their expiry. Caller holds s.mu.
func (s *Server) prune(now time.Time) {
	cutoff := now.Add(-keepExpired)
	for k, c := range s.codes {
		if c.expires.Before(cutoff) {
			delete(s.codes, k)
		}
	}
	for k, t := range s.tokens {
		if t.expires.Before(cutoff) {
			delete(s.tokens, k)
		}
	}
}

// s256 is the PKCE S256 transform (RFC 7636 §4.2).
func s256(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// pkceValue reports whether v is a well-formed verifier or challenge (RFC 7636 §4.1):
// 43–128 unreserved characters.
func pkceValue(v string) bool {
	if len(v) < 43 || len(v) > 128 {
		return false
	}
	for _, c := range []byte(v) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-._~", c) >= 0) {
			return false
		}
	}
	return true
}

func equalSecret(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

func (s *Server) findProfile(id string) *profile {
	for i := range s.profiles {
		if s.profiles[i].ID == id {
			return &s.profiles[i]
		}
	}
	return nil
}

// parseScopes splits a scope parameter, refusing unknown and repeated scopes.
func parseScopes(raw string) ([]string, error) {
	known := strings.Fields(scopeList)
	var out []string
	for _, sc := range strings.Split(raw, " ") {
		switch {
		case sc == "":
			continue
		case !slices.Contains(known, sc):
			return nil, fmt.Errorf("unknown scope %q (the sandbox knows %s)", sc, scopeList)
		case slices.Contains(out, sc):
			return nil, fmt.Errorf("scope %q is repeated", sc)
		}
		out = append(out, sc)
	}
	return out, nil
}
