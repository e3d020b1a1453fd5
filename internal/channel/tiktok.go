package channel

import (
	"encoding/json"
	"time"

	"github.com/relinkhq/relink/internal/account"
)

// TikTok is TikTok Login Kit v2 with the Content Posting API (channels.md §7).
func TikTok() Channel {
	scope := func(name, label string, needs ...account.Capability) Permission {
		return Permission{Name: name, Kind: KindScope, Label: label, Needs: needs}
	}
	return Channel{
		ID:   "tiktok",
		Name: "TikTok",
		Endpoints: Endpoints{
			AuthorizeURL: "https://www.tiktok.com/v2/auth/authorize/",
			// client_key and client_secret travel in the form body, not a Basic header (§7).
			TokenURL:   "https://open.tiktokapis.com/v2/oauth/token/",
			RevokeURL:  "https://open.tiktokapis.com/v2/oauth/revoke/",
			Introspect: IntrospectMe,
			// UNCONFIRMED: TikTok documents no introspection; user info stands in (§7, §11).
			IntrospectURL: "https://open.tiktokapis.com/v2/user/info/?fields=open_id",
			IdentityURL:   "https://open.tiktokapis.com/v2/user/info/?fields=open_id,display_name",
			// §7 lists code_verifier for mobile and desktop apps only; Relink's web flow
			// does not rely on it.
			PKCE:           false,
			ClientIDParam:  "client_key", // §7: client_key, not client_id
			ScopeSeparator: ",",          // §7: scope is comma-separated
		},
		Lifetime: Lifetime{
			Refreshable: true,
			// Documented: "The previous refresh token stops working once a new one is issued" (§7).
			RotatingRefresh: true,
			// Current doc: 2 h / 180 days; an older doc said 24 h / 365 days. The response's
			// expires_in / refresh_expires_in win (§13.1).
			AccessTTL:   2 * time.Hour,
			RefreshTTL:  180 * 24 * time.Hour,
			RefreshLead: 15 * time.Minute,
		},
		// user.info.basic identifies the account and lets the probe read open_id.
		BaseScopes: []string{"user.info.basic"},
		Permissions: []Permission{
			scope("video.publish", "Post videos straight to the profile", account.CapPublish),
			scope("video.upload", "Send videos to the TikTok inbox as drafts", account.CapPublish),
			scope("video.list", "List the account's videos", account.CapReport),
			scope("user.info.stats", "Read follower, like and video counts", account.CapReport),
			scope("user.info.profile", "Read the bio, username and verified status", account.CapReport),
		},
		Classify: classifyTikTok,
	}
}

// tiktokError is an API v2 error (channels.md §7); the doc example sends it bare.
type tiktokError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	LogID   string `json:"log_id"`
}

// tiktokBody holds both shapes: "error" is an object in API v2 answers
// ({"data":{},"error":{…}}) and a string at the OAuth endpoint
// ({"error":"…","error_description":"…","log_id":"…"}).
type tiktokBody struct {
	tiktokError
	Error            json.RawMessage `json:"error"`
	ErrorDescription string          `json:"error_description"`
}

// parseTikTok returns the API error code or the OAuth error, with message and log ID.
func parseTikTok(body []byte) (code, oauth, message, logID string) {
	var b tiktokBody
	if json.Unmarshal(body, &b) != nil {
		return "", "", "", ""
	}
	var api tiktokError
	if json.Unmarshal(b.Error, &api) == nil && api.Code != "" {
		return api.Code, "", api.Message, api.LogID
	}
	if json.Unmarshal(b.Error, &oauth) == nil && oauth != "" {
		return "", oauth, b.ErrorDescription, b.LogID
	}
	return b.Code, "", b.Message, b.LogID
}

// classifyTikTok reads TikTok's answer to a failed call.
func classifyTikTok(status int, body []byte) Classification {
	code, oauth, msg, logID := parseTikTok(body)
	if logID != "" {
		msg += " (log_id " + logID + ")" // what TikTok support asks for
	}
	c := tiktokRule(status, code, oauth)
	if oauth != "" {
		code = oauth
	}
	return withError(c, status, code, "", msg)
}

func tiktokRule(status int, code, oauth string) Classification {
	if transientStatus(status) {
		return Transient()
	}
	switch code {
	case "ok":
		// Successful answers carry "error":{"code":"ok"} (§7). Callers classify only
		// failures, so whatever failed here, it was not the token.
		return rejected()
	case "access_token_invalid", "access_token_expired": // _expired: observed, UNCONFIRMED (§7)
		return expiredRefreshable()
	case "scope_not_authorized", "scope_permission_missed":
		return permissionMissing()
	case "rate_limit_exceeded", "internal_error":
		return Transient()
	case "invalid_params", "invalid_file_upload":
		return rejected()
	}
	switch oauth {
	case "invalid_grant", "access_denied":
		// The code or refresh token is invalid, expired or revoked, or the person
		// declined (§7): only reconnecting helps.
		return dead(account.ReasonRevoked)
	case "invalid_client", "unauthorized_client":
		return rejected() // Relink's app configuration, not the account
	}
	return byStatus(status)
}
