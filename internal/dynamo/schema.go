package dynamo

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
)

// Attribute and index names of the table. template.yaml declares the same table; a
// test keeps the two in step.
const (
	AttrPK          = "PK"
	AttrSK          = "SK"
	AttrOwnerPK     = "OwnerPK"
	AttrDueShard    = "DueShard"
	AttrDueAt       = "DueAt" // epoch milliseconds
	AttrRemindShard = "RemindShard"
	AttrRemindAt    = "RemindAt"  // epoch milliseconds
	AttrExpiresAt   = "ExpiresAt" // epoch seconds: the TTL attribute

	// Attributes read by conditions and filters.
	attrVersion       = "Version"
	attrPurgeAt       = "PurgeAt" // epoch milliseconds
	attrState         = "State"
	attrChannel       = "Channel"
	attrHardExpiresAt = "HardExpiresAt" // epoch milliseconds
	attrAccountID     = "AccountID"
	attrUserID        = "UserID"

	// OwnerIndex lists one owner's accounts, ordered by account ID. It projects the
	// attributes of OwnerIndexAttributes only.
	OwnerIndex = "owner-index"
	// DueIndex is sparse and sharded: only scheduled accounts carry its keys.
	DueIndex = "due-index"
	// RemindIndex is sparse and sharded like DueIndex: only accounts with a RemindAt
	// carry its keys, each in the same shard as in DueIndex.
	RemindIndex = "remind-index"
)

// TableAPI is what CreateTable needs of a DynamoDB client.
type TableAPI interface {
	CreateTable(ctx context.Context, in *dynamodb.CreateTableInput, opts ...func(*dynamodb.Options)) (*dynamodb.CreateTableOutput, error)
	DescribeTable(ctx context.Context, in *dynamodb.DescribeTableInput, opts ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error)
	UpdateTimeToLive(ctx context.Context, in *dynamodb.UpdateTimeToLiveInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateTimeToLiveOutput, error)
}

// TableInput describes Relink's table under the given name.
func TableInput(name string) *dynamodb.CreateTableInput {
	attr := func(n string, t types.ScalarAttributeType) types.AttributeDefinition {
		return types.AttributeDefinition{AttributeName: aws.String(n), AttributeType: t}
	}
	keySchema := func(hash, rng string) []types.KeySchemaElement {
		return []types.KeySchemaElement{
			{AttributeName: aws.String(hash), KeyType: types.KeyTypeHash},
			{AttributeName: aws.String(rng), KeyType: types.KeyTypeRange},
		}
	}
	all := &types.Projection{ProjectionType: types.ProjectionTypeAll}
	// The owner index carries only what an owner's listing filters on; the page's
	// accounts are then read from the table. A write to an account touches the index
	// only when one of these changes, not on every probe, renewal or reminder look.
	ownerOnly := &types.Projection{ProjectionType: types.ProjectionTypeInclude, NonKeyAttributes: OwnerIndexAttributes()}
	return &dynamodb.CreateTableInput{
		TableName:   aws.String(name),
		BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{
			attr(AttrPK, types.ScalarAttributeTypeS),
			attr(AttrSK, types.ScalarAttributeTypeS),
			attr(AttrOwnerPK, types.ScalarAttributeTypeS),
			attr(AttrDueShard, types.ScalarAttributeTypeS),
			attr(AttrDueAt, types.ScalarAttributeTypeN),
			attr(AttrRemindShard, types.ScalarAttributeTypeS),
			attr(AttrRemindAt, types.ScalarAttributeTypeN),
		},
		KeySchema: keySchema(AttrPK, AttrSK),
		GlobalSecondaryIndexes: []types.GlobalSecondaryIndex{
			{IndexName: aws.String(OwnerIndex), KeySchema: keySchema(AttrOwnerPK, AttrSK), Projection: ownerOnly},
			{IndexName: aws.String(DueIndex), KeySchema: keySchema(AttrDueShard, AttrDueAt), Projection: all},
			{IndexName: aws.String(RemindIndex), KeySchema: keySchema(AttrRemindShard, AttrRemindAt), Projection: all},
		},
	}
}

// tableWait bounds how long CreateTable waits for the table to become ACTIVE.
const tableWait = 5 * time.Minute

// CreateTable creates the table, waits until it is ACTIVE and enables TTL on
// ExpiresAt. Stand-ins without TTL support are tolerated: the store checks purge
// times on every read anyway.
//
// A table of that name that already has this shape is taken as created: the SDK
// retries a CreateTable whose answer was lost, and the retry finds the first
// attempt's table. One of another shape is an error.
func CreateTable(ctx context.Context, api TableAPI, name string) error {
	in := TableInput(name)
	if _, err := api.CreateTable(ctx, in); err != nil {
		var inUse *types.ResourceInUseException
		if !errors.As(err, &inUse) {
			return fmt.Errorf("dynamo: create table %s: %w", name, err)
		}
		out, derr := api.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(name)})
		if derr != nil {
			return fmt.Errorf("dynamo: create table %s: %w (and describing it: %v)", name, err, derr)
		}
		if !sameShape(out.Table, in) {
			return fmt.Errorf("dynamo: create table %s: a table of that name exists with another shape", name)
		}
	}
	waiter := dynamodb.NewTableExistsWaiter(api, func(o *dynamodb.TableExistsWaiterOptions) {
		o.MinDelay, o.MaxDelay = time.Second, 10*time.Second
	})
	if err := waiter.Wait(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(name)}, tableWait); err != nil {
		return fmt.Errorf("dynamo: wait for table %s: %w", name, err)
	}
	_, err := api.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{
		TableName: aws.String(name),
		TimeToLiveSpecification: &types.TimeToLiveSpecification{
			AttributeName: aws.String(AttrExpiresAt), Enabled: aws.Bool(true),
		},
	})
	if err != nil && !unsupported(err) {
		return fmt.Errorf("dynamo: enable TTL on %s: %w", name, err)
	}
	return nil
}

// unsupported reports an error a stand-in returns for an operation it lacks.
func unsupported(err error) bool {
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) {
		return false
	}
	switch apiErr.ErrorCode() {
	case "UnknownOperationException", "NotImplementedException", "NotImplemented":
		return true
	}
	return false
}

// OwnerIndexAttributes are the attributes the owner index carries besides its keys:
// those an owner's listing filters on (ListAccounts' filter expression).
func OwnerIndexAttributes() []string {
	return []string{attrState, attrChannel, attrHardExpiresAt, attrPurgeAt}
}

// sameShape reports whether an existing table has the keys and indexes in describes.
func sameShape(t *types.TableDescription, in *dynamodb.CreateTableInput) bool {
	if t == nil {
		return false
	}
	key := func(ks []types.KeySchemaElement) string {
		var b strings.Builder
		for _, k := range ks {
			b.WriteString(aws.ToString(k.AttributeName) + "/" + string(k.KeyType) + ";")
		}
		return b.String()
	}
	projection := func(p *types.Projection) string {
		if p == nil {
			return ""
		}
		attrs := slices.Clone(p.NonKeyAttributes)
		slices.Sort(attrs)
		return string(p.ProjectionType) + ":" + strings.Join(attrs, ",")
	}
	want := map[string]string{}
	for _, g := range in.GlobalSecondaryIndexes {
		want[aws.ToString(g.IndexName)] = key(g.KeySchema) + projection(g.Projection)
	}
	if key(t.KeySchema) != key(in.KeySchema) || len(t.GlobalSecondaryIndexes) != len(want) {
		return false
	}
	for _, g := range t.GlobalSecondaryIndexes {
		if w, ok := want[aws.ToString(g.IndexName)]; !ok || w != key(g.KeySchema)+projection(g.Projection) {
			return false
		}
	}
	return true
}
