package reminder

import (
	"fmt"
	"testing"
	"time"

	"github.com/relinkhq/relink/internal/account"
	"github.com/relinkhq/relink/internal/workspace"
)

// t0 is Monday 1 June 2026, 10:00 UTC (1780308000000 in Unix milliseconds).
var t0 = ts("2026-06-01T10:00:00Z")

const day = 24 * time.Hour

func troubled(state account.State, reason string, kind account.Kind) account.Account {
	a := acct("a", kind, state)
	a.Reason, a.TroubleSince = reason, t0
	return a
}

func TestNext(t *testing.T) {
	utc := settings("UTC", nil)
	seriesUTC := settings("UTC", func(s *workspace.Settings) { s.ReminderPolicy = workspace.PolicySeries })
	with := func(edit func(*workspace.Settings)) workspace.Settings { return settings("UTC", edit) }
	disc := troubled(account.StateDisconnected, account.ReasonRevoked, account.KindPersonal)
	action := troubled(account.StateActionRequired, account.ReasonPermissionMissing, account.KindCompany)
	expired := troubled(account.StateDisconnected, account.ReasonExpired, account.KindPersonal)
	expiredCo := troubled(account.StateDisconnected, account.ReasonExpired, account.KindCompany)
	exp := expiring(acct("a", account.KindPersonal, account.StateActive), "2026-09-30T12:00:00Z") // Wednesday
	actionExp := action
	actionExp.TokenExpiresAt = ts("2026-06-20T00:00:00Z")
	without := func(a account.Account, edit func(*account.Account)) account.Account { edit(&a); return a }

	const k = "a#exponential#1780308000000#"
	tests := []struct {
		name string
		a    account.Account
		s    workspace.Settings
		now  string
		want *Step // nil: nothing scheduled
	}{
		{"exponential before step 1", disc, utc, "2026-06-01T09:00:00Z",
			&Step{Policy: PolicyExponential, N: 1, At: t0, Kind: KindDisconnected, To: Owner, Key: k + "1"}},
		{"exponential at step 1: step 2 next", disc, utc, "2026-06-01T10:00:00Z",
			&Step{Policy: PolicyExponential, N: 2, At: ts("2026-06-02T10:00:00Z"), Kind: KindDisconnected, To: Owner, Key: k + "2"}},
		{"exponential day 3: step 4 copies subscribed admins", disc, utc, "2026-06-04T10:00:00Z",
			&Step{Policy: PolicyExponential, N: 4, At: ts("2026-06-05T10:00:00Z"), Kind: KindDisconnected, To: Owner,
				Cc: SubscribedAdmins, Key: k + "4"}},
		{"exponential day 20: step 7 at day 46", disc, utc, "2026-06-21T10:00:00Z",
			&Step{Policy: PolicyExponential, N: 7, At: ts("2026-07-17T10:00:00Z"), Kind: KindDisconnected, To: Owner,
				Cc: SubscribedAdmins, Key: k + "7"}},
		{"exponential day 1000: step 39 at day 1006", disc, utc, "2029-02-25T10:00:00Z",
			&Step{Policy: PolicyExponential, N: 39, At: ts("2029-03-03T10:00:00Z"), Kind: KindDisconnected, To: Owner,
				Cc: SubscribedAdmins, Key: k + "39"}},
		{"exponential cap 90: day 48 (16+32)", disc, with(func(s *workspace.Settings) { s.ExponentialCap = 90 * day }),
			"2026-06-18T10:00:00Z", &Step{Policy: PolicyExponential, N: 7, At: ts("2026-07-19T10:00:00Z"),
				Kind: KindDisconnected, To: Owner, Cc: SubscribedAdmins, Key: k + "7"}},
		{"exponential cap 90: day 112 (48+64)", disc, with(func(s *workspace.Settings) { s.ExponentialCap = 90 * day }),
			"2026-07-21T10:00:00Z", &Step{Policy: PolicyExponential, N: 8, At: ts("2026-09-21T10:00:00Z"),
				Kind: KindDisconnected, To: Owner, Cc: SubscribedAdmins, Key: k + "8"}},
		{"exponential cap 90: day 202 (112+90)", disc, with(func(s *workspace.Settings) { s.ExponentialCap = 90 * day }),
			"2026-09-22T10:00:00Z", &Step{Policy: PolicyExponential, N: 9, At: ts("2026-12-20T10:00:00Z"),
				Kind: KindDisconnected, To: Owner, Cc: SubscribedAdmins, Key: k + "9"}},
		{"exponential cap 5: day 13 (8+5)", disc, with(func(s *workspace.Settings) { s.ExponentialCap = 5 * day }),
			"2026-06-10T10:00:00Z", &Step{Policy: PolicyExponential, N: 6, At: ts("2026-06-14T10:00:00Z"),
				Kind: KindDisconnected, To: Owner, Cc: SubscribedAdmins, Key: k + "6"}},
		{"admins copied from step 1", disc, with(func(s *workspace.Settings) { s.CopyAdminsFromStep = 1 }),
			"2026-06-01T09:00:00Z", &Step{Policy: PolicyExponential, N: 1, At: t0, Kind: KindDisconnected, To: Owner,
				Cc: SubscribedAdmins, Key: k + "1"}},
		{"action required, exponential", action, utc, "2026-06-01T11:00:00Z",
			&Step{Policy: PolicyExponential, N: 2, At: ts("2026-06-02T10:00:00Z"), Kind: KindActionRequired, To: Owner, Key: k + "2"}},

		{"series day 21: step 6 tells admins", disc, seriesUTC, "2026-06-22T10:00:00Z",
			&Step{Policy: PolicySeries, N: 6, Cycle: 1, At: ts("2026-06-23T10:00:00Z"), Kind: KindStillDisconnected,
				To: Owner, Cc: PrimaryAdmin | SubscribedAdmins, Key: "a#series#1780308000000#1.6"}},
		{"series at step 6: round 2 next", disc, seriesUTC, "2026-06-23T10:00:00Z",
			&Step{Policy: PolicySeries, N: 1, Cycle: 2, At: ts("2026-06-28T10:00:00Z"), Kind: KindDisconnected,
				To: Owner, Cc: PrimaryAdmin | SubscribedAdmins, Key: "a#series#1780308000000#2.1"}},
		{"series after round 2 step 1", disc, seriesUTC, "2026-06-28T11:00:00Z",
			&Step{Policy: PolicySeries, N: 2, Cycle: 2, At: ts("2026-06-30T10:00:00Z"), Kind: KindDisconnected,
				To: Owner, Key: "a#series#1780308000000#2.2"}},
		{"series, action required: still action required", action, seriesUTC, "2026-06-22T10:00:00Z",
			&Step{Policy: PolicySeries, N: 6, Cycle: 1, At: ts("2026-06-23T10:00:00Z"), Kind: KindStillActionRequired,
				To: Owner, Cc: PrimaryAdmin | SubscribedAdmins, Key: "a#series#1780308000000#1.6"}},

		{"post-expiry personal", expired, utc, "2026-06-07T10:00:00Z",
			&Step{Policy: PolicyPostExpiryWeekly, N: 2, At: ts("2026-06-08T10:00:00Z"), Kind: KindExpired, To: Owner,
				Key: "a#post-expiry-weekly#1780308000000#2"}},
		{"post-expiry company", expiredCo, utc, "2026-06-07T10:00:00Z",
			&Step{Policy: PolicyPostExpiryWeekly, N: 2, At: ts("2026-06-08T10:00:00Z"), Kind: KindExpired, To: Owner | Admins,
				Key: "a#post-expiry-weekly#1780308000000#2"}},
		{"post-expiry off: the workspace policy says expired", expired,
			with(func(s *workspace.Settings) { s.PostExpiryWeekly = false }), "2026-06-01T10:00:00Z",
			&Step{Policy: PolicyExponential, N: 2, At: ts("2026-06-02T10:00:00Z"), Kind: KindExpired, To: Owner, Key: k + "2"}},
		{"post-expiry off, series: still disconnected", expired,
			with(func(s *workspace.Settings) { s.PostExpiryWeekly, s.ReminderPolicy = false, workspace.PolicySeries }),
			"2026-06-22T10:00:00Z", &Step{Policy: PolicySeries, N: 6, Cycle: 1, At: ts("2026-06-23T10:00:00Z"),
				Kind: KindStillDisconnected, To: Owner, Cc: PrimaryAdmin | SubscribedAdmins, Key: "a#series#1780308000000#1.6"}},

		{"pre-expiry: the first Monday of a window still ahead", exp, utc, "2026-06-01T10:00:00Z",
			&Step{Policy: PolicyPreExpiryWeekly, N: 1, At: ts("2026-09-14T09:00:00Z"), Kind: KindExpiring, To: Owner,
				Key: "a#pre-expiry-weekly#1790769600000#2026-09-14"}},
		{"pre-expiry: Monday 21 September", exp, utc, "2026-09-14T09:00:00Z",
			&Step{Policy: PolicyPreExpiryWeekly, N: 2, At: ts("2026-09-21T09:00:00Z"), Kind: KindExpiring, To: Owner,
				Key: "a#pre-expiry-weekly#1790769600000#2026-09-21"}},
		{"pre-expiry: Amsterdam Monday 09:00 is 07:00 UTC", exp, settings("Europe/Amsterdam", nil), "2026-09-14T06:00:00Z",
			&Step{Policy: PolicyPreExpiryWeekly, N: 1, At: ts("2026-09-14T07:00:00Z"), Kind: KindExpiring, To: Owner,
				Key: "a#pre-expiry-weekly#1790769600000#2026-09-14"}},
		{"pre-expiry: no Monday left before the expiry", exp, utc, "2026-09-28T10:00:00Z", nil},
		{"pre-expiry: expired but not yet disconnected", exp, utc, "2026-10-01T00:00:00Z", nil},
		{"pre-expiry switched off", exp, with(func(s *workspace.Settings) { s.PreExpiryWeekly = false }), "2026-06-01T10:00:00Z", nil},
		{"action required and expiring: exponential first", actionExp, utc, "2026-06-01T11:00:00Z",
			&Step{Policy: PolicyExponential, N: 2, At: ts("2026-06-02T10:00:00Z"), Kind: KindActionRequired, To: Owner, Key: k + "2"}},
		{"action required and expiring: Monday first", actionExp, utc, "2026-06-06T10:00:00Z",
			&Step{Policy: PolicyPreExpiryWeekly, N: 2, At: ts("2026-06-08T09:00:00Z"), Kind: KindExpiring, To: Owner | Admins,
				Key: "a#pre-expiry-weekly#1781913600000#2026-06-08"}},

		{"pending", without(disc, func(a *account.Account) { a.State = account.StatePending }), utc, "2026-06-01T09:00:00Z", nil},
		{"deactivated", without(exp, func(a *account.Account) { a.State, a.TroubleSince = account.StateDeactivated, t0 }), utc,
			"2026-06-01T09:00:00Z", nil},
		{"deleted", without(exp, func(a *account.Account) { a.State, a.TroubleSince = account.StateDeleted, t0 }), utc,
			"2026-06-01T09:00:00Z", nil},
		{"active without expiry", acct("a", account.KindCompany, account.StateActive), utc, "2026-06-01T09:00:00Z", nil},
		{"troubled without TroubleSince", without(disc, func(a *account.Account) { a.TroubleSince = time.Time{} }), utc,
			"2026-06-01T09:00:00Z", nil},

		{"unknown policy runs exponential", disc, with(func(s *workspace.Settings) { s.ReminderPolicy = "daily" }),
			"2026-06-01T10:00:00Z", &Step{Policy: PolicyExponential, N: 2, At: ts("2026-06-02T10:00:00Z"),
				Kind: KindDisconnected, To: Owner, Key: k + "2"}},
		{"zero settings: defaults, weekly emails off", expired, workspace.Settings{}, "2026-06-04T10:00:00Z",
			&Step{Policy: PolicyExponential, N: 4, At: ts("2026-06-05T10:00:00Z"), Kind: KindExpired, To: Owner,
				Cc: SubscribedAdmins, Key: k + "4"}},
		{"settings Validate refuses fall back to defaults", disc, with(func(s *workspace.Settings) {
			s.ReminderPolicy, s.SeriesFirstGap, s.SeriesInterval, s.SeriesRepeats = workspace.PolicySeries, -day, time.Minute, 500
		}), "2026-06-01T10:00:00Z", &Step{Policy: PolicySeries, N: 2, Cycle: 1, At: ts("2026-06-03T10:00:00Z"),
			Kind: KindDisconnected, To: Owner, Key: "a#series#1780308000000#1.2"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := Next(tc.a, tc.s, ts(tc.now))
			run := NextRun(tc.a, tc.s, ts(tc.now))
			if tc.want == nil {
				if ok || !run.IsZero() {
					t.Fatalf("Next = %+v, NextRun = %s; want none", got, run)
				}
				return
			}
			if !ok || !got.At.Equal(tc.want.At) {
				t.Fatalf("Next = %+v, %v; want %+v", got, ok, *tc.want)
			}
			got.At = tc.want.At // same instant; the location is the workspace's
			if got != *tc.want {
				t.Errorf("Next = %+v\nwant   %+v", got, *tc.want)
			}
			if !run.Equal(tc.want.At) {
				t.Errorf("NextRun = %s, want %s", run, tc.want.At)
			}
		})
	}
}

// The sent set is what makes delivery exactly once: steps whose keys are recorded are
// never due again, whatever the time and however often Due is asked.
func TestDueSkipsSentKeys(t *testing.T) {
	a := troubled(account.StateDisconnected, account.ReasonRevoked, account.KindPersonal)
	s := settings("UTC", nil)
	now := ts("2026-06-11T10:00:00Z") // day 10: steps 1–5 (days 0, 1, 2, 4, 8) have passed
	keys := func(steps []Step) []string {
		var ks []string
		for _, st := range steps {
			ks = append(ks, st.Key)
		}
		return ks
	}
	const k = "a#exponential#1780308000000#"
	all := Due(a, s, nil, now)
	if got, want := fmt.Sprint(keys(all)), fmt.Sprint([]string{k + "1", k + "2", k + "3", k + "4", k + "5"}); got != want {
		t.Fatalf("nothing sent: due %s, want %s", got, want)
	}
	for i := 1; i < len(all); i++ {
		if !all[i-1].At.Before(all[i].At) {
			t.Errorf("not oldest first: %v", all)
		}
	}
	sent := map[string]bool{k + "1": true, k + "2": true, k + "4": true}
	if got := fmt.Sprint(keys(Due(a, s, func(key string) bool { return sent[key] }, now))); got != fmt.Sprint([]string{k + "3", k + "5"}) {
		t.Errorf("some sent: due %s", got)
	}
	for _, st := range all {
		sent[st.Key] = true
	}
	for _, at := range []string{"2026-06-11T10:00:00Z", "2026-06-11T10:15:00Z", "2026-06-16T09:59:59Z"} {
		if due := Due(a, s, func(key string) bool { return sent[key] }, ts(at)); len(due) != 0 {
			t.Errorf("all sent, at %s: due %+v", at, due)
		}
	}
	if due := Due(a, s, func(key string) bool { return sent[key] }, ts("2026-06-17T10:00:00Z")); len(due) != 1 || due[0].Key != k+"6" {
		t.Errorf("day 16: due %+v, want only step 6", due)
	}
}

// Keys depend on the account, the policy, the episode (or expiry) and the step, not on
// how the account was read or the workspace's current zone: a TroubleSince read back at
// the stores' millisecond precision, or a changed time zone, gives the same keys.
func TestKeysAreStable(t *testing.T) {
	a := troubled(account.StateDisconnected, account.ReasonRevoked, account.KindPersonal)
	a.TroubleSince = ts("2026-06-01T10:00:00Z").Add(123456789)
	stored := a
	stored.TroubleSince = a.TroubleSince.Truncate(time.Millisecond)
	now := ts("2026-06-30T00:00:00Z")
	for _, policy := range []string{workspace.PolicyExponential, workspace.PolicySeries} {
		utc := settings("UTC", func(s *workspace.Settings) { s.ReminderPolicy = policy })
		tokyo := settings("Asia/Tokyo", func(s *workspace.Settings) { s.ReminderPolicy = policy })
		x, y, z := Due(a, utc, nil, now), Due(stored, utc, nil, now), Due(a, tokyo, nil, now)
		if len(x) == 0 || len(x) != len(y) || len(x) != len(z) {
			t.Fatalf("%s: %d, %d, %d steps", policy, len(x), len(y), len(z))
		}
		for i := range x {
			if x[i].Key != y[i].Key || x[i].Key != z[i].Key {
				t.Errorf("%s step %d: keys %q, %q, %q", policy, i, x[i].Key, y[i].Key, z[i].Key)
			}
		}
	}
	// A new episode (a new TroubleSince) and another account never share a key.
	b := a
	b.TroubleSince = a.TroubleSince.Add(time.Hour)
	c := a
	c.ID = "c"
	seen := map[string]bool{}
	for _, acc := range []account.Account{a, b, c} {
		for _, st := range Due(acc, settings("UTC", nil), nil, now) {
			if seen[st.Key] {
				t.Errorf("key %q repeated", st.Key)
			}
			seen[st.Key] = true
		}
	}
}

// An account in trouble for decades costs bounded work: Due looks at the MaxCatchUp
// most recent steps only, and Next is found arithmetically.
func TestDueIsBounded(t *testing.T) {
	now := ts("2030-01-01T00:00:00Z")
	for _, policy := range []string{workspace.PolicyExponential, workspace.PolicySeries} {
		a := troubled(account.StateDisconnected, account.ReasonRevoked, account.KindPersonal)
		a.TroubleSince = ts("1990-01-01T00:00:00Z")
		s := settings("Europe/Amsterdam", func(s *workspace.Settings) { s.ReminderPolicy = policy })
		calls := 0
		due := Due(a, s, func(string) bool { calls++; return false }, now)
		if len(due) != MaxCatchUp || calls != MaxCatchUp {
			t.Fatalf("%s: %d steps due, %d keys looked up; want %d", policy, len(due), calls, MaxCatchUp)
		}
		next, ok := Next(a, s, now)
		last := due[len(due)-1]
		if !ok || !last.At.After(now.Add(-30*day)) || last.At.After(now) || !next.At.After(now) {
			t.Fatalf("%s: last due %s, next %s", policy, last.At, next.At)
		}
		if n := last.N + 1; next.Cycle == last.Cycle && next.N != n || next.Cycle != last.Cycle && next.N != 1 {
			t.Errorf("%s: next %d.%d does not follow the last due %d.%d", policy, next.Cycle, next.N, last.Cycle, last.N)
		}
	}
	// Every step sent: the most recent ones are checked and nothing is due.
	a := troubled(account.StateDisconnected, account.ReasonExpired, account.KindCompany)
	a.TroubleSince = ts("1990-01-01T00:00:00Z")
	if due := Due(a, settings("UTC", nil), func(string) bool { return true }, now); len(due) != 0 {
		t.Errorf("all sent: %d due", len(due))
	}
}

func TestAudienceString(t *testing.T) {
	for a, want := range map[Audience]string{0: "-", Owner: "owner", Owner | Admins: "owner+admins",
		PrimaryAdmin | SubscribedAdmins: "primary+subscribed"} {
		if a.String() != want {
			t.Errorf("%d = %q, want %q", a, a.String(), want)
		}
	}
	if !(Owner | Admins).Has(Admins) || Owner.Has(Owner|Admins) {
		t.Error("Has")
	}
}
