package dynamo

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"sync/atomic"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"

	"github.com/relinkhq/relink/internal/relink"
)

// write is one conditional Put (item) or Delete (key), and what a failed condition
// means. With notFound set the condition expects a live item at a version: it fails
// ENOTFOUND when none is stored (or the stored account is gone), ECONFLICT otherwise.
// Without it the condition guards an ID or a uniqueness claim and fails ECONFLICT.
type write struct {
	item     map[string]types.AttributeValue
	key      map[string]types.AttributeValue
	cond     expression.ConditionBuilder
	conflict string
	notFound string
}

// attrWriteID marks a put with a token of its own call, so that a retry can tell its
// own landed first attempt from someone else's item (or the same call made twice).
const attrWriteID = "WriteID"

// landed reports, after a retried write's condition failed, whether an earlier attempt
// of it already landed (its answer lost): a put finds its own write token stored. A
// delete cannot tell "deleted by my first attempt" from "never there", so it reports
// its conflict and the caller decides. (Transactions need none of this: their
// ClientRequestToken makes a retry idempotent.)
func (s *Store) landed(ctx context.Context, w write) bool {
	if w.item == nil {
		return false
	}
	stored, err := s.getItem(ctx, w.target())
	if err != nil || stored == nil {
		return false
	}
	return reflect.DeepEqual(stored[attrWriteID], w.item[attrWriteID])
}

// withWriteID returns item with a fresh write token.
func withWriteID(item map[string]types.AttributeValue) map[string]types.AttributeValue {
	out := make(map[string]types.AttributeValue, len(item)+1)
	maps.Copy(out, item)
	out[attrWriteID] = &types.AttributeValueMemberS{Value: writeToken()}
	return out
}

// writeToken is a fresh random token naming one call, which its retries share.
func writeToken() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// attempts counts the tries the SDK makes of one call, its retries included.
func attempts() (func(*dynamodb.Options), *atomic.Int32) {
	n := &atomic.Int32{}
	count := middleware.FinalizeMiddlewareFunc("RelinkCountAttempts",
		func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
			n.Add(1)
			return next.HandleFinalize(ctx, in)
		})
	return func(o *dynamodb.Options) {
		o.APIOptions = append(o.APIOptions, func(st *middleware.Stack) error {
			if _, ok := st.Finalize.Get("Retry"); ok {
				return st.Finalize.Insert(count, "Retry", middleware.After)
			}
			return st.Finalize.Add(count, middleware.After)
		})
	}, n
}

// target is the primary key the write touches.
func (w write) target() map[string]types.AttributeValue {
	if w.item == nil {
		return w.key
	}
	return map[string]types.AttributeValue{AttrPK: w.item[AttrPK], AttrSK: w.item[AttrSK]}
}

// notExists guards a create: nothing may be stored under the key yet.
func notExists() expression.ConditionBuilder {
	return expression.AttributeNotExists(expression.Name(AttrPK))
}

// atVersion guards an update: the stored item must still be at version.
func atVersion(version int64) expression.ConditionBuilder {
	return expression.Name(attrVersion).Equal(expression.Value(version))
}

// alive holds for items that are not past their purge time at nowMs.
func alive(nowMs int64) expression.ConditionBuilder {
	return expression.Or(
		expression.AttributeNotExists(expression.Name(attrPurgeAt)),
		expression.Name(attrPurgeAt).GreaterThan(expression.Value(nowMs)),
	)
}

// Cancellation reason codes of TransactWriteItems.
const (
	reasonConditionFailed     = "ConditionalCheckFailed"
	reasonTransactionConflict = "TransactionConflict"
	reasonThroughput          = "ProvisionedThroughputExceeded"
	reasonThrottling          = "ThrottlingError"
)

// commit runs the writes atomically: one conditional PutItem/DeleteItem, or a
// transaction when several items must change together. op names the operation in
// errors for logs.
func (s *Store) commit(ctx context.Context, op string, writes ...write) error {
	var err error
	if len(writes) == 1 {
		err = s.commitOne(ctx, writes[0])
	} else {
		err = s.commitAll(ctx, writes)
	}
	return s.classify(op, err)
}

func (s *Store) commitOne(ctx context.Context, w write) error {
	ex, err := expression.NewBuilder().WithCondition(w.cond).Build()
	if err != nil {
		return fmt.Errorf("build condition: %w", err)
	}
	count, tries := attempts()
	if w.item != nil {
		w.item = withWriteID(w.item)
		_, err = s.api.PutItem(ctx, &dynamodb.PutItemInput{
			TableName: &s.table, Item: w.item,
			ConditionExpression: ex.Condition(), ExpressionAttributeNames: ex.Names(), ExpressionAttributeValues: ex.Values(),
			ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
		}, count)
	} else {
		_, err = s.api.DeleteItem(ctx, &dynamodb.DeleteItemInput{
			TableName: &s.table, Key: w.key,
			ConditionExpression: ex.Condition(), ExpressionAttributeNames: ex.Names(), ExpressionAttributeValues: ex.Values(),
			ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
		}, count)
	}
	var failed *types.ConditionalCheckFailedException
	if errors.As(err, &failed) {
		if tries.Load() > 1 && s.landed(ctx, w) {
			return nil
		}
		return s.conditionFailed(ctx, w, failed.Item, err)
	}
	return err
}

func (s *Store) commitAll(ctx context.Context, writes []write) error {
	items := make([]types.TransactWriteItem, len(writes))
	for i, w := range writes {
		ex, err := expression.NewBuilder().WithCondition(w.cond).Build()
		if err != nil {
			return fmt.Errorf("build condition: %w", err)
		}
		if w.item != nil {
			items[i].Put = &types.Put{
				TableName: &s.table, Item: w.item,
				ConditionExpression: ex.Condition(), ExpressionAttributeNames: ex.Names(), ExpressionAttributeValues: ex.Values(),
				ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
			}
		} else {
			items[i].Delete = &types.Delete{
				TableName: &s.table, Key: w.key,
				ConditionExpression: ex.Condition(), ExpressionAttributeNames: ex.Names(), ExpressionAttributeValues: ex.Values(),
				ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
			}
		}
	}
	_, err := s.api.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
	var canceled *types.TransactionCanceledException
	if !errors.As(err, &canceled) {
		return err
	}
	// Reasons line up with the writes. A failed condition explains the cancellation
	// best; the first one is reported.
	for i, r := range canceled.CancellationReasons {
		if aws.ToString(r.Code) == reasonConditionFailed && i < len(writes) {
			return s.conditionFailed(ctx, writes[i], r.Item, err)
		}
	}
	for _, r := range canceled.CancellationReasons {
		switch aws.ToString(r.Code) {
		case reasonTransactionConflict:
			return conflicting(err)
		case reasonThroughput, reasonThrottling:
			return busy(err)
		}
	}
	return err
}

// conditionFailed classifies a failed condition of w. old is the stored item as the
// failure reported it (ALL_OLD); stand-ins that do not report it get one consistent
// re-read, which only matters for version checks.
func (s *Store) conditionFailed(ctx context.Context, w write, old map[string]types.AttributeValue, cause error) error {
	if w.notFound == "" {
		return relink.Wrap(cause, relink.ECONFLICT, "%s", w.conflict)
	}
	if old == nil {
		var err error
		if old, err = s.getItem(ctx, w.target()); err != nil {
			return err
		}
	}
	if old == nil || s.purged(old) {
		return relink.Wrap(cause, relink.ENOTFOUND, "%s", w.notFound)
	}
	return relink.Wrap(cause, relink.ECONFLICT, "%s", w.conflict)
}

// purged reports whether a stored item carries a purge time that has passed.
func (s *Store) purged(item map[string]types.AttributeValue) bool {
	var p struct {
		PurgeAt int64 `dynamodbav:"PurgeAt"`
	}
	if err := unmarshal(item, &p); err != nil {
		return false
	}
	return s.expired(p.PurgeAt)
}

// classify turns an SDK error into a store error: relink errors pass, capacity and
// throttling errors become EUNAVAILABLE, anything else is wrapped for the logs.
func (s *Store) classify(op string, err error) error {
	var re *relink.Error
	if err == nil || errors.As(err, &re) {
		return err
	}
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		switch apiErr.ErrorCode() {
		case "ThrottlingException", "ProvisionedThroughputExceededException", "RequestLimitExceeded",
			// DynamoDB's own failures, still there after the SDK's retries: an outage.
			"InternalServerError", "ServiceUnavailable":
			return busy(err)
		case "TransactionConflictException":
			return conflicting(err)
		}
	}
	return fmt.Errorf("dynamo: %s: %w", op, err)
}

func busy(cause error) error {
	return relink.Wrap(cause, relink.EUNAVAILABLE, "The database is busy; try again shortly.")
}

// conflicting reports a write that collided with a concurrent transaction on the same
// item. That is a concurrent change like a stale version (the other writer usually
// moves the version on), so callers retry with fresh data as for any ECONFLICT.
func conflicting(cause error) error {
	return relink.Wrap(cause, relink.ECONFLICT, "The data was changed at the same time by someone else; reload and try again.")
}

// getItem reads one item with a strongly consistent read; nil if there is none.
func (s *Store) getItem(ctx context.Context, key map[string]types.AttributeValue) (map[string]types.AttributeValue, error) {
	out, err := s.api.GetItem(ctx, &dynamodb.GetItemInput{TableName: &s.table, Key: key, ConsistentRead: aws.Bool(true)})
	if err != nil {
		return nil, s.classify("get item", err)
	}
	return out.Item, nil
}

// maxBatchGet is the most keys one BatchGetItem takes.
const maxBatchGet = 100

// batchGet reads up to maxBatchGet items (one BatchGetItem) with strongly consistent reads,
// in no particular order; absent items are left out. Keys DynamoDB leaves unprocessed
// (throttling) are read one by one rather than retried in a loop, which keeps the
// work bounded.
func (s *Store) batchGet(ctx context.Context, keys []map[string]types.AttributeValue) ([]map[string]types.AttributeValue, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	out, err := s.api.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: map[string]types.KeysAndAttributes{
		s.table: {Keys: keys, ConsistentRead: aws.Bool(true)},
	}})
	if err != nil {
		return nil, s.classify("batch get", err)
	}
	items := out.Responses[s.table]
	for _, key := range out.UnprocessedKeys[s.table].Keys {
		item, err := s.getItem(ctx, key)
		if err != nil {
			return nil, err
		}
		if item != nil {
			items = append(items, item)
		}
	}
	return items, nil
}

// get reads the item at pk/sk into v. It reports ENOTFOUND with notFound as the
// message when there is no such item.
func (s *Store) get(ctx context.Context, pk, sk string, v any, notFound string) error {
	item, err := s.getItem(ctx, itemKey(pk, sk))
	if err != nil {
		return err
	}
	if item == nil {
		return relink.Errorf(relink.ENOTFOUND, "%s", notFound)
	}
	return unmarshal(item, v)
}

// collect runs a query page by page and keeps the decoded items keep accepts, until it
// holds more than limit of them or the query is exhausted (limit 0: no bound). It
// returns at most limit items and whether more were found.
func collect[T any](ctx context.Context, s *Store, in *dynamodb.QueryInput, limit int,
	keep func(map[string]types.AttributeValue) (T, bool, error)) ([]T, bool, error) {
	in.TableName = &s.table
	var out []T
	for {
		page, err := s.api.Query(ctx, in)
		if err != nil {
			return nil, false, s.classify("query", err)
		}
		for _, item := range page.Items {
			v, ok, err := keep(item)
			if err != nil {
				return nil, false, err
			}
			if ok {
				out = append(out, v)
			}
		}
		if limit > 0 && len(out) > limit {
			return out[:limit], true, nil
		}
		if len(page.LastEvaluatedKey) == 0 {
			return out, false, nil
		}
		in.ExclusiveStartKey = page.LastEvaluatedKey
		// A selective filter keeps few of the items a query reads: read more per
		// round trip rather than make many small ones.
		if n := aws.ToInt32(in.Limit); n > 0 && n < maxRead {
			in.Limit = aws.Int32(min(2*n, maxRead))
		}
	}
}

// maxRead caps how many items one growing query reads (DynamoDB also stops at 1 MB).
const maxRead = 2000
