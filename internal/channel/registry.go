package channel

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/relinkhq/relink/internal/account"
)

// IntrospectRFC7662 is standard token introspection (the sandbox's).
const IntrospectRFC7662 Introspection = "rfc7662"

// Default returns the registry of every supported channel. sandboxURL is the base URL
// of the sandbox authorization server (the local server mounts one); empty leaves the
// sandbox out, as in production.
func Default(sandboxURL string) (*Registry, error) {
	channels := []Channel{
		Facebook(), Instagram(), InstagramLogin(), Threads(),
		LinkedIn(), YouTube(), GoogleBusiness(),
		X(), TikTok(), Pinterest(),
	}
	if sandboxURL != "" {
		channels = append(channels, Sandbox(sandboxURL))
	}
	return NewRegistry(channels...)
}

// SandboxID is the sandbox channel's ID.
const SandboxID = "sandbox"

// Sandbox is a real OAuth 2 authorization server for trying everything locally. It
// behaves like the strictest real channel: short access tokens, rotating refresh tokens,
// and one scope per capability, so every state can be produced by hand.
func Sandbox(baseURL string) Channel {
	base := strings.TrimRight(baseURL, "/") + "/sandbox/oauth"
	return Channel{
		ID: SandboxID, Name: "Sandbox",
		Endpoints: Endpoints{
			AuthorizeURL:  base + "/authorize",
			TokenURL:      base + "/token",
			Introspect:    IntrospectRFC7662,
			IntrospectURL: base + "/introspect",
			RevokeURL:     base + "/revoke",
			IdentityURL:   strings.TrimRight(baseURL, "/") + "/sandbox/api/me",
			PKCE:          true,
		},
		Lifetime: Lifetime{
			Refreshable: true, RotatingRefresh: true,
			AccessTTL: time.Hour, RefreshTTL: 90 * day, RefreshLead: 10 * time.Minute,
		},
		BaseScopes: []string{"profile"},
		Permissions: []Permission{
			permScope("profile", "See the account's name", needAll...),
			permScope("publish", "Publish posts", needPublish...),
			permScope("engage", "Answer comments and messages", needEngage...),
			permScope("report", "Read statistics", needReport...),
			permScope("ads", "Manage ads", needAds...),
		},
		ParentProfile: true,
		Classify:      classifySandbox,
	}
}

// classifySandbox reads the sandbox's errors: RFC 6749/6750 codes, plus a "reason"
// naming the account reason the sandbox controls simulated.
func classifySandbox(status int, body []byte) Classification {
	var e struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
		Reason      string `json:"reason"`
	}
	if transientStatus(status) && status != 0 || json.Unmarshal(body, &e) != nil || e.Error == "" {
		return withError(byStatus(status), status, e.Error, e.Reason, e.Description)
	}
	var c Classification
	switch {
	case e.Error == "temporarily_unavailable" || e.Error == "rate_limited":
		c = Transient()
	case e.Error == "insufficient_scope":
		c = permissionMissing()
	case e.Error == "invalid_token" && e.Reason == account.ReasonExpired:
		c = expiredRefreshable()
	case e.Error == "invalid_token" || e.Error == "invalid_grant":
		reason := account.ReasonInvalidToken
		if _, known := messages[e.Reason]; known && e.Reason != account.ReasonTransient && e.Reason != ReasonRequestRejected {
			reason = e.Reason
		}
		c = dead(reason)
	default:
		c = rejected()
	}
	return withError(c, status, e.Error, e.Reason, e.Description)
}
