package account

import (
	"testing"
	"time"
)

const day = 24 * time.Hour

func TestSchedule(t *testing.T) {
	now := t0
	tests := []struct {
		name string
		a    Account
		want time.Time
	}{
		{"pending is not scheduled", Account{State: StatePending}, time.Time{}},
		{"deactivated is not scheduled", Account{State: StateDeactivated, LastProbeAt: now}, time.Time{}},
		{"deleted is not scheduled", Account{State: StateDeleted}, time.Time{}},
		{"disconnected with a dead token is not checked", Account{State: StateDisconnected, Reason: ReasonRevoked}, time.Time{}},
		{"disconnected as unreachable: tried again later", Account{State: StateDisconnected, Reason: ReasonUnreachable}, now.Add(6 * time.Hour)},
		{"one transient failure: an hour", Account{State: StateActive, LastProbeAt: now.Add(-30 * time.Hour), TransientFailures: 1}, now.Add(time.Hour)},
		{"three transient failures: four hours", Account{State: StateActive, TransientFailures: 3}, now.Add(4 * time.Hour)},
		{"many transient failures: six hours at most", Account{State: StateActionRequired, TransientFailures: 9}, now.Add(6 * time.Hour)},
		{"back-off never passes the hard expiry", Account{State: StateActive, TransientFailures: 5, TokenExpiresAt: now.Add(2 * time.Hour)}, now.Add(2 * time.Hour)},
		{"never probed: a day from now", Account{State: StateActive}, now.Add(day)},
		{"probed 3h ago", Account{State: StateActive, LastProbeAt: now.Add(-3 * time.Hour)}, now.Add(21 * time.Hour)},
		{"probe overdue", Account{State: StateActive, LastProbeAt: now.Add(-30 * time.Hour)}, now},
		{"hard expiry before next probe", Account{State: StateActive, LastProbeAt: now, TokenExpiresAt: now.Add(5 * time.Hour)}, now.Add(5 * time.Hour)},
		{"hard expiry passed", Account{State: StateActionRequired, LastProbeAt: now, TokenExpiresAt: now.Add(-time.Hour)}, now},
		{"refreshable: an hour before the access token lapses", Account{State: StateActive, LastProbeAt: now, Refreshable: true,
			TokenExpiresAt: now.Add(2 * time.Hour), RefreshExpiresAt: now.Add(180 * day)}, now.Add(time.Hour)},
		{"refreshable: refresh-token end is the hard expiry", Account{State: StateActive, LastProbeAt: now, Refreshable: true,
			RefreshExpiresAt: now.Add(10 * time.Hour)}, now.Add(10 * time.Hour)},
		{"page token without expiry", Account{State: StateActive, LastProbeAt: now}, now.Add(day)},
	}
	for _, tt := range tests {
		if got := Schedule(tt.a, now); !got.Equal(tt.want) {
			t.Errorf("%s: Schedule = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestExpiring(t *testing.T) {
	window := 20 * day
	tests := []struct {
		name string
		a    Account
		want bool
	}{
		{"no known expiry", Account{State: StateActive}, false},
		{"19 days left", Account{State: StateActive, TokenExpiresAt: t0.Add(19 * day)}, true},
		{"exactly at the window edge", Account{State: StateActive, TokenExpiresAt: t0.Add(window)}, true},
		{"21 days left", Account{State: StateActive, TokenExpiresAt: t0.Add(21 * day)}, false},
		{"already expired", Account{State: StateActive, TokenExpiresAt: t0.Add(-time.Minute)}, false},
		{"refreshable: access expiry does not count", Account{State: StateActive, Refreshable: true, TokenExpiresAt: t0.Add(time.Hour)}, false},
		{"refreshable: refresh end counts", Account{State: StateActionRequired, Refreshable: true, RefreshExpiresAt: t0.Add(3 * day)}, true},
		{"disconnected is not expiring", Account{State: StateDisconnected, TokenExpiresAt: t0.Add(3 * day)}, false},
		{"deactivated is not expiring", Account{State: StateDeactivated, TokenExpiresAt: t0.Add(3 * day)}, false},
	}
	for _, tt := range tests {
		if got := tt.a.Expiring(t0, window); got != tt.want {
			t.Errorf("%s: Expiring = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestFilterMatch(t *testing.T) {
	a := Account{State: StateActive, Channel: "x", OwnerID: "u1", TokenExpiresAt: t0.Add(5 * day)}
	deleted := Account{State: StateDeleted, Channel: "x", OwnerID: "u1"}
	tests := []struct {
		name string
		f    Filter
		a    Account
		want bool
	}{
		{"empty filter", Filter{}, a, true},
		{"empty filter hides deleted", Filter{}, deleted, false},
		{"deleted on request", Filter{State: StateDeleted}, deleted, true},
		{"state mismatch", Filter{State: StateDisconnected}, a, false},
		{"channel", Filter{Channel: "x"}, a, true},
		{"other channel", Filter{Channel: "tiktok"}, a, false},
		{"owner", Filter{OwnerID: "u1"}, a, true},
		{"other owner", Filter{OwnerID: "u2"}, a, false},
		{"expiring before, inside", Filter{ExpiringBefore: t0.Add(6 * day)}, a, true},
		{"expiring before, outside", Filter{ExpiringBefore: t0.Add(4 * day)}, a, false},
		{"expiring before, no expiry known", Filter{ExpiringBefore: t0.Add(6 * day)}, Account{State: StateActive}, false},
	}
	for _, tt := range tests {
		if got := tt.f.Match(tt.a); got != tt.want {
			t.Errorf("%s: Match = %v, want %v", tt.name, got, tt.want)
		}
	}
	if (Filter{State: "broken"}).Validate() == nil {
		t.Error("unknown state accepted")
	}
}

func TestRemindAt(t *testing.T) {
	later := t0.Add(3 * day)
	expiring := Account{State: StateActive, TokenExpiresAt: t0.Add(40 * day), RemindAt: later}
	tests := []struct {
		name          string
		before, after Account
		want          time.Time
	}{
		{"active without expiry: nothing to remind", Account{}, Account{State: StateActive}, time.Time{}},
		{"deactivated: nothing to remind", sample(StateDisconnected), Account{State: StateDeactivated}, time.Time{}},
		{"newly disconnected: look now", Account{State: StateActive}, Account{State: StateDisconnected, Reason: ReasonRevoked}, t0},
		{"still disconnected, same reason: keep", Account{State: StateDisconnected, Reason: ReasonRevoked, RemindAt: later},
			Account{State: StateDisconnected, Reason: ReasonRevoked, RemindAt: later}, later},
		{"a hard expiry appears: look now", Account{State: StateActive}, Account{State: StateActive, TokenExpiresAt: t0.Add(40 * day)}, t0},
		{"same expiry: keep", expiring, expiring, later},
		// A later end needs no look now: the planned one (at most a day away) comes,
		// and hourly renewals sliding a rotating refresh token's end cost no look each.
		{"later expiry after a reconnect: keep", expiring, Account{State: StateActive, TokenExpiresAt: t0.Add(60 * day), RemindAt: later}, later},
		{"refresh end slid by a renewal: keep", Account{State: StateActive, Refreshable: true, RefreshExpiresAt: t0.Add(90 * day), RemindAt: later},
			Account{State: StateActive, Refreshable: true, RefreshExpiresAt: t0.Add(90*day + time.Hour), RemindAt: later}, later},
		{"nearer expiry: look now", expiring, Account{State: StateActive, TokenExpiresAt: t0.Add(20 * day), RemindAt: later}, t0},
		{"reason changed: look now", Account{State: StateDisconnected, Reason: ReasonRevoked, RemindAt: later},
			Account{State: StateDisconnected, Reason: ReasonPasswordChanged, RemindAt: later}, t0},
		{"owner changed: look now", Account{State: StateDisconnected, OwnerID: "a", RemindAt: later},
			Account{State: StateDisconnected, OwnerID: "b", RemindAt: later}, t0},
	}
	for _, tt := range tests {
		if got := remindAt(tt.before, tt.after, t0); !got.Equal(tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
	r := Reminded(expiring, t0.Add(7*day), t0)
	if r.Event != nil || r.After.Version != expiring.Version+1 || !r.After.RemindAt.Equal(t0.Add(7*day)) || r.After.State != expiring.State {
		t.Fatalf("Reminded: %+v", r)
	}
}
