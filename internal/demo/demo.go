// Package demo seeds a demo workspace for the local server: people, a dozen accounts
// across channels and every state, and an account group. Every account gets there
// through the real transition function, so its audit trail is what production would write.
package demo

import (
	"context"
	"fmt"
	"time"

	"github.com/relinkhq/relink/internal/account"
	"github.com/relinkhq/relink/internal/ident"
	"github.com/relinkhq/relink/internal/relink"
	"github.com/relinkhq/relink/internal/store"
	"github.com/relinkhq/relink/internal/workspace"
)

// WorkspaceID is the demo workspace's ID.
const WorkspaceID = "demo"

// User IDs of the demo's people.
const (
	PrimaryAdminID = "u-primary"
	AdminID        = "u-admin"
	OliviaID       = "u-olivia"
	OmarID         = "u-omar"
)

const day = 24 * time.Hour

// Seed creates the demo workspace unless it exists. It reports whether it seeded.
func Seed(ctx context.Context, s store.Store, now time.Time, ids ident.Generator) (bool, error) {
	if _, err := s.GetWorkspace(ctx, WorkspaceID); err == nil {
		return false, nil
	} else if relink.ErrorCode(err) != relink.ENOTFOUND {
		return false, fmt.Errorf("look up demo workspace: %w", err)
	}
	sd := seeder{ctx: ctx, s: s, now: now, ids: ids}
	if err := sd.people(); err != nil {
		return false, err
	}
	if err := sd.accounts(); err != nil {
		return false, err
	}
	// The workspace goes last: its presence marks a complete seed, so a seed cut short
	// by a crash is redone (on a fresh data file) rather than left half-made.
	settings := workspace.DefaultSettings()
	settings.TimeZone = "Europe/Amsterdam"
	_, err := s.CreateWorkspace(ctx, workspace.Workspace{ID: WorkspaceID, Name: "Acme Brands (demo)", Settings: settings,
		CreatedAt: now, UpdatedAt: now})
	if err != nil {
		return false, fmt.Errorf("create demo workspace: %w", err)
	}
	return true, nil
}

type seeder struct {
	ctx context.Context
	s   store.Store
	now time.Time
	ids ident.Generator
}

var primary = account.Actor{ID: PrimaryAdminID, Role: workspace.RolePrimaryAdmin}

func (sd seeder) people() error {
	people := []workspace.User{
		{ID: PrimaryAdminID, Email: "pat.primary@acme.example", Name: "Pat Primary", Role: workspace.RolePrimaryAdmin,
			Preferences: workspace.Preferences{NotifyTrouble: true}},
		{ID: AdminID, Email: "ada.admin@acme.example", Name: "Ada Admin", Role: workspace.RoleAdmin,
			Preferences: workspace.Preferences{NotifyTrouble: true}},
		{ID: OliviaID, Email: "olivia.owner@acme.example", Name: "Olivia Owner", Role: workspace.RoleOwner},
		{ID: OmarID, Email: "omar.owner@acme.example", Name: "Omar Owner", Role: workspace.RoleOwner},
	}
	for _, u := range people {
		u.WorkspaceID, u.CreatedAt, u.UpdatedAt = WorkspaceID, sd.now, sd.now
		if _, err := sd.s.CreateUser(sd.ctx, u); err != nil && relink.ErrorCode(err) != relink.ECONFLICT {
			return fmt.Errorf("create demo user %s: %w", u.ID, err)
		}
	}
	return nil
}

// step is a transition applied after creation; at is relative to now.
type step struct {
	cmd account.Command
	at  time.Duration
}

type demoAccount struct {
	id, channel, externalID, name, owner, parent string
	kind                                         account.Kind
	grant                                        *account.Grant
	steps                                        []step
}

func missing(name, kind string, breaks ...account.Capability) account.MissingPermission {
	return account.MissingPermission{Name: name, Kind: kind, Breaks: breaks}
}

func (sd seeder) accounts() error {
	now := sd.now
	fbScopes := []string{"pages_show_list", "pages_manage_posts", "pages_read_engagement", "pages_manage_engagement", "read_insights"}
	fbTasks := []string{"MANAGE", "CREATE_CONTENT", "MODERATE", "ANALYZE", "ADVERTISE"}
	sys := account.SystemActor("expiry-check")
	list := []demoAccount{
		{id: "acct-fb-coffee", channel: "facebook", externalID: "101010", name: "Acme Coffee", owner: OliviaID, parent: "fb-olivia",
			kind: account.KindCompany, grant: &account.Grant{Scopes: fbScopes, Tasks: fbTasks}},
		{id: "acct-fb-bakery", channel: "facebook", externalID: "202020", name: "Acme Bakery", owner: OliviaID, parent: "fb-olivia",
			kind: account.KindCompany, grant: &account.Grant{Scopes: fbScopes, Tasks: fbTasks},
			steps: []step{{at: -6 * time.Hour, cmd: account.Command{Action: account.ActProbe, Actor: sys, Grant: &account.Grant{
				Scopes: fbScopes[:3], Tasks: []string{"ANALYZE"},
				Missing: []account.MissingPermission{
					missing("pages_manage_engagement", "scope", account.CapEngage),
					missing("CREATE_CONTENT", "task", account.CapPublish),
					missing("MODERATE", "task", account.CapEngage),
				}}}}}},
		{id: "acct-ig-coffee", channel: "instagram", externalID: "1784000001", name: "@acmecoffee", owner: OliviaID, parent: "fb-olivia",
			kind: account.KindCompany, grant: &account.Grant{Scopes: []string{"instagram_basic", "instagram_content_publish", "pages_show_list"}},
			steps: []step{{at: -3 * day, cmd: account.Command{Action: account.ActDisconnect, Actor: sys, Reason: account.ReasonPasswordChanged,
				ChannelError: &account.ChannelError{HTTPStatus: 400, Code: "190", Subcode: "460",
					Message: "Error validating access token: The session has been invalidated because the user changed their password."}}}}},
		{id: "acct-li-acme", channel: "linkedin", externalID: "urn:li:organization:5550001", name: "Acme Brands", owner: OmarID,
			parent: "li-omar", kind: account.KindCompany, grant: &account.Grant{Scopes: []string{"rw_organization_admin", "w_organization_social"},
				Refreshable: true, TokenExpiresAt: now.Add(50 * day), RefreshExpiresAt: now.Add(12 * day)}}, // expiring: refresh ends in 12 days
		{id: "acct-yt-acme", channel: "youtube", externalID: "UCacme0000000000000001", name: "Acme TV", owner: OmarID,
			kind: account.KindCompany, grant: &account.Grant{Scopes: []string{"https://www.googleapis.com/auth/youtube"},
				Refreshable: true, TokenExpiresAt: now.Add(time.Hour)}},
		{id: "acct-x-acme", channel: "x", externalID: "1400000000000000001", name: "@acme", owner: OmarID, kind: account.KindCompany,
			grant: &account.Grant{Scopes: []string{"tweet.read", "tweet.write", "users.read", "offline.access"}, Refreshable: true,
				TokenExpiresAt: now.Add(2 * time.Hour)},
			steps: []step{{at: -26 * time.Hour, cmd: account.Command{Action: account.ActDisconnect, Actor: sys, Reason: account.ReasonRevoked,
				ChannelError: &account.ChannelError{HTTPStatus: 400, Code: "invalid_request", Message: "Value passed for the token was invalid."}}}}},
		{id: "acct-tt-acme", channel: "tiktok", externalID: "tt-open-id-0001", name: "acme.tok", owner: OliviaID, kind: account.KindCompany,
			grant: &account.Grant{Scopes: []string{"user.info.basic", "video.publish"}, Refreshable: true,
				TokenExpiresAt: now.Add(2 * time.Hour), RefreshExpiresAt: now.Add(170 * day)}},
		{id: "acct-pin-acme", channel: "pinterest", externalID: "pin-acme", name: "Acme on Pinterest", owner: OliviaID, kind: account.KindCompany,
			grant: &account.Grant{Scopes: []string{"boards:read", "pins:write"}, Refreshable: true, TokenExpiresAt: now.Add(30 * day),
				RefreshExpiresAt: now.Add(60 * day)},
			steps: []step{{at: -2 * day, cmd: account.Command{Action: account.ActDeactivate, Note: "Brand paused until spring."}}}},
		{id: "acct-th-acme", channel: "threads", externalID: "th-acme", name: "@acme on Threads", owner: OmarID, kind: account.KindCompany,
			grant: &account.Grant{Scopes: []string{"threads_basic", "threads_content_publish"}, TokenExpiresAt: now.Add(5 * day)}}, // expiring, not refreshable
		{id: "acct-gbp-store", channel: "google_business", externalID: "locations/8800001", name: "Acme Store Amsterdam",
			owner: OmarID, kind: account.KindCompany}, // pending: invited, never authorised
		{id: "acct-li-olivia", channel: "linkedin", externalID: "urn:li:person:olivia", name: "Olivia (personal)", owner: OliviaID,
			kind: account.KindPersonal, grant: &account.Grant{Scopes: []string{"w_member_social"}, TokenExpiresAt: now.Add(-2 * day)},
			steps: []step{{at: -2 * day, cmd: account.Command{Action: account.ActDisconnect, Actor: sys, Reason: account.ReasonExpired}}}},
		{id: "acct-ig-old", channel: "instagram_login", externalID: "ig-old-brand", name: "@acme_old", owner: OliviaID, kind: account.KindCompany,
			grant: &account.Grant{Scopes: []string{"instagram_business_basic"}},
			steps: []step{{at: -5 * day, cmd: account.Command{Action: account.ActDelete, Confirmation: "@acme_old", Note: "Brand retired."}}}},
		{id: "acct-sandbox", channel: "sandbox", externalID: "sandbox-1", name: "Sandbox Brand", owner: OliviaID, parent: "sandbox-olivia", kind: account.KindCompany,
			grant: &account.Grant{Scopes: []string{"publish", "engage", "report"}, Refreshable: true, TokenExpiresAt: now.Add(time.Hour),
				RefreshExpiresAt: now.Add(90 * day)}},
	}
	for _, d := range list {
		if err := sd.account(d); err != nil {
			return err
		}
	}
	_, err := sd.s.CreateGroup(sd.ctx, workspace.Group{WorkspaceID: WorkspaceID, ID: "grp-coffee", Name: "Acme Coffee brands",
		AccountIDs: []string{"acct-fb-coffee", "acct-ig-coffee", "acct-fb-bakery"}, Subscribers: []string{AdminID},
		CreatedAt: sd.now, UpdatedAt: sd.now})
	if err != nil && relink.ErrorCode(err) != relink.ECONFLICT {
		return fmt.Errorf("create demo group: %w", err)
	}
	return nil
}

func (sd seeder) account(d demoAccount) error {
	created := sd.now.Add(-30 * day)
	c, err := account.New(account.Spec{WorkspaceID: WorkspaceID, ID: d.id, Channel: d.channel, ExternalID: d.externalID,
		DisplayName: d.name, OwnerID: d.owner, Kind: d.kind, ParentProfileID: d.parent, Grant: d.grant},
		account.Command{Actor: primary, At: created, EventID: sd.ids.New()})
	if err != nil {
		return fmt.Errorf("demo account %s: %w", d.id, err)
	}
	if err := sd.s.CreateAccount(sd.ctx, c); err != nil {
		if relink.ErrorCode(err) == relink.ECONFLICT {
			return nil // already there from an interrupted seed
		}
		return fmt.Errorf("store demo account %s: %w", d.id, err)
	}
	a := c.After
	steps := d.steps
	if d.grant != nil && len(steps) == 0 || len(steps) > 0 && steps[len(steps)-1].cmd.Action == account.ActProbe {
		// A connected account was last checked a couple of hours ago, as the hourly
		// expiry check would have done; the probe is quiet, so it adds no audit entry.
		steps = append(steps, step{at: -2 * time.Hour, cmd: account.Command{Action: account.ActProbe, Actor: account.SystemActor("expiry-check")}})
	}
	for _, st := range steps {
		cmd := st.cmd
		if cmd.Actor.ID == "" {
			cmd.Actor = primary
		}
		cmd.At, cmd.EventID = sd.now.Add(st.at), sd.ids.New()
		c, err := account.Transition(a, cmd)
		if err != nil {
			return fmt.Errorf("demo account %s %s: %w", d.id, cmd.Action, err)
		}
		if err := sd.s.Apply(sd.ctx, c); err != nil {
			return fmt.Errorf("store demo account %s %s: %w", d.id, cmd.Action, err)
		}
		a = c.After
	}
	return nil
}
