package standin

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// TestMotoTransactionsAreIdempotent: a TransactWriteItems repeated with its
// ClientRequestToken (an SDK retry after a lost answer) is answered as the first was
// and applied once, as DynamoDB does; the same token with other items is refused.
func TestMotoTransactionsAreIdempotent(t *testing.T) {
	ctx := context.Background()
	db := dynamodb.NewFromConfig(AWSConfig(Moto(t)))
	table := "idem"
	_, err := db.CreateTable(ctx, &dynamodb.CreateTableInput{TableName: aws.String(table), BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("PK"), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("PK"), KeyType: types.KeyTypeHash}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(table)}) })
	put := func(token, pk string) error {
		_, err := db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{ClientRequestToken: aws.String(token),
			TransactItems: []types.TransactWriteItem{{Put: &types.Put{TableName: aws.String(table),
				Item:                map[string]types.AttributeValue{"PK": &types.AttributeValueMemberS{Value: pk}},
				ConditionExpression: aws.String("attribute_not_exists(PK)")}}}})
		return err
	}
	if err := put("token-1", "a"); err != nil {
		t.Fatal(err)
	}
	if err := put("token-1", "a"); err != nil {
		t.Fatalf("a retry with the same token was applied again: %v", err)
	}
	if err := put("token-2", "a"); err == nil {
		t.Fatal("a new transaction with the same condition succeeded twice")
	}
	if err := put("token-1", "b"); err == nil {
		t.Fatal("a token reused with other items was accepted")
	}
}
