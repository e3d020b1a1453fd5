package channel

import (
	"slices"
	"testing"

	"github.com/relinkhq/relink/internal/account"
)

// Payloads copied verbatim from channels.md §5, except "login required", which the
// doc only describes (401, reason required, "Login Required.").
var googlePayloads = []lgCase{
	{name: "refresh expired or revoked", status: 400, body: `{"error":"invalid_grant","error_description":"Token has been expired or revoked."}`,
		reason: account.ReasonRevoked, reauth: true, code: "invalid_grant"},
	{name: "refresh bad request", status: 400, body: `{"error":"invalid_grant","error_description":"Bad Request"}`,
		reason: account.ReasonRevoked, reauth: true, code: "invalid_grant"},
	{name: "tokeninfo invalid", status: 400, body: `{"error":"invalid_token","error_description":"Invalid Value"}`,
		reason: account.ReasonExpired, reauth: true, refresh: true, code: "invalid_token"},
	{name: "api 401", status: 401, body: `{"error":{"code":401,"message":"Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.","errors":[{"message":"Invalid Credentials","domain":"global","reason":"authError","location":"Authorization","locationType":"header"}],"status":"UNAUTHENTICATED"}}`,
		reason: account.ReasonExpired, reauth: true, refresh: true, code: "authError"},
	{name: "scope insufficient", status: 403, body: `{"error":{"code":403,"message":"Request had insufficient authentication scopes.","errors":[{"message":"Insufficient Permission","domain":"global","reason":"insufficientPermissions"}],"status":"PERMISSION_DENIED","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"ACCESS_TOKEN_SCOPE_INSUFFICIENT","domain":"googleapis.com","metadata":{"service":"calendar-json.googleapis.com","method":"calendar.v3.CalendarList.List"}}]}}`,
		reason: account.ReasonPermissionMissing, perm: true, code: "insufficientPermissions", subcode: "ACCESS_TOKEN_SCOPE_INSUFFICIENT"},
	{name: "login required", status: 401, body: `{"error":{"code":401,"message":"Login Required.","errors":[{"message":"Login Required.","domain":"global","reason":"required","location":"Authorization","locationType":"header"}],"status":"UNAUTHENTICATED"}}`,
		reason: account.ReasonExpired, reauth: true, refresh: true, code: "required"},
}

func TestClassifyGoogle(t *testing.T) {
	cases := append(slices.Clone(googlePayloads), []lgCase{
		{name: "scope via ErrorInfo only", status: 403, body: `{"error":{"code":403,"status":"PERMISSION_DENIED","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"ACCESS_TOKEN_SCOPE_INSUFFICIENT"}]}}`,
			reason: account.ReasonPermissionMissing, perm: true, code: "PERMISSION_DENIED", subcode: "ACCESS_TOKEN_SCOPE_INSUFFICIENT"},
		{name: "403 rate limit", status: 403, body: `{"error":{"code":403,"message":"Rate Limit Exceeded","errors":[{"reason":"rateLimitExceeded"}]}}`,
			reason: account.ReasonTransient, transit: true, code: "rateLimitExceeded"},
		{name: "403 quota", status: 403, body: `{"error":{"code":403,"errors":[{"reason":"quotaExceeded"}]}}`,
			reason: account.ReasonTransient, transit: true, code: "quotaExceeded"},
		{name: "403 user rate", status: 403, body: `{"error":{"code":403,"errors":[{"reason":"userRateLimitExceeded"}]}}`,
			reason: account.ReasonTransient, transit: true, code: "userRateLimitExceeded"},
		{name: "500", status: 500, body: `{"error":{"code":500,"message":"Internal error","errors":[{"reason":"backendError"}],"status":"INTERNAL"}}`,
			reason: account.ReasonTransient, transit: true, code: "backendError"},
		{name: "429", status: 429, body: `{"error":{"code":429,"status":"RESOURCE_EXHAUSTED"}}`,
			reason: account.ReasonTransient, transit: true, code: "RESOURCE_EXHAUSTED"},
		{name: "429 invalid_grant", status: 429, body: `{"error":"invalid_grant"}`,
			reason: account.ReasonTransient, transit: true, code: "invalid_grant"},
		{name: "no answer", status: 0, body: ``, reason: account.ReasonTransient, transit: true},
		{name: "malformed", status: 401, body: `{"error":{"code":401,`, reason: account.ReasonInvalidToken, reauth: true},
		{name: "null error", status: 401, body: `{"error":null}`, reason: account.ReasonInvalidToken, reauth: true},
		{name: "empty 401", status: 401, body: ``, reason: account.ReasonInvalidToken, reauth: true},
		{name: "404", status: 404, body: `{"error":{"code":404,"message":"Not Found","errors":[{"reason":"notFound"}],"status":"NOT_FOUND"}}`,
			reason: ReasonRequestRejected, code: "notFound"},
		{name: "success shaped", status: 200, body: `{"access_token":"ya29.redacted","expires_in":3599,"scope":"https://www.googleapis.com/auth/youtube.readonly","token_type":"Bearer"}`,
			reason: ReasonRequestRejected},
		{name: "unknown oauth error", status: 400, body: `{"error":"invalid_request","error_description":"Missing required parameter"}`,
			reason: ReasonRequestRejected, code: "invalid_request"},
	}...)
	runLGCases(t, classifyGoogle, cases)
}

func TestYouTubeEntry(t *testing.T) {
	ch := YouTube()
	if ch.ID != "youtube" || !ch.Refreshable || ch.RefreshTTL != 0 || !ch.PKCE || ch.Classify == nil {
		t.Fatalf("unexpected entry: %+v", ch)
	}
	checkLGDiagnose(t, ch, googleScopes+"youtube.upload",
		[]string{googleScopes + "youtube.readonly", googleScopes + "yt-analytics.readonly"},
		[]string{googleScopes + "youtube.upload", googleScopes + "youtube.force-ssl"})
}

func TestGoogleBusinessEntry(t *testing.T) {
	ch := GoogleBusiness()
	if ch.ID != "google_business" || !ch.Refreshable || ch.Introspect != IntrospectGoogle || ch.Classify == nil {
		t.Fatalf("unexpected entry: %+v", ch)
	}
	checkLGDiagnose(t, ch, googleScopes+"business.manage", []string{googleScopes + "business.manage"}, nil)
}

func FuzzClassifyGoogle(f *testing.F) {
	for _, tc := range googlePayloads {
		f.Add(tc.status, []byte(tc.body))
	}
	f.Add(403, []byte(`{"error":{"errors":[null,{"reason":1}],"details":"x"}}`))
	f.Add(0, []byte{0xff, '{'})
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		c := classifyGoogle(status, body)
		if c.Reason == "" || c.Message == "" || (c.Transient && c.Reauth) {
			t.Errorf("classifyGoogle(%d, %q) = %+v", status, body, c)
		}
	})
}
