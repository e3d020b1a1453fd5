package channel

import (
	"encoding/json"
	"net/http"
	"slices"
	"time"

	"github.com/relinkhq/relink/internal/account"
)

const googleScopes = "https://www.googleapis.com/auth/"

// YouTube is a YouTube channel through the YouTube Data and Analytics APIs (channels.md §5).
func YouTube() Channel {
	return Channel{
		ID:        "youtube",
		Name:      "YouTube",
		Endpoints: googleEndpoints(),
		Lifetime:  googleLifetime(),
		// youtube.readonly lists the channel the login holds. The broad
		// ".../auth/youtube" ("Manage your YouTube account") is not asked for: the
		// narrower scopes below cover each capability.
		BaseScopes: []string{googleScopes + "youtube.readonly"},
		Permissions: []Permission{
			googleScope("youtube.upload", "Upload and manage videos", account.CapPublish),
			googleScope("youtube.force-ssl", "Read, reply to and moderate comments, and manage captions and ratings", account.CapEngage),
			googleScope("youtube.readonly", "View the YouTube channel and its videos", account.CapReport),
			googleScope("yt-analytics.readonly", "View YouTube Analytics reports", account.CapReport),
		},
		Classify: classifyGoogle,
	}
}

// GoogleBusiness is a Google Business Profile. Its API needs Google's approval per
// project (0 QPM until approved, channels.md §5 [3P]); until then calls fail with
// quota errors, which classify as transient rather than disconnecting anyone.
func GoogleBusiness() Channel {
	ep := googleEndpoints()
	// The accounts the login reaches, then each account's locations, which are
	// the Business Profiles Relink manages.
	ep.IdentityURL = "https://mybusinessaccountmanagement.googleapis.com/v1/accounts"
	ep.AccountsURL = "https://mybusinessbusinessinformation.googleapis.com/v1"
	return Channel{
		ID:         "google_business",
		Name:       "Google Business Profile",
		Endpoints:  ep,
		Lifetime:   googleLifetime(),
		BaseScopes: []string{googleScopes + "business.manage"},
		Permissions: []Permission{
			// business.manage is the single read/write scope (§5).
			googleScope("business.manage", "Manage the Business Profile: posts, review replies, location data and performance",
				account.CapPublish, account.CapEngage, account.CapReport),
		},
		Classify: classifyGoogle,
	}
}

// googleEndpoints are shared by every Google channel. access_type=offline (to get a
// refresh token) and prompt=consent (to get one again on reconnect) are authorize
// request parameters the OAuth code adds (channels.md §0).
func googleEndpoints() Endpoints {
	return Endpoints{
		AuthorizeURL:  "https://accounts.google.com/o/oauth2/v2/auth",
		TokenURL:      "https://oauth2.googleapis.com/token",
		Introspect:    IntrospectGoogle,
		IntrospectURL: "https://oauth2.googleapis.com/tokeninfo",
		RevokeURL:     "https://oauth2.googleapis.com/revoke", // seen only via quotes: UNCONFIRMED (§13.8)
		PKCE:          true,                                   // not covered by channels.md
		// offline: a refresh token; consent: a new one on every reconnect (§0).
		AuthParams: map[string]string{"access_type": "offline", "prompt": "consent"},
	}
}

// googleLifetime: ~1 h access tokens (expires_in 3599). Refresh tokens have no fixed
// end, but die after 7 days when the consent screen is External + "Testing", after six
// months unused, on revocation, and beyond 100 live tokens per account and client
// (channels.md §5), so RefreshTTL stays 0 and failures are learnt from invalid_grant.
func googleLifetime() Lifetime {
	return Lifetime{
		Refreshable: true,
		AccessTTL:   time.Hour,
		RefreshLead: 10 * time.Minute,
	}
}

func googleScope(name, label string, needs ...account.Capability) Permission {
	return Permission{Name: googleScopes + name, Kind: KindScope, Label: label, Needs: needs}
}

// googleError: "error" is a string at the token and tokeninfo endpoints and an object
// on API calls (channels.md §5), so it is decoded in two steps.
type googleError struct {
	Error            json.RawMessage `json:"error"`
	ErrorDescription string          `json:"error_description"`
}

type googleAPIError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Status  string `json:"status"`
	Errors  []struct {
		Reason string `json:"reason"`
	} `json:"errors"`
	Details []struct {
		Type   string `json:"@type"`
		Reason string `json:"reason"`
	} `json:"details"`
}

// googleRateReasons are quota and rate-limit reasons Google sends with 403. They are
// Google's standard error reasons, not listed in channels.md (UNCONFIRMED there).
var googleRateReasons = []string{"rateLimitExceeded", "userRateLimitExceeded", "quotaExceeded"}

// classifyGoogle maps a Google OAuth or API answer onto an account reason (§5, §12).
func classifyGoogle(status int, body []byte) Classification {
	var e googleError
	if json.Unmarshal(body, &e) != nil {
		return withError(byStatus(status), status, "", "", "")
	}
	var oauth string
	if json.Unmarshal(e.Error, &oauth) == nil && oauth != "" {
		return withError(googleOAuthRule(status, oauth), status, oauth, "", e.ErrorDescription)
	}
	var api *googleAPIError
	if len(e.Error) == 0 || json.Unmarshal(e.Error, &api) != nil || api == nil {
		return withError(byStatus(status), status, "", "", "") // not a Google error
	}
	var reasons []string
	for _, x := range api.Errors {
		reasons = append(reasons, x.Reason)
	}
	var info string // the google.rpc.ErrorInfo reason, e.g. ACCESS_TOKEN_SCOPE_INSUFFICIENT
	for _, d := range api.Details {
		if d.Type == "type.googleapis.com/google.rpc.ErrorInfo" && d.Reason != "" {
			info = d.Reason
			break
		}
	}
	code := api.Status
	if len(reasons) > 0 && reasons[0] != "" {
		code = reasons[0]
	}
	return withError(googleAPIRule(status, *api, reasons, info), status, code, info, api.Message)
}

// googleOAuthRule reads the token and tokeninfo endpoints' {"error":"…"}.
func googleOAuthRule(status int, oauth string) Classification {
	if transientStatus(status) {
		return Transient()
	}
	switch oauth {
	case "invalid_grant":
		// The refresh token is dead. Google answers the same ("Token has been expired
		// or revoked.", later just "Bad Request") for user revocation, 7-day Testing
		// expiry and 6-month idleness (§5), so it cannot tell expiry from revocation.
		return dead(account.ReasonRevoked)
	case "invalid_token":
		// tokeninfo: the access token is invalid or expired ("Invalid Value", §5).
		return expiredRefreshable()
	}
	return byStatus(status)
}

func googleAPIRule(status int, api googleAPIError, reasons []string, info string) Classification {
	if transientStatus(status) {
		return Transient()
	}
	if status == http.StatusForbidden && slices.ContainsFunc(reasons, func(r string) bool { return slices.Contains(googleRateReasons, r) }) {
		return Transient()
	}
	if slices.Contains(reasons, "insufficientPermissions") || info == "ACCESS_TOKEN_SCOPE_INSUFFICIENT" {
		return permissionMissing()
	}
	// 401 authError / UNAUTHENTICATED, and 401 "required" (no token at all): refresh the
	// access token once; if that fails too, invalid_grant above ends it (§12).
	if status == http.StatusUnauthorized || api.Status == "UNAUTHENTICATED" || slices.Contains(reasons, "authError") {
		return expiredRefreshable()
	}
	return byStatus(status)
}
