package ses

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awsses "github.com/aws/aws-sdk-go-v2/service/ses"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/relinkhq/relink/internal/clock"
	"github.com/relinkhq/relink/internal/mail"
	"github.com/relinkhq/relink/internal/relink"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// fakeAPI answers GetSendQuota with maxRate (or quotaErr, or by blocking until the
// call's context ends) and SendEmail through send (nil: success). It records every
// SendEmail request.
type fakeAPI struct {
	mu         sync.Mutex
	maxRate    float64
	quotaErr   error
	quotaBlock bool
	quotaCalls int
	send       func(n int) error // n: 1-based SendEmail call number
	inputs     []*awsses.SendEmailInput
	optFns     [][]func(*awsses.Options)
}

func (f *fakeAPI) GetSendQuota(ctx context.Context, _ *awsses.GetSendQuotaInput, _ ...func(*awsses.Options)) (*awsses.GetSendQuotaOutput, error) {
	f.mu.Lock()
	f.quotaCalls++
	block, rate, err := f.quotaBlock, f.maxRate, f.quotaErr
	f.mu.Unlock()
	if block {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	if err != nil {
		return nil, err
	}
	return &awsses.GetSendQuotaOutput{MaxSendRate: rate, Max24HourSend: 50000}, nil
}

func (f *fakeAPI) SendEmail(_ context.Context, in *awsses.SendEmailInput, optFns ...func(*awsses.Options)) (*awsses.SendEmailOutput, error) {
	f.mu.Lock()
	f.inputs = append(f.inputs, in)
	f.optFns = append(f.optFns, optFns)
	n, send := len(f.inputs), f.send
	f.mu.Unlock()
	if send != nil {
		if err := send(n); err != nil {
			return nil, err
		}
	}
	return &awsses.SendEmailOutput{MessageId: aws.String("fake-id")}, nil
}

func (f *fakeAPI) set(fn func(f *fakeAPI)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

func (f *fakeAPI) calls() (quota, send int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.quotaCalls, len(f.inputs)
}

// sleeper is an injected Sleep: it records every wait and either moves the manual
// clock by it (one sender in virtual time) or leaves the clock alone (concurrent
// senders, whose reservations then all start at the same instant).
type sleeper struct {
	clk     *clock.Manual
	advance bool
	hook    func(ctx context.Context) error // called instead of returning nil

	mu    sync.Mutex
	waits []time.Duration
}

func (s *sleeper) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.waits = append(s.waits, d)
	hook := s.hook
	s.mu.Unlock()
	if s.advance {
		s.clk.Advance(d)
	}
	if hook != nil {
		return hook(ctx)
	}
	return nil
}

func (s *sleeper) recorded() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.waits...)
}

// newSender returns a Sender on api with a manual clock at t0 and an injected sleep.
func newSender(t testing.TB, api API, advance bool, cfg Config) (*Sender, *sleeper) {
	t.Helper()
	clk := clock.NewManual(t0)
	sl := &sleeper{clk: clk, advance: advance}
	if cfg.From == "" {
		cfg.From = "Relink <noreply@relink.example>"
	}
	cfg.Clock, cfg.Sleep = clk, sl.sleep
	s, err := New(api, cfg)
	if err != nil {
		t.Fatalf("new sender: %v", err)
	}
	return s, sl
}

// message is a reminder with a magic link in both bodies.
func message() mail.Message {
	return mail.Message{
		To:      []string{"owner@brand.example"},
		Cc:      []string{"admin@brand.example"},
		Subject: "Reconnect “Brand Page” on Facebook",
		Text:    "Reconnect here: https://relink.example/m/secret-magic-token",
		HTML:    `<p><a href="https://relink.example/m/secret-magic-token">Reconnect</a></p>`,
		Tags:    map[string]string{"kind": "reminder"},
	}
}

// statusErr is what the SDK returns for an HTTP answer without a modelled error.
func statusErr(code int) error {
	return &awshttp.ResponseError{ResponseError: &smithyhttp.ResponseError{
		Response: &smithyhttp.Response{Response: &http.Response{StatusCode: code}},
		Err:      errors.New("response error"),
	}}
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := relink.ErrorCode(err); got != code {
		t.Fatalf("error code = %q, want %q (err: %v)", got, code, err)
	}
}

// wantBackoffs checks that waits are the backoffs before retries 1, 2, …: each
// within [d/2, d] of its doubling ceiling.
func wantBackoffs(t *testing.T, waits []time.Duration, n int) {
	t.Helper()
	if len(waits) != n {
		t.Fatalf("waits = %v, want %d backoffs", waits, n)
	}
	for i, w := range waits {
		ceil := min(backoffCap, backoffBase<<i)
		if w < ceil/2 || w > ceil {
			t.Fatalf("backoff %d = %v, want within [%v, %v]", i+1, w, ceil/2, ceil)
		}
	}
}
