package channel

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/relinkhq/relink/internal/account"
)

// X is X (Twitter) with OAuth 2.0 Authorization Code + PKCE (channels.md §6).
func X() Channel {
	scope := func(name, label string, needs ...account.Capability) Permission {
		return Permission{Name: name, Kind: KindScope, Label: label, Needs: needs}
	}
	return Channel{
		ID:   "x",
		Name: "X (Twitter)",
		Endpoints: Endpoints{
			AuthorizeURL: "https://x.com/i/oauth2/authorize",
			TokenURL:     "https://api.x.com/2/oauth2/token",
			// UNCONFIRMED: the revoke endpoint text was not retrieved (channels.md §6).
			RevokeURL:  "https://api.x.com/2/oauth2/revoke",
			Introspect: IntrospectMe,
			// UNCONFIRMED: X documents no introspection; a "who am I" call stands in (§6, §11).
			IntrospectURL: "https://api.x.com/2/users/me",
			IdentityURL:   "https://api.x.com/2/users/me",
			// Confidential clients send Basic client_id:client_secret (§6).
			ClientAuthHeader: true,
			PKCE:             true,
		},
		Lifetime: Lifetime{
			// A refresh token is issued only with offline.access, which BaseScopes request (§6).
			Refreshable: true,
			// Observed, not documented: a refresh token is single-use (§6, §13.4).
			RotatingRefresh: true,
			AccessTTL:       2 * time.Hour,
			// RefreshTTL unknown: the refresh-token lifetime is UNCONFIRMED (§13.4).
			RefreshLead: 15 * time.Minute,
		},
		BaseScopes: []string{"users.read", "tweet.read", "offline.access"},
		Permissions: []Permission{
			scope("tweet.write", "Publish and delete posts", account.CapPublish),
			scope("media.write", "Upload images and videos for posts", account.CapPublish),
			scope("tweet.moderate.write", "Hide and unhide replies", account.CapEngage),
			scope("like.write", "Like and unlike posts", account.CapEngage),
			scope("dm.read", "Read direct messages", account.CapEngage),
			scope("dm.write", "Send direct messages", account.CapEngage),
			scope("tweet.read", "Read posts and their metrics", account.CapReport),
			scope("users.read", "Read the profile and follower counts", account.CapReport),
		},
		Classify: classifyX,
	}
}

// xError covers X's three error shapes (channels.md §6): API v2 problem details
// (title/type/status/detail), the OAuth token endpoint's error/error_description, and
// the legacy v1.1 errors list.
type xError struct {
	Title            string `json:"title"`
	Type             string `json:"type"`
	Detail           string `json:"detail"`
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
	Errors           []struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"errors"`
}

// classifyX reads X's answer to a failed call.
func classifyX(status int, body []byte) Classification {
	var e xError
	if json.Unmarshal(body, &e) != nil {
		e = xError{}
	}
	code, msg := e.Title, e.Detail
	switch {
	case e.Error != "":
		code, msg = e.Error, e.ErrorDescription
	case len(e.Errors) > 0:
		code, msg = itoa(e.Errors[0].Code), e.Errors[0].Message
	case e.Type != "" && e.Type != "about:blank":
		code = e.Type // a problem type beyond the bare status is the more specific code
	}
	return withError(xRule(status, e), status, code, "", msg)
}

func xRule(status int, e xError) Classification {
	if transientStatus(status) {
		return Transient()
	}
	for _, le := range e.Errors {
		if le.Code == 89 { // v1.1 "Invalid or expired token." (§6)
			return dead(account.ReasonInvalidToken)
		}
	}
	switch e.Error {
	case "":
	case "invalid_request":
		// "Value passed for the token was invalid.": the refresh token was spent by
		// rotation or revoked (§6, §12). The same error for an authorization code only
		// fails one connect attempt.
		if strings.Contains(e.ErrorDescription, "token was invalid") {
			return dead(account.ReasonRevoked)
		}
		return rejected()
	case "unauthorized_client", "invalid_client":
		// Missing or wrong client authentication: Relink's configuration, not the account.
		return rejected()
	default:
		// Other token-endpoint errors: never answer a failed refresh with "refresh first".
		return byStatus(status)
	}
	switch status {
	case http.StatusUnauthorized:
		// The v2 401 body says only "Unauthorized" (§6): the 2-hour access token most
		// likely lapsed. A refresh costs nothing and its own failure is classified in turn.
		return expiredRefreshable()
	case http.StatusForbidden:
		return permissionMissing()
	}
	return byStatus(status)
}
