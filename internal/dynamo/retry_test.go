package dynamo

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/relinkhq/relink/internal/clock"
	"github.com/relinkhq/relink/internal/relink"
	"github.com/relinkhq/relink/internal/standin"
	"github.com/relinkhq/relink/internal/store"
	"github.com/relinkhq/relink/internal/workspace"
)

// loseAnswers forwards every request, but for the next request of a listed operation
// it throws the answer away and says 500, as a dropped connection or a gateway would:
// the write landed, the SDK does not know, and it retries.
type loseAnswers struct {
	mu   sync.Mutex
	lose map[string]bool // X-Amz-Target operation → lose its next answer
	next http.RoundTripper
}

func (l *loseAnswers) Do(req *http.Request) (*http.Response, error) {
	op := strings.TrimPrefix(req.Header.Get("X-Amz-Target"), "DynamoDB_20120810.")
	resp, err := l.next.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	l.mu.Lock()
	lost := l.lose[op]
	delete(l.lose, op)
	l.mu.Unlock()
	if !lost {
		return resp, nil
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	body := `{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"answer lost"}`
	return &http.Response{StatusCode: 500, Status: "500 Internal Server Error", Header: http.Header{"Content-Type": {"application/x-amz-json-1.0"}},
		Body: io.NopCloser(strings.NewReader(body)), ContentLength: int64(len(body)), Request: req}, nil
}

func (l *loseAnswers) loseNext(op string) { l.mu.Lock(); l.lose[op] = true; l.mu.Unlock() }

// TestRetriedWritesWhoseFirstAttemptLanded: creates and a "sent" mark whose first
// answer is lost: the SDK's retry meets its own landed write and the call still
// succeeds — while the same calls made twice on purpose stay conflicts.
func TestRetriedWritesWhoseFirstAttemptLanded(t *testing.T) {
	cfg := standin.AWSConfig(standin.Moto(t))
	lossy := &loseAnswers{lose: map[string]bool{}, next: http.DefaultTransport}
	cfg.HTTPClient = lossy
	client := dynamodb.NewFromConfig(cfg)
	name := fmt.Sprintf("relink-retry-%d", time.Now().UnixNano())
	ctx := context.Background()
	if err := CreateTable(ctx, client, name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = client.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: aws.String(name)}) })
	clk := clock.NewManual(time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC))
	s, err := New(client, name, store.Config{Clock: clk, CursorKey: []byte(strings.Repeat("c", 32))})
	if err != nil {
		t.Fatal(err)
	}

	lossy.loseNext("PutItem")
	w := workspace.Workspace{ID: "ws1", Name: "Acme", Settings: workspace.DefaultSettings(), CreatedAt: clk.Now(), UpdatedAt: clk.Now()}
	if _, err := s.CreateWorkspace(ctx, w); err != nil {
		t.Fatalf("create whose answer was lost: %v", err)
	}
	if _, err := s.CreateWorkspace(ctx, w); relink.ErrorCode(err) != relink.ECONFLICT {
		t.Fatalf("the same create again, on purpose: %v", err)
	}

	lossy.loseNext("PutItem") // a create with nothing but its item: found stored as written
	if ok, err := s.ClaimSend(ctx, "k1", "run-1", clk.Now()); !ok || err != nil {
		t.Fatalf("claim whose answer was lost: %v %v", ok, err)
	}
	if ok, err := s.ClaimSend(ctx, "k1", "run-1", clk.Now()); ok || err != nil {
		t.Fatalf("the same claim again, on purpose: %v %v", ok, err)
	}
	lossy.loseNext("UpdateItem")
	if err := s.MarkSent(ctx, "k1", "run-1", "m-1", clk.Now()); err != nil {
		t.Fatalf("mark sent whose answer was lost: %v", err)
	}
	if rec, _ := s.GetSend(ctx, "k1"); rec.State != store.SendSent || rec.MessageID != "m-1" {
		t.Fatalf("record %+v", rec)
	}
	if err := s.MarkSent(ctx, "k1", "run-1", "m-1", clk.Now()); relink.ErrorCode(err) != relink.ECONFLICT {
		t.Fatalf("the same mark again, on purpose: %v", err)
	}

	if ok, err := s.ClaimSend(ctx, "k2", "run-1", clk.Now()); !ok || err != nil {
		t.Fatal(ok, err)
	}
	// A delete cannot tell its own landed first attempt from "never there": it says
	// conflict, and the record is gone (the caller, who did claim it, can look).
	lossy.loseNext("DeleteItem")
	if err := s.ReleaseSend(ctx, "k2", "run-1"); relink.ErrorCode(err) != relink.ECONFLICT {
		t.Fatalf("release whose answer was lost: %v", err)
	}
	if _, err := s.GetSend(ctx, "k2"); relink.ErrorCode(err) != relink.ENOTFOUND {
		t.Fatalf("the release did not land: %v", err)
	}
}
