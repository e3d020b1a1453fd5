package dynamo

import (
	"context"
	"fmt"
	"net/http"
	"sync"
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

// serialHTTP sends one request at a time. moto 5.2.1 is not safe for concurrent
// writes: TransactWriteItems snapshots the table with copy.deepcopy (which fails with
// "dictionary changed size during iteration" while another request writes: HTTP 500)
// and rolls a cancelled transaction back by restoring that snapshot, which would
// drop writes that landed meanwhile. DynamoDB serialises writes to an item, so this
// makes the stand-in faithful without taking anything away from the store's own
// concurrency control: every goroutine still races on stale versions.
type serialHTTP struct {
	mu   sync.Mutex
	next *http.Client
}

func (c *serialHTTP) Do(r *http.Request) (*http.Response, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.next.Do(r) // moto answers only after it has applied the request
}

// moto is one client (and one lock) for the whole test binary.
var moto struct {
	once   sync.Once
	client *dynamodb.Client
}

func motoClient(t *testing.T) *dynamodb.Client {
	endpoint := standin.Moto(t)
	moto.once.Do(func() {
		cfg := standin.AWSConfig(endpoint)
		cfg.HTTPClient = &serialHTTP{next: &http.Client{Timeout: time.Minute}}
		moto.client = dynamodb.NewFromConfig(cfg)
	})
	return moto.client
}

// tables numbers the tables one test binary creates on the shared stand-in.
var tables atomic.Int64

// motoStore opens a store on a fresh table of the shared moto server.
func motoStore(t *testing.T, cfg store.Config) *Store {
	t.Helper()
	client := motoClient(t)
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
