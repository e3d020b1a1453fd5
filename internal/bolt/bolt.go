// Package bolt is the embedded store: one bbolt file holding everything Relink
// persists, for the local server and fast tests. Every write is one bbolt transaction,
// fsynced on commit, so an acknowledged write survives a crash.
package bolt

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	bbolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/relinkhq/relink/internal/account"
	"github.com/relinkhq/relink/internal/clock"
	"github.com/relinkhq/relink/internal/relink"
	"github.com/relinkhq/relink/internal/store"
	"github.com/relinkhq/relink/internal/workspace"
)

var _ store.Store = (*Store)(nil)

// Buckets. Keys join IDs with sep; IDs never contain it (validIDs refuses them).
const (
	bWorkspaces = "workspaces" // ws → Workspace
	bUsers      = "users"      // ws|id → User
	bAddresses  = "addresses"  // email|ws → user ID: unique per workspace, every workspace of an address in order
	bGroups     = "groups"     // ws|id → Group
	bAccounts   = "accounts"   // ws|id → Account
	bExternal   = "external"   // ws|channel|external ID → account ID
	bOwners     = "owners"     // ws|owner|id → ""
	bDue        = "due"        // shard(2) | due millis(8) | ws|id → ""
	bRemind     = "remind"     // shard(2) | remind millis(8) | ws|id → "" (the due layout, for RemindAt)
	bEvents     = "events"     // ws|account|version(8) → Event
	bTokens     = "tokens"     // ws|account → sealed tokens (raw bytes)
	bLinks      = "links"      // link hash → Link
	bLinkRefs   = "linkrefs"   // ws|user|purpose|link hash → ""
	bConsents   = "consents"   // state hash → consent.State
	bCodes      = "codes"      // flow ID → Code
	bLimits     = "limits"     // window end(8) | window length(8) | key → count(8): see limits.go
	bSends      = "sends"      // send key → store.Send: see sends.go
	bRuns       = "runs"       // function name → store.Run

	// bEmailsV1 is the address index before UsersByEmail (ws|email → user ID). Open
	// moves a file's entries to bAddresses and drops it.
	bEmailsV1 = "emails"

	sep = "\x00"

	// lockTimeout bounds the wait for the file lock, so a second process opening a
	// file in use fails clearly instead of hanging.
	lockTimeout = time.Second
)

// Store is the embedded store. It is safe for concurrent use.
type Store struct {
	db      *bbolt.DB
	clock   clock.Clock
	cursors *store.Cursors
	shards  int
}

// Open opens (or creates) the store file at path.
func Open(path string, cfg store.Config) (*Store, error) {
	cfg = cfg.WithDefaults()
	cursors, err := store.NewCursors(cfg.CursorKey)
	if err != nil {
		return nil, fmt.Errorf("bolt: %w", err)
	}
	if cfg.Shards > math.MaxUint16+1 {
		return nil, fmt.Errorf("bolt: %d shards do not fit the due and remind indexes (at most %d)", cfg.Shards, math.MaxUint16+1)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("bolt: create directory of %s: %w", path, err)
	}
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: lockTimeout})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("bolt: %s is locked, most likely by another running process: %w", path, err)
	}
	if err != nil {
		return nil, fmt.Errorf("bolt: open %s: %w", path, err)
	}
	s := &Store{db: db, clock: cfg.Clock, cursors: cursors, shards: cfg.Shards}
	err = db.Update(func(tx *bbolt.Tx) error {
		newRemind := tx.Bucket([]byte(bRemind)) == nil
		for _, name := range []string{bWorkspaces, bUsers, bAddresses, bGroups, bAccounts, bExternal, bOwners, bDue, bRemind,
			bEvents, bTokens, bLinks, bLinkRefs, bConsents, bCodes, bLimits, bSends, bRuns} {
			if _, err := tx.CreateBucketIfNotExists([]byte(name)); err != nil {
				return fmt.Errorf("create bucket %s: %w", name, err)
			}
		}
		if err := migrateEmails(tx); err != nil {
			return err
		}
		if newRemind {
			return s.indexReminders(tx)
		}
		return nil
	})
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("bolt: initialise %s: %w", path, err)
	}
	return s, nil
}

// indexReminders fills a new remind index from the accounts: files written before the
// index existed (make run's .relink) already hold accounts with a RemindAt.
func (s *Store) indexReminders(tx *bbolt.Tx) error {
	remind := tx.Bucket([]byte(bRemind))
	return tx.Bucket([]byte(bAccounts)).ForEach(func(k, v []byte) error {
		var a account.Account
		if err := json.Unmarshal(v, &a); err != nil {
			return fmt.Errorf("decode account %q: %w", k, err)
		}
		if k := s.indexKey(a.WorkspaceID, a.ID, a.RemindAt); k != nil {
			if err := remind.Put(k, nil); err != nil {
				return fmt.Errorf("index remind time of %q: %w", k, err)
			}
		}
		return nil
	})
}

// migrateEmails moves the entries of the old address index (ws|email) to bAddresses
// (email|ws), so that files made by earlier versions (make run's .relink) keep
// finding their users by address.
func migrateEmails(tx *bbolt.Tx) error {
	old := tx.Bucket([]byte(bEmailsV1))
	if old == nil {
		return nil
	}
	addresses := tx.Bucket([]byte(bAddresses))
	// ForEach must not see its own bucket change; writing another bucket is fine.
	err := old.ForEach(func(k, id []byte) error {
		ws, email, ok := bytes.Cut(k, []byte(sep))
		if !ok {
			return fmt.Errorf("address index entry %q has no workspace", k)
		}
		if err := addresses.Put(key(string(email), string(ws)), bytes.Clone(id)); err != nil {
			return fmt.Errorf("move address index entry %q: %w", k, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := tx.DeleteBucket([]byte(bEmailsV1)); err != nil {
		return fmt.Errorf("drop the old address index: %w", err)
	}
	return nil
}

// Close releases the file.
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("bolt: close: %w", err)
	}
	return nil
}

// update runs fn in one atomic, durable write transaction.
func (s *Store) update(ctx context.Context, fn func(tx *bbolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return txError("write", s.db.Update(fn))
}

// view runs fn in one consistent read transaction.
func (s *Store) view(ctx context.Context, fn func(tx *bbolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return txError("read", s.db.View(fn))
}

// txError passes the port's own errors through and gives any other failure context;
// its text stays out of client messages, as it is not a *relink.Error.
func txError(op string, err error) error {
	var rerr *relink.Error
	if err == nil || errors.As(err, &rerr) {
		return err
	}
	return fmt.Errorf("bolt: %s: %w", op, err)
}

// key joins IDs into a bucket key; key(ws, "") is the prefix of a workspace's keys.
func key(parts ...string) []byte { return []byte(strings.Join(parts, sep)) }

// validIDs refuses empty IDs and IDs that would break the key layout.
func validIDs(ids ...string) error {
	for _, id := range ids {
		if id == "" || strings.Contains(id, sep) {
			return relink.Errorf(relink.EINVALID, "An ID is missing or not valid.")
		}
	}
	return nil
}

func notFound(what string) error { return relink.Errorf(relink.ENOTFOUND, "No such %s.", what) }

func stale(what string) error {
	return relink.Errorf(relink.ECONFLICT, "The %s was changed by someone else; reload it and try again.", what)
}

// get decodes the value at k, ENOTFOUND if there is none.
func get[T any](b *bbolt.Bucket, k []byte, what string) (T, error) {
	var v T
	raw := b.Get(k)
	if raw == nil {
		return v, notFound(what)
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return v, fmt.Errorf("decode %s %q: %w", what, k, err)
	}
	return v, nil
}

func put(b *bbolt.Bucket, k []byte, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %q: %w", k, err)
	}
	if err := b.Put(k, raw); err != nil {
		return fmt.Errorf("put %q: %w", k, err)
	}
	return nil
}

func del(b *bbolt.Bucket, k []byte) error {
	if err := b.Delete(k); err != nil {
		return fmt.Errorf("delete %q: %w", k, err)
	}
	return nil
}

// nilIfEmpty stores empty slices as null, so they come back nil as the port promises.
func nilIfEmpty[T any](s []T) []T {
	if len(s) == 0 {
		return nil
	}
	return s
}

// all decodes every value under prefix, in key order.
func all[T any](b *bbolt.Bucket, prefix []byte, what string) ([]T, error) {
	var out []T
	c := b.Cursor()
	for k, raw := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, raw = c.Next() {
		var v T
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, fmt.Errorf("decode %s %q: %w", what, k, err)
		}
		out = append(out, v)
	}
	return out, nil
}

// scan pages through b from the key from (skipping it when exclusive) while within
// holds, keeping what pick accepts. It reads one accepted item past limit, so more is
// exact: another page exists only if it would not be empty.
func scan[T any](b *bbolt.Bucket, from []byte, exclusive bool, within func(k []byte) bool, limit int,
	pick func(k, v []byte) (T, bool, error)) (page []T, more bool, err error) {
	c := b.Cursor()
	k, v := c.Seek(from)
	if exclusive && bytes.Equal(k, from) {
		k, v = c.Next()
	}
	for ; k != nil && within(k); k, v = c.Next() {
		item, ok, err := pick(k, v)
		if err != nil {
			return nil, false, err
		}
		if !ok {
			continue
		}
		if len(page) == limit {
			return page, true, nil
		}
		page = append(page, item)
	}
	return page, false, nil
}

// Workspaces

func (s *Store) CreateWorkspace(ctx context.Context, w workspace.Workspace) (workspace.Workspace, error) {
	if err := validIDs(w.ID); err != nil {
		return workspace.Workspace{}, err
	}
	w.Version = 1
	err := s.update(ctx, func(tx *bbolt.Tx) error {
		b := tx.Bucket([]byte(bWorkspaces))
		if b.Get(key(w.ID)) != nil {
			return relink.Errorf(relink.ECONFLICT, "A workspace with this ID already exists.")
		}
		return put(b, key(w.ID), w)
	})
	if err != nil {
		return workspace.Workspace{}, err
	}
	return w, nil
}

func (s *Store) GetWorkspace(ctx context.Context, id string) (workspace.Workspace, error) {
	if err := validIDs(id); err != nil {
		return workspace.Workspace{}, err
	}
	var w workspace.Workspace
	err := s.view(ctx, func(tx *bbolt.Tx) (err error) {
		w, err = get[workspace.Workspace](tx.Bucket([]byte(bWorkspaces)), key(id), "workspace")
		return err
	})
	if err != nil {
		return workspace.Workspace{}, err
	}
	// Workspaces saved before a setting existed read back with its default.
	w.Settings = w.Settings.WithDefaults()
	return w, nil
}

func (s *Store) UpdateWorkspace(ctx context.Context, w workspace.Workspace) (workspace.Workspace, error) {
	if err := validIDs(w.ID); err != nil {
		return workspace.Workspace{}, err
	}
	err := s.update(ctx, func(tx *bbolt.Tx) error {
		b := tx.Bucket([]byte(bWorkspaces))
		old, err := get[workspace.Workspace](b, key(w.ID), "workspace")
		if err != nil {
			return err
		}
		if old.Version != w.Version {
			return stale("workspace")
		}
		w.Version++
		return put(b, key(w.ID), w)
	})
	if err != nil {
		return workspace.Workspace{}, err
	}
	return w, nil
}

// Users

func (s *Store) CreateUser(ctx context.Context, u workspace.User) (workspace.User, error) {
	if err := validIDs(u.WorkspaceID, u.ID, u.Email); err != nil {
		return workspace.User{}, err
	}
	u.Version = 1
	err := s.update(ctx, func(tx *bbolt.Tx) error {
		b := tx.Bucket([]byte(bUsers))
		if b.Get(key(u.WorkspaceID, u.ID)) != nil {
			return relink.Errorf(relink.ECONFLICT, "A user with this ID already exists.")
		}
		if err := claimEmail(tx, u); err != nil {
			return err
		}
		return put(b, key(u.WorkspaceID, u.ID), u)
	})
	if err != nil {
		return workspace.User{}, err
	}
	return u, nil
}

// claimEmail takes u's address for u, ECONFLICT if another user of the workspace has it.
func claimEmail(tx *bbolt.Tx, u workspace.User) error {
	b := tx.Bucket([]byte(bAddresses))
	k := key(u.Email, u.WorkspaceID)
	if holder := b.Get(k); holder != nil && string(holder) != u.ID {
		return relink.Errorf(relink.ECONFLICT, "Another user of the workspace already has the address %s.", u.Email)
	}
	if err := b.Put(k, []byte(u.ID)); err != nil {
		return fmt.Errorf("claim email: %w", err)
	}
	return nil
}

func (s *Store) GetUser(ctx context.Context, workspaceID, id string) (workspace.User, error) {
	if err := validIDs(workspaceID, id); err != nil {
		return workspace.User{}, err
	}
	var u workspace.User
	err := s.view(ctx, func(tx *bbolt.Tx) (err error) {
		u, err = get[workspace.User](tx.Bucket([]byte(bUsers)), key(workspaceID, id), "user")
		return err
	})
	return u, err
}

func (s *Store) GetUserByEmail(ctx context.Context, workspaceID, email string) (workspace.User, error) {
	if err := validIDs(workspaceID, email); err != nil {
		return workspace.User{}, err
	}
	var u workspace.User
	err := s.view(ctx, func(tx *bbolt.Tx) (err error) {
		id := tx.Bucket([]byte(bAddresses)).Get(key(email, workspaceID))
		if id == nil {
			return notFound("user")
		}
		u, err = get[workspace.User](tx.Bucket([]byte(bUsers)), key(workspaceID, string(id)), "user")
		return err
	})
	return u, err
}

func (s *Store) UpdateUser(ctx context.Context, u workspace.User) (workspace.User, error) {
	if err := validIDs(u.WorkspaceID, u.ID, u.Email); err != nil {
		return workspace.User{}, err
	}
	err := s.update(ctx, func(tx *bbolt.Tx) error {
		b := tx.Bucket([]byte(bUsers))
		old, err := get[workspace.User](b, key(u.WorkspaceID, u.ID), "user")
		if err != nil {
			return err
		}
		if old.Version != u.Version {
			return stale("user")
		}
		if old.Email != u.Email {
			if err := claimEmail(tx, u); err != nil {
				return err
			}
			if err := del(tx.Bucket([]byte(bAddresses)), key(old.Email, old.WorkspaceID)); err != nil {
				return err
			}
		}
		u.Version++
		return put(b, key(u.WorkspaceID, u.ID), u)
	})
	if err != nil {
		return workspace.User{}, err
	}
	return u, nil
}

// UsersByEmail reads the address's index entries, which sort by workspace, and the
// users they name, in one read transaction; at most store.MaxUsersByEmail of them.
func (s *Store) UsersByEmail(ctx context.Context, email string) ([]workspace.User, error) {
	if email == "" || strings.Contains(email, sep) {
		return nil, nil // no stored address is empty or holds sep (validIDs)
	}
	var users []workspace.User
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		usersB := tx.Bucket([]byte(bUsers))
		prefix := key(email, "")
		c := tx.Bucket([]byte(bAddresses)).Cursor()
		for k, id := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix) && len(users) < store.MaxUsersByEmail; k, id = c.Next() {
			u, err := get[workspace.User](usersB, key(string(k[len(prefix):]), string(id)), "user")
			if err != nil {
				return err // an entry and its user are written together: never absent
			}
			users = append(users, u)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return users, nil
}

func (s *Store) ListUsers(ctx context.Context, workspaceID string) ([]workspace.User, error) {
	if err := validIDs(workspaceID); err != nil {
		return nil, err
	}
	var users []workspace.User
	err := s.view(ctx, func(tx *bbolt.Tx) (err error) {
		users, err = all[workspace.User](tx.Bucket([]byte(bUsers)), key(workspaceID, ""), "user")
		return err
	})
	return users, err
}

// Groups

func (s *Store) CreateGroup(ctx context.Context, g workspace.Group) (workspace.Group, error) {
	if err := validIDs(g.WorkspaceID, g.ID); err != nil {
		return workspace.Group{}, err
	}
	g = normalizeGroup(g)
	g.Version = 1
	err := s.update(ctx, func(tx *bbolt.Tx) error {
		b := tx.Bucket([]byte(bGroups))
		if b.Get(key(g.WorkspaceID, g.ID)) != nil {
			return relink.Errorf(relink.ECONFLICT, "A group with this ID already exists.")
		}
		return put(b, key(g.WorkspaceID, g.ID), g)
	})
	if err != nil {
		return workspace.Group{}, err
	}
	return g, nil
}

func normalizeGroup(g workspace.Group) workspace.Group {
	g.AccountIDs, g.Subscribers = nilIfEmpty(g.AccountIDs), nilIfEmpty(g.Subscribers)
	return g
}

func (s *Store) GetGroup(ctx context.Context, workspaceID, id string) (workspace.Group, error) {
	if err := validIDs(workspaceID, id); err != nil {
		return workspace.Group{}, err
	}
	var g workspace.Group
	err := s.view(ctx, func(tx *bbolt.Tx) (err error) {
		g, err = get[workspace.Group](tx.Bucket([]byte(bGroups)), key(workspaceID, id), "group")
		return err
	})
	return g, err
}

func (s *Store) UpdateGroup(ctx context.Context, g workspace.Group) (workspace.Group, error) {
	if err := validIDs(g.WorkspaceID, g.ID); err != nil {
		return workspace.Group{}, err
	}
	g = normalizeGroup(g)
	err := s.update(ctx, func(tx *bbolt.Tx) error {
		b := tx.Bucket([]byte(bGroups))
		old, err := get[workspace.Group](b, key(g.WorkspaceID, g.ID), "group")
		if err != nil {
			return err
		}
		if old.Version != g.Version {
			return stale("group")
		}
		g.Version++
		return put(b, key(g.WorkspaceID, g.ID), g)
	})
	if err != nil {
		return workspace.Group{}, err
	}
	return g, nil
}

func (s *Store) DeleteGroup(ctx context.Context, workspaceID, id string, version int64) error {
	if err := validIDs(workspaceID, id); err != nil {
		return err
	}
	return s.update(ctx, func(tx *bbolt.Tx) error {
		b := tx.Bucket([]byte(bGroups))
		old, err := get[workspace.Group](b, key(workspaceID, id), "group")
		if err != nil {
			return err
		}
		if old.Version != version {
			return stale("group")
		}
		return del(b, key(workspaceID, id))
	})
}

func (s *Store) ListGroups(ctx context.Context, workspaceID string) ([]workspace.Group, error) {
	if err := validIDs(workspaceID); err != nil {
		return nil, err
	}
	var groups []workspace.Group
	err := s.view(ctx, func(tx *bbolt.Tx) (err error) {
		groups, err = all[workspace.Group](tx.Bucket([]byte(bGroups)), key(workspaceID, ""), "group")
		return err
	})
	return groups, err
}
