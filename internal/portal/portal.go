// Package portal is what an account owner sees and does through an emailed magic link:
// their accounts with each one's health in plain words, a Reconnect button each,
// connecting new accounts, invites confirmed with a one-time code, and asking for a
// new link when one has expired. The connect function serves it (handler.go); the
// local server mounts the same handler.
package portal

import (
	"context"

	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/relinkhq/relink/internal/account"
	"github.com/relinkhq/relink/internal/channel"
	"github.com/relinkhq/relink/internal/clock"
	"github.com/relinkhq/relink/internal/connect"
	"github.com/relinkhq/relink/internal/magiclink"
	"github.com/relinkhq/relink/internal/mail"
	"github.com/relinkhq/relink/internal/relink"
	"github.com/relinkhq/relink/internal/store"
	"github.com/relinkhq/relink/internal/workspace"
)

// Limits on asking for new links: per address and per client, across every instance
// (the store counts), so neither a person's inbox nor the sender can be flooded.
const (
	linkRequestsPerAddress = 3
	linkRequestsPerClient  = 20
	linkRequestWindow      = time.Hour
	// maxWorkspacesPerRequest bounds the emails one request can cause.
	maxWorkspacesPerRequest = 5
)

// Service runs the owner pages. Every dependency is injected.
type Service struct {
	Store       store.Store
	Registry    *channel.Registry
	Connect     *connect.Service
	Links       *Links
	Unsubscribe Unsubscriber
	Mail        mail.Sender
	Clock       clock.Clock
	Random      io.Reader
	Logger      *slog.Logger
}

// Viewer is the person behind a live session.
type Viewer struct {
	Session   Session
	User      workspace.User
	Link      magiclink.Link
	Workspace workspace.Workspace
}

func (v Viewer) who() connect.Who {
	return connect.Who{WorkspaceID: v.User.WorkspaceID, UserID: v.User.ID, Role: v.User.Role, LinkHash: v.Link.Hash}
}

// Open counts one opening of a magic link and starts a session for its person. An
// expired, used-up or replaced link is EGONE; a link never issued (or long gone) is
// ENOTFOUND.
func (s *Service) Open(ctx context.Context, token string) (Session, error) {
	hash, err := magiclink.HashToken(token)
	if err != nil {
		return Session{}, err
	}
	now := s.Clock.Now()
	l, err := s.Store.UseLink(ctx, hash, now)
	if err != nil {
		return Session{}, err
	}
	if _, err := s.Store.GetUser(ctx, l.WorkspaceID, l.UserID); err != nil {
		if relink.ErrorCode(err) == relink.ENOTFOUND {
			return Session{}, relink.Errorf(relink.EGONE, "This link belongs to a person who is no longer in the workspace.")
		}
		return Session{}, err
	}
	exp := now.Add(SessionTTL)
	if l.ExpiresAt.Before(exp) {
		exp = l.ExpiresAt
	}
	return Session{WorkspaceID: l.WorkspaceID, UserID: l.UserID, LinkHash: l.Hash, Purpose: l.Purpose, Expires: exp.Unix()}, nil
}

// Resume checks that a session's link still stands (not revoked, not expired) and its
// person is still there. Uses are not counted again: they were counted on opening.
func (s *Service) Resume(ctx context.Context, sess Session) (Viewer, error) {
	ended := relink.Errorf(relink.EUNAUTHORIZED, "Your session has ended. Open the link from your email again.")
	l, err := s.Store.GetLink(ctx, sess.LinkHash)
	if relink.ErrorCode(err) == relink.ENOTFOUND {
		return Viewer{}, ended
	} else if err != nil {
		return Viewer{}, err
	}
	now := s.Clock.Now()
	if !l.RevokedAt.IsZero() || !now.Before(l.ExpiresAt) || l.WorkspaceID != sess.WorkspaceID || l.UserID != sess.UserID {
		return Viewer{}, ended
	}
	u, err := s.Store.GetUser(ctx, sess.WorkspaceID, sess.UserID)
	if relink.ErrorCode(err) == relink.ENOTFOUND {
		return Viewer{}, ended
	} else if err != nil {
		return Viewer{}, err
	}
	w, err := s.Store.GetWorkspace(ctx, sess.WorkspaceID)
	if err != nil {
		return Viewer{}, err
	}
	return Viewer{Session: sess, User: u, Link: l, Workspace: w}, nil
}

// Capability words people read.
var capabilityWords = map[account.Capability]string{
	account.CapPublish: "publishing", account.CapEngage: "engagement", account.CapReport: "reporting", account.CapAds: "ads",
}

// AccountView is one account as its owner sees it.
type AccountView struct {
	ID, Name, ChannelID, ChannelName string
	State                            account.State
	StateLabel                       string
	Why                              string // the reason in plain words, "" when all is well
	ChannelSaid                      string // the platform's own message, for the curious
	Missing                          []MissingView
	Breaks                           string // everything the missing permissions break, in words
	Expiring                         bool
	HardExpiry                       time.Time
	CanReconnect                     bool
	Note                             string // why there is no Reconnect button
}

// MissingView is one missing permission in words.
type MissingView struct {
	Name, Label, Breaks string
}

// ChannelView is a channel someone can connect.
type ChannelView struct{ ID, Name string }

// Overview is the owner's page.
type Overview struct {
	Viewer   Viewer
	Accounts []AccountView
	Channels []ChannelView
	Trouble  int // accounts that need the owner
}

var stateLabels = map[account.State]string{
	account.StatePending: "Not connected yet", account.StateActive: "Connected",
	account.StateActionRequired: "Action required", account.StateDisconnected: "Disconnected",
	account.StateDeactivated: "Switched off", account.StateDeleted: "Deleted",
}

// Overview lists the viewer's own accounts, most urgent first.
func (s *Service) Overview(ctx context.Context, v Viewer) (Overview, error) {
	accounts, err := s.ownAccounts(ctx, v)
	if err != nil {
		return Overview{}, err
	}
	now := s.Clock.Now()
	out := Overview{Viewer: v, Channels: s.channels(nil)}
	for _, a := range accounts {
		av := s.view(a, now, v.Workspace.Settings.WarningWindow)
		if a.State.Troubled() || a.State == account.StatePending || av.Expiring {
			out.Trouble++
		}
		out.Accounts = append(out.Accounts, av)
	}
	rank := map[account.State]int{account.StateDisconnected: 0, account.StateActionRequired: 1, account.StatePending: 2,
		account.StateActive: 3, account.StateDeactivated: 4}
	slices.SortStableFunc(out.Accounts, func(a, b AccountView) int {
		ra, rb := rank[a.State], rank[b.State]
		if a.Expiring {
			ra = 2
		}
		if b.Expiring {
			rb = 2
		}
		if ra != rb {
			return ra - rb
		}
		return strings.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name))
	})
	return out, nil
}

func (s *Service) ownAccounts(ctx context.Context, v Viewer) ([]account.Account, error) {
	var out []account.Account
	p := store.Page{Limit: store.MaxLimit}
	for {
		page, err := s.Store.ListAccounts(ctx, v.User.WorkspaceID, account.Filter{OwnerID: v.User.ID}, p)
		if err != nil {
			return nil, err
		}
		out = append(out, page.Accounts...)
		if page.Next == "" {
			return out, nil
		}
		p.Cursor = page.Next
	}
}

func (s *Service) view(a account.Account, now time.Time, window time.Duration) AccountView {
	av := AccountView{ID: a.ID, Name: a.DisplayName, ChannelID: a.Channel, ChannelName: a.Channel, State: a.State,
		StateLabel: stateLabels[a.State], Expiring: a.Expiring(now, window), HardExpiry: a.HardExpiry(), CanReconnect: true}
	ch, err := s.Registry.Get(a.Channel)
	if err != nil {
		av.CanReconnect, av.Note = false, "This channel is no longer supported."
	} else {
		av.ChannelName = ch.Name
	}
	switch a.State {
	case account.StateDisconnected:
		av.Why = channel.Message(a.Reason)
		if a.ChannelError != nil {
			av.ChannelSaid = a.ChannelError.Message
		}
	case account.StateActionRequired:
		av.Why = "Connected, but some permissions are missing, so some features do not work."
	case account.StatePending:
		av.Why = "This account was added but never connected."
	case account.StateDeactivated:
		av.CanReconnect, av.Note = false, "An admin switched this account off. Ask them if it should be back on."
	}
	if av.Expiring {
		av.Why = strings.TrimSpace(av.Why + " The connection ends on " + av.HardExpiry.In(time.UTC).Format("2 January 2006") +
			" unless you reconnect before then.")
	}
	var breaks []account.Capability
	for _, m := range a.Missing {
		mv := MissingView{Name: m.Name, Label: m.Name, Breaks: capabilityList(m.Breaks)}
		for _, p := range ch.Permissions {
			if p.Name == m.Name && p.Kind == m.Kind {
				mv.Label = p.Label
			}
		}
		av.Missing = append(av.Missing, mv)
		for _, c := range m.Breaks {
			if !slices.Contains(breaks, c) {
				breaks = append(breaks, c)
			}
		}
	}
	av.Breaks = capabilityList(breaks)
	return av
}

func capabilityList(cs []account.Capability) string {
	words := make([]string, 0, len(cs))
	for _, c := range channel.Capabilities {
		if slices.Contains(cs, c) {
			words = append(words, capabilityWords[c])
		}
	}
	switch len(words) {
	case 0:
		return ""
	case 1:
		return words[0]
	}
	return strings.Join(words[:len(words)-1], ", ") + " and " + words[len(words)-1]
}

// channels lists the channels to offer, all of the registry when only is empty.
func (s *Service) channels(only []string) []ChannelView {
	var out []ChannelView
	for _, id := range s.Registry.IDs() {
		if len(only) > 0 && !slices.Contains(only, id) {
			continue
		}
		ch, _ := s.Registry.Get(id)
		out = append(out, ChannelView{ID: id, Name: ch.Name})
	}
	slices.SortFunc(out, func(a, b ChannelView) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Reconnect starts the channel's consent for one of the viewer's own accounts and
// returns where to send the browser.
func (s *Service) Reconnect(ctx context.Context, v Viewer, accountID string) (string, error) {
	a, err := s.Store.GetAccount(ctx, v.User.WorkspaceID, accountID)
	// Someone else's account reads as no account at all.
	if relink.ErrorCode(err) == relink.ENOTFOUND || err == nil && (a.OwnerID != v.User.ID || a.State == account.StateDeleted) {
		return "", relink.Errorf(relink.ENOTFOUND, "There is no such account among yours.")
	} else if err != nil {
		return "", err
	}
	if a.State == account.StateDeactivated {
		return "", relink.Errorf(relink.EILLEGAL, "An admin switched %q off. Ask them to switch it back on first.", a.DisplayName)
	}
	return s.Connect.Start(ctx, v.who(), a.Channel, a.ID)
}

// ConnectNew starts the channel's consent to connect new accounts.
func (s *Service) ConnectNew(ctx context.Context, v Viewer, channelID string) (string, error) {
	if v.Link.Purpose == magiclink.PurposeInvite && len(v.Link.Channels) > 0 && !slices.Contains(v.Link.Channels, channelID) {
		return "", relink.Errorf(relink.EINVALID, "This invitation is for other channels. Choose one of those listed.")
	}
	if _, err := s.Registry.Get(channelID); err != nil {
		return "", relink.Errorf(relink.EINVALID, "Choose a channel from the list.")
	}
	return s.Connect.Start(ctx, v.who(), channelID, "")
}

// Invitation is the invite page.
type Invitation struct {
	Viewer    Viewer
	InvitedBy string
	Channels  []ChannelView
}

// Invitation shows what an invite link offers.
func (s *Service) Invitation(_ context.Context, v Viewer) (Invitation, error) {
	if v.Link.Purpose != magiclink.PurposeInvite {
		return Invitation{}, relink.Errorf(relink.ENOTFOUND, "This page belongs to invitations.")
	}
	return Invitation{Viewer: v, Channels: s.channels(v.Link.Channels)}, nil
}

// LinkRequest asks for a new link: from an old link's page (Token) or by address.
type LinkRequest struct {
	Token    string
	Email    string
	ClientIP string
}

// RequestLink emails a new link to whoever the old link or the address belongs to.
// It answers the same whether or not anybody matched, so it cannot tell a stranger
// which addresses have accounts; only a client that asks too often hears so.
func (s *Service) RequestLink(ctx context.Context, req LinkRequest) error {
	now := s.Clock.Now()
	client := req.ClientIP
	if client == "" {
		client = "unknown"
	}
	ok, err := s.Store.Allow(ctx, "link-request#client#"+client, linkRequestsPerClient, linkRequestWindow, now)
	if err != nil {
		return err
	}
	if !ok {
		return relink.Errorf(relink.ERATELIMIT, "Too many requests for new links from here. Try again in an hour.")
	}
	var targets []target
	switch {
	case req.Token != "":
		targets, err = s.byToken(ctx, req.Token)
	case req.Email != "":
		email, verr := workspace.NormalizeEmail(req.Email)
		if verr != nil {
			return verr // a malformed address says nothing about accounts
		}
		targets, err = s.byEmail(ctx, email)
	default:
		return relink.Errorf(relink.EINVALID, "Enter your email address.")
	}
	if err != nil {
		return err
	}
	for _, t := range targets {
		if err := s.sendNewLink(ctx, t, now); err != nil {
			// The person sees the same answer either way; the failure is for us.
			s.Logger.ErrorContext(ctx, "new link not sent", "workspace", t.user.WorkspaceID, "user", t.user.ID, "err", err)
		}
	}
	return nil
}

// target is one person to send a new link to, and the link it replaces.
type target struct {
	user workspace.User
	old  *magiclink.Link
}

func (s *Service) byToken(ctx context.Context, token string) ([]target, error) {
	hash, err := magiclink.HashToken(token)
	if err != nil {
		return nil, nil
	}
	l, err := s.Store.GetLink(ctx, hash)
	if relink.ErrorCode(err) == relink.ENOTFOUND {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	u, err := s.Store.GetUser(ctx, l.WorkspaceID, l.UserID)
	if relink.ErrorCode(err) == relink.ENOTFOUND {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	return []target{{user: u, old: &l}}, nil
}

func (s *Service) byEmail(ctx context.Context, email string) ([]target, error) {
	users, err := s.Store.UsersByEmail(ctx, email)
	if err != nil {
		return nil, err
	}
	if len(users) > maxWorkspacesPerRequest {
		users = users[:maxWorkspacesPerRequest]
	}
	out := make([]target, len(users))
	for i, u := range users {
		out[i] = target{user: u}
	}
	return out, nil
}

// sendNewLink issues and emails a fresh link, at most a few per address an hour. It
// keeps the old link's purpose (an expired invite is invited again); a request by
// address gets a personal connect link.
func (s *Service) sendNewLink(ctx context.Context, t target, now time.Time) error {
	ok, err := s.Store.Allow(ctx, "link-request#address#"+t.user.Email, linkRequestsPerAddress, linkRequestWindow, now)
	if err != nil || !ok {
		return err
	}
	spec := magiclink.Spec{WorkspaceID: t.user.WorkspaceID, UserID: t.user.ID, Email: t.user.Email, Purpose: magiclink.PurposeConnect}
	if t.old != nil {
		spec.Purpose, spec.Channels, spec.Message = t.old.Purpose, t.old.Channels, t.old.Message
	}
	url, l, err := s.Links.Issue(ctx, spec)
	if err != nil {
		return err
	}
	wsName := t.user.WorkspaceID
	if w, err := s.Store.GetWorkspace(ctx, t.user.WorkspaceID); err == nil {
		wsName = w.Name
	}
	m, err := mail.Compose("link", mail.LinkLetter{Name: t.user.Name, Workspace: wsName, URL: url, ExpiresAt: l.ExpiresAt, Requested: true},
		[]string{t.user.Email}, nil)
	if err != nil {
		return err
	}
	_, err = s.Mail.Send(ctx, m)
	return err
}

// Callback finishes a consent the channel sent back.
func (s *Service) Callback(ctx context.Context, cb connect.Callback) (connect.Outcome, error) {
	return s.Connect.Callback(ctx, cb)
}

// ConfirmCode finishes an invite with the emailed code.
func (s *Service) ConfirmCode(ctx context.Context, v Viewer, flow, code string) (connect.Outcome, error) {
	return s.Connect.ConfirmCode(ctx, v.who(), flow, code)
}

// Pending describes an invite flow waiting for its code.
func (s *Service) Pending(ctx context.Context, v Viewer, flow string) (connect.Outcome, error) {
	return s.Connect.Pending(ctx, v.who(), flow)
}

// ResendCode emails a new code for an invite flow.
func (s *Service) ResendCode(ctx context.Context, v Viewer, flow string) (connect.Outcome, error) {
	return s.Connect.ResendCode(ctx, v.who(), flow)
}

// Links issues magic links: the token goes into the URL, only its hash is stored.
type Links struct {
	Store   store.Links
	Clock   clock.Clock
	Random  io.Reader
	BaseURL string // public base URL of the owner pages; empty: the request's (connect.WithBaseURL)
}

// Issue stores a new link for spec and returns its URL.
func (l *Links) Issue(ctx context.Context, spec magiclink.Spec) (string, magiclink.Link, error) {
	token, link, err := magiclink.Issue(spec, l.Clock.Now(), l.Random)
	if err != nil {
		return "", magiclink.Link{}, err
	}
	base, err := connect.BaseURL(ctx, l.BaseURL)
	if err != nil {
		return "", magiclink.Link{}, err
	}
	if err := l.Store.CreateLink(ctx, link); err != nil {
		return "", magiclink.Link{}, fmt.Errorf("store link: %w", err)
	}
	return base + "/l/" + token, link, nil
}

// Rotate revokes the person's usable links of spec's purpose and issues a new one.
func (l *Links) Rotate(ctx context.Context, spec magiclink.Spec) (string, magiclink.Link, error) {
	if _, err := l.Store.RevokeLinks(ctx, spec.WorkspaceID, spec.UserID, spec.Purpose, l.Clock.Now()); err != nil {
		return "", magiclink.Link{}, fmt.Errorf("revoke old links: %w", err)
	}
	return l.Issue(ctx, spec)
}
