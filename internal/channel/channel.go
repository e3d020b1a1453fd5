// Package channel is Relink's knowledge of each social platform: OAuth endpoints,
// scopes and Page tasks per capability, how tokens live and are renewed, how to check
// a token, and what the platform's error payloads mean for an account. Facts and their
// sources: shared/channels.md.
package channel

import (
	"slices"
	"sort"
	"time"

	"github.com/relinkhq/relink/internal/account"
	"github.com/relinkhq/relink/internal/relink"
)

// Capabilities in the order people read them.
var Capabilities = []account.Capability{account.CapPublish, account.CapEngage, account.CapReport, account.CapAds}

// Permission is one scope or Page task and the capabilities that need it.
type Permission struct {
	Name  string               // as the platform spells it
	Kind  string               // KindScope or KindTask
	Label string               // what it allows, in plain words
	Needs []account.Capability // capabilities that break without it
}

// Permission kinds.
const (
	KindScope = "scope"
	KindTask  = "task"
)

// Introspection says how a token is checked.
type Introspection string

const (
	IntrospectDebugToken Introspection = "debug_token"         // Meta: GET /debug_token
	IntrospectLinkedIn   Introspection = "linkedin_introspect" // POST /oauth/v2/introspectToken
	IntrospectGoogle     Introspection = "google_tokeninfo"    // GET /tokeninfo
	IntrospectMe         Introspection = "me"                  // a cheap authenticated "who am I" call
)

// Endpoints are where a channel's OAuth and checks live.
type Endpoints struct {
	AuthorizeURL  string
	TokenURL      string
	Introspect    Introspection
	IntrospectURL string
	RevokeURL     string // "" when the platform documents none
	// IdentityURL lists who the token belongs to and the accounts it grants.
	IdentityURL string
	// AccountsURL is the base of the second identity call of channels whose
	// IdentityURL names the accounts without describing them (LinkedIn organization
	// names, Google Business Profile locations); "" when IdentityURL says it all.
	AccountsURL string
	// ExchangeURL swaps a short-lived token for a long-lived one (Meta family).
	ExchangeURL string
	// RefreshURL renews a long-lived token that has no refresh token (Instagram Login,
	// Threads); "" when refreshing goes through TokenURL with a refresh token.
	RefreshURL string
	// ClientAuthHeader: the token endpoint wants HTTP Basic client authentication.
	ClientAuthHeader bool
	// PKCE: the channel accepts S256 code challenges.
	PKCE bool
	// AuthParams are extra authorize-request parameters (Google's access_type=offline).
	AuthParams map[string]string
	// ClientIDParam names the client ID parameter when it is not client_id (TikTok's
	// client_key); it is sent to the authorize and token endpoints.
	ClientIDParam string
	// ScopeSeparator joins requested scopes; "" means a space (RFC 6749).
	ScopeSeparator string
}

// Lifetime describes how the channel's tokens live and are renewed.
type Lifetime struct {
	// Refreshable: the grant includes a refresh token.
	Refreshable bool
	// RotatingRefresh: each refresh returns a new refresh token and kills the old one,
	// so the new one must be stored before the new access token is used.
	RotatingRefresh bool
	// FixedRefreshEnd: the refresh token's end is set at consent and not extended by
	// refreshing (LinkedIn), so the account must be re-authorised before it.
	FixedRefreshEnd bool
	// AccessTTL and RefreshTTL are the documented lifetimes, used only when a token
	// response omits expires_in / refresh_expires_in (responses win: TikTok's changed).
	AccessTTL  time.Duration
	RefreshTTL time.Duration
	// LongLivedExchange is the grant_type that swaps a short-lived token for a
	// long-lived one right after the code exchange ("" if none).
	LongLivedExchange string
	// SelfRefreshGrant renews a long-lived token with itself (ig_refresh_token,
	// th_refresh_token); allowed once the token is SelfRefreshMinAge old and unexpired.
	SelfRefreshGrant  string
	SelfRefreshMinAge time.Duration
	// PageTokensNeverExpire: Page tokens from a long-lived user token report
	// expires_at 0; they still die on password change, role loss or app removal.
	PageTokensNeverExpire bool
	// RefreshLead is how long before expiry the scheduled check renews the token.
	RefreshLead time.Duration
}

// Classification is what a channel's error means for an account.
type Classification struct {
	Reason  string // an account.Reason* code
	Message string // for people, in plain words
	// Reauth: only a person reconnecting fixes it.
	Reauth bool
	// Transient: 5xx, timeouts, rate limits: retry later, never disconnect.
	Transient bool
	// PermissionMissing: the token works but lacks a scope or task → action required.
	PermissionMissing bool
	// RefreshFirst: the access token expired but a refresh may fix it without a person.
	RefreshFirst bool
	// ChannelError is the platform's own code and message, kept for diagnosis.
	ChannelError account.ChannelError
}

// Classifier reads a platform's answer (HTTP status and body) to a failed call.
type Classifier func(status int, body []byte) Classification

// Channel is one platform entry of the registry.
type Channel struct {
	ID   string // stable identifier stored on accounts, e.g. "facebook"
	Name string // for people, e.g. "Facebook Pages"
	Endpoints
	Lifetime
	// BaseScopes are always requested: identity and listing what the login grants.
	BaseScopes []string
	// Permissions lists every scope and Page task a capability needs.
	Permissions []Permission
	// ParentProfile: one login (a Facebook or LinkedIn person) grants several accounts.
	ParentProfile bool
	Classify      Classifier
}

// Scopes returns the scopes to request for the given capabilities (all when none are
// named), base scopes first, without duplicates.
func (c Channel) Scopes(caps ...account.Capability) []string {
	if len(caps) == 0 {
		caps = Capabilities
	}
	out := slices.Clone(c.BaseScopes)
	for _, p := range c.Permissions {
		if p.Kind != KindScope || slices.Contains(out, p.Name) {
			continue
		}
		for _, need := range p.Needs {
			if slices.Contains(caps, need) {
				out = append(out, p.Name)
				break
			}
		}
	}
	return out
}

// Diagnose lists the permissions a grant lacks for the wanted capabilities (all when
// none are named), each with what breaks without it, in registry order. A grant
// missing nothing yields nil.
func (c Channel) Diagnose(scopes, tasks []string, caps ...account.Capability) []account.MissingPermission {
	if len(caps) == 0 {
		caps = Capabilities
	}
	var out []account.MissingPermission
	for _, p := range c.Permissions {
		have := scopes
		if p.Kind == KindTask {
			have = tasks
		}
		if slices.Contains(have, p.Name) {
			continue
		}
		var breaks []account.Capability
		for _, need := range p.Needs {
			if slices.Contains(caps, need) {
				breaks = append(breaks, need)
			}
		}
		if len(breaks) > 0 {
			out = append(out, account.MissingPermission{Name: p.Name, Kind: p.Kind, Breaks: breaks})
		}
	}
	return out
}

// Registry holds every channel by ID.
type Registry struct {
	byID map[string]Channel
}

// NewRegistry builds a registry from channel entries; IDs must be unique.
func NewRegistry(channels ...Channel) (*Registry, error) {
	r := &Registry{byID: make(map[string]Channel, len(channels))}
	for _, c := range channels {
		if c.ID == "" || c.Classify == nil {
			return nil, relink.Errorf(relink.EINTERNAL, "channel %q is incomplete", c.ID)
		}
		if _, dup := r.byID[c.ID]; dup {
			return nil, relink.Errorf(relink.EINTERNAL, "channel %q registered twice", c.ID)
		}
		r.byID[c.ID] = c
	}
	return r, nil
}

// Get returns the channel with the given ID.
func (r *Registry) Get(id string) (Channel, error) {
	c, ok := r.byID[id]
	if !ok {
		return Channel{}, relink.Errorf(relink.ENOTFOUND, "Unknown channel %q.", id)
	}
	return c, nil
}

// IDs lists the registered channel IDs, sorted.
func (r *Registry) IDs() []string {
	ids := make([]string, 0, len(r.byID))
	for id := range r.byID {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}
