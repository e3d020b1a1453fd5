package account

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/relinkhq/relink/internal/relink"
	"github.com/relinkhq/relink/internal/workspace"
)

// Action is what is done to an account. Every change goes through Transition.
type Action string

const (
	ActCreate        Action = "create"         // new account (pending, or connected when created by OAuth)
	ActAuthorize     Action = "authorize"      // OAuth completed: connect or re-add, in place
	ActProbe         Action = "probe"          // a probe or refresh found the token valid
	ActDisconnect    Action = "disconnect"     // token expired, revoked or invalidated
	ActNoteTransient Action = "note_transient" // a transient failure: recorded, nothing changes
	ActDeactivate    Action = "deactivate"     // switched off on purpose
	ActActivate      Action = "activate"       // switched back on; token must still be valid
	ActTransfer      Action = "transfer"       // to another owner
	ActDelete        Action = "delete"         // soft delete, guarded
	ActRestore       Action = "restore"        // undo a soft delete within retention
	// ActReport records a failure another system saw that changes nothing by itself (a
	// transient error, a refused request, a permission the publisher lacked): it goes
	// into the audit trail and the account is checked at the next run, which decides.
	ActReport Action = "report"
)

// Actions lists every action.
var Actions = []Action{ActCreate, ActAuthorize, ActProbe, ActDisconnect, ActNoteTransient,
	ActDeactivate, ActActivate, ActTransfer, ActDelete, ActRestore, ActReport}

// Retention is how long a soft-deleted account stays restorable.
const Retention = 30 * 24 * time.Hour

// ProbeInterval is how long a token goes unchecked at most.
const ProbeInterval = 24 * time.Hour

// moves is the table of allowed moves: the states each action may start from. Where
// the action lands is decided by the action (and, for some, by what the token showed).
var moves = map[Action][]State{
	ActCreate:        {StateNone},
	ActAuthorize:     {StatePending, StateActive, StateActionRequired, StateDisconnected, StateDeactivated},
	ActProbe:         {StateActive, StateActionRequired, StateDisconnected},
	ActDisconnect:    {StateActive, StateActionRequired, StateDisconnected},
	ActNoteTransient: {StateActive, StateActionRequired, StateDisconnected},
	ActDeactivate:    {StatePending, StateActive, StateActionRequired, StateDisconnected},
	ActActivate:      {StateDeactivated},
	ActTransfer:      {StatePending, StateActive, StateActionRequired, StateDisconnected, StateDeactivated},
	ActDelete:        {StatePending, StateActive, StateActionRequired, StateDisconnected, StateDeactivated},
	ActRestore:       {StateDeleted},
	ActReport:        {StateActive, StateActionRequired, StateDisconnected, StateDeactivated},
}

// Allowed reports whether action may start from state (ignoring who asks and inputs).
func Allowed(from State, action Action) bool { return slices.Contains(moves[action], from) }

// Actor is who asks for a change: a person or service of the workspace, or one of
// Relink's own scheduled functions.
type Actor struct {
	ID     string
	Role   workspace.Role // empty for system actors
	System bool
}

// SystemActor names one of Relink's own functions as the actor.
func SystemActor(name string) Actor { return Actor{ID: name, System: true} }

// Command is one requested change. At and EventID come from the injected clock and ID
// generator so that Transition stays pure.
type Command struct {
	Action  Action
	Actor   Actor
	At      time.Time
	EventID string

	Reason       string        // Disconnect, NoteTransient (defaults to "transient")
	ChannelError *ChannelError // Disconnect, NoteTransient
	Grant        *Grant        // Authorize (required), Probe and Activate (what the token showed)
	TokenValid   bool          // Activate: the caller probed the token just now
	NewOwnerID   string        // Transfer
	Confirmation string        // Delete: the account name, typed by the person
	Note         string        // free text from a person, kept in the audit trail
}

// Effect is a side effect a change asks for. Transition only returns them; services
// carry them out.
type Effect string

const (
	EffectStartReminders    Effect = "start_reminders"    // entered a troubled state
	EffectStopReminders     Effect = "stop_reminders"     // left a troubled state
	EffectNotifySubscribers Effect = "notify_subscribers" // account-group subscribers hear of it
	EffectOwnerChanged      Effect = "owner_changed"      // reminders follow the new owner
	EffectRecheck           Effect = "recheck"            // probe the token at the next run
)

// Event is one entry of an account's audit trail.
type Event struct {
	WorkspaceID  string
	AccountID    string
	ID           string
	Version      int64 // the account version this change produced: unique and ordered
	At           time.Time
	Actor        Actor
	Action       Action
	From         State
	To           State
	Reason       string
	ChannelError *ChannelError
	Missing      []string // names of missing permissions after the change
	FromOwner    string
	ToOwner      string
	Note         string
}

// Change is the outcome of a transition: the account before (whose version the write
// must still find) and after, the audit event, and the side effects.
type Change struct {
	Before  Account
	After   Account
	Event   *Event // nil for a quiet change: bookkeeping only, nothing a person would audit
	Effects []Effect
}

// reasonPattern is a reason code's shape; its length (at most maxReasonLen) is checked
// apart: a bounded repetition would compile into a program of 64 copies, about a
// millisecond of every cold start.
var reasonPattern = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

const maxReasonLen = 64

func validReason(r string) bool { return len(r) <= maxReasonLen && reasonPattern.MatchString(r) }

const maxNoteLen = 1000

// New creates an account from spec: pending, or connected when spec carries a grant.
func New(spec Spec, cmd Command) (Change, error) {
	cmd.Action = ActCreate
	if err := spec.validate(); err != nil {
		return Change{}, err
	}
	if err := checkCommand(cmd); err != nil {
		return Change{}, err
	}
	a := Account{
		WorkspaceID: spec.WorkspaceID, ID: spec.ID, Channel: spec.Channel, ExternalID: spec.ExternalID,
		DisplayName: strings.TrimSpace(spec.DisplayName), OwnerID: spec.OwnerID, Kind: spec.Kind,
		ParentProfileID: spec.ParentProfileID, State: StatePending, CreatedAt: cmd.At,
	}
	after := a
	if spec.Grant != nil {
		after = applyGrant(after, *spec.Grant, cmd.At)
	}
	return finish(Account{}, after, cmd)
}

// Transition applies cmd to a. It checks the move is allowed and the actor may make
// it, and returns the change with the version bumped; it never performs side effects.
func Transition(a Account, cmd Command) (Change, error) {
	if cmd.Action == ActCreate {
		return Change{}, illegal(a.State, cmd.Action)
	}
	if !Allowed(a.State, cmd.Action) {
		return Change{}, illegal(a.State, cmd.Action)
	}
	if err := checkCommand(cmd); err != nil {
		return Change{}, err
	}
	if err := permitted(a, cmd.Actor, cmd.Action); err != nil {
		return Change{}, err
	}
	after := a
	switch cmd.Action {
	case ActAuthorize:
		if cmd.Grant == nil {
			return Change{}, relink.Errorf(relink.EINVALID, "Authorize needs the grant the channel returned.")
		}
		after = applyGrant(after, *cmd.Grant, cmd.At)
	case ActProbe:
		after = applyGrant(after, a.grantOr(cmd.Grant), cmd.At)
	case ActDisconnect:
		after.State = StateDisconnected
		after.Reason = cmd.Reason
		after.ChannelError = cmd.ChannelError
		after.TransientFailures, after.TransientSince = 0, time.Time{}
		after.LastProbeAt = cmd.At
	case ActNoteTransient:
		if cmd.Reason == "" {
			cmd.Reason = ReasonTransient
		}
		after.TransientFailures++
		if after.TransientSince.IsZero() {
			after.TransientSince = cmd.At
		}
	case ActDeactivate:
		after.State = StateDeactivated
	case ActActivate:
		if !cmd.TokenValid {
			return Change{}, relink.Errorf(relink.EREAUTH,
				"The token of %q is no longer valid; re-add the account to reconnect it.", a.DisplayName)
		}
		after = applyGrant(after, a.grantOr(cmd.Grant), cmd.At)
	case ActTransfer:
		if cmd.NewOwnerID == "" || len(cmd.NewOwnerID) > maxIDLen {
			return Change{}, relink.Errorf(relink.EINVALID, "Choose the owner to transfer the account to.")
		}
		if cmd.NewOwnerID == a.OwnerID {
			return Change{}, relink.Errorf(relink.EINVALID, "The account already belongs to that owner.")
		}
		after.OwnerID = cmd.NewOwnerID
	case ActDelete:
		if strings.TrimSpace(cmd.Confirmation) != a.DisplayName {
			return Change{}, relink.Errorf(relink.EINVALID,
				"To delete, type the account name exactly as shown: %q.", a.DisplayName)
		}
		after.PreviousState = a.State
		after.State = StateDeleted
		after.DeletedAt = cmd.At
		after.PurgeAt = cmd.At.Add(Retention)
	case ActReport:
		if cmd.Reason == "" {
			cmd.Reason = ReasonReported
		}
	case ActRestore:
		if a.Gone(cmd.At) {
			return Change{}, relink.Errorf(relink.ENOTFOUND,
				"The account was deleted more than %d days ago and can no longer be restored.", int(Retention.Hours()/24))
		}
		after.State = a.PreviousState
		if after.State == StateNone || after.State == StateDeleted {
			after.State = StateDeactivated
		}
		after.PreviousState = ""
		after.DeletedAt, after.PurgeAt = time.Time{}, time.Time{}
	}
	return finish(a, after, cmd)
}

// grantOr returns g, or, when the caller learned nothing new, the grant a already has.
func (a Account) grantOr(g *Grant) Grant {
	if g != nil {
		return *g
	}
	return Grant{Scopes: a.Scopes, Tasks: a.Tasks, Missing: a.Missing, Refreshable: a.Refreshable,
		TokenExpiresAt: a.TokenExpiresAt, RefreshExpiresAt: a.RefreshExpiresAt}
}

// applyGrant records what the token showed: connected, fully or with permissions missing.
func applyGrant(a Account, g Grant, at time.Time) Account {
	a.Scopes = slices.Clone(g.Scopes)
	a.Tasks = slices.Clone(g.Tasks)
	a.Missing = slices.Clone(g.Missing)
	a.Refreshable = g.Refreshable
	a.TokenExpiresAt = g.TokenExpiresAt
	a.RefreshExpiresAt = g.RefreshExpiresAt
	a.LastProbeAt = at
	a.TransientFailures, a.TransientSince = 0, time.Time{}
	a.ChannelError = nil
	if len(g.Missing) > 0 {
		a.State = StateActionRequired
		a.Reason = ReasonPermissionMissing
	} else {
		a.State = StateActive
		a.Reason = ""
	}
	return a
}

// finish bumps the version, stamps times, schedules, and derives the event and effects.
func finish(before, after Account, cmd Command) (Change, error) {
	after.Version = before.Version + 1
	after.UpdatedAt = cmd.At
	if after.State != before.State {
		if after.State.Troubled() {
			after.TroubleSince = cmd.At
		} else {
			after.TroubleSince = time.Time{}
		}
	}
	after.DueAt = Schedule(after, cmd.At)
	if cmd.Action == ActRestore || cmd.Action == ActReport {
		after.DueAt = scheduledNow(after, cmd.At)
	}
	after.RemindAt = remindAt(before, after, cmd.At)

	var effects []Effect
	if after.State.Troubled() && after.State != before.State {
		effects = append(effects, EffectStartReminders)
	}
	if before.State.Troubled() && !after.State.Troubled() {
		effects = append(effects, EffectStopReminders)
	}
	if cmd.Action == ActDeactivate || cmd.Action == ActDelete {
		effects = append(effects, EffectNotifySubscribers)
	}
	if after.OwnerID != before.OwnerID && before.State != StateNone {
		effects = append(effects, EffectOwnerChanged)
	}
	if (cmd.Action == ActRestore || cmd.Action == ActReport) && !after.DueAt.IsZero() {
		effects = append(effects, EffectRecheck)
	}

	c := Change{Before: before, After: after, Effects: effects}
	if !quiet(before, after, cmd.Action) {
		c.Event = &Event{
			WorkspaceID: after.WorkspaceID, AccountID: after.ID, ID: cmd.EventID, Version: after.Version,
			At: cmd.At, Actor: cmd.Actor, Action: cmd.Action, From: before.State, To: after.State,
			Reason: after.Reason, ChannelError: cmd.ChannelError, Missing: missingNames(after.Missing),
			Note: strings.TrimSpace(cmd.Note),
		}
		if cmd.Action == ActNoteTransient || cmd.Action == ActReport {
			c.Event.Reason = cmd.Reason
		}
		if before.OwnerID != after.OwnerID {
			c.Event.FromOwner, c.Event.ToOwner = before.OwnerID, after.OwnerID
		}
	}
	return c, nil
}

// quiet reports a change nobody would audit: a scheduled probe or repeated report that
// found the account as it was. Anything a person asks for is always audited.
func quiet(before, after Account, action Action) bool {
	switch action {
	case ActProbe, ActDisconnect:
		return before.State == after.State && before.Reason == after.Reason &&
			slices.Equal(missingNames(before.Missing), missingNames(after.Missing))
	}
	return false
}

func missingNames(m []MissingPermission) []string {
	if len(m) == 0 {
		return nil
	}
	names := make([]string, len(m))
	for i, p := range m {
		names[i] = p.Name
	}
	return names
}

// Schedule returns when the expiry check should next look at a: the next probe, the
// next refresh, or the hard expiry, whichever comes first; after transient failures,
// the next attempt of an exponential back-off instead, so one account is never
// hammered. Accounts nobody checks (pending, deactivated, deleted, and disconnected
// ones whose token is dead) are not scheduled (zero). An account disconnected because
// its channel was unreachable is tried again every few hours: it may come back.
func Schedule(a Account, now time.Time) time.Time {
	switch a.State {
	case StateActive, StateActionRequired:
	case StateDisconnected:
		if a.Reason == ReasonUnreachable {
			return now.Add(UnreachableRecheck)
		}
		return time.Time{}
	default:
		return time.Time{}
	}
	last := a.LastProbeAt
	if last.IsZero() || last.After(now) {
		last = now
	}
	due := last.Add(ProbeInterval)
	renew := refreshAt(a)
	if a.TransientFailures > 0 {
		// The back-off holds even for a token due renewal: renewing is a call too.
		due, renew = now.Add(Backoff(a.TransientFailures)), time.Time{}
	}
	for _, t := range []time.Time{a.HardExpiry(), renew} {
		if !t.IsZero() && t.Before(due) {
			due = t
		}
	}
	if due.Before(now) {
		due = now
	}
	return due
}

// Transient failures are retried after 1, 2, 4 hours, then every 6 hours.
const (
	firstBackoff       = time.Hour
	maxBackoff         = 6 * time.Hour
	UnreachableRecheck = 6 * time.Hour
)

// Backoff is the wait before the next attempt after n consecutive transient failures.
func Backoff(n int) time.Duration {
	if n <= 0 {
		return 0
	}
	d := firstBackoff
	for i := 1; i < n && d < maxBackoff; i++ {
		d *= 2
	}
	return min(d, maxBackoff)
}

// remindAt keeps the reminders' look-again time: the change's time when anything a
// reminder depends on changed (state, owner, reason, a nearer hard expiry), what it
// was otherwise, and zero for accounts nothing is ever reminded of.
func remindAt(before, after Account, at time.Time) time.Time {
	needs := after.State.Troubled() ||
		(after.State == StateActive || after.State == StateActionRequired) && !after.HardExpiry().IsZero()
	switch {
	case !needs:
		return time.Time{}
	case before.RemindAt.IsZero() || before.State != after.State || before.OwnerID != after.OwnerID ||
		before.Reason != after.Reason || endsSooner(before.HardExpiry(), after.HardExpiry()):
		return at
	}
	return before.RemindAt
}

// endsSooner reports whether the token's hard end appeared or came nearer, so a
// reminder may be due before the look already planned. A later end needs no look now:
// the planned one, at most a day away, still comes; and renewals that slide the end
// (rotating refresh tokens renewed every hour) would otherwise have the reminders look
// at the account after every renewal.
func endsSooner(before, after time.Time) bool {
	return !after.IsZero() && (before.IsZero() || after.Before(before))
}

// refreshAt is when a refreshable access token should be renewed: an hour before it
// lapses, so one missed hourly run does not cost the token — but not before half its
// life since the last check, or an hour-long token would be renewed on every run.
func refreshAt(a Account) time.Time {
	if !a.Refreshable || a.TokenExpiresAt.IsZero() {
		return time.Time{}
	}
	at := a.TokenExpiresAt.Add(-time.Hour)
	if !a.LastProbeAt.IsZero() && a.TokenExpiresAt.After(a.LastProbeAt) {
		if half := a.LastProbeAt.Add(a.TokenExpiresAt.Sub(a.LastProbeAt) / 2); half.After(at) {
			at = half
		}
	}
	return at
}

// Reminded is the quiet change the reminders function makes after looking at an
// account: only when it should look again moves (next; zero for never).
func Reminded(a Account, next, at time.Time) Change {
	after := a
	after.Version = a.Version + 1
	after.RemindAt = next
	return Change{Before: a, After: after}
}

func scheduledNow(a Account, now time.Time) time.Time {
	if Schedule(a, now).IsZero() {
		return time.Time{}
	}
	return now
}

func checkCommand(cmd Command) error {
	if cmd.At.IsZero() {
		return relink.Errorf(relink.EINVALID, "A change needs a time.")
	}
	if cmd.EventID == "" {
		return relink.Errorf(relink.EINVALID, "A change needs an event ID.")
	}
	if cmd.Actor.ID == "" {
		return relink.Errorf(relink.EINVALID, "A change needs an actor.")
	}
	if len(cmd.Note) > maxNoteLen {
		return relink.Errorf(relink.EINVALID, "The note is too long (%d characters at most).", maxNoteLen)
	}
	switch cmd.Action {
	case ActDisconnect:
		if !validReason(cmd.Reason) {
			return relink.Errorf(relink.EINVALID, "A disconnect needs a reason code.")
		}
	case ActNoteTransient, ActReport:
		if cmd.Reason != "" && !validReason(cmd.Reason) {
			return relink.Errorf(relink.EINVALID, "Reason codes are lower-case words joined by underscores.")
		}
	}
	return nil
}

// permitted checks that the actor may make this change. The API checks roles too; this
// keeps the domain rules true whoever calls.
func permitted(a Account, actor Actor, action Action) error {
	role := actor.Role
	switch action {
	case ActAuthorize:
		if role.IsAdmin() || actor.System || (role == workspace.RoleOwner && actor.ID == a.OwnerID) {
			return nil
		}
	case ActProbe, ActDisconnect, ActNoteTransient, ActReport:
		if actor.System || role == workspace.RoleService || role.IsAdmin() {
			return nil
		}
	case ActDeactivate, ActActivate, ActTransfer, ActRestore:
		if role.IsAdmin() {
			return nil
		}
	case ActDelete:
		if role == workspace.RolePrimaryAdmin {
			return nil
		}
		return relink.Errorf(relink.EFORBIDDEN, "Only the workspace's primary admin can delete accounts.")
	}
	return relink.Errorf(relink.EFORBIDDEN, "You are not allowed to %s this account.", verbs[action])
}

// verbs phrase each action for messages to people.
var verbs = map[Action]string{
	ActCreate: "create", ActAuthorize: "reconnect", ActProbe: "check", ActDisconnect: "disconnect",
	ActNoteTransient: "record a failure on", ActDeactivate: "deactivate", ActActivate: "activate",
	ActTransfer: "transfer", ActDelete: "delete", ActRestore: "restore", ActReport: "report a failure on",
}

func illegal(from State, action Action) error {
	name := string(from)
	if from == StateNone {
		name = "not yet created"
	}
	return &relink.Error{
		Code:    relink.EILLEGAL,
		Message: fmt.Sprintf("Cannot %s an account that is %s.", verbs[action], strings.ReplaceAll(name, "_", " ")),
	}
}
