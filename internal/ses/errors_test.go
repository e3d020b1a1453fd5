package ses

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsses "github.com/aws/aws-sdk-go-v2/service/ses"
	"github.com/aws/aws-sdk-go-v2/service/ses/types"
	"github.com/aws/smithy-go"

	"github.com/relinkhq/relink/internal/relink"
	"github.com/relinkhq/relink/internal/standin"
)

func throttled(code string) error {
	return &smithy.GenericAPIError{Code: code, Message: "Maximum sending rate exceeded.", Fault: smithy.FaultClient}
}

// TestThrottlingRetried: throttling twice, then success, is one successful send
// after two growing, jittered backoffs.
func TestThrottlingRetried(t *testing.T) {
	for _, code := range []string{"Throttling", "ThrottlingException", "MaxSendingRateExceeded"} {
		t.Run(code, func(t *testing.T) {
			api := &fakeAPI{maxRate: 5, send: func(n int) error {
				if n <= 2 {
					return throttled(code)
				}
				return nil
			}}
			s, sl := newSender(t, api, true, Config{})
			id, err := s.Send(context.Background(), message())
			if err != nil || id != "fake-id" {
				t.Fatalf("send = %q, %v", id, err)
			}
			if _, n := api.calls(); n != 3 {
				t.Fatalf("%d sends, want 3", n)
			}
			// Backoffs (≥ 250 ms) outlast the limiter's 200 ms interval, so every wait
			// recorded is a backoff.
			wantBackoffs(t, sl.recorded(), 2)
		})
	}
}

// TestThrottlingForever: still throttled after Attempts sends is rate_limited, with
// the SDK error as the cause.
func TestThrottlingForever(t *testing.T) {
	for name, sdkErr := range map[string]error{
		"Throttling":     throttled("Throttling"),
		"HTTP 429":       statusErr(http.StatusTooManyRequests),
		"MaxSendingRate": throttled("MaxSendingRateExceeded"),
	} {
		t.Run(name, func(t *testing.T) {
			api := &fakeAPI{maxRate: 5, send: func(int) error { return sdkErr }}
			s, sl := newSender(t, api, true, Config{})
			_, err := s.Send(context.Background(), message())
			wantCode(t, err, relink.ERATELIMIT)
			if !errors.Is(err, sdkErr) || relink.ErrorMessage(err) != msgThrottled {
				t.Fatalf("err = %v (message %q), want the SDK error kept and %q", err, relink.ErrorMessage(err), msgThrottled)
			}
			if _, n := api.calls(); n != Attempts {
				t.Fatalf("%d sends, want %d", n, Attempts)
			}
			wantBackoffs(t, sl.recorded(), Attempts-1)
		})
	}
}

// TestDailyQuota: the 24-hour quota is rate_limited at once; no backoff frees it.
func TestDailyQuota(t *testing.T) {
	sdkErr := &smithy.GenericAPIError{Code: "Throttling", Message: "Daily message quota exceeded.", Fault: smithy.FaultClient}
	api := &fakeAPI{maxRate: 5, send: func(int) error { return sdkErr }}
	s, sl := newSender(t, api, true, Config{})
	_, err := s.Send(context.Background(), message())
	wantCode(t, err, relink.ERATELIMIT)
	if !errors.Is(err, sdkErr) || relink.ErrorMessage(err) != msgDaily {
		t.Fatalf("err = %v (message %q)", err, relink.ErrorMessage(err))
	}
	if _, n := api.calls(); n != 1 {
		t.Fatalf("%d sends, want 1", n)
	}
	if waits := sl.recorded(); len(waits) != 0 {
		t.Fatalf("waited %v, want no retry", waits)
	}
}

// TestPermanentAndUnavailable: refusals are invalid and outages unavailable, each
// after one send, with the SDK error as the cause and nothing of it — nor any
// address — in the message for people.
func TestPermanentAndUnavailable(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		code string
	}{
		{"MessageRejected", &types.MessageRejected{Message: aws.String("Email address is not verified: owner@brand.example")}, relink.EINVALID},
		{"MailFromDomainNotVerified", &types.MailFromDomainNotVerifiedException{Message: aws.String("brand.example")}, relink.EINVALID},
		{"ConfigurationSetDoesNotExist", &types.ConfigurationSetDoesNotExistException{ConfigurationSetName: aws.String("relink-events")}, relink.EINVALID},
		{"InvalidParameterValue", &smithy.GenericAPIError{Code: "InvalidParameterValue", Message: "Illegal address", Fault: smithy.FaultClient}, relink.EINVALID},
		{"other 4xx", statusErr(http.StatusForbidden), relink.EINVALID},
		{"account sending paused", &types.AccountSendingPausedException{Message: aws.String("paused")}, relink.EUNAVAILABLE},
		{"configuration set paused", &types.ConfigurationSetSendingPausedException{ConfigurationSetName: aws.String("relink-events")}, relink.EUNAVAILABLE},
		{"5xx", statusErr(http.StatusInternalServerError), relink.EUNAVAILABLE},
		{"server fault", &smithy.GenericAPIError{Code: "InternalFailure", Fault: smithy.FaultServer}, relink.EUNAVAILABLE},
		{"network", errors.New("dial tcp 127.0.0.1:1: connect: connection refused"), relink.EUNAVAILABLE},
	} {
		t.Run(tc.name, func(t *testing.T) {
			api := &fakeAPI{maxRate: 5, send: func(int) error { return tc.err }}
			s, sl := newSender(t, api, true, Config{})
			_, err := s.Send(context.Background(), message())
			wantCode(t, err, tc.code)
			if !errors.Is(err, tc.err) {
				t.Fatal("the SDK error is not kept as the cause")
			}
			if msg := relink.ErrorMessage(err); strings.Contains(msg, "@") || strings.Contains(msg, "brand") || strings.Contains(msg, "relink-events") {
				t.Fatalf("message for people %q carries internals", msg)
			}
			if _, n := api.calls(); n != 1 || len(sl.recorded()) != 0 {
				t.Fatalf("%d sends and waits %v, want one send and no retry", n, sl.recorded())
			}
		})
	}
	if msg := relink.ErrorMessage(classifyOnly(&types.MessageRejected{})); msg != "The email provider refused the message." {
		t.Fatalf("refusal message %q", msg)
	}
}

func classifyOnly(err error) error { _, e := classify(err); return e }

// TestCancelStopsBackoff: a context ending during a backoff — or too soon for the
// next one — stops the retries at once, as rate_limited with both causes.
func TestCancelStopsBackoff(t *testing.T) {
	sdkErr := throttled("Throttling")
	t.Run("cancelled while waiting", func(t *testing.T) {
		api := &fakeAPI{maxRate: 5, send: func(int) error { return sdkErr }}
		s, sl := newSender(t, api, true, Config{})
		ctx, cancel := context.WithCancel(context.Background())
		sl.hook = func(ctx context.Context) error { cancel(); <-ctx.Done(); return ctx.Err() }
		_, err := s.Send(ctx, message())
		wantCode(t, err, relink.ERATELIMIT)
		if !errors.Is(err, context.Canceled) || !errors.Is(err, sdkErr) {
			t.Fatalf("err = %v, want the cancellation and the throttling", err)
		}
		if _, n := api.calls(); n != 1 || len(sl.recorded()) != 1 {
			t.Fatalf("%d sends, %d waits; want 1 and 1", n, len(sl.recorded()))
		}
	})
	t.Run("deadline before the backoff ends", func(t *testing.T) {
		api := &fakeAPI{maxRate: 5}
		s, sl := newSender(t, api, true, Config{})
		if _, err := s.Send(context.Background(), message()); err != nil { // quota read, token taken
			t.Fatal(err)
		}
		sl.clk.Advance(time.Second) // the limiter has a token again
		api.set(func(f *fakeAPI) { f.send = func(int) error { return sdkErr } })
		// The shortest backoff is backoffBase/2; this deadline is sooner.
		ctx, cancel := context.WithTimeout(context.Background(), backoffBase/4)
		defer cancel()
		_, err := s.Send(ctx, message())
		wantCode(t, err, relink.ERATELIMIT)
		if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, sdkErr) {
			t.Fatalf("err = %v, want the deadline and the throttling", err)
		}
		if _, n := api.calls(); n != 2 || len(sl.recorded()) != 0 {
			t.Fatalf("%d sends, waits %v; want 2 and none", n, sl.recorded())
		}
	})
}

// sesWire is an httptest server speaking SES's query protocol: GetSendQuota answers
// MaxSendRate 14; SendEmail answers with the next scripted response (then success).
type sesWire struct {
	mu      sync.Mutex
	script  []wireAnswer
	sends   int
	quotaOK int
}

type wireAnswer struct {
	status        int
	code, message string
}

func (w *sesWire) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(rw, err.Error(), http.StatusBadRequest)
		return
	}
	rw.Header().Set("Content-Type", "text/xml")
	const ns = `xmlns="http://ses.amazonaws.com/doc/2010-12-01/"`
	w.mu.Lock()
	defer w.mu.Unlock()
	switch r.PostForm.Get("Action") {
	case "GetSendQuota":
		w.quotaOK++
		fmt.Fprintf(rw, `<GetSendQuotaResponse %s><GetSendQuotaResult><Max24HourSend>50000.0</Max24HourSend>`+
			`<MaxSendRate>14.0</MaxSendRate><SentLast24Hours>3.0</SentLast24Hours></GetSendQuotaResult>`+
			`<ResponseMetadata><RequestId>q</RequestId></ResponseMetadata></GetSendQuotaResponse>`, ns)
	case "SendEmail":
		w.sends++
		if len(w.script) > 0 {
			a := w.script[0]
			w.script = w.script[1:]
			if a.status != 0 {
				rw.WriteHeader(a.status)
				fmt.Fprintf(rw, `<ErrorResponse %s><Error><Type>Sender</Type><Code>%s</Code><Message>%s</Message></Error>`+
					`<RequestId>e</RequestId></ErrorResponse>`, ns, a.code, a.message)
				return
			}
		}
		fmt.Fprintf(rw, `<SendEmailResponse %s><SendEmailResult><MessageId>wire-%d</MessageId></SendEmailResult>`+
			`<ResponseMetadata><RequestId>s</RequestId></ResponseMetadata></SendEmailResponse>`, ns, w.sends)
	default:
		http.Error(rw, "unexpected action", http.StatusBadRequest)
	}
}

// TestSDKWire: SES's own error answers, parsed by the real SDK client (configured
// with 3 retries of its own), come out as the codes above, with exactly the
// attempts Send decides; the quota is parsed from the wire too.
func TestSDKWire(t *testing.T) {
	throttle := wireAnswer{400, "Throttling", "Maximum sending rate exceeded."}
	forever := make([]wireAnswer, 2*Attempts)
	for i := range forever {
		forever[i] = throttle
	}
	for _, tc := range []struct {
		name   string
		script []wireAnswer
		code   string // "" for success
		sends  int
		as     any
	}{
		{"success", nil, "", 1, nil},
		{"throttled then success", []wireAnswer{throttle, throttle}, "", 3, nil},
		{"throttled throughout", forever, relink.ERATELIMIT, Attempts, nil},
		{"daily quota", []wireAnswer{{400, "Throttling", "Daily message quota exceeded."}}, relink.ERATELIMIT, 1, nil},
		{"rejected", []wireAnswer{{400, "MessageRejected", "Email address is not verified."}}, relink.EINVALID, 1, new(*types.MessageRejected)},
		{"mail from not verified", []wireAnswer{{400, "MailFromDomainNotVerifiedException", "not verified"}}, relink.EINVALID, 1, new(*types.MailFromDomainNotVerifiedException)},
		{"configuration set missing", []wireAnswer{{400, "ConfigurationSetDoesNotExist", "no such set"}}, relink.EINVALID, 1, new(*types.ConfigurationSetDoesNotExistException)},
		{"internal failure", []wireAnswer{{500, "InternalFailure", "oops"}}, relink.EUNAVAILABLE, 1, nil},
		{"service unavailable", []wireAnswer{{503, "ServiceUnavailable", "down"}}, relink.EUNAVAILABLE, 1, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wire := &sesWire{script: tc.script}
			srv := httptest.NewServer(wire)
			defer srv.Close()
			client := awsses.NewFromConfig(standin.AWSConfig(srv.URL))
			s, sl := newSender(t, client, true, Config{ConfigurationSet: "relink-events"})
			id, err := s.Send(context.Background(), message())
			if tc.code == "" {
				if err != nil || !strings.HasPrefix(id, "wire-") {
					t.Fatalf("send = %q, %v", id, err)
				}
			} else {
				wantCode(t, err, tc.code)
			}
			if tc.as != nil && !errors.As(err, tc.as) {
				t.Fatalf("err = %v, want the SDK's %T as the cause", err, tc.as)
			}
			wire.mu.Lock()
			sends, quota := wire.sends, wire.quotaOK
			wire.mu.Unlock()
			if sends != tc.sends || quota != 1 {
				t.Fatalf("%d SendEmail and %d GetSendQuota requests, want %d and 1", sends, quota, tc.sends)
			}
			if got := s.limiter.Limit(); got != 14 {
				t.Fatalf("rate %v, want 14 from the wire", got)
			}
			if tc.sends > 1 {
				wantBackoffs(t, sl.recorded(), tc.sends-1)
			}
		})
	}
}
