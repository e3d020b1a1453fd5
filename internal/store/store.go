// Package store is the persistence port the domain owns. Two adapters implement it and
// pass one conformance suite (storetest): internal/dynamo for AWS and internal/bolt, an
// embedded file store for the local server and fast tests.
//
// Conventions every implementation keeps:
//   - Errors are *relink.Error: ENOTFOUND for anything absent (or purged, or in another
//     workspace), ECONFLICT for a stale version or a uniqueness clash, EINVALID for a
//     bad page request or cursor. Other failures are wrapped as they come.
//   - Create stores version 1. Update takes the entity as last read (its Version is the
//     stored version the write must still find), stores Version+1 and returns what it stored.
//   - Accounts change only through account.Change values: the write succeeds only if the
//     stored version is still Change.Before.Version, and it stores the audit event in
//     the same atomic write. A change without an event writes the account alone.
//   - Soft-deleted accounts past their PurgeAt are gone: not returned by any read, and
//     their external identity is free again, whether or not a TTL sweep removed them yet.
//   - Empty slices come back as nil; times come back in UTC with at least millisecond precision.
package store

import (
	"context"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/relinkhq/relink/internal/account"
	"github.com/relinkhq/relink/internal/clock"
	"github.com/relinkhq/relink/internal/consent"
	"github.com/relinkhq/relink/internal/magiclink"
	"github.com/relinkhq/relink/internal/relink"
	"github.com/relinkhq/relink/internal/workspace"
)

// Store is everything Relink persists.
type Store interface {
	Workspaces
	Users
	Groups
	Accounts
	Tokens
	Links
	Consents
	Codes
	Limits
	Sends
	Runs
}

// Workspaces persists workspaces and their settings.
type Workspaces interface {
	CreateWorkspace(ctx context.Context, w workspace.Workspace) (workspace.Workspace, error)
	GetWorkspace(ctx context.Context, id string) (workspace.Workspace, error)
	UpdateWorkspace(ctx context.Context, w workspace.Workspace) (workspace.Workspace, error)
}

// Users persists the people of a workspace. An email address belongs to at most one
// user per workspace.
type Users interface {
	CreateUser(ctx context.Context, u workspace.User) (workspace.User, error)
	GetUser(ctx context.Context, workspaceID, id string) (workspace.User, error)
	// GetUserByEmail looks up a normalised address (see workspace.NormalizeEmail).
	GetUserByEmail(ctx context.Context, workspaceID, email string) (workspace.User, error)
	UpdateUser(ctx context.Context, u workspace.User) (workspace.User, error)
	// ListUsers returns every user of the workspace, ordered by ID.
	ListUsers(ctx context.Context, workspaceID string) ([]workspace.User, error)
	// UsersByEmail returns every user with this normalised address, in every
	// workspace, ordered by workspace ID (a person asking for a new link by email does
	// not say which workspace). An unknown address is an empty list, not an error.
	// At most MaxUsersByEmail users come back: the first by workspace ID.
	UsersByEmail(ctx context.Context, email string) ([]workspace.User, error)
}

// MaxUsersByEmail bounds UsersByEmail. One address is in a handful of workspaces at
// most; the bound keeps the lookup one bounded read (and one DynamoDB BatchGetItem)
// whatever the data holds.
const MaxUsersByEmail = 100

// Groups persists account groups.
type Groups interface {
	CreateGroup(ctx context.Context, g workspace.Group) (workspace.Group, error)
	GetGroup(ctx context.Context, workspaceID, id string) (workspace.Group, error)
	UpdateGroup(ctx context.Context, g workspace.Group) (workspace.Group, error)
	// DeleteGroup removes a group if it is still at version.
	DeleteGroup(ctx context.Context, workspaceID, id string, version int64) error
	// ListGroups returns every group of the workspace, ordered by ID.
	ListGroups(ctx context.Context, workspaceID string) ([]workspace.Group, error)
}

// Accounts persists accounts and their audit trail.
type Accounts interface {
	// CreateAccount stores c.After (version 1) and c.Event. ECONFLICT if the ID exists or
	// a live account of the workspace already has the same channel and external ID.
	CreateAccount(ctx context.Context, c account.Change) error
	GetAccount(ctx context.Context, workspaceID, id string) (account.Account, error)
	// FindAccount finds the account of a platform identity (channel + external ID).
	FindAccount(ctx context.Context, workspaceID, channel, externalID string) (account.Account, error)
	// Apply stores c.After and c.Event if the stored version is still c.Before.Version:
	// ECONFLICT if it moved on, ENOTFOUND if the account does not exist (or is gone).
	Apply(ctx context.Context, c account.Change) error
	// ListAccounts pages through the workspace's accounts matching f, ordered by ID.
	// Listing by owner reads the owner index, not the whole workspace.
	ListAccounts(ctx context.Context, workspaceID string, f account.Filter, p Page) (AccountPage, error)
	// DueAccounts pages through one due-index shard: accounts whose DueAt is not after
	// now, earliest first. It reads only due entries, never the whole table.
	DueAccounts(ctx context.Context, shard int, now time.Time, p Page) (AccountPage, error)
	// RemindersDue pages through one remind-index shard: accounts whose RemindAt is not
	// after now, earliest first. It reads only those entries, never the whole table.
	// Accounts sit in the same shard in both indexes (DueShard).
	RemindersDue(ctx context.Context, shard int, now time.Time, p Page) (AccountPage, error)
	// Shards is the number of due-index and remind-index shards; scheduled runs sweep
	// 0..Shards()-1.
	Shards() int
	// Events pages through an account's audit trail, oldest first.
	Events(ctx context.Context, workspaceID, accountID string, p Page) (EventPage, error)
}

// Tokens keeps each account's OAuth tokens, sealed by the vault: separate from the
// account item, so that reading or listing accounts never touches a token.
type Tokens interface {
	// PutTokens stores (or replaces) the sealed tokens of an account.
	PutTokens(ctx context.Context, workspaceID, accountID string, sealed []byte) error
	// GetTokens returns them, ENOTFOUND if the account has none.
	GetTokens(ctx context.Context, workspaceID, accountID string) ([]byte, error)
	// DeleteTokens forgets them (disconnect for good); absent tokens are no error.
	DeleteTokens(ctx context.Context, workspaceID, accountID string) error
}

// LinkRetention is how long a link is kept after it expires, so that its page can
// still say what happened and offer a new link to the same person.
const LinkRetention = 30 * 24 * time.Hour

// Links keeps magic links by the hash of their token.
type Links interface {
	// CreateLink stores a new link; ECONFLICT if the hash exists.
	CreateLink(ctx context.Context, l magiclink.Link) error
	// GetLink returns a link, including an expired, revoked or used-up one, until
	// LinkRetention after it expired; ENOTFOUND after that or if there is none.
	GetLink(ctx context.Context, hash string) (magiclink.Link, error)
	// UseLink counts one opening of a link that is usable at now and returns it as
	// stored; EGONE, with the link's reason, if it is not (magiclink.Link.Usable).
	// Concurrent openings are all counted.
	UseLink(ctx context.Context, hash string, now time.Time) (magiclink.Link, error)
	// RevokeLinks revokes a person's usable links of one purpose (rotation) and says
	// how many it revoked.
	RevokeLinks(ctx context.Context, workspaceID, userID string, purpose magiclink.Purpose, now time.Time) (int, error)
}

// Consents keeps pending OAuth consents, each usable once.
type Consents interface {
	// PutConsent stores a pending consent; ECONFLICT if the hash exists.
	PutConsent(ctx context.Context, s consent.State) error
	// TakeConsent removes and returns a pending consent in one step, so a state can
	// never be used twice: ENOTFOUND if there is none (never made, or used already),
	// EGONE if it expired.
	TakeConsent(ctx context.Context, hash string, now time.Time) (consent.State, error)
}

// MaxCodePayload bounds magiclink.Code.Payload: the code, its payload and the rest of
// its item must stay well under DynamoDB's 400 KB item limit.
const MaxCodePayload = 64 << 10

// CheckCodePayload is EINVALID for a payload above MaxCodePayload.
func CheckCodePayload(payload []byte) error {
	if len(payload) > MaxCodePayload {
		return relink.Errorf(relink.EINVALID, "The code's payload is too large (%d bytes at most).", MaxCodePayload)
	}
	return nil
}

// Codes keeps one-time codes by the ID of the flow they confirm.
type Codes interface {
	// PutCode stores a code, replacing an earlier one for the same flow (a resend).
	// The code's Payload is stored as given (at most MaxCodePayload bytes, EINVALID
	// above that) and comes back from GetCode; UpdateCode stores the payload it is given.
	PutCode(ctx context.Context, c magiclink.Code) error
	// GetCode returns a flow's code, ENOTFOUND if there is none or it expired more
	// than a day ago.
	GetCode(ctx context.Context, id string) (magiclink.Code, error)
	// UpdateCode stores c if the stored code is still the same code (same hash) at
	// c.Version-1 (Verify bumps the version), so that concurrent attempts all count
	// and an attempt on a code replaced by a resend cannot overwrite the new one:
	// ECONFLICT otherwise, ENOTFOUND if there is no code.
	UpdateCode(ctx context.Context, c magiclink.Code) error
}

// Limits counts events in fixed windows, for limits that must hold across every
// Lambda instance (link requests per address, reminders per account).
type Limits interface {
	// Allow counts one event against key in the fixed window of the given length
	// that holds now (windows start at multiples of window since the Unix epoch)
	// and reports whether the count is still within limit. A refused event is not
	// counted. Counts are forgotten after their window ends.
	//
	// key is free text chosen by the caller (e.g. "link-request#email#olivia@acme.example"):
	// non-empty UTF-8, at most MaxLimitKey bytes, no NUL. limit is at least 1 and
	// window a whole number of seconds, at least one. Anything else is EINVALID.
	// Windows of different lengths under one key are counted apart.
	Allow(ctx context.Context, key string, limit int, window time.Duration, now time.Time) (bool, error)
}

// Sends records who was sent which reminder, so that no reminder goes out twice: a
// claim is written, conditionally, before the email is sent.
//
// Keys and owners are free text chosen by the caller: non-empty UTF-8, at most
// MaxSendKey bytes, no NUL; anything else is EINVALID (CheckSend). A record is kept
// Retention(key) after its claim; after that it is as if it never existed, whether or
// not a TTL sweep removed it yet.
type Sends interface {
	// ClaimSend records that owner (a run) is about to send the reminder named key;
	// false (and no error) if anyone claimed key before, whatever became of it.
	ClaimSend(ctx context.Context, key, owner string, now time.Time) (bool, error)
	// MarkSent records that the claimed send went out (the provider's message ID);
	// ECONFLICT if key is not claimed by owner in state "sending".
	MarkSent(ctx context.Context, key, owner, messageID string, now time.Time) error
	// ReleaseSend drops owner's claim after a send that failed for certain, so a later
	// run sends it again; ECONFLICT if key is not claimed by owner in state "sending".
	ReleaseSend(ctx context.Context, key, owner string) error
	// GetSend returns the record of key, ENOTFOUND if there is none.
	GetSend(ctx context.Context, key string) (Send, error)
}

// Send is one send record.
type Send struct {
	Key, Owner, MessageID string
	State                 string // SendSending or SendSent
	ClaimedAt             time.Time
	SentAt                time.Time // zero while sending
}

// Send states.
const (
	SendSending = "sending"
	SendSent    = "sent"
)

// SendRetention is how long reminder send records are kept (DynamoDB TTL).
const SendRetention = 400 * 24 * time.Hour

// RenewalKeyPrefix starts the key of a renewal claim: the right to spend one refresh
// token (probe.StoreRenewals).
const RenewalKeyPrefix = "renew#"

// RenewalRetention is how long a renewal claim is kept. It must outlive any process
// still holding the token it names — a run that read the tokens before they were
// renewed (minutes), or an account whose renewed tokens were lost, which its next
// check (within a day, or a few after transient failures) must learn of. An hour-long
// token is renewed 8,760 times a year, so keeping these as long as reminder records
// would pile up gigabytes per thousand accounts.
const RenewalRetention = 7 * 24 * time.Hour

// Retention is how long the send record named key is kept.
func Retention(key string) time.Duration {
	if strings.HasPrefix(key, RenewalKeyPrefix) {
		return RenewalRetention
	}
	return SendRetention
}

// MaxSendKey bounds the key and the owner of a send record, in bytes.
const MaxSendKey = 500

// CheckSend is EINVALID unless every one of texts (a send key, an owner) is non-empty
// UTF-8 without NUL, at most MaxSendKey bytes.
func CheckSend(texts ...string) error {
	for _, s := range texts {
		if s == "" || len(s) > MaxSendKey || strings.IndexByte(s, 0) >= 0 || !utf8.ValidString(s) {
			return relink.Errorf(relink.EINVALID,
				"A send key and its owner must be non-empty UTF-8 without NUL, at most %d bytes.", MaxSendKey)
		}
	}
	return nil
}

// CheckSent is CheckSend for MarkSent's key and owner, and EINVALID for a message ID
// over MaxSendKey bytes, not UTF-8 or holding NUL; a provider may give none ("").
func CheckSent(key, owner, messageID string) error {
	if err := CheckSend(key, owner); err != nil {
		return err
	}
	if len(messageID) > MaxSendKey || strings.IndexByte(messageID, 0) >= 0 || !utf8.ValidString(messageID) {
		return relink.Errorf(relink.EINVALID, "A message ID must be UTF-8 without NUL, at most %d bytes.", MaxSendKey)
	}
	return nil
}

// Runs keeps the last run of each scheduled function.
type Runs interface {
	// PutRun stores r as the last run of r.Function (replacing the previous one).
	// EINVALID if r fails CheckRun.
	PutRun(ctx context.Context, r Run) error
	// LastRuns returns the last run of every function, ordered by function name; no
	// runs is an empty list, not an error.
	LastRuns(ctx context.Context) ([]Run, error)
}

// LastRun finds function's last run among runs' records; false when it never ran.
func LastRun(ctx context.Context, runs Runs, function string) (Run, bool, error) {
	all, err := runs.LastRuns(ctx)
	if err != nil {
		return Run{}, false, err
	}
	for _, r := range all {
		if r.Function == function {
			return r, true, nil
		}
	}
	return Run{}, false, nil
}

// Run is what one run of a scheduled function did.
type Run struct {
	Function   string // e.g. "expiry-check", "reminders"
	ID         string
	StartedAt  time.Time
	FinishedAt time.Time
	Counts     map[string]int // what the run did, e.g. {"checked":120,"refreshed":3}; nil when empty
	Complete   bool           // false: it stopped at its deadline and the next run resumes
}

// Bounds on a Run, so that one record always stays small (all runs share one
// DynamoDB partition and are read in one Query).
const (
	MaxRunName   = 100 // bytes of the function name, of the ID and of each count's name
	MaxRunCounts = 100
)

// CheckRun is EINVALID for a run without a function name, or with names that break
// the bounds above (UTF-8 without NUL; count names non-empty).
func CheckRun(r Run) error {
	bad := func(s string, empty bool) bool {
		return (!empty && s == "") || len(s) > MaxRunName || strings.IndexByte(s, 0) >= 0 || !utf8.ValidString(s)
	}
	if bad(r.Function, false) || bad(r.ID, true) {
		return relink.Errorf(relink.EINVALID,
			"A run needs a function name, and names and IDs of UTF-8 without NUL, at most %d bytes.", MaxRunName)
	}
	if len(r.Counts) > MaxRunCounts {
		return relink.Errorf(relink.EINVALID, "A run has at most %d counts.", MaxRunCounts)
	}
	for name := range r.Counts {
		if bad(name, false) {
			return relink.Errorf(relink.EINVALID,
				"A run's count names are non-empty UTF-8 without NUL, at most %d bytes.", MaxRunName)
		}
	}
	return nil
}

// MaxLimitKey bounds the key of Limits.Allow, in bytes.
const MaxLimitKey = 300

// Window is the fixed window of Limits.Allow that holds at now: its start and end
// in epoch seconds. Windows start at multiples of their length since the Unix epoch,
// so every instance agrees on them without talking to the others.
type Window struct {
	Length int64 // seconds
	Start  int64 // epoch seconds, a multiple of Length
	End    int64 // Start + Length: the first second of the next window
}

// LimitWindow checks Allow's arguments and returns the window that holds at now.
func LimitWindow(key string, limit int, window time.Duration, now time.Time) (Window, error) {
	switch {
	case key == "" || len(key) > MaxLimitKey || strings.IndexByte(key, 0) >= 0 || !utf8.ValidString(key):
		return Window{}, relink.Errorf(relink.EINVALID,
			"A rate-limit key must be non-empty UTF-8 without NUL, at most %d bytes.", MaxLimitKey)
	case limit < 1:
		return Window{}, relink.Errorf(relink.EINVALID, "A rate limit must allow at least one event.")
	case window < time.Second || window%time.Second != 0:
		return Window{}, relink.Errorf(relink.EINVALID, "A rate-limit window must be a whole number of seconds, at least one.")
	}
	length := int64(window / time.Second)
	sec := now.Unix() // floors, also before 1970
	start := sec - mod(sec, length)
	return Window{Length: length, Start: start, End: start + length}, nil
}

// mod is the non-negative remainder, so that windows before the epoch floor too.
func mod(a, b int64) int64 {
	m := a % b
	if m < 0 {
		m += b
	}
	return m
}

// Page asks for one page of a listing.
type Page struct {
	Limit  int    // 0 means DefaultLimit; at most MaxLimit
	Cursor string // "" for the first page; else Next of the previous page of the same listing
}

// Page size bounds.
const (
	DefaultLimit = 50
	MaxLimit     = 1000
)

// AccountPage is one page of accounts. Next is "" on the last page.
type AccountPage struct {
	Accounts []account.Account
	Next     string
}

// EventPage is one page of audit events. Next is "" on the last page.
type EventPage struct {
	Events []account.Event
	Next   string
}

// DefaultShards is the shard count of the due and remind indexes when Config.Shards is
// zero. It also caps how many invocations share one sweep (sweep.Plan), so it sets
// the largest table the hourly sweep keeps up with (the README's Performance section
// works it out); an empty shard costs a sweep half a read unit, read 8 at a time.
const DefaultShards = 64

// Config is what every implementation is built with.
type Config struct {
	// Clock decides when soft-deleted accounts are gone. Default: the system clock.
	Clock clock.Clock
	// CursorKey signs page cursors (at least 32 bytes). It must be the same on every
	// instance that serves one listing, so in AWS it comes from Secrets Manager.
	CursorKey []byte
	// Shards is the number of shards of the due and remind indexes. Default
	// DefaultShards. Raising it is safe: sweeps read every shard below the new count,
	// so items written under the old one are still found, and each moves to its new
	// shard when next written. Lowering it would strand items: it needs a re-index.
	Shards int
}

// WithDefaults fills unset fields.
func (c Config) WithDefaults() Config {
	if c.Clock == nil {
		c.Clock = clock.System{}
	}
	if c.Shards <= 0 {
		c.Shards = DefaultShards
	}
	return c
}
