package dynamo

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"

	"github.com/relinkhq/relink/internal/relink"
	"github.com/relinkhq/relink/internal/store"
)

// sendAPI records the single-item requests it answers with err, and answers Query
// with items.
type sendAPI struct {
	API
	err     error
	puts    []*dynamodb.PutItemInput
	updates []*dynamodb.UpdateItemInput
	deletes []*dynamodb.DeleteItemInput
	queries []*dynamodb.QueryInput
	items   []map[string]types.AttributeValue
}

func (f *sendAPI) PutItem(_ context.Context, in *dynamodb.PutItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	f.puts = append(f.puts, in)
	return &dynamodb.PutItemOutput{}, f.err
}

func (f *sendAPI) UpdateItem(_ context.Context, in *dynamodb.UpdateItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	f.updates = append(f.updates, in)
	return &dynamodb.UpdateItemOutput{}, f.err
}

func (f *sendAPI) DeleteItem(_ context.Context, in *dynamodb.DeleteItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error) {
	f.deletes = append(f.deletes, in)
	return &dynamodb.DeleteItemOutput{}, f.err
}

func (f *sendAPI) Query(_ context.Context, in *dynamodb.QueryInput, _ ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	f.queries = append(f.queries, in)
	return &dynamodb.QueryOutput{Items: f.items}, f.err
}

func (f *sendAPI) requests() int {
	return len(f.puts) + len(f.updates) + len(f.deletes) + len(f.queries)
}

// condition reads a condition expression with its placeholders filled in.
func condition(expr *string, names map[string]string, values map[string]types.AttributeValue) string {
	out := aws.ToString(expr)
	for k, v := range names {
		out = strings.ReplaceAll(out, k, v)
	}
	for k, v := range values {
		switch v := v.(type) {
		case *types.AttributeValueMemberS:
			out = strings.ReplaceAll(out, k, strconv.Quote(v.Value))
		case *types.AttributeValueMemberN:
			out = strings.ReplaceAll(out, k, v.Value)
		}
	}
	return out
}

const conditionFailed = "The conditional request failed"

// TestSendWritesAreSingleConditionalRequests: a claim is one conditional PutItem of
// SEND#<key>/SEND with the TTL a retention past the claim; MarkSent one conditional
// UpdateItem, ReleaseSend one conditional DeleteItem, both on owner and state.
func TestSendWritesAreSingleConditionalRequests(t *testing.T) {
	ctx := context.Background()
	const key = "reminder#ws1#a1#series-2"
	claimedAt := t0.Add(1500 * time.Millisecond)

	api := &sendAPI{}
	s := fakeStore(t, &fakeAPI{}).withAPI(api)
	ok, err := s.ClaimSend(ctx, key, "run-1", claimedAt)
	if err != nil || !ok {
		t.Fatalf("claim = %v, %v", ok, err)
	}
	if api.requests() != 1 || len(api.puts) != 1 {
		t.Fatalf("claim made %d requests, want one PutItem", api.requests())
	}
	put := api.puts[0]
	if pk, sk := str(t, put.Item[AttrPK]), str(t, put.Item[AttrSK]); pk != "SEND#"+key || sk != "SEND" {
		t.Errorf("claim key = %s / %s, want SEND#<key> / SEND", pk, sk)
	}
	var it sendItem
	if err := unmarshal(put.Item, &it); err != nil {
		t.Fatal(err)
	}
	want := store.Send{Key: key, Owner: "run-1", State: store.SendSending, ClaimedAt: claimedAt}
	if got := it.domain(); got != want {
		t.Errorf("claimed item = %+v, want %+v", got, want)
	}
	if want := claimedAt.Add(store.SendRetention).Unix() + 1; it.ExpiresAt != want { // rounded up to the second
		t.Errorf("ExpiresAt = %d, want the claim + SendRetention, %d", it.ExpiresAt, want)
	}
	cond := condition(put.ConditionExpression, put.ExpressionAttributeNames, put.ExpressionAttributeValues)
	if !strings.Contains(cond, "attribute_not_exists (PK)") {
		t.Errorf("claim condition %q does not require a free key", cond)
	}

	api = &sendAPI{}
	if err := fakeStore(t, &fakeAPI{}).withAPI(api).MarkSent(ctx, key, "run-1", "msg-1", claimedAt.Add(time.Second)); err != nil {
		t.Fatalf("mark sent: %v", err)
	}
	if api.requests() != 1 || len(api.updates) != 1 {
		t.Fatalf("mark sent made %d requests, want one UpdateItem", api.requests())
	}
	up := api.updates[0]
	if pk := str(t, up.Key[AttrPK]); pk != "SEND#"+key {
		t.Errorf("mark sent PK = %s", pk)
	}
	cond = condition(up.ConditionExpression, up.ExpressionAttributeNames, up.ExpressionAttributeValues)
	for _, part := range []string{`Owner = "run-1"`, `State = "sending"`} {
		if !strings.Contains(cond, part) {
			t.Errorf("mark sent condition %q lacks %s", cond, part)
		}
	}
	update := condition(up.UpdateExpression, up.ExpressionAttributeNames, up.ExpressionAttributeValues)
	for _, part := range []string{`State = "sent"`, `MessageID = "msg-1"`, "SentAt = " + strconv.FormatInt(claimedAt.Add(time.Second).UnixMilli(), 10)} {
		if !strings.Contains(update, part) {
			t.Errorf("mark sent update %q lacks %s", update, part)
		}
	}

	api = &sendAPI{}
	if err := fakeStore(t, &fakeAPI{}).withAPI(api).ReleaseSend(ctx, key, "run-1"); err != nil {
		t.Fatalf("release: %v", err)
	}
	if api.requests() != 1 || len(api.deletes) != 1 {
		t.Fatalf("release made %d requests, want one DeleteItem", api.requests())
	}
	del := api.deletes[0]
	cond = condition(del.ConditionExpression, del.ExpressionAttributeNames, del.ExpressionAttributeValues)
	if !strings.Contains(cond, `Owner = "run-1"`) || !strings.Contains(cond, `State = "sending"`) {
		t.Errorf("release condition %q is not MarkSent's", cond)
	}

	// Bad keys never reach DynamoDB.
	api = &sendAPI{}
	s = fakeStore(t, &fakeAPI{}).withAPI(api)
	if _, err := s.ClaimSend(ctx, strings.Repeat("k", store.MaxSendKey+1), "run-1", claimedAt); relink.ErrorCode(err) != relink.EINVALID {
		t.Errorf("long key: %v", err)
	}
	if api.requests() != 0 {
		t.Errorf("a refused key made %d requests", api.requests())
	}
}

// TestSendConditionFailures: a failed claim condition is the answer "claimed before";
// a failed settle is ECONFLICT; anything else is an error, never a silent false.
func TestSendConditionFailures(t *testing.T) {
	ctx := context.Background()
	failed := &types.ConditionalCheckFailedException{Message: aws.String(conditionFailed)}
	ok, err := fakeStore(t, &fakeAPI{}).withAPI(&sendAPI{err: failed}).ClaimSend(ctx, "k", "run-2", t0)
	if ok || err != nil {
		t.Fatalf("claim of a claimed key = %v, %v; want false, nil", ok, err)
	}
	for _, e := range []error{
		&smithy.GenericAPIError{Code: "ThrottlingException"},
		&smithy.GenericAPIError{Code: "TransactionConflictException"},
	} {
		ok, err := fakeStore(t, &fakeAPI{}).withAPI(&sendAPI{err: e}).ClaimSend(ctx, "k", "run-2", t0)
		if ok || err == nil {
			t.Errorf("claim answered %v: %v, %v; want an error", e, ok, err)
		}
	}
	if err := fakeStore(t, &fakeAPI{}).withAPI(&sendAPI{err: failed}).MarkSent(ctx, "k", "run-2", "m", t0); relink.ErrorCode(err) != relink.ECONFLICT {
		t.Errorf("mark sent, condition failed: %v", err)
	}
	if err := fakeStore(t, &fakeAPI{}).withAPI(&sendAPI{err: failed}).ReleaseSend(ctx, "k", "run-2"); relink.ErrorCode(err) != relink.ECONFLICT {
		t.Errorf("release, condition failed: %v", err)
	}
}

// TestRunsArePartitionItems: PutRun writes RUNS/RUN#<function>; LastRuns is one
// consistent Query of that partition.
func TestRunsArePartitionItems(t *testing.T) {
	ctx := context.Background()
	r := store.Run{Function: "expiry-check", ID: "run-1", StartedAt: t0, FinishedAt: t0.Add(time.Minute),
		Counts: map[string]int{"checked": 120, "failed": 0}, Complete: true}
	api := &sendAPI{}
	s := fakeStore(t, &fakeAPI{}).withAPI(api)
	if err := s.PutRun(ctx, r); err != nil {
		t.Fatal(err)
	}
	if len(api.puts) != 1 {
		t.Fatalf("%d requests, want one PutItem", api.requests())
	}
	item := api.puts[0].Item
	if pk, sk := str(t, item[AttrPK]), str(t, item[AttrSK]); pk != "RUNS" || sk != "RUN#expiry-check" {
		t.Errorf("run key = %s / %s, want RUNS / RUN#<function>", pk, sk)
	}

	api.items = []map[string]types.AttributeValue{item}
	runs, err := s.LastRuns(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(api.queries) != 1 {
		t.Fatalf("%d queries, want one", len(api.queries))
	}
	q := api.queries[0]
	if !aws.ToBool(q.ConsistentRead) || q.IndexName != nil {
		t.Errorf("runs query: consistent %v, index %v", aws.ToBool(q.ConsistentRead), q.IndexName)
	}
	if cond := condition(q.KeyConditionExpression, q.ExpressionAttributeNames, q.ExpressionAttributeValues); cond != `PK = "RUNS"` {
		t.Errorf("runs key condition %q", cond)
	}
	if len(runs) != 1 || runs[0].ID != "run-1" || runs[0].Counts["checked"] != 120 || !runs[0].Complete {
		t.Errorf("runs = %+v", runs)
	}
	if _, ok := runs[0].Counts["failed"]; !ok {
		t.Error("a zero count was dropped")
	}
}
