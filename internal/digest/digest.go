// Package digest is the reminders function: every 15 minutes it reads the accounts
// whose reminders are due (the remind index, never a scan), asks the reminder policies
// which steps are due, resolves each step's audience to people (honouring opt-outs and
// subscriptions), and emails each recipient one digest of everything that needs them.
//
// Exactly once: every (step, recipient) is claimed with a conditional write before
// its email is sent, and marked sent after. A claim cannot be taken twice, so two runs
// at once, a retried run, or a crash after sending never send it again. A send that
// fails for certain drops its claims, so the next run sends it (never skipped). The one
// case left is a crash during the provider call itself: the claim stays "sending",
// is never re-sent (it may have gone out), and is counted as uncertain in the run
// record. A step is marked done once each of its recipients is settled, which is what
// the policies' "sent" means.
package digest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/relinkhq/relink/internal/account"
	"github.com/relinkhq/relink/internal/channel"
	"github.com/relinkhq/relink/internal/clock"
	"github.com/relinkhq/relink/internal/ident"
	"github.com/relinkhq/relink/internal/magiclink"
	"github.com/relinkhq/relink/internal/mail"
	"github.com/relinkhq/relink/internal/portal"
	"github.com/relinkhq/relink/internal/relink"
	"github.com/relinkhq/relink/internal/reminder"
	"github.com/relinkhq/relink/internal/store"
	"github.com/relinkhq/relink/internal/sweep"
	"github.com/relinkhq/relink/internal/workspace"
)

// FunctionName names the function in run records.
const FunctionName = "reminders"

// StaleClaim is how old a "sending" claim must be to belong to a crashed run: longer
// than the function's timeout (5 minutes), with room to spare.
const StaleClaim = 15 * time.Minute

// lookAgain bounds how long an account in trouble or expiring goes without a look, so
// a settings change (time zone, policy) takes effect within a day at the latest.
const lookAgain = 24 * time.Hour

// Service runs reminders. Every dependency is injected; zero limits take the defaults.
type Service struct {
	Store       store.Store
	Registry    *channel.Registry
	Links       *portal.Links
	Unsubscribe portal.Unsubscriber
	Mail        mail.Sender
	Clock       clock.Clock
	IDs         ident.Generator
	Logger      *slog.Logger
	Fanout      sweep.Fanout // nil: every sweep in one invocation

	Margin      time.Duration // stop starting sends this long before the deadline (default 20s)
	PageSize    int           // due accounts read per page (default 100)
	MaxAccounts int           // accounts one run takes on (default 5000; the rest stay due)

	once sync.Once
}

// Outcomes counted in a run's summary.
const (
	CountAccounts  = "accounts"  // accounts looked at
	CountSteps     = "steps"     // reminder steps due
	CountEmails    = "emails"    // digests sent
	CountItems     = "items"     // (step, recipient) pairs sent
	CountFailed    = "failed"    // pairs whose send failed; sent by a later run
	CountRejected  = "rejected"  // pairs the provider refused for good (a bad address)
	CountTaken     = "taken"     // pairs another run had claimed (sent, or sending now)
	CountUncertain = "uncertain" // pairs left "sending" by a crash: never re-sent
	CountSkipped   = "skipped"   // recipients who opted out
	CountConflicts = "conflicts" // accounts that changed while looked at
)

// Summary is what a run did.
type Summary struct {
	ID         string          `json:"id"`
	StartedAt  time.Time       `json:"started_at"`
	FinishedAt time.Time       `json:"finished_at"`
	Complete   bool            `json:"complete"`
	Counts     map[string]int  `json:"counts"`
	Partition  sweep.Partition `json:"partition"`
}

func (s *Service) defaults() { s.once.Do(s.setDefaults) }

func (s *Service) setDefaults() {
	if s.Margin <= 0 {
		s.Margin = 20 * time.Second
	}
	if s.PageSize <= 0 {
		s.PageSize = 100
	}
	if s.MaxAccounts <= 0 {
		s.MaxAccounts = 5000
	}
	if s.Logger == nil {
		s.Logger = slog.Default()
	}
}

// work is one account's due steps and when to look at it again.
type work struct {
	a     account.Account
	ws    workspace.Workspace
	steps []reminder.Step
	next  time.Time
	open  bool // a step stayed unsettled: look again at the next run
}

// pair is one step for one recipient: the unit that is claimed and sent.
type pair struct {
	w    *work
	step reminder.Step
	to   workspace.User
	cc   bool // copied (an admin), not addressed
	key  string
}

// Handle is the function's entry point: a partition a coordinator handed out is swept
// as such; anything else (the schedule's event) coordinates a whole sweep.
func (s *Service) Handle(ctx context.Context, payload []byte) (Summary, error) {
	s.defaults()
	p, ok, err := sweep.Requested(payload, s.Store.Shards())
	if err != nil {
		return Summary{}, relink.Wrap(err, relink.EINVALID, "The invocation names no valid partition.")
	}
	if ok {
		return s.sweep(ctx, p)
	}
	return s.Run(ctx)
}

// Run coordinates a sweep: when a Fanout is set and the last sweep's pace says one
// invocation cannot finish in time, it starts the other partitions and sweeps
// partition 0 itself; otherwise it sends every due reminder itself.
func (s *Service) Run(ctx context.Context) (Summary, error) {
	s.defaults()
	return s.sweep(ctx, sweep.Coordinate(ctx, s.Fanout, s.Store.Shards(), s.Margin, s.lastLoad,
		func(p sweep.Partition, err error) {
			s.Logger.ErrorContext(ctx, "start sweep partition", "function", FunctionName, "partition", p.Index, "of", p.Count, "err", err)
		}))
}

// CountPartitions, in a coordinator's run record, is how many partitions its sweep had
// (present when more than one).
const CountPartitions = sweep.CountPartitions

// lastLoad is what the last coordinator's run record measured: the accounts it looked
// at. Unreadable records are logged and plan a whole sweep.
func (s *Service) lastLoad(ctx context.Context) (sweep.Load, bool) {
	r, ok, err := store.LastRun(ctx, s.Store, FunctionName)
	if err != nil {
		s.Logger.WarnContext(ctx, "read last run", "function", FunctionName, "err", err)
	}
	if !ok {
		return sweep.Load{}, false
	}
	return sweep.Load{Items: r.Counts[CountAccounts], Took: r.FinishedAt.Sub(r.StartedAt), Complete: r.Complete,
		Partitions: r.Counts[sweep.CountPartitions]}, true
}

// sweep sends every due reminder of partition p until none is left or the deadline
// comes near. The coordinator's (partition 0's) run is recorded.
func (s *Service) sweep(ctx context.Context, p sweep.Partition) (Summary, error) {
	now := s.Clock.Now()
	sum := Summary{ID: s.IDs.New(), StartedAt: now, Counts: map[string]int{}, Complete: true, Partition: p}
	stop := func() bool { return false }
	if dl, ok := ctx.Deadline(); ok {
		stop = func() bool { return time.Until(dl) < s.Margin }
	}
	works, complete, err := s.collect(ctx, p, now, stop, sum.Counts)
	if err != nil {
		return sum, err
	}
	sum.Complete = complete

	pairs, err := s.recipients(ctx, works, sum.Counts)
	if err != nil {
		return sum, err
	}
	byRecipient := map[string][]*pair{}
	var order []string
	for _, p := range pairs {
		id := p.to.WorkspaceID + "/" + p.to.ID
		if _, ok := byRecipient[id]; !ok {
			order = append(order, id)
		}
		byRecipient[id] = append(byRecipient[id], p)
	}
	settled := map[string]bool{} // pair keys settled (sent, rejected, taken, uncertain)
	for _, id := range order {
		if stop() {
			sum.Complete = false
			for _, p := range byRecipient[id] {
				p.w.open = true
			}
			continue
		}
		s.send(ctx, sum.ID, byRecipient[id], settled, sum.Counts)
	}

	// Steps whose every recipient is settled are done; accounts look again later. An
	// account not reached before the deadline keeps its due RemindAt: the next run
	// settles it (its claims stop anything going out twice).
	unsettled := map[string]bool{} // step keys
	for _, p := range pairs {
		if !settled[p.key] {
			unsettled[p.step.Key] = true
		}
	}
	for _, w := range works {
		if stop() {
			sum.Complete = false
			break
		}
		for _, st := range w.steps {
			if unsettled[st.Key] {
				w.open = true
				continue
			}
			if err := s.markDone(ctx, sum.ID, st.Key, now); err != nil {
				s.Logger.ErrorContext(ctx, "mark reminder step done", "account", w.a.ID, "err", err)
				w.open = true
			}
		}
		s.reschedule(ctx, w, now, sum.Counts)
	}
	sum.FinishedAt = s.Clock.Now()
	if p.Index == 0 {
		counts := sweep.Recorded(sum.Counts, p)
		if err := s.Store.PutRun(context.WithoutCancel(ctx), store.Run{Function: FunctionName, ID: sum.ID, StartedAt: sum.StartedAt,
			FinishedAt: sum.FinishedAt, Counts: counts, Complete: sum.Complete}); err != nil {
			s.Logger.ErrorContext(ctx, "record run", "function", FunctionName, "err", err)
		}
	}
	return sum, nil
}

// collect reads the accounts whose reminders are due and the steps due for each.
func (s *Service) collect(ctx context.Context, p sweep.Partition, now time.Time, stop func() bool, counts map[string]int) ([]*work, bool, error) {
	settings := map[string]workspace.Workspace{}
	var works []*work
	var failed error
	read := func(ctx context.Context, shard int, cursor string) ([]account.Account, string, error) {
		got, err := s.Store.RemindersDue(ctx, shard, now, store.Page{Limit: s.PageSize, Cursor: cursor})
		if err != nil {
			return nil, "", fmt.Errorf("read remind shard %d: %w", shard, err)
		}
		return got.Accounts, got.Next, nil
	}
	complete, err := sweep.Read(ctx, p.Shards(s.Store.Shards(), now.Unix()/900), sweep.ReadShards, read,
		func(_ int, accounts []account.Account) bool {
			for _, a := range accounts {
				if stop() || len(works) >= s.MaxAccounts {
					return false
				}
				ws, ok := settings[a.WorkspaceID]
				if !ok {
					var err error
					if ws, err = s.Store.GetWorkspace(ctx, a.WorkspaceID); err != nil {
						failed = fmt.Errorf("workspace of %s: %w", a.ID, err)
						return false
					}
					settings[a.WorkspaceID] = ws
				}
				steps := current(reminder.Due(a, ws.Settings, func(key string) bool { return s.done(ctx, key) }, now), now)
				counts[CountAccounts]++
				counts[CountSteps] += len(steps)
				works = append(works, &work{a: a, ws: ws, steps: steps, next: reminder.NextRun(a, ws.Settings, now)})
			}
			return true
		})
	if failed != nil {
		return works, false, failed
	}
	if err != nil {
		return works, false, err
	}
	return works, complete, nil
}

// maxStepAge is the oldest a due step may be and still be sent. Send records live
// store.SendRetention; a step older than that would look unsent once its record is
// gone and go out a second time, a year late. Steps that old were superseded by
// every reminder since.
const maxStepAge = store.SendRetention - 30*24*time.Hour

// current drops the steps older than maxStepAge.
func current(steps []reminder.Step, now time.Time) []reminder.Step {
	return slices.DeleteFunc(steps, func(st reminder.Step) bool { return now.Sub(st.At) > maxStepAge })
}

// done reports whether a step was marked done. A read failure counts as not done: the
// per-recipient claims still stop anything from going out twice.
func (s *Service) done(ctx context.Context, key string) bool {
	_, err := s.Store.GetSend(ctx, key)
	return err == nil
}

func (s *Service) markDone(ctx context.Context, run, key string, now time.Time) error {
	if _, err := s.Store.ClaimSend(ctx, key, run, now); err != nil {
		return err
	}
	// Claimed by this run, or by a concurrent one that got there first: done either way.
	if err := s.Store.MarkSent(ctx, key, run, "", now); err != nil && relink.ErrorCode(err) != relink.ECONFLICT {
		return err
	}
	return nil
}

// recipients resolves every due step to the people it goes to.
func (s *Service) recipients(ctx context.Context, works []*work, counts map[string]int) ([]*pair, error) {
	people := map[string][]workspace.User{}
	var out []*pair
	for _, w := range works {
		users, ok := people[w.a.WorkspaceID]
		if !ok {
			var err error
			if users, err = s.Store.ListUsers(ctx, w.a.WorkspaceID); err != nil {
				return nil, fmt.Errorf("people of %s: %w", w.a.WorkspaceID, err)
			}
			people[w.a.WorkspaceID] = users
		}
		for _, st := range w.steps {
			seen := map[string]bool{}
			add := func(u workspace.User, cc bool) {
				if seen[u.ID] {
					return
				}
				seen[u.ID] = true
				if u.Preferences.Unsubscribed {
					counts[CountSkipped]++
					return
				}
				out = append(out, &pair{w: w, step: st, to: u, cc: cc, key: st.Key + "#" + u.ID})
			}
			for _, u := range audience(users, w.a, st.To) {
				add(u, u.ID != w.a.OwnerID)
			}
			for _, u := range audience(users, w.a, st.Cc) {
				add(u, true)
			}
		}
	}
	return out, nil
}

// audience resolves a set of recipient kinds to people. Services never get email.
func audience(users []workspace.User, a account.Account, aud reminder.Audience) []workspace.User {
	var out []workspace.User
	for _, u := range users {
		switch {
		case u.Role == workspace.RoleService:
		case aud.Has(reminder.Owner) && u.ID == a.OwnerID,
			aud.Has(reminder.Admins) && u.Role.IsAdmin(),
			aud.Has(reminder.PrimaryAdmin) && u.Role == workspace.RolePrimaryAdmin,
			aud.Has(reminder.SubscribedAdmins) && u.Role.IsAdmin() && u.Preferences.NotifyTrouble:
			out = append(out, u)
		}
	}
	// The owner first: the person who can fix it is addressed, admins are copied.
	slices.SortStableFunc(out, func(x, y workspace.User) int {
		if (x.ID == a.OwnerID) != (y.ID == a.OwnerID) {
			if x.ID == a.OwnerID {
				return -1
			}
			return 1
		}
		return strings.Compare(x.ID, y.ID)
	})
	return out
}

// send claims a recipient's pairs, sends one digest of those it won, and records the
// outcome: sent, or released for the next run.
func (s *Service) send(ctx context.Context, run string, pairs []*pair, settled map[string]bool, counts map[string]int) {
	// Everything the email needs from the store is read and written before anything is
	// claimed: between a claim and the provider call nothing can fail but the call, so
	// a claim left "sending" really may have gone out.
	parts, err := s.prepare(ctx, pairs[0].to, pairs)
	if err != nil {
		s.Logger.WarnContext(ctx, "reminder not prepared; the next run retries", "workspace", pairs[0].to.WorkspaceID,
			"user", pairs[0].to.ID, "err", err)
		counts[CountFailed] += len(pairs)
		return
	}
	now := s.Clock.Now()
	var won []*pair
	for _, p := range pairs {
		ok, err := s.Store.ClaimSend(ctx, p.key, run, now)
		switch {
		case err != nil:
			s.Logger.ErrorContext(ctx, "claim reminder", "account", p.w.a.ID, "err", err)
			counts[CountFailed]++
		case ok:
			won = append(won, p)
		default:
			rec, err := s.Store.GetSend(ctx, p.key)
			switch {
			case err != nil:
				// Released meanwhile, or unreadable: not settled, so the next run looks again.
				counts[CountTaken]++
			case rec.Owner == run && rec.State == store.SendSending &&
				!slices.ContainsFunc(won, func(w *pair) bool { return w.key == p.key }):
				// This run's own claim: the store applied the claim but its answer was lost,
				// and the retried write found the claim already there. Nothing was sent.
				won = append(won, p)
			case rec.State == store.SendSent:
				counts[CountTaken]++
				settled[p.key] = true
			case now.Sub(rec.ClaimedAt) >= StaleClaim:
				// Claimed longer ago than any run lives: that run crashed mid-send. It may
				// have gone out, so it is never sent again.
				counts[CountUncertain]++
				settled[p.key] = true
			default:
				// Another run is sending it right now; if that send fails it releases the
				// claim, so the step stays open until the other run has settled it.
				counts[CountTaken]++
			}
		}
	}
	if len(won) == 0 {
		return
	}
	to := won[0].to
	m, err := letter(s.Registry, to, won, parts)
	if err == nil {
		var id string
		id, err = s.Mail.Send(ctx, m)
		if err == nil {
			for _, p := range won {
				if err := s.Store.MarkSent(ctx, p.key, run, id, s.Clock.Now()); err != nil {
					s.Logger.ErrorContext(ctx, "mark reminder sent", "account", p.w.a.ID, "err", err)
				}
				settled[p.key] = true
			}
			counts[CountEmails]++
			counts[CountItems] += len(won)
			return
		}
	}
	if relink.ErrorCode(err) == relink.EINVALID {
		// Refused for good (a rejected address): retrying cannot help; it is recorded
		// as settled, and the failure is logged for an admin to fix the address.
		s.Logger.WarnContext(ctx, "reminder refused by the email provider", "workspace", to.WorkspaceID, "user", to.ID, "err", err)
		for _, p := range won {
			if err := s.Store.MarkSent(ctx, p.key, run, "rejected", s.Clock.Now()); err == nil {
				settled[p.key] = true
			}
		}
		counts[CountRejected] += len(won)
		return
	}
	s.Logger.WarnContext(ctx, "reminder not sent; the next run retries", "workspace", to.WorkspaceID, "user", to.ID, "err", err)
	for _, p := range won {
		if err := s.Store.ReleaseSend(ctx, p.key, run); err != nil {
			if _, gerr := s.Store.GetSend(ctx, p.key); relink.ErrorCode(gerr) == relink.ENOTFOUND {
				continue // released after all: a retried delete whose first attempt landed
			}
			s.Logger.ErrorContext(ctx, "release reminder claim", "account", p.w.a.ID, "err", err)
		}
	}
	counts[CountFailed] += len(won)
}

// parts are what a digest needs from the store, fetched before any claim.
type parts struct {
	names       map[string]string // owner ID → name
	url         string            // the recipient's personal link ("" if copied on everything)
	linkExpires time.Time
	unsubscribe string
}

// prepare reads the owners' names and issues the recipient's personal link (when the
// recipient owns any of the accounts) and opt-out link.
func (s *Service) prepare(ctx context.Context, to workspace.User, pairs []*pair) (parts, error) {
	pp := parts{names: map[string]string{}}
	owns := false
	for _, p := range pairs {
		owns = owns || !p.cc
		id := p.w.a.OwnerID
		if _, ok := pp.names[id]; ok {
			continue
		}
		u, err := s.Store.GetUser(ctx, p.w.a.WorkspaceID, id)
		switch {
		case err == nil:
			pp.names[id] = nameOr(u.Name, u.Email)
		case relink.ErrorCode(err) == relink.ENOTFOUND:
			pp.names[id] = id
		default:
			return parts{}, err
		}
	}
	if owns {
		url, l, err := s.Links.Issue(ctx, magiclink.Spec{WorkspaceID: to.WorkspaceID, UserID: to.ID, Email: to.Email,
			Purpose: magiclink.PurposeReconnect})
		if err != nil {
			return parts{}, err
		}
		pp.url, pp.linkExpires = url, l.ExpiresAt
	}
	var err error
	if pp.unsubscribe, err = s.Unsubscribe.URL(ctx, to.WorkspaceID, to.ID); err != nil {
		return parts{}, err
	}
	return pp, nil
}

// letter writes one recipient's digest from the pairs it won: one item per account (its
// latest due step), the owner's personal link, and the opt-out link. It does no I/O.
func letter(reg *channel.Registry, to workspace.User, pairs []*pair, pp parts) (mail.Message, error) {
	type entry struct {
		a    account.Account
		step reminder.Step
	}
	latest := map[string]entry{}
	var order []string
	copied := true
	for _, p := range pairs {
		if !p.cc {
			copied = false
		}
		e, ok := latest[p.w.a.ID]
		if !ok {
			order = append(order, p.w.a.ID)
		}
		if !ok || p.step.At.After(e.step.At) {
			latest[p.w.a.ID] = entry{a: p.w.a, step: p.step}
		}
	}
	// Accounts in name order: a digest that reads the same way every time.
	slices.SortStableFunc(order, func(x, y string) int {
		return strings.Compare(strings.ToLower(latest[x].a.DisplayName), strings.ToLower(latest[y].a.DisplayName))
	})
	d := mail.DigestLetter{Name: to.Name, Copied: copied, Workspace: pairs[0].w.ws.Name, Unsubscribe: pp.unsubscribe}
	for _, id := range order {
		e := latest[id]
		d.Items = append(d.Items, Item(reg, e.a, e.step.Kind, pp.names[e.a.OwnerID]))
	}
	// The owner gets a personal link to reconnect; copied admins are told the owner has it.
	if !copied {
		d.URL, d.LinkExpiresAt = pp.url, pp.linkExpires
	}
	m, err := mail.Compose("digest", d, []string{to.Email}, nil)
	if err != nil {
		return mail.Message{}, err
	}
	m.Tags["kind"] = "reminder"
	return m, nil
}

func nameOr(name, fallback string) string {
	if name != "" {
		return name
	}
	return fallback
}

// reschedule moves the account's remind time on: to the next step (at most a day away
// while it is in trouble or expiring), or to now when something stayed unsettled so
// the next run tries again.
func (s *Service) reschedule(ctx context.Context, w *work, now time.Time, counts map[string]int) {
	next := w.next
	if !next.IsZero() && next.After(now.Add(lookAgain)) {
		next = now.Add(lookAgain)
	}
	if w.open {
		next = now
	}
	if next.Equal(w.a.RemindAt) {
		return
	}
	err := s.Store.Apply(ctx, account.Reminded(w.a, next, now))
	if relink.ErrorCode(err) == relink.ECONFLICT {
		// Changed meanwhile: whoever changed it set RemindAt afresh where it matters,
		// and an account left due is looked at next run (its claims stop repeats).
		counts[CountConflicts]++
		return
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		s.Logger.ErrorContext(ctx, "reschedule reminders", "account", w.a.ID, "err", err)
	}
}
