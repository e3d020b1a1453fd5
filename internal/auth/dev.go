package auth

import (
	"net/http"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/relinkhq/relink/internal/relink"
)

// Issuer signs and verifies the local server's dev tokens (HS256), standing in for an
// identity provider and API Gateway's JWT authorizer in `make run`. Never used in AWS.
type Issuer struct {
	Key      []byte // at least 32 bytes
	Issuer   string // "iss" and the expected issuer
	Audience string // "aud" and the expected audience
	Now      func() time.Time
}

type devClaims struct {
	Workspace string `json:"workspace"`
	jwt.RegisteredClaims
}

// Issue returns a signed token for a user of a workspace.
func (i Issuer) Issue(c Claims) (string, error) {
	now := i.Now()
	t := jwt.NewWithClaims(jwt.SigningMethodHS256, devClaims{Workspace: c.WorkspaceID, RegisteredClaims: jwt.RegisteredClaims{
		Subject: c.Subject, Issuer: i.Issuer, Audience: jwt.ClaimStrings{i.Audience},
		IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(devTokenTTL)),
	}})
	s, err := t.SignedString(i.Key)
	if err != nil {
		return "", relink.Wrap(err, relink.EINTERNAL, "Could not sign a token.")
	}
	return s, nil
}

// Verify checks a token's signature, algorithm, issuer, audience and expiry.
func (i Issuer) Verify(token string) (Claims, error) {
	var dc devClaims
	_, err := jwt.ParseWithClaims(token, &dc, func(*jwt.Token) (any, error) { return i.Key, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}), jwt.WithIssuer(i.Issuer), jwt.WithAudience(i.Audience),
		jwt.WithExpirationRequired(), jwt.WithTimeFunc(i.Now))
	if err != nil || dc.Subject == "" || dc.Workspace == "" {
		// The parser's text can quote the token; it is not kept.
		return Claims{}, relink.Errorf(relink.EUNAUTHORIZED, "The bearer token is not valid or has expired.")
	}
	return Claims{Subject: dc.Subject, WorkspaceID: dc.Workspace}, nil
}

// Middleware verifies "Authorization: Bearer <token>" and puts the claims in the
// request's context, as API Gateway's JWT authorizer does; a request without a valid
// token goes on without claims, and the API answers it 401.
func (i Issuer) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h := r.Header.Get("Authorization"); strings.HasPrefix(h, "Bearer ") {
			if c, err := i.Verify(strings.TrimSpace(strings.TrimPrefix(h, "Bearer "))); err == nil {
				r = r.WithContext(WithClaims(r.Context(), c))
			}
		}
		next.ServeHTTP(w, r)
	})
}
