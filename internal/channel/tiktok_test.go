package channel

import (
	"testing"

	"github.com/relinkhq/relink/internal/account"
)

var tiktokPayloads = []string{
	`{"code":"access_token_invalid","message":"Access token is invalid, please refresh token and retry","log_id":"20220829194722CBE87ED59D524E727021"}`,
	`{"data":{},"error":{"code":"access_token_invalid","message":"Access token is invalid, please refresh token and retry","log_id":"20220829194722CBE87ED59D524E727021"}}`,
	`{"data":{},"error":{"code":"access_token_expired","message":"…","log_id":"…"}}`,
	`{"data":{},"error":{"code":"scope_not_authorized","message":"…","log_id":"…"}}`,
	`{"data":{},"error":{"code":"scope_permission_missed","message":"…","log_id":"…"}}`,
	`{"data":{},"error":{"code":"rate_limit_exceeded","message":"…","log_id":"…"}}`,
	`{"data":{},"error":{"code":"invalid_params","message":"…","log_id":"…"}}`,
	`{"data":{},"error":{"code":"internal_error","message":"…","log_id":"…"}}`,
	`{"data":{},"error":{"code":"invalid_file_upload","message":"…","log_id":"…"}}`,
	`{"data":{"user":{"open_id":"abc"}},"error":{"code":"ok","message":"","log_id":"…"}}`,
	`{"error":"invalid_grant","error_description":"…","log_id":"…"}`,
	`{"error":"access_denied","error_description":"…","log_id":"…"}`,
	`{"error":"invalid_client","error_description":"…","log_id":"…"}`,
	`{"error":"unauthorized_client","error_description":"…","log_id":"…"}`,
	`{"error":"invalid_request","error_description":"…","log_id":"…"}`,
}

func TestClassifyTikTok(t *testing.T) {
	p := tiktokPayloads
	xtpRun(t, classifyTikTok, []xtpCase{
		{"doc example, bare", 401, p[0], xtpCode(expiredRefreshable(), "access_token_invalid")},
		{"API v2 envelope", 401, p[1], xtpCode(expiredRefreshable(), "access_token_invalid")},
		{"access_token_expired (observed)", 401, p[2], xtpCode(expiredRefreshable(), "access_token_expired")},
		{"scope_not_authorized", 401, p[3], xtpCode(permissionMissing(), "scope_not_authorized")},
		{"scope_permission_missed", 400, p[4], xtpCode(permissionMissing(), "scope_permission_missed")},
		{"rate_limit_exceeded", 429, p[5], xtpCode(Transient(), "rate_limit_exceeded")},
		{"rate_limit_exceeded, odd status", 400, p[5], xtpCode(Transient(), "rate_limit_exceeded")},
		{"invalid_params", 400, p[6], xtpCode(rejected(), "invalid_params")},
		{"internal_error", 500, p[7], xtpCode(Transient(), "internal_error")},
		{"invalid_file_upload", 400, p[8], xtpCode(rejected(), "invalid_file_upload")},
		{"ok is success, never the token", 200, p[9], xtpCode(rejected(), "ok")},
		{"ok with a 401 still is not the token", 401, p[9], xtpCode(rejected(), "ok")},
		{"invalid_grant", 400, p[10], xtpCode(dead(account.ReasonRevoked), "invalid_grant")},
		{"access_denied", 400, p[11], xtpCode(dead(account.ReasonRevoked), "access_denied")},
		{"invalid_client is configuration", 401, p[12], xtpCode(rejected(), "invalid_client")},
		{"unauthorized_client is configuration", 400, p[13], xtpCode(rejected(), "unauthorized_client")},
		{"other OAuth error", 400, p[14], xtpCode(rejected(), "invalid_request")},
		{"5xx", 502, ``, Transient()},
		{"429 empty", 429, ``, Transient()},
		{"no answer", 0, ``, Transient()},
		{"malformed JSON", 400, `{"error":{"code":`, rejected()},
		{"empty 401", 401, ``, dead(account.ReasonInvalidToken)},
		{"error of the wrong type", 401, `{"error":42}`, dead(account.ReasonInvalidToken)},
	})
	got := classifyTikTok(401, []byte(p[1]))
	if want := "Access token is invalid, please refresh token and retry (log_id 20220829194722CBE87ED59D524E727021)"; got.ChannelError.Message != want {
		t.Errorf("message %q, want %q", got.ChannelError.Message, want)
	}
}

func TestTikTokEntry(t *testing.T) {
	c := TikTok()
	xtpEntry(t, c, "tiktok")
	if !c.RotatingRefresh || c.RefreshTTL <= 0 {
		t.Errorf("tiktok: %+v", c)
	}
	xtpDiagnose(t, c, "video.publish")
}

func FuzzClassifyTikTok(f *testing.F) {
	for _, p := range tiktokPayloads {
		for _, s := range []int{0, 200, 400, 401, 429, 500} {
			f.Add(s, []byte(p))
		}
	}
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		xtpInvariants(t, classifyTikTok(status, body))
	})
}
