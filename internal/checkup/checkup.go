// Package checkup is the hourly expiry check: it reads the accounts that are due (the
// due index, never a scan), renews what can be renewed, asks each channel whether the
// tokens still work, and moves accounts accordingly — disconnected with the channel's
// reason, action required with what is missing, back to active. Transient failures
// never disconnect: they back off and, only after four days of nothing but failures,
// the account is marked unreachable. A run stops before its deadline and the next run
// resumes where the due index says.
package checkup

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
	"golang.org/x/time/rate"

	"github.com/relinkhq/relink/internal/account"
	"github.com/relinkhq/relink/internal/channel"
	"github.com/relinkhq/relink/internal/clock"
	"github.com/relinkhq/relink/internal/ident"
	"github.com/relinkhq/relink/internal/probe"
	"github.com/relinkhq/relink/internal/relink"
	"github.com/relinkhq/relink/internal/store"
	"github.com/relinkhq/relink/internal/sweep"
	"github.com/relinkhq/relink/internal/vault"
)

// FunctionName names the function in run records and audit trails.
const FunctionName = "expiry-check"

// UnreachableAfter is how long an account may fail only transiently before it is
// marked disconnected as unreachable.
const UnreachableAfter = 4 * 24 * time.Hour

// Prober checks and renews tokens (probe.Prober).
type Prober interface {
	Check(ctx context.Context, ch channel.Channel, a account.Account, t vault.Tokens) (probe.Result, error)
	Refresh(ctx context.Context, ch channel.Channel, a account.Account, t vault.Tokens) (vault.Tokens, account.Grant, error)
}

// Service runs checks. Every dependency is injected; zero limits take the defaults.
type Service struct {
	Store    store.Store
	Registry *channel.Registry
	Vault    *vault.Vault
	Prober   Prober
	Clock    clock.Clock
	IDs      ident.Generator
	Logger   *slog.Logger
	Fanout   sweep.Fanout // nil: every sweep in one invocation

	Workers        int           // accounts in flight at once (default 16)
	PerChannel     int           // accounts of one channel in flight at once (default 4)
	RatePerChannel float64       // calls per second to one channel (default 5)
	Margin         time.Duration // stop starting work this long before the deadline (default 20s)
	PageSize       int           // due accounts read per page (default 100)

	once     sync.Once
	mu       sync.Mutex
	slots    map[string]chan struct{}
	limiters map[string]*rate.Limiter
	logins   map[string]*sync.Mutex
	logged   map[string]time.Time // channel and error code → when last logged
}

func (s *Service) defaults() {
	s.once.Do(func() {
		if s.Workers <= 0 {
			s.Workers = 16
		}
		if s.PerChannel <= 0 {
			s.PerChannel = 4
		}
		if s.RatePerChannel <= 0 {
			s.RatePerChannel = 5
		}
		if s.Margin <= 0 {
			s.Margin = 20 * time.Second
		}
		if s.PageSize <= 0 {
			s.PageSize = 100
		}
		if s.Logger == nil {
			s.Logger = slog.Default()
		}
		s.slots, s.limiters, s.logins = map[string]chan struct{}{}, map[string]*rate.Limiter{}, map[string]*sync.Mutex{}
		s.logged = map[string]time.Time{}
	})
}

// Outcomes a check of one account can have; Summary counts them.
const (
	OutcomeChecked      = "checked"      // the token works (state may have moved: permissions)
	OutcomeRefreshed    = "refreshed"    // renewed, and the renewal shows it works
	OutcomeDisconnected = "disconnected" // the channel says the token is dead, or it expired
	OutcomeTransient    = "transient"    // the channel did not answer usefully: try later
	OutcomeUnreachable  = "unreachable"  // four days of nothing but transient failures
	OutcomeSkipped      = "skipped"      // no longer due (changed meanwhile) or gone
	OutcomeFailed       = "failed"       // our own fault (keys, store); logged, tried next run
)

// Summary is what a run did.
type Summary struct {
	ID         string          `json:"id"`
	StartedAt  time.Time       `json:"started_at"`
	FinishedAt time.Time       `json:"finished_at"`
	Complete   bool            `json:"complete"` // false: stopped at the deadline; the next run resumes
	Counts     map[string]int  `json:"counts"`
	Partition  sweep.Partition `json:"partition"`
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
// partition 0 itself; otherwise it sweeps everything.
func (s *Service) Run(ctx context.Context) (Summary, error) {
	s.defaults()
	return s.sweep(ctx, sweep.Coordinate(ctx, s.Fanout, s.Store.Shards(), s.Margin, s.lastLoad,
		func(p sweep.Partition, err error) {
			s.Logger.ErrorContext(ctx, "start sweep partition", "function", FunctionName, "partition", p.Index, "of", p.Count, "err", err)
		}))
}

// lastLoad is what the last coordinator's run record measured: every outcome counts as
// an item. Unreadable records are logged and plan a whole sweep.
func (s *Service) lastLoad(ctx context.Context) (sweep.Load, bool) {
	r, ok, err := store.LastRun(ctx, s.Store, FunctionName)
	if err != nil {
		s.Logger.WarnContext(ctx, "read last run", "function", FunctionName, "err", err)
	}
	if !ok {
		return sweep.Load{}, false
	}
	l := sweep.Load{Took: r.FinishedAt.Sub(r.StartedAt), Complete: r.Complete, Partitions: r.Counts[sweep.CountPartitions]}
	for k, v := range r.Counts {
		if k != sweep.CountPartitions {
			l.Items += v
		}
	}
	return l, true
}

// CountPartitions, in a coordinator's counts, is how many partitions its sweep had.
const CountPartitions = sweep.CountPartitions

// sweep checks every due account of partition p until none is left or the deadline
// (ctx's, minus the margin) comes near. Work in flight at the deadline finishes;
// nothing is cut halfway. The coordinator's (partition 0's) run is recorded.
func (s *Service) sweep(ctx context.Context, p sweep.Partition) (Summary, error) {
	start := s.Clock.Now()
	sum := Summary{ID: s.IDs.New(), StartedAt: start, Counts: map[string]int{}, Partition: p}
	stop := func() bool { return false }
	if dl, ok := ctx.Deadline(); ok {
		stop = func() bool { return time.Until(dl) < s.Margin }
	}
	var mu sync.Mutex
	count := func(o string) { mu.Lock(); sum.Counts[o]++; mu.Unlock() }

	g, gctx := errgroup.WithContext(context.WithoutCancel(ctx))
	g.SetLimit(s.Workers)
	read := func(ctx context.Context, shard int, cursor string) ([]account.Account, string, error) {
		got, err := s.Store.DueAccounts(ctx, shard, start, store.Page{Limit: s.PageSize, Cursor: cursor})
		if err != nil {
			return nil, "", fmt.Errorf("read due shard %d: %w", shard, err)
		}
		return got.Accounts, got.Next, nil
	}
	complete, err := sweep.Read(ctx, p.Shards(s.Store.Shards(), start.Unix()/3600), sweep.ReadShards, read,
		func(_ int, accounts []account.Account) bool {
			for _, a := range accounts {
				if stop() {
					return false
				}
				g.Go(func() error {
					count(s.checkOne(gctx, ctx, a))
					return nil
				})
			}
			return !stop()
		})
	_ = g.Wait() // what started finishes, even after a failed read
	if err != nil {
		return sum, err
	}
	sum.Complete, sum.FinishedAt = complete, s.Clock.Now()
	if p.Index == 0 {
		rec := sum
		rec.Counts = sweep.Recorded(sum.Counts, p)
		s.record(ctx, rec)
	}
	return sum, nil
}

// record stores the run for the dashboard; a failure to is logged, not fatal.
func (s *Service) record(ctx context.Context, sum Summary) {
	if err := s.Store.PutRun(context.WithoutCancel(ctx), store.Run{Function: FunctionName, ID: sum.ID, StartedAt: sum.StartedAt,
		FinishedAt: sum.FinishedAt, Counts: sum.Counts, Complete: sum.Complete}); err != nil {
		s.Logger.ErrorContext(ctx, "record run", "function", FunctionName, "err", err)
	}
}

// slot takes one of the channel's in-flight slots and returns its release.
func (s *Service) slot(ctx context.Context, ch string) (func(), error) {
	s.mu.Lock()
	c, ok := s.slots[ch]
	if !ok {
		c = make(chan struct{}, s.PerChannel)
		s.slots[ch] = c
	}
	s.mu.Unlock()
	select {
	case c <- struct{}{}:
		return func() { <-c }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// wait paces calls to one channel.
func (s *Service) wait(ctx context.Context, ch string) error {
	s.mu.Lock()
	l, ok := s.limiters[ch]
	if !ok {
		l = rate.NewLimiter(rate.Limit(s.RatePerChannel), 1)
		s.limiters[ch] = l
	}
	s.mu.Unlock()
	return l.Wait(ctx)
}

// firstInAWhile reports whether a failure of this kind on this channel was not logged
// in the last hour: a missing app credential fails every account of the channel on
// every run, and one line an hour says it as well as thousands.
func (s *Service) firstInAWhile(channelID, code string) bool {
	key := channelID + "\x00" + code
	now := s.Clock.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if last, ok := s.logged[key]; ok && now.Sub(last) < time.Hour {
		return false
	}
	s.logged[key] = now
	return true
}

// login serialises the accounts of one login (a LinkedIn member's pages, a Google
// account's channels): they share a refresh token, and with rotating refresh tokens
// two renewals at once would spend it twice and disconnect the loser.
func (s *Service) login(a account.Account) (unlock func()) {
	if a.ParentProfileID == "" {
		return func() {}
	}
	key := a.WorkspaceID + "\x00" + a.Channel + "\x00" + a.ParentProfileID
	s.mu.Lock()
	m, ok := s.logins[key]
	if !ok {
		m = &sync.Mutex{}
		s.logins[key] = m
	}
	s.mu.Unlock()
	m.Lock()
	return m.Unlock
}

// checkOne checks one due account, re-reading and deciding again once if it changed
// under the check (a reconnect, an admin). Failures that are ours are logged here.
func (s *Service) checkOne(ctx, logCtx context.Context, a account.Account) string {
	release, err := s.slot(ctx, a.Channel)
	if err != nil {
		return OutcomeSkipped
	}
	defer release()
	defer s.login(a)()
	for attempt := 0; ; attempt++ {
		outcome, err := s.decide(ctx, a)
		if err == nil {
			return outcome
		}
		if errors.Is(err, probe.ErrRenewing) {
			return OutcomeSkipped // another run is renewing it right now; it stays due
		}
		if relink.ErrorCode(err) == relink.ECONFLICT && attempt > 0 {
			return OutcomeSkipped // changed twice under us (the reminders' bookkeeping, an admin): it stays due
		}
		if relink.ErrorCode(err) == relink.ECONFLICT {
			fresh, gerr := s.Store.GetAccount(ctx, a.WorkspaceID, a.ID)
			if gerr != nil || fresh.DueAt.IsZero() || fresh.DueAt.After(s.Clock.Now()) {
				return OutcomeSkipped // gone, or no longer due: whoever changed it decided
			}
			a = fresh
			continue
		}
		if s.firstInAWhile(a.Channel, relink.ErrorCode(err)) {
			s.Logger.ErrorContext(logCtx, "check account", "workspace", a.WorkspaceID, "account", a.ID, "channel", a.Channel, "err", err)
		}
		return OutcomeFailed
	}
}

var system = account.SystemActor(FunctionName)

// decide checks a and applies what the channel said. It returns ECONFLICT when the
// account moved on meanwhile.
func (s *Service) decide(ctx context.Context, a account.Account) (string, error) {
	ch, err := s.Registry.Get(a.Channel)
	if err != nil {
		return "", err
	}
	now := s.Clock.Now()
	live := a.State == account.StateActive || a.State == account.StateActionRequired
	if exp := a.HardExpiry(); live && !exp.IsZero() && !now.Before(exp) {
		return OutcomeDisconnected, s.apply(ctx, a, account.Command{Action: account.ActDisconnect, Reason: account.ReasonExpired,
			ChannelError: &account.ChannelError{Message: "The token's lifetime ended on " + exp.UTC().Format(time.RFC3339) + "."}})
	}
	tokens, err := s.tokens(ctx, a)
	if relink.ErrorCode(err) == relink.ENOTFOUND {
		return OutcomeDisconnected, s.apply(ctx, a, account.Command{Action: account.ActDisconnect, Reason: account.ReasonInvalidToken,
			ChannelError: &account.ChannelError{Message: "No token is stored for this account."}})
	} else if err != nil {
		return "", err
	}

	// Renew first when the token would need it by the next hourly run: a rotated
	// refresh token is stored before the new access token is used for anything.
	if live && probe.NeedsRefresh(ch, tokens, now.Add(time.Hour)) {
		if err := s.wait(ctx, ch.ID); err != nil {
			return "", err
		}
		nt, grant, err := s.Prober.Refresh(ctx, ch, a, tokens)
		var te *channel.TokenError
		switch {
		case errors.Is(err, probe.ErrRenewalLost):
			return OutcomeDisconnected, s.disconnect(ctx, a, renewalLost())
		case err == nil:
			if err := s.putTokens(ctx, a, nt); err != nil {
				return "", err
			}
			if err := s.shareRenewal(ctx, a, tokens, nt); err != nil {
				return "", err
			}
			grant.Tasks = a.Tasks // renewing does not learn Page tasks
			grant.Missing = ch.Diagnose(grant.Scopes, grant.Tasks)
			return OutcomeRefreshed, s.apply(ctx, a, account.Command{Action: account.ActProbe, Grant: &grant})
		case errors.As(err, &te) && te.Transient:
			return s.transient(ctx, a, te.Classification, now)
		case errors.As(err, &te) && te.Reauth:
			return OutcomeDisconnected, s.disconnect(ctx, a, te.Classification)
		case errors.As(err, &te):
			// Not renewable right now (too young, say): the check below decides.
		default:
			return "", err
		}
	}

	if err := s.wait(ctx, ch.ID); err != nil {
		return "", err
	}
	res, checkErr := s.Prober.Check(ctx, ch, a, tokens)
	if errors.Is(checkErr, probe.ErrRenewalLost) {
		return OutcomeDisconnected, s.disconnect(ctx, a, renewalLost())
	}
	if res.Tokens != nil {
		if err := s.putTokens(ctx, a, *res.Tokens); err != nil {
			return "", err
		}
	}
	if checkErr != nil {
		return "", checkErr
	}
	if res.Valid {
		g := res.Grant
		return OutcomeChecked, s.apply(ctx, a, account.Command{Action: account.ActProbe, Grant: &g})
	}
	switch f := res.Failure; {
	case f.Transient:
		return s.transient(ctx, a, f, now)
	case f.Reauth:
		return OutcomeDisconnected, s.disconnect(ctx, a, f)
	default:
		// The channel refused our own request (our app's credentials, say) or failed a
		// permission check without saying which: nothing is learned about the token, so
		// it counts like an outage — backed off, and unreachable if it lasts four days,
		// with the channel's own message for the admins to read.
		return s.transient(ctx, a, f, now)
	}
}

// transient records a failure that says nothing about the token; four days of them
// in a row make the account unreachable.
func (s *Service) transient(ctx context.Context, a account.Account, f channel.Classification, now time.Time) (string, error) {
	ce := f.ChannelError
	if !a.TransientSince.IsZero() && now.Sub(a.TransientSince) >= UnreachableAfter {
		return OutcomeUnreachable, s.apply(ctx, a, account.Command{Action: account.ActDisconnect, Reason: account.ReasonUnreachable,
			ChannelError: &ce})
	}
	return OutcomeTransient, s.apply(ctx, a, account.Command{Action: account.ActNoteTransient, Reason: account.ReasonTransient, ChannelError: &ce})
}

// renewalLost is why an account whose renewed token was never stored is disconnected.
func renewalLost() channel.Classification {
	return channel.Classification{Reason: account.ReasonInvalidToken, Reauth: true,
		ChannelError: account.ChannelError{Message: "The token was renewed, but the renewed token was lost before it could be stored."}}
}

func (s *Service) disconnect(ctx context.Context, a account.Account, f channel.Classification) error {
	ce := f.ChannelError
	reason := f.Reason
	if reason == "" || reason == account.ReasonTransient {
		reason = account.ReasonInvalidToken
	}
	return s.apply(ctx, a, account.Command{Action: account.ActDisconnect, Reason: reason, ChannelError: &ce})
}

// apply runs one transition as the expiry check and stores it.
func (s *Service) apply(ctx context.Context, a account.Account, cmd account.Command) error {
	cmd.Actor, cmd.At, cmd.EventID = system, s.Clock.Now(), s.IDs.New()
	c, err := account.Transition(a, cmd)
	if err != nil {
		return err
	}
	return s.Store.Apply(ctx, c)
}

func (s *Service) tokens(ctx context.Context, a account.Account) (vault.Tokens, error) {
	sealed, err := s.Store.GetTokens(ctx, a.WorkspaceID, a.ID)
	if err != nil {
		return vault.Tokens{}, err
	}
	return s.Vault.OpenTokens(ctx, sealed, vault.AccountBinding(a.WorkspaceID, a.ID))
}

func (s *Service) putTokens(ctx context.Context, a account.Account, t vault.Tokens) error {
	sealed, err := s.Vault.SealTokens(ctx, t, vault.AccountBinding(a.WorkspaceID, a.ID))
	if err != nil {
		return err
	}
	if err := s.Store.PutTokens(ctx, a.WorkspaceID, a.ID, sealed); err != nil {
		return fmt.Errorf("store renewed tokens: %w", err)
	}
	return nil
}

// shareRenewal stores renewed tokens for the other accounts of the same login that
// held the same refresh token: the channel has spent it, so theirs is now useless.
// Accounts with their own tokens (Facebook Pages) hold a different one and keep it.
func (s *Service) shareRenewal(ctx context.Context, a account.Account, old, renewed vault.Tokens) error {
	if a.ParentProfileID == "" || old.Refresh == "" || renewed.Refresh == old.Refresh {
		return nil
	}
	page := store.Page{Limit: 100}
	for {
		got, err := s.Store.ListAccounts(ctx, a.WorkspaceID, account.Filter{Channel: a.Channel}, page)
		if err != nil {
			return fmt.Errorf("list accounts of login: %w", err)
		}
		for _, sib := range got.Accounts {
			if sib.ID == a.ID || sib.ParentProfileID != a.ParentProfileID {
				continue
			}
			theirs, err := s.tokens(ctx, sib)
			if err != nil || theirs.Refresh != old.Refresh {
				continue // none stored, or not this login's token
			}
			if err := s.putTokens(ctx, sib, renewed); err != nil {
				return err
			}
		}
		if got.Next == "" {
			return nil
		}
		page.Cursor = got.Next
	}
}
