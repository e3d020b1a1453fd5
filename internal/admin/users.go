package admin

import (
	"context"
	"strings"
	"time"

	"github.com/relinkhq/relink/internal/auth"
	"github.com/relinkhq/relink/internal/magiclink"
	"github.com/relinkhq/relink/internal/mail"
	"github.com/relinkhq/relink/internal/relink"
	"github.com/relinkhq/relink/internal/workspace"
)

// NewUser is a person (or service identity) to add.
type NewUser struct {
	Email string         `json:"email"`
	Name  string         `json:"name"`
	Role  workspace.Role `json:"role"`
	// NotifyTrouble: "email me when an account my role can see is not connected
	// properly"; defaults to true for admins.
	NotifyTrouble *bool `json:"notify_trouble"`
}

// CreatedUser is the new person, and whether their connect link went out.
type CreatedUser struct {
	UserView
	ConnectLinkSent bool `json:"connect_link_sent"`
}

// mayManage refuses a caller who may not give or change role r: admins manage owners
// and services; only the primary admin manages admins; the primary admin role is the
// workspace's one and is never given through the API.
func mayManage(p auth.Principal, r workspace.Role) error {
	switch r {
	case workspace.RoleOwner, workspace.RoleService:
		return allow(p, "manage people", admins...)
	case workspace.RoleAdmin:
		return allow(p, "manage admins (only the primary admin can)", primaryOnly...)
	case workspace.RolePrimaryAdmin:
		return relink.Invalid("role", "A workspace has one primary admin; that role cannot be given through the API.")
	}
	return relink.Invalid("role", "role must be owner, admin or service.")
}

// CreateUser adds a person. A new owner gets their personal connect link by email.
func (s *Service) CreateUser(ctx context.Context, p auth.Principal, in NewUser) (CreatedUser, error) {
	if err := allow(p, "add people", admins...); err != nil {
		return CreatedUser{}, err
	}
	if err := mayManage(p, in.Role); err != nil {
		return CreatedUser{}, err
	}
	email, err := workspace.NormalizeEmail(in.Email)
	if err != nil {
		return CreatedUser{}, relink.Invalid("email", "%s", relink.ErrorMessage(err))
	}
	name := strings.TrimSpace(in.Name)
	if len(name) > 200 {
		return CreatedUser{}, relink.Invalid("name", "name is too long (200 characters at most).")
	}
	now := s.Clock.Now()
	u := workspace.User{WorkspaceID: p.WorkspaceID, ID: s.IDs.New(), Email: email, Name: name, Role: in.Role,
		Preferences: workspace.Preferences{NotifyTrouble: in.Role.IsAdmin()}, CreatedAt: now, UpdatedAt: now}
	if in.NotifyTrouble != nil {
		u.Preferences.NotifyTrouble = *in.NotifyTrouble
	}
	u, err = s.Store.CreateUser(ctx, u)
	if relink.ErrorCode(err) == relink.ECONFLICT {
		return CreatedUser{}, &relink.Error{Code: relink.ECONFLICT, Field: "email", Message: "Someone in this workspace already has that email address."}
	} else if err != nil {
		return CreatedUser{}, err
	}
	out := CreatedUser{UserView: userView(u)}
	if u.Role == workspace.RoleOwner {
		if _, err := s.sendConnectLink(ctx, p, u); err != nil {
			s.log().ErrorContext(ctx, "connect link for a new owner", "workspace", p.WorkspaceID, "user", u.ID, "err", err)
		} else {
			out.ConnectLinkSent = true
		}
	}
	return out, nil
}

// ListUsers returns everyone in the workspace.
func (s *Service) ListUsers(ctx context.Context, p auth.Principal) ([]UserView, error) {
	if err := allow(p, "list people", admins...); err != nil {
		return nil, err
	}
	users, err := s.Store.ListUsers(ctx, p.WorkspaceID)
	if err != nil {
		return nil, err
	}
	out := make([]UserView, 0, len(users))
	for _, u := range users {
		out = append(out, userView(u))
	}
	return out, nil
}

// GetUser returns one person: admins see anyone, others only themselves.
func (s *Service) GetUser(ctx context.Context, p auth.Principal, id string) (UserView, error) {
	u, err := s.personFor(ctx, p, id)
	if err != nil {
		return UserView{}, err
	}
	return userView(u), nil
}

// personFor reads a person the caller may see: admins anyone, others only themselves
// (anyone else reads as not found).
func (s *Service) personFor(ctx context.Context, p auth.Principal, id string) (workspace.User, error) {
	if !p.Role.IsAdmin() && id != p.UserID {
		return workspace.User{}, relink.Errorf(relink.ENOTFOUND, "No such person.")
	}
	return s.Store.GetUser(ctx, p.WorkspaceID, id)
}

// UserPatch changes a person; absent fields stay as they are.
type UserPatch struct {
	Email *string         `json:"email"`
	Name  *string         `json:"name"`
	Role  *workspace.Role `json:"role"`
}

// UpdateUser changes a person's name, address or role.
func (s *Service) UpdateUser(ctx context.Context, p auth.Principal, id string, patch UserPatch) (UserView, error) {
	if err := allow(p, "change people", admins...); err != nil {
		return UserView{}, err
	}
	u, err := s.Store.GetUser(ctx, p.WorkspaceID, id)
	if err != nil {
		return UserView{}, err
	}
	if err := mayManage(p, u.Role); err != nil && u.Role != workspace.RolePrimaryAdmin {
		return UserView{}, err
	}
	if u.Role == workspace.RolePrimaryAdmin && p.Role != workspace.RolePrimaryAdmin {
		return UserView{}, relink.Errorf(relink.EFORBIDDEN, "Only the primary admin changes the primary admin.")
	}
	if patch.Role != nil && *patch.Role != u.Role {
		if u.Role == workspace.RolePrimaryAdmin {
			return UserView{}, relink.Invalid("role", "The primary admin stays primary admin.")
		}
		if err := mayManage(p, *patch.Role); err != nil {
			return UserView{}, err
		}
		u.Role = *patch.Role
	}
	if patch.Name != nil {
		name := strings.TrimSpace(*patch.Name)
		if len(name) > 200 {
			return UserView{}, relink.Invalid("name", "name is too long (200 characters at most).")
		}
		u.Name = name
	}
	if patch.Email != nil {
		email, err := workspace.NormalizeEmail(*patch.Email)
		if err != nil {
			return UserView{}, relink.Invalid("email", "%s", relink.ErrorMessage(err))
		}
		u.Email = email
	}
	u.UpdatedAt = s.Clock.Now()
	u, err = s.Store.UpdateUser(ctx, u)
	if relink.ErrorCode(err) == relink.ECONFLICT && patch.Email != nil {
		return UserView{}, &relink.Error{Code: relink.ECONFLICT, Field: "email", Message: "Someone in this workspace already has that email address, or the person changed meanwhile."}
	} else if err != nil {
		return UserView{}, err
	}
	return userView(u), nil
}

// PreferencesPatch changes a person's email choices; absent fields stay.
type PreferencesPatch struct {
	NotifyTrouble *bool `json:"notify_trouble"`
	Unsubscribed  *bool `json:"unsubscribed"`
}

// GetPreferences returns a person's email choices (admins: anyone's; others: their own).
func (s *Service) GetPreferences(ctx context.Context, p auth.Principal, id string) (PreferencesView, error) {
	u, err := s.personFor(ctx, p, id)
	if err != nil {
		return PreferencesView{}, err
	}
	return userView(u).Preferences, nil
}

// SetPreferences changes a person's email choices: their own, or anyone's for an admin.
func (s *Service) SetPreferences(ctx context.Context, p auth.Principal, id string, patch PreferencesPatch) (PreferencesView, error) {
	for attempt := 0; ; attempt++ {
		u, err := s.personFor(ctx, p, id)
		if err != nil {
			return PreferencesView{}, err
		}
		if patch.NotifyTrouble != nil {
			u.Preferences.NotifyTrouble = *patch.NotifyTrouble
		}
		if patch.Unsubscribed != nil {
			u.Preferences.Unsubscribed = *patch.Unsubscribed
		}
		u.UpdatedAt = s.Clock.Now()
		u, err = s.Store.UpdateUser(ctx, u)
		if err == nil {
			return userView(u).Preferences, nil
		}
		if relink.ErrorCode(err) != relink.ECONFLICT || attempt == 2 {
			return PreferencesView{}, err
		}
	}
}

// ConnectLinkRequest asks for a person's personal connect link: returned to copy, or
// emailed to them.
type ConnectLinkRequest struct {
	Send bool `json:"send"`
}

// ConnectLink is a fresh personal link; older ones stop working.
type ConnectLink struct {
	URL       string    `json:"url,omitempty"`
	ExpiresAt time.Time `json:"expires_at"`
	SentTo    string    `json:"sent_to,omitempty"`
}

// ConnectLink rotates a person's personal connect link and returns it or emails it.
func (s *Service) ConnectLink(ctx context.Context, p auth.Principal, id string, r ConnectLinkRequest) (ConnectLink, error) {
	if err := allow(p, "hand out connect links", admins...); err != nil {
		return ConnectLink{}, err
	}
	u, err := s.Store.GetUser(ctx, p.WorkspaceID, id)
	if err != nil {
		return ConnectLink{}, err
	}
	if u.Role == workspace.RoleService {
		return ConnectLink{}, relink.Errorf(relink.EILLEGAL, "Services have no owner pages.")
	}
	if r.Send {
		l, err := s.sendConnectLink(ctx, p, u)
		if err != nil {
			return ConnectLink{}, err
		}
		return ConnectLink{ExpiresAt: l.ExpiresAt.UTC(), SentTo: u.Email}, nil
	}
	if !mayActAs(p, u) {
		return ConnectLink{}, relink.Errorf(relink.EFORBIDDEN,
			"Only the primary admin may copy another admin's link (it signs in as them); send it to them instead.")
	}
	url, l, err := s.Links.Rotate(ctx, magiclink.Spec{WorkspaceID: u.WorkspaceID, UserID: u.ID, Email: u.Email, Purpose: magiclink.PurposeConnect})
	if err != nil {
		return ConnectLink{}, err
	}
	return ConnectLink{URL: url, ExpiresAt: l.ExpiresAt.UTC()}, nil
}

// mayActAs reports whether p may hold u's personal link, which signs in as u on the
// owner pages: their own, an owner's (admins manage owners' accounts), or anyone's
// for the primary admin. An admin never gets another admin's.
func mayActAs(p auth.Principal, u workspace.User) bool {
	return u.ID == p.UserID || u.Role == workspace.RoleOwner || p.Role == workspace.RolePrimaryAdmin
}

func (s *Service) sendConnectLink(ctx context.Context, p auth.Principal, u workspace.User) (magiclink.Link, error) {
	url, l, err := s.Links.Rotate(ctx, magiclink.Spec{WorkspaceID: u.WorkspaceID, UserID: u.ID, Email: u.Email, Purpose: magiclink.PurposeConnect})
	if err != nil {
		return l, err
	}
	m, err := mail.Compose("link", mail.LinkLetter{Name: u.Name, Workspace: s.workspaceName(ctx, u.WorkspaceID), URL: url,
		ExpiresAt: l.ExpiresAt, SentBy: nameOr(p.Name, p.UserID)}, []string{u.Email}, nil)
	if err != nil {
		return l, err
	}
	if _, err := s.Mail.Send(ctx, m); err != nil {
		return l, relink.Wrap(err, relink.EUNAVAILABLE, "The link could not be emailed just now. Try again in a minute.")
	}
	return l, nil
}
