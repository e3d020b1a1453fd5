// Package workspace holds the organisation side of Relink: workspaces and their
// settings, the people in them and their roles, and account groups.
package workspace

import (
	"net/mail"
	"slices"
	"strings"
	"time"

	"github.com/relinkhq/relink/internal/relink"
)

// Reminder policies (DESIGN.md "Reminders").
const (
	PolicyExponential = "exponential"
	PolicySeries      = "series"
)

// Defaults a new workspace starts with.
const (
	DefaultTimeZone      = "UTC"
	DefaultWarningWindow = 20 * 24 * time.Hour
	DefaultExponentCap   = 30 * 24 * time.Hour
	DefaultCopyAdminStep = 3
	// The series policy: +2 days, then every 5 days four more times, then it repeats.
	DefaultSeriesFirstGap = 2 * 24 * time.Hour
	DefaultSeriesInterval = 5 * 24 * time.Hour
	DefaultSeriesRepeats  = 4
)

// Workspace is one customer organisation: its accounts, people and settings.
type Workspace struct {
	ID        string
	Name      string
	Settings  Settings
	Version   int64
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Settings are the per-workspace knobs of expiry warnings and reminders.
type Settings struct {
	// TimeZone is an IANA name; weekly reminders go out on Mondays in this zone.
	TimeZone string
	// WarningWindow: a hard expiry closer than this makes an account "expiring".
	WarningWindow time.Duration
	// ReminderPolicy is what runs after a disconnect: PolicyExponential or PolicySeries.
	ReminderPolicy string
	// ExponentialCap caps the gap between exponential reminders.
	ExponentialCap time.Duration
	// CopyAdminsFromStep: exponential reminders copy admins from this step on (1-based).
	CopyAdminsFromStep int
	// PreExpiryWeekly and PostExpiryWeekly switch the weekly expiry emails.
	PreExpiryWeekly  bool
	PostExpiryWeekly bool
	// SeriesFirstGap is the series policy's wait from step 1 to step 2.
	SeriesFirstGap time.Duration
	// SeriesInterval is the wait between the later series steps, and from the last step
	// to the next round's step 1.
	SeriesInterval time.Duration
	// SeriesRepeats is how many steps follow step 2 in a round; the last one also tells
	// admins the account is still disconnected.
	SeriesRepeats int
}

// DefaultSettings are what DESIGN.md prescribes.
func DefaultSettings() Settings {
	return Settings{
		TimeZone:           DefaultTimeZone,
		WarningWindow:      DefaultWarningWindow,
		ReminderPolicy:     PolicyExponential,
		ExponentialCap:     DefaultExponentCap,
		CopyAdminsFromStep: DefaultCopyAdminStep,
		PreExpiryWeekly:    true,
		PostExpiryWeekly:   true,
		SeriesFirstGap:     DefaultSeriesFirstGap,
		SeriesInterval:     DefaultSeriesInterval,
		SeriesRepeats:      DefaultSeriesRepeats,
	}
}

// WithDefaults fills the settings left at their zero value with the defaults. Stores
// apply it on read, so workspaces saved before a setting existed get its default. Zero
// is never a valid value for these fields, so nothing a person chose is overwritten;
// the on/off switches are left alone because false is a choice.
func (s Settings) WithDefaults() Settings {
	d := DefaultSettings()
	if s.TimeZone == "" {
		s.TimeZone = d.TimeZone
	}
	if s.WarningWindow == 0 {
		s.WarningWindow = d.WarningWindow
	}
	if s.ReminderPolicy == "" {
		s.ReminderPolicy = d.ReminderPolicy
	}
	if s.ExponentialCap == 0 {
		s.ExponentialCap = d.ExponentialCap
	}
	if s.CopyAdminsFromStep == 0 {
		s.CopyAdminsFromStep = d.CopyAdminsFromStep
	}
	if s.SeriesFirstGap == 0 {
		s.SeriesFirstGap = d.SeriesFirstGap
	}
	if s.SeriesInterval == 0 {
		s.SeriesInterval = d.SeriesInterval
	}
	if s.SeriesRepeats == 0 {
		s.SeriesRepeats = d.SeriesRepeats
	}
	return s
}

// Location returns the workspace time zone (UTC if the stored name is unknown).
func (s Settings) Location() *time.Location {
	loc, err := time.LoadLocation(s.TimeZone)
	if err != nil {
		return time.UTC
	}
	return loc
}

// Validate reports the first setting a person must fix.
func (s Settings) Validate() error {
	if s.TimeZone == "" {
		return relink.Invalid("time_zone", "Time zone is required (an IANA name such as Europe/Amsterdam).")
	}
	if _, err := time.LoadLocation(s.TimeZone); err != nil || strings.EqualFold(s.TimeZone, "local") {
		return relink.Invalid("time_zone", "Unknown time zone %q; use an IANA name such as Europe/Amsterdam.", s.TimeZone)
	}
	if s.WarningWindow < 24*time.Hour || s.WarningWindow > 90*24*time.Hour {
		return relink.Invalid("warning_window_days", "The warning window must be between 1 and 90 days.")
	}
	switch s.ReminderPolicy {
	case PolicyExponential, PolicySeries:
	default:
		return relink.Invalid("reminder_policy", "Reminder policy must be %q or %q.", PolicyExponential, PolicySeries)
	}
	if s.ExponentialCap < 24*time.Hour || s.ExponentialCap > 90*24*time.Hour {
		return relink.Invalid("exponential_cap_days", "The exponential reminder cap must be between 1 and 90 days.")
	}
	if s.CopyAdminsFromStep < 1 || s.CopyAdminsFromStep > 20 {
		return relink.Invalid("copy_admins_from_step", "Admins can be copied from reminder step 1 to 20.")
	}
	if s.SeriesFirstGap < 24*time.Hour || s.SeriesFirstGap > 30*24*time.Hour {
		return relink.Invalid("series_first_gap_days", "The series' first wait must be between 1 and 30 days.")
	}
	if s.SeriesInterval < 24*time.Hour || s.SeriesInterval > 30*24*time.Hour {
		return relink.Invalid("series_interval_days", "The series interval must be between 1 and 30 days.")
	}
	if s.SeriesRepeats < 1 || s.SeriesRepeats > 20 {
		return relink.Invalid("series_repeats", "The series repeats its interval 1 to 20 times.")
	}
	return nil
}

// Validate reports the first field of w a person must fix.
func (w Workspace) Validate() error {
	if strings.TrimSpace(w.ID) == "" {
		return relink.Errorf(relink.EINVALID, "Workspace ID is required.")
	}
	if strings.TrimSpace(w.Name) == "" {
		return relink.Invalid("name", "Workspace name is required.")
	}
	if len(w.Name) > 200 {
		return relink.Invalid("name", "Workspace name is too long (200 characters at most).")
	}
	return w.Settings.Validate()
}

// Role is what a person may do in a workspace.
type Role string

const (
	RolePrimaryAdmin Role = "primary_admin" // one per workspace; the only one who deletes accounts
	RoleAdmin        Role = "admin"
	RoleOwner        Role = "owner" // holds accounts; sees and reconnects only their own
	RoleService      Role = "service"
)

// Valid reports whether r is a known role.
func (r Role) Valid() bool {
	switch r {
	case RolePrimaryAdmin, RoleAdmin, RoleOwner, RoleService:
		return true
	}
	return false
}

// IsAdmin reports whether r administers the workspace.
func (r Role) IsAdmin() bool { return r == RolePrimaryAdmin || r == RoleAdmin }

// User is a person (or service identity) in a workspace.
type User struct {
	WorkspaceID string
	ID          string
	Email       string // normalised: trimmed, lower-case
	Name        string
	Role        Role
	Preferences Preferences
	Version     int64
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// Preferences are a person's email choices.
type Preferences struct {
	// NotifyTrouble: "email me when an account my role can see is not connected properly".
	NotifyTrouble bool
	// Unsubscribed is set by the signed opt-out link; it silences all but emails about
	// the person's own accounts' reconnect links they explicitly ask for.
	Unsubscribed bool
}

// NormalizeEmail trims and lower-cases an address and checks it is a plain address.
func NormalizeEmail(s string) (string, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "" {
		return "", relink.Errorf(relink.EINVALID, "Email address is required.")
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || a.Name != "" || len(s) > 254 {
		return "", relink.Errorf(relink.EINVALID, "%q is not a valid email address.", s)
	}
	return s, nil
}

// Validate reports the first field of u a person must fix. It expects a normalised email.
func (u User) Validate() error {
	if strings.TrimSpace(u.WorkspaceID) == "" || strings.TrimSpace(u.ID) == "" {
		return relink.Errorf(relink.EINVALID, "User workspace and ID are required.")
	}
	if e, err := NormalizeEmail(u.Email); err != nil {
		return err
	} else if e != u.Email {
		return relink.Errorf(relink.EINVALID, "Email address must be normalised (trimmed, lower-case).")
	}
	if !u.Role.Valid() {
		return relink.Errorf(relink.EINVALID, "Role must be one of primary_admin, admin, owner, service.")
	}
	if len(u.Name) > 200 {
		return relink.Errorf(relink.EINVALID, "Name is too long (200 characters at most).")
	}
	return nil
}

// Group is an account group: a set of accounts and the people subscribed to news
// about them (deactivation, disconnects).
type Group struct {
	WorkspaceID string
	ID          string
	Name        string
	AccountIDs  []string
	Subscribers []string // user IDs
	Version     int64
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// MaxGroupMembers bounds a group so that it always fits in one stored item.
const MaxGroupMembers = 1000

// Validate reports the first field of g a person must fix.
func (g Group) Validate() error {
	if strings.TrimSpace(g.WorkspaceID) == "" || strings.TrimSpace(g.ID) == "" {
		return relink.Errorf(relink.EINVALID, "Group workspace and ID are required.")
	}
	if strings.TrimSpace(g.Name) == "" {
		return relink.Errorf(relink.EINVALID, "Group name is required.")
	}
	if len(g.AccountIDs) > MaxGroupMembers || len(g.Subscribers) > MaxGroupMembers {
		return relink.Errorf(relink.EINVALID, "A group holds at most %d accounts and %d subscribers.", MaxGroupMembers, MaxGroupMembers)
	}
	return nil
}

// Contains reports whether the group holds the account.
func (g Group) Contains(accountID string) bool {
	return slices.Contains(g.AccountIDs, accountID)
}
