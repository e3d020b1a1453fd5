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

// motoTables hands out fresh tables on the shared moto server.
type motoTables struct {
	client *dynamodb.Client
	n      atomic.Int64
}

func newMotoTables(t *testing.T) *motoTables {
	// standin's moto launcher serves one request at a time, as the concurrency
	// subtest needs (real DynamoDB serializes conflicting writes).
	return &motoTables{client: dynamodb.NewFromConfig(standin.AWSConfig(standin.Moto(t)))}
}

// open creates a uniquely named table and a store on it; the table is dropped after
// the test to keep the long-lived stand-in small.
func (m *motoTables) open(t *testing.T, cfg store.Config) *Store {
	t.Helper()
	name := fmt.Sprintf("relink-test-%d-%d", time.Now().UnixNano(), m.n.Add(1))
	if err := CreateTable(context.Background(), m.client, name); err != nil {
		t.Fatalf("create table: %v", err)
	}
	t.Cleanup(func() {
		_, _ = m.client.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(name)})
	})
	s, err := New(m.client, name, cfg)
	if err != nil {
		t.Fatalf("new store: %v", err)
	}
	return s
}

func TestConformance(t *testing.T) {
	tables := newMotoTables(t)
	start := time.Now()
	storetest.Run(t, func(t *testing.T, cfg store.Config) store.Store { return tables.open(t, cfg) })
	t.Logf("conformance suite on moto took %v", time.Since(start).Round(time.Millisecond))
}
