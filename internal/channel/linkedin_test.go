package channel

import (
	"slices"
	"testing"

	"github.com/relinkhq/relink/internal/account"
)

// lgCase is one classifier row for the LinkedIn and Google tables.
type lgCase struct {
	name    string
	status  int
	body    string
	reason  string
	reauth  bool
	transit bool
	perm    bool
	refresh bool
	code    string
	subcode string
}

func runLGCases(t *testing.T, classify Classifier, cases []lgCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := classify(tc.status, []byte(tc.body))
			if c.Reason != tc.reason || c.Reauth != tc.reauth || c.Transient != tc.transit ||
				c.PermissionMissing != tc.perm || c.RefreshFirst != tc.refresh {
				t.Errorf("got reason=%q reauth=%v transient=%v perm=%v refresh=%v; want %q %v %v %v %v",
					c.Reason, c.Reauth, c.Transient, c.PermissionMissing, c.RefreshFirst,
					tc.reason, tc.reauth, tc.transit, tc.perm, tc.refresh)
			}
			if c.ChannelError.Code != tc.code || c.ChannelError.Subcode != tc.subcode {
				t.Errorf("channel error code=%q subcode=%q; want %q %q", c.ChannelError.Code, c.ChannelError.Subcode, tc.code, tc.subcode)
			}
			if c.ChannelError.HTTPStatus != tc.status {
				t.Errorf("channel error status = %d, want %d", c.ChannelError.HTTPStatus, tc.status)
			}
			if c.Message == "" {
				t.Error("empty message")
			}
		})
	}
}

// Payloads copied from channels.md §4 where it gives them verbatim; the 65600/65601/65602
// rows assemble the documented code, serviceErrorCode and message into the v2 envelope.
var linkedInPayloads = []lgCase{
	{name: "empty token", status: 401, body: `{"message":"Empty oauth2_access_token","serviceErrorCode":401,"status":401}`,
		reason: account.ReasonInvalidToken, reauth: true, code: "401"},
	{name: "65600 invalid", status: 401, body: `{"serviceErrorCode":65600,"message":"Invalid access token","status":401}`,
		reason: account.ReasonInvalidToken, reauth: true, code: "65600"},
	{name: "65601 revoked", status: 401, body: `{"serviceErrorCode":65601,"code":"REVOKED_ACCESS_TOKEN","message":"The token used in the request has been revoked by the user","status":401}`,
		reason: account.ReasonRevoked, reauth: true, code: "REVOKED_ACCESS_TOKEN", subcode: "65601"},
	{name: "65602 expired", status: 401, body: `{"serviceErrorCode":65602,"code":"EXPIRED_ACCESS_TOKEN","message":"The token used in the request has expired","status":401}`,
		reason: account.ReasonExpired, reauth: true, refresh: true, code: "EXPIRED_ACCESS_TOKEN", subcode: "65602"},
	{name: "65600 with expired code", status: 401, body: `{"serviceErrorCode":65600,"code":"EXPIRED_ACCESS_TOKEN","message":"The token used in the request has expired","status":401}`,
		reason: account.ReasonExpired, reauth: true, refresh: true, code: "EXPIRED_ACCESS_TOKEN", subcode: "65600"},
	{name: "65602 without code", status: 401, body: `{"serviceErrorCode":65602,"message":"The token used in the request has expired","status":401}`,
		reason: account.ReasonExpired, reauth: true, refresh: true, code: "65602"},
	{name: "access denied", status: 403, body: `{"status":403,"serviceErrorCode":100,"code":"ACCESS_DENIED","message":"Unpermitted fields present in PARAMETER: …"}`,
		reason: account.ReasonPermissionMissing, perm: true, code: "ACCESS_DENIED", subcode: "100"},
	{name: "refresh invalid_grant", status: 400, body: `{"error":"invalid_grant","error_description":"…"}`,
		reason: account.ReasonExpired, reauth: true, code: "invalid_grant"},
	{name: "refresh invalid_grant revoked", status: 400, body: `{"error":"invalid_grant","error_description":"The refresh token has been revoked"}`,
		reason: account.ReasonRevoked, reauth: true, code: "invalid_grant"},
	{name: "introspection active", status: 200, body: `{"active":true,"client_id":"xxxxxxxx","authorized_at":1493055596,"created_at":1493055596,"status":"active","expires_at":1497497620,"scope":"r_liteprofile,r_emailaddress,w_member_social","auth_type":"3L"}`,
		reason: ReasonRequestRejected},
	{name: "introspection revoked", status: 200, body: `{"active":false,"status":"revoked"}`,
		reason: account.ReasonRevoked, reauth: true},
	{name: "introspection expired", status: 200, body: `{"active":false,"status":"expired"}`,
		reason: account.ReasonExpired, reauth: true, refresh: true},
	{name: "downstream verification 500", status: 500, body: `{"message":"Internal Server Error","status":500}`,
		reason: account.ReasonTransient, transit: true, code: ""},
}

func TestClassifyLinkedIn(t *testing.T) {
	cases := append(slices.Clone(linkedInPayloads), []lgCase{
		{name: "503", status: 503, body: `<html>Service Unavailable</html>`, reason: account.ReasonTransient, transit: true},
		{name: "429 wins over revoked", status: 429, body: `{"serviceErrorCode":65601,"code":"REVOKED_ACCESS_TOKEN","message":"x","status":429}`,
			reason: account.ReasonTransient, transit: true, code: "REVOKED_ACCESS_TOKEN", subcode: "65601"},
		{name: "no answer", status: 0, body: ``, reason: account.ReasonTransient, transit: true},
		{name: "malformed", status: 401, body: `{"serviceErrorCode":65601,"code":`, reason: account.ReasonInvalidToken, reauth: true},
		{name: "wrong types", status: 401, body: `{"serviceErrorCode":"65601","code":1}`, reason: account.ReasonInvalidToken, reauth: true},
		{name: "empty 401", status: 401, body: ``, reason: account.ReasonInvalidToken, reauth: true},
		{name: "success shaped", status: 200, body: `{"access_token":"AQX-redacted","expires_in":5184000,"refresh_token":"AQX-redacted","refresh_token_expires_in":31536000,"scope":"rw_organization_admin"}`,
			reason: ReasonRequestRejected},
		{name: "other 400", status: 400, body: `{"message":"Invalid query parameters","status":400}`, reason: ReasonRequestRejected},
	}...)
	runLGCases(t, classifyLinkedIn, cases)
}

func TestLinkedInEntry(t *testing.T) {
	ch := LinkedIn()
	if ch.ID != "linkedin" || !ch.ParentProfile || !ch.Refreshable || !ch.FixedRefreshEnd || ch.PKCE || ch.Classify == nil {
		t.Fatalf("unexpected entry: %+v", ch)
	}
	checkLGDiagnose(t, ch, "w_organization_social",
		[]string{"rw_organization_admin", "r_organization_social"}, []string{"w_organization_social", "rw_ads"})
}

// checkLGDiagnose: every scope granted → nothing missing; publishScope withheld → only
// it, breaking publish; report scopes are requested for report and publishOnly are not.
func checkLGDiagnose(t *testing.T, ch Channel, publishScope string, reportScopes, notForReport []string) {
	t.Helper()
	var all []string
	for _, p := range ch.Permissions {
		all = append(all, p.Name)
	}
	if got := ch.Diagnose(all, nil); got != nil {
		t.Errorf("full grant: missing %v", got)
	}
	lacking := slices.DeleteFunc(slices.Clone(all), func(s string) bool { return s == publishScope })
	got := ch.Diagnose(lacking, nil, account.CapPublish)
	if len(got) != 1 || got[0].Name != publishScope || got[0].Kind != KindScope ||
		!slices.Equal(got[0].Breaks, []account.Capability{account.CapPublish}) {
		t.Errorf("without %s: got %+v", publishScope, got)
	}
	if got := ch.Diagnose(lacking, nil); len(got) != 1 || !slices.Contains(got[0].Breaks, account.CapPublish) {
		t.Errorf("without %s, all capabilities: got %+v", publishScope, got)
	}
	scopes := ch.Scopes(account.CapReport)
	for _, s := range reportScopes {
		if !slices.Contains(scopes, s) {
			t.Errorf("Scopes(report) = %v lacks %s", scopes, s)
		}
	}
	for _, s := range notForReport {
		if slices.Contains(scopes, s) {
			t.Errorf("Scopes(report) = %v has %s", scopes, s)
		}
	}
	for _, p := range ch.Permissions {
		if p.Label == "" || len(p.Needs) == 0 {
			t.Errorf("permission %s lacks a label or capabilities", p.Name)
		}
	}
}

func FuzzClassifyLinkedIn(f *testing.F) {
	for _, tc := range linkedInPayloads {
		f.Add(tc.status, []byte(tc.body))
	}
	f.Add(401, []byte(`{"active":false,"status":401}`))
	f.Add(0, []byte{0xff, '{'})
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		c := classifyLinkedIn(status, body)
		if c.Reason == "" || c.Message == "" || (c.Transient && c.Reauth) {
			t.Errorf("classifyLinkedIn(%d, %q) = %+v", status, body, c)
		}
	})
}
