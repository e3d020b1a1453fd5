package bolt

import (
	"context"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/relinkhq/relink/internal/relink"
	"github.com/relinkhq/relink/internal/store"
)

const msgSendNotClaimed = "This reminder is not being sent by this run; it was released, sent, or claimed by another run."

// sendGone reports whether a record is past retention: it reads as absent and its key
// may be claimed again, as in the DynamoDB store, where TTL removes it in its own time.
func sendGone(r store.Send, now time.Time) bool {
	return !now.Before(r.ClaimedAt.Add(store.Retention(r.Key)))
}

// liveSend reads the record of key, ENOTFOUND if there is none or it is gone.
func liveSend(b *bbolt.Bucket, key string, now time.Time) (store.Send, error) {
	r, err := get[store.Send](b, []byte(key), "reminder send")
	if err == nil && sendGone(r, now) {
		return store.Send{}, notFound("reminder send")
	}
	return r, err
}

// ClaimSend writes the claim in one write transaction, which bbolt serializes, so of
// racing claims exactly one finds the key free.
func (s *Store) ClaimSend(ctx context.Context, key, owner string, now time.Time) (bool, error) {
	if err := store.CheckSend(key, owner); err != nil {
		return false, err
	}
	clockNow := s.clock.Now()
	claimed := false
	err := s.update(ctx, func(tx *bbolt.Tx) error {
		claimed = false
		b := tx.Bucket([]byte(bSends))
		if _, err := liveSend(b, key, clockNow); relink.ErrorCode(err) != relink.ENOTFOUND {
			return err // nil: someone claimed it before
		}
		claimed = true
		return put(b, []byte(key), store.Send{Key: key, Owner: owner, State: store.SendSending, ClaimedAt: now.UTC()})
	})
	if err != nil {
		return false, err
	}
	return claimed, nil
}

func (s *Store) MarkSent(ctx context.Context, key, owner, messageID string, now time.Time) error {
	if err := store.CheckSent(key, owner, messageID); err != nil {
		return err
	}
	return s.settleSend(ctx, key, owner, func(b *bbolt.Bucket, r store.Send) error {
		r.State, r.MessageID, r.SentAt = store.SendSent, messageID, now.UTC()
		return put(b, []byte(key), r)
	})
}

func (s *Store) ReleaseSend(ctx context.Context, key, owner string) error {
	if err := store.CheckSend(key, owner); err != nil {
		return err
	}
	return s.settleSend(ctx, key, owner, func(b *bbolt.Bucket, _ store.Send) error {
		return del(b, []byte(key))
	})
}

// settleSend runs fn on the record of key if owner holds it in state sending,
// ECONFLICT otherwise, in one write transaction.
func (s *Store) settleSend(ctx context.Context, key, owner string, fn func(*bbolt.Bucket, store.Send) error) error {
	clockNow := s.clock.Now()
	return s.update(ctx, func(tx *bbolt.Tx) error {
		b := tx.Bucket([]byte(bSends))
		r, err := liveSend(b, key, clockNow)
		if relink.ErrorCode(err) == relink.ENOTFOUND || (err == nil && (r.Owner != owner || r.State != store.SendSending)) {
			return relink.Errorf(relink.ECONFLICT, msgSendNotClaimed)
		}
		if err != nil {
			return err
		}
		return fn(b, r)
	})
}

func (s *Store) GetSend(ctx context.Context, key string) (store.Send, error) {
	if err := store.CheckSend(key); err != nil {
		return store.Send{}, err
	}
	clockNow := s.clock.Now()
	var r store.Send
	err := s.view(ctx, func(tx *bbolt.Tx) (err error) {
		r, err = liveSend(tx.Bucket([]byte(bSends)), key, clockNow)
		return err
	})
	return r, err
}

// Runs

func (s *Store) PutRun(ctx context.Context, r store.Run) error {
	if err := store.CheckRun(r); err != nil {
		return err
	}
	r.StartedAt, r.FinishedAt = r.StartedAt.UTC(), r.FinishedAt.UTC()
	if len(r.Counts) == 0 {
		r.Counts = nil
	}
	return s.update(ctx, func(tx *bbolt.Tx) error {
		return put(tx.Bucket([]byte(bRuns)), []byte(r.Function), r)
	})
}

// LastRuns reads the runs bucket, whose keys are the function names, in key order.
func (s *Store) LastRuns(ctx context.Context) ([]store.Run, error) {
	var runs []store.Run
	err := s.view(ctx, func(tx *bbolt.Tx) (err error) {
		runs, err = all[store.Run](tx.Bucket([]byte(bRuns)), nil, "run")
		return err
	})
	return runs, err
}
