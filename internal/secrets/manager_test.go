package secrets

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/relinkhq/relink/internal/clock"
	"github.com/relinkhq/relink/internal/relink"
	"github.com/relinkhq/relink/internal/standin"
)

func TestMain(m *testing.M) { standin.Main(m) }

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// countingAPI counts GetSecretValue calls and, from call failFrom on, fails as a
// throttled Secrets Manager would.
type countingAPI struct {
	API
	calls    atomic.Int64
	failFrom int64 // 0: never
}

func (c *countingAPI) GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	if n := c.calls.Add(1); c.failFrom > 0 && n >= c.failFrom {
		return nil, &smithy.GenericAPIError{Code: "ThrottlingException", Message: "Rate exceeded"}
	}
	return c.API.GetSecretValue(ctx, in, opts...)
}

// moto is a Secrets Manager client on the shared moto server.
type moto struct {
	*secretsmanager.Client
	n atomic.Int64
}

func newMoto(t *testing.T) *moto {
	return &moto{Client: secretsmanager.NewFromConfig(standin.AWSConfig(standin.Moto(t)))}
}

// create stores a uniquely named secret (string, or binary when bin is set) and
// deletes it after the test.
func (m *moto) create(t *testing.T, value string, bin bool) string {
	t.Helper()
	name := fmt.Sprintf("relink/test/%d-%d", time.Now().UnixNano(), m.n.Add(1))
	in := &secretsmanager.CreateSecretInput{Name: aws.String(name)}
	if bin {
		in.SecretBinary = []byte(value)
	} else {
		in.SecretString = aws.String(value)
	}
	if _, err := m.CreateSecret(context.Background(), in); err != nil {
		t.Fatalf("create secret: %v", err)
	}
	t.Cleanup(func() {
		_, _ = m.DeleteSecret(context.Background(), &secretsmanager.DeleteSecretInput{
			SecretId: aws.String(name), ForceDeleteWithoutRecovery: aws.Bool(true),
		})
	})
	return name
}

func (m *moto) put(t *testing.T, name, value string) {
	t.Helper()
	if _, err := m.PutSecretValue(context.Background(), &secretsmanager.PutSecretValueInput{
		SecretId: aws.String(name), SecretString: aws.String(value),
	}); err != nil {
		t.Fatalf("put secret value: %v", err)
	}
}

// wantValue checks a read without printing secret values on failure.
func wantValue(t *testing.T, m Valuer, name, want string) {
	t.Helper()
	got, err := m.Value(context.Background(), name)
	if err != nil {
		t.Fatalf("value: %v", err)
	}
	if string(got) != want {
		t.Fatalf("value of %q differs from the stored one (%d bytes, want %d)", name, len(got), len(want))
	}
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := relink.ErrorCode(err); got != code {
		t.Fatalf("error code = %q, want %q (err: %v)", got, code, err)
	}
}

func wantCalls(t *testing.T, api *countingAPI, n int64) {
	t.Helper()
	if got := api.calls.Load(); got != n {
		t.Fatalf("GetSecretValue calls = %d, want %d", got, n)
	}
}

func TestManagerCache(t *testing.T) {
	sm := newMoto(t)
	name := sm.create(t, "client-secret-v1", false)
	api := &countingAPI{API: sm}
	clk := clock.NewManual(t0)
	m := NewManager(api, clk, time.Minute)

	wantValue(t, m, name, "client-secret-v1")
	wantCalls(t, api, 1)

	got, _ := m.Value(context.Background(), name)
	clear(got) // a caller wiping its copy must not wipe the cache
	wantValue(t, m, name, "client-secret-v1")
	wantCalls(t, api, 1)

	sm.put(t, name, "client-secret-v2")
	clk.Advance(time.Minute - time.Second)
	wantValue(t, m, name, "client-secret-v1") // still fresh
	wantCalls(t, api, 1)

	clk.Advance(time.Second) // ttl reached
	wantValue(t, m, name, "client-secret-v2")
	wantCalls(t, api, 2)
	wantValue(t, m, name, "client-secret-v2")
	wantCalls(t, api, 2)
}

func TestManagerBinaryAndDefaults(t *testing.T) {
	sm := newMoto(t)
	name := sm.create(t, "\x00binary\xff", true)
	api := &countingAPI{API: sm}
	clk := clock.NewManual(t0)
	m := NewManager(api, clk, 0) // DefaultTTL
	wantValue(t, m, name, "\x00binary\xff")
	clk.Advance(DefaultTTL - time.Second)
	wantValue(t, m, name, "\x00binary\xff")
	wantCalls(t, api, 1)
	clk.Advance(time.Second)
	wantValue(t, m, name, "\x00binary\xff")
	wantCalls(t, api, 2)
}

func TestManagerNotFound(t *testing.T) {
	m := NewManager(newMoto(t), clock.NewManual(t0), time.Minute)
	_, err := m.Value(context.Background(), "relink/test/does-not-exist")
	wantCode(t, err, relink.ENOTFOUND)
	if !strings.Contains(relink.ErrorMessage(err), "relink/test/does-not-exist") {
		t.Fatalf("message %q does not name the secret", relink.ErrorMessage(err))
	}
}

func TestManagerStaleWhileError(t *testing.T) {
	sm := newMoto(t)
	const value = "stale-secret-value"
	name := sm.create(t, value, false)
	api := &countingAPI{API: sm, failFrom: 2}
	clk := clock.NewManual(t0)
	var logs bytes.Buffer
	m := NewManager(api, clk, time.Minute).WithLogger(slog.New(slog.NewJSONHandler(&logs, nil)))

	wantValue(t, m, name, value)
	clk.Advance(time.Minute) // expired; the refresh fails
	wantValue(t, m, name, value)
	wantCalls(t, api, 2)
	if !strings.Contains(logs.String(), "serving cached value") || !strings.Contains(logs.String(), relink.EUNAVAILABLE) {
		t.Fatal("serving a stale value was not logged")
	}

	clk.Advance(retryAfterError - time.Second) // failures are not retried on every call
	wantValue(t, m, name, value)
	wantCalls(t, api, 2)
	clk.Advance(time.Second)
	wantValue(t, m, name, value)
	wantCalls(t, api, 3)

	clk.Set(t0.Add(time.Minute + Grace)) // grace over: the failure surfaces
	_, err := m.Value(context.Background(), name)
	wantCode(t, err, relink.EUNAVAILABLE)
	if strings.Contains(err.Error(), value) || strings.Contains(logs.String(), value) {
		t.Fatal("the secret value reached an error or a log")
	}
}

func TestManagerConcurrentMoto(t *testing.T) {
	sm := newMoto(t)
	name := sm.create(t, "shared-secret", false)
	api := &countingAPI{API: sm}
	m := NewManager(api, clock.NewManual(t0), time.Minute)

	var wg sync.WaitGroup
	var failed atomic.Int64
	start := make(chan struct{})
	for range 20 {
		wg.Go(func() {
			<-start
			if v, err := m.Value(context.Background(), name); err != nil || string(v) != "shared-secret" {
				failed.Add(1)
			}
		})
	}
	close(start)
	wg.Wait()
	if failed.Load() != 0 {
		t.Fatalf("%d of 20 readers failed", failed.Load())
	}
	wantCalls(t, api, 1)
}

// gatedAPI answers only when released, so every reader is provably waiting on
// the same miss.
type gatedAPI struct {
	release chan struct{}
	calls   atomic.Int64
}

func (g *gatedAPI) GetSecretValue(ctx context.Context, _ *secretsmanager.GetSecretValueInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	g.calls.Add(1)
	<-g.release
	return &secretsmanager.GetSecretValueOutput{SecretString: aws.String("gated-secret")}, nil
}

func TestManagerSingleFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		api := &gatedAPI{release: make(chan struct{})}
		m := NewManager(api, clock.NewManual(t0), time.Minute)

		// A reader that gives up must not fail the others sharing its fetch.
		ctx, cancel := context.WithCancel(context.Background())
		var quitter error
		var wg sync.WaitGroup
		wg.Go(func() { _, quitter = m.Value(ctx, "s") })

		var failed atomic.Int64
		for range 20 {
			wg.Go(func() {
				if v, err := m.Value(context.Background(), "s"); err != nil || string(v) != "gated-secret" {
					failed.Add(1)
				}
			})
		}
		synctest.Wait() // all 21 readers are blocked on the one fetch
		if n := api.calls.Load(); n != 1 {
			t.Fatalf("GetSecretValue calls while blocked = %d, want 1", n)
		}
		cancel()
		synctest.Wait()
		close(api.release)
		wg.Wait()
		if failed.Load() != 0 {
			t.Fatalf("%d of 20 readers failed", failed.Load())
		}
		if relink.ErrorCode(quitter) != relink.EUNAVAILABLE || !errors.Is(quitter, context.Canceled) {
			t.Fatalf("cancelled reader got %v, want a cancellation", quitter)
		}
		if n := api.calls.Load(); n != 1 {
			t.Fatalf("GetSecretValue calls = %d, want 1", n)
		}
	})
}

// errAPI fails every call with err.
type errAPI struct{ err error }

func (e errAPI) GetSecretValue(context.Context, *secretsmanager.GetSecretValueInput, ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	return nil, e.err
}

func TestManagerErrorCodes(t *testing.T) {
	status := func(code int) error {
		return &awshttp.ResponseError{ResponseError: &smithyhttp.ResponseError{
			Response: &smithyhttp.Response{Response: &http.Response{StatusCode: code}},
			Err:      errors.New("response error"),
		}}
	}
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"not found", &types.ResourceNotFoundException{Message: aws.String("no such secret")}, relink.ENOTFOUND},
		{"throttled", &smithy.GenericAPIError{Code: "ThrottlingException"}, relink.EUNAVAILABLE},
		{"internal service error", &types.InternalServiceError{Message: aws.String("oops")}, relink.EUNAVAILABLE},
		{"503", status(http.StatusServiceUnavailable), relink.EUNAVAILABLE},
		{"500", status(http.StatusInternalServerError), relink.EUNAVAILABLE},
		{"access denied", status(http.StatusBadRequest), relink.EINTERNAL},
		{"network", errors.New("dial tcp: connection refused"), relink.EUNAVAILABLE},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewManager(errAPI{tc.err}, clock.NewManual(t0), time.Minute).Value(context.Background(), "s")
			wantCode(t, err, tc.want)
			if !errors.Is(err, tc.err) {
				t.Fatal("the SDK error is not kept as the cause")
			}
		})
	}
	_, err := NewManager(errAPI{}, clock.NewManual(t0), time.Minute).Value(context.Background(), "s")
	wantCode(t, err, relink.EINTERNAL) // an answer with neither string nor binary
}
