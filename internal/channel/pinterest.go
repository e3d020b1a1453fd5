package channel

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/relinkhq/relink/internal/account"
)

// Pinterest is Pinterest API v5 (channels.md §8).
func Pinterest() Channel {
	scope := func(name, label string, needs ...account.Capability) Permission {
		return Permission{Name: name, Kind: KindScope, Label: label, Needs: needs}
	}
	return Channel{
		ID:   "pinterest",
		Name: "Pinterest",
		Endpoints: Endpoints{
			AuthorizeURL:     "https://www.pinterest.com/oauth/",
			TokenURL:         "https://api.pinterest.com/v5/oauth/token",
			ClientAuthHeader: true, // Basic app_id:app_secret (§8)
			Introspect:       IntrospectMe,
			// UNCONFIRMED: no introspection endpoint; the account call stands in (§8, §11).
			IntrospectURL: "https://api.pinterest.com/v5/user_account",
			IdentityURL:   "https://api.pinterest.com/v5/user_account",
			// No revoke endpoint and no PKCE in channels.md §8.
			ScopeSeparator: ",", // §8: scope=a,b
		},
		Lifetime: Lifetime{
			Refreshable: true,
			// Continuous refresh returns a new refresh token each time and spends the old
			// one: OpenAPI text plus third-party fixtures, UNCONFIRMED in prose (§8, §13.2).
			RotatingRefresh: true,
			AccessTTL:       30 * 24 * time.Hour, // expires_in 2592000
			// 60 days rolling under continuous refresh (5184000, UNCONFIRMED); legacy
			// tokens had 365 days. The response's refresh_token_expires_in wins.
			RefreshTTL:  60 * 24 * time.Hour,
			RefreshLead: 24 * time.Hour,
		},
		// user_accounts:read identifies the account and lets the probe call /v5/user_account.
		BaseScopes: []string{"user_accounts:read"},
		Permissions: []Permission{
			// POST /v5/pins needs pins:write and boards:read for the board IDs (§8, UNCONFIRMED per endpoint).
			scope("pins:write", "Create and delete Pins", account.CapPublish),
			scope("boards:read", "List boards to pin to", account.CapPublish),
			scope("boards:write", "Create and edit boards", account.CapPublish),
			scope("pins:read", "Read Pins and their analytics", account.CapReport),
			scope("user_accounts:read", "Read the profile and account analytics", account.CapReport),
			// Organic reports work without ads scopes, so only ads needs them.
			scope("ads:read", "Read ad accounts, campaigns and ad analytics", account.CapAds),
			scope("ads:write", "Create and manage campaigns and ads", account.CapAds),
		},
		Classify: classifyPinterest,
	}
}

// pinterestError is Pinterest's error body: {"code":<int>,"message":"…"} (channels.md §8).
type pinterestError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

// classifyPinterest reads Pinterest's answer to a failed call.
func classifyPinterest(status int, body []byte) Classification {
	var e pinterestError
	if json.Unmarshal(body, &e) != nil {
		e = pinterestError{}
	}
	var c Classification
	switch {
	case transientStatus(status):
		c = Transient()
	case e.Code == 2:
		// "Authentication failed.", observed at the token exchange (§8): the grant is gone.
		c = dead(account.ReasonInvalidToken)
	case status == http.StatusUnauthorized:
		// The expired-token body is UNCONFIRMED (§8); expect 401 and try a refresh first.
		c = expiredRefreshable()
	case status == http.StatusForbidden:
		c = permissionMissing()
	default:
		c = byStatus(status)
	}
	return withError(c, status, itoa(e.Code), "", e.Message)
}
