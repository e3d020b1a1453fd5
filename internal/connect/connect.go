// Package connect runs the OAuth path that connects accounts: an owner (or an admin
// re-adding) starts a consent, the channel sends them back with a code, and the
// accounts the login grants are created or updated in place with sealed tokens.
package connect

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/relinkhq/relink/internal/account"
	"github.com/relinkhq/relink/internal/channel"
	"github.com/relinkhq/relink/internal/clock"
	"github.com/relinkhq/relink/internal/consent"
	"github.com/relinkhq/relink/internal/ident"
	"github.com/relinkhq/relink/internal/mail"
	"github.com/relinkhq/relink/internal/relink"
	"github.com/relinkhq/relink/internal/store"
	"github.com/relinkhq/relink/internal/vault"
	"github.com/relinkhq/relink/internal/workspace"
)

// Identity is one account a login grants: a Page, a channel, an organisation.
type Identity struct {
	ExternalID string
	Name       string
	Parent     string // the login's own ID (the parent profile), "" if none
	Kind       account.Kind
	Scopes     []string      // as granted for this account; nil: the token's scopes
	Tasks      []string      // Page tasks or roles, where the channel has them
	Token      *oauth2.Token // the account's own token (Facebook Page tokens); nil: the login's
}

// Identifier asks a channel who a token belongs to and which accounts it grants.
type Identifier interface {
	Identify(ctx context.Context, ch channel.Channel, tok *oauth2.Token) ([]Identity, error)
}

// Credentials gives Relink's app credentials on a channel.
type Credentials interface {
	Credentials(ctx context.Context, channelID string) (channel.Credentials, error)
}

// Service runs connects. Every dependency is injected.
type Service struct {
	Store       store.Store
	Registry    *channel.Registry
	Credentials Credentials
	Identifiers map[string]Identifier // by channel ID
	Vault       *vault.Vault
	Clock       clock.Clock
	IDs         ident.Generator
	Random      io.Reader
	// BaseURL is the public base URL; channels send people back to BaseURL+CallbackPath.
	// Empty: the base URL the request arrived on (WithBaseURL).
	BaseURL string
	// Mail sends the one-time codes that confirm an invite; CodePepper keys their
	// hashes (magiclink.NewCode).
	Mail       mail.Sender
	CodePepper []byte
	// HTTP makes the token requests (identifiers carry their own client); nil means
	// http.DefaultClient, which has no timeout, so production sets one.
	HTTP *http.Client
}

// Who is the person acting: an owner from a magic link, or an admin.
type Who struct {
	WorkspaceID string
	UserID      string
	Role        workspace.Role
	LinkHash    string // the magic link the person came from, if any
}

// Start begins a consent on a channel, to re-add accountID in place or (when it is "")
// to connect new accounts, and returns the channel's consent URL.
func (s *Service) Start(ctx context.Context, who Who, channelID, accountID string) (string, error) {
	ch, err := s.Registry.Get(channelID)
	if err != nil {
		return "", err
	}
	if accountID != "" {
		a, err := s.Store.GetAccount(ctx, who.WorkspaceID, accountID)
		if err != nil {
			return "", err
		}
		// Another owner's account looks like no account at all: IDs do not leak.
		if a.Channel != channelID || (!who.Role.IsAdmin() && a.OwnerID != who.UserID) {
			return "", relink.Errorf(relink.ENOTFOUND, "No such account.")
		}
		if a.State == account.StateDeleted {
			return "", relink.Errorf(relink.EILLEGAL, "This account was deleted; an admin can restore it first.")
		}
	}
	cred, err := s.Credentials.Credentials(ctx, channelID)
	if err != nil {
		return "", fmt.Errorf("credentials for %s: %w", channelID, err)
	}
	callback, err := s.callbackURL(ctx)
	if err != nil {
		return "", err
	}
	verifier := oauth2.GenerateVerifier()
	param, st, err := consent.New(consent.State{WorkspaceID: who.WorkspaceID, UserID: who.UserID, Channel: channelID,
		AccountID: accountID, LinkHash: who.LinkHash, Verifier: verifier}, s.Clock.Now(), s.Random)
	if err != nil {
		return "", err
	}
	if err := s.Store.PutConsent(ctx, st); err != nil {
		return "", fmt.Errorf("store consent: %w", err)
	}
	return ch.AuthCodeURL(ch.OAuthConfig(cred, callback), param, verifier), nil
}

// Callback is what the channel sent back.
type Callback struct {
	State, Code, Error string
}

// Outcome is what a callback did.
type Outcome struct {
	WorkspaceID string
	UserID      string
	LinkHash    string
	Channel     string
	Denied      bool              // the person declined on the consent screen
	Accounts    []account.Account // connected or updated, in the channel's order
	// Flow is set when the login came from an invite: nothing is connected yet, a
	// one-time code went to CodeSentTo, and ConfirmCode(Flow, code) finishes.
	Flow       string
	CodeSentTo string   // masked address
	Pending    []string // names of the accounts waiting for the code
}

// Callback finishes a consent: single use, within ten minutes, by the code's exchange.
// Nothing changes unless every account the login grants may be connected by this person.
func (s *Service) Callback(ctx context.Context, cb Callback) (Outcome, error) {
	hash, err := consent.HashParam(cb.State)
	if err != nil {
		return Outcome{}, err
	}
	st, err := s.Store.TakeConsent(ctx, hash, s.Clock.Now())
	if err != nil {
		if relink.ErrorCode(err) == relink.EGONE {
			return Outcome{}, relink.Errorf(relink.EGONE, "That took longer than ten minutes. Start the reconnect again from your link.")
		}
		if relink.ErrorCode(err) == relink.ENOTFOUND {
			return Outcome{}, relink.Errorf(relink.ENOTFOUND, "This sign-in was already used or is not known. Start again from your link.")
		}
		return Outcome{}, err
	}
	out := Outcome{WorkspaceID: st.WorkspaceID, UserID: st.UserID, LinkHash: st.LinkHash, Channel: st.Channel}
	switch cb.Error {
	case "":
	case "access_denied", "user_cancelled_login", "user_cancelled_authorize": // the person said no
		out.Denied = true
		return out, nil
	case "temporarily_unavailable", "server_error":
		return out, relink.Errorf(relink.EUNAVAILABLE, "The channel could not complete the sign-in just now. Try again in a minute.")
	default:
		// Anything else is the channel refusing the request itself; its code is shown
		// only when it is a plain error code, never free text from the query.
		code := cb.Error
		if len(code) > 64 || strings.Trim(code, "abcdefghijklmnopqrstuvwxyz_") != "" {
			code = "an error"
		}
		return out, relink.Errorf(relink.EINVALID, "The channel refused the sign-in (%s). Start again from your link; if it keeps happening, tell your admin.", code)
	}
	if cb.Code == "" {
		return out, relink.Errorf(relink.EINVALID, "The channel sent no authorization code. Start again from your link.")
	}
	ch, err := s.Registry.Get(st.Channel)
	if err != nil {
		return out, err
	}
	who, err := s.Store.GetUser(ctx, st.WorkspaceID, st.UserID)
	if err != nil {
		return out, fmt.Errorf("who started the consent: %w", err)
	}
	cred, err := s.Credentials.Credentials(ctx, ch.ID)
	if err != nil {
		return out, fmt.Errorf("credentials for %s: %w", ch.ID, err)
	}
	callback, err := s.callbackURL(ctx)
	if err != nil {
		return out, err
	}
	cfg := ch.OAuthConfig(cred, callback)
	if s.HTTP != nil {
		ctx = context.WithValue(ctx, oauth2.HTTPClient, s.HTTP)
	}
	tok, err := ch.Exchange(ctx, cfg, cb.Code, st.Verifier)
	if err != nil {
		return out, refused(ch, err)
	}
	identifier, ok := s.Identifiers[ch.ID]
	if !ok {
		return out, relink.Errorf(relink.EINTERNAL, "no identifier for channel %s", ch.ID)
	}
	ids, err := identifier.Identify(ctx, ch, tok)
	if err != nil {
		return out, refused(ch, err)
	}
	now := s.Clock.Now()
	tokens, grant := ch.Grant(tok, cfg.Scopes, now)

	plan, err := s.plan(ctx, st.WorkspaceID, st.AccountID, who, ch, ids)
	if err != nil {
		return out, err
	}
	held := make([]heldAccount, len(plan))
	for i, p := range plan {
		held[i].Identity = p.id
		held[i].Identity.Token = nil
		held[i].tokens, held[i].grant = prepare(ch, p.id, tokens, grant, now)
	}
	if link, ok := s.inviteLink(ctx, st.LinkHash); ok {
		return s.hold(ctx, out, who, link, ch, held, now)
	}
	out.Accounts, err = s.connectAll(ctx, who, ch, plan, held, now)
	return out, err
}

// heldAccount is one account a login grants, with the tokens and grant it gets.
type heldAccount struct {
	Identity
	tokens vault.Tokens
	grant  account.Grant
}

// connectAll connects every planned account with what was held for it, in order.
func (s *Service) connectAll(ctx context.Context, who workspace.User, ch channel.Channel, plan []step, held []heldAccount,
	now time.Time) ([]account.Account, error) {
	byExternal := make(map[string]heldAccount, len(held))
	for _, h := range held {
		byExternal[h.ExternalID] = h
	}
	var out []account.Account
	for _, p := range plan {
		h := byExternal[p.id.ExternalID]
		a, err := s.connectOne(ctx, who, ch, p, h.tokens, h.grant, now)
		if err != nil {
			return out, err
		}
		out = append(out, a)
	}
	return out, nil
}

// step is one account a callback connects: existing (re-added in place) or new.
type step struct {
	id       Identity
	existing *account.Account
}

// plan decides every account before changing any, so a refusal changes nothing.
func (s *Service) plan(ctx context.Context, workspaceID, accountID string, who workspace.User, ch channel.Channel, ids []Identity) ([]step, error) {
	if len(ids) == 0 {
		return nil, relink.Errorf(relink.EINVALID, "The login grants no %s account Relink can manage.", ch.Name)
	}
	var plan []step
	for _, id := range ids {
		a, err := s.Store.FindAccount(ctx, workspaceID, ch.ID, id.ExternalID)
		switch {
		case err == nil:
			if a.OwnerID != who.ID && !who.Role.IsAdmin() {
				if a.ParentProfileID != "" && a.ParentProfileID == id.Parent {
					return nil, relink.Errorf(relink.EFORBIDDEN,
						"The profile you signed in with belongs to another owner's accounts (%q). Ask an admin to transfer them to you first.", a.DisplayName)
				}
				return nil, relink.Errorf(relink.EFORBIDDEN,
					"%q is connected by another owner. Ask an admin to transfer it to you first.", a.DisplayName)
			}
			if a.State == account.StateDeleted {
				return nil, relink.Errorf(relink.EILLEGAL, "%q was deleted; an admin can restore it first.", a.DisplayName)
			}
			plan = append(plan, step{id: id, existing: &a})
		case relink.ErrorCode(err) == relink.ENOTFOUND:
			plan = append(plan, step{id: id})
		default:
			return nil, err
		}
	}
	if accountID == "" {
		return plan, nil
	}
	// A re-add updates its one account, and the login must be one that manages it.
	for _, p := range plan {
		if p.existing != nil && p.existing.ID == accountID {
			return []step{p}, nil
		}
	}
	target, err := s.Store.GetAccount(ctx, workspaceID, accountID)
	if err != nil {
		return nil, err
	}
	return nil, relink.Errorf(relink.EINVALID,
		"The profile you signed in with does not manage %q. Sign in with the profile that does.", target.DisplayName)
}

// prepare works out the tokens and grant one account of a login gets: its own token
// where the channel issues one (a Facebook Page token), else the login's; its own
// scopes and tasks where the channel lists them; and what is missing.
func prepare(ch channel.Channel, id Identity, tokens vault.Tokens, grant account.Grant, now time.Time) (vault.Tokens, account.Grant) {
	if id.Token != nil {
		tokens, grant = ch.Grant(id.Token, grant.Scopes, now)
	}
	g := grant
	if id.Scopes != nil {
		g.Scopes = slices.Clone(id.Scopes)
	}
	g.Tasks = slices.Clone(id.Tasks)
	g.Missing = ch.Diagnose(g.Scopes, g.Tasks)
	return tokens, g
}

// connectOne seals the tokens and moves one account to connected (or action required),
// keeping a stored refresh token the channel did not send again.
func (s *Service) connectOne(ctx context.Context, who workspace.User, ch channel.Channel, p step, tokens vault.Tokens,
	g account.Grant, now time.Time) (account.Account, error) {
	actor := account.Actor{ID: who.ID, Role: who.Role}

	if p.existing == nil {
		kind := p.id.Kind
		if kind == "" {
			kind = account.KindCompany
		}
		c, err := account.New(account.Spec{WorkspaceID: who.WorkspaceID, ID: s.IDs.New(), Channel: ch.ID,
			ExternalID: p.id.ExternalID, DisplayName: p.id.Name, OwnerID: who.ID, Kind: kind,
			ParentProfileID: p.id.Parent, Grant: &g}, account.Command{Actor: actor, At: now, EventID: s.IDs.New()})
		if err != nil {
			return account.Account{}, err
		}
		if err := s.putTokens(ctx, c.After, tokens); err != nil {
			return account.Account{}, err
		}
		if err := s.Store.CreateAccount(ctx, c); err != nil {
			return account.Account{}, err
		}
		return c.After, nil
	}

	a := *p.existing
	if tokens.Refresh == "" {
		if old, err := s.tokens(ctx, a); err == nil && old.Refresh != "" {
			tokens.Refresh, tokens.RefreshExpiresAt = old.Refresh, old.RefreshExpiresAt
			g.Refreshable, g.RefreshExpiresAt = true, old.RefreshExpiresAt
		}
	}
	if err := s.putTokens(ctx, a, tokens); err != nil {
		return account.Account{}, err
	}
	// A concurrent change (a probe, an admin) moves the version: read again and retry.
	for attempt := 0; ; attempt++ {
		c, err := account.Transition(a, account.Command{Action: account.ActAuthorize, Actor: actor, At: now,
			EventID: s.IDs.New(), Grant: &g})
		if err != nil {
			return account.Account{}, err
		}
		err = s.Store.Apply(ctx, c)
		if err == nil {
			return c.After, nil
		}
		if relink.ErrorCode(err) != relink.ECONFLICT || attempt == 2 {
			return account.Account{}, err
		}
		if a, err = s.Store.GetAccount(ctx, a.WorkspaceID, a.ID); err != nil {
			return account.Account{}, err
		}
	}
}

func binding(a account.Account) string { return vault.AccountBinding(a.WorkspaceID, a.ID) }

func (s *Service) putTokens(ctx context.Context, a account.Account, t vault.Tokens) error {
	sealed, err := s.Vault.SealTokens(ctx, t, binding(a))
	if err != nil {
		return fmt.Errorf("seal tokens: %w", err)
	}
	return s.Store.PutTokens(ctx, a.WorkspaceID, a.ID, sealed)
}

func (s *Service) tokens(ctx context.Context, a account.Account) (vault.Tokens, error) {
	sealed, err := s.Store.GetTokens(ctx, a.WorkspaceID, a.ID)
	if err != nil {
		return vault.Tokens{}, err
	}
	return s.Vault.OpenTokens(ctx, sealed, binding(a))
}

// refused turns a channel's refusal into what the person reads.
func refused(ch channel.Channel, err error) error {
	var te *channel.TokenError
	if !errors.As(err, &te) {
		return err
	}
	if te.Transient {
		return relink.Wrap(err, relink.EUNAVAILABLE, "%s did not answer in time. Try again in a minute.", ch.Name)
	}
	return relink.Wrap(err, relink.EINVALID, "%s did not accept the sign-in: %s Start again from your link.", ch.Name, te.Message)
}
