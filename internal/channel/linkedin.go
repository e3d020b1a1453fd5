package channel

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/relinkhq/relink/internal/account"
)

// LinkedIn is LinkedIn Pages (Community Management API): a member logs in and the
// grant covers the organization pages that member administers (channels.md §4).
func LinkedIn() Channel {
	return Channel{
		ID:   "linkedin",
		Name: "LinkedIn Pages",
		Endpoints: Endpoints{
			AuthorizeURL:  "https://www.linkedin.com/oauth/v2/authorization",
			TokenURL:      "https://www.linkedin.com/oauth/v2/accessToken",
			Introspect:    IntrospectLinkedIn,
			IntrospectURL: "https://www.linkedin.com/oauth/v2/introspectToken",
			// The organizations the member administers (organization access control by
			// role), then their names by a batch lookup of AccountsURL.
			IdentityURL: "https://api.linkedin.com/rest/organizationAcls?q=roleAssignee&role=ADMINISTRATOR&state=APPROVED",
			AccountsURL: "https://api.linkedin.com/rest/organizations",
			// channels.md documents no revoke endpoint and no PKCE for LinkedIn; client
			// credentials go in the form body, not a Basic header (§4 refresh request).
		},
		Lifetime: Lifetime{
			// Programmatic refresh tokens are issued only to approved MDP partners
			// (channels.md §4); without that approval the token response carries no
			// refresh_token and the account must be reconnected every 60 days.
			Refreshable: true,
			// Refreshing keeps the refresh token's original 365-day end (§4: "Day 360 …
			// both expire in 5 days"), so a person must reconnect before it.
			FixedRefreshEnd: true,
			AccessTTL:       60 * 24 * time.Hour,
			RefreshTTL:      365 * 24 * time.Hour,
			RefreshLead:     7 * 24 * time.Hour,
		},
		// Listing the organizations a member administers (organization authorizations)
		// needs rw_organization_admin (§4). channels.md names no member-identity scope
		// for this product (r_basicprofile is only "listed"), so none is requested here.
		BaseScopes: []string{"rw_organization_admin"},
		Permissions: []Permission{
			linkedInScope("rw_organization_admin", "Manage the organization's pages, page admins and roles, and read its reporting data", account.CapReport),
			linkedInScope("w_organization_social", "Post, comment and like as the organization", account.CapPublish, account.CapEngage),
			linkedInScope("r_organization_social", "Read the organization's posts, comments and likes", account.CapReport, account.CapEngage),
			linkedInScope("r_ads", "View the organization's ad accounts", account.CapAds),
			linkedInScope("rw_ads", "Manage the organization's ad accounts and campaigns", account.CapAds),
			linkedInScope("r_ads_reporting", "Read advertising reports", account.CapAds),
		},
		ParentProfile: true,
		Classify:      classifyLinkedIn,
	}
}

func linkedInScope(name, label string, needs ...account.Capability) Permission {
	return Permission{Name: name, Kind: KindScope, Label: label, Needs: needs}
}

// linkedInError covers the API envelope {"message","serviceErrorCode","status","code"},
// the token endpoint's {"error","error_description"} and the introspection answer
// {"active","status"}. "status" is a number in errors and a string in introspection,
// so it is kept raw and read only as a string.
type linkedInError struct {
	Message          string          `json:"message"`
	ServiceErrorCode int             `json:"serviceErrorCode"`
	Code             string          `json:"code"`
	Status           json.RawMessage `json:"status"`
	Active           *bool           `json:"active"`
	Error            string          `json:"error"`
	ErrorDescription string          `json:"error_description"`
}

// classifyLinkedIn maps a LinkedIn answer onto an account reason (channels.md §4, §12).
func classifyLinkedIn(status int, body []byte) Classification {
	var e linkedInError
	if json.Unmarshal(body, &e) != nil {
		e = linkedInError{} // malformed or unexpected types: judge by status alone
	}
	c := linkedInRule(status, e)
	code, sub, msg := e.Code, itoa(e.ServiceErrorCode), e.Message
	switch {
	case code == "" && e.Error != "":
		code, sub, msg = e.Error, "", e.ErrorDescription
	case code == "":
		code, sub = sub, ""
	}
	return withError(c, status, code, sub, msg)
}

func linkedInRule(status int, e linkedInError) Classification {
	// Server errors include "access token downstream verification failures", which
	// LinkedIn answers with 500 (§4): never a reason to disconnect.
	if transientStatus(status) {
		return Transient()
	}
	// Refresh request refused: the refresh token is dead. Its fixed 365-day end is
	// the usual cause; LinkedIn's exact error_description is UNCONFIRMED (§4), so the
	// text is only a secondary hint for revocation.
	if e.Error == "invalid_grant" {
		if strings.Contains(strings.ToLower(e.ErrorDescription), "revoke") {
			return dead(account.ReasonRevoked)
		}
		return dead(account.ReasonExpired)
	}
	// The code string wins over serviceErrorCode: EXPIRED_ACCESS_TOKEN was seen with
	// both 65602 and 65600 (§13.3).
	switch e.Code {
	case "REVOKED_ACCESS_TOKEN":
		return dead(account.ReasonRevoked)
	case "EXPIRED_ACCESS_TOKEN":
		return expiredRefreshable() // partners can refresh; others end up reconnecting
	case "ACCESS_DENIED":
		return permissionMissing()
	}
	switch e.ServiceErrorCode {
	case 65600:
		return dead(account.ReasonInvalidToken)
	case 65601:
		return dead(account.ReasonRevoked)
	case 65602:
		return expiredRefreshable()
	}
	// Introspection of a dead token: {"active":false,"status":"revoked"|"expired"} (§4).
	if e.Active != nil && !*e.Active {
		var s string
		if json.Unmarshal(e.Status, &s) == nil {
			switch s {
			case "revoked":
				return dead(account.ReasonRevoked)
			case "expired":
				return expiredRefreshable()
			}
		}
		return dead(account.ReasonInvalidToken)
	}
	return byStatus(status)
}
