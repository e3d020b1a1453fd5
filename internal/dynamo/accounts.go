package dynamo

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/relinkhq/relink/internal/account"
	"github.com/relinkhq/relink/internal/relink"
	"github.com/relinkhq/relink/internal/store"
)

const (
	msgAccountNotFound = "Account not found."
	msgAccountStale    = "The account was changed by someone else; reload it and try again."
	msgIdentityTaken   = "This account is already connected in this workspace."
)

func (s *Store) CreateAccount(ctx context.Context, c account.Change) error {
	a := c.After
	if blank(a.WorkspaceID, a.ID, a.Channel, a.ExternalID, a.OwnerID) {
		return relink.Errorf(relink.EINVALID, "An account needs a workspace, ID, channel, external ID and owner.")
	}
	writes, err := s.accountWrites(c, write{cond: notExists(), conflict: "An account with this ID already exists."})
	if err != nil {
		return err
	}
	// The identity is free if unclaimed or if its account is gone (TTL may lag).
	claim, err := marshal(toExternalItem(a))
	if err != nil {
		return err
	}
	free := expression.Or(notExists(), expression.Name(attrPurgeAt).LessThanEqual(expression.Value(s.nowMs())))
	writes = append(writes, write{item: claim, cond: free, conflict: msgIdentityTaken})
	return s.commit(ctx, "create account", writes...)
}

func (s *Store) Apply(ctx context.Context, c account.Change) error {
	a, b := c.After, c.Before
	if blank(a.WorkspaceID, a.ID, a.Channel, a.ExternalID, a.OwnerID) {
		return relink.Errorf(relink.EINVALID, "An account needs a workspace, ID, channel, external ID and owner.")
	}
	if a.WorkspaceID != b.WorkspaceID || a.ID != b.ID || a.Channel != b.Channel || a.ExternalID != b.ExternalID {
		return relink.Errorf(relink.EINVALID, "An account's workspace, ID, channel and external ID cannot change.")
	}
	// A gone account is refused even before TTL removes it.
	guard := atVersion(b.Version).And(alive(s.nowMs()))
	writes, err := s.accountWrites(c, write{cond: guard, conflict: msgAccountStale, notFound: msgAccountNotFound})
	if err != nil {
		return err
	}
	// The claim mirrors the account's purge time, so that it frees itself with the
	// account (delete) or is held again (restore).
	if !a.PurgeAt.Equal(b.PurgeAt) {
		claim, err := marshal(toExternalItem(a))
		if err != nil {
			return err
		}
		ours := expression.Name(attrAccountID).Equal(expression.Value(a.ID))
		writes = append(writes, write{item: claim, cond: ours, conflict: msgIdentityTaken})
	}
	return s.commit(ctx, "apply account change", writes...)
}

// accountWrites are the account item guarded as acct says, and the change's event,
// which may be written only once.
func (s *Store) accountWrites(c account.Change, acct write) ([]write, error) {
	var err error
	if acct.item, err = marshal(toAccountItem(c.After, s.shards)); err != nil {
		return nil, err
	}
	writes := []write{acct}
	if c.Event != nil {
		ev, err := marshal(toEventItem(*c.Event))
		if err != nil {
			return nil, err
		}
		writes = append(writes, write{item: ev, cond: notExists(), conflict: msgAccountStale})
	}
	return writes, nil
}

func (s *Store) nowMs() int64 { return s.clock.Now().UnixMilli() }

// expired reports whether a purge time (epoch ms, 0: none) has passed.
func (s *Store) expired(purgeMs int64) bool { return purgeMs != 0 && purgeMs <= s.nowMs() }

func (s *Store) GetAccount(ctx context.Context, workspaceID, id string) (account.Account, error) {
	if blank(workspaceID, id) {
		return account.Account{}, relink.Errorf(relink.ENOTFOUND, msgAccountNotFound)
	}
	var it accountItem
	if err := s.get(ctx, wsPK(workspaceID), accountSK(id), &it, msgAccountNotFound); err != nil {
		return account.Account{}, err
	}
	a := it.domain()
	if a.Gone(s.clock.Now()) {
		return account.Account{}, relink.Errorf(relink.ENOTFOUND, msgAccountNotFound)
	}
	return a, nil
}

func (s *Store) FindAccount(ctx context.Context, workspaceID, channel, externalID string) (account.Account, error) {
	if blank(workspaceID, channel, externalID) {
		return account.Account{}, relink.Errorf(relink.ENOTFOUND, msgAccountNotFound)
	}
	var claim externalItem
	if err := s.get(ctx, wsPK(workspaceID), externalSK(channel, externalID), &claim, msgAccountNotFound); err != nil {
		return account.Account{}, err
	}
	if s.expired(claim.PurgeAt) {
		return account.Account{}, relink.Errorf(relink.ENOTFOUND, msgAccountNotFound)
	}
	a, err := s.GetAccount(ctx, workspaceID, claim.AccountID)
	if err != nil {
		return account.Account{}, err
	}
	if a.Channel != channel || a.ExternalID != externalID {
		return account.Account{}, relink.Errorf(relink.ENOTFOUND, msgAccountNotFound)
	}
	return a, nil
}

// ListAccounts queries the workspace's accounts (or one owner's, on the owner index)
// in ID order. The filter runs server-side so that pages cost what they read, and
// again client-side, where the purge time is checked against the injected clock.
func (s *Store) ListAccounts(ctx context.Context, workspaceID string, f account.Filter, p store.Page) (store.AccountPage, error) {
	if err := f.Validate(); err != nil {
		return store.AccountPage{}, err
	}
	limit, err := store.CheckPage(p)
	if err != nil {
		return store.AccountPage{}, err
	}
	scope := store.AccountsScope(workspaceID, f)
	var after string // ID of the last account of the previous page
	if p.Cursor != "" {
		pos, err := s.cursors.Open(scope, p.Cursor)
		if err != nil {
			return store.AccountPage{}, err
		}
		after = string(pos)
	}
	if blank(workspaceID) {
		return store.AccountPage{}, nil
	}

	in := &dynamodb.QueryInput{Limit: aws.Int32(int32(limit + 1))}
	key := expression.Key(AttrPK).Equal(expression.Value(wsPK(workspaceID)))
	if f.OwnerID != "" {
		in.IndexName = aws.String(OwnerIndex)
		key = expression.Key(AttrOwnerPK).Equal(expression.Value(ownerPK(workspaceID, f.OwnerID)))
	}
	key = key.And(expression.Key(AttrSK).BeginsWith(prefixAccount))
	ex, err := expression.NewBuilder().WithKeyCondition(key).WithFilter(s.listFilter(f)).Build()
	if err != nil {
		return store.AccountPage{}, err
	}
	in.KeyConditionExpression, in.FilterExpression = ex.KeyCondition(), ex.Filter()
	in.ExpressionAttributeNames, in.ExpressionAttributeValues = ex.Names(), ex.Values()
	if after != "" {
		in.ExclusiveStartKey = itemKey(wsPK(workspaceID), accountSK(after))
		if f.OwnerID != "" {
			in.ExclusiveStartKey[AttrOwnerPK] = &types.AttributeValueMemberS{Value: ownerPK(workspaceID, f.OwnerID)}
		}
	}

	now := s.clock.Now()
	if f.OwnerID != "" {
		return s.ownerPage(ctx, in, limit, scope, f, now)
	}
	accounts, more, err := collect(ctx, s, in, limit, func(item map[string]types.AttributeValue) (account.Account, bool, error) {
		a, err := decodeAccount(item)
		return a, err == nil && f.Match(a) && !a.Gone(now), err
	})
	if err != nil {
		return store.AccountPage{}, err
	}
	page := store.AccountPage{Accounts: accounts}
	if more {
		page.Next = s.cursors.Seal(scope, []byte(accounts[len(accounts)-1].ID))
	}
	return page, nil
}

// ownerPage runs an owner's listing on the owner index, which holds the keys and the
// filtered attributes only: the filter picks the page's accounts there, and the page
// is then read from the table in one BatchGetItem. An account that changed between
// the two reads is checked against the filter again and left out if it no longer
// matches; the cursor still follows the index, so nothing is skipped.
func (s *Store) ownerPage(ctx context.Context, in *dynamodb.QueryInput, limit int, scope string, f account.Filter, now time.Time) (store.AccountPage, error) {
	keys, more, err := collect(ctx, s, in, limit, func(item map[string]types.AttributeValue) (map[string]types.AttributeValue, bool, error) {
		return map[string]types.AttributeValue{AttrPK: item[AttrPK], AttrSK: item[AttrSK]}, true, nil
	})
	if err != nil {
		return store.AccountPage{}, err
	}
	byID := make(map[string]account.Account, len(keys))
	for chunk := range slices.Chunk(keys, maxBatchGet) {
		items, err := s.batchGet(ctx, chunk)
		if err != nil {
			return store.AccountPage{}, err
		}
		for _, item := range items {
			a, err := decodeAccount(item)
			if err != nil {
				return store.AccountPage{}, err
			}
			byID[a.ID] = a
		}
	}
	page := store.AccountPage{}
	var lastID string
	for _, k := range keys {
		sk, _ := k[AttrSK].(*types.AttributeValueMemberS)
		if sk == nil {
			continue
		}
		lastID = strings.TrimPrefix(sk.Value, prefixAccount)
		if a, ok := byID[lastID]; ok && f.Match(a) && !a.Gone(now) {
			page.Accounts = append(page.Accounts, a)
		}
	}
	if more {
		page.Next = s.cursors.Seal(scope, []byte(lastID))
	}
	return page, nil
}

// listFilter is f as a filter expression. Deleted accounts are listed only when asked
// for, and then only while within retention.
func (s *Store) listFilter(f account.Filter) expression.ConditionBuilder {
	state := expression.Name(attrState)
	var cond expression.ConditionBuilder
	if f.State == "" {
		cond = state.NotEqual(expression.Value(string(account.StateDeleted)))
	} else {
		cond = state.Equal(expression.Value(string(f.State)))
	}
	if f.State == account.StateDeleted {
		cond = cond.And(alive(s.nowMs()))
	}
	if f.Channel != "" {
		cond = cond.And(expression.Name(attrChannel).Equal(expression.Value(f.Channel)))
	}
	if !f.ExpiringBefore.IsZero() {
		// A missing HardExpiresAt (no known expiry) fails the comparison, as Match wants.
		cond = cond.And(expression.Name(attrHardExpiresAt).LessThanEqual(expression.Value(f.ExpiringBefore.UnixMilli())))
	}
	return cond
}

// timeIndex is one of the sparse, sharded time indexes (due, remind): the GSI, its
// key attributes, the account's time it keeps, and how its listings' cursors are bound.
type timeIndex struct {
	name      string
	shardAttr string
	atAttr    string
	shardKey  func(shard int) string
	at        func(account.Account) time.Time
	scope     func(shard int, now time.Time) string
}

var (
	dueIndex = timeIndex{name: DueIndex, shardAttr: AttrDueShard, atAttr: AttrDueAt, shardKey: dueShard,
		at: func(a account.Account) time.Time { return a.DueAt }, scope: store.DueScope}
	remindIndex = timeIndex{name: RemindIndex, shardAttr: AttrRemindShard, atAttr: AttrRemindAt, shardKey: remindShard,
		at: func(a account.Account) time.Time { return a.RemindAt }, scope: store.RemindScope}
)

// DueAccounts reads one shard of the sparse due index up to now, earliest first.
func (s *Store) DueAccounts(ctx context.Context, shard int, now time.Time, p store.Page) (store.AccountPage, error) {
	return s.indexPage(ctx, dueIndex, shard, now, p)
}

// RemindersDue reads one shard of the sparse remind index up to now, earliest first.
func (s *Store) RemindersDue(ctx context.Context, shard int, now time.Time, p store.Page) (store.AccountPage, error) {
	return s.indexPage(ctx, remindIndex, shard, now, p)
}

// indexPage queries one shard of ix for times up to now. Every item the query reads is
// an answer (the index is sparse), bar accounts gone before TTL removed them.
func (s *Store) indexPage(ctx context.Context, ix timeIndex, shard int, now time.Time, p store.Page) (store.AccountPage, error) {
	if shard < 0 || shard >= s.shards {
		return store.AccountPage{}, relink.Errorf(relink.EINVALID, "Shard must be between 0 and %d.", s.shards-1)
	}
	limit, err := store.CheckPage(p)
	if err != nil {
		return store.AccountPage{}, err
	}
	scope := ix.scope(shard, now)
	in := &dynamodb.QueryInput{IndexName: aws.String(ix.name), Limit: aws.Int32(int32(limit + 1))}
	if p.Cursor != "" {
		pos, err := s.cursors.Open(scope, p.Cursor)
		if err != nil {
			return store.AccountPage{}, err
		}
		if in.ExclusiveStartKey, err = ix.startKey(shard, pos); err != nil {
			return store.AccountPage{}, err
		}
	}
	ex, err := expression.NewBuilder().WithKeyCondition(
		expression.Key(ix.shardAttr).Equal(expression.Value(ix.shardKey(shard))).
			And(expression.Key(ix.atAttr).LessThanEqual(expression.Value(now.UnixMilli())))).Build()
	if err != nil {
		return store.AccountPage{}, err
	}
	in.KeyConditionExpression, in.ExpressionAttributeNames, in.ExpressionAttributeValues = ex.KeyCondition(), ex.Names(), ex.Values()

	clockNow := s.clock.Now()
	accounts, more, err := collect(ctx, s, in, limit, func(item map[string]types.AttributeValue) (account.Account, bool, error) {
		a, err := decodeAccount(item)
		return a, err == nil && !a.Gone(clockNow), err
	})
	if err != nil {
		return store.AccountPage{}, err
	}
	page := store.AccountPage{Accounts: accounts}
	if more {
		page.Next = s.cursors.Seal(scope, ix.position(accounts[len(accounts)-1]))
	}
	return page, nil
}

// A time-index position is "ms\x00workspace\x00id": enough to rebuild the index key
// and the table key of the last account listed. IDs cannot hold NUL.
func (ix timeIndex) position(a account.Account) []byte {
	return []byte(strconv.FormatInt(millis(ix.at(a)), 10) + "\x00" + a.WorkspaceID + "\x00" + a.ID)
}

func (ix timeIndex) startKey(shard int, pos []byte) (map[string]types.AttributeValue, error) {
	parts := strings.SplitN(string(pos), "\x00", 3)
	if len(parts) != 3 {
		return nil, relink.Errorf(relink.EINVALID, "The page cursor is invalid; start again from the first page.")
	}
	if _, err := strconv.ParseInt(parts[0], 10, 64); err != nil {
		return nil, relink.Errorf(relink.EINVALID, "The page cursor is invalid; start again from the first page.")
	}
	k := itemKey(wsPK(parts[1]), accountSK(parts[2]))
	k[ix.shardAttr] = &types.AttributeValueMemberS{Value: ix.shardKey(shard)}
	k[ix.atAttr] = &types.AttributeValueMemberN{Value: parts[0]}
	return k, nil
}

// Events pages through an account's audit trail in version order.
func (s *Store) Events(ctx context.Context, workspaceID, accountID string, p store.Page) (store.EventPage, error) {
	limit, err := store.CheckPage(p)
	if err != nil {
		return store.EventPage{}, err
	}
	scope := store.EventsScope(workspaceID, accountID)
	in := &dynamodb.QueryInput{Limit: aws.Int32(int32(limit + 1))}
	if p.Cursor != "" {
		pos, err := s.cursors.Open(scope, p.Cursor)
		if err != nil {
			return store.EventPage{}, err
		}
		version, err := strconv.ParseInt(string(pos), 10, 64)
		if err != nil {
			return store.EventPage{}, relink.Errorf(relink.EINVALID, "The page cursor is invalid; start again from the first page.")
		}
		in.ExclusiveStartKey = itemKey(wsPK(workspaceID), eventSK(accountID, version))
	}
	if blank(workspaceID, accountID) {
		return store.EventPage{}, nil
	}
	ex, err := expression.NewBuilder().WithKeyCondition(
		expression.Key(AttrPK).Equal(expression.Value(wsPK(workspaceID))).
			And(expression.Key(AttrSK).BeginsWith(eventPrefix(accountID)))).Build()
	if err != nil {
		return store.EventPage{}, err
	}
	in.KeyConditionExpression, in.ExpressionAttributeNames, in.ExpressionAttributeValues = ex.KeyCondition(), ex.Names(), ex.Values()

	events, more, err := collect(ctx, s, in, limit, func(item map[string]types.AttributeValue) (account.Event, bool, error) {
		var it eventItem
		if err := unmarshal(item, &it); err != nil {
			return account.Event{}, false, err
		}
		return it.domain(), true, nil
	})
	if err != nil {
		return store.EventPage{}, err
	}
	page := store.EventPage{Events: events}
	if more {
		page.Next = s.cursors.Seal(scope, []byte(strconv.FormatInt(events[len(events)-1].Version, 10)))
	}
	return page, nil
}

func decodeAccount(item map[string]types.AttributeValue) (account.Account, error) {
	var it accountItem
	if err := unmarshal(item, &it); err != nil {
		return account.Account{}, err
	}
	return it.domain(), nil
}

func (s *Store) Shards() int { return s.shards }
