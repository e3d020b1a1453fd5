package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/relinkhq/relink/internal/account"
	"github.com/relinkhq/relink/internal/relink"
	"github.com/relinkhq/relink/internal/store"
)

// indexHead is the fixed part of a key of the due and remind indexes: shard (2 bytes)
// and time (8 bytes, epoch milliseconds).
const indexHead = 2 + 8

// timeIndex is one of the sparse, sharded time indexes (due, remind): its bucket, the
// account's time it keeps (zero: no entry), and how its listings' cursors are bound.
type timeIndex struct {
	bucket string
	name   string // for errors
	at     func(account.Account) time.Time
	scope  func(shard int, now time.Time) string
}

var (
	dueIndex = timeIndex{bucket: bDue, name: "due",
		at: func(a account.Account) time.Time { return a.DueAt }, scope: store.DueScope}
	remindIndex = timeIndex{bucket: bRemind, name: "remind",
		at: func(a account.Account) time.Time { return a.RemindAt }, scope: store.RemindScope}
	// timeIndexes are the indexes every account write keeps in step.
	timeIndexes = []timeIndex{dueIndex, remindIndex}
)

func (s *Store) CreateAccount(ctx context.Context, c account.Change) error {
	a := normalizeAccount(c.After)
	if err := validAccount(a, c.Event); err != nil {
		return err
	}
	if a.Version != 1 {
		return relink.Errorf(relink.EINVALID, "A new account starts at version 1.")
	}
	now := s.clock.Now()
	return s.update(ctx, func(tx *bbolt.Tx) error {
		// Any stored account holds its ID, gone or not: its audit trail is keyed by it.
		if tx.Bucket([]byte(bAccounts)).Get(key(a.WorkspaceID, a.ID)) != nil {
			return relink.Errorf(relink.ECONFLICT, "An account with this ID already exists.")
		}
		return s.write(tx, account.Account{}, a, c.Event, now)
	})
}

func (s *Store) Apply(ctx context.Context, c account.Change) error {
	a := normalizeAccount(c.After)
	if err := validAccount(a, c.Event); err != nil {
		return err
	}
	if c.Before.WorkspaceID != a.WorkspaceID || c.Before.ID != a.ID || a.Version != c.Before.Version+1 {
		return relink.Errorf(relink.EINVALID, "The change does not follow from the account it starts from.")
	}
	now := s.clock.Now()
	return s.update(ctx, func(tx *bbolt.Tx) error {
		old, err := liveAccount(tx, a.WorkspaceID, a.ID, now)
		if err != nil {
			return err
		}
		if old.Version != c.Before.Version {
			return stale("account")
		}
		return s.write(tx, old, a, c.Event, now)
	})
}

// validAccount checks what the key layout needs, and that the event belongs to the
// version it is stored with, so it cannot overwrite another entry of the trail.
func validAccount(a account.Account, ev *account.Event) error {
	if err := validIDs(a.WorkspaceID, a.ID, a.Channel, a.ExternalID, a.OwnerID); err != nil {
		return err
	}
	if ev != nil && (ev.WorkspaceID != a.WorkspaceID || ev.AccountID != a.ID || ev.Version != a.Version) {
		return relink.Errorf(relink.EINVALID, "The audit event does not belong to the change.")
	}
	return nil
}

func normalizeAccount(a account.Account) account.Account {
	a.Scopes, a.Tasks, a.Missing = nilIfEmpty(a.Scopes), nilIfEmpty(a.Tasks), nilIfEmpty(a.Missing)
	if a.Missing != nil {
		a.Missing = append([]account.MissingPermission(nil), a.Missing...) // not the caller's array
		for i := range a.Missing {
			a.Missing[i].Breaks = nilIfEmpty(a.Missing[i].Breaks)
		}
	}
	return a
}

// write stores cur (replacing old, the zero Account on create), its event, and moves
// the index entries that changed.
func (s *Store) write(tx *bbolt.Tx, old, cur account.Account, ev *account.Event, now time.Time) error {
	if old.Channel != cur.Channel || old.ExternalID != cur.ExternalID {
		if err := claimExternal(tx, cur, now); err != nil {
			return err
		}
		if old.ExternalID != "" {
			ext := tx.Bucket([]byte(bExternal))
			if k := key(old.WorkspaceID, old.Channel, old.ExternalID); string(ext.Get(k)) == old.ID {
				if err := del(ext, k); err != nil {
					return err
				}
			}
		}
	}
	if old.OwnerID != cur.OwnerID {
		owners := tx.Bucket([]byte(bOwners))
		if old.OwnerID != "" {
			if err := del(owners, key(old.WorkspaceID, old.OwnerID, old.ID)); err != nil {
				return err
			}
		}
		if err := owners.Put(key(cur.WorkspaceID, cur.OwnerID, cur.ID), nil); err != nil {
			return fmt.Errorf("index owner: %w", err)
		}
	}
	for _, ix := range timeIndexes {
		if err := s.moveEntry(tx, ix, cur.WorkspaceID, cur.ID, ix.at(old), ix.at(cur)); err != nil {
			return err
		}
	}
	if err := put(tx.Bucket([]byte(bAccounts)), key(cur.WorkspaceID, cur.ID), cur); err != nil {
		return err
	}
	if ev == nil {
		return nil
	}
	e := *ev
	e.Missing = nilIfEmpty(e.Missing)
	return put(tx.Bucket([]byte(bEvents)), eventKey(e.WorkspaceID, e.AccountID, e.Version), e)
}

// claimExternal takes a's platform identity for a. A claim held by a gone account is
// free: a purge need not have run for the identity to be reusable.
func claimExternal(tx *bbolt.Tx, a account.Account, now time.Time) error {
	ext := tx.Bucket([]byte(bExternal))
	k := key(a.WorkspaceID, a.Channel, a.ExternalID)
	if holder := ext.Get(k); holder != nil && string(holder) != a.ID {
		if _, err := liveAccount(tx, a.WorkspaceID, string(holder), now); err == nil {
			return relink.Errorf(relink.ECONFLICT, "This %s account is already connected in the workspace.", a.Channel)
		} else if relink.ErrorCode(err) != relink.ENOTFOUND {
			return err
		}
	}
	if err := ext.Put(k, []byte(a.ID)); err != nil {
		return fmt.Errorf("claim external ID: %w", err)
	}
	return nil
}

// liveAccount reads an account that is not gone, ENOTFOUND otherwise.
func liveAccount(tx *bbolt.Tx, workspaceID, id string, now time.Time) (account.Account, error) {
	a, err := get[account.Account](tx.Bucket([]byte(bAccounts)), key(workspaceID, id), "account")
	if err != nil {
		return account.Account{}, err
	}
	if a.Gone(now) {
		return account.Account{}, notFound("account")
	}
	return a, nil
}

// moveEntry moves an account's entry in ix from time old to time cur; a zero time has
// no entry, which keeps the index sparse.
func (s *Store) moveEntry(tx *bbolt.Tx, ix timeIndex, workspaceID, id string, old, cur time.Time) error {
	oldKey, curKey := s.indexKey(workspaceID, id, old), s.indexKey(workspaceID, id, cur)
	if bytes.Equal(oldKey, curKey) {
		return nil
	}
	b := tx.Bucket([]byte(ix.bucket))
	if oldKey != nil {
		if err := del(b, oldKey); err != nil {
			return err
		}
	}
	if curKey != nil {
		if err := b.Put(curKey, nil); err != nil {
			return fmt.Errorf("index %s time: %w", ix.name, err)
		}
	}
	return nil
}

// indexKey is the key of an account at time t in a time index (the same in both: the
// account's shard, t, the account); nil for the zero time.
func (s *Store) indexKey(workspaceID, id string, t time.Time) []byte {
	if t.IsZero() {
		return nil
	}
	k := make([]byte, indexHead, indexHead+len(workspaceID)+len(sep)+len(id))
	binary.BigEndian.PutUint16(k, uint16(store.DueShard(workspaceID, id, s.shards)))
	binary.BigEndian.PutUint64(k[2:], uint64(max(t.UnixMilli(), 0)))
	return append(k, key(workspaceID, id)...)
}

func eventKey(workspaceID, accountID string, version int64) []byte {
	return binary.BigEndian.AppendUint64(key(workspaceID, accountID, ""), uint64(version))
}

func (s *Store) GetAccount(ctx context.Context, workspaceID, id string) (account.Account, error) {
	if err := validIDs(workspaceID, id); err != nil {
		return account.Account{}, err
	}
	now := s.clock.Now()
	var a account.Account
	err := s.view(ctx, func(tx *bbolt.Tx) (err error) {
		a, err = liveAccount(tx, workspaceID, id, now)
		return err
	})
	return a, err
}

func (s *Store) FindAccount(ctx context.Context, workspaceID, channel, externalID string) (account.Account, error) {
	if err := validIDs(workspaceID, channel, externalID); err != nil {
		return account.Account{}, err
	}
	now := s.clock.Now()
	var a account.Account
	err := s.view(ctx, func(tx *bbolt.Tx) (err error) {
		id := tx.Bucket([]byte(bExternal)).Get(key(workspaceID, channel, externalID))
		if id == nil {
			return notFound("account")
		}
		a, err = liveAccount(tx, workspaceID, string(id), now)
		return err
	})
	return a, err
}

func (s *Store) ListAccounts(ctx context.Context, workspaceID string, f account.Filter, p store.Page) (store.AccountPage, error) {
	limit, err := store.CheckPage(p)
	if err != nil {
		return store.AccountPage{}, err
	}
	if err := f.Validate(); err != nil {
		return store.AccountPage{}, err
	}
	if err := validIDs(workspaceID); err != nil {
		return store.AccountPage{}, err
	}
	scope := store.AccountsScope(workspaceID, f)
	var after []byte // the last account ID listed so far
	if p.Cursor != "" {
		if after, err = s.cursors.Open(scope, p.Cursor); err != nil {
			return store.AccountPage{}, err
		}
	}
	now := s.clock.Now()
	keep := func(a account.Account) bool { return !a.Gone(now) && f.Match(a) }

	var page []account.Account
	var more bool
	err = s.view(ctx, func(tx *bbolt.Tx) (err error) {
		accounts := tx.Bucket([]byte(bAccounts))
		if f.OwnerID == "" {
			prefix := key(workspaceID, "")
			page, more, err = scan(accounts, append(prefix, after...), after != nil, hasPrefix(prefix), limit,
				func(k, v []byte) (a account.Account, ok bool, err error) {
					if err := json.Unmarshal(v, &a); err != nil {
						return a, false, fmt.Errorf("decode account %q: %w", k, err)
					}
					return a, keep(a), nil
				})
			return err
		}
		// By owner: walk the owner index, reading only that owner's accounts.
		prefix := key(workspaceID, f.OwnerID, "")
		page, more, err = scan(tx.Bucket([]byte(bOwners)), append(prefix, after...), after != nil, hasPrefix(prefix), limit,
			func(k, _ []byte) (account.Account, bool, error) {
				a, err := get[account.Account](accounts, key(workspaceID, string(k[len(prefix):])), "account")
				if relink.ErrorCode(err) == relink.ENOTFOUND {
					return a, false, nil
				}
				return a, err == nil && keep(a), err
			})
		return err
	})
	if err != nil {
		return store.AccountPage{}, err
	}
	out := store.AccountPage{Accounts: page}
	if more {
		out.Next = s.cursors.Seal(scope, []byte(page[len(page)-1].ID))
	}
	return out, nil
}

func hasPrefix(prefix []byte) func([]byte) bool {
	return func(k []byte) bool { return bytes.HasPrefix(k, prefix) }
}

func (s *Store) DueAccounts(ctx context.Context, shard int, now time.Time, p store.Page) (store.AccountPage, error) {
	return s.indexPage(ctx, dueIndex, shard, now, p)
}

func (s *Store) RemindersDue(ctx context.Context, shard int, now time.Time, p store.Page) (store.AccountPage, error) {
	return s.indexPage(ctx, remindIndex, shard, now, p)
}

// indexPage pages through one shard of ix up to now, earliest first. The cursor is the
// index key of the last account listed, sealed to the index, shard and now.
func (s *Store) indexPage(ctx context.Context, ix timeIndex, shard int, now time.Time, p store.Page) (store.AccountPage, error) {
	limit, err := store.CheckPage(p)
	if err != nil {
		return store.AccountPage{}, err
	}
	if shard < 0 || shard >= s.shards {
		return store.AccountPage{}, relink.Errorf(relink.EINVALID, "Shard must be between 0 and %d.", s.shards-1)
	}
	prefix := binary.BigEndian.AppendUint16(nil, uint16(shard))
	from := prefix
	scope := ix.scope(shard, now)
	if p.Cursor != "" {
		if from, err = s.cursors.Open(scope, p.Cursor); err != nil {
			return store.AccountPage{}, err
		}
		if len(from) <= indexHead || !bytes.HasPrefix(from, prefix) {
			return store.AccountPage{}, relink.Errorf(relink.EINVALID, "The page cursor is not valid for this listing.")
		}
	}
	// The index keeps milliseconds; the account's own time settles the sub-millisecond rest.
	nowMilli := uint64(max(now.UnixMilli(), 0))
	within := func(k []byte) bool {
		return len(k) > indexHead && bytes.HasPrefix(k, prefix) && binary.BigEndian.Uint64(k[2:indexHead]) <= nowMilli
	}
	clockNow := s.clock.Now() // gone-ness follows the store's clock, not the caller's now

	var page []account.Account
	var more bool
	err = s.view(ctx, func(tx *bbolt.Tx) (err error) {
		accounts := tx.Bucket([]byte(bAccounts))
		page, more, err = scan(tx.Bucket([]byte(ix.bucket)), from, p.Cursor != "", within, limit,
			func(k, _ []byte) (account.Account, bool, error) {
				a, err := get[account.Account](accounts, k[indexHead:], "account")
				if relink.ErrorCode(err) == relink.ENOTFOUND {
					return a, false, nil
				}
				at := ix.at(a)
				return a, err == nil && !a.Gone(clockNow) && !at.IsZero() && !at.After(now), err
			})
		return err
	})
	if err != nil {
		return store.AccountPage{}, err
	}
	out := store.AccountPage{Accounts: page}
	if more {
		last := page[len(page)-1]
		out.Next = s.cursors.Seal(scope, s.indexKey(last.WorkspaceID, last.ID, ix.at(last)))
	}
	return out, nil
}

func (s *Store) Shards() int { return s.shards }

func (s *Store) Events(ctx context.Context, workspaceID, accountID string, p store.Page) (store.EventPage, error) {
	limit, err := store.CheckPage(p)
	if err != nil {
		return store.EventPage{}, err
	}
	if err := validIDs(workspaceID, accountID); err != nil {
		return store.EventPage{}, err
	}
	scope := store.EventsScope(workspaceID, accountID)
	var after []byte // the big-endian version of the last event listed so far
	if p.Cursor != "" {
		if after, err = s.cursors.Open(scope, p.Cursor); err != nil {
			return store.EventPage{}, err
		}
		if len(after) != 8 {
			return store.EventPage{}, relink.Errorf(relink.EINVALID, "The page cursor is not valid for this listing.")
		}
	}
	now := s.clock.Now()
	var page []account.Event
	var more bool
	err = s.view(ctx, func(tx *bbolt.Tx) (err error) {
		// The trail of a gone account is gone with it.
		if _, err := liveAccount(tx, workspaceID, accountID, now); relink.ErrorCode(err) == relink.ENOTFOUND {
			return nil
		} else if err != nil {
			return err
		}
		prefix := key(workspaceID, accountID, "")
		page, more, err = scan(tx.Bucket([]byte(bEvents)), append(prefix, after...), after != nil, hasPrefix(prefix), limit,
			func(k, v []byte) (e account.Event, ok bool, err error) {
				if err := json.Unmarshal(v, &e); err != nil {
					return e, false, fmt.Errorf("decode event %q: %w", k, err)
				}
				return e, true, nil
			})
		return err
	})
	if err != nil {
		return store.EventPage{}, err
	}
	out := store.EventPage{Events: page}
	if more {
		out.Next = s.cursors.Seal(scope, binary.BigEndian.AppendUint64(nil, uint64(page[len(page)-1].Version)))
	}
	return out, nil
}
