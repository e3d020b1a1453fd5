package dynamo

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/relinkhq/relink/internal/store"
)

// attrCount is a rate counter's count ("Count" is a reserved word; the expression
// builder names it through a placeholder).
const attrCount = "Count"

// rateRetention keeps a counter this long past its window before TTL may remove it,
// so that an instance whose clock lags the others' still finds the count of a window
// they consider over, instead of starting it afresh.
const rateRetention = time.Hour

// Allow counts with one conditional UpdateItem on the item of (key, window): ADD
// creates the count or raises it while it is below the limit, and a failed condition
// is a refusal that counted nothing. The window is part of the item's key, so an
// ended window is never read again and a new one starts as a new item; TTL removes
// the old ones in its own time.
func (s *Store) Allow(ctx context.Context, key string, limit int, window time.Duration, now time.Time) (bool, error) {
	w, err := store.LimitWindow(key, limit, window, now)
	if err != nil {
		return false, err
	}
	count := expression.Name(attrCount)
	ex, err := expression.NewBuilder().
		WithUpdate(expression.Add(count, expression.Value(1)).
			Set(expression.Name(AttrExpiresAt), expression.Value(w.End+int64(rateRetention/time.Second)))).
		WithCondition(expression.Or(expression.AttributeNotExists(count), count.LessThan(expression.Value(limit)))).
		Build()
	if err != nil {
		return false, fmt.Errorf("build update: %w", err)
	}
	_, err = s.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &s.table, Key: itemKey(ratePK(key), rateSK(w)),
		UpdateExpression: ex.Update(), ConditionExpression: ex.Condition(),
		ExpressionAttributeNames: ex.Names(), ExpressionAttributeValues: ex.Values(),
	})
	var failed *types.ConditionalCheckFailedException
	if errors.As(err, &failed) {
		return false, nil
	}
	if err != nil {
		return false, s.classify("count rate", err)
	}
	return true, nil
}
