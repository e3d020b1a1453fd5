package ses

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsses "github.com/aws/aws-sdk-go-v2/service/ses"

	"github.com/relinkhq/relink/internal/clock"
)

// benchAPI answers at once and keeps nothing, so only the adapter is measured.
type benchAPI struct{}

var benchOut = &awsses.SendEmailOutput{MessageId: aws.String("bench-id")}

func (benchAPI) SendEmail(context.Context, *awsses.SendEmailInput, ...func(*awsses.Options)) (*awsses.SendEmailOutput, error) {
	return benchOut, nil
}

func (benchAPI) GetSendQuota(context.Context, *awsses.GetSendQuotaInput, ...func(*awsses.Options)) (*awsses.GetSendQuotaOutput, error) {
	return &awsses.GetSendQuotaOutput{MaxSendRate: 1e12}, nil // never makes a send wait
}

// BenchmarkSend measures the adapter's own cost per message: validation, request
// building, the quota check and the limiter.
func BenchmarkSend(b *testing.B) {
	s, err := New(benchAPI{}, Config{
		From:  "Relink <noreply@relink.example>",
		Clock: clock.System{},
		Sleep: func(context.Context, time.Duration) error { return nil },
	})
	if err != nil {
		b.Fatal(err)
	}
	m := message()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Send(ctx, m); err != nil {
			b.Fatal(err)
		}
	}
}
