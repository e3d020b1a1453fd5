package admin

import (
	"context"
	"time"

	"github.com/relinkhq/relink/internal/account"
	"github.com/relinkhq/relink/internal/auth"
	"github.com/relinkhq/relink/internal/digest"
	"github.com/relinkhq/relink/internal/magiclink"
	"github.com/relinkhq/relink/internal/mail"
	"github.com/relinkhq/relink/internal/relink"
)

// carryOut performs what a change asks for beyond the store. The change has landed;
// a failure here is logged (once, here) and never undoes it.
func (s *Service) carryOut(ctx context.Context, p auth.Principal, c account.Change) {
	for _, e := range c.Effects {
		if e != account.EffectNotifySubscribers {
			continue // reminders read the account's state and owner at their next run
		}
		if n, err := s.notifySubscribers(ctx, p, c); err != nil {
			s.log().ErrorContext(ctx, "notify group subscribers", "workspace", p.WorkspaceID, "account", c.After.ID, "notified", n, "err", err)
		}
	}
}

// notifySubscribers emails the subscribers of every group holding the account.
func (s *Service) notifySubscribers(ctx context.Context, p auth.Principal, c account.Change) (int, error) {
	groups, err := s.Store.ListGroups(ctx, p.WorkspaceID)
	if err != nil {
		return 0, err
	}
	seen := map[string]bool{p.UserID: true} // the person who did it knows
	var first error
	sent := 0
	wsName := s.workspaceName(ctx, p.WorkspaceID)
	for _, g := range groups {
		if !g.Contains(c.After.ID) {
			continue
		}
		for _, id := range g.Subscribers {
			if seen[id] {
				continue
			}
			seen[id] = true
			u, err := s.Store.GetUser(ctx, p.WorkspaceID, id)
			if err != nil || u.Preferences.Unsubscribed {
				continue
			}
			m, err := mail.Compose("deactivated", mail.DeactivatedLetter{Name: u.Name, Workspace: wsName, Account: c.After.DisplayName,
				Channel: s.channelName(c.After.Channel), By: nameOr(p.Name, p.UserID), Note: c.Event.Note, At: c.Event.At,
				Deleted: c.After.State == account.StateDeleted}, []string{u.Email}, nil)
			if err == nil {
				_, err = s.Mail.Send(ctx, m)
			}
			if err != nil && first == nil {
				first = err
			}
			if err == nil {
				sent++
			}
		}
	}
	return sent, first
}

func (s *Service) workspaceName(ctx context.Context, id string) string {
	if w, err := s.Store.GetWorkspace(ctx, id); err == nil {
		return w.Name
	}
	return id
}

func (s *Service) channelName(id string) string {
	if ch, err := s.Registry.Get(id); err == nil {
		return ch.Name
	}
	return id
}

func nameOr(name, fallback string) string {
	if name != "" {
		return name
	}
	return fallback
}

// remindWindow: an owner is reminded about one account at most once in it.
const remindWindow = time.Hour

// RemindResult says who was reminded.
type RemindResult struct {
	SentTo string `json:"sent_to"`
}

// Remind emails the owner one reminder now about an account that needs them, with a
// personal reconnect link; at most once an hour per account, whoever asks.
func (s *Service) Remind(ctx context.Context, p auth.Principal, id string) (RemindResult, error) {
	if err := allow(p, "remind owners", admins...); err != nil {
		return RemindResult{}, err
	}
	a, err := s.visible(ctx, p, id)
	if err != nil {
		return RemindResult{}, err
	}
	ws, err := s.Store.GetWorkspace(ctx, p.WorkspaceID)
	if err != nil {
		return RemindResult{}, err
	}
	now := s.Clock.Now()
	kind, ok := digest.KindNow(a, now, ws.Settings.WarningWindow)
	if !ok {
		return RemindResult{}, relink.Errorf(relink.EILLEGAL, "%q is connected and not expiring: there is nothing to remind its owner of.", a.DisplayName)
	}
	allowed, err := s.Store.Allow(ctx, "remind#"+a.WorkspaceID+"#"+a.ID, 1, remindWindow, now)
	if err != nil {
		return RemindResult{}, err
	}
	if !allowed {
		return RemindResult{}, relink.Errorf(relink.ERATELIMIT, "The owner of %q was reminded less than an hour ago.", a.DisplayName)
	}
	owner, err := s.Store.GetUser(ctx, a.WorkspaceID, a.OwnerID)
	if err != nil {
		return RemindResult{}, err
	}
	url, link, err := s.Links.Issue(ctx, magiclink.Spec{WorkspaceID: a.WorkspaceID, UserID: owner.ID, Email: owner.Email,
		Purpose: magiclink.PurposeReconnect})
	if err != nil {
		return RemindResult{}, err
	}
	item := digest.Item(s.Registry, a, kind, nameOr(owner.Name, owner.Email))
	m, err := mail.Compose("digest", mail.DigestLetter{Name: owner.Name, Workspace: ws.Name, Items: []mail.DigestItem{item},
		URL: url, LinkExpiresAt: link.ExpiresAt, FromAdmin: nameOr(p.Name, p.UserID)}, []string{owner.Email}, nil)
	if err != nil {
		return RemindResult{}, err
	}
	if _, err := s.Mail.Send(ctx, m); err != nil {
		return RemindResult{}, relink.Wrap(err, relink.EUNAVAILABLE, "The reminder could not be emailed just now. Try again in a minute.")
	}
	return RemindResult{SentTo: owner.Email}, nil
}
