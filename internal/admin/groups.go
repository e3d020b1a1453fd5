package admin

import (
	"context"
	"slices"
	"strings"

	"github.com/relinkhq/relink/internal/auth"
	"github.com/relinkhq/relink/internal/relink"
	"github.com/relinkhq/relink/internal/workspace"
)

// GroupInput creates a group or, as a patch, changes one (nil fields stay).
type GroupInput struct {
	Name        *string   `json:"name"`
	Subscribers *[]string `json:"subscribers"`
	AccountIDs  *[]string `json:"account_ids"`
}

// AccountIDs adds accounts to a group.
type AccountIDs struct {
	AccountIDs []string `json:"account_ids"`
}

// checkMembers verifies that subscribers are people and accounts exist in the workspace.
func (s *Service) checkMembers(ctx context.Context, ws string, subscribers, accounts []string) error {
	if len(subscribers) > workspace.MaxGroupMembers {
		return relink.Invalid("subscribers", "A group has at most %d subscribers.", workspace.MaxGroupMembers)
	}
	if len(accounts) > workspace.MaxGroupMembers {
		return relink.Invalid("account_ids", "A group holds at most %d accounts.", workspace.MaxGroupMembers)
	}
	for _, id := range subscribers {
		u, err := s.Store.GetUser(ctx, ws, id)
		if relink.ErrorCode(err) == relink.ENOTFOUND {
			return relink.Invalid("subscribers", "No such person %q in this workspace.", id)
		} else if err != nil {
			return err
		}
		if u.Role == workspace.RoleService {
			return relink.Invalid("subscribers", "%q is a service; subscribers are people.", id)
		}
	}
	for _, id := range accounts {
		if _, err := s.Store.GetAccount(ctx, ws, id); relink.ErrorCode(err) == relink.ENOTFOUND {
			return relink.Invalid("account_ids", "No such account %q in this workspace.", id)
		} else if err != nil {
			return err
		}
	}
	return nil
}

func dedupe(ids []string) []string {
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		if id = strings.TrimSpace(id); id != "" && !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}

// CreateGroup makes an account group.
func (s *Service) CreateGroup(ctx context.Context, p auth.Principal, in GroupInput) (GroupView, error) {
	if err := allow(p, "manage groups", admins...); err != nil {
		return GroupView{}, err
	}
	if in.Name == nil || strings.TrimSpace(*in.Name) == "" {
		return GroupView{}, relink.Invalid("name", "name is required.")
	}
	g := workspace.Group{WorkspaceID: p.WorkspaceID, ID: s.IDs.New(), Name: strings.TrimSpace(*in.Name)}
	if in.Subscribers != nil {
		g.Subscribers = dedupe(*in.Subscribers)
	}
	if in.AccountIDs != nil {
		g.AccountIDs = dedupe(*in.AccountIDs)
	}
	if err := s.checkMembers(ctx, p.WorkspaceID, g.Subscribers, g.AccountIDs); err != nil {
		return GroupView{}, err
	}
	if len(g.Name) > 200 {
		return GroupView{}, relink.Invalid("name", "name is too long (200 characters at most).")
	}
	g.CreatedAt, g.UpdatedAt = s.Clock.Now(), s.Clock.Now()
	g, err := s.Store.CreateGroup(ctx, g)
	if err != nil {
		return GroupView{}, err
	}
	return groupView(g), nil
}

// ListGroups returns every group (owners and services do not manage groups).
func (s *Service) ListGroups(ctx context.Context, p auth.Principal) ([]GroupView, error) {
	if err := allow(p, "see groups", admins...); err != nil {
		return nil, err
	}
	groups, err := s.Store.ListGroups(ctx, p.WorkspaceID)
	if err != nil {
		return nil, err
	}
	out := make([]GroupView, 0, len(groups))
	for _, g := range groups {
		out = append(out, groupView(g))
	}
	return out, nil
}

// GetGroup returns one group.
func (s *Service) GetGroup(ctx context.Context, p auth.Principal, id string) (GroupView, error) {
	if err := allow(p, "see groups", admins...); err != nil {
		return GroupView{}, err
	}
	g, err := s.Store.GetGroup(ctx, p.WorkspaceID, id)
	if err != nil {
		return GroupView{}, err
	}
	return groupView(g), nil
}

// updateGroup applies fn to the group as read, retrying on a concurrent change.
func (s *Service) updateGroup(ctx context.Context, p auth.Principal, id string, fn func(*workspace.Group) error) (GroupView, error) {
	if err := allow(p, "manage groups", admins...); err != nil {
		return GroupView{}, err
	}
	for attempt := 0; ; attempt++ {
		g, err := s.Store.GetGroup(ctx, p.WorkspaceID, id)
		if err != nil {
			return GroupView{}, err
		}
		if err := fn(&g); err != nil {
			return GroupView{}, err
		}
		g.UpdatedAt = s.Clock.Now()
		g, err = s.Store.UpdateGroup(ctx, g)
		if err == nil {
			return groupView(g), nil
		}
		if relink.ErrorCode(err) != relink.ECONFLICT || attempt == 2 {
			return GroupView{}, err
		}
	}
}

// UpdateGroup renames a group or replaces its subscribers or accounts.
func (s *Service) UpdateGroup(ctx context.Context, p auth.Principal, id string, in GroupInput) (GroupView, error) {
	return s.updateGroup(ctx, p, id, func(g *workspace.Group) error {
		if in.Name != nil {
			name := strings.TrimSpace(*in.Name)
			if name == "" || len(name) > 200 {
				return relink.Invalid("name", "name must be 1 to 200 characters.")
			}
			g.Name = name
		}
		var subs, accts []string
		if in.Subscribers != nil {
			subs = dedupe(*in.Subscribers)
		}
		if in.AccountIDs != nil {
			accts = dedupe(*in.AccountIDs)
		}
		if err := s.checkMembers(ctx, p.WorkspaceID, subs, accts); err != nil {
			return err
		}
		if in.Subscribers != nil {
			g.Subscribers = subs
		}
		if in.AccountIDs != nil {
			g.AccountIDs = accts
		}
		return nil
	})
}

// AddAccounts adds accounts to a group (already there is fine).
func (s *Service) AddAccounts(ctx context.Context, p auth.Principal, id string, in AccountIDs) (GroupView, error) {
	ids := dedupe(in.AccountIDs)
	if len(ids) == 0 {
		return GroupView{}, relink.Invalid("account_ids", "account_ids lists the accounts to add.")
	}
	return s.updateGroup(ctx, p, id, func(g *workspace.Group) error {
		if err := s.checkMembers(ctx, p.WorkspaceID, nil, ids); err != nil {
			return err
		}
		g.AccountIDs = dedupe(append(g.AccountIDs, ids...))
		if len(g.AccountIDs) > workspace.MaxGroupMembers {
			return relink.Invalid("account_ids", "A group holds at most %d accounts.", workspace.MaxGroupMembers)
		}
		return nil
	})
}

// RemoveAccount takes an account out of a group.
func (s *Service) RemoveAccount(ctx context.Context, p auth.Principal, id, accountID string) (GroupView, error) {
	return s.updateGroup(ctx, p, id, func(g *workspace.Group) error {
		if !g.Contains(accountID) {
			return relink.Errorf(relink.ENOTFOUND, "The account is not in this group.")
		}
		g.AccountIDs = slices.DeleteFunc(g.AccountIDs, func(a string) bool { return a == accountID })
		return nil
	})
}

// DeleteGroup removes a group (its accounts stay).
func (s *Service) DeleteGroup(ctx context.Context, p auth.Principal, id string) error {
	if err := allow(p, "manage groups", admins...); err != nil {
		return err
	}
	g, err := s.Store.GetGroup(ctx, p.WorkspaceID, id)
	if err != nil {
		return err
	}
	return s.Store.DeleteGroup(ctx, p.WorkspaceID, id, g.Version)
}
