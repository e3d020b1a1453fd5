package dynamo

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/relinkhq/relink/internal/standin"
	"github.com/relinkhq/relink/internal/store"
	"github.com/relinkhq/relink/internal/store/storetest"
)

func TestMain(m *testing.M) { standin.Main(m) }

// tables numbers the tables one test binary creates on the shared stand-in.
var tables atomic.Int64

// motoStore opens a store on a fresh table of the shared moto server.
func motoStore(t *testing.T, cfg store.Config) *Store {
	t.Helper()
	client := dynamodb.NewFromConfig(standin.AWSConfig(standin.Moto(t)))
	name := fmt.Sprintf("relink-test-%d-%d", time.Now().UnixNano(), tables.Add(1))
	ctx := context.Background()
	if err := CreateTable(ctx, client, name); err != nil {
		t.Fatalf("create table: %v", err)
	}
	t.Cleanup(func() {
		// Dropping the table keeps the long-lived stand-in small.
		_, _ = client.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(name)})
	})
	s, err := New(client, name, cfg)
	if err != nil {
		t.Fatalf("new store: %v", err)
	}
	return s
}

func TestConformance(t *testing.T) {
	start := time.Now()
	storetest.Run(t, func(t *testing.T, cfg store.Config) store.Store { return motoStore(t, cfg) })
	t.Logf("conformance suite on moto took %v", time.Since(start).Round(time.Millisecond))
}
