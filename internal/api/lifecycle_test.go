package api

import (
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/relinkhq/relink/internal/api/apitest"
	"github.com/relinkhq/relink/internal/clock"
	"github.com/relinkhq/relink/internal/dynamo"
	"github.com/relinkhq/relink/internal/standin"
	"github.com/relinkhq/relink/internal/store"
)

func TestMain(m *testing.M) { standin.Main(m) }

// dynamoStore opens a fresh table on the moto stand-in.
func dynamoStore(t *testing.T, clk clock.Clock) store.Store {
	t.Helper()
	db := dynamodb.NewFromConfig(standin.AWSConfig(standin.Moto(t)))
	name := fmt.Sprintf("relink-api-%d", time.Now().UnixNano())
	if err := dynamo.CreateTable(t.Context(), db, name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = db.DeleteTable(t.Context(), &dynamodb.DeleteTableInput{TableName: aws.String(name)}) })
	st, err := dynamo.New(db, name, store.Config{Clock: clk, CursorKey: []byte("api-test-cursor-key-0123456789abcdef")})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func (e *env) stack() apitest.Stack {
	return apitest.Stack{BaseURL: e.srv.URL, AdminToken: e.token(wsA, patID), Mail: func(t *testing.T, to string) []string {
		var out []string
		for _, m := range e.mailbox.To(to) {
			out = append(out, m.Text)
		}
		return out
	}}
}

// TestLifecycleOnDynamoDB walks the whole account lifecycle over HTTP against a stack
// on the DynamoDB stand-in (the local server's run is in internal/devserver).
func TestLifecycleOnDynamoDB(t *testing.T) {
	e := newEnv(t, dynamoStore)
	apitest.Lifecycle(t, e.stack(), omarID)
}

// TestLifecycleOnEmbeddedStore is the same walk on the embedded store.
func TestLifecycleOnEmbeddedStore(t *testing.T) {
	e := newEnv(t, boltStore)
	apitest.Lifecycle(t, e.stack(), omarID)
}
