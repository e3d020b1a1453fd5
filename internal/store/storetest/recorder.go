package storetest

import (
	"context"
	"sync"
	"time"

	"github.com/relinkhq/relink/internal/account"
	"github.com/relinkhq/relink/internal/consent"
	"github.com/relinkhq/relink/internal/magiclink"
	"github.com/relinkhq/relink/internal/store"
	"github.com/relinkhq/relink/internal/workspace"
)

// Recorder is a store that names, in Writes, every write that took effect (reads pass
// through): fuzz and isolation tests use it to prove a refused request wrote nothing.
// Its Store may be swapped between runs (a fixture restored from a copy).
type Recorder struct {
	store.Store
	mu     sync.Mutex
	Writes *[]string
}

func (r *Recorder) did(op string, err error) {
	if err == nil {
		r.mu.Lock()
		*r.Writes = append(*r.Writes, op)
		r.mu.Unlock()
	}
}

func (r *Recorder) CreateWorkspace(ctx context.Context, w workspace.Workspace) (workspace.Workspace, error) {
	out, err := r.Store.CreateWorkspace(ctx, w)
	r.did("CreateWorkspace", err)
	return out, err
}

func (r *Recorder) UpdateWorkspace(ctx context.Context, w workspace.Workspace) (workspace.Workspace, error) {
	out, err := r.Store.UpdateWorkspace(ctx, w)
	r.did("UpdateWorkspace", err)
	return out, err
}

func (r *Recorder) CreateUser(ctx context.Context, u workspace.User) (workspace.User, error) {
	out, err := r.Store.CreateUser(ctx, u)
	r.did("CreateUser", err)
	return out, err
}

func (r *Recorder) UpdateUser(ctx context.Context, u workspace.User) (workspace.User, error) {
	out, err := r.Store.UpdateUser(ctx, u)
	r.did("UpdateUser", err)
	return out, err
}

func (r *Recorder) CreateGroup(ctx context.Context, g workspace.Group) (workspace.Group, error) {
	out, err := r.Store.CreateGroup(ctx, g)
	r.did("CreateGroup", err)
	return out, err
}

func (r *Recorder) UpdateGroup(ctx context.Context, g workspace.Group) (workspace.Group, error) {
	out, err := r.Store.UpdateGroup(ctx, g)
	r.did("UpdateGroup", err)
	return out, err
}

func (r *Recorder) DeleteGroup(ctx context.Context, workspaceID, id string, version int64) error {
	err := r.Store.DeleteGroup(ctx, workspaceID, id, version)
	r.did("DeleteGroup", err)
	return err
}

func (r *Recorder) CreateAccount(ctx context.Context, c account.Change) error {
	err := r.Store.CreateAccount(ctx, c)
	r.did("CreateAccount", err)
	return err
}

func (r *Recorder) Apply(ctx context.Context, c account.Change) error {
	err := r.Store.Apply(ctx, c)
	r.did("Apply", err)
	return err
}

func (r *Recorder) PutTokens(ctx context.Context, workspaceID, accountID string, sealed []byte) error {
	err := r.Store.PutTokens(ctx, workspaceID, accountID, sealed)
	r.did("PutTokens", err)
	return err
}

func (r *Recorder) DeleteTokens(ctx context.Context, workspaceID, accountID string) error {
	err := r.Store.DeleteTokens(ctx, workspaceID, accountID)
	r.did("DeleteTokens", err)
	return err
}

func (r *Recorder) CreateLink(ctx context.Context, l magiclink.Link) error {
	err := r.Store.CreateLink(ctx, l)
	r.did("CreateLink", err)
	return err
}

func (r *Recorder) UseLink(ctx context.Context, hash string, now time.Time) (magiclink.Link, error) {
	out, err := r.Store.UseLink(ctx, hash, now)
	r.did("UseLink", err)
	return out, err
}

func (r *Recorder) RevokeLinks(ctx context.Context, workspaceID, userID string, purpose magiclink.Purpose, now time.Time) (int, error) {
	n, err := r.Store.RevokeLinks(ctx, workspaceID, userID, purpose, now)
	if n > 0 {
		r.did("RevokeLinks", err)
	}
	return n, err
}

func (r *Recorder) PutConsent(ctx context.Context, s consent.State) error {
	err := r.Store.PutConsent(ctx, s)
	r.did("PutConsent", err)
	return err
}

func (r *Recorder) TakeConsent(ctx context.Context, hash string, now time.Time) (consent.State, error) {
	out, err := r.Store.TakeConsent(ctx, hash, now)
	r.did("TakeConsent", err)
	return out, err
}

func (r *Recorder) PutCode(ctx context.Context, c magiclink.Code) error {
	err := r.Store.PutCode(ctx, c)
	r.did("PutCode", err)
	return err
}

func (r *Recorder) UpdateCode(ctx context.Context, c magiclink.Code) error {
	err := r.Store.UpdateCode(ctx, c)
	r.did("UpdateCode", err)
	return err
}

func (r *Recorder) Allow(ctx context.Context, key string, limit int, window time.Duration, now time.Time) (bool, error) {
	ok, err := r.Store.Allow(ctx, key, limit, window, now)
	if ok {
		r.did("Allow", err)
	}
	return ok, err
}

func (r *Recorder) ClaimSend(ctx context.Context, key, owner string, now time.Time) (bool, error) {
	ok, err := r.Store.ClaimSend(ctx, key, owner, now)
	if ok {
		r.did("ClaimSend", err)
	}
	return ok, err
}

func (r *Recorder) MarkSent(ctx context.Context, key, owner, messageID string, now time.Time) error {
	err := r.Store.MarkSent(ctx, key, owner, messageID, now)
	r.did("MarkSent", err)
	return err
}

func (r *Recorder) ReleaseSend(ctx context.Context, key, owner string) error {
	err := r.Store.ReleaseSend(ctx, key, owner)
	r.did("ReleaseSend", err)
	return err
}

func (r *Recorder) PutRun(ctx context.Context, run store.Run) error {
	err := r.Store.PutRun(ctx, run)
	r.did("PutRun", err)
	return err
}
