package dynamo

import (
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/relinkhq/relink/internal/account"
	"github.com/relinkhq/relink/internal/store"
	"github.com/relinkhq/relink/internal/workspace"
)

// roundTrip encodes a record, decodes it into a fresh one and returns both the item
// and the decoded record.
func roundTrip[T any](t *testing.T, v T) (map[string]types.AttributeValue, T) {
	t.Helper()
	item, err := marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var back T
	if err := unmarshal(item, &back); err != nil {
		t.Fatal(err)
	}
	return item, back
}

func TestAccountItemRoundTrip(t *testing.T) {
	at := time.Date(2026, 11, 23, 9, 0, 0, 123_000_000, time.UTC)
	a := account.Account{
		WorkspaceID: "ws", ID: "a1", Channel: "facebook", ExternalID: "page-1", DisplayName: "Acme", OwnerID: "u1",
		Kind: account.KindPersonal, ParentProfileID: "fb-9", State: account.StateDeleted, PreviousState: account.StateDisconnected,
		Reason: account.ReasonRevoked, ChannelError: &account.ChannelError{HTTPStatus: 400, Code: "190", Subcode: "460", Message: "bad"},
		Scopes: []string{"b", "a"}, Tasks: []string{"ANALYZE"},
		Missing: []account.MissingPermission{
			{Name: "pages_manage_posts", Kind: "scope", Breaks: []account.Capability{account.CapPublish, account.CapEngage}},
			{Name: "x", Kind: "task"},
		},
		Refreshable: true, TokenExpiresAt: at.Add(time.Hour), RefreshExpiresAt: at.Add(48 * time.Hour),
		LastProbeAt: at, TroubleSince: at, TransientFailures: 3, TransientSince: at,
		DueAt: at.Add(time.Minute), RemindAt: at.Add(2 * time.Minute),
		Version: 9, CreatedAt: at, UpdatedAt: at, DeletedAt: at, PurgeAt: at.Add(account.Retention),
	}
	item, back := roundTrip(t, toAccountItem(a, 8))
	if got := back.domain(); !reflect.DeepEqual(got, a) {
		t.Fatalf("round trip:\n got  %+v\n want %+v", got, a)
	}
	num := func(name string) string {
		n, ok := item[name].(*types.AttributeValueMemberN)
		if !ok {
			t.Fatalf("%s is %T, want a number", name, item[name])
		}
		return n.Value
	}
	if got, want := num(AttrDueAt), "1795424460123"; got != want {
		t.Errorf("DueAt = %s, want epoch ms %s", got, want)
	}
	// TTL rounds up to the next second so it never fires before the purge time.
	if got, want := num(AttrExpiresAt), "1798016401"; got != want {
		t.Errorf("ExpiresAt = %s, want %s", got, want)
	}
	if got, want := num(attrHardExpiresAt), "1795597200123"; got != want {
		t.Errorf("HardExpiresAt = %s, want the refresh end %s", got, want)
	}
	if s, ok := item[AttrDueShard].(*types.AttributeValueMemberS); !ok || s.Value != dueShard(store.DueShard("ws", "a1", 8)) {
		t.Errorf("DueShard = %v", item[AttrDueShard])
	}
	if got, want := num(AttrRemindAt), "1795424520123"; got != want {
		t.Errorf("RemindAt = %s, want epoch ms %s", got, want)
	}
	// The same shard as in the due index, under the remind index's own prefix.
	if s, ok := item[AttrRemindShard].(*types.AttributeValueMemberS); !ok || s.Value != "REMIND#"+strconv.Itoa(store.DueShard("ws", "a1", 8)) {
		t.Errorf("RemindShard = %v", item[AttrRemindShard])
	}
	if _, ok := item["Missing"].(*types.AttributeValueMemberL); !ok {
		t.Errorf("Missing is %T, want a list", item["Missing"])
	}

	// Unscheduled, live and without known expiry: the index and TTL attributes are absent.
	plain := account.Account{WorkspaceID: "ws", ID: "a2", Channel: "x", ExternalID: "e", OwnerID: "u1", State: account.StatePending, Version: 1}
	item, back = roundTrip(t, toAccountItem(plain, 8))
	for _, name := range []string{AttrDueShard, AttrDueAt, AttrRemindShard, AttrRemindAt, AttrExpiresAt, attrPurgeAt, attrHardExpiresAt, "CreatedAt", "Scopes", "ChannelError"} {
		if _, ok := item[name]; ok {
			t.Errorf("%s stored for an account without it", name)
		}
	}
	if got := back.domain(); !reflect.DeepEqual(got, plain) {
		t.Fatalf("round trip:\n got  %+v\n want %+v", got, plain)
	}

	// Each index is sparse on its own: an account may carry one set of keys alone.
	remindOnly := plain
	remindOnly.RemindAt = at
	item, _ = roundTrip(t, toAccountItem(remindOnly, 8))
	if _, ok := item[AttrDueShard]; ok {
		t.Error("DueShard stored for an account with only a RemindAt")
	}
	if _, ok := item[AttrRemindShard]; !ok {
		t.Error("RemindShard missing for an account with a RemindAt")
	}
}

func TestEventAndWorkspaceItemsRoundTrip(t *testing.T) {
	e := account.Event{WorkspaceID: "ws", AccountID: "a1", ID: "e1", Version: 12, At: time.UnixMilli(1_795_424_400_001).UTC(),
		Actor: account.Actor{ID: "u1", Role: workspace.RoleAdmin}, Action: account.ActTransfer,
		From: account.StateActive, To: account.StateActive, Reason: "r", ChannelError: &account.ChannelError{Code: "1"},
		Missing: []string{"m"}, FromOwner: "u1", ToOwner: "u2", Note: "hi"}
	item, back := roundTrip(t, toEventItem(e))
	if got := back.domain(); !reflect.DeepEqual(got, e) {
		t.Fatalf("event round trip:\n got  %+v\n want %+v", got, e)
	}
	if sk := item[AttrSK].(*types.AttributeValueMemberS).Value; sk != "EVT#a1#00000000000000000012" {
		t.Errorf("event SK = %q", sk)
	}

	w := workspace.Workspace{ID: "ws", Name: "Acme", Settings: workspace.DefaultSettings(), Version: 2,
		CreatedAt: time.UnixMilli(1_795_424_400_000).UTC()}
	_, wb := roundTrip(t, toWorkspaceItem(w))
	if got := wb.domain(); !reflect.DeepEqual(got, w) {
		t.Fatalf("workspace round trip:\n got  %+v\n want %+v", got, w)
	}
}

// TestWorkspaceSettingsDefaults: the series settings are stored, and an item written
// before they existed reads back with their defaults (so it still validates).
func TestWorkspaceSettingsDefaults(t *testing.T) {
	w := workspace.Workspace{ID: "ws", Name: "Acme", Settings: workspace.DefaultSettings(), Version: 1}
	w.Settings.SeriesFirstGap, w.Settings.SeriesInterval, w.Settings.SeriesRepeats = 24*time.Hour, 3*24*time.Hour, 2
	w.Settings.PreExpiryWeekly = false
	item, back := roundTrip(t, toWorkspaceItem(w))
	if got := back.domain(); !reflect.DeepEqual(got, w) {
		t.Fatalf("custom series round trip:\n got  %+v\n want %+v", got, w)
	}
	settings := item["Settings"].(*types.AttributeValueMemberM).Value
	for _, name := range []string{"SeriesFirstGap", "SeriesInterval", "SeriesRepeats"} {
		if _, ok := settings[name]; !ok {
			t.Errorf("%s not stored", name)
		}
		delete(settings, name)
	}
	var old workspaceItem
	if err := unmarshal(item, &old); err != nil {
		t.Fatal(err)
	}
	got := old.domain()
	want := w
	want.Settings.SeriesFirstGap, want.Settings.SeriesInterval, want.Settings.SeriesRepeats = 2*24*time.Hour, 5*24*time.Hour, 4
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("old item:\n got  %+v\n want %+v", got, want)
	}
	if err := got.Validate(); err != nil {
		t.Errorf("old item does not validate: %v", err)
	}
}
