// Package reminder decides which reminder emails are due for an account: the policies
// of DESIGN.md "Reminders" as pure functions of (account, workspace settings, the keys
// already sent, now). It does no I/O and never reads a clock.
//
// A scheduled service calls Due for each account every 15 minutes, resolves each step's
// audience to people, records every due step's Key with a conditional write before it
// sends (so a step is never sent twice), and sends one digest per recipient. Several due
// steps of one account are one mention in that digest.
//
// # Which policies apply
//
//   - pending, deactivated and deleted accounts, and active accounts without a known
//     hard expiry in the future: none. Reminders stop the moment an account is
//     reconnected, deactivated or deleted, because they are derived from its state.
//   - active or action_required with a hard expiry (Account.HardExpiry) after now:
//     pre-expiry-weekly, when Settings.PreExpiryWeekly.
//   - disconnected with reason "expired": post-expiry-weekly, when
//     Settings.PostExpiryWeekly; with it switched off, the workspace policy below.
//   - any other disconnected account, and action_required: the workspace policy,
//     Settings.ReminderPolicy ("exponential", the default, or "series"). An
//     action_required account with a hard expiry gets both this and pre-expiry-weekly.
//
// The troubled policies (all but pre-expiry-weekly) count from Account.TroubleSince,
// which a new trouble episode resets: a new episode starts again at step 1 with new keys.
// A troubled account without TroubleSince has no anchor and gets nothing.
//
// # The policies
//
// Days are calendar days in the workspace time zone (Settings.TimeZone), so a reminder
// keeps its local time of day across daylight-saving changes; a duration setting that
// is not whole days adds its remainder as elapsed time.
//
// pre-expiry-weekly, kind "expiring": every Monday 09:00 in the workspace time zone
// strictly inside (hard expiry − WarningWindow, hard expiry), while the hard expiry is
// still ahead (once it has passed the token is gone and post-expiry takes over when the
// account is disconnected). To: the owner, and for a company account all admins too.
// Step N is the Nth Monday of the window. A Monday that passed before the account had
// this expiry (connected inside the window) is due at once, like any missed step.
//
// post-expiry-weekly, kind "expired": at TroubleSince, then every 7 days until the
// account leaves the disconnected state. To: as pre-expiry-weekly.
//
// exponential: step 1 at TroubleSince, then the gaps between steps are 1, 1, 2, 4, 8
// days (offsets 1, 2, 4, 8, 16) and after that 32, 64, 128… days, every gap capped at
// ExponentialCap: with the default 30-day cap the offsets are 0, 1, 2, 4, 8, 16, 46, 76,
// 106… days. To: the owner; Cc: subscribed admins from step CopyAdminsFromStep on.
//
// series: rounds (Cycle 1, 2, …) of 2+SeriesRepeats steps. Step 1 at the round's start,
// step 2 SeriesFirstGap later, then SeriesRepeats steps SeriesInterval apart; the next
// round starts SeriesInterval after the last step. Defaults: days 0, 2, 7, 12, 17, 22,
// then round 2 at day 27. To: the owner; step 1 and the last step copy the primary admin
// and subscribed admins, and the last step's kind is "still_disconnected" (or
// "still_action_required").
//
// Troubled kinds: "expired" (disconnected because it expired), "disconnected" (any
// other reason), "action_required".
//
// # Missed steps and keys
//
// A step is due once its time has passed and its key is not sent; missed steps are never
// skipped (after an outage all of them are due at once), except that Due looks at the
// MaxCatchUp most recent steps of a policy only, so an account in trouble for years costs
// bounded work: older unsent steps are superseded by the reminders sent since.
//
// Keys are "<account ID>#<policy>#<anchor>#<step>": the anchor is TroubleSince (or, for
// pre-expiry-weekly, the hard expiry) in Unix milliseconds, the precision the stores
// keep; the step is N, "<cycle>.<N>" for series, or the Monday's local date for
// pre-expiry-weekly (so a changed warning window does not renumber sent Mondays).
// Account IDs hold no '#', so keys never collide. Changing settings mid-episode moves
// later steps but never re-sends a sent one; switching to another policy starts that
// policy's steps from TroubleSince, so its passed steps are due at once.
//
// Settings are read with WithDefaults, and a value Settings.Validate would refuse falls
// back to its default, so stored nonsense cannot make a schedule degenerate. An
// unknown ReminderPolicy runs the default (exponential): nobody goes unreminded.
package reminder

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/relinkhq/relink/internal/account"
	"github.com/relinkhq/relink/internal/workspace"
)

// Policy names a reminder policy.
type Policy string

const (
	PolicyPreExpiryWeekly  Policy = "pre-expiry-weekly"
	PolicyPostExpiryWeekly Policy = "post-expiry-weekly"
	PolicyExponential      Policy = workspace.PolicyExponential
	PolicySeries           Policy = workspace.PolicySeries
)

// Audience is a set of kinds of recipients; the service resolves them to people.
type Audience uint8

const (
	Owner            Audience = 1 << iota // the account's owner
	Admins                                // every admin of the workspace
	PrimaryAdmin                          // the workspace's primary admin
	SubscribedAdmins                      // admins who asked to hear about accounts in trouble
)

// Has reports whether every kind in b is in a.
func (a Audience) Has(b Audience) bool { return a&b == b }

func (a Audience) String() string {
	if a == 0 {
		return "-"
	}
	var parts []string
	for _, p := range []struct {
		bit  Audience
		name string
	}{{Owner, "owner"}, {Admins, "admins"}, {PrimaryAdmin, "primary"}, {SubscribedAdmins, "subscribed"}} {
		if a.Has(p.bit) {
			parts = append(parts, p.name)
		}
	}
	return strings.Join(parts, "+")
}

// Kind is what the email says about the account.
type Kind string

const (
	KindExpiring            Kind = "expiring" // update required before the hard expiry
	KindExpired             Kind = "expired"
	KindDisconnected        Kind = "disconnected"
	KindActionRequired      Kind = "action_required"
	KindStillDisconnected   Kind = "still_disconnected"    // the series' last step, to admins too
	KindStillActionRequired Kind = "still_action_required" // the same for an action_required account
)

// Step is one reminder of one account.
type Step struct {
	Policy Policy
	N      int       // step number within its series or round, 1-based
	Cycle  int       // the round of a series policy, 1-based; 0 for policies without rounds
	At     time.Time // when it is due, in the workspace time zone
	Kind   Kind
	To     Audience // who receives it
	Cc     Audience // who is copied
	Key    string   // idempotency key, stable across runs (see the package doc)
}

// MaxCatchUp bounds how many of a policy's most recent passed steps Due considers.
const MaxCatchUp = 400

// Due returns the steps of a that are due at now and whose keys sent does not report,
// oldest first. sent may be nil (nothing sent yet).
func Due(a account.Account, s workspace.Settings, sent func(key string) bool, now time.Time) []Step {
	var due []Step
	for _, p := range plans(a, s, now) {
		k := p.count(now)
		for i := max(0, k-MaxCatchUp); i < k; i++ {
			st := p.step(i)
			if sent == nil || !sent(st.Key) {
				due = append(due, st)
			}
		}
	}
	sort.SliceStable(due, func(i, j int) bool { return due[i].At.Before(due[j].At) })
	return due
}

// Next returns the first step after now (for showing an account's next reminder), and
// false when none is scheduled. It ignores what was sent: steps at or before now are
// Due's business.
func Next(a account.Account, s workspace.Settings, now time.Time) (Step, bool) {
	var next Step
	found := false
	for _, p := range plans(a, s, now) {
		k := p.count(now)
		if p.n >= 0 && k >= p.n {
			continue
		}
		if st := p.step(k); !found || st.At.Before(next.At) {
			next, found = st, true
		}
	}
	return next, found
}

// NextRun returns when a next has a step due after now (the time a scheduler should
// look at it again for reminders), zero when never.
func NextRun(a account.Account, s workspace.Settings, now time.Time) time.Time {
	if st, ok := Next(a, s, now); ok {
		return st.At
	}
	return time.Time{}
}

// plan is one policy's steps for one account: step(i) is the (i+1)th step, their times
// strictly increase with i, and n is how many there are (-1: unbounded).
type plan struct {
	n     int
	at    func(i int) time.Time
	build func(i int, at time.Time) Step
	// from is the first step's time, for bounding the search in count.
	from time.Time
}

func (p plan) step(i int) Step { return p.build(i, p.at(i)) }

// count is how many steps are due at t: a binary search, so a years-old series costs
// a few dozen evaluations.
func (p plan) count(t time.Time) int {
	if t.Before(p.from) {
		return 0
	}
	n := p.n
	if n < 0 {
		// Steps are at least a calendar day apart, and a calendar day is never shorter
		// than 12 hours, so this many steps cannot all be due by t.
		n = int(t.Sub(p.from)/(12*time.Hour)) + 2
	}
	return sort.Search(n, func(i int) bool { return p.at(i).After(t) })
}

func plans(a account.Account, s workspace.Settings, now time.Time) []plan {
	s = sane(s)
	loc := location(s.TimeZone)
	var ps []plan
	switch a.State {
	case account.StateActive, account.StateActionRequired:
		if exp := a.HardExpiry(); s.PreExpiryWeekly && !exp.IsZero() && exp.After(now) {
			if p, ok := preExpiry(a, s, exp, loc); ok {
				ps = append(ps, p)
			}
		}
	}
	if !a.State.Troubled() || a.TroubleSince.IsZero() {
		return ps
	}
	start := a.TroubleSince.In(loc)
	kind := KindActionRequired
	if a.State == account.StateDisconnected {
		kind = KindDisconnected
		if a.Reason == account.ReasonExpired {
			if s.PostExpiryWeekly {
				return append(ps, postExpiry(a, start))
			}
			kind = KindExpired
		}
	}
	if s.ReminderPolicy == workspace.PolicySeries {
		return append(ps, series(a, s, start, kind))
	}
	return append(ps, exponential(a, s, start, kind))
}

// weekly is who hears of an expiry: the owner, and a company account's admins.
func weekly(a account.Account) Audience {
	if a.Kind == account.KindCompany {
		return Owner | Admins
	}
	return Owner
}

func preExpiry(a account.Account, s workspace.Settings, exp time.Time, loc *time.Location) (plan, bool) {
	open := exp.Add(-s.WarningWindow).In(loc)
	// The Monday on or before the window opens, at 09:00 local; then week by week.
	d := open.AddDate(0, 0, -((int(open.Weekday()) + 6) % 7))
	var mondays []time.Time
	for k := 0; ; k++ {
		m := time.Date(d.Year(), d.Month(), d.Day()+7*k, 9, 0, 0, 0, loc)
		if !m.Before(exp) {
			break
		}
		if m.After(open) {
			mondays = append(mondays, m)
		}
	}
	if len(mondays) == 0 {
		return plan{}, false
	}
	to := weekly(a)
	anchor := exp.UnixMilli()
	return plan{n: len(mondays), from: mondays[0],
		at: func(i int) time.Time { return mondays[i] },
		build: func(i int, at time.Time) Step {
			return Step{Policy: PolicyPreExpiryWeekly, N: i + 1, At: at, Kind: KindExpiring, To: to,
				Key: fmt.Sprintf("%s#%s#%d#%s", a.ID, PolicyPreExpiryWeekly, anchor, at.Format(time.DateOnly))}
		}}, true
}

func postExpiry(a account.Account, start time.Time) plan {
	to := weekly(a)
	return plan{n: -1, from: start,
		at: func(i int) time.Time { return start.AddDate(0, 0, 7*i) },
		build: func(i int, at time.Time) Step {
			return Step{Policy: PolicyPostExpiryWeekly, N: i + 1, At: at, Kind: KindExpired, To: to,
				Key: key(a, PolicyPostExpiryWeekly, start, fmt.Sprint(i+1))}
		}}
}

// exponentialGaps are the uncapped gaps (days) after steps 1, 2, …; later gaps keep
// doubling, and every one is capped. Past the table all gaps are the cap, because the
// cap is at most 90 days (see sane).
var exponentialGaps = []int{1, 1, 2, 4, 8, 32, 64, 128}

func exponential(a account.Account, s workspace.Settings, start time.Time, kind Kind) plan {
	capped := split(s.ExponentialCap)
	// offsets[i] is step i+1's offset; past the table each step adds the cap.
	offsets := []span{{}}
	for _, g := range exponentialGaps {
		gap := span{days: g}
		if time.Duration(g)*24*time.Hour > s.ExponentialCap {
			gap = capped
		}
		offsets = append(offsets, offsets[len(offsets)-1].plus(gap, 1))
	}
	last := len(offsets) - 1
	return plan{n: -1, from: start,
		at: func(i int) time.Time {
			if i <= last {
				return offsets[i].from(start)
			}
			return offsets[last].plus(capped, i-last).from(start)
		},
		build: func(i int, at time.Time) Step {
			st := Step{Policy: PolicyExponential, N: i + 1, At: at, Kind: kind, To: Owner,
				Key: key(a, PolicyExponential, start, fmt.Sprint(i+1))}
			if st.N >= s.CopyAdminsFromStep {
				st.Cc = SubscribedAdmins
			}
			return st
		}}
}

func series(a account.Account, s workspace.Settings, start time.Time, kind Kind) plan {
	first, interval := split(s.SeriesFirstGap), split(s.SeriesInterval)
	perRound := 2 + s.SeriesRepeats
	// A round spans the first gap and one interval after each later step.
	round := first.plus(interval, s.SeriesRepeats+1)
	within := func(j int) span {
		if j == 0 {
			return span{}
		}
		return first.plus(interval, j-1)
	}
	still := KindStillDisconnected
	if kind == KindActionRequired {
		still = KindStillActionRequired
	}
	return plan{n: -1, from: start,
		at: func(i int) time.Time {
			return span{}.plus(round, i/perRound).plus(within(i%perRound), 1).from(start)
		},
		build: func(i int, at time.Time) Step {
			st := Step{Policy: PolicySeries, N: i%perRound + 1, Cycle: i/perRound + 1, At: at, Kind: kind, To: Owner}
			st.Key = key(a, PolicySeries, start, fmt.Sprintf("%d.%d", st.Cycle, st.N))
			switch st.N {
			case 1:
				st.Cc = PrimaryAdmin | SubscribedAdmins
			case perRound:
				st.Kind, st.Cc = still, PrimaryAdmin|SubscribedAdmins
			}
			return st
		}}
}

func key(a account.Account, p Policy, start time.Time, step string) string {
	return fmt.Sprintf("%s#%s#%d#%s", a.ID, p, start.UnixMilli(), step)
}

// span is an offset in calendar days plus elapsed time.
type span struct {
	days int
	rest time.Duration
}

func split(d time.Duration) span {
	return span{days: int(d / (24 * time.Hour)), rest: d % (24 * time.Hour)}
}

// plus returns s + k·o.
func (s span) plus(o span, k int) span {
	return span{days: s.days + k*o.days, rest: s.rest + time.Duration(k)*o.rest}
}

// from is start moved by s: calendar days in start's location, then elapsed time.
func (s span) from(start time.Time) time.Time { return start.AddDate(0, 0, s.days).Add(s.rest) }

// sane fills defaults and replaces what Settings.Validate would refuse (the same
// bounds) by the default, so every gap is at least a day and the window bounded.
func sane(s workspace.Settings) workspace.Settings {
	s = s.WithDefaults()
	d := workspace.DefaultSettings()
	const day = 24 * time.Hour
	inDays := func(v *time.Duration, lo, hi int, def time.Duration) {
		if *v < time.Duration(lo)*day || *v > time.Duration(hi)*day {
			*v = def
		}
	}
	inDays(&s.WarningWindow, 1, 90, d.WarningWindow)
	inDays(&s.ExponentialCap, 1, 90, d.ExponentialCap)
	inDays(&s.SeriesFirstGap, 1, 30, d.SeriesFirstGap)
	inDays(&s.SeriesInterval, 1, 30, d.SeriesInterval)
	if s.SeriesRepeats < 1 || s.SeriesRepeats > 20 {
		s.SeriesRepeats = d.SeriesRepeats
	}
	if !slices.Contains([]string{workspace.PolicyExponential, workspace.PolicySeries}, s.ReminderPolicy) {
		s.ReminderPolicy = d.ReminderPolicy
	}
	return s
}

// zones caches loaded time zones: Due runs for every account every 15 minutes and
// time.LoadLocation reads the zone database each time.
var zones sync.Map // name → *time.Location

func location(name string) *time.Location {
	if loc, ok := zones.Load(name); ok {
		return loc.(*time.Location)
	}
	loc := workspace.Settings{TimeZone: name}.Location()
	zones.Store(name, loc)
	return loc
}
