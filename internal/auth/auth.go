// Package auth says who calls the admin API. In AWS, API Gateway's JWT authorizer
// verifies the token and hands the function its claims; locally, the dev server
// verifies its own dev tokens (Issuer) and hands the same claims on. Either way the
// API reads Claims from the request context and resolves them to a Principal with the
// role stored for that person, so a role change or removal takes effect at once and a
// token cannot claim more than the store grants.
package auth

import (
	"context"
	"strings"
	"time"

	"github.com/relinkhq/relink/internal/relink"
	"github.com/relinkhq/relink/internal/workspace"
)

// Claims are what a verified token says about its bearer.
type Claims struct {
	Subject     string // the user ID (the token's "sub")
	WorkspaceID string // the workspace claim
}

// DefaultWorkspaceClaim names the claim that carries the workspace ID.
const DefaultWorkspaceClaim = "workspace"

type claimsKey struct{}

// WithClaims returns ctx carrying verified claims.
func WithClaims(ctx context.Context, c Claims) context.Context {
	return context.WithValue(ctx, claimsKey{}, c)
}

// ClaimsFrom returns the verified claims in ctx.
func ClaimsFrom(ctx context.Context) (Claims, bool) {
	c, ok := ctx.Value(claimsKey{}).(Claims)
	return c, ok && c.Subject != "" && c.WorkspaceID != ""
}

// FromJWTClaims reads claims as API Gateway's JWT authorizer passes them (a flat map
// of strings), with the workspace in the named claim.
func FromJWTClaims(m map[string]string, workspaceClaim string) (Claims, bool) {
	if workspaceClaim == "" {
		workspaceClaim = DefaultWorkspaceClaim
	}
	c := Claims{Subject: strings.TrimSpace(m["sub"]), WorkspaceID: strings.TrimSpace(m[workspaceClaim])}
	return c, c.Subject != "" && c.WorkspaceID != ""
}

// Principal is a resolved caller: a person or service of one workspace, with the role
// the store holds for them.
type Principal struct {
	WorkspaceID string
	UserID      string
	Role        workspace.Role
	Name        string
}

// Users is what resolving a principal needs of the store.
type Users interface {
	GetUser(ctx context.Context, workspaceID, id string) (workspace.User, error)
}

// Resolve turns the claims in ctx into a Principal. No claims, or claims naming nobody
// in that workspace, is EUNAUTHORIZED.
func Resolve(ctx context.Context, users Users) (Principal, error) {
	c, ok := ClaimsFrom(ctx)
	if !ok {
		return Principal{}, relink.Errorf(relink.EUNAUTHORIZED, "Sign in: send a bearer token for this API.")
	}
	u, err := users.GetUser(ctx, c.WorkspaceID, c.Subject)
	if relink.ErrorCode(err) == relink.ENOTFOUND {
		return Principal{}, relink.Errorf(relink.EUNAUTHORIZED, "The token names nobody in this workspace.")
	} else if err != nil {
		return Principal{}, err
	}
	return Principal{WorkspaceID: u.WorkspaceID, UserID: u.ID, Role: u.Role, Name: u.Name}, nil
}

// Expiry bounds dev tokens.
const devTokenTTL = 30 * 24 * time.Hour
