package dynamo

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"

	"github.com/relinkhq/relink/internal/account"
	"github.com/relinkhq/relink/internal/clock"
	"github.com/relinkhq/relink/internal/relink"
	"github.com/relinkhq/relink/internal/store"
	"github.com/relinkhq/relink/internal/workspace"
)

// fakeAPI answers writes with a canned error and reads with a canned item, and counts
// the reads. Methods it does not override panic through the nil API.
type fakeAPI struct {
	API
	writeErr error
	stored   map[string]types.AttributeValue
	gets     int
}

func (f *fakeAPI) PutItem(context.Context, *dynamodb.PutItemInput, ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	return &dynamodb.PutItemOutput{}, f.writeErr
}

func (f *fakeAPI) TransactWriteItems(context.Context, *dynamodb.TransactWriteItemsInput, ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	return &dynamodb.TransactWriteItemsOutput{}, f.writeErr
}

func (f *fakeAPI) GetItem(context.Context, *dynamodb.GetItemInput, ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	f.gets++
	return &dynamodb.GetItemOutput{Item: f.stored}, nil
}

var t0 = time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)

func fakeStore(t *testing.T, api *fakeAPI) *Store {
	t.Helper()
	s, err := New(api, "table", store.Config{Clock: clock.NewManual(t0), CursorKey: []byte(strings.Repeat("k", 32))})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// change is an audited delete: account, event and claim are written together.
func change(t *testing.T) account.Change {
	t.Helper()
	actor := account.Actor{ID: "u1", Role: workspace.RolePrimaryAdmin}
	c, err := account.New(account.Spec{WorkspaceID: "ws", ID: "a1", Channel: "x", ExternalID: "e1", DisplayName: "A",
		OwnerID: "u1", Kind: account.KindCompany}, account.Command{Actor: actor, At: t0, EventID: "e-1"})
	if err != nil {
		t.Fatal(err)
	}
	c, err = account.Transition(c.After, account.Command{Action: account.ActDelete, Confirmation: "A", Actor: actor, At: t0, EventID: "e-2"})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func canceled(reasons ...types.CancellationReason) error {
	return &types.TransactionCanceledException{Message: aws.String("Transaction cancelled [secret AWS detail]"), CancellationReasons: reasons}
}

func reason(code string, item map[string]types.AttributeValue) types.CancellationReason {
	return types.CancellationReason{Code: aws.String(code), Item: item}
}

func storedAccount(t *testing.T, version int64, purgeAt time.Time) map[string]types.AttributeValue {
	t.Helper()
	a := change(t).Before
	a.Version, a.PurgeAt = version, purgeAt
	item, err := marshal(toAccountItem(a, store.DefaultShards))
	if err != nil {
		t.Fatal(err)
	}
	return item
}

func TestApplyClassifiesFailures(t *testing.T) {
	for name, tc := range map[string]struct {
		err      error
		stored   map[string]types.AttributeValue // what a re-read finds
		want     string
		wantGets int
	}{
		"stale version, item reported": {
			err:  canceled(reason("ConditionalCheckFailed", storedAccount(t, 7, time.Time{})), reason("None", nil), reason("None", nil)),
			want: relink.ECONFLICT,
		},
		"missing account": {
			err:  canceled(reason("ConditionalCheckFailed", nil), reason("None", nil), reason("None", nil)),
			want: relink.ENOTFOUND, wantGets: 1,
		},
		"stand-in without ALL_OLD, account exists": {
			err:    canceled(reason("ConditionalCheckFailed", nil), reason("None", nil), reason("None", nil)),
			stored: storedAccount(t, 7, time.Time{}), want: relink.ECONFLICT, wantGets: 1,
		},
		"gone before TTL": {
			err:  canceled(reason("ConditionalCheckFailed", storedAccount(t, 1, t0.Add(-time.Minute))), reason("None", nil), reason("None", nil)),
			want: relink.ENOTFOUND,
		},
		"event already written": {
			err:  canceled(reason("None", nil), reason("ConditionalCheckFailed", nil), reason("None", nil)),
			want: relink.ECONFLICT,
		},
		"claim taken": {
			err:  canceled(reason("None", nil), reason("None", nil), reason("ConditionalCheckFailed", nil)),
			want: relink.ECONFLICT,
		},
		"concurrent transaction": {
			err:  canceled(reason("TransactionConflict", nil), reason("None", nil), reason("None", nil)),
			want: relink.ECONFLICT,
		},
		"throttled": {
			err:  canceled(reason("ThrottlingError", nil), reason("None", nil), reason("None", nil)),
			want: relink.EUNAVAILABLE,
		},
		"throttled request": {
			err:  &smithy.GenericAPIError{Code: "ProvisionedThroughputExceededException", Message: "secret AWS detail"},
			want: relink.EUNAVAILABLE,
		},
		"validation error": {
			err:  canceled(reason("ValidationError", nil)),
			want: relink.EINTERNAL,
		},
	} {
		t.Run(name, func(t *testing.T) {
			api := &fakeAPI{writeErr: tc.err, stored: tc.stored}
			err := fakeStore(t, api).Apply(context.Background(), change(t))
			if got := relink.ErrorCode(err); got != tc.want {
				t.Fatalf("code %q (%v), want %q", got, err, tc.want)
			}
			if api.gets != tc.wantGets {
				t.Errorf("%d re-reads, want %d", api.gets, tc.wantGets)
			}
			if msg := relink.ErrorMessage(err); strings.Contains(msg, "AWS") || strings.Contains(msg, "Transaction cancelled") {
				t.Errorf("AWS text leaked into the message: %q", msg)
			}
			if !errors.Is(err, tc.err) {
				t.Errorf("the AWS error is not kept as the cause: %v", err)
			}
		})
	}
}

func TestSingleWriteClassifiesFailures(t *testing.T) {
	ctx := context.Background()
	w := workspace.Workspace{ID: "ws", Name: "Acme", Version: 3}
	ccf := func(item map[string]types.AttributeValue) error {
		return &types.ConditionalCheckFailedException{Message: aws.String("The conditional request failed"), Item: item}
	}
	stored, err := marshal(toWorkspaceItem(workspace.Workspace{ID: "ws", Version: 4}))
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		api  *fakeAPI
		want string
	}{
		"stale":     {&fakeAPI{writeErr: ccf(stored)}, relink.ECONFLICT},
		"missing":   {&fakeAPI{writeErr: ccf(nil)}, relink.ENOTFOUND},
		"throttled": {&fakeAPI{writeErr: &smithy.GenericAPIError{Code: "ThrottlingException"}}, relink.EUNAVAILABLE},
		"in a transaction elsewhere": {
			&fakeAPI{writeErr: &smithy.GenericAPIError{Code: "TransactionConflictException"}}, relink.ECONFLICT,
		},
	} {
		_, err := fakeStore(t, tc.api).UpdateWorkspace(ctx, w)
		if got := relink.ErrorCode(err); got != tc.want {
			t.Errorf("%s: code %q (%v), want %q", name, got, err, tc.want)
		}
	}
	_, err = fakeStore(t, &fakeAPI{writeErr: ccf(stored)}).CreateWorkspace(ctx, w)
	if relink.ErrorCode(err) != relink.ECONFLICT {
		t.Errorf("create over an existing workspace: %v", err)
	}
}
