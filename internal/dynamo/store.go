// Package dynamo is the DynamoDB implementation of store.Store: one table, keys PK/SK,
// an owner index, sparse sharded due and remind indexes and TTL for purged accounts (see
// schema.go and template.yaml). Every change is a conditional write; changes that
// span items are transactions.
package dynamo

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/relinkhq/relink/internal/clock"
	"github.com/relinkhq/relink/internal/relink"
	"github.com/relinkhq/relink/internal/store"
	"github.com/relinkhq/relink/internal/workspace"
)

// API is the part of the DynamoDB client the store uses; *dynamodb.Client has it.
type API interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
	BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error)
	TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, opts ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error)
}

// Store keeps Relink's data in one DynamoDB table.
type Store struct {
	api     API
	table   string
	clock   clock.Clock
	shards  int
	cursors *store.Cursors
}

var _ store.Store = (*Store)(nil)

// New returns a store on the named table, which must exist (see CreateTable).
func New(api API, table string, cfg store.Config) (*Store, error) {
	if api == nil || table == "" {
		return nil, errors.New("dynamo: a client and a table name are required")
	}
	cfg = cfg.WithDefaults()
	cursors, err := store.NewCursors(cfg.CursorKey)
	if err != nil {
		return nil, err
	}
	return &Store{api: api, table: table, clock: cfg.Clock, shards: cfg.Shards, cursors: cursors}, nil
}

// blank reports whether any key part is empty: DynamoDB rejects empty key strings,
// and no stored item has one.
func blank(parts ...string) bool {
	for _, p := range parts {
		if strings.TrimSpace(p) == "" {
			return true
		}
	}
	return false
}

func invalidKey(what string) error {
	return relink.Errorf(relink.EINVALID, "The %s needs a workspace and an ID.", what)
}

// Workspaces

const (
	msgWorkspaceNotFound = "Workspace not found."
	msgWorkspaceStale    = "The workspace was changed by someone else; reload it and try again."
)

func (s *Store) CreateWorkspace(ctx context.Context, w workspace.Workspace) (workspace.Workspace, error) {
	if blank(w.ID) {
		return workspace.Workspace{}, invalidKey("workspace")
	}
	w.Version = 1
	item, err := marshal(toWorkspaceItem(w))
	if err != nil {
		return workspace.Workspace{}, err
	}
	err = s.commit(ctx, "create workspace", write{item: item, cond: notExists(),
		conflict: "A workspace with this ID already exists."})
	if err != nil {
		return workspace.Workspace{}, err
	}
	return w, nil
}

func (s *Store) GetWorkspace(ctx context.Context, id string) (workspace.Workspace, error) {
	if blank(id) {
		return workspace.Workspace{}, relink.Errorf(relink.ENOTFOUND, msgWorkspaceNotFound)
	}
	var it workspaceItem
	if err := s.get(ctx, wsPK(id), skWorkspace, &it, msgWorkspaceNotFound); err != nil {
		return workspace.Workspace{}, err
	}
	return it.domain(), nil
}

func (s *Store) UpdateWorkspace(ctx context.Context, w workspace.Workspace) (workspace.Workspace, error) {
	if blank(w.ID) {
		return workspace.Workspace{}, invalidKey("workspace")
	}
	stored := w.Version
	w.Version++
	item, err := marshal(toWorkspaceItem(w))
	if err != nil {
		return workspace.Workspace{}, err
	}
	err = s.commit(ctx, "update workspace", write{item: item, cond: atVersion(stored),
		conflict: msgWorkspaceStale, notFound: msgWorkspaceNotFound})
	if err != nil {
		return workspace.Workspace{}, err
	}
	return w, nil
}

// Users

const (
	msgUserNotFound = "User not found."
	msgUserStale    = "The user was changed by someone else; reload and try again."
	msgEmailTaken   = "This email address already belongs to someone in this workspace."
)

func (s *Store) CreateUser(ctx context.Context, u workspace.User) (workspace.User, error) {
	if blank(u.WorkspaceID, u.ID, u.Email) {
		return workspace.User{}, invalidKey("user")
	}
	u.Version = 1
	user, err := marshal(toUserItem(u))
	if err != nil {
		return workspace.User{}, err
	}
	claim, err := marshal(toEmailItem(u))
	if err != nil {
		return workspace.User{}, err
	}
	err = s.commit(ctx, "create user",
		write{item: user, cond: notExists(), conflict: "A user with this ID already exists."},
		write{item: claim, cond: notExists(), conflict: msgEmailTaken})
	if err != nil {
		return workspace.User{}, err
	}
	return u, nil
}

func (s *Store) GetUser(ctx context.Context, workspaceID, id string) (workspace.User, error) {
	if blank(workspaceID, id) {
		return workspace.User{}, relink.Errorf(relink.ENOTFOUND, msgUserNotFound)
	}
	var it userItem
	if err := s.get(ctx, wsPK(workspaceID), userSK(id), &it, msgUserNotFound); err != nil {
		return workspace.User{}, err
	}
	return it.domain(), nil
}

func (s *Store) GetUserByEmail(ctx context.Context, workspaceID, email string) (workspace.User, error) {
	if blank(workspaceID, email) {
		return workspace.User{}, relink.Errorf(relink.ENOTFOUND, msgUserNotFound)
	}
	var claim emailItem
	k := emailKeys(workspaceID, email)
	if err := s.get(ctx, k.PK, k.SK, &claim, msgUserNotFound); err != nil {
		return workspace.User{}, err
	}
	u, err := s.GetUser(ctx, workspaceID, claim.UserID)
	if err != nil {
		return workspace.User{}, err
	}
	// The two reads can straddle an address change.
	if u.Email != email {
		return workspace.User{}, relink.Errorf(relink.ENOTFOUND, msgUserNotFound)
	}
	return u, nil
}

// UpdateUser reads the stored user first: the caller's copy carries the new address,
// and moving the claim needs the old one.
func (s *Store) UpdateUser(ctx context.Context, u workspace.User) (workspace.User, error) {
	if blank(u.WorkspaceID, u.ID, u.Email) {
		return workspace.User{}, invalidKey("user")
	}
	stored, err := s.GetUser(ctx, u.WorkspaceID, u.ID)
	if err != nil {
		return workspace.User{}, err
	}
	if stored.Version != u.Version {
		return workspace.User{}, relink.Errorf(relink.ECONFLICT, msgUserStale)
	}
	u.Version++
	user, err := marshal(toUserItem(u))
	if err != nil {
		return workspace.User{}, err
	}
	writes := []write{{item: user, cond: atVersion(stored.Version), conflict: msgUserStale, notFound: msgUserNotFound}}
	if stored.Email != u.Email {
		claim, err := marshal(toEmailItem(u))
		if err != nil {
			return workspace.User{}, err
		}
		old := emailKeys(u.WorkspaceID, stored.Email)
		owned := expression.Name(attrUserID).Equal(expression.Value(u.ID))
		writes = append(writes,
			write{key: itemKey(old.PK, old.SK), cond: owned, conflict: msgUserStale},
			write{item: claim, cond: notExists(), conflict: msgEmailTaken})
	}
	if err := s.commit(ctx, "update user", writes...); err != nil {
		return workspace.User{}, err
	}
	return u, nil
}

// UsersByEmail reads the address's claims with one Query (they share its partition,
// sorted by workspace) and the users they point to with one BatchGetItem. It reads
// at most store.MaxUsersByEmail claims, in one page: an address is in a handful of
// workspaces, and 100 keys is what one BatchGetItem takes.
func (s *Store) UsersByEmail(ctx context.Context, email string) ([]workspace.User, error) {
	if blank(email) {
		return nil, nil
	}
	ex, err := expression.NewBuilder().WithKeyCondition(
		expression.Key(AttrPK).Equal(expression.Value(emailPK(email)))).Build()
	if err != nil {
		return nil, err
	}
	out, err := s.api.Query(ctx, &dynamodb.QueryInput{
		TableName:              &s.table,
		KeyConditionExpression: ex.KeyCondition(), ExpressionAttributeNames: ex.Names(), ExpressionAttributeValues: ex.Values(),
		ConsistentRead: aws.Bool(true), Limit: aws.Int32(store.MaxUsersByEmail),
	})
	if err != nil {
		return nil, s.classify("query email claims", err)
	}
	if len(out.Items) == 0 {
		return nil, nil
	}
	want := make([]map[string]types.AttributeValue, 0, len(out.Items))
	for _, item := range out.Items {
		var claim emailItem
		if err := unmarshal(item, &claim); err != nil {
			return nil, err
		}
		want = append(want, itemKey(wsPK(claim.workspaceID()), userSK(claim.UserID)))
	}
	items, err := s.batchGet(ctx, want)
	if err != nil {
		return nil, err
	}
	var users []workspace.User
	for _, item := range items {
		var it userItem
		if err := unmarshal(item, &it); err != nil {
			return nil, err
		}
		// The two reads can straddle an address change.
		if it.Email == email {
			users = append(users, it.domain())
		}
	}
	// BatchGetItem answers in any order.
	slices.SortFunc(users, func(a, b workspace.User) int { return strings.Compare(a.WorkspaceID, b.WorkspaceID) })
	return users, nil
}

func (s *Store) ListUsers(ctx context.Context, workspaceID string) ([]workspace.User, error) {
	return listAll(ctx, s, workspaceID, prefixUser, func(it userItem) workspace.User { return it.domain() })
}

// Groups

const (
	msgGroupNotFound = "Group not found."
	msgGroupStale    = "The group was changed by someone else; reload it and try again."
)

func (s *Store) CreateGroup(ctx context.Context, g workspace.Group) (workspace.Group, error) {
	if blank(g.WorkspaceID, g.ID) {
		return workspace.Group{}, invalidKey("group")
	}
	g.Version = 1
	item, err := marshal(toGroupItem(g))
	if err != nil {
		return workspace.Group{}, err
	}
	err = s.commit(ctx, "create group", write{item: item, cond: notExists(),
		conflict: "A group with this ID already exists."})
	if err != nil {
		return workspace.Group{}, err
	}
	return g, nil
}

func (s *Store) GetGroup(ctx context.Context, workspaceID, id string) (workspace.Group, error) {
	if blank(workspaceID, id) {
		return workspace.Group{}, relink.Errorf(relink.ENOTFOUND, msgGroupNotFound)
	}
	var it groupItem
	if err := s.get(ctx, wsPK(workspaceID), groupSK(id), &it, msgGroupNotFound); err != nil {
		return workspace.Group{}, err
	}
	return it.domain(), nil
}

func (s *Store) UpdateGroup(ctx context.Context, g workspace.Group) (workspace.Group, error) {
	if blank(g.WorkspaceID, g.ID) {
		return workspace.Group{}, invalidKey("group")
	}
	stored := g.Version
	g.Version++
	item, err := marshal(toGroupItem(g))
	if err != nil {
		return workspace.Group{}, err
	}
	err = s.commit(ctx, "update group", write{item: item, cond: atVersion(stored),
		conflict: msgGroupStale, notFound: msgGroupNotFound})
	if err != nil {
		return workspace.Group{}, err
	}
	return g, nil
}

func (s *Store) DeleteGroup(ctx context.Context, workspaceID, id string, version int64) error {
	if blank(workspaceID, id) {
		return relink.Errorf(relink.ENOTFOUND, msgGroupNotFound)
	}
	return s.commit(ctx, "delete group", write{key: itemKey(wsPK(workspaceID), groupSK(id)), cond: atVersion(version),
		conflict: msgGroupStale, notFound: msgGroupNotFound})
}

func (s *Store) ListGroups(ctx context.Context, workspaceID string) ([]workspace.Group, error) {
	return listAll(ctx, s, workspaceID, prefixGroup, func(it groupItem) workspace.Group { return it.domain() })
}

// listAll reads every item of a workspace under one sort-key prefix, in key order
// (that is, by ID).
func listAll[I, T any](ctx context.Context, s *Store, workspaceID, prefix string, domain func(I) T) ([]T, error) {
	if blank(workspaceID) {
		return nil, nil
	}
	ex, err := expression.NewBuilder().WithKeyCondition(
		expression.Key(AttrPK).Equal(expression.Value(wsPK(workspaceID))).
			And(expression.Key(AttrSK).BeginsWith(prefix))).Build()
	if err != nil {
		return nil, err
	}
	in := &dynamodb.QueryInput{
		KeyConditionExpression: ex.KeyCondition(), ExpressionAttributeNames: ex.Names(), ExpressionAttributeValues: ex.Values(),
	}
	out, _, err := collect(ctx, s, in, 0, func(item map[string]types.AttributeValue) (T, bool, error) {
		var it I
		if err := unmarshal(item, &it); err != nil {
			var zero T
			return zero, false, err
		}
		return domain(it), true, nil
	})
	return out, err
}
