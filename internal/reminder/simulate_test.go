package reminder

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/relinkhq/relink/internal/account"
	"github.com/relinkhq/relink/internal/workspace"
)

// The simulations run a 15-minute scheduler for 120 days the way the reminder service
// will: at every tick it calls Due for each account, records every returned key, and
// "sends" the step. Each line of the expected schedules was written out by hand from the
// calendar: the send time (the tick) in the workspace time zone with its UTC offset, the
// account, the policy and step, the kind, and the recipients and copies.

type change func(a *account.Account, at time.Time)

type event struct {
	at      string // RFC 3339
	account string
	do      change
}

type simulation struct {
	settings workspace.Settings
	start    string // RFC 3339, on a quarter hour
	accounts []account.Account
	events   []event
	outages  [][2]string // [from, to): the scheduler does not run
	want     []string
}

func ts(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func disconnect(reason string) change {
	return func(a *account.Account, at time.Time) {
		if a.State != account.StateDisconnected {
			a.TroubleSince = at
		}
		a.State, a.Reason = account.StateDisconnected, reason
	}
}

func requireAction(a *account.Account, at time.Time) {
	a.State, a.Reason, a.TroubleSince = account.StateActionRequired, account.ReasonPermissionMissing, at
}

// reconnect connects the account with a token whose hard expiry is exp ("" for none).
func reconnect(exp string) change {
	return func(a *account.Account, _ time.Time) {
		a.State, a.Reason, a.TroubleSince = account.StateActive, "", time.Time{}
		a.Refreshable, a.RefreshExpiresAt, a.TokenExpiresAt = false, time.Time{}, time.Time{}
		if exp != "" {
			a.TokenExpiresAt = ts(exp)
		}
	}
}

func deactivate(a *account.Account, _ time.Time) { a.State = account.StateDeactivated }

func remove(a *account.Account, at time.Time) {
	a.PreviousState, a.State, a.DeletedAt = a.State, account.StateDeleted, at
}

func acct(id string, kind account.Kind, state account.State) account.Account {
	return account.Account{WorkspaceID: "ws", ID: id, Channel: "sandbox", ExternalID: "x-" + id, DisplayName: id,
		OwnerID: "u-" + id, Kind: kind, State: state}
}

func expiring(a account.Account, exp string) account.Account {
	a.TokenExpiresAt = ts(exp)
	return a
}

func describe(tick time.Time, loc *time.Location, id string, st Step) string {
	n := fmt.Sprint(st.N)
	if st.Cycle > 0 {
		n = fmt.Sprintf("%d.%d", st.Cycle, st.N)
	}
	return fmt.Sprintf("%s %s %s#%s %s to=%s cc=%s", tick.In(loc).Format("2006-01-02 Mon 15:04 -07:00"), id,
		st.Policy, n, st.Kind, st.To, st.Cc)
}

func (sim simulation) run(t *testing.T) []string {
	t.Helper()
	loc := sim.settings.Location()
	start := ts(sim.start)
	end := start.Add(120 * 24 * time.Hour)
	accounts := slices.Clone(sim.accounts)
	events := slices.Clone(sim.events)
	slices.SortStableFunc(events, func(a, b event) int { return ts(a.at).Compare(ts(b.at)) })
	down := func(tick time.Time) bool {
		for _, o := range sim.outages {
			if !tick.Before(ts(o[0])) && tick.Before(ts(o[1])) {
				return true
			}
		}
		return false
	}

	sent := map[string]string{} // key → the line that sent it
	isSent := func(k string) bool { _, ok := sent[k]; return ok }
	var lines []string
	var prev time.Time // the last tick the scheduler ran
	for tick := start; tick.Before(end); tick = tick.Add(15 * time.Minute) {
		if down(tick) {
			continue
		}
		changed := map[string]time.Time{} // account → last event since the previous run
		for len(events) > 0 && !ts(events[0].at).After(tick) {
			e := events[0]
			events = events[1:]
			i := slices.IndexFunc(accounts, func(a account.Account) bool { return a.ID == e.account })
			e.do(&accounts[i], ts(e.at))
			changed[e.account] = ts(e.at)
		}
		for _, a := range accounts {
			due := Due(a, sim.settings, isSent, tick)
			// Next, asked at the previous run, must have predicted this run's first step
			// whenever nothing happened to the account in between.
			if _, ok := changed[a.ID]; !ok && !prev.IsZero() && tick.Sub(prev) == 15*time.Minute {
				next, found := Next(a, sim.settings, prev)
				if run := NextRun(a, sim.settings, prev); run != next.At || found == run.IsZero() {
					t.Errorf("%s at %s: NextRun %s, Next %v %v", a.ID, prev, run, next.At, found)
				}
				switch {
				case len(due) > 0 && (!found || next != due[0]):
					t.Errorf("%s at %s: Next = %+v %v, but %+v fell due by %s", a.ID, prev, next, found, due[0], tick)
				case len(due) == 0 && found && !next.At.After(tick):
					t.Errorf("%s at %s: Next = %+v, but nothing was due at %s", a.ID, prev, next, tick)
				}
			}
			for _, st := range due {
				line := describe(tick, loc, a.ID, st)
				if first, dup := sent[st.Key]; dup {
					t.Errorf("key %q sent twice: %s and %s", st.Key, first, line)
				}
				sent[st.Key] = line
				lines = append(lines, line)
				// Late only when the scheduler was down or the account just changed.
				if late := tick.Sub(st.At); late < 0 || late >= 15*time.Minute && !down(st.At) && !down(tick.Add(-15*time.Minute)) {
					if at, ok := changed[a.ID]; !ok || at.Before(st.At) {
						t.Errorf("%s sent %s after it fell due at %s", line, late, st.At)
					}
				}
			}
			// A second run at the same moment sends nothing again.
			if again := Due(a, sim.settings, isSent, tick); len(again) > 0 {
				t.Errorf("%s at %s: due again after recording: %+v", a.ID, tick, again)
			}
		}
		prev = tick
	}
	return lines
}

func check(t *testing.T, sim simulation) {
	t.Helper()
	got := sim.run(t)
	if slices.Equal(got, sim.want) {
		return
	}
	var b strings.Builder
	for i := range max(len(got), len(sim.want)) {
		g, w := "", ""
		if i < len(got) {
			g = got[i]
		}
		if i < len(sim.want) {
			w = sim.want[i]
		}
		mark := "  "
		if g != w {
			mark = "!="
		}
		fmt.Fprintf(&b, "%s got  %s\n   want %s\n", mark, g, w)
	}
	t.Errorf("sent %d reminders, want %d:\n%s", len(got), len(sim.want), b.String())
}

func settings(zone string, edit func(*workspace.Settings)) workspace.Settings {
	s := workspace.DefaultSettings()
	s.TimeZone = zone
	if edit != nil {
		edit(&s)
	}
	return s
}

// Monday 09:00 stays 09:00 in Amsterdam when summer time ends on 25 October 2026
// (07:00 UTC before, 08:00 UTC after). A company account's expiry goes to the owner and
// all admins, a personal one's to its owner. Reconnecting with a new expiry starts a
// new weekly series; deactivation and deletion stop one.
func TestPreExpiryWeeklyAmsterdamSummerTimeEnds(t *testing.T) {
	co := expiring(acct("co", account.KindCompany, account.StateActive), "2026-11-05T10:00:00Z")
	pe := acct("pe", account.KindPersonal, account.StateActive)
	// Refreshable: the hard expiry is the refresh end (09:30 local, after Monday 09:00).
	pe.Refreshable, pe.TokenExpiresAt, pe.RefreshExpiresAt = true, ts("2026-10-01T01:00:00Z"), ts("2026-11-09T08:30:00Z")
	check(t, simulation{
		settings: settings("Europe/Amsterdam", nil),
		start:    "2026-10-01T00:00:00Z",
		accounts: []account.Account{co, pe},
		events: []event{
			{"2026-11-04T15:00:00Z", "co", reconnect("")}, // a token without expiry: nothing more
			{"2026-11-09T09:00:00Z", "pe", disconnect(account.ReasonExpired)},
			{"2026-12-01T09:00:00Z", "co", reconnect("2026-12-24T09:00:00Z")},
			{"2026-12-10T12:00:00Z", "pe", reconnect("2027-01-07T12:00:00Z")},
			{"2026-12-15T10:00:00Z", "co", deactivate}, // Monday 21 December is not sent
			{"2027-01-02T10:00:00Z", "pe", remove},     // Monday 4 January is not sent
		},
		want: []string{
			"2026-10-19 Mon 09:00 +02:00 co pre-expiry-weekly#1 expiring to=owner+admins cc=-",
			"2026-10-26 Mon 09:00 +01:00 co pre-expiry-weekly#2 expiring to=owner+admins cc=-",
			"2026-10-26 Mon 09:00 +01:00 pe pre-expiry-weekly#1 expiring to=owner cc=-",
			"2026-11-02 Mon 09:00 +01:00 co pre-expiry-weekly#3 expiring to=owner+admins cc=-",
			"2026-11-02 Mon 09:00 +01:00 pe pre-expiry-weekly#2 expiring to=owner cc=-",
			"2026-11-09 Mon 09:00 +01:00 pe pre-expiry-weekly#3 expiring to=owner cc=-",
			"2026-11-09 Mon 10:00 +01:00 pe post-expiry-weekly#1 expired to=owner cc=-",
			"2026-11-16 Mon 10:00 +01:00 pe post-expiry-weekly#2 expired to=owner cc=-",
			"2026-11-23 Mon 10:00 +01:00 pe post-expiry-weekly#3 expired to=owner cc=-",
			"2026-11-30 Mon 10:00 +01:00 pe post-expiry-weekly#4 expired to=owner cc=-",
			"2026-12-07 Mon 09:00 +01:00 co pre-expiry-weekly#1 expiring to=owner+admins cc=-",
			"2026-12-07 Mon 10:00 +01:00 pe post-expiry-weekly#5 expired to=owner cc=-",
			"2026-12-14 Mon 09:00 +01:00 co pre-expiry-weekly#2 expiring to=owner+admins cc=-",
			"2026-12-21 Mon 09:00 +01:00 pe pre-expiry-weekly#1 expiring to=owner cc=-",
			"2026-12-28 Mon 09:00 +01:00 pe pre-expiry-weekly#2 expiring to=owner cc=-",
		},
	})
}

// Summer time starts in Amsterdam on 28 March 2027: Monday 09:00 is 08:00 UTC before and
// 07:00 UTC after. With a 30-day window there are four Mondays. An account connected
// inside the window gets the Mondays it missed at once (one digest). After the expiry
// the weekly "expired" emails run until reconnected; a second expiry episode starts
// again at step 1.
func TestPreExpiryWeeklyAmsterdamSummerTimeStarts(t *testing.T) {
	check(t, simulation{
		settings: settings("Europe/Amsterdam", func(s *workspace.Settings) { s.WarningWindow = 30 * 24 * time.Hour }),
		start:    "2027-01-15T00:00:00Z",
		accounts: []account.Account{
			expiring(acct("co2", account.KindCompany, account.StateActive), "2027-04-08T18:00:00Z"),
			acct("late", account.KindPersonal, account.StatePending),
		},
		events: []event{
			{"2027-03-24T14:00:00Z", "late", reconnect("2027-04-01T14:00:00Z")},
			{"2027-04-08T18:05:00Z", "co2", disconnect(account.ReasonExpired)},
			{"2027-04-30T12:00:00Z", "co2", reconnect("")},
			{"2027-05-03T06:00:00Z", "co2", disconnect(account.ReasonExpired)},
		},
		want: []string{
			"2027-03-15 Mon 09:00 +01:00 co2 pre-expiry-weekly#1 expiring to=owner+admins cc=-",
			"2027-03-22 Mon 09:00 +01:00 co2 pre-expiry-weekly#2 expiring to=owner+admins cc=-",
			"2027-03-24 Wed 15:00 +01:00 late pre-expiry-weekly#1 expiring to=owner cc=-",
			"2027-03-24 Wed 15:00 +01:00 late pre-expiry-weekly#2 expiring to=owner cc=-",
			"2027-03-24 Wed 15:00 +01:00 late pre-expiry-weekly#3 expiring to=owner cc=-",
			"2027-03-29 Mon 09:00 +02:00 co2 pre-expiry-weekly#3 expiring to=owner+admins cc=-",
			"2027-03-29 Mon 09:00 +02:00 late pre-expiry-weekly#4 expiring to=owner cc=-",
			"2027-04-05 Mon 09:00 +02:00 co2 pre-expiry-weekly#4 expiring to=owner+admins cc=-",
			"2027-04-08 Thu 20:15 +02:00 co2 post-expiry-weekly#1 expired to=owner+admins cc=-",
			"2027-04-15 Thu 20:15 +02:00 co2 post-expiry-weekly#2 expired to=owner+admins cc=-",
			"2027-04-22 Thu 20:15 +02:00 co2 post-expiry-weekly#3 expired to=owner+admins cc=-",
			"2027-04-29 Thu 20:15 +02:00 co2 post-expiry-weekly#4 expired to=owner+admins cc=-",
			"2027-05-03 Mon 08:00 +02:00 co2 post-expiry-weekly#1 expired to=owner+admins cc=-",
			"2027-05-10 Mon 08:00 +02:00 co2 post-expiry-weekly#2 expired to=owner+admins cc=-",
		},
	})
}

// New York leaves daylight saving time on 1 November 2026: the weekly "expired" email
// keeps its local time (10:07, sent at the 10:15 run). Reconnecting stops it, a new
// expiry restarts it at step 1, deletion stops a personal account's.
func TestPostExpiryWeeklyNewYork(t *testing.T) {
	check(t, simulation{
		settings: settings("America/New_York", nil),
		start:    "2026-10-01T00:00:00Z",
		accounts: []account.Account{
			acct("ny", account.KindCompany, account.StateActive),
			acct("nyp", account.KindPersonal, account.StateActive),
		},
		events: []event{
			{"2026-10-10T14:07:00Z", "ny", disconnect(account.ReasonExpired)},
			{"2026-11-20T12:00:00Z", "nyp", disconnect(account.ReasonExpired)},
			{"2026-12-08T12:00:00Z", "nyp", remove},
			{"2026-12-20T15:00:00Z", "ny", reconnect("")},
			{"2027-01-10T03:00:00Z", "ny", disconnect(account.ReasonExpired)},
		},
		want: []string{
			"2026-10-10 Sat 10:15 -04:00 ny post-expiry-weekly#1 expired to=owner+admins cc=-",
			"2026-10-17 Sat 10:15 -04:00 ny post-expiry-weekly#2 expired to=owner+admins cc=-",
			"2026-10-24 Sat 10:15 -04:00 ny post-expiry-weekly#3 expired to=owner+admins cc=-",
			"2026-10-31 Sat 10:15 -04:00 ny post-expiry-weekly#4 expired to=owner+admins cc=-",
			"2026-11-07 Sat 10:15 -05:00 ny post-expiry-weekly#5 expired to=owner+admins cc=-",
			"2026-11-14 Sat 10:15 -05:00 ny post-expiry-weekly#6 expired to=owner+admins cc=-",
			"2026-11-20 Fri 07:00 -05:00 nyp post-expiry-weekly#1 expired to=owner cc=-",
			"2026-11-21 Sat 10:15 -05:00 ny post-expiry-weekly#7 expired to=owner+admins cc=-",
			"2026-11-27 Fri 07:00 -05:00 nyp post-expiry-weekly#2 expired to=owner cc=-",
			"2026-11-28 Sat 10:15 -05:00 ny post-expiry-weekly#8 expired to=owner+admins cc=-",
			"2026-12-04 Fri 07:00 -05:00 nyp post-expiry-weekly#3 expired to=owner cc=-",
			"2026-12-05 Sat 10:15 -05:00 ny post-expiry-weekly#9 expired to=owner+admins cc=-",
			"2026-12-12 Sat 10:15 -05:00 ny post-expiry-weekly#10 expired to=owner+admins cc=-",
			"2026-12-19 Sat 10:15 -05:00 ny post-expiry-weekly#11 expired to=owner+admins cc=-",
			"2027-01-09 Sat 22:00 -05:00 ny post-expiry-weekly#1 expired to=owner+admins cc=-",
			"2027-01-16 Sat 22:00 -05:00 ny post-expiry-weekly#2 expired to=owner+admins cc=-",
			"2027-01-23 Sat 22:00 -05:00 ny post-expiry-weekly#3 expired to=owner+admins cc=-",
		},
	})
}

// Exponential in a UTC workspace: days 0, 1, 2, 4, 8, 16, 46, 76, 106, subscribed admins
// copied from step 3. Reconnecting stops the series; a new episode restarts at step 1;
// deactivation stops it.
func TestExponentialUTC(t *testing.T) {
	check(t, simulation{
		settings: settings("UTC", nil),
		start:    "2026-03-01T00:00:00Z",
		accounts: []account.Account{
			acct("x1", account.KindPersonal, account.StateActive),
			acct("x2", account.KindCompany, account.StateActive),
			acct("x3", account.KindPersonal, account.StateActive),
		},
		events: []event{
			{"2026-03-02T10:20:00Z", "x1", disconnect(account.ReasonRevoked)},
			{"2026-03-10T08:00:00Z", "x2", requireAction},
			{"2026-03-20T12:00:00Z", "x2", reconnect("")},
			{"2026-04-01T06:50:00Z", "x2", disconnect(account.ReasonInvalidToken)},
			{"2026-05-01T00:00:00Z", "x3", disconnect(account.ReasonCheckpoint)},
			{"2026-05-07T00:00:00Z", "x3", deactivate},
		},
		want: []string{
			"2026-03-02 Mon 10:30 +00:00 x1 exponential#1 disconnected to=owner cc=-",
			"2026-03-03 Tue 10:30 +00:00 x1 exponential#2 disconnected to=owner cc=-",
			"2026-03-04 Wed 10:30 +00:00 x1 exponential#3 disconnected to=owner cc=subscribed",
			"2026-03-06 Fri 10:30 +00:00 x1 exponential#4 disconnected to=owner cc=subscribed",
			"2026-03-10 Tue 08:00 +00:00 x2 exponential#1 action_required to=owner cc=-",
			"2026-03-10 Tue 10:30 +00:00 x1 exponential#5 disconnected to=owner cc=subscribed",
			"2026-03-11 Wed 08:00 +00:00 x2 exponential#2 action_required to=owner cc=-",
			"2026-03-12 Thu 08:00 +00:00 x2 exponential#3 action_required to=owner cc=subscribed",
			"2026-03-14 Sat 08:00 +00:00 x2 exponential#4 action_required to=owner cc=subscribed",
			"2026-03-18 Wed 08:00 +00:00 x2 exponential#5 action_required to=owner cc=subscribed",
			"2026-03-18 Wed 10:30 +00:00 x1 exponential#6 disconnected to=owner cc=subscribed",
			"2026-04-01 Wed 07:00 +00:00 x2 exponential#1 disconnected to=owner cc=-",
			"2026-04-02 Thu 07:00 +00:00 x2 exponential#2 disconnected to=owner cc=-",
			"2026-04-03 Fri 07:00 +00:00 x2 exponential#3 disconnected to=owner cc=subscribed",
			"2026-04-05 Sun 07:00 +00:00 x2 exponential#4 disconnected to=owner cc=subscribed",
			"2026-04-09 Thu 07:00 +00:00 x2 exponential#5 disconnected to=owner cc=subscribed",
			"2026-04-17 Fri 07:00 +00:00 x2 exponential#6 disconnected to=owner cc=subscribed",
			"2026-04-17 Fri 10:30 +00:00 x1 exponential#7 disconnected to=owner cc=subscribed",
			"2026-05-01 Fri 00:00 +00:00 x3 exponential#1 disconnected to=owner cc=-",
			"2026-05-02 Sat 00:00 +00:00 x3 exponential#2 disconnected to=owner cc=-",
			"2026-05-03 Sun 00:00 +00:00 x3 exponential#3 disconnected to=owner cc=subscribed",
			"2026-05-05 Tue 00:00 +00:00 x3 exponential#4 disconnected to=owner cc=subscribed",
			"2026-05-17 Sun 07:00 +00:00 x2 exponential#7 disconnected to=owner cc=subscribed",
			"2026-05-17 Sun 10:30 +00:00 x1 exponential#8 disconnected to=owner cc=subscribed",
			"2026-06-16 Tue 07:00 +00:00 x2 exponential#8 disconnected to=owner cc=subscribed",
			"2026-06-16 Tue 10:30 +00:00 x1 exponential#9 disconnected to=owner cc=subscribed",
		},
	})
}

// Exponential in Amsterdam across the start of summer time (21:00 local stays 21:00),
// with the scheduler down for three days: the two exponential steps and the Monday
// expiry warning it missed all go out at its first run back, and none twice.
func TestExponentialAmsterdamOutage(t *testing.T) {
	check(t, simulation{
		settings: settings("Europe/Amsterdam", nil),
		start:    "2027-03-01T00:00:00Z",
		accounts: []account.Account{
			acct("ams", account.KindCompany, account.StateActive),
			expiring(acct("amsx", account.KindPersonal, account.StateActive), "2027-04-01T10:00:00Z"),
		},
		events: []event{
			{"2027-03-20T20:00:00Z", "ams", disconnect(account.ReasonPasswordChanged)},
		},
		outages: [][2]string{{"2027-03-21T00:00:00Z", "2027-03-24T00:00:00Z"}},
		want: []string{
			"2027-03-15 Mon 09:00 +01:00 amsx pre-expiry-weekly#1 expiring to=owner cc=-",
			"2027-03-20 Sat 21:00 +01:00 ams exponential#1 disconnected to=owner cc=-",
			"2027-03-24 Wed 01:00 +01:00 ams exponential#2 disconnected to=owner cc=-",
			"2027-03-24 Wed 01:00 +01:00 ams exponential#3 disconnected to=owner cc=subscribed",
			"2027-03-24 Wed 01:00 +01:00 amsx pre-expiry-weekly#2 expiring to=owner cc=-",
			"2027-03-24 Wed 21:00 +01:00 ams exponential#4 disconnected to=owner cc=subscribed",
			"2027-03-28 Sun 21:00 +02:00 ams exponential#5 disconnected to=owner cc=subscribed",
			"2027-03-29 Mon 09:00 +02:00 amsx pre-expiry-weekly#3 expiring to=owner cc=-",
			"2027-04-05 Mon 21:00 +02:00 ams exponential#6 disconnected to=owner cc=subscribed",
			"2027-05-05 Wed 21:00 +02:00 ams exponential#7 disconnected to=owner cc=subscribed",
			"2027-06-04 Fri 21:00 +02:00 ams exponential#8 disconnected to=owner cc=subscribed",
		},
	})
}

// The series with its defaults in Amsterdam across the end of summer time: days 0, 2,
// 7, 12, 17, 22 of each 27-day round at 08:00 local; step 1 and step 6 ("still
// disconnected") copy the primary admin and subscribed admins.
func TestSeriesAmsterdam(t *testing.T) {
	const cc = " to=owner cc=primary+subscribed"
	const owner = " to=owner cc=-"
	check(t, simulation{
		settings: settings("Europe/Amsterdam", func(s *workspace.Settings) { s.ReminderPolicy = workspace.PolicySeries }),
		start:    "2026-10-01T00:00:00Z",
		accounts: []account.Account{acct("s1", account.KindPersonal, account.StateActive)},
		events:   []event{{"2026-10-05T06:00:00Z", "s1", disconnect(account.ReasonPasswordChanged)}},
		want: []string{
			"2026-10-05 Mon 08:00 +02:00 s1 series#1.1 disconnected" + cc,
			"2026-10-07 Wed 08:00 +02:00 s1 series#1.2 disconnected" + owner,
			"2026-10-12 Mon 08:00 +02:00 s1 series#1.3 disconnected" + owner,
			"2026-10-17 Sat 08:00 +02:00 s1 series#1.4 disconnected" + owner,
			"2026-10-22 Thu 08:00 +02:00 s1 series#1.5 disconnected" + owner,
			"2026-10-27 Tue 08:00 +01:00 s1 series#1.6 still_disconnected" + cc,
			"2026-11-01 Sun 08:00 +01:00 s1 series#2.1 disconnected" + cc,
			"2026-11-03 Tue 08:00 +01:00 s1 series#2.2 disconnected" + owner,
			"2026-11-08 Sun 08:00 +01:00 s1 series#2.3 disconnected" + owner,
			"2026-11-13 Fri 08:00 +01:00 s1 series#2.4 disconnected" + owner,
			"2026-11-18 Wed 08:00 +01:00 s1 series#2.5 disconnected" + owner,
			"2026-11-23 Mon 08:00 +01:00 s1 series#2.6 still_disconnected" + cc,
			"2026-11-28 Sat 08:00 +01:00 s1 series#3.1 disconnected" + cc,
			"2026-11-30 Mon 08:00 +01:00 s1 series#3.2 disconnected" + owner,
			"2026-12-05 Sat 08:00 +01:00 s1 series#3.3 disconnected" + owner,
			"2026-12-10 Thu 08:00 +01:00 s1 series#3.4 disconnected" + owner,
			"2026-12-15 Tue 08:00 +01:00 s1 series#3.5 disconnected" + owner,
			"2026-12-20 Sun 08:00 +01:00 s1 series#3.6 still_disconnected" + cc,
			"2026-12-25 Fri 08:00 +01:00 s1 series#4.1 disconnected" + cc,
			"2026-12-27 Sun 08:00 +01:00 s1 series#4.2 disconnected" + owner,
			"2027-01-01 Fri 08:00 +01:00 s1 series#4.3 disconnected" + owner,
			"2027-01-06 Wed 08:00 +01:00 s1 series#4.4 disconnected" + owner,
			"2027-01-11 Mon 08:00 +01:00 s1 series#4.5 disconnected" + owner,
			"2027-01-16 Sat 08:00 +01:00 s1 series#4.6 still_disconnected" + cc,
			"2027-01-21 Thu 08:00 +01:00 s1 series#5.1 disconnected" + cc,
			"2027-01-23 Sat 08:00 +01:00 s1 series#5.2 disconnected" + owner,
			"2027-01-28 Thu 08:00 +01:00 s1 series#5.3 disconnected" + owner,
		},
	})
}

// The series with its parameters changed (+1 day, then every 3 days twice: days 0, 1,
// 4, 7, next round at day 10) in New York across the start of daylight saving time on
// 8 March 2026, for an action_required account reconnected mid-round, a later
// disconnect starting again at round 1 step 1, deletion stopping it, and an account
// disconnected a minute before a run.
func TestSeriesNewYorkCustom(t *testing.T) {
	const cc = " to=owner cc=primary+subscribed"
	const owner = " to=owner cc=-"
	check(t, simulation{
		settings: settings("America/New_York", func(s *workspace.Settings) {
			s.ReminderPolicy = workspace.PolicySeries
			s.SeriesFirstGap, s.SeriesInterval, s.SeriesRepeats = 24*time.Hour, 3*24*time.Hour, 2
		}),
		start: "2026-02-01T00:00:00Z",
		accounts: []account.Account{
			acct("q", account.KindCompany, account.StateActive),
			acct("r", account.KindPersonal, account.StateActive),
		},
		events: []event{
			{"2026-02-27T17:30:00Z", "q", requireAction},
			{"2026-03-15T12:00:00Z", "q", reconnect("")},
			{"2026-04-20T13:10:00Z", "q", disconnect(account.ReasonRoleLost)},
			{"2026-05-02T00:00:00Z", "q", remove},
			{"2026-05-10T23:59:00Z", "r", disconnect(account.ReasonRevoked)},
		},
		want: []string{
			"2026-02-27 Fri 12:30 -05:00 q series#1.1 action_required" + cc,
			"2026-02-28 Sat 12:30 -05:00 q series#1.2 action_required" + owner,
			"2026-03-03 Tue 12:30 -05:00 q series#1.3 action_required" + owner,
			"2026-03-06 Fri 12:30 -05:00 q series#1.4 still_action_required" + cc,
			"2026-03-09 Mon 12:30 -04:00 q series#2.1 action_required" + cc,
			"2026-03-10 Tue 12:30 -04:00 q series#2.2 action_required" + owner,
			"2026-03-13 Fri 12:30 -04:00 q series#2.3 action_required" + owner,
			"2026-04-20 Mon 09:15 -04:00 q series#1.1 disconnected" + cc,
			"2026-04-21 Tue 09:15 -04:00 q series#1.2 disconnected" + owner,
			"2026-04-24 Fri 09:15 -04:00 q series#1.3 disconnected" + owner,
			"2026-04-27 Mon 09:15 -04:00 q series#1.4 still_disconnected" + cc,
			"2026-04-30 Thu 09:15 -04:00 q series#2.1 disconnected" + cc,
			"2026-05-01 Fri 09:15 -04:00 q series#2.2 disconnected" + owner,
			"2026-05-10 Sun 20:00 -04:00 r series#1.1 disconnected" + cc,
			"2026-05-11 Mon 20:00 -04:00 r series#1.2 disconnected" + owner,
			"2026-05-14 Thu 20:00 -04:00 r series#1.3 disconnected" + owner,
			"2026-05-17 Sun 20:00 -04:00 r series#1.4 still_disconnected" + cc,
			"2026-05-20 Wed 20:00 -04:00 r series#2.1 disconnected" + cc,
			"2026-05-21 Thu 20:00 -04:00 r series#2.2 disconnected" + owner,
			"2026-05-24 Sun 20:00 -04:00 r series#2.3 disconnected" + owner,
			"2026-05-27 Wed 20:00 -04:00 r series#2.4 still_disconnected" + cc,
			"2026-05-30 Sat 20:00 -04:00 r series#3.1 disconnected" + cc,
		},
	})
}
