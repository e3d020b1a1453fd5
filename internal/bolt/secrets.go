package bolt

import (
	"bytes"
	"context"
	"fmt"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/relinkhq/relink/internal/consent"
	"github.com/relinkhq/relink/internal/magiclink"
	"github.com/relinkhq/relink/internal/relink"
	"github.com/relinkhq/relink/internal/store"
)

// codeRetention is how long a code is kept after it expired (store.Codes.GetCode).
const codeRetention = 24 * time.Hour

// Tokens

func (s *Store) PutTokens(ctx context.Context, workspaceID, accountID string, sealed []byte) error {
	if err := validIDs(workspaceID, accountID); err != nil {
		return err
	}
	if len(sealed) == 0 {
		return relink.Errorf(relink.EINVALID, "There are no tokens to store.")
	}
	return s.update(ctx, func(tx *bbolt.Tx) error {
		if err := tx.Bucket([]byte(bTokens)).Put(key(workspaceID, accountID), sealed); err != nil {
			return fmt.Errorf("put tokens: %w", err)
		}
		return nil
	})
}

func (s *Store) GetTokens(ctx context.Context, workspaceID, accountID string) ([]byte, error) {
	if err := validIDs(workspaceID, accountID); err != nil {
		return nil, err
	}
	var sealed []byte
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		raw := tx.Bucket([]byte(bTokens)).Get(key(workspaceID, accountID))
		if raw == nil {
			return notFound("tokens")
		}
		sealed = bytes.Clone(raw) // bbolt's bytes are valid only within the transaction
		return nil
	})
	return sealed, err
}

func (s *Store) DeleteTokens(ctx context.Context, workspaceID, accountID string) error {
	if err := validIDs(workspaceID, accountID); err != nil {
		return err
	}
	return s.update(ctx, func(tx *bbolt.Tx) error {
		return del(tx.Bucket([]byte(bTokens)), key(workspaceID, accountID))
	})
}

// Links

func (s *Store) CreateLink(ctx context.Context, l magiclink.Link) error {
	if err := validIDs(l.Hash, l.WorkspaceID, l.UserID, string(l.Purpose)); err != nil {
		return err
	}
	l.Channels = nilIfEmpty(l.Channels)
	return s.update(ctx, func(tx *bbolt.Tx) error {
		b := tx.Bucket([]byte(bLinks))
		if b.Get(key(l.Hash)) != nil {
			return relink.Errorf(relink.ECONFLICT, "A link with this hash already exists.")
		}
		if err := put(b, key(l.Hash), l); err != nil {
			return err
		}
		if err := tx.Bucket([]byte(bLinkRefs)).Put(linkRef(l), nil); err != nil {
			return fmt.Errorf("index link: %w", err)
		}
		return nil
	})
}

func linkRef(l magiclink.Link) []byte {
	return key(l.WorkspaceID, l.UserID, string(l.Purpose), l.Hash)
}

// keptLink reads a link that is still within its retention at now, ENOTFOUND otherwise.
func keptLink(tx *bbolt.Tx, hash string, now time.Time) (magiclink.Link, error) {
	l, err := get[magiclink.Link](tx.Bucket([]byte(bLinks)), key(hash), "link")
	if err != nil {
		return magiclink.Link{}, err
	}
	if linkPurged(l, now) {
		return magiclink.Link{}, notFound("link")
	}
	return l, nil
}

func linkPurged(l magiclink.Link, now time.Time) bool {
	return !now.Before(l.ExpiresAt.Add(store.LinkRetention))
}

func (s *Store) GetLink(ctx context.Context, hash string) (magiclink.Link, error) {
	if err := validIDs(hash); err != nil {
		return magiclink.Link{}, err
	}
	now := s.clock.Now() // retention follows the store's clock
	var l magiclink.Link
	err := s.view(ctx, func(tx *bbolt.Tx) (err error) {
		l, err = keptLink(tx, hash, now)
		return err
	})
	return l, err
}

func (s *Store) UseLink(ctx context.Context, hash string, now time.Time) (magiclink.Link, error) {
	if err := validIDs(hash); err != nil {
		return magiclink.Link{}, err
	}
	clockNow := s.clock.Now() // a link past retention is gone for every read, as in GetLink
	var l magiclink.Link
	err := s.update(ctx, func(tx *bbolt.Tx) (err error) {
		l, err = keptLink(tx, hash, clockNow)
		if err != nil {
			return err
		}
		if err := l.Usable(now); err != nil {
			return err
		}
		l.Uses++
		return put(tx.Bucket([]byte(bLinks)), key(hash), l)
	})
	if err != nil {
		return magiclink.Link{}, err
	}
	return l, nil
}

// RevokeLinks reads only the person's index entries for the purpose. It also drops
// the entries (and links) past retention it meets, so the index does not grow forever.
func (s *Store) RevokeLinks(ctx context.Context, workspaceID, userID string, purpose magiclink.Purpose, now time.Time) (int, error) {
	if err := validIDs(workspaceID, userID, string(purpose)); err != nil {
		return 0, err
	}
	clockNow := s.clock.Now()
	n := 0
	err := s.update(ctx, func(tx *bbolt.Tx) error {
		n = 0
		links, refs := tx.Bucket([]byte(bLinks)), tx.Bucket([]byte(bLinkRefs))
		prefix := key(workspaceID, userID, string(purpose), "")
		var hashes []string
		c := refs.Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			hashes = append(hashes, string(k[len(prefix):]))
		}
		// Mutate only after the scan: a bbolt cursor is not stable across writes.
		for _, hash := range hashes {
			l, err := get[magiclink.Link](links, key(hash), "link")
			if relink.ErrorCode(err) == relink.ENOTFOUND || (err == nil && linkPurged(l, clockNow)) {
				if err := del(links, key(hash)); err != nil {
					return err
				}
				if err := del(refs, key(workspaceID, userID, string(purpose), hash)); err != nil {
					return err
				}
				continue
			}
			if err != nil {
				return err
			}
			if l.Usable(now) != nil {
				continue
			}
			l.RevokedAt = now.UTC()
			if err := put(links, key(hash), l); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

// Consents

func (s *Store) PutConsent(ctx context.Context, st consent.State) error {
	if err := validIDs(st.Hash); err != nil {
		return err
	}
	return s.update(ctx, func(tx *bbolt.Tx) error {
		b := tx.Bucket([]byte(bConsents))
		if b.Get(key(st.Hash)) != nil {
			return relink.Errorf(relink.ECONFLICT, "A consent with this state already exists.")
		}
		return put(b, key(st.Hash), st)
	})
}

func (s *Store) TakeConsent(ctx context.Context, hash string, now time.Time) (consent.State, error) {
	if err := validIDs(hash); err != nil {
		return consent.State{}, err
	}
	var st consent.State
	err := s.update(ctx, func(tx *bbolt.Tx) (err error) {
		b := tx.Bucket([]byte(bConsents))
		st, err = get[consent.State](b, key(hash), "sign-in attempt")
		if err != nil {
			return err
		}
		// Removed whether it is still good or expired; the expiry is reported after the
		// commit, since an error returned here would roll the delete back.
		return del(b, key(hash))
	})
	if err != nil {
		return consent.State{}, err
	}
	if st.Expired(now) {
		return consent.State{}, relink.Errorf(relink.EGONE, "This sign-in attempt took too long. Start again from your link.")
	}
	return st, nil
}

// Codes

func (s *Store) PutCode(ctx context.Context, c magiclink.Code) error {
	if err := validCode(c); err != nil {
		return err
	}
	c.Payload = nilIfEmpty(c.Payload)
	return s.update(ctx, func(tx *bbolt.Tx) error {
		return put(tx.Bucket([]byte(bCodes)), key(c.ID), c)
	})
}

func validCode(c magiclink.Code) error {
	if err := validIDs(c.ID); err != nil {
		return err
	}
	return store.CheckCodePayload(c.Payload)
}

// keptCode reads a code that is at most a day past expiry at now, ENOTFOUND otherwise.
func keptCode(tx *bbolt.Tx, id string, now time.Time) (magiclink.Code, error) {
	c, err := get[magiclink.Code](tx.Bucket([]byte(bCodes)), key(id), "code")
	if err != nil {
		return magiclink.Code{}, err
	}
	if !now.Before(c.ExpiresAt.Add(codeRetention)) {
		return magiclink.Code{}, notFound("code")
	}
	return c, nil
}

func (s *Store) GetCode(ctx context.Context, id string) (magiclink.Code, error) {
	if err := validIDs(id); err != nil {
		return magiclink.Code{}, err
	}
	now := s.clock.Now()
	var c magiclink.Code
	err := s.view(ctx, func(tx *bbolt.Tx) (err error) {
		c, err = keptCode(tx, id, now)
		return err
	})
	return c, err
}

// UpdateCode also requires the stored code to be the same code (same hash): a resend
// starts again at version 1, and a verify still holding the replaced code must not
// overwrite the new one just because the versions line up.
func (s *Store) UpdateCode(ctx context.Context, c magiclink.Code) error {
	if err := validCode(c); err != nil {
		return err
	}
	c.Payload = nilIfEmpty(c.Payload)
	now := s.clock.Now()
	return s.update(ctx, func(tx *bbolt.Tx) error {
		old, err := keptCode(tx, c.ID, now)
		if err != nil {
			return err
		}
		if old.Version != c.Version-1 || old.Hash != c.Hash {
			return stale("code")
		}
		return put(tx.Bucket([]byte(bCodes)), key(c.ID), c)
	})
}
