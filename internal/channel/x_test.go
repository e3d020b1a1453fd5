package channel

import (
	"slices"
	"testing"

	"github.com/relinkhq/relink/internal/account"
)

// xtpCase is one classifier row, shared by the X, TikTok and Pinterest tests.
type xtpCase struct {
	name   string
	status int
	body   string
	want   Classification // Reason, the flags and ChannelError.Code are compared
}

func xtpRun(t *testing.T, classify Classifier, cases []xtpCase) {
	t.Helper()
	for _, tc := range cases {
		got := classify(tc.status, []byte(tc.body))
		if got.Reason != tc.want.Reason || got.Reauth != tc.want.Reauth || got.Transient != tc.want.Transient ||
			got.PermissionMissing != tc.want.PermissionMissing || got.RefreshFirst != tc.want.RefreshFirst ||
			got.ChannelError.Code != tc.want.ChannelError.Code {
			t.Errorf("%s: got %+v\nwant %+v", tc.name, got, tc.want)
		}
		if got.Message == "" || got.ChannelError.HTTPStatus != tc.status {
			t.Errorf("%s: message %q, HTTP status %d", tc.name, got.Message, got.ChannelError.HTTPStatus)
		}
	}
}

// xtpCode sets the expected platform code on a classification.
func xtpCode(c Classification, code string) Classification {
	c.ChannelError.Code = code
	return c
}

// xtpInvariants must hold for any input: fuzz targets check them.
func xtpInvariants(t *testing.T, c Classification) {
	t.Helper()
	if c.Reason == "" || c.Message == "" {
		t.Fatalf("empty reason or message: %+v", c)
	}
	if c.Transient && (c.Reauth || c.PermissionMissing || c.RefreshFirst) {
		t.Fatalf("transient with other flags: %+v", c)
	}
	if c.RefreshFirst && !c.Reauth {
		t.Fatalf("refresh first without reauth: %+v", c)
	}
}

// xtpDiagnose checks Diagnose and Scopes on a channel: a full grant misses nothing, a
// grant without publishScope misses exactly it, and report scopes leave out publish-only ones.
func xtpDiagnose(t *testing.T, c Channel, publishScope string) {
	t.Helper()
	all := c.Scopes()
	if got := c.Diagnose(all, nil); got != nil {
		t.Errorf("%s: full grant misses %+v", c.ID, got)
	}
	partial := slices.DeleteFunc(slices.Clone(all), func(s string) bool { return s == publishScope })
	got := c.Diagnose(partial, nil)
	if len(got) != 1 || got[0].Name != publishScope || got[0].Kind != KindScope || !slices.Contains(got[0].Breaks, account.CapPublish) {
		t.Errorf("%s: without %s Diagnose = %+v", c.ID, publishScope, got)
	}
	report := c.Scopes(account.CapReport)
	for _, p := range c.Permissions {
		switch {
		case slices.Contains(p.Needs, account.CapReport) && !slices.Contains(report, p.Name):
			t.Errorf("%s: Scopes(report) lacks %s", c.ID, p.Name)
		case slices.Equal(p.Needs, []account.Capability{account.CapPublish}) && slices.Contains(report, p.Name):
			t.Errorf("%s: Scopes(report) has publish-only %s", c.ID, p.Name)
		}
	}
	for _, b := range c.BaseScopes {
		if !slices.Contains(report, b) {
			t.Errorf("%s: Scopes(report) lacks base scope %s", c.ID, b)
		}
	}
	for _, p := range c.Permissions {
		if p.Label == "" || len(p.Needs) == 0 {
			t.Errorf("%s: permission %s lacks a label or needs", c.ID, p.Name)
		}
	}
}

// xtpEntry checks what every entry needs to be registered and used.
func xtpEntry(t *testing.T, c Channel, id string) {
	t.Helper()
	if c.ID != id || c.Name == "" || c.Classify == nil || c.AuthorizeURL == "" || c.TokenURL == "" ||
		c.Introspect != IntrospectMe || c.IntrospectURL == "" || !c.Refreshable || c.AccessTTL <= 0 || c.RefreshLead <= 0 {
		t.Errorf("%s: incomplete entry %+v", id, c)
	}
	if _, err := NewRegistry(c); err != nil {
		t.Errorf("%s: NewRegistry: %v", id, err)
	}
}

var xPayloads = []string{
	`{"title":"Unauthorized","type":"about:blank","status":401,"detail":"Unauthorized"}`,
	`{"error":"invalid_request","error_description":"Value passed for the token was invalid."}`,
	`{"error":"invalid_request","error_description":"Value passed for the authorization code was invalid."}`,
	`{"error":"unauthorized_client","error_description":"Missing valid authorization header"}`,
	`{"title":"Too Many Requests","detail":"Too Many Requests","type":"about:blank","status":429}`,
	`{"errors":[{"code":89,"message":"Invalid or expired token."}]}`,
}

func TestClassifyX(t *testing.T) {
	xtpRun(t, classifyX, []xtpCase{
		{"v2 401 problem+json: refresh first", 401, xPayloads[0], xtpCode(expiredRefreshable(), "Unauthorized")},
		{"dead refresh token: rotated or revoked", 400, xPayloads[1], xtpCode(dead(account.ReasonRevoked), "invalid_request")},
		{"reused authorization code", 400, xPayloads[2], xtpCode(rejected(), "invalid_request")},
		// channels.md §6 gives only the code and text of this one; the body shape is the OAuth one.
		{"missing client auth is configuration", 401, xPayloads[3], xtpCode(rejected(), "unauthorized_client")},
		{"rate limit", 429, xPayloads[4], xtpCode(Transient(), "Too Many Requests")},
		{"legacy v1.1 code 89", 401, xPayloads[5], xtpCode(dead(account.ReasonInvalidToken), "89")},
		{"403 (constructed body)", 403, `{"title":"Forbidden","type":"about:blank","status":403,"detail":"Forbidden"}`, xtpCode(permissionMissing(), "Forbidden")},
		{"problem type kept as code", 403, `{"title":"Forbidden","type":"https://example.test/problems/x","status":403}`,
			xtpCode(permissionMissing(), "https://example.test/problems/x")},
		{"unknown OAuth error on 401 does not ask for a refresh", 401, `{"error":"invalid_grant"}`, xtpCode(byStatus(401), "invalid_grant")},
		{"5xx", 503, `<html>Service Unavailable</html>`, Transient()},
		{"429 empty", 429, ``, Transient()},
		{"no answer", 0, ``, Transient()},
		{"malformed JSON", 400, `{"title":`, rejected()},
		{"empty 401: refresh first", 401, ``, expiredRefreshable()},
		{"404 (constructed body)", 404, `{"title":"Not Found","type":"about:blank","status":404,"detail":"constructed"}`, xtpCode(rejected(), "Not Found")},
	})
}

func TestXEntry(t *testing.T) {
	c := X()
	xtpEntry(t, c, "x")
	if !c.PKCE || !c.ClientAuthHeader || !c.RotatingRefresh || !slices.Contains(c.BaseScopes, "offline.access") {
		t.Errorf("x: %+v", c)
	}
	xtpDiagnose(t, c, "media.write")
	if got := c.Diagnose([]string{"tweet.read", "users.read", "offline.access"}, nil, account.CapEngage); len(got) != 4 {
		t.Errorf("x: engage without engage scopes misses %+v", got)
	}
}

func FuzzClassifyX(f *testing.F) {
	for _, p := range xPayloads {
		for _, s := range []int{0, 400, 401, 403, 429, 500} {
			f.Add(s, []byte(p))
		}
	}
	f.Add(401, []byte(`{"errors":"x","error":{}}`))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		xtpInvariants(t, classifyX(status, body))
	})
}
