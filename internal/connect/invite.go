package connect

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/relinkhq/relink/internal/account"
	"github.com/relinkhq/relink/internal/channel"
	"github.com/relinkhq/relink/internal/magiclink"
	"github.com/relinkhq/relink/internal/mail"
	"github.com/relinkhq/relink/internal/relink"
	"github.com/relinkhq/relink/internal/workspace"
)

// An invite's login is held until the invited person types the one-time code emailed
// to the invited address: whoever holds a forwarded invite link cannot add accounts
// without the mailbox too. The held tokens are sealed inside the code's payload, so
// they live exactly as long as the code and never sit anywhere else.

// FlowTTL bounds a held login: a resend cannot stretch it, since its tokens age.
const FlowTTL = 30 * time.Minute

// Resends of a code per flow, per FlowTTL.
const maxResends = 3

// heldFlow is a code's payload. Tokens are sealed one by one, bound to the flow, so
// the payload as a whole holds nothing in clear that matters.
type heldFlow struct {
	WorkspaceID string       `json:"ws"`
	UserID      string       `json:"user"`
	Channel     string       `json:"channel"`
	LinkHash    string       `json:"link"`
	Started     time.Time    `json:"started"`
	Accounts    []heldSealed `json:"accounts"`
}

type heldSealed struct {
	ExternalID string        `json:"ext"`
	Name       string        `json:"name"`
	Parent     string        `json:"parent,omitempty"`
	Kind       account.Kind  `json:"kind,omitempty"`
	Scopes     []string      `json:"scopes,omitempty"`
	Tasks      []string      `json:"tasks,omitempty"`
	Grant      account.Grant `json:"grant"`
	Tokens     []byte        `json:"tokens"` // vault-sealed, bound to flow and position
}

func heldBinding(flow string, i int) string { return fmt.Sprintf("invite/%s/%d", flow, i) }

// inviteLink returns the link a consent started from when it is an invite.
func (s *Service) inviteLink(ctx context.Context, linkHash string) (magiclink.Link, bool) {
	if linkHash == "" {
		return magiclink.Link{}, false
	}
	l, err := s.Store.GetLink(ctx, linkHash)
	if err != nil || l.Purpose != magiclink.PurposeInvite {
		return magiclink.Link{}, false
	}
	return l, true
}

// hold seals what the login granted into a one-time code's payload and emails the code
// to the invited address.
func (s *Service) hold(ctx context.Context, out Outcome, who workspace.User, link magiclink.Link, ch channel.Channel,
	held []heldAccount, now time.Time) (Outcome, error) {
	flow := s.IDs.New()
	hf := heldFlow{WorkspaceID: who.WorkspaceID, UserID: who.ID, Channel: ch.ID, LinkHash: link.Hash, Started: now}
	for i, h := range held {
		sealed, err := s.Vault.SealTokens(ctx, h.tokens, heldBinding(flow, i))
		if err != nil {
			return out, fmt.Errorf("seal held tokens: %w", err)
		}
		hf.Accounts = append(hf.Accounts, heldSealed{ExternalID: h.ExternalID, Name: h.Name, Parent: h.Parent, Kind: h.Kind,
			Scopes: h.Identity.Scopes, Tasks: h.Identity.Tasks, Grant: h.grant, Tokens: sealed})
		out.Pending = append(out.Pending, h.Name)
	}
	payload, err := json.Marshal(hf)
	if err != nil {
		return out, fmt.Errorf("encode held flow: %w", err)
	}
	email := link.Email
	if email == "" {
		email = who.Email
	}
	if err := s.sendCode(ctx, flow, who, email, payload, now); err != nil {
		return out, err
	}
	out.Flow, out.CodeSentTo = flow, MaskEmail(email)
	return out, nil
}

// sendCode stores a new code for flow (replacing an earlier one) and emails it. The
// code is stored before it is sent: a code that was never stored must not be in a
// mailbox, and a failed send leaves a code nobody knows, which a resend replaces.
func (s *Service) sendCode(ctx context.Context, flow string, who workspace.User, email string, payload []byte, now time.Time) error {
	digits, code, err := magiclink.NewCode(flow, who.WorkspaceID, email, s.CodePepper, now, s.Random)
	if err != nil {
		return err
	}
	code.Payload = payload
	if err := s.Store.PutCode(ctx, code); err != nil {
		return fmt.Errorf("store code: %w", err)
	}
	wsName := who.WorkspaceID
	if w, err := s.Store.GetWorkspace(ctx, who.WorkspaceID); err == nil {
		wsName = w.Name
	}
	m, err := mail.Compose("code", mail.CodeLetter{Name: who.Name, Code: digits, Workspace: wsName,
		Minutes: int(magiclink.CodeTTL / time.Minute)}, []string{email}, nil)
	if err != nil {
		return err
	}
	if _, err := s.Mail.Send(ctx, m); err != nil {
		return relink.Wrap(err, relink.EUNAVAILABLE, "We could not email your code just now. Ask for a new code in a minute.")
	}
	return nil
}

// heldFor reads a flow's code and payload, refusing anyone but the person it belongs
// to as if there were no such flow.
func (s *Service) heldFor(ctx context.Context, who Who, flow string) (magiclink.Code, heldFlow, error) {
	gone := relink.Errorf(relink.ENOTFOUND, "This confirmation is not known or has ended. Start again from your invitation.")
	if flow == "" || len(flow) > 100 {
		return magiclink.Code{}, heldFlow{}, gone
	}
	c, err := s.Store.GetCode(ctx, flow)
	if relink.ErrorCode(err) == relink.ENOTFOUND {
		return c, heldFlow{}, gone
	} else if err != nil {
		return c, heldFlow{}, err
	}
	var hf heldFlow
	if json.Unmarshal(c.Payload, &hf) != nil || hf.WorkspaceID != who.WorkspaceID || hf.UserID != who.UserID {
		return c, heldFlow{}, gone
	}
	return c, hf, nil
}

// ConfirmCode checks the code typed for flow and, when it is right, connects the held
// accounts. Every attempt counts (5 wrong ones lock the code) and is stored before the
// answer, so parallel guesses cannot get around the limit.
func (s *Service) ConfirmCode(ctx context.Context, who Who, flow, input string) (Outcome, error) {
	c, hf, err := s.heldFor(ctx, who, flow)
	if err != nil {
		return Outcome{}, err
	}
	out := Outcome{WorkspaceID: hf.WorkspaceID, UserID: hf.UserID, LinkHash: hf.LinkHash, Channel: hf.Channel, Flow: flow}
	now := s.Clock.Now()
	if now.Sub(hf.Started) >= FlowTTL {
		return out, relink.Errorf(relink.EGONE, "This confirmation took too long. Start again from your invitation.")
	}
	next, verr := c.Verify(input, s.CodePepper, now)
	if next.Version != c.Version {
		if err := s.Store.UpdateCode(ctx, next); err != nil {
			if relink.ErrorCode(err) == relink.ECONFLICT {
				return out, relink.Errorf(relink.ECONFLICT, "Your code was checked twice at once. Type it again.")
			}
			return out, fmt.Errorf("record code attempt: %w", err)
		}
	}
	if verr != nil {
		return out, verr
	}

	ch, err := s.Registry.Get(hf.Channel)
	if err != nil {
		return out, err
	}
	user, err := s.Store.GetUser(ctx, hf.WorkspaceID, hf.UserID)
	if err != nil {
		return out, fmt.Errorf("who the flow belongs to: %w", err)
	}
	held := make([]heldAccount, len(hf.Accounts))
	ids := make([]Identity, len(hf.Accounts))
	for i, h := range hf.Accounts {
		tokens, err := s.Vault.OpenTokens(ctx, h.Tokens, heldBinding(flow, i))
		if err != nil {
			return out, fmt.Errorf("open held tokens: %w", err)
		}
		id := Identity{ExternalID: h.ExternalID, Name: h.Name, Parent: h.Parent, Kind: h.Kind, Scopes: h.Scopes, Tasks: h.Tasks}
		held[i], ids[i] = heldAccount{Identity: id, tokens: tokens, grant: h.Grant}, id
	}
	// Things may have moved while the code was on its way: decide again.
	plan, err := s.plan(ctx, hf.WorkspaceID, "", user, ch, ids)
	if err != nil {
		return out, err
	}
	out.Accounts, err = s.connectAll(ctx, user, ch, plan, held, now)
	return out, err
}

// ResendCode emails a new code for flow, at most a few times per flow.
func (s *Service) ResendCode(ctx context.Context, who Who, flow string) (Outcome, error) {
	c, hf, err := s.heldFor(ctx, who, flow)
	if err != nil {
		return Outcome{}, err
	}
	out := Outcome{WorkspaceID: hf.WorkspaceID, UserID: hf.UserID, Channel: hf.Channel, Flow: flow, CodeSentTo: MaskEmail(c.Email)}
	for _, a := range hf.Accounts {
		out.Pending = append(out.Pending, a.Name)
	}
	now := s.Clock.Now()
	if !c.UsedAt.IsZero() {
		return out, relink.Errorf(relink.EGONE, "This code was already used.")
	}
	if now.Sub(hf.Started) >= FlowTTL {
		return out, relink.Errorf(relink.EGONE, "This confirmation took too long. Start again from your invitation.")
	}
	ok, err := s.Store.Allow(ctx, "code-resend#"+flow, maxResends, FlowTTL, now)
	if err != nil {
		return out, err
	}
	if !ok {
		return out, relink.Errorf(relink.ERATELIMIT, "We already sent several codes. Check your inbox and spam folder, or start again from your invitation.")
	}
	user, err := s.Store.GetUser(ctx, hf.WorkspaceID, hf.UserID)
	if err != nil {
		return out, fmt.Errorf("who the flow belongs to: %w", err)
	}
	return out, s.sendCode(ctx, flow, user, c.Email, c.Payload, now)
}

// MaskEmail shows enough of an address for its owner to recognise it and little more:
// "olivia@acme.example" → "o•••a@acme.example".
func MaskEmail(email string) string {
	local, domain, ok := strings.Cut(email, "@")
	if !ok || local == "" {
		return "•••"
	}
	r := []rune(local)
	if len(r) <= 2 {
		return string(r[0]) + "•••@" + domain
	}
	return string(r[0]) + "•••" + string(r[len(r)-1]) + "@" + domain
}

// Pending describes a held flow to the person it belongs to: where the code went and
// which accounts wait for it.
func (s *Service) Pending(ctx context.Context, who Who, flow string) (Outcome, error) {
	c, hf, err := s.heldFor(ctx, who, flow)
	if err != nil {
		return Outcome{}, err
	}
	out := Outcome{WorkspaceID: hf.WorkspaceID, UserID: hf.UserID, Channel: hf.Channel, Flow: flow, CodeSentTo: MaskEmail(c.Email)}
	for _, a := range hf.Accounts {
		out.Pending = append(out.Pending, a.Name)
	}
	return out, nil
}
