package bench

// Issue #8 item 2: email throughput through the SES adapter (internal/ses) against
// aws-ses-v2-local, at a fixed MaxRate of 14/s (a new production account's rate) and
// 200/s. Many goroutines send at once, as the reminders run and the API functions do;
// the adapter's limiter must keep them at the limit — not above it (SES would throttle),
// not well below it (reminders would take longer than they need). The stand-in never
// throttles, so throttling errors here would be the adapter's own (its limiter); the
// stand-in's store is read back to check every message arrived once.

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	awsses "github.com/aws/aws-sdk-go-v2/service/ses"

	"github.com/relinkhq/relink/internal/mail"
	"github.com/relinkhq/relink/internal/relink"
	"github.com/relinkhq/relink/internal/ses"
	"github.com/relinkhq/relink/internal/standin"
)

// emailSeconds is how long each rate is held (RELINK_BENCH_EMAIL_SECONDS, default 10).
func emailSeconds() float64 {
	if v, err := strconv.ParseFloat(os.Getenv("RELINK_BENCH_EMAIL_SECONDS"), 64); err == nil && v > 0 {
		return v
	}
	return 10
}

const emailSenders = 32

func digestMessage(tb testing.TB, i int) mail.Message {
	m, err := mail.Compose("digest", mail.DigestLetter{Name: "Olivia", Workspace: "Acme Brands",
		Items: []mail.DigestItem{{Account: fmt.Sprintf("Acme %04d", i), Channel: "Facebook Pages", Owner: "Olivia", Kind: "disconnected",
			Why: "The account password was changed.", Breaks: "Publishing, engagement and reporting stop."}},
		URL: "https://relink.example/l/0123456789abcdef0123456789abcdef0123456789a", LinkExpiresAt: time.Now().Add(72 * time.Hour),
		Unsubscribe: "https://relink.example/unsubscribe?t=bench"}, []string{fmt.Sprintf("owner%04d@acme.example", i)}, nil)
	if err != nil {
		tb.Fatal(err)
	}
	m.Tags["kind"] = "reminder"
	return m
}

func BenchmarkEmail(b *testing.B) {
	endpoint := standin.SESLocal(b)
	for _, limit := range []float64{14, 200} {
		b.Run(fmt.Sprintf("limit=%g", limit), func(b *testing.B) {
			total := int(limit*emailSeconds()) + 1
			msgs := make([]mail.Message, total)
			for i := range msgs {
				msgs[i] = digestMessage(b, i)
			}
			var rateSum float64
			var latencySum time.Duration
			var throttled, failed int
			for range b.N {
				b.StopTimer()
				standin.SESClear(b, endpoint)
				// A fresh sender each time: its limiter starts with its one token.
				api := &timedSES{API: awsses.NewFromConfig(standin.AWSConfig(endpoint))}
				sender, err := ses.New(api,
					ses.Config{From: "Relink <noreply@relink.example>", MaxRate: limit, Logger: quietLogger()})
				if err != nil {
					b.Fatal(err)
				}
				since := time.Now().Add(-time.Second)
				next := make(chan int)
				var mu sync.Mutex
				done := make([]time.Time, 0, total)
				var wg sync.WaitGroup
				b.StartTimer()
				for range emailSenders {
					wg.Go(func() {
						for i := range next {
							_, err := sender.Send(context.Background(), msgs[i])
							at := time.Now()
							mu.Lock()
							switch {
							case err == nil:
								done = append(done, at)
							case relink.ErrorCode(err) == relink.ERATELIMIT:
								throttled++
							default:
								failed++
								b.Errorf("send: %v", err)
							}
							mu.Unlock()
						}
					})
				}
				for i := range total {
					next <- i
				}
				close(next)
				wg.Wait()
				b.StopTimer()
				if len(done) < 2 {
					b.Fatalf("%d sent", len(done))
				}
				// Sends are spaced 1/limit apart from the first: the rate between the
				// first and the last completion.
				first, last := done[0], done[0]
				for _, t := range done {
					first, last = minTime(first, t), maxTime(last, t)
				}
				rateSum += float64(len(done)-1) / last.Sub(first).Seconds()
				latencySum += api.mean()
				if got := len(standin.SESMessages(b, endpoint, since)); got != len(done) {
					b.Fatalf("the stand-in holds %d messages, the adapter sent %d", got, len(done))
				}
			}
			rate := rateSum / float64(b.N)
			b.ReportMetric(rate, "sent/s")
			b.ReportMetric(rate/limit, "rate/limit")
			b.ReportMetric(float64(throttled)/float64(b.N), "throttled")
			b.ReportMetric(float64(total), "messages")
			record(figure{Section: "email", Name: fmt.Sprintf("SES adapter send rate, MaxRate %g/s", limit), Value: rate, Unit: "msg/s",
				Baseline: limit, BaseName: "MaxRate", Goal: "ratio in [0.95,1.05]",
				Note: fmt.Sprintf("%d messages from %d goroutines, %d failed; the stand-in answered SendEmail in %.1f ms on average (%d senders carry at most %.0f/s)",
					total, emailSenders, failed, ms(latencySum/time.Duration(b.N)), emailSenders, float64(emailSenders)/(latencySum/time.Duration(b.N)).Seconds())})
			record(figure{Section: "email", Name: fmt.Sprintf("throttling errors, MaxRate %g/s", limit), Value: float64(throttled),
				Unit: "errors", Goal: "value == 0"})
		})
	}
}

// timedSES is the SES client, timing each SendEmail (the stand-in's answer time).
type timedSES struct {
	ses.API
	mu    sync.Mutex
	total time.Duration
	n     int
}

func (t *timedSES) SendEmail(ctx context.Context, in *awsses.SendEmailInput, opts ...func(*awsses.Options)) (*awsses.SendEmailOutput, error) {
	t0 := time.Now()
	out, err := t.API.SendEmail(ctx, in, opts...)
	d := time.Since(t0)
	t.mu.Lock()
	t.total += d
	t.n++
	t.mu.Unlock()
	return out, err
}

func (t *timedSES) mean() time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.n == 0 {
		return 0
	}
	return t.total / time.Duration(t.n)
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
