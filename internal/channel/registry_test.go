package channel

import (
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/relinkhq/relink/internal/account"
	"github.com/relinkhq/relink/internal/relink"
)

// TestRegistryEntries checks what every channel must have, whoever writes its entry.
func TestRegistryEntries(t *testing.T) {
	r, err := Default("http://127.0.0.1:8080")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"facebook", "google_business", "instagram", "instagram_login", "linkedin", "pinterest", "sandbox", "threads", "tiktok", "x", "youtube"}
	if !slices.Equal(r.IDs(), want) {
		t.Fatalf("channels = %v, want %v", r.IDs(), want)
	}
	id := regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
	for _, name := range r.IDs() {
		c, _ := r.Get(name)
		https := func(what, u string) {
			if u != "" && !strings.HasPrefix(u, "https://") && c.ID != SandboxID {
				t.Errorf("%s: %s %q is not https", c.ID, what, u)
			}
		}
		if !id.MatchString(c.ID) || c.Name == "" {
			t.Errorf("%q: bad ID or no name", c.ID)
		}
		if c.AuthorizeURL == "" || c.TokenURL == "" || c.IntrospectURL == "" || c.Introspect == "" {
			t.Errorf("%s: endpoints incomplete: %+v", c.ID, c.Endpoints)
		}
		for what, u := range map[string]string{"authorize": c.AuthorizeURL, "token": c.TokenURL, "introspect": c.IntrospectURL,
			"revoke": c.RevokeURL, "exchange": c.ExchangeURL, "refresh": c.RefreshURL} {
			https(what, u)
		}
		if c.AccessTTL <= 0 || c.RefreshLead <= 0 {
			t.Errorf("%s: lifetime incomplete: %+v", c.ID, c.Lifetime)
		}
		if c.RotatingRefresh && !c.Refreshable {
			t.Errorf("%s: rotating refresh without a refresh token", c.ID)
		}
		if c.SelfRefreshGrant != "" && c.SelfRefreshMinAge <= 0 {
			t.Errorf("%s: self refresh without a minimum age", c.ID)
		}
		seen := map[string]bool{}
		covered := map[account.Capability]bool{}
		for _, p := range c.Permissions {
			if seen[p.Kind+p.Name] {
				t.Errorf("%s: %s listed twice", c.ID, p.Name)
			}
			seen[p.Kind+p.Name] = true
			if p.Label == "" || (p.Kind != KindScope && p.Kind != KindTask) {
				t.Errorf("%s: permission %+v incomplete", c.ID, p)
			}
			for _, n := range p.Needs {
				if !slices.Contains(Capabilities, n) {
					t.Errorf("%s: %s needs unknown capability %q", c.ID, p.Name, n)
				}
				covered[n] = true
			}
		}
		if !covered[account.CapPublish] && !covered[account.CapReport] {
			t.Errorf("%s: no permission for publishing or reporting", c.ID)
		}
		// Asking for every capability grants a token the diagnosis finds complete
		// (tasks aside, which are roles, not requested).
		var tasks []string
		for _, p := range c.Permissions {
			if p.Kind == KindTask {
				tasks = append(tasks, p.Name)
			}
		}
		if got := c.Diagnose(c.Scopes(), tasks); got != nil {
			t.Errorf("%s: the scopes Relink requests leave %v missing", c.ID, got)
		}
		// Rules every classifier keeps: no answer, 5xx and 429 never disconnect.
		for _, tc := range []struct {
			status int
			body   string
		}{{0, ""}, {http.StatusInternalServerError, ""}, {http.StatusBadGateway, "<html>"}, {http.StatusServiceUnavailable, "{}"},
			{http.StatusTooManyRequests, ""}, {http.StatusGatewayTimeout, `{"error":"x"}`}} {
			if got := c.Classify(tc.status, []byte(tc.body)); !got.Transient || got.Reauth {
				t.Errorf("%s: status %d %q classified %+v, want transient", c.ID, tc.status, tc.body, got)
			}
		}
	}
	if _, err := r.Get("myspace"); relink.ErrorCode(err) != relink.ENOTFOUND {
		t.Errorf("unknown channel: %v", err)
	}
	prod, _ := Default("")
	if slices.Contains(prod.IDs(), SandboxID) {
		t.Error("the sandbox must not be registered without a sandbox URL")
	}
	if _, err := NewRegistry(Facebook(), Facebook()); err == nil {
		t.Error("a duplicate channel was accepted")
	}
}

func TestClassifySandbox(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		want   want
	}{
		{"password changed", 401, `{"error":"invalid_token","error_description":"The session was invalidated.","reason":"password_changed"}`,
			want{reason: account.ReasonPasswordChanged, reauth: true, code: "invalid_token", subcode: "password_changed"}},
		{"revoked refresh", 400, `{"error":"invalid_grant","error_description":"The refresh token was revoked.","reason":"revoked"}`,
			want{reason: account.ReasonRevoked, reauth: true, code: "invalid_grant", subcode: "revoked"}},
		{"expired access token", 401, `{"error":"invalid_token","reason":"expired"}`,
			want{reason: account.ReasonExpired, reauth: true, refreshFirst: true, code: "invalid_token", subcode: "expired"}},
		{"unknown reason", 401, `{"error":"invalid_token","reason":"cosmic_rays"}`,
			want{reason: account.ReasonInvalidToken, reauth: true, code: "invalid_token", subcode: "cosmic_rays"}},
		{"transient reason cannot disconnect", 401, `{"error":"invalid_token","reason":"transient"}`,
			want{reason: account.ReasonInvalidToken, reauth: true, code: "invalid_token", subcode: "transient"}},
		{"scope dropped", 403, `{"error":"insufficient_scope","reason":"permission_missing"}`,
			want{reason: account.ReasonPermissionMissing, permission: true, code: "insufficient_scope", subcode: "permission_missing"}},
		{"rate limited", 400, `{"error":"rate_limited"}`, want{reason: account.ReasonTransient, transient: true, code: "rate_limited"}},
		{"bad request", 400, `{"error":"invalid_request"}`, want{reason: ReasonRequestRejected, code: "invalid_request"}},
		{"server error", 500, `{"error":"invalid_token"}`, want{reason: account.ReasonTransient, transient: true}},
		{"no body 401", 401, ``, want{reason: account.ReasonInvalidToken, reauth: true}},
	}
	for _, tt := range tests {
		check(t, tt.name, classifySandbox(tt.status, []byte(tt.body)), tt.want)
	}
}
