package dynamo

import (
	"context"
	"errors"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/relinkhq/relink/internal/relink"
	"github.com/relinkhq/relink/internal/store"
)

// Attributes the send conditions read.
const (
	attrOwner     = "Owner"
	attrMessageID = "MessageID"
	attrSentAt    = "SentAt"
)

const (
	msgSendNotFound   = "No such reminder send."
	msgSendNotClaimed = "This reminder is not being sent by this run; it was released, sent, or claimed by another run."
)

// ClaimSend is one conditional PutItem: it lands only if no record holds the key, or
// the one there is past retention (TTL deletes lazily). A failed condition is the
// answer "claimed before", not an error.
func (s *Store) ClaimSend(ctx context.Context, key, owner string, now time.Time) (bool, error) {
	if err := store.CheckSend(key, owner); err != nil {
		return false, err
	}
	item, err := marshal(toSendItem(key, owner, now))
	if err != nil {
		return false, err
	}
	free := expression.Or(notExists(), expression.Name(attrPurgeAt).LessThanEqual(expression.Value(s.nowMs())))
	err = s.commit(ctx, "claim send", write{item: item, cond: free, conflict: "This reminder was claimed before."})
	var failed *types.ConditionalCheckFailedException
	if errors.As(err, &failed) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return true, nil
}

// claimedBy holds for a live record that owner claimed and has not settled yet.
func (s *Store) claimedBy(owner string) expression.ConditionBuilder {
	return expression.Name(attrOwner).Equal(expression.Value(owner)).
		And(expression.Name(attrState).Equal(expression.Value(store.SendSending))).
		And(alive(s.nowMs()))
}

// MarkSent is one conditional UpdateItem; the condition also keeps it from creating a
// record where there is none.
func (s *Store) MarkSent(ctx context.Context, key, owner, messageID string, now time.Time) error {
	if err := store.CheckSent(key, owner, messageID); err != nil {
		return err
	}
	update := expression.Set(expression.Name(attrState), expression.Value(store.SendSent)).
		Set(expression.Name(attrSentAt), expression.Value(millis(now)))
	if messageID != "" {
		update = update.Set(expression.Name(attrMessageID), expression.Value(messageID))
	}
	ex, err := expression.NewBuilder().WithUpdate(update).WithCondition(s.claimedBy(owner)).Build()
	if err != nil {
		return err
	}
	count, tries := attempts()
	_, err = s.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &s.table, Key: itemKey(sendPK(key), skSend),
		UpdateExpression: ex.Update(), ConditionExpression: ex.Condition(),
		ExpressionAttributeNames: ex.Names(), ExpressionAttributeValues: ex.Values(),
	}, count)
	var failed *types.ConditionalCheckFailedException
	if errors.As(err, &failed) {
		// A retry after an answer was lost: if the first attempt landed, the record
		// is sent by this owner with this message, which is success.
		if tries.Load() > 1 {
			if rec, gerr := s.GetSend(ctx, key); gerr == nil && rec.Owner == owner && rec.State == store.SendSent &&
				rec.MessageID == messageID {
				return nil
			}
		}
		return relink.Wrap(err, relink.ECONFLICT, "%s", msgSendNotClaimed)
	}
	return s.classify("mark send sent", err)
}

// ReleaseSend is one conditional DeleteItem on MarkSent's condition.
func (s *Store) ReleaseSend(ctx context.Context, key, owner string) error {
	if err := store.CheckSend(key, owner); err != nil {
		return err
	}
	return s.commit(ctx, "release send", write{key: itemKey(sendPK(key), skSend), cond: s.claimedBy(owner),
		conflict: msgSendNotClaimed})
}

// GetSend reads the record with a consistent read; one past retention is absent even
// before TTL removes it.
func (s *Store) GetSend(ctx context.Context, key string) (store.Send, error) {
	if err := store.CheckSend(key); err != nil {
		return store.Send{}, err
	}
	var it sendItem
	if err := s.get(ctx, sendPK(key), skSend, &it, msgSendNotFound); err != nil {
		return store.Send{}, err
	}
	if s.expired(it.PurgeAt) {
		return store.Send{}, relink.Errorf(relink.ENOTFOUND, msgSendNotFound)
	}
	return it.domain(), nil
}

// Runs

// PutRun replaces the function's item in the runs partition.
func (s *Store) PutRun(ctx context.Context, r store.Run) error {
	if err := store.CheckRun(r); err != nil {
		return err
	}
	item, err := marshal(toRunItem(r))
	if err != nil {
		return err
	}
	_, err = s.api.PutItem(ctx, &dynamodb.PutItemInput{TableName: &s.table, Item: item})
	return s.classify("put run", err)
}

// LastRuns is one consistent Query of the runs partition, in sort-key (function name)
// order, so that a dashboard sees a run as soon as it was recorded.
func (s *Store) LastRuns(ctx context.Context) ([]store.Run, error) {
	ex, err := expression.NewBuilder().WithKeyCondition(
		expression.Key(AttrPK).Equal(expression.Value(pkRuns))).Build()
	if err != nil {
		return nil, err
	}
	in := &dynamodb.QueryInput{
		KeyConditionExpression: ex.KeyCondition(), ExpressionAttributeNames: ex.Names(), ExpressionAttributeValues: ex.Values(),
		ConsistentRead: aws.Bool(true),
	}
	runs, _, err := collect(ctx, s, in, 0, func(item map[string]types.AttributeValue) (store.Run, bool, error) {
		var it runItem
		if err := unmarshal(item, &it); err != nil {
			return store.Run{}, false, err
		}
		return it.domain(), true, nil
	})
	return runs, err
}
