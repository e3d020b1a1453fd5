package dynamo

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"

	"github.com/relinkhq/relink/internal/relink"
	"github.com/relinkhq/relink/internal/workspace"
)

// updateAPI records the UpdateItem requests it answers with err.
type updateAPI struct {
	API
	err  error
	reqs []*dynamodb.UpdateItemInput
}

func (f *updateAPI) UpdateItem(_ context.Context, in *dynamodb.UpdateItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	f.reqs = append(f.reqs, in)
	return &dynamodb.UpdateItemOutput{}, f.err
}

func str(t *testing.T, av types.AttributeValue) string {
	t.Helper()
	s, ok := av.(*types.AttributeValueMemberS)
	if !ok {
		t.Fatalf("%T, want a string", av)
	}
	return s.Value
}

// TestAllowIsOneConditionalUpdate: one UpdateItem on the (key, window) item, with the
// TTL past the window's end; a failed condition is a refusal, not an error.
func TestAllowIsOneConditionalUpdate(t *testing.T) {
	ctx := context.Background()
	now := t0.Add(25 * time.Minute) // t0 is 09:00 UTC
	api := &updateAPI{}
	ok, err := fakeStore(t, &fakeAPI{}).withAPI(api).Allow(ctx, "link-request#email#o@acme.example", 3, time.Hour, now)
	if err != nil || !ok {
		t.Fatalf("allow = %v, %v", ok, err)
	}
	if len(api.reqs) != 1 {
		t.Fatalf("%d requests, want one UpdateItem", len(api.reqs))
	}
	in := api.reqs[0]
	if pk := str(t, in.Key[AttrPK]); pk != "RATE#link-request#email#o@acme.example" {
		t.Errorf("PK = %q", pk)
	}
	if sk, want := str(t, in.Key[AttrSK]), "3600#"+strconv.FormatInt(t0.Unix(), 10); sk != want {
		t.Errorf("SK = %q, want %q (window length # window start)", sk, want)
	}
	var expires string
	for _, v := range in.ExpressionAttributeValues {
		if n, ok := v.(*types.AttributeValueMemberN); ok && n.Value != "1" && n.Value != "3" {
			expires = n.Value
		}
	}
	if want := strconv.FormatInt(t0.Add(time.Hour+rateRetention).Unix(), 10); expires != want {
		t.Errorf("ExpiresAt = %s, want window end + retention %s", expires, want)
	}
	if aws.ToString(in.ConditionExpression) == "" || aws.ToString(in.UpdateExpression) == "" {
		t.Errorf("update %q, condition %q", aws.ToString(in.UpdateExpression), aws.ToString(in.ConditionExpression))
	}

	refused := &updateAPI{err: &types.ConditionalCheckFailedException{Message: aws.String("The conditional request failed")}}
	ok, err = fakeStore(t, &fakeAPI{}).withAPI(refused).Allow(ctx, "k", 3, time.Hour, now)
	if ok || err != nil {
		t.Fatalf("over the limit: %v, %v; want false, nil", ok, err)
	}
	throttled := &updateAPI{err: &smithy.GenericAPIError{Code: "ThrottlingException"}}
	ok, err = fakeStore(t, &fakeAPI{}).withAPI(throttled).Allow(ctx, "k", 3, time.Hour, now)
	if ok || relink.ErrorCode(err) != relink.EUNAVAILABLE {
		t.Fatalf("throttled: %v, %v; want false, %s", ok, err, relink.EUNAVAILABLE)
	}
	if _, err := fakeStore(t, &fakeAPI{}).withAPI(&updateAPI{}).Allow(ctx, "", 3, time.Hour, now); relink.ErrorCode(err) != relink.EINVALID {
		t.Fatalf("empty key: %v", err)
	}
}

// withAPI swaps the store's client.
func (s *Store) withAPI(api API) *Store { s.api = api; return s }

// emailAPI answers the claim Query with claims and BatchGetItem with the users, leaving
// the last one unprocessed, which GetItem then returns.
type emailAPI struct {
	API
	claims, users []map[string]types.AttributeValue
	query         *dynamodb.QueryInput
	gets          int
}

func (f *emailAPI) Query(_ context.Context, in *dynamodb.QueryInput, _ ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	f.query = in
	return &dynamodb.QueryOutput{Items: f.claims}, nil
}

func (f *emailAPI) BatchGetItem(_ context.Context, in *dynamodb.BatchGetItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error) {
	last := len(f.users) - 1
	return &dynamodb.BatchGetItemOutput{
		Responses:       map[string][]map[string]types.AttributeValue{"table": f.users[:last]},
		UnprocessedKeys: map[string]types.KeysAndAttributes{"table": {Keys: []map[string]types.AttributeValue{in.RequestItems["table"].Keys[0]}}},
	}, nil
}

func (f *emailAPI) GetItem(context.Context, *dynamodb.GetItemInput, ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	f.gets++
	return &dynamodb.GetItemOutput{Item: f.users[len(f.users)-1]}, nil
}

// TestUsersByEmailReadsClaimsThenUsers: a bounded, consistent Query on the address's
// partition, users read in one batch (unprocessed keys one by one), ordered by workspace.
func TestUsersByEmailReadsClaimsThenUsers(t *testing.T) {
	const email = "o@acme.example"
	api := &emailAPI{}
	for _, ws := range []string{"ws-a", "ws-b", "ws-c"} {
		u := workspace.User{WorkspaceID: ws, ID: "u-" + ws, Email: email, Version: 1}
		claim, err := marshal(toEmailItem(u))
		if err != nil {
			t.Fatal(err)
		}
		if pk, sk := str(t, claim[AttrPK]), str(t, claim[AttrSK]); pk != "EMAIL#"+email || sk != "WS#"+ws {
			t.Fatalf("claim key = %s / %s, want EMAIL#<address> / WS#<ws>", pk, sk)
		}
		api.claims = append(api.claims, claim)
		item, err := marshal(toUserItem(u))
		if err != nil {
			t.Fatal(err)
		}
		api.users = append([]map[string]types.AttributeValue{item}, api.users...) // reversed: order is the store's job
	}
	users, err := fakeStore(t, &fakeAPI{}).withAPI(api).UsersByEmail(context.Background(), email)
	if err != nil {
		t.Fatal(err)
	}
	if len(users) != 3 || users[0].WorkspaceID != "ws-a" || users[1].WorkspaceID != "ws-b" || users[2].WorkspaceID != "ws-c" {
		t.Fatalf("users = %+v", users)
	}
	if api.gets != 1 {
		t.Errorf("%d GetItem calls for one unprocessed key", api.gets)
	}
	if q := api.query; aws.ToInt32(q.Limit) != 100 || !aws.ToBool(q.ConsistentRead) || q.IndexName != nil {
		t.Errorf("claim query: limit %d, consistent %v, index %v", aws.ToInt32(q.Limit), aws.ToBool(q.ConsistentRead), q.IndexName)
	}
}
