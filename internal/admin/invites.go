package admin

import (
	"context"
	"strings"

	"github.com/relinkhq/relink/internal/auth"
	"github.com/relinkhq/relink/internal/magiclink"
	"github.com/relinkhq/relink/internal/mail"
	"github.com/relinkhq/relink/internal/relink"
	"github.com/relinkhq/relink/internal/workspace"
)

// maxInvites bounds one invite request.
const maxInvites = 50

// InviteRequest invites people to connect accounts on some channels.
type InviteRequest struct {
	Emails   []string `json:"emails"`
	Channels []string `json:"channels"`
	Message  string   `json:"message"`
}

// InviteResult is what happened for one address.
type InviteResult struct {
	Email     string    `json:"email"`
	UserID    string    `json:"user_id,omitempty"`
	Created   bool      `json:"created"`
	Status    string    `json:"status"` // "sent" or "failed"
	Error     string    `json:"error,omitempty"`
	ExpiresAt *timeJSON `json:"expires_at,omitempty"`
}

// Invites is the outcome of an invite request.
type Invites struct {
	Invites []InviteResult `json:"invites"`
}

// Invite emails each address an invite link; a new address becomes an owner.
func (s *Service) Invite(ctx context.Context, p auth.Principal, in InviteRequest) (Invites, error) {
	if err := allow(p, "invite people", admins...); err != nil {
		return Invites{}, err
	}
	if len(in.Emails) == 0 || len(in.Emails) > maxInvites {
		return Invites{}, relink.Invalid("emails", "emails lists 1 to %d addresses.", maxInvites)
	}
	var emails []string
	for _, e := range in.Emails {
		n, err := workspace.NormalizeEmail(e)
		if err != nil {
			return Invites{}, relink.Invalid("emails", "%s", relink.ErrorMessage(err))
		}
		if !contains(emails, n) {
			emails = append(emails, n)
		}
	}
	channels := dedupe(in.Channels)
	for _, c := range channels {
		if _, err := s.Registry.Get(c); err != nil {
			return Invites{}, relink.Invalid("channels", "Unknown channel %q.", c)
		}
	}
	if len(in.Message) > 1000 {
		return Invites{}, relink.Invalid("message", "message is too long (1000 characters at most).")
	}
	wsName := s.workspaceName(ctx, p.WorkspaceID)
	names := make([]string, len(channels))
	for i, c := range channels {
		names[i] = s.channelName(c)
	}
	out := Invites{Invites: []InviteResult{}}
	for _, email := range emails {
		r := InviteResult{Email: email, Status: "failed"}
		u, created, err := s.ownerFor(ctx, p, email)
		if err == nil {
			r.UserID, r.Created = u.ID, created
			var url string
			var l magiclink.Link
			url, l, err = s.Links.Issue(ctx, magiclink.Spec{WorkspaceID: p.WorkspaceID, UserID: u.ID, Email: email,
				Purpose: magiclink.PurposeInvite, Channels: channels, Message: strings.TrimSpace(in.Message)})
			if err == nil {
				var m mail.Message
				m, err = mail.Compose("invite", mail.InviteLetter{Name: u.Name, Workspace: wsName, InvitedBy: nameOr(p.Name, p.UserID),
					Message: strings.TrimSpace(in.Message), Channels: names, URL: url, ExpiresAt: l.ExpiresAt}, []string{email}, nil)
				if err == nil {
					_, err = s.Mail.Send(ctx, m)
				}
				if err == nil {
					r.Status, r.ExpiresAt = "sent", &timeJSON{l.ExpiresAt.UTC()}
				}
			}
		}
		if err != nil {
			r.Error = relink.ErrorMessage(err)
			s.log().ErrorContext(ctx, "invite", "workspace", p.WorkspaceID, "user", r.UserID, "err", err)
		}
		out.Invites = append(out.Invites, r)
	}
	return out, nil
}

// ownerFor finds the person with this address, or adds them as an owner.
func (s *Service) ownerFor(ctx context.Context, p auth.Principal, email string) (workspace.User, bool, error) {
	u, err := s.Store.GetUserByEmail(ctx, p.WorkspaceID, email)
	if err == nil {
		return u, false, nil
	}
	if relink.ErrorCode(err) != relink.ENOTFOUND {
		return u, false, err
	}
	now := s.Clock.Now()
	u, err = s.Store.CreateUser(ctx, workspace.User{WorkspaceID: p.WorkspaceID, ID: s.IDs.New(), Email: email,
		Role: workspace.RoleOwner, CreatedAt: now, UpdatedAt: now})
	if relink.ErrorCode(err) == relink.ECONFLICT { // invited twice at once: the other made them
		u, err = s.Store.GetUserByEmail(ctx, p.WorkspaceID, email)
		return u, false, err
	}
	return u, err == nil, err
}
