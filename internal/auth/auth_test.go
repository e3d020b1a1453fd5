package auth

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/relinkhq/relink/internal/relink"
	"github.com/relinkhq/relink/internal/workspace"
)

var t0 = time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)

func issuer(now time.Time) Issuer {
	return Issuer{Key: []byte(strings.Repeat("k", 32)), Issuer: "relink-local", Audience: "relink-api", Now: func() time.Time { return now }}
}

func TestDevTokens(t *testing.T) {
	i := issuer(t0)
	tok, err := i.Issue(Claims{Subject: "u-pat", WorkspaceID: "demo"})
	if err != nil {
		t.Fatal(err)
	}
	c, err := i.Verify(tok)
	if err != nil || c.Subject != "u-pat" || c.WorkspaceID != "demo" {
		t.Fatalf("%+v %v", c, err)
	}
	other := issuer(t0)
	other.Key = []byte(strings.Repeat("x", 32))
	forgedAud := issuer(t0)
	forgedAud.Audience = "someone-else"
	none := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{"sub": "u-pat", "workspace": "demo", "iss": "relink-local",
		"aud": "relink-api", "exp": t0.Add(time.Hour).Unix()})
	unsigned, _ := none.SignedString(jwt.UnsafeAllowNoneSignatureType)
	for name, bad := range map[string]string{
		"other key":    must(other.Issue(Claims{Subject: "u-pat", WorkspaceID: "demo"})),
		"other aud":    must(forgedAud.Issue(Claims{Subject: "u-pat", WorkspaceID: "demo"})),
		"expired":      must(issuer(t0.Add(-31 * 24 * time.Hour)).Issue(Claims{Subject: "u-pat", WorkspaceID: "demo"})),
		"alg none":     unsigned,
		"garbage":      "abc.def.ghi",
		"no workspace": must(i.Issue(Claims{Subject: "u-pat"})),
	} {
		if _, err := i.Verify(bad); relink.ErrorCode(err) != relink.EUNAUTHORIZED {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestMiddlewareAndResolve(t *testing.T) {
	i := issuer(t0)
	tok, _ := i.Issue(Claims{Subject: "u-pat", WorkspaceID: "demo"})
	users := fakeUsers{"demo/u-pat": {WorkspaceID: "demo", ID: "u-pat", Role: workspace.RolePrimaryAdmin}}
	var got Principal
	var gotErr error
	h := i.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got, gotErr = Resolve(r.Context(), users) }))
	for _, tc := range []struct {
		header string
		code   string
	}{
		{"Bearer " + tok, ""},
		{"", relink.EUNAUTHORIZED},
		{"Bearer nope", relink.EUNAUTHORIZED},
		{"Basic " + tok, relink.EUNAUTHORIZED},
	} {
		r := httptest.NewRequest(http.MethodGet, "/v1/accounts", nil)
		if tc.header != "" {
			r.Header.Set("Authorization", tc.header)
		}
		h.ServeHTTP(httptest.NewRecorder(), r)
		if relink.ErrorCode(gotErr) != tc.code || tc.code == "" && got.Role != workspace.RolePrimaryAdmin {
			t.Errorf("%q: %+v %v", tc.header, got, gotErr)
		}
	}
	// A token for someone the workspace does not have.
	ghost, _ := i.Issue(Claims{Subject: "u-ghost", WorkspaceID: "demo"})
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("Authorization", "Bearer "+ghost)
	h.ServeHTTP(httptest.NewRecorder(), r)
	if relink.ErrorCode(gotErr) != relink.EUNAUTHORIZED {
		t.Fatalf("unknown user: %v", gotErr)
	}
}

func TestFromJWTClaims(t *testing.T) {
	c, ok := FromJWTClaims(map[string]string{"sub": "u1", "custom:workspace": "ws1"}, "custom:workspace")
	if !ok || c.Subject != "u1" || c.WorkspaceID != "ws1" {
		t.Fatalf("%+v", c)
	}
	if _, ok := FromJWTClaims(map[string]string{"sub": "u1"}, ""); ok {
		t.Fatal("claims without a workspace accepted")
	}
	if _, ok := ClaimsFrom(context.Background()); ok {
		t.Fatal("claims from nothing")
	}
}

type fakeUsers map[string]workspace.User

func (f fakeUsers) GetUser(_ context.Context, ws, id string) (workspace.User, error) {
	if u, ok := f[ws+"/"+id]; ok {
		return u, nil
	}
	return workspace.User{}, relink.Errorf(relink.ENOTFOUND, "No such user.")
}

func must(s string, err error) string {
	if err != nil {
		panic(err)
	}
	return s
}
