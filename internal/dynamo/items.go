package dynamo

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/relinkhq/relink/internal/account"
	"github.com/relinkhq/relink/internal/consent"
	"github.com/relinkhq/relink/internal/magiclink"
	"github.com/relinkhq/relink/internal/store"
	"github.com/relinkhq/relink/internal/workspace"
)

// Key prefixes of the single-table design (DESIGN.md "Storage"; README "Storage" has
// the table of items). Items outside a workspace's partition:
//
//	email claim    PK EMAIL#<address>  SK WS#<ws>                      UserID: one address per user per workspace,
//	                                                                   and every workspace of an address in one Query
//	rate counter   PK RATE#<key>       SK <window s>#<window start s>  Count, ExpiresAt (TTL): Limits.Allow
//	magic link     PK LINK#<hash>      SK LINK
//	consent        PK CONSENT#<hash>   SK CONSENT
//	one-time code  PK CODE#<flow>      SK CODE                         Payload (binary, at most 64 KiB)
//	send record    PK SEND#<key>       SK SEND                         Owner, State, MessageID; TTL store.Retention
//	                                                                   after the claim: Sends
//	run            PK RUNS             SK RUN#<function>               the last run of each scheduled function,
//	                                                                   all in one small partition: one Query lists them
const (
	prefixWorkspace = "WS#"
	skWorkspace     = "WORKSPACE"
	prefixUser      = "USER#"
	prefixEmail     = "EMAIL#"
	prefixGroup     = "GROUP#"
	prefixAccount   = "ACCT#"
	prefixExternal  = "EXT#"
	prefixEvent     = "EVT#"
	prefixDue       = "DUE#"
	prefixRemind    = "REMIND#"
	infixOwner      = "#OWNER#"
	prefixToken     = "TOKEN#"
	prefixLink      = "LINK#"
	skLink          = "LINK"
	prefixLinkRef   = "LINKREF#"
	prefixConsent   = "CONSENT#"
	skConsent       = "CONSENT"
	prefixCode      = "CODE#"
	skCode          = "CODE"
	prefixRate      = "RATE#"
	prefixSend      = "SEND#"
	skSend          = "SEND"
	pkRuns          = "RUNS"
	prefixRun       = "RUN#"
)

func wsPK(ws string) string                 { return prefixWorkspace + ws }
func userSK(id string) string               { return prefixUser + id }
func emailPK(email string) string           { return prefixEmail + email }
func groupSK(id string) string              { return prefixGroup + id }
func accountSK(id string) string            { return prefixAccount + id }
func ownerPK(ws, owner string) string       { return prefixWorkspace + ws + infixOwner + owner }
func dueShard(n int) string                 { return prefixDue + strconv.Itoa(n) }
func remindShard(n int) string              { return prefixRemind + strconv.Itoa(n) }
func externalSK(channel, ext string) string { return prefixExternal + channel + "#" + ext }
func tokenSK(accountID string) string       { return prefixToken + accountID }
func linkPK(hash string) string             { return prefixLink + hash }
func consentPK(hash string) string          { return prefixConsent + hash }
func codePK(id string) string               { return prefixCode + id }
func ratePK(key string) string              { return prefixRate + key }
func sendPK(key string) string              { return prefixSend + key }
func runSK(function string) string          { return prefixRun + function }

// rateSK names one window of a rate counter. The window's length is part of it, so
// that limits with different windows under one key never share a count.
func rateSK(w store.Window) string {
	return strconv.FormatInt(w.Length, 10) + "#" + strconv.FormatInt(w.Start, 10)
}

// linkRefPrefix is the sort-key prefix of one person's links of one purpose, under
// the workspace. The trailing separator keeps "u1" from matching "u10".
func linkRefPrefix(userID string, purpose magiclink.Purpose) string {
	return prefixLinkRef + userID + "#" + string(purpose) + "#"
}

func linkRefSK(userID string, purpose magiclink.Purpose, hash string) string {
	return linkRefPrefix(userID, purpose) + hash
}

// eventPrefix is the sort-key prefix of one account's audit trail. Account IDs cannot
// hold '#', so the trailing separator keeps "a1" from matching "a10".
func eventPrefix(accountID string) string { return prefixEvent + accountID + "#" }

// eventSK zero-pads the version so that string order is version order.
func eventSK(accountID string, version int64) string {
	return fmt.Sprintf("%s%020d", eventPrefix(accountID), version)
}

// itemKey is the primary key of an item.
func itemKey(pk, sk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		AttrPK: &types.AttributeValueMemberS{Value: pk},
		AttrSK: &types.AttributeValueMemberS{Value: sk},
	}
}

// millis stores a time as epoch milliseconds; the zero time is 0 (and omitted).
func millis(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromMillis(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

// ttlSeconds is the TTL attribute for a purge time. It rounds up so that TTL never
// removes an item before the store itself considers it gone.
func ttlSeconds(purgeMs int64) int64 {
	if purgeMs == 0 {
		return 0
	}
	return (purgeMs + 999) / 1000
}

// keys are the primary-key attributes every item carries.
type keys struct {
	PK string `dynamodbav:"PK"`
	SK string `dynamodbav:"SK"`
}

type workspaceItem struct {
	keys
	ID        string       `dynamodbav:"ID"`
	Name      string       `dynamodbav:"Name,omitempty"`
	Settings  settingsItem `dynamodbav:"Settings"`
	Version   int64        `dynamodbav:"Version"`
	CreatedAt int64        `dynamodbav:"CreatedAt,omitempty"`
	UpdatedAt int64        `dynamodbav:"UpdatedAt,omitempty"`
}

type settingsItem struct {
	TimeZone           string        `dynamodbav:"TimeZone,omitempty"`
	WarningWindow      time.Duration `dynamodbav:"WarningWindow,omitempty"` // nanoseconds
	ReminderPolicy     string        `dynamodbav:"ReminderPolicy,omitempty"`
	ExponentialCap     time.Duration `dynamodbav:"ExponentialCap,omitempty"` // nanoseconds
	CopyAdminsFromStep int           `dynamodbav:"CopyAdminsFromStep,omitempty"`
	PreExpiryWeekly    bool          `dynamodbav:"PreExpiryWeekly,omitempty"`
	PostExpiryWeekly   bool          `dynamodbav:"PostExpiryWeekly,omitempty"`
	SeriesFirstGap     time.Duration `dynamodbav:"SeriesFirstGap,omitempty"` // nanoseconds
	SeriesInterval     time.Duration `dynamodbav:"SeriesInterval,omitempty"` // nanoseconds
	SeriesRepeats      int           `dynamodbav:"SeriesRepeats,omitempty"`
}

func toWorkspaceItem(w workspace.Workspace) workspaceItem {
	s := w.Settings
	return workspaceItem{
		keys: keys{PK: wsPK(w.ID), SK: skWorkspace},
		ID:   w.ID, Name: w.Name, Version: w.Version,
		Settings: settingsItem{TimeZone: s.TimeZone, WarningWindow: s.WarningWindow, ReminderPolicy: s.ReminderPolicy,
			ExponentialCap: s.ExponentialCap, CopyAdminsFromStep: s.CopyAdminsFromStep,
			PreExpiryWeekly: s.PreExpiryWeekly, PostExpiryWeekly: s.PostExpiryWeekly,
			SeriesFirstGap: s.SeriesFirstGap, SeriesInterval: s.SeriesInterval, SeriesRepeats: s.SeriesRepeats},
		CreatedAt: millis(w.CreatedAt), UpdatedAt: millis(w.UpdatedAt),
	}
}

// domain fills settings missing from the item (stored before they existed) with defaults.
func (it workspaceItem) domain() workspace.Workspace {
	s := it.Settings
	return workspace.Workspace{
		ID: it.ID, Name: it.Name, Version: it.Version,
		Settings: workspace.Settings{TimeZone: s.TimeZone, WarningWindow: s.WarningWindow, ReminderPolicy: s.ReminderPolicy,
			ExponentialCap: s.ExponentialCap, CopyAdminsFromStep: s.CopyAdminsFromStep,
			PreExpiryWeekly: s.PreExpiryWeekly, PostExpiryWeekly: s.PostExpiryWeekly,
			SeriesFirstGap: s.SeriesFirstGap, SeriesInterval: s.SeriesInterval, SeriesRepeats: s.SeriesRepeats,
		}.WithDefaults(),
		CreatedAt: fromMillis(it.CreatedAt), UpdatedAt: fromMillis(it.UpdatedAt),
	}
}

type userItem struct {
	keys
	WorkspaceID   string `dynamodbav:"WorkspaceID"`
	ID            string `dynamodbav:"ID"`
	Email         string `dynamodbav:"Email"`
	Name          string `dynamodbav:"Name,omitempty"`
	Role          string `dynamodbav:"Role,omitempty"`
	NotifyTrouble bool   `dynamodbav:"NotifyTrouble,omitempty"`
	Unsubscribed  bool   `dynamodbav:"Unsubscribed,omitempty"`
	Version       int64  `dynamodbav:"Version"`
	CreatedAt     int64  `dynamodbav:"CreatedAt,omitempty"`
	UpdatedAt     int64  `dynamodbav:"UpdatedAt,omitempty"`
}

func toUserItem(u workspace.User) userItem {
	return userItem{
		keys:        keys{PK: wsPK(u.WorkspaceID), SK: userSK(u.ID)},
		WorkspaceID: u.WorkspaceID, ID: u.ID, Email: u.Email, Name: u.Name, Role: string(u.Role),
		NotifyTrouble: u.Preferences.NotifyTrouble, Unsubscribed: u.Preferences.Unsubscribed,
		Version: u.Version, CreatedAt: millis(u.CreatedAt), UpdatedAt: millis(u.UpdatedAt),
	}
}

func (it userItem) domain() workspace.User {
	return workspace.User{
		WorkspaceID: it.WorkspaceID, ID: it.ID, Email: it.Email, Name: it.Name, Role: workspace.Role(it.Role),
		Preferences: workspace.Preferences{NotifyTrouble: it.NotifyTrouble, Unsubscribed: it.Unsubscribed},
		Version:     it.Version, CreatedAt: fromMillis(it.CreatedAt), UpdatedAt: fromMillis(it.UpdatedAt),
	}
}

// emailItem claims an address for one user of a workspace. It lives under the
// address (PK EMAIL#<address>, SK WS#<ws>): the one key keeps an address unique within
// a workspace, and one Query on the address finds its every workspace without a scan
// or an index.
type emailItem struct {
	keys
	UserID string `dynamodbav:"UserID"`
}

func toEmailItem(u workspace.User) emailItem {
	return emailItem{keys: emailKeys(u.WorkspaceID, u.Email), UserID: u.ID}
}

// workspaceID is the workspace the claim is in, from its sort key.
func (it emailItem) workspaceID() string { return strings.TrimPrefix(it.SK, prefixWorkspace) }

func emailKeys(workspaceID, email string) keys {
	return keys{PK: emailPK(email), SK: wsPK(workspaceID)}
}

type groupItem struct {
	keys
	WorkspaceID string   `dynamodbav:"WorkspaceID"`
	ID          string   `dynamodbav:"ID"`
	Name        string   `dynamodbav:"Name,omitempty"`
	AccountIDs  []string `dynamodbav:"AccountIDs,omitempty"`
	Subscribers []string `dynamodbav:"Subscribers,omitempty"`
	Version     int64    `dynamodbav:"Version"`
	CreatedAt   int64    `dynamodbav:"CreatedAt,omitempty"`
	UpdatedAt   int64    `dynamodbav:"UpdatedAt,omitempty"`
}

func toGroupItem(g workspace.Group) groupItem {
	return groupItem{
		keys:        keys{PK: wsPK(g.WorkspaceID), SK: groupSK(g.ID)},
		WorkspaceID: g.WorkspaceID, ID: g.ID, Name: g.Name, AccountIDs: g.AccountIDs, Subscribers: g.Subscribers,
		Version: g.Version, CreatedAt: millis(g.CreatedAt), UpdatedAt: millis(g.UpdatedAt),
	}
}

func (it groupItem) domain() workspace.Group {
	return workspace.Group{
		WorkspaceID: it.WorkspaceID, ID: it.ID, Name: it.Name, AccountIDs: it.AccountIDs, Subscribers: it.Subscribers,
		Version: it.Version, CreatedAt: fromMillis(it.CreatedAt), UpdatedAt: fromMillis(it.UpdatedAt),
	}
}

type channelErrorItem struct {
	HTTPStatus int    `dynamodbav:"HTTPStatus,omitempty"`
	Code       string `dynamodbav:"Code,omitempty"`
	Subcode    string `dynamodbav:"Subcode,omitempty"`
	Message    string `dynamodbav:"Message,omitempty"`
}

func toChannelErrorItem(e *account.ChannelError) *channelErrorItem {
	if e == nil {
		return nil
	}
	return &channelErrorItem{HTTPStatus: e.HTTPStatus, Code: e.Code, Subcode: e.Subcode, Message: e.Message}
}

func (it *channelErrorItem) domain() *account.ChannelError {
	if it == nil {
		return nil
	}
	return &account.ChannelError{HTTPStatus: it.HTTPStatus, Code: it.Code, Subcode: it.Subcode, Message: it.Message}
}

type missingItem struct {
	Name   string   `dynamodbav:"Name"`
	Kind   string   `dynamodbav:"Kind"`
	Breaks []string `dynamodbav:"Breaks,omitempty"`
}

// accountItem is an account plus the index attributes derived from it: OwnerPK for
// owner-index, DueShard/DueAt for the sparse due-index (only while scheduled),
// RemindShard/RemindAt for the sparse remind-index (only while reminders look at it),
// HardExpiresAt for expiry filters, ExpiresAt (TTL) while soft-deleted.
type accountItem struct {
	keys
	OwnerPK       string `dynamodbav:"OwnerPK"`
	DueShard      string `dynamodbav:"DueShard,omitempty"`
	DueAt         int64  `dynamodbav:"DueAt,omitempty"`
	RemindShard   string `dynamodbav:"RemindShard,omitempty"`
	RemindAt      int64  `dynamodbav:"RemindAt,omitempty"`
	HardExpiresAt int64  `dynamodbav:"HardExpiresAt,omitempty"`
	PurgeAt       int64  `dynamodbav:"PurgeAt,omitempty"`
	ExpiresAt     int64  `dynamodbav:"ExpiresAt,omitempty"` // epoch seconds

	WorkspaceID     string `dynamodbav:"WorkspaceID"`
	ID              string `dynamodbav:"ID"`
	Channel         string `dynamodbav:"Channel"`
	ExternalID      string `dynamodbav:"ExternalID"`
	DisplayName     string `dynamodbav:"DisplayName,omitempty"`
	OwnerID         string `dynamodbav:"OwnerID"`
	Kind            string `dynamodbav:"Kind,omitempty"`
	ParentProfileID string `dynamodbav:"ParentProfileID,omitempty"`

	State         string            `dynamodbav:"State"`
	PreviousState string            `dynamodbav:"PreviousState,omitempty"`
	Reason        string            `dynamodbav:"Reason,omitempty"`
	ChannelError  *channelErrorItem `dynamodbav:"ChannelError,omitempty"`

	Scopes      []string      `dynamodbav:"Scopes,omitempty"`
	Tasks       []string      `dynamodbav:"Tasks,omitempty"`
	Missing     []missingItem `dynamodbav:"Missing,omitempty"`
	Refreshable bool          `dynamodbav:"Refreshable,omitempty"`

	TokenExpiresAt    int64 `dynamodbav:"TokenExpiresAt,omitempty"`
	RefreshExpiresAt  int64 `dynamodbav:"RefreshExpiresAt,omitempty"`
	LastProbeAt       int64 `dynamodbav:"LastProbeAt,omitempty"`
	TroubleSince      int64 `dynamodbav:"TroubleSince,omitempty"`
	TransientFailures int   `dynamodbav:"TransientFailures,omitempty"`
	TransientSince    int64 `dynamodbav:"TransientSince,omitempty"`

	Version   int64 `dynamodbav:"Version"`
	CreatedAt int64 `dynamodbav:"CreatedAt,omitempty"`
	UpdatedAt int64 `dynamodbav:"UpdatedAt,omitempty"`
	DeletedAt int64 `dynamodbav:"DeletedAt,omitempty"`
}

func toAccountItem(a account.Account, shards int) accountItem {
	it := accountItem{
		keys:          keys{PK: wsPK(a.WorkspaceID), SK: accountSK(a.ID)},
		OwnerPK:       ownerPK(a.WorkspaceID, a.OwnerID),
		DueAt:         millis(a.DueAt),
		RemindAt:      millis(a.RemindAt),
		HardExpiresAt: millis(a.HardExpiry()),
		PurgeAt:       millis(a.PurgeAt),
		ExpiresAt:     ttlSeconds(millis(a.PurgeAt)),

		WorkspaceID: a.WorkspaceID, ID: a.ID, Channel: a.Channel, ExternalID: a.ExternalID,
		DisplayName: a.DisplayName, OwnerID: a.OwnerID, Kind: string(a.Kind), ParentProfileID: a.ParentProfileID,
		State: string(a.State), PreviousState: string(a.PreviousState), Reason: a.Reason,
		ChannelError: toChannelErrorItem(a.ChannelError),
		Scopes:       a.Scopes, Tasks: a.Tasks, Refreshable: a.Refreshable,
		TokenExpiresAt: millis(a.TokenExpiresAt), RefreshExpiresAt: millis(a.RefreshExpiresAt),
		LastProbeAt: millis(a.LastProbeAt), TroubleSince: millis(a.TroubleSince),
		TransientFailures: a.TransientFailures, TransientSince: millis(a.TransientSince),
		Version: a.Version, CreatedAt: millis(a.CreatedAt), UpdatedAt: millis(a.UpdatedAt), DeletedAt: millis(a.DeletedAt),
	}
	// Without a time an account carries neither key of the index: sparse.
	shard := store.DueShard(a.WorkspaceID, a.ID, shards)
	if it.DueAt != 0 {
		it.DueShard = dueShard(shard)
	}
	if it.RemindAt != 0 {
		it.RemindShard = remindShard(shard)
	}
	for _, m := range a.Missing {
		mi := missingItem{Name: m.Name, Kind: m.Kind}
		for _, c := range m.Breaks {
			mi.Breaks = append(mi.Breaks, string(c))
		}
		it.Missing = append(it.Missing, mi)
	}
	return it
}

func (it accountItem) domain() account.Account {
	a := account.Account{
		WorkspaceID: it.WorkspaceID, ID: it.ID, Channel: it.Channel, ExternalID: it.ExternalID,
		DisplayName: it.DisplayName, OwnerID: it.OwnerID, Kind: account.Kind(it.Kind), ParentProfileID: it.ParentProfileID,
		State: account.State(it.State), PreviousState: account.State(it.PreviousState), Reason: it.Reason,
		ChannelError: it.ChannelError.domain(),
		Scopes:       it.Scopes, Tasks: it.Tasks, Refreshable: it.Refreshable,
		TokenExpiresAt: fromMillis(it.TokenExpiresAt), RefreshExpiresAt: fromMillis(it.RefreshExpiresAt),
		LastProbeAt: fromMillis(it.LastProbeAt), TroubleSince: fromMillis(it.TroubleSince),
		TransientFailures: it.TransientFailures, TransientSince: fromMillis(it.TransientSince),
		DueAt: fromMillis(it.DueAt), RemindAt: fromMillis(it.RemindAt),
		Version: it.Version, CreatedAt: fromMillis(it.CreatedAt), UpdatedAt: fromMillis(it.UpdatedAt),
		DeletedAt: fromMillis(it.DeletedAt), PurgeAt: fromMillis(it.PurgeAt),
	}
	for _, m := range it.Missing {
		mp := account.MissingPermission{Name: m.Name, Kind: m.Kind}
		for _, c := range m.Breaks {
			mp.Breaks = append(mp.Breaks, account.Capability(c))
		}
		a.Missing = append(a.Missing, mp)
	}
	return a
}

// externalItem claims a channel identity for one account of a workspace. While the
// account is soft-deleted it carries the account's purge time, so the claim is free
// again (and TTL removes it) once the account is gone.
type externalItem struct {
	keys
	AccountID string `dynamodbav:"AccountID"`
	PurgeAt   int64  `dynamodbav:"PurgeAt,omitempty"`
	ExpiresAt int64  `dynamodbav:"ExpiresAt,omitempty"` // epoch seconds
}

func toExternalItem(a account.Account) externalItem {
	purge := millis(a.PurgeAt)
	return externalItem{
		keys:      keys{PK: wsPK(a.WorkspaceID), SK: externalSK(a.Channel, a.ExternalID)},
		AccountID: a.ID, PurgeAt: purge, ExpiresAt: ttlSeconds(purge),
	}
}

type actorItem struct {
	ID     string `dynamodbav:"ID"`
	Role   string `dynamodbav:"Role,omitempty"`
	System bool   `dynamodbav:"System,omitempty"`
}

type eventItem struct {
	keys
	WorkspaceID  string            `dynamodbav:"WorkspaceID"`
	AccountID    string            `dynamodbav:"AccountID"`
	ID           string            `dynamodbav:"ID"`
	Version      int64             `dynamodbav:"Version"`
	At           int64             `dynamodbav:"At,omitempty"`
	Actor        actorItem         `dynamodbav:"Actor"`
	Action       string            `dynamodbav:"Action,omitempty"`
	From         string            `dynamodbav:"From,omitempty"`
	To           string            `dynamodbav:"To,omitempty"`
	Reason       string            `dynamodbav:"Reason,omitempty"`
	ChannelError *channelErrorItem `dynamodbav:"ChannelError,omitempty"`
	Missing      []string          `dynamodbav:"Missing,omitempty"`
	FromOwner    string            `dynamodbav:"FromOwner,omitempty"`
	ToOwner      string            `dynamodbav:"ToOwner,omitempty"`
	Note         string            `dynamodbav:"Note,omitempty"`
}

func toEventItem(e account.Event) eventItem {
	return eventItem{
		keys:        keys{PK: wsPK(e.WorkspaceID), SK: eventSK(e.AccountID, e.Version)},
		WorkspaceID: e.WorkspaceID, AccountID: e.AccountID, ID: e.ID, Version: e.Version, At: millis(e.At),
		Actor:  actorItem{ID: e.Actor.ID, Role: string(e.Actor.Role), System: e.Actor.System},
		Action: string(e.Action), From: string(e.From), To: string(e.To), Reason: e.Reason,
		ChannelError: toChannelErrorItem(e.ChannelError), Missing: e.Missing,
		FromOwner: e.FromOwner, ToOwner: e.ToOwner, Note: e.Note,
	}
}

func (it eventItem) domain() account.Event {
	return account.Event{
		WorkspaceID: it.WorkspaceID, AccountID: it.AccountID, ID: it.ID, Version: it.Version, At: fromMillis(it.At),
		Actor:  account.Actor{ID: it.Actor.ID, Role: workspace.Role(it.Actor.Role), System: it.Actor.System},
		Action: account.Action(it.Action), From: account.State(it.From), To: account.State(it.To), Reason: it.Reason,
		ChannelError: it.ChannelError.domain(), Missing: it.Missing,
		FromOwner: it.FromOwner, ToOwner: it.ToOwner, Note: it.Note,
	}
}

// tokenItem holds an account's sealed OAuth tokens, apart from the account item. It has
// no TTL: tokens live until the account is disconnected.
type tokenItem struct {
	keys
	Sealed []byte `dynamodbav:"Sealed"` // binary
}

// Retention of expired consents and codes before they are gone (and TTL may remove them).
const secretRetention = 24 * time.Hour

// linkItem is a magic link by the hash of its token. LinkExpiresAt is the link's own
// expiry; PurgeAt (and the TTL) come LinkRetention later, so that an expired link can
// still explain itself. Uses and MaxUses are always present: UseLink's condition
// compares them.
type linkItem struct {
	keys
	Hash          string   `dynamodbav:"Hash"`
	WorkspaceID   string   `dynamodbav:"WorkspaceID"`
	UserID        string   `dynamodbav:"UserID"`
	Purpose       string   `dynamodbav:"Purpose"`
	Email         string   `dynamodbav:"Email,omitempty"`
	Channels      []string `dynamodbav:"Channels,omitempty"`
	Message       string   `dynamodbav:"Message,omitempty"`
	CreatedAt     int64    `dynamodbav:"CreatedAt,omitempty"`
	LinkExpiresAt int64    `dynamodbav:"LinkExpiresAt"`
	Uses          int      `dynamodbav:"Uses"`
	MaxUses       int      `dynamodbav:"MaxUses"`
	RevokedAt     int64    `dynamodbav:"RevokedAt,omitempty"`
	PurgeAt       int64    `dynamodbav:"PurgeAt"`
	ExpiresAt     int64    `dynamodbav:"ExpiresAt"` // epoch seconds
}

func linkPurge(l magiclink.Link) int64 { return millis(l.ExpiresAt.Add(store.LinkRetention)) }

func toLinkItem(l magiclink.Link) linkItem {
	purge := linkPurge(l)
	return linkItem{
		keys: keys{PK: linkPK(l.Hash), SK: skLink},
		Hash: l.Hash, WorkspaceID: l.WorkspaceID, UserID: l.UserID, Purpose: string(l.Purpose),
		Email: l.Email, Channels: l.Channels, Message: l.Message,
		CreatedAt: millis(l.CreatedAt), LinkExpiresAt: millis(l.ExpiresAt),
		Uses: l.Uses, MaxUses: l.MaxUses, RevokedAt: millis(l.RevokedAt),
		PurgeAt: purge, ExpiresAt: ttlSeconds(purge),
	}
}

func (it linkItem) domain() magiclink.Link {
	return magiclink.Link{
		Hash: it.Hash, WorkspaceID: it.WorkspaceID, UserID: it.UserID, Purpose: magiclink.Purpose(it.Purpose),
		Email: it.Email, Channels: it.Channels, Message: it.Message,
		CreatedAt: fromMillis(it.CreatedAt), ExpiresAt: fromMillis(it.LinkExpiresAt),
		Uses: it.Uses, MaxUses: it.MaxUses, RevokedAt: fromMillis(it.RevokedAt),
	}
}

// linkRefItem points from a person's links of one purpose to the link items, so that
// rotation reads one key range. It expires with its link.
type linkRefItem struct {
	keys
	Hash          string `dynamodbav:"Hash"`
	LinkExpiresAt int64  `dynamodbav:"LinkExpiresAt"`
	ExpiresAt     int64  `dynamodbav:"ExpiresAt"` // epoch seconds
}

func toLinkRefItem(l magiclink.Link) linkRefItem {
	return linkRefItem{
		keys: keys{PK: wsPK(l.WorkspaceID), SK: linkRefSK(l.UserID, l.Purpose, l.Hash)},
		Hash: l.Hash, LinkExpiresAt: millis(l.ExpiresAt), ExpiresAt: ttlSeconds(linkPurge(l)),
	}
}

// consentItem is a pending consent by the hash of its state parameter.
type consentItem struct {
	keys
	Hash             string `dynamodbav:"Hash"`
	WorkspaceID      string `dynamodbav:"WorkspaceID"`
	UserID           string `dynamodbav:"UserID"`
	Channel          string `dynamodbav:"Channel"`
	AccountID        string `dynamodbav:"AccountID,omitempty"`
	LinkHash         string `dynamodbav:"LinkHash,omitempty"`
	Verifier         string `dynamodbav:"Verifier,omitempty"`
	CreatedAt        int64  `dynamodbav:"CreatedAt,omitempty"`
	ConsentExpiresAt int64  `dynamodbav:"ConsentExpiresAt"`
	ExpiresAt        int64  `dynamodbav:"ExpiresAt"` // epoch seconds
}

func toConsentItem(s consent.State) consentItem {
	return consentItem{
		keys: keys{PK: consentPK(s.Hash), SK: skConsent},
		Hash: s.Hash, WorkspaceID: s.WorkspaceID, UserID: s.UserID, Channel: s.Channel,
		AccountID: s.AccountID, LinkHash: s.LinkHash, Verifier: s.Verifier,
		CreatedAt: millis(s.CreatedAt), ConsentExpiresAt: millis(s.ExpiresAt),
		ExpiresAt: ttlSeconds(millis(s.ExpiresAt.Add(secretRetention))),
	}
}

func (it consentItem) domain() consent.State {
	return consent.State{
		Hash: it.Hash, WorkspaceID: it.WorkspaceID, UserID: it.UserID, Channel: it.Channel,
		AccountID: it.AccountID, LinkHash: it.LinkHash, Verifier: it.Verifier,
		CreatedAt: fromMillis(it.CreatedAt), ExpiresAt: fromMillis(it.ConsentExpiresAt),
	}
}

// codeItem is a one-time code by its flow ID. PurgeAt (and the TTL) come a day after
// the code expired: past it the code is gone, as for purged accounts.
type codeItem struct {
	keys
	ID            string `dynamodbav:"ID"`
	WorkspaceID   string `dynamodbav:"WorkspaceID"`
	Email         string `dynamodbav:"Email,omitempty"`
	Hash          string `dynamodbav:"Hash"`
	CreatedAt     int64  `dynamodbav:"CreatedAt,omitempty"`
	CodeExpiresAt int64  `dynamodbav:"CodeExpiresAt"`
	Attempts      int    `dynamodbav:"Attempts"`
	UsedAt        int64  `dynamodbav:"UsedAt,omitempty"`
	Version       int64  `dynamodbav:"Version"`
	Payload       []byte `dynamodbav:"Payload,omitempty"` // binary, opaque
	PurgeAt       int64  `dynamodbav:"PurgeAt"`
	ExpiresAt     int64  `dynamodbav:"ExpiresAt"` // epoch seconds
}

func toCodeItem(c magiclink.Code) codeItem {
	purge := millis(c.ExpiresAt.Add(secretRetention))
	if len(c.Payload) == 0 {
		c.Payload = nil // omitted, not stored as an empty binary: it comes back nil
	}
	return codeItem{
		keys: keys{PK: codePK(c.ID), SK: skCode},
		ID:   c.ID, WorkspaceID: c.WorkspaceID, Email: c.Email, Hash: c.Hash,
		CreatedAt: millis(c.CreatedAt), CodeExpiresAt: millis(c.ExpiresAt),
		Attempts: c.Attempts, UsedAt: millis(c.UsedAt), Version: c.Version, Payload: c.Payload,
		PurgeAt: purge, ExpiresAt: ttlSeconds(purge),
	}
}

func (it codeItem) domain() magiclink.Code {
	return magiclink.Code{
		ID: it.ID, WorkspaceID: it.WorkspaceID, Email: it.Email, Hash: it.Hash,
		CreatedAt: fromMillis(it.CreatedAt), ExpiresAt: fromMillis(it.CodeExpiresAt),
		Attempts: it.Attempts, UsedAt: fromMillis(it.UsedAt), Version: it.Version, Payload: it.Payload,
	}
}

// sendItem is a send record by its key. PurgeAt (and the TTL) come store.Retention
// after the claim; past it the record is gone, as for purged accounts.
type sendItem struct {
	keys
	SendKey   string `dynamodbav:"SendKey"`
	Owner     string `dynamodbav:"Owner"`
	State     string `dynamodbav:"State"`
	MessageID string `dynamodbav:"MessageID,omitempty"`
	ClaimedAt int64  `dynamodbav:"ClaimedAt"`
	SentAt    int64  `dynamodbav:"SentAt,omitempty"`
	PurgeAt   int64  `dynamodbav:"PurgeAt"`
	ExpiresAt int64  `dynamodbav:"ExpiresAt"` // epoch seconds
}

// toSendItem is the claim of key by owner at now.
func toSendItem(key, owner string, now time.Time) sendItem {
	purge := millis(now.Add(store.Retention(key)))
	return sendItem{
		keys:    keys{PK: sendPK(key), SK: skSend},
		SendKey: key, Owner: owner, State: store.SendSending, ClaimedAt: millis(now),
		PurgeAt: purge, ExpiresAt: ttlSeconds(purge),
	}
}

func (it sendItem) domain() store.Send {
	return store.Send{Key: it.SendKey, Owner: it.Owner, MessageID: it.MessageID, State: it.State,
		ClaimedAt: fromMillis(it.ClaimedAt), SentAt: fromMillis(it.SentAt)}
}

// runItem is the last run of one scheduled function.
type runItem struct {
	keys
	Function   string         `dynamodbav:"Function"`
	ID         string         `dynamodbav:"ID,omitempty"`
	StartedAt  int64          `dynamodbav:"StartedAt,omitempty"`
	FinishedAt int64          `dynamodbav:"FinishedAt,omitempty"`
	Counts     map[string]int `dynamodbav:"Counts,omitempty"`
	Complete   bool           `dynamodbav:"Complete"`
}

func toRunItem(r store.Run) runItem {
	return runItem{
		keys:     keys{PK: pkRuns, SK: runSK(r.Function)},
		Function: r.Function, ID: r.ID, StartedAt: millis(r.StartedAt), FinishedAt: millis(r.FinishedAt),
		Counts: r.Counts, Complete: r.Complete,
	}
}

func (it runItem) domain() store.Run {
	r := store.Run{Function: it.Function, ID: it.ID, StartedAt: fromMillis(it.StartedAt),
		FinishedAt: fromMillis(it.FinishedAt), Counts: it.Counts, Complete: it.Complete}
	if len(r.Counts) == 0 {
		r.Counts = nil
	}
	return r
}

// marshal encodes an item record.
func marshal(v any) (map[string]types.AttributeValue, error) {
	m, err := attributevalue.MarshalMap(v)
	if err != nil {
		return nil, fmt.Errorf("dynamo: encode %T: %w", v, err)
	}
	return m, nil
}

// unmarshal decodes an item into a record.
func unmarshal(m map[string]types.AttributeValue, v any) error {
	if err := attributevalue.UnmarshalMap(m, v); err != nil {
		return fmt.Errorf("dynamo: decode %T: %w", v, err)
	}
	return nil
}
