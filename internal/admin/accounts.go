package admin

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/relinkhq/relink/internal/account"
	"github.com/relinkhq/relink/internal/auth"
	"github.com/relinkhq/relink/internal/channel"
	"github.com/relinkhq/relink/internal/connect"
	"github.com/relinkhq/relink/internal/magiclink"
	"github.com/relinkhq/relink/internal/relink"
	"github.com/relinkhq/relink/internal/store"
	"github.com/relinkhq/relink/internal/workspace"
)

// AccountQuery filters and pages the account list.
type AccountQuery struct {
	State              string
	Channel            string
	OwnerID            string
	GroupID            string
	ExpiringWithinDays int
	Limit              int
	Cursor             string
}

// AccountList is one page of accounts.
type AccountList struct {
	Accounts []AccountView `json:"accounts"`
	Next     string        `json:"next,omitempty"`
}

// maxGroupScan bounds the store pages one group-filtered page may read.
const maxGroupScan = 20

// ListAccounts pages through the workspace's accounts. Owners see their own only.
func (s *Service) ListAccounts(ctx context.Context, p auth.Principal, q AccountQuery) (AccountList, error) {
	if err := allow(p, "list accounts", readers...); err != nil {
		return AccountList{}, err
	}
	f := account.Filter{State: account.State(q.State), Channel: q.Channel, OwnerID: q.OwnerID}
	if err := f.Validate(); err != nil {
		return AccountList{}, relink.Invalid("state", "%s", relink.ErrorMessage(err))
	}
	if q.Channel != "" {
		if _, err := s.Registry.Get(q.Channel); err != nil {
			return AccountList{}, relink.Invalid("channel", "Unknown channel %q.", q.Channel)
		}
	}
	if p.Role == workspace.RoleOwner {
		if q.OwnerID != "" && q.OwnerID != p.UserID {
			return AccountList{}, relink.Errorf(relink.EFORBIDDEN, "As an owner you see only your own accounts.")
		}
		f.OwnerID = p.UserID
	}
	now := s.Clock.Now()
	if q.ExpiringWithinDays != 0 {
		if q.ExpiringWithinDays < 1 || q.ExpiringWithinDays > 365 {
			return AccountList{}, relink.Invalid("expiring_within_days", "expiring_within_days must be between 1 and 365.")
		}
		f.ExpiringBefore = now.Add(time.Duration(q.ExpiringWithinDays) * 24 * time.Hour)
	}
	if q.Limit < 0 || q.Limit > store.MaxLimit {
		return AccountList{}, relink.Invalid("limit", "limit must be between 1 and %d.", store.MaxLimit)
	}
	limit := q.Limit
	if limit == 0 {
		limit = store.DefaultLimit
	}
	ws, err := s.Store.GetWorkspace(ctx, p.WorkspaceID)
	if err != nil {
		return AccountList{}, err
	}
	var member func(string) bool
	if q.GroupID != "" {
		g, err := s.Store.GetGroup(ctx, p.WorkspaceID, q.GroupID)
		if relink.ErrorCode(err) == relink.ENOTFOUND {
			return AccountList{}, relink.Invalid("group", "No such group %q.", q.GroupID)
		} else if err != nil {
			return AccountList{}, err
		}
		member = g.Contains
	}
	out := AccountList{Accounts: []AccountView{}}
	page := store.Page{Limit: limit, Cursor: q.Cursor}
	for scans := 0; ; scans++ {
		got, err := s.Store.ListAccounts(ctx, p.WorkspaceID, f, page)
		if relink.ErrorCode(err) == relink.EINVALID {
			return AccountList{}, relink.Invalid("cursor", "%s", relink.ErrorMessage(err))
		} else if err != nil {
			return AccountList{}, err
		}
		for _, a := range got.Accounts {
			if !f.ExpiringBefore.IsZero() && !a.Expiring(now, f.ExpiringBefore.Sub(now)) {
				continue // a hard expiry that passed already is not "expiring"
			}
			if member == nil || member(a.ID) {
				out.Accounts = append(out.Accounts, s.view(a, now, ws.Settings.WarningWindow))
			}
		}
		out.Next = got.Next
		// A group filter reads on until the page is full (or the listing ends), so
		// pages stay useful; the store cursor carries the position either way.
		if member == nil || got.Next == "" || len(out.Accounts) >= limit || scans >= maxGroupScan {
			return out, nil
		}
		page.Cursor = got.Next
	}
}

// visible reads an account the caller may see: owners only their own.
func (s *Service) visible(ctx context.Context, p auth.Principal, id string) (account.Account, error) {
	a, err := s.Store.GetAccount(ctx, p.WorkspaceID, id)
	if err != nil {
		return a, err
	}
	if p.Role == workspace.RoleOwner && a.OwnerID != p.UserID {
		return account.Account{}, relink.Errorf(relink.ENOTFOUND, "No such account.")
	}
	return a, nil
}

// GetAccount returns one account with its diagnostics, groups and next reminder.
func (s *Service) GetAccount(ctx context.Context, p auth.Principal, id string) (AccountDetail, error) {
	if err := allow(p, "see accounts", readers...); err != nil {
		return AccountDetail{}, err
	}
	a, err := s.visible(ctx, p, id)
	if err != nil {
		return AccountDetail{}, err
	}
	ws, err := s.Store.GetWorkspace(ctx, p.WorkspaceID)
	if err != nil {
		return AccountDetail{}, err
	}
	return s.detail(ctx, a, ws)
}

func (s *Service) detail(ctx context.Context, a account.Account, ws workspace.Workspace) (AccountDetail, error) {
	now := s.Clock.Now()
	d := AccountDetail{AccountView: s.view(a, now, ws.Settings.WarningWindow), Groups: []string{}}
	groups, err := s.Store.ListGroups(ctx, a.WorkspaceID)
	if err != nil {
		return AccountDetail{}, err
	}
	for _, g := range groups {
		if g.Contains(a.ID) {
			d.Groups = append(d.Groups, g.ID)
		}
	}
	d.NextReminder = nextReminder(a, ws.Settings, now)
	return d, nil
}

// Note is a person's free-text reason for a change, kept in the audit trail.
type Note struct {
	Note string `json:"note"`
}

// change applies one command built from the account as read, retrying on a concurrent
// change (read again, decide again) a few times.
func (s *Service) change(ctx context.Context, p auth.Principal, id string, build func(a account.Account) (account.Command, error)) (account.Change, error) {
	for attempt := 0; ; attempt++ {
		a, err := s.visible(ctx, p, id)
		if err != nil {
			return account.Change{}, err
		}
		cmd, err := build(a)
		if err != nil {
			return account.Change{}, err
		}
		cmd.Actor, cmd.At, cmd.EventID = actor(p), s.Clock.Now(), s.IDs.New()
		c, err := account.Transition(a, cmd)
		if err != nil {
			return account.Change{}, err
		}
		err = s.Store.Apply(ctx, c)
		if err == nil {
			s.carryOut(ctx, p, c)
			return c, nil
		}
		if relink.ErrorCode(err) != relink.ECONFLICT || attempt == 2 {
			return account.Change{}, err
		}
	}
}

// Deactivate switches an account off at once; its groups' subscribers hear of it.
func (s *Service) Deactivate(ctx context.Context, p auth.Principal, id string, n Note) (AccountDetail, error) {
	if err := allow(p, "deactivate accounts", admins...); err != nil {
		return AccountDetail{}, err
	}
	c, err := s.change(ctx, p, id, func(account.Account) (account.Command, error) {
		return account.Command{Action: account.ActDeactivate, Note: n.Note}, nil
	})
	if err != nil {
		return AccountDetail{}, err
	}
	return s.detailOf(ctx, c.After)
}

func (s *Service) detailOf(ctx context.Context, a account.Account) (AccountDetail, error) {
	ws, err := s.Store.GetWorkspace(ctx, a.WorkspaceID)
	if err != nil {
		return AccountDetail{}, err
	}
	return s.detail(ctx, a, ws)
}

// ReaddLinks are the two ways to reconnect an account: the channel's consent for
// whoever follows it now, and a magic link for the owner that lasts days.
type ReaddLinks struct {
	ConsentURL       string    `json:"consent_url"`
	ConsentExpiresAt time.Time `json:"consent_expires_at"`
	// The owner's personal link; absent when the caller may not act as the owner (an
	// admin's account, asked for by another admin): a reminder reaches them instead.
	ReconnectURL       string     `json:"reconnect_url,omitempty"`
	ReconnectExpiresAt *time.Time `json:"reconnect_expires_at,omitempty"`
}

// ReauthError refuses an activation whose token no longer works, with the links that
// re-add the account.
type ReauthError struct {
	Err   *relink.Error
	Readd ReaddLinks
}

func (e *ReauthError) Error() string { return e.Err.Error() }
func (e *ReauthError) Unwrap() error { return e.Err }

// Activate switches an account back on, only if its token still works (checked with
// the channel now); otherwise it must be re-added, and the answer carries the links.
func (s *Service) Activate(ctx context.Context, p auth.Principal, id string, n Note) (AccountDetail, error) {
	if err := allow(p, "activate accounts", admins...); err != nil {
		return AccountDetail{}, err
	}
	a, err := s.visible(ctx, p, id)
	if err != nil {
		return AccountDetail{}, err
	}
	if a.State != account.StateDeactivated {
		return AccountDetail{}, relink.Errorf(relink.EILLEGAL, "%q is not switched off.", a.DisplayName)
	}
	check, err := s.Checker.CheckToken(ctx, a)
	switch {
	case relink.ErrorCode(err) == relink.ENOTFOUND: // never connected, or tokens forgotten
		check = TokenCheck{Failure: channel.Classification{Reauth: true, Reason: account.ReasonInvalidToken}}
	case err != nil:
		return AccountDetail{}, err
	}
	if !check.Valid && check.Failure.Transient {
		return AccountDetail{}, relink.Errorf(relink.EUNAVAILABLE, "%s did not answer the token check. Try again in a minute.", a.Channel)
	}
	if !check.Valid {
		reason := check.Failure.Message
		if reason == "" {
			reason = channel.Message(check.Failure.Reason)
		}
		msg := fmt.Sprintf("%q cannot be switched back on: its token no longer works (%s)", a.DisplayName, strings.TrimSuffix(reason, "."))
		links, err := s.readdLinks(ctx, p, a)
		if err != nil {
			// Still a refusal to activate; the links could not be made (the channel is
			// not set up, say), and the message says why.
			return AccountDetail{}, &ReauthError{Err: relink.Errorf(relink.EREAUTH, "%s. Re-add it once this is fixed: %s", msg, relink.ErrorMessage(err))}
		}
		return AccountDetail{}, &ReauthError{Readd: links, Err: relink.Errorf(relink.EREAUTH, "%s. Re-add it with the links given.", msg)}
	}
	c, err := s.change(ctx, p, id, func(cur account.Account) (account.Command, error) {
		if cur.Version != a.Version {
			return account.Command{}, relink.Errorf(relink.ECONFLICT, "%q changed while its token was checked. Try again.", a.DisplayName)
		}
		g := check.Grant
		return account.Command{Action: account.ActActivate, TokenValid: true, Grant: &g, Note: n.Note}, nil
	})
	if err != nil {
		return AccountDetail{}, err
	}
	return s.detailOf(ctx, c.After)
}

// Readd returns the links that reconnect an account through its channel's consent.
func (s *Service) Readd(ctx context.Context, p auth.Principal, id string) (ReaddLinks, error) {
	if err := allow(p, "re-add accounts", admins...); err != nil {
		return ReaddLinks{}, err
	}
	a, err := s.visible(ctx, p, id)
	if err != nil {
		return ReaddLinks{}, err
	}
	return s.readdLinks(ctx, p, a)
}

func (s *Service) readdLinks(ctx context.Context, p auth.Principal, a account.Account) (ReaddLinks, error) {
	if a.State == account.StateDeleted {
		return ReaddLinks{}, relink.Errorf(relink.EILLEGAL, "%q was deleted; restore it first.", a.DisplayName)
	}
	consent, err := s.Connect.Start(ctx, connect.Who{WorkspaceID: p.WorkspaceID, UserID: p.UserID, Role: p.Role}, a.Channel, a.ID)
	if err != nil {
		return ReaddLinks{}, err
	}
	owner, err := s.Store.GetUser(ctx, a.WorkspaceID, a.OwnerID)
	if err != nil {
		return ReaddLinks{}, fmt.Errorf("the account's owner: %w", err)
	}
	out := ReaddLinks{ConsentURL: consent, ConsentExpiresAt: s.Clock.Now().Add(10 * time.Minute).UTC()}
	if !mayActAs(p, owner) {
		return out, nil
	}
	url, link, err := s.Links.Issue(ctx, magiclink.Spec{WorkspaceID: a.WorkspaceID, UserID: owner.ID, Email: owner.Email,
		Purpose: magiclink.PurposeReconnect})
	if err != nil {
		return ReaddLinks{}, err
	}
	exp := link.ExpiresAt.UTC()
	out.ReconnectURL, out.ReconnectExpiresAt = url, &exp
	return out, nil
}

// Transfer moves an account to another owner.
type Transfer struct {
	OwnerID           string `json:"owner_id"`
	WithParentProfile bool   `json:"with_parent_profile"`
	Note              string `json:"note"`
}

// TransferResult lists every account that moved.
type TransferResult struct {
	Accounts []AccountView `json:"accounts"`
}

// Transfer moves an account (and, if asked, every account of the old owner under the
// same parent profile) to another person of the workspace; reminders follow.
func (s *Service) Transfer(ctx context.Context, p auth.Principal, id string, t Transfer) (TransferResult, error) {
	if err := allow(p, "transfer accounts", admins...); err != nil {
		return TransferResult{}, err
	}
	a, err := s.visible(ctx, p, id) // a foreign account is not found before anything else is said
	if err != nil {
		return TransferResult{}, err
	}
	if strings.TrimSpace(t.OwnerID) == "" {
		return TransferResult{}, relink.Invalid("owner_id", "owner_id is required: the person to transfer to.")
	}
	to, err := s.Store.GetUser(ctx, p.WorkspaceID, t.OwnerID)
	if relink.ErrorCode(err) == relink.ENOTFOUND {
		return TransferResult{}, relink.Invalid("owner_id", "No such person %q in this workspace.", t.OwnerID)
	} else if err != nil {
		return TransferResult{}, err
	}
	if to.Role == workspace.RoleService {
		return TransferResult{}, relink.Invalid("owner_id", "Accounts belong to people; %q is a service.", t.OwnerID)
	}
	ids := []string{a.ID}
	if t.WithParentProfile {
		if a.ParentProfileID == "" {
			return TransferResult{}, relink.Invalid("with_parent_profile", "%q has no parent profile to transfer with it.", a.DisplayName)
		}
		siblings, err := s.all(ctx, p.WorkspaceID, account.Filter{OwnerID: a.OwnerID, Channel: a.Channel})
		if err != nil {
			return TransferResult{}, err
		}
		for _, sib := range siblings {
			if sib.ID != a.ID && sib.ParentProfileID == a.ParentProfileID {
				ids = append(ids, sib.ID)
			}
		}
	}
	ws, err := s.Store.GetWorkspace(ctx, p.WorkspaceID)
	if err != nil {
		return TransferResult{}, err
	}
	out := TransferResult{Accounts: []AccountView{}}
	for _, aid := range ids {
		c, err := s.change(ctx, p, aid, func(account.Account) (account.Command, error) {
			return account.Command{Action: account.ActTransfer, NewOwnerID: to.ID, Note: t.Note}, nil
		})
		if err != nil {
			return out, err
		}
		out.Accounts = append(out.Accounts, s.view(c.After, s.Clock.Now(), ws.Settings.WarningWindow))
	}
	return out, nil
}

// Deletion confirms a delete by the account's name, typed.
type Deletion struct {
	Confirmation string `json:"confirmation"`
	Note         string `json:"note"`
}

// DeleteResult says what a delete kept and until when.
type DeleteResult struct {
	Account         AccountView `json:"account"`
	Kept            string      `json:"kept"`
	RestorableUntil time.Time   `json:"restorable_until"`
}

// Delete soft-deletes an account: only the primary admin, with its name typed.
func (s *Service) Delete(ctx context.Context, p auth.Principal, id string, d Deletion) (DeleteResult, error) {
	if err := allow(p, "delete accounts (only the primary admin can)", primaryOnly...); err != nil {
		return DeleteResult{}, err
	}
	if strings.TrimSpace(d.Confirmation) == "" {
		a, err := s.visible(ctx, p, id)
		if err != nil {
			return DeleteResult{}, err
		}
		return DeleteResult{}, relink.Invalid("confirmation", "To delete, type the account name exactly as shown: %q.", a.DisplayName)
	}
	c, err := s.change(ctx, p, id, func(account.Account) (account.Command, error) {
		return account.Command{Action: account.ActDelete, Confirmation: d.Confirmation, Note: d.Note}, nil
	})
	if relink.ErrorCode(err) == relink.EINVALID {
		return DeleteResult{}, relink.Invalid("confirmation", "%s", relink.ErrorMessage(err))
	} else if err != nil {
		return DeleteResult{}, err
	}
	ws, err := s.Store.GetWorkspace(ctx, p.WorkspaceID)
	if err != nil {
		return DeleteResult{}, err
	}
	return DeleteResult{Account: s.view(c.After, s.Clock.Now(), ws.Settings.WarningWindow), RestorableUntil: c.After.PurgeAt.UTC(),
		Kept: fmt.Sprintf("The account, its audit trail and its stored tokens are kept and can be restored until %s. "+
			"It is no longer checked and no reminders go out. Deleting is never needed to fix an expired link.",
			c.After.PurgeAt.UTC().Format("2 January 2006 15:04 MST"))}, nil
}

// Restore undoes a soft delete within the retention period.
func (s *Service) Restore(ctx context.Context, p auth.Principal, id string, n Note) (AccountDetail, error) {
	if err := allow(p, "restore accounts", admins...); err != nil {
		return AccountDetail{}, err
	}
	c, err := s.change(ctx, p, id, func(account.Account) (account.Command, error) {
		return account.Command{Action: account.ActRestore, Note: n.Note}, nil
	})
	if err != nil {
		return AccountDetail{}, err
	}
	return s.detailOf(ctx, c.After)
}

// EventList is one page of an account's audit trail.
type EventList struct {
	Events []EventView `json:"events"`
	Next   string      `json:"next,omitempty"`
}

// Events pages through an account's audit trail, oldest first.
func (s *Service) Events(ctx context.Context, p auth.Principal, id string, page store.Page) (EventList, error) {
	if err := allow(p, "see audit trails", readers...); err != nil {
		return EventList{}, err
	}
	if page.Limit < 0 || page.Limit > store.MaxLimit {
		return EventList{}, relink.Invalid("limit", "limit must be between 1 and %d.", store.MaxLimit)
	}
	if _, err := s.visible(ctx, p, id); err != nil {
		return EventList{}, err
	}
	got, err := s.Store.Events(ctx, p.WorkspaceID, id, page)
	if relink.ErrorCode(err) == relink.EINVALID {
		return EventList{}, relink.Invalid("cursor", "%s", relink.ErrorMessage(err))
	} else if err != nil {
		return EventList{}, err
	}
	out := EventList{Events: []EventView{}, Next: got.Next}
	for _, e := range got.Events {
		out.Events = append(out.Events, eventView(e))
	}
	return out, nil
}

// FailureReport is a failed use another system (the publisher) saw: the channel's
// answer as it came.
type FailureReport struct {
	HTTPStatus int             `json:"http_status"`
	Body       json.RawMessage `json:"body"`
	Note       string          `json:"note"`
}

// FailureOutcome says what a report did.
type FailureOutcome struct {
	Outcome        string         `json:"outcome"` // "disconnected", "recorded"
	Classification Classification `json:"classification"`
	Account        AccountView    `json:"account"`
}

// Classification is a channel error as Relink reads it.
type Classification struct {
	Reason    string `json:"reason"`
	Message   string `json:"message"`
	Reauth    bool   `json:"reauth"`
	Transient bool   `json:"transient"`
}

const maxReportBody = 64 << 10

// ReportFailure classifies a channel's answer to a failed use with the channel's own
// rules. A token the channel says is dead disconnects the account; anything else (an
// outage, a rate limit, a refused request, a missing permission) is recorded and the
// account is checked at the next run, which decides with the channel itself.
func (s *Service) ReportFailure(ctx context.Context, p auth.Principal, id string, r FailureReport) (FailureOutcome, error) {
	if err := allow(p, "report failures", reporters...); err != nil {
		return FailureOutcome{}, err
	}
	if r.HTTPStatus != 0 && (r.HTTPStatus < 100 || r.HTTPStatus > 599) {
		return FailureOutcome{}, relink.Invalid("http_status", "http_status must be an HTTP status (100–599), or 0 when the channel did not answer.")
	}
	if len(r.Body) > maxReportBody {
		return FailureOutcome{}, relink.Invalid("body", "body is too large (%d bytes at most).", maxReportBody)
	}
	body := []byte(r.Body)
	var text string // a body sent as a JSON string is the channel's raw answer
	if json.Unmarshal(body, &text) == nil {
		body = []byte(text)
	}
	var out FailureOutcome
	c, err := s.change(ctx, p, id, func(a account.Account) (account.Command, error) {
		ch, err := s.Registry.Get(a.Channel)
		if err != nil {
			return account.Command{}, err
		}
		cl := ch.Classify(r.HTTPStatus, body)
		out.Classification = Classification{Reason: cl.Reason, Message: cl.Message, Reauth: cl.Reauth, Transient: cl.Transient}
		ce := cl.ChannelError
		if ce == (account.ChannelError{}) {
			ce.HTTPStatus = r.HTTPStatus
		}
		cmd := account.Command{Action: account.ActReport, Reason: cl.Reason, ChannelError: &ce, Note: r.Note}
		out.Outcome = "recorded"
		// An expired access token that a refresh may renew is for the next run to try.
		dead := cl.Reauth && !(cl.RefreshFirst && a.Refreshable)
		if dead && account.Allowed(a.State, account.ActDisconnect) {
			cmd.Action, out.Outcome = account.ActDisconnect, "disconnected"
		}
		return cmd, nil
	})
	if err != nil {
		return FailureOutcome{}, err
	}
	ws, err := s.Store.GetWorkspace(ctx, p.WorkspaceID)
	if err != nil {
		return FailureOutcome{}, err
	}
	out.Account = s.view(c.After, s.Clock.Now(), ws.Settings.WarningWindow)
	return out, nil
}

// all reads every account matching f.
func (s *Service) all(ctx context.Context, ws string, f account.Filter) ([]account.Account, error) {
	var out []account.Account
	page := store.Page{Limit: store.MaxLimit}
	for {
		got, err := s.Store.ListAccounts(ctx, ws, f, page)
		if err != nil {
			return nil, err
		}
		out = append(out, got.Accounts...)
		if got.Next == "" {
			return out, nil
		}
		page.Cursor = got.Next
	}
}
