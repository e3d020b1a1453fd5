package admin

import (
	"time"

	"github.com/relinkhq/relink/internal/account"
	"github.com/relinkhq/relink/internal/channel"
	"github.com/relinkhq/relink/internal/workspace"
)

// AccountView is an account as the API shows it. It never holds a token.
type AccountView struct {
	ID               string                `json:"id"`
	Name             string                `json:"name"`
	Channel          string                `json:"channel"`
	ChannelName      string                `json:"channel_name"`
	ExternalID       string                `json:"external_id"`
	OwnerID          string                `json:"owner_id"`
	Kind             account.Kind          `json:"kind"`
	ParentProfileID  string                `json:"parent_profile_id,omitempty"`
	State            account.State         `json:"state"`
	Expiring         bool                  `json:"expiring"`
	Reason           string                `json:"reason,omitempty"`
	ReasonText       string                `json:"reason_text,omitempty"`
	ChannelError     *account.ChannelError `json:"channel_error,omitempty"`
	Missing          []MissingView         `json:"missing"`
	Breaks           []account.Capability  `json:"breaks"`
	Scopes           []string              `json:"scopes"`
	TokenExpiresAt   *time.Time            `json:"token_expires_at,omitempty"`
	RefreshExpiresAt *time.Time            `json:"refresh_expires_at,omitempty"`
	HardExpiry       *time.Time            `json:"hard_expiry,omitempty"`
	LastCheckedAt    *time.Time            `json:"last_checked_at,omitempty"`
	NextCheckAt      *time.Time            `json:"next_check_at,omitempty"`
	TroubleSince     *time.Time            `json:"trouble_since,omitempty"`
	DeletedAt        *time.Time            `json:"deleted_at,omitempty"`
	RestorableUntil  *time.Time            `json:"restorable_until,omitempty"`
	CreatedAt        time.Time             `json:"created_at"`
	UpdatedAt        time.Time             `json:"updated_at"`
	Version          int64                 `json:"version"`
}

// MissingView is one missing permission with what it breaks.
type MissingView struct {
	Name   string               `json:"name"`
	Kind   string               `json:"kind"`
	Label  string               `json:"label"`
	Breaks []account.Capability `json:"breaks"`
}

// AccountDetail is one account with what the list leaves out: its groups and its next
// reminder.
type AccountDetail struct {
	AccountView
	Groups       []string      `json:"groups"`
	NextReminder *ReminderView `json:"next_reminder"`
}

// ReminderView is the next reminder an account's policy will send.
type ReminderView struct {
	Policy string    `json:"policy"`
	Step   int       `json:"step"`
	At     time.Time `json:"at"`
	Kind   string    `json:"kind"`
}

func ptime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

// view renders an account for the API.
func (s *Service) view(a account.Account, now time.Time, window time.Duration) AccountView {
	v := AccountView{
		ID: a.ID, Name: a.DisplayName, Channel: a.Channel, ChannelName: a.Channel, ExternalID: a.ExternalID, OwnerID: a.OwnerID,
		Kind: a.Kind, ParentProfileID: a.ParentProfileID, State: a.State, Expiring: a.Expiring(now, window), Reason: a.Reason,
		ChannelError: a.ChannelError, Missing: []MissingView{}, Breaks: []account.Capability{}, Scopes: a.Scopes,
		TokenExpiresAt: ptime(a.TokenExpiresAt), RefreshExpiresAt: ptime(a.RefreshExpiresAt), HardExpiry: ptime(a.HardExpiry()),
		LastCheckedAt: ptime(a.LastProbeAt), NextCheckAt: ptime(a.DueAt), TroubleSince: ptime(a.TroubleSince),
		DeletedAt: ptime(a.DeletedAt), RestorableUntil: ptime(a.PurgeAt), CreatedAt: a.CreatedAt.UTC(), UpdatedAt: a.UpdatedAt.UTC(),
		Version: a.Version,
	}
	if v.Scopes == nil {
		v.Scopes = []string{}
	}
	if a.Reason != "" {
		v.ReasonText = channel.Message(a.Reason)
	}
	ch, err := s.Registry.Get(a.Channel)
	if err == nil {
		v.ChannelName = ch.Name
	}
	for _, m := range a.Missing {
		mv := MissingView{Name: m.Name, Kind: m.Kind, Label: m.Name, Breaks: m.Breaks}
		for _, p := range ch.Permissions {
			if p.Name == m.Name && p.Kind == m.Kind {
				mv.Label = p.Label
			}
		}
		v.Missing = append(v.Missing, mv)
		for _, c := range m.Breaks {
			if !contains(v.Breaks, c) {
				v.Breaks = append(v.Breaks, c)
			}
		}
	}
	return v
}

func contains[T comparable](s []T, v T) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// EventView is one audit-trail entry.
type EventView struct {
	ID           string                `json:"id"`
	Version      int64                 `json:"version"`
	At           time.Time             `json:"at"`
	Actor        string                `json:"actor"`
	ActorRole    string                `json:"actor_role,omitempty"`
	System       bool                  `json:"system"`
	Action       account.Action        `json:"action"`
	From         account.State         `json:"from"`
	To           account.State         `json:"to"`
	Reason       string                `json:"reason,omitempty"`
	ChannelError *account.ChannelError `json:"channel_error,omitempty"`
	Missing      []string              `json:"missing,omitempty"`
	FromOwner    string                `json:"from_owner,omitempty"`
	ToOwner      string                `json:"to_owner,omitempty"`
	Note         string                `json:"note,omitempty"`
}

func eventView(e account.Event) EventView {
	return EventView{ID: e.ID, Version: e.Version, At: e.At.UTC(), Actor: e.Actor.ID, ActorRole: string(e.Actor.Role), System: e.Actor.System,
		Action: e.Action, From: e.From, To: e.To, Reason: e.Reason, ChannelError: e.ChannelError, Missing: e.Missing,
		FromOwner: e.FromOwner, ToOwner: e.ToOwner, Note: e.Note}
}

// UserView is a person as the API shows them.
type UserView struct {
	ID          string          `json:"id"`
	Email       string          `json:"email"`
	Name        string          `json:"name"`
	Role        workspace.Role  `json:"role"`
	Preferences PreferencesView `json:"preferences"`
	CreatedAt   time.Time       `json:"created_at"`
	UpdatedAt   time.Time       `json:"updated_at"`
	Version     int64           `json:"version"`
}

// PreferencesView is a person's email choices.
type PreferencesView struct {
	NotifyTrouble bool `json:"notify_trouble"`
	Unsubscribed  bool `json:"unsubscribed"`
}

func userView(u workspace.User) UserView {
	return UserView{ID: u.ID, Email: u.Email, Name: u.Name, Role: u.Role,
		Preferences: PreferencesView{NotifyTrouble: u.Preferences.NotifyTrouble, Unsubscribed: u.Preferences.Unsubscribed},
		CreatedAt:   u.CreatedAt.UTC(), UpdatedAt: u.UpdatedAt.UTC(), Version: u.Version}
}

// GroupView is an account group.
type GroupView struct {
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	AccountIDs  []string  `json:"account_ids"`
	Subscribers []string  `json:"subscribers"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
	Version     int64     `json:"version"`
}

func groupView(g workspace.Group) GroupView {
	v := GroupView{ID: g.ID, Name: g.Name, AccountIDs: g.AccountIDs, Subscribers: g.Subscribers,
		CreatedAt: g.CreatedAt.UTC(), UpdatedAt: g.UpdatedAt.UTC(), Version: g.Version}
	if v.AccountIDs == nil {
		v.AccountIDs = []string{}
	}
	if v.Subscribers == nil {
		v.Subscribers = []string{}
	}
	return v
}
