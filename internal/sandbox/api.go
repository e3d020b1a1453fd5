package sandbox

import (
	"net/http"
	"slices"
	"strings"

	"github.com/relinkhq/relink/internal/account"
)

type pageJSON struct {
	ID     string   `json:"id"`
	Name   string   `json:"name"`
	Scopes []string `json:"scopes"`
}

type meJSON struct {
	ID    string     `json:"id"`
	Name  string     `json:"name"`
	Pages []pageJSON `json:"pages"`
}

// bearer checks an API call's access token and scope, and returns the grant's profile
// and scopes as they were at the check, or the RFC 6750 error to answer.
func (s *Server) bearer(r *http.Request, need string) (*profile, []string, *reply) {
	scheme, raw, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	if !strings.EqualFold(scheme, "Bearer") || raw == "" {
		rp := fail(http.StatusUnauthorized, "invalid_request", "An Authorization: Bearer token is required.", "")
		return nil, nil, &rp
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tokens[raw]
	if t == nil || t.refresh {
		rp := fail(http.StatusUnauthorized, "invalid_token", "Unknown access token.", account.ReasonInvalidToken)
		return nil, nil, &rp
	}
	g := t.grant
	if rp, ok := throttled(g); ok {
		return nil, nil, &rp
	}
	var rp reply
	switch {
	case g.dead != "":
		rp = fail(http.StatusUnauthorized, "invalid_token", "The grant is no longer valid.", g.dead)
	case !s.clk.Now().Before(t.expires):
		rp = fail(http.StatusUnauthorized, "invalid_token", "The access token expired.", account.ReasonExpired)
	case !slices.Contains(g.scopes, need):
		rp = fail(http.StatusForbidden, "insufficient_scope", "This call needs the "+need+" scope.", account.ReasonPermissionMissing)
	default:
		return g.profile, slices.Clone(g.scopes), nil
	}
	return nil, nil, &rp
}

// me answers GET /sandbox/api/me: the profile and every page the grant reaches.
func (s *Server) me(w http.ResponseWriter, r *http.Request) {
	p, scopes, errp := s.bearer(r, "profile")
	if errp != nil {
		writeJSON(w, *errp)
		return
	}
	out := meJSON{ID: p.ID, Name: p.Name, Pages: []pageJSON{}}
	for _, pg := range p.Pages {
		out.Pages = append(out.Pages, pageJSON{ID: pg.ID, Name: pg.Name, Scopes: scopes})
	}
	writeJSON(w, reply{http.StatusOK, out})
}

// insights needs "report", so dropping that scope shows as a 403.
func (s *Server) insights(w http.ResponseWriter, r *http.Request) {
	p, _, errp := s.bearer(r, "report")
	if errp != nil {
		writeJSON(w, *errp)
		return
	}
	id := r.PathValue("id")
	if !slices.ContainsFunc(p.Pages, func(pg page) bool { return pg.ID == id }) {
		writeJSON(w, fail(http.StatusNotFound, "not_found", "The grant does not reach that page.", ""))
		return
	}
	writeJSON(w, reply{http.StatusOK, map[string]any{"page_id": id, "period": "day", "impressions": 1200, "reach": 800}})
}
