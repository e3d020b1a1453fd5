// Package admin is what admins and other services do through the admin API: accounts
// and their audit trail, people and their preferences, account groups, invites, the
// dashboard and workspace settings. Every method takes the resolved caller and works
// inside the caller's workspace only, so another workspace's IDs read as not found.
package admin

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"strings"

	"github.com/relinkhq/relink/internal/account"
	"github.com/relinkhq/relink/internal/auth"
	"github.com/relinkhq/relink/internal/channel"
	"github.com/relinkhq/relink/internal/clock"
	"github.com/relinkhq/relink/internal/connect"
	"github.com/relinkhq/relink/internal/ident"
	"github.com/relinkhq/relink/internal/mail"
	"github.com/relinkhq/relink/internal/portal"
	"github.com/relinkhq/relink/internal/relink"
	"github.com/relinkhq/relink/internal/store"
	"github.com/relinkhq/relink/internal/workspace"
)

// Checker probes an account's stored token on its channel, for activation.
type Checker interface {
	// CheckToken reports whether the token still works and what it holds; a token
	// that does not work comes back as valid=false with the channel's classification.
	CheckToken(ctx context.Context, a account.Account) (TokenCheck, error)
}

// TokenCheck is what a probe found.
type TokenCheck struct {
	Valid   bool
	Grant   account.Grant
	Failure channel.Classification
}

// Service runs the admin API's operations. Every dependency is injected.
type Service struct {
	Store    store.Store
	Registry *channel.Registry
	Checker  Checker
	Links    *portal.Links
	Connect  *connect.Service
	Mail     mail.Sender
	Clock    clock.Clock
	IDs      ident.Generator
	Random   io.Reader
	Logger   *slog.Logger
}

// roles each operation allows.
var (
	admins       = []workspace.Role{workspace.RolePrimaryAdmin, workspace.RoleAdmin}
	primaryOnly  = []workspace.Role{workspace.RolePrimaryAdmin}
	readers      = []workspace.Role{workspace.RolePrimaryAdmin, workspace.RoleAdmin, workspace.RoleService, workspace.RoleOwner}
	reporters    = []workspace.Role{workspace.RolePrimaryAdmin, workspace.RoleAdmin, workspace.RoleService}
	roleLabel    = map[workspace.Role]string{workspace.RolePrimaryAdmin: "primary admin", workspace.RoleAdmin: "admin", workspace.RoleOwner: "owner", workspace.RoleService: "service"}
	actionPhrase = "do this"
)

// allow refuses a caller whose role is not among roles.
func allow(p auth.Principal, what string, roles ...workspace.Role) error {
	if slices.Contains(roles, p.Role) {
		return nil
	}
	if what == "" {
		what = actionPhrase
	}
	return relink.Errorf(relink.EFORBIDDEN, "As %s you cannot %s.", article(roleLabel[p.Role]), what)
}

func article(s string) string {
	if s == "" {
		return "this caller"
	}
	if strings.ContainsRune("aeiou", rune(s[0])) {
		return "an " + s
	}
	return "a " + s
}

func actor(p auth.Principal) account.Actor { return account.Actor{ID: p.UserID, Role: p.Role} }

func (s *Service) log() *slog.Logger {
	if s.Logger == nil {
		return slog.Default()
	}
	return s.Logger
}
