package account

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/relinkhq/relink/internal/relink"
	"github.com/relinkhq/relink/internal/workspace"
)

var (
	t0      = time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	primary = Actor{ID: "u-primary", Role: workspace.RolePrimaryAdmin}
)

// sample returns an account in state s, as it would look after reaching it.
func sample(s State) Account {
	a := Account{
		WorkspaceID: "ws1", ID: "a1", Channel: "facebook", ExternalID: "page-1", DisplayName: "Acme Coffee",
		OwnerID: "u-owner", Kind: KindCompany, State: s, Version: 7, CreatedAt: t0.Add(-48 * time.Hour),
		Scopes: []string{"pages_show_list"}, TokenExpiresAt: t0.Add(40 * 24 * time.Hour),
	}
	switch s {
	case StateActionRequired:
		a.Reason = ReasonPermissionMissing
		a.Missing = []MissingPermission{{Name: "pages_manage_posts", Kind: "scope", Breaks: []Capability{CapPublish}}}
		a.TroubleSince = t0.Add(-time.Hour)
	case StateDisconnected:
		a.Reason = ReasonRevoked
		a.TroubleSince = t0.Add(-time.Hour)
	case StateDeleted:
		a.PreviousState = StateActive
		a.DeletedAt = t0.Add(-24 * time.Hour)
		a.PurgeAt = a.DeletedAt.Add(Retention)
	}
	return a
}

// validCommand returns a command for action that would succeed wherever the move is allowed.
func validCommand(action Action) Command {
	return Command{
		Action: action, Actor: primary, At: t0, EventID: "e1",
		Reason:       ReasonRevoked,
		Grant:        &Grant{Scopes: []string{"pages_show_list", "pages_manage_posts"}, TokenExpiresAt: t0.Add(60 * 24 * time.Hour)},
		TokenValid:   true,
		NewOwnerID:   "u-other",
		Confirmation: "Acme Coffee",
	}
}

// TestTransitionEveryPair covers every (state, action) pair. The expected outcomes are
// written out by hand, independent of the moves table they check.
func TestTransitionEveryPair(t *testing.T) {
	const illegal = State("ILLEGAL")
	want := map[State]map[Action]State{
		StatePending: {
			ActAuthorize: StateActive, ActDeactivate: StateDeactivated, ActTransfer: StatePending, ActDelete: StateDeleted,
		},
		StateActive: {
			ActAuthorize: StateActive, ActProbe: StateActive, ActDisconnect: StateDisconnected, ActNoteTransient: StateActive,
			ActDeactivate: StateDeactivated, ActTransfer: StateActive, ActDelete: StateDeleted, ActReport: StateActive,
		},
		StateActionRequired: {
			ActAuthorize: StateActive, ActProbe: StateActive, ActDisconnect: StateDisconnected, ActNoteTransient: StateActionRequired,
			ActDeactivate: StateDeactivated, ActTransfer: StateActionRequired, ActDelete: StateDeleted, ActReport: StateActionRequired,
		},
		StateDisconnected: {
			ActAuthorize: StateActive, ActProbe: StateActive, ActDisconnect: StateDisconnected, ActNoteTransient: StateDisconnected,
			ActDeactivate: StateDeactivated, ActTransfer: StateDisconnected, ActDelete: StateDeleted, ActReport: StateDisconnected,
		},
		StateDeactivated: {
			ActAuthorize: StateActive, ActActivate: StateActive, ActTransfer: StateDeactivated, ActDelete: StateDeleted,
			ActReport: StateDeactivated,
		},
		StateDeleted: {
			ActRestore: StateActive, // back to the state it was deleted from
		},
	}
	pairs := 0
	for _, from := range States {
		for _, action := range Actions {
			pairs++
			expect, ok := want[from][action]
			if !ok {
				expect = illegal
			}
			before := sample(from)
			c, err := Transition(before, validCommand(action))
			if expect == illegal {
				if relink.ErrorCode(err) != relink.EILLEGAL {
					t.Errorf("%s --%s--> got (%v, %v), want illegal", from, action, c.After.State, err)
				}
				if Allowed(from, action) {
					t.Errorf("Allowed(%s, %s) = true, want false", from, action)
				}
				continue
			}
			if err != nil {
				t.Errorf("%s --%s--> error %v, want %s", from, action, err, expect)
				continue
			}
			if c.After.State != expect {
				t.Errorf("%s --%s--> %s, want %s", from, action, c.After.State, expect)
			}
			if c.After.Version != before.Version+1 || c.Before.Version != before.Version {
				t.Errorf("%s --%s--> version %d→%d, want %d→%d", from, action, c.Before.Version, c.After.Version, before.Version, before.Version+1)
			}
			if !c.After.UpdatedAt.Equal(t0) {
				t.Errorf("%s --%s--> UpdatedAt %v", from, action, c.After.UpdatedAt)
			}
		}
	}
	// Creation is the move from "no account": only Create leads there.
	for _, action := range Actions {
		pairs++
		if _, err := Transition(Account{}, validCommand(action)); relink.ErrorCode(err) != relink.EILLEGAL {
			t.Errorf("none --%s--> err %v, want illegal (accounts are created with New)", action, err)
		}
	}
	if pairs != (len(States)+1)*len(Actions) {
		t.Fatalf("covered %d pairs", pairs)
	}
}

func TestNew(t *testing.T) {
	spec := Spec{WorkspaceID: "ws1", ID: "a1", Channel: "linkedin", ExternalID: "org-9", DisplayName: "  Acme  ",
		OwnerID: "u1", Kind: KindCompany}
	cmd := Command{Actor: primary, At: t0, EventID: "e1"}

	c, err := New(spec, cmd)
	if err != nil {
		t.Fatal(err)
	}
	a := c.After
	if a.State != StatePending || a.Version != 1 || a.DisplayName != "Acme" || !a.CreatedAt.Equal(t0) || !a.DueAt.IsZero() {
		t.Fatalf("pending account = %+v", a)
	}
	if c.Event == nil || c.Event.Action != ActCreate || c.Event.From != StateNone || c.Event.To != StatePending || c.Event.Version != 1 {
		t.Fatalf("event = %+v", c.Event)
	}

	spec.Grant = &Grant{Missing: []MissingPermission{{Name: "w_organization_social", Kind: "scope", Breaks: []Capability{CapPublish}}}}
	c, err = New(spec, cmd)
	if err != nil {
		t.Fatal(err)
	}
	if c.After.State != StateActionRequired || !slices.Equal(c.Effects, []Effect{EffectStartReminders}) || !c.After.TroubleSince.Equal(t0) {
		t.Fatalf("created with missing permissions: %+v effects %v", c.After, c.Effects)
	}
	if !slices.Equal(c.Event.Missing, []string{"w_organization_social"}) {
		t.Fatalf("event missing = %v", c.Event.Missing)
	}

	bad := []func(*Spec){
		func(s *Spec) { s.WorkspaceID = "" },
		func(s *Spec) { s.ID = "a#1" },
		func(s *Spec) { s.Channel = " " },
		func(s *Spec) { s.ExternalID = "" },
		func(s *Spec) { s.ExternalID = "a\x00b" },
		func(s *Spec) { s.OwnerID = "u#1" },
		func(s *Spec) { s.OwnerID = "" },
		func(s *Spec) { s.DisplayName = "   " },
		func(s *Spec) { s.Kind = "team" },
		func(s *Spec) { s.DisplayName = string(make([]byte, 301)) },
	}
	for _, ok := range []string{"locations/8800001", "urn:li:organization:5", "UC#x"} {
		s := spec
		s.ExternalID = ok
		if _, err := New(s, cmd); err != nil {
			t.Errorf("platform ID %q refused: %v", ok, err)
		}
	}
	for i, mutate := range bad {
		s := spec
		mutate(&s)
		if _, err := New(s, cmd); relink.ErrorCode(err) != relink.EINVALID {
			t.Errorf("bad spec %d: err %v, want invalid", i, err)
		}
	}
	if _, err := New(spec, Command{Actor: primary, EventID: "e"}); relink.ErrorCode(err) != relink.EINVALID {
		t.Errorf("no time: err %v", err)
	}
}

func TestEffects(t *testing.T) {
	tests := []struct {
		from   State
		action Action
		mutate func(*Command)
		want   []Effect
	}{
		{StateActive, ActDisconnect, nil, []Effect{EffectStartReminders}},
		{StateDisconnected, ActAuthorize, nil, []Effect{EffectStopReminders}},
		{StateActionRequired, ActDisconnect, nil, []Effect{EffectStartReminders}}, // a new kind of trouble restarts the series
		{StateDisconnected, ActDisconnect, func(c *Command) { c.Reason = ReasonExpired }, nil},
		{StateDisconnected, ActDeactivate, nil, []Effect{EffectStopReminders, EffectNotifySubscribers}},
		{StateActive, ActDeactivate, nil, []Effect{EffectNotifySubscribers}},
		{StateActive, ActDelete, nil, []Effect{EffectNotifySubscribers}},
		{StateDisconnected, ActTransfer, nil, []Effect{EffectOwnerChanged}},
		{StateDeleted, ActRestore, nil, []Effect{EffectRecheck}},
		{StateActive, ActProbe, func(c *Command) {
			c.Grant.Missing = []MissingPermission{{Name: "read_insights", Kind: "scope", Breaks: []Capability{CapReport}}}
		}, []Effect{EffectStartReminders}},
		{StateActive, ActNoteTransient, nil, nil},
	}
	for _, tt := range tests {
		cmd := validCommand(tt.action)
		if tt.mutate != nil {
			tt.mutate(&cmd)
		}
		c, err := Transition(sample(tt.from), cmd)
		if err != nil {
			t.Errorf("%s --%s-->: %v", tt.from, tt.action, err)
			continue
		}
		if !slices.Equal(c.Effects, tt.want) {
			t.Errorf("%s --%s--> effects %v, want %v", tt.from, tt.action, c.Effects, tt.want)
		}
	}
}

func TestAuditEvent(t *testing.T) {
	c, err := Transition(sample(StateActive), Command{Action: ActDisconnect, Actor: SystemActor("expiry-check"), At: t0, EventID: "e9",
		Reason: ReasonPasswordChanged, ChannelError: &ChannelError{HTTPStatus: 400, Code: "190", Subcode: "460", Message: "Password changed"}})
	if err != nil {
		t.Fatal(err)
	}
	e := c.Event
	if e == nil || e.ID != "e9" || e.Version != 8 || e.From != StateActive || e.To != StateDisconnected ||
		e.Reason != ReasonPasswordChanged || e.ChannelError.Subcode != "460" || !e.Actor.System || e.AccountID != "a1" || e.WorkspaceID != "ws1" {
		t.Fatalf("event = %+v", e)
	}
	// A dead token is not checked again (DueAt zero); reminders start at once.
	if c.After.Reason != ReasonPasswordChanged || !c.After.TroubleSince.Equal(t0) || !c.After.DueAt.IsZero() || !c.After.RemindAt.Equal(t0) {
		t.Fatalf("after = %+v", c.After)
	}

	// Transfers name both owners.
	c, _ = Transition(sample(StateActive), validCommand(ActTransfer))
	if c.Event.FromOwner != "u-owner" || c.Event.ToOwner != "u-other" || c.After.OwnerID != "u-other" {
		t.Fatalf("transfer event = %+v", c.Event)
	}

	// A transient failure is recorded, changes no state, and counts.
	a := sample(StateActive)
	for i := 1; i <= 3; i++ {
		cmd := Command{Action: ActNoteTransient, Actor: SystemActor("expiry-check"), At: t0.Add(time.Duration(i) * time.Hour), EventID: "e",
			ChannelError: &ChannelError{HTTPStatus: 503}}
		c, err = Transition(a, cmd)
		if err != nil {
			t.Fatal(err)
		}
		a = c.After
		if c.Event == nil || c.Event.Reason != ReasonTransient || a.State != StateActive || a.TransientFailures != i ||
			!a.TransientSince.Equal(t0.Add(time.Hour)) {
			t.Fatalf("transient %d: event %+v account %+v", i, c.Event, a)
		}
	}
	c, _ = Transition(a, Command{Action: ActProbe, Actor: SystemActor("expiry-check"), At: t0.Add(5 * time.Hour), EventID: "e"})
	if c.After.TransientFailures != 0 || !c.After.TransientSince.IsZero() {
		t.Fatalf("a success must reset the transient count: %+v", c.After)
	}
}

func TestQuietChanges(t *testing.T) {
	sys := SystemActor("expiry-check")
	// A probe that finds the account as it was is bookkeeping, not audit.
	c, err := Transition(sample(StateActive), Command{Action: ActProbe, Actor: sys, At: t0, EventID: "e"})
	if err != nil || c.Event != nil || c.After.Version != 8 || !c.After.LastProbeAt.Equal(t0) {
		t.Fatalf("quiet probe: %+v %v", c, err)
	}
	if want := t0.Add(ProbeInterval); !c.After.DueAt.Equal(want) {
		t.Fatalf("next probe due %v, want %v", c.After.DueAt, want)
	}
	// The same failure reported again changes nothing worth auditing.
	c, _ = Transition(sample(StateDisconnected), Command{Action: ActDisconnect, Actor: sys, At: t0, EventID: "e", Reason: ReasonRevoked})
	if c.Event != nil {
		t.Fatalf("repeated disconnect audited: %+v", c.Event)
	}
	// A probe that finds a permission gone is audited.
	c, _ = Transition(sample(StateActive), Command{Action: ActProbe, Actor: sys, At: t0, EventID: "e",
		Grant: &Grant{Missing: []MissingPermission{{Name: "ANALYZE", Kind: "task", Breaks: []Capability{CapReport}}}}})
	if c.Event == nil || c.Event.To != StateActionRequired || !slices.Equal(c.Event.Missing, []string{"ANALYZE"}) {
		t.Fatalf("permission loss not audited: %+v", c.Event)
	}
	// People's actions are always audited, even when nothing else changes.
	c, _ = Transition(sample(StateActive), validCommand(ActAuthorize))
	if c.Event == nil {
		t.Fatal("re-add not audited")
	}
}

func TestActivateNeedsValidToken(t *testing.T) {
	cmd := validCommand(ActActivate)
	cmd.TokenValid = false
	_, err := Transition(sample(StateDeactivated), cmd)
	if relink.ErrorCode(err) != relink.EREAUTH {
		t.Fatalf("activate with dead token: %v, want reauth_required", err)
	}
	// A live token with permissions missing comes back as action required.
	cmd = validCommand(ActActivate)
	cmd.Grant.Missing = []MissingPermission{{Name: "MODERATE", Kind: "task", Breaks: []Capability{CapEngage}}}
	c, err := Transition(sample(StateDeactivated), cmd)
	if err != nil || c.After.State != StateActionRequired {
		t.Fatalf("activate with missing task: %v %v", c.After.State, err)
	}
}

func TestDeleteGuardAndRestore(t *testing.T) {
	admin := Actor{ID: "u-admin", Role: workspace.RoleAdmin}
	cmd := validCommand(ActDelete)
	cmd.Actor = admin
	if _, err := Transition(sample(StateActive), cmd); relink.ErrorCode(err) != relink.EFORBIDDEN {
		t.Fatalf("admin delete: %v, want forbidden", err)
	}
	for _, typed := range []string{"", "acme coffee", "Acme", "Acme Coffee!"} {
		cmd = validCommand(ActDelete)
		cmd.Confirmation = typed
		if _, err := Transition(sample(StateActive), cmd); relink.ErrorCode(err) != relink.EINVALID {
			t.Errorf("confirmation %q: %v, want invalid", typed, err)
		}
	}
	cmd = validCommand(ActDelete)
	cmd.Confirmation = "  Acme Coffee "
	c, err := Transition(sample(StateDisconnected), cmd)
	if err != nil {
		t.Fatal(err)
	}
	d := c.After
	if d.State != StateDeleted || d.PreviousState != StateDisconnected || !d.PurgeAt.Equal(t0.Add(Retention)) || !d.DueAt.IsZero() {
		t.Fatalf("deleted = %+v", d)
	}
	if d.Gone(t0.Add(Retention-time.Second)) || !d.Gone(t0.Add(Retention)) {
		t.Fatal("Gone must flip exactly at PurgeAt")
	}

	restore := validCommand(ActRestore)
	restore.At = t0.Add(29 * 24 * time.Hour)
	c, err = Transition(d, restore)
	if err != nil {
		t.Fatal(err)
	}
	r := c.After
	if r.State != StateDisconnected || !r.PurgeAt.IsZero() || !r.DeletedAt.IsZero() || r.PreviousState != "" || !r.TroubleSince.Equal(restore.At) {
		t.Fatalf("restored = %+v", r)
	}
	// Restored disconnected: reminders start again; a dead token is not rechecked.
	if !slices.Equal(c.Effects, []Effect{EffectStartReminders}) || !r.RemindAt.Equal(restore.At) || !r.DueAt.IsZero() {
		t.Fatalf("restore effects = %v, due %v, remind %v", c.Effects, r.DueAt, r.RemindAt)
	}
	// Restored active: checked at the next run.
	cmd = validCommand(ActDelete)
	c, _ = Transition(sample(StateActive), cmd)
	c, _ = Transition(c.After, validCommand(ActRestore))
	if !slices.Equal(c.Effects, []Effect{EffectRecheck}) || !c.After.DueAt.Equal(t0) {
		t.Fatalf("restored active: %v due %v", c.Effects, c.After.DueAt)
	}

	restore.At = t0.Add(Retention)
	if _, err := Transition(d, restore); relink.ErrorCode(err) != relink.ENOTFOUND {
		t.Fatalf("restore after retention: %v, want not_found", err)
	}
	// An account deleted while deactivated comes back deactivated and unscheduled.
	cmd = validCommand(ActDelete)
	c, _ = Transition(sample(StateDeactivated), cmd)
	c, _ = Transition(c.After, validCommand(ActRestore))
	if c.After.State != StateDeactivated || !c.After.DueAt.IsZero() || slices.Contains(c.Effects, EffectRecheck) {
		t.Fatalf("restored deactivated = %+v %v", c.After, c.Effects)
	}
}

func TestPermitted(t *testing.T) {
	owner := Actor{ID: "u-owner", Role: workspace.RoleOwner}
	otherOwner := Actor{ID: "u-x", Role: workspace.RoleOwner}
	admin := Actor{ID: "u-admin", Role: workspace.RoleAdmin}
	service := Actor{ID: "publisher", Role: workspace.RoleService}
	sys := SystemActor("reminders")

	tests := []struct {
		actor  Actor
		from   State
		action Action
		ok     bool
	}{
		{owner, StateDisconnected, ActAuthorize, true},
		{otherOwner, StateDisconnected, ActAuthorize, false},
		{admin, StateDisconnected, ActAuthorize, true},
		{service, StateDisconnected, ActAuthorize, false},
		{owner, StateActive, ActDeactivate, false},
		{admin, StateActive, ActDeactivate, true},
		{service, StateActive, ActDeactivate, false},
		{owner, StateActive, ActDisconnect, false},
		{service, StateActive, ActDisconnect, true},
		{sys, StateActive, ActDisconnect, true},
		{owner, StateActive, ActTransfer, false},
		{admin, StateActive, ActTransfer, true},
		{owner, StateDeleted, ActRestore, false},
		{admin, StateDeleted, ActRestore, true},
		{sys, StateActive, ActDelete, false},
		{admin, StateActive, ActDelete, false},
		{primary, StateActive, ActDelete, true},
		{owner, StateActive, ActProbe, false},
		{service, StateActive, ActNoteTransient, true},
	}
	for _, tt := range tests {
		cmd := validCommand(tt.action)
		cmd.Actor = tt.actor
		_, err := Transition(sample(tt.from), cmd)
		if tt.ok && err != nil {
			t.Errorf("%+v %s: %v", tt.actor, tt.action, err)
		}
		if !tt.ok && relink.ErrorCode(err) != relink.EFORBIDDEN {
			t.Errorf("%+v %s: %v, want forbidden", tt.actor, tt.action, err)
		}
	}
}

func TestCommandValidation(t *testing.T) {
	tests := []struct {
		name   string
		from   State
		mutate func(*Command)
	}{
		{"no event id", StateActive, func(c *Command) { c.Action = ActDeactivate; c.EventID = "" }},
		{"no actor", StateActive, func(c *Command) { c.Action = ActDeactivate; c.Actor = Actor{} }},
		{"disconnect without reason", StateActive, func(c *Command) { c.Action = ActDisconnect; c.Reason = "" }},
		{"reason not a code", StateActive, func(c *Command) { c.Action = ActDisconnect; c.Reason = "Token Expired!" }},
		{"reason over 64 bytes", StateActive, func(c *Command) { c.Action = ActDisconnect; c.Reason = "r" + strings.Repeat("x", 64) }},
		{"reason starting with a digit", StateActive, func(c *Command) { c.Action = ActDisconnect; c.Reason = "1revoked" }},
		{"authorize without grant", StateActive, func(c *Command) { c.Action = ActAuthorize; c.Grant = nil }},
		{"transfer to nobody", StateActive, func(c *Command) { c.Action = ActTransfer; c.NewOwnerID = "" }},
		{"transfer to same owner", StateActive, func(c *Command) { c.Action = ActTransfer; c.NewOwnerID = "u-owner" }},
		{"note too long", StateActive, func(c *Command) { c.Action = ActDeactivate; c.Note = string(make([]byte, 1001)) }},
	}
	for _, tt := range tests {
		cmd := validCommand(ActDeactivate)
		tt.mutate(&cmd)
		if _, err := Transition(sample(tt.from), cmd); relink.ErrorCode(err) != relink.EINVALID {
			t.Errorf("%s: %v, want invalid", tt.name, err)
		}
	}
	cmd := validCommand(ActDisconnect)
	cmd.Reason = "r" + strings.Repeat("x", 63) // 64 bytes: the longest code
	if _, err := Transition(sample(StateActive), cmd); err != nil {
		t.Errorf("a 64-byte reason code: %v", err)
	}
}

func TestIllegalMessage(t *testing.T) {
	_, err := Transition(sample(StateActive), validCommand(ActActivate))
	if got := relink.ErrorMessage(err); got != "Cannot activate an account that is active." {
		t.Fatalf("message = %q", got)
	}
	_, err = Transition(sample(StateDeleted), validCommand(ActNoteTransient))
	if got := relink.ErrorMessage(err); got != "Cannot record a failure on an account that is deleted." {
		t.Fatalf("message = %q", got)
	}
}

// TestReportRecordsAndRechecks: a reported failure changes no state and no failure
// counter, is always audited with the reason and the channel's error, and asks for a
// check at the next run.
func TestReportRecordsAndRechecks(t *testing.T) {
	a := sample(StateActive)
	a.TransientFailures, a.TransientSince = 2, t0.Add(-time.Hour)
	a.DueAt = t0.Add(20 * time.Hour)
	ce := &ChannelError{HTTPStatus: 503, Code: "2", Message: "Service temporarily unavailable"}
	c, err := Transition(a, Command{Action: ActReport, Actor: Actor{ID: "svc", Role: workspace.RoleService}, At: t0, EventID: "e1",
		Reason: "transient", ChannelError: ce})
	if err != nil {
		t.Fatal(err)
	}
	if c.After.State != StateActive || c.After.TransientFailures != 2 || !c.After.DueAt.Equal(t0) {
		t.Fatalf("after a report: %+v", c.After)
	}
	if c.Event == nil || c.Event.Reason != "transient" || c.Event.ChannelError != ce || c.Event.Actor.ID != "svc" {
		t.Fatalf("event %+v", c.Event)
	}
	if !slices.Contains(c.Effects, EffectRecheck) {
		t.Fatalf("effects %v", c.Effects)
	}
	// Deactivated accounts are recorded but not scheduled.
	c, err = Transition(sample(StateDeactivated), Command{Action: ActReport, Actor: primary, At: t0, EventID: "e2"})
	if err != nil || !c.After.DueAt.IsZero() || c.Event.Reason != ReasonReported || slices.Contains(c.Effects, EffectRecheck) {
		t.Fatalf("report on a deactivated account: %+v %v", c, err)
	}
	// Owners do not report failures.
	_, err = Transition(sample(StateActive), Command{Action: ActReport, Actor: Actor{ID: "u-owner", Role: workspace.RoleOwner}, At: t0, EventID: "e3"})
	if relink.ErrorCode(err) != relink.EFORBIDDEN {
		t.Fatalf("owner report: %v", err)
	}
}
