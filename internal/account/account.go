// Package account holds a connected social-media account, its token-health states, and
// the one pure transition function every change goes through.
package account

import (
	"slices"
	"strings"
	"time"

	"github.com/relinkhq/relink/internal/relink"
)

// State is an account's token health as stored. "Expiring" is derived, never stored.
type State string

const (
	StateNone           State = "" // before creation
	StatePending        State = "pending"
	StateActive         State = "active"
	StateActionRequired State = "action_required"
	StateDisconnected   State = "disconnected"
	StateDeactivated    State = "deactivated"
	StateDeleted        State = "deleted"
)

// States lists every stored state.
var States = []State{StatePending, StateActive, StateActionRequired, StateDisconnected, StateDeactivated, StateDeleted}

// Valid reports whether s is a stored state.
func (s State) Valid() bool { return slices.Contains(States, s) }

// Troubled reports whether the account needs a person's attention (reminders run).
func (s State) Troubled() bool { return s == StateDisconnected || s == StateActionRequired }

// Kind tells who is reminded: a personal account's owner, or a company account's admins.
type Kind string

const (
	KindPersonal Kind = "personal"
	KindCompany  Kind = "company"
)

// Capability is a feature of a channel that permissions unlock.
type Capability string

const (
	CapPublish Capability = "publish"
	CapEngage  Capability = "engage"
	CapReport  Capability = "report"
	CapAds     Capability = "ads"
)

// Reason codes for disconnects and transient failures. Channel classifiers map their
// payloads onto these; people see the plain-language text the classifier attaches.
const (
	ReasonExpired           = "expired"             // a known expiry passed
	ReasonRevoked           = "revoked"             // user or platform revoked the grant
	ReasonPasswordChanged   = "password_changed"    // platform invalidated sessions
	ReasonCheckpoint        = "checkpoint"          // user must log in on the platform to fix something
	ReasonAppRemoved        = "app_removed"         // the app was removed from the profile
	ReasonRoleLost          = "role_lost"           // no longer an admin of the Page/organisation
	ReasonPageDeleted       = "page_deleted"        // the Page or profile no longer exists
	ReasonDataAccessExpired = "data_access_expired" // Meta's 90-day data-access lapse
	ReasonInvalidToken      = "invalid_token"       // rejected for an unspecified reason
	ReasonPermissionMissing = "permission_missing"  // scopes or tasks missing (action required)
	ReasonUnreachable       = "unreachable"         // transient failures for too long
	ReasonTransient         = "transient"           // 5xx, timeout, rate limit: nothing changes
	ReasonReported          = "reported"            // another system reported a failed use
)

// ChannelError is what a channel answered, kept for diagnosis. Never holds a token.
type ChannelError struct {
	HTTPStatus int    `json:"http_status,omitempty"`
	Code       string `json:"code,omitempty"`
	Subcode    string `json:"subcode,omitempty"`
	Message    string `json:"message,omitempty"`
}

// MissingPermission is one scope or Page task the token lacks, and what that breaks.
type MissingPermission struct {
	Name   string       `json:"name"`
	Kind   string       `json:"kind"` // "scope" or "task"
	Breaks []Capability `json:"breaks"`
}

// Grant is what an OAuth flow or a probe learned about the token.
type Grant struct {
	Scopes           []string
	Tasks            []string
	Missing          []MissingPermission
	Refreshable      bool
	TokenExpiresAt   time.Time // zero: no known expiry (e.g. Facebook Page tokens)
	RefreshExpiresAt time.Time // zero: no known refresh-token end
}

// Account is one connected brand account on one channel.
type Account struct {
	WorkspaceID     string
	ID              string
	Channel         string
	ExternalID      string // the platform's ID of the Page/profile/channel
	DisplayName     string
	OwnerID         string // user ID of the person who holds it
	Kind            Kind
	ParentProfileID string // the personal login that grants it (Facebook/LinkedIn user), if any

	State         State
	PreviousState State // state before deletion, restored by Restore
	Reason        string
	ChannelError  *ChannelError

	Scopes      []string
	Tasks       []string
	Missing     []MissingPermission
	Refreshable bool

	TokenExpiresAt    time.Time
	RefreshExpiresAt  time.Time
	LastProbeAt       time.Time
	TroubleSince      time.Time // entered disconnected/action_required; reminder series start
	TransientFailures int       // consecutive transient failures since the last success
	TransientSince    time.Time
	DueAt             time.Time // next scheduled check; zero: not scheduled (sparse index)
	// RemindAt is when the reminders function should next look at the account: set to
	// the change's time whenever something reminders depend on changes, and moved on
	// by the reminders function itself. Zero: nothing to remind of (sparse index).
	RemindAt time.Time

	Version   int64
	CreatedAt time.Time
	UpdatedAt time.Time
	DeletedAt time.Time
	PurgeAt   time.Time // end of soft-delete retention; after it the account is gone
}

// HardExpiry is the moment the grant ends for good unless a person reconnects: the
// refresh-token end for refreshable grants, else the access-token expiry. Zero: none known.
func (a Account) HardExpiry() time.Time {
	if a.Refreshable {
		return a.RefreshExpiresAt
	}
	return a.TokenExpiresAt
}

// Expiring reports whether a known hard expiry falls inside the warning window (and has
// not passed yet). Only connected accounts can be expiring.
func (a Account) Expiring(now time.Time, window time.Duration) bool {
	if a.State != StateActive && a.State != StateActionRequired {
		return false
	}
	exp := a.HardExpiry()
	return !exp.IsZero() && exp.After(now) && !exp.After(now.Add(window))
}

// Gone reports whether a soft-deleted account is past its retention, i.e. purged.
func (a Account) Gone(now time.Time) bool {
	return a.State == StateDeleted && !a.PurgeAt.IsZero() && !now.Before(a.PurgeAt)
}

// Limits on stored text, so one item always fits and pages stay small.
const (
	maxNameLen = 300
	maxIDLen   = 200
)

// Spec is what a new account is created from.
type Spec struct {
	WorkspaceID     string
	ID              string
	Channel         string
	ExternalID      string
	DisplayName     string
	OwnerID         string
	Kind            Kind
	ParentProfileID string
	// Grant, when set, means the account is created by a successful OAuth flow and
	// starts connected; without it the account starts pending.
	Grant *Grant
}

func (s Spec) validate() error {
	// Our own IDs never hold the stores' key separators ('#', NUL). Platform IDs are
	// free-form ("locations/123", "urn:li:organization:5") and always the last part of
	// a key, so only NUL is refused there.
	for _, f := range []struct {
		name, v, forbidden string
	}{
		{"workspace", s.WorkspaceID, "#\x00"}, {"ID", s.ID, "#\x00"}, {"channel", s.Channel, "#\x00"},
		{"owner", s.OwnerID, "#\x00"}, {"external ID", s.ExternalID, "\x00"},
	} {
		if strings.TrimSpace(f.v) == "" {
			return relink.Errorf(relink.EINVALID, "Account %s is required.", f.name)
		}
		if len(f.v) > maxIDLen || strings.ContainsAny(f.v, f.forbidden) {
			return relink.Errorf(relink.EINVALID, "Account %s is not valid.", f.name)
		}
	}
	if strings.TrimSpace(s.DisplayName) == "" {
		return relink.Errorf(relink.EINVALID, "Account name is required.")
	}
	if len(s.DisplayName) > maxNameLen {
		return relink.Errorf(relink.EINVALID, "Account name is too long (%d characters at most).", maxNameLen)
	}
	if s.Kind != KindPersonal && s.Kind != KindCompany {
		return relink.Errorf(relink.EINVALID, "Account kind must be %q or %q.", KindPersonal, KindCompany)
	}
	return nil
}

// Filter selects accounts in a listing. Zero fields match everything; deleted accounts
// are listed only when State asks for them.
type Filter struct {
	State   State
	Channel string
	OwnerID string
	// ExpiringBefore, when set, keeps accounts whose hard expiry is known and not after it.
	ExpiringBefore time.Time
}

// Match reports whether a satisfies f.
func (f Filter) Match(a Account) bool {
	if f.State == "" {
		if a.State == StateDeleted {
			return false
		}
	} else if a.State != f.State {
		return false
	}
	if f.Channel != "" && a.Channel != f.Channel {
		return false
	}
	if f.OwnerID != "" && a.OwnerID != f.OwnerID {
		return false
	}
	if !f.ExpiringBefore.IsZero() {
		exp := a.HardExpiry()
		if exp.IsZero() || exp.After(f.ExpiringBefore) {
			return false
		}
	}
	return true
}

// Validate reports a filter a person must fix.
func (f Filter) Validate() error {
	if f.State != "" && !f.State.Valid() {
		return relink.Errorf(relink.EINVALID, "Unknown state %q.", f.State)
	}
	return nil
}
