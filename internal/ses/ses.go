// Package ses sends Relink's email through Amazon SES (the v1 API): the mail.Sender
// used in AWS. It keeps under the account's maximum send rate, retries throttling with
// backoff, and maps SES errors to what the caller should do next.
package ses

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsses "github.com/aws/aws-sdk-go-v2/service/ses"
	"github.com/aws/aws-sdk-go-v2/service/ses/types"
	"github.com/aws/smithy-go"
	"golang.org/x/time/rate"

	"github.com/relinkhq/relink/internal/clock"
	"github.com/relinkhq/relink/internal/mail"
	"github.com/relinkhq/relink/internal/relink"
)

var _ mail.Sender = (*Sender)(nil)

const (
	// Attempts is how many times one message is sent to SES while SES throttles it.
	Attempts = 4
	// Backoff before retry n (1-based) is drawn from [d/2, d] with
	// d = min(backoffCap, backoffBase·2^(n-1)): 0.5 s, 1 s, 2 s at most — SES's rate
	// is per second, so waiting less than that rarely helps, and the total stays
	// well inside a Lambda invocation.
	backoffBase = 500 * time.Millisecond
	backoffCap  = 4 * time.Second

	// fallbackRate is the rate used when the quota was never read: the SES sandbox's
	// rate, which every account allows.
	fallbackRate = rate.Limit(1)
	// quotaRefresh is how long a quota read is trusted; AWS raises (or lowers) an
	// account's rate rarely.
	quotaRefresh = time.Hour
	// quotaRetry spaces quota reads while they fail.
	quotaRetry = 5 * time.Minute
	// quotaTimeout bounds a quota read, which runs detached from any one caller.
	quotaTimeout = 10 * time.Second

	charset = "UTF-8"
	maxTag  = 256 // SES: tag names and values at most 256 characters
)

// Client-safe messages. They never carry addresses (a message may have several
// recipients who must not learn of each other) or anything SES said.
const (
	msgRefused   = "The email provider refused the message."
	msgThrottled = "Too many emails are being sent right now; try again later."
	msgDaily     = "The daily email quota is used up; try again later."
	msgDown      = "The email provider is unavailable; try again later."
	msgPaused    = "Email sending is paused; try again later."
)

// API is the part of the SES client the Sender uses (*ses.Client implements it).
type API interface {
	SendEmail(ctx context.Context, in *awsses.SendEmailInput, optFns ...func(*awsses.Options)) (*awsses.SendEmailOutput, error)
	GetSendQuota(ctx context.Context, in *awsses.GetSendQuotaInput, optFns ...func(*awsses.Options)) (*awsses.GetSendQuotaOutput, error)
}

// Config configures a Sender.
type Config struct {
	// From is the verified sender identity, e.g. "Relink <noreply@relink.example>".
	From string
	// ConfigurationSet, when set, is named on every send (event publishing, IP pool).
	ConfigurationSet string
	// MaxRate, when above zero, is the send rate in messages per second, and the
	// account's quota is never read: for leaving headroom to other senders of the
	// account, or for stand-ins that do not answer GetSendQuota.
	MaxRate float64
	// Clock times the rate limiter and quota reads; nil means the system clock.
	Clock clock.Clock
	// Sleep waits d or until ctx ends (then returning ctx.Err()); nil means a timer.
	Sleep func(ctx context.Context, d time.Duration) error
	// Logger receives one debug line per sent message (its ID, never an address or a
	// body: bodies carry magic links). nil means slog.Default().
	Logger *slog.Logger
}

// Sender sends mail through SES. Safe for concurrent use; share one per process so
// every send goes through the same limiter.
//
// The limiter keeps one process under the account's rate. Several processes (Lambda
// instances) share the account's rate without knowing of each other; the throttling
// retries below absorb that.
type Sender struct {
	api   API
	from  string
	cset  string
	clk   clock.Clock
	sleep func(context.Context, time.Duration) error
	log   *slog.Logger
	// limiter has burst 1: sends are spaced 1/rate apart, so no one-second window
	// holds more than the rate.
	limiter *rate.Limiter

	fixed bool // MaxRate set: the quota is never read

	mu          sync.Mutex
	quotaKnown  bool          // the limiter's rate was set by a quota read (or its fallback)
	quotaNext   time.Time     // when to read the quota again
	quotaFlight chan struct{} // closed when the read in progress ends; nil when none
}

// New returns a Sender over api (an *ses.Client in production).
func New(api API, cfg Config) (*Sender, error) {
	if api == nil {
		return nil, relink.Errorf(relink.EINVALID, "The SES sender needs an SES client.")
	}
	if strings.TrimSpace(cfg.From) == "" || strings.ContainsAny(cfg.From, "\r\n") {
		return nil, relink.Errorf(relink.EINVALID, "The SES sender needs a one-line sender identity (From).")
	}
	s := &Sender{
		api: api, from: cfg.From, cset: cfg.ConfigurationSet,
		clk: cfg.Clock, sleep: cfg.Sleep, log: cfg.Logger,
		limiter: rate.NewLimiter(fallbackRate, 1),
	}
	if s.clk == nil {
		s.clk = clock.System{}
	}
	if cfg.MaxRate > 0 {
		s.limiter.SetLimit(rate.Limit(cfg.MaxRate))
		s.fixed = true
	}
	if s.sleep == nil {
		s.sleep = sleep
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	return s, nil
}

// Send sends m and returns the SES message ID.
func (s *Sender) Send(ctx context.Context, m mail.Message) (string, error) {
	if err := m.Validate(); err != nil {
		return "", err
	}
	in, err := s.input(m)
	if err != nil {
		return "", err
	}
	if err := s.awaitQuota(ctx); err != nil {
		return "", err
	}
	var last error // the last throttling answer, kept as a cause when waiting stops
	for attempt := 1; ; attempt++ {
		// Retries take a token too: a throttled process must not add to the pressure.
		if err := s.take(ctx); err != nil {
			return "", relink.Wrap(errors.Join(err, last), relink.ERATELIMIT, msgThrottled)
		}
		out, err := s.api.SendEmail(ctx, in, noSDKRetries)
		if err == nil {
			if out == nil || out.MessageId == nil {
				return "", relink.Errorf(relink.EINTERNAL, "The email provider gave no message ID.")
			}
			s.log.DebugContext(ctx, "ses: sent", "message_id", *out.MessageId, "attempts", attempt,
				"rate", float64(s.limiter.Limit()))
			return *out.MessageId, nil
		}
		retry, rerr := classify(err)
		if !retry || attempt == Attempts {
			return "", rerr
		}
		last = err
		if err := s.pause(ctx, backoff(attempt)); err != nil {
			return "", relink.Wrap(errors.Join(err, last), relink.ERATELIMIT, msgThrottled)
		}
	}
}

// noSDKRetries makes each SendEmail call exactly one HTTP request, so Send alone
// decides the attempts. The SDK's standard retryer would otherwise retry throttling
// inside each of our attempts (up to 3×4 requests, none of them waiting for the
// limiter), and retry 5xx and network errors, after which SES may already have
// accepted the message: a retry would send it twice.
func noSDKRetries(o *awsses.Options) {
	o.Retryer = aws.NopRetryer{}
	o.RetryMaxAttempts = 0 // non-zero would wrap the retryer again per operation
}

// input builds the SendEmail request for m.
func (s *Sender) input(m mail.Message) (*awsses.SendEmailInput, error) {
	content := func(v string) *types.Content {
		return &types.Content{Data: aws.String(v), Charset: aws.String(charset)}
	}
	in := &awsses.SendEmailInput{
		Source: aws.String(s.from),
		Destination: &types.Destination{
			ToAddresses: slices.Clone(m.To),
			CcAddresses: slices.Clone(m.Cc),
		},
		Message: &types.Message{
			Subject: content(m.Subject),
			Body:    &types.Body{Text: content(m.Text), Html: content(m.HTML)},
		},
	}
	if s.cset != "" {
		in.ConfigurationSetName = aws.String(s.cset)
	}
	names := make([]string, 0, len(m.Tags))
	for name := range m.Tags {
		names = append(names, name)
	}
	slices.Sort(names) // a stable request for the same message
	for _, name := range names {
		value := m.Tags[name]
		// SES would refuse these too, but only after a request and a token.
		if !tagText(name) {
			return nil, relink.Errorf(relink.EINVALID, "Email tag %q is not valid: use letters, digits, '_' and '-'.", name)
		}
		if !tagText(value) {
			return nil, relink.Errorf(relink.EINVALID, "The value of email tag %q is not valid: use letters, digits, '_' and '-'.", name)
		}
		in.Tags = append(in.Tags, types.MessageTag{Name: aws.String(name), Value: aws.String(value)})
	}
	return in, nil
}

// tagText reports whether v is a valid SES tag name or value.
func tagText(v string) bool {
	if v == "" || len(v) > maxTag {
		return false
	}
	for _, c := range v {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// awaitQuota reads the account's rate before the first send and re-reads it when
// stale. Only the first read is waited for; refreshes keep the previous rate until
// they finish.
func (s *Sender) awaitQuota(ctx context.Context) error {
	if s.fixed {
		return nil
	}
	s.mu.Lock()
	known := s.quotaKnown
	if s.quotaFlight == nil && !s.clk.Now().Before(s.quotaNext) {
		s.quotaFlight = make(chan struct{})
		// Detached from ctx: one caller giving up must not fail the others waiting.
		go s.readQuota(context.WithoutCancel(ctx), s.quotaFlight)
	}
	flight := s.quotaFlight
	s.mu.Unlock()
	if known || flight == nil {
		return nil
	}
	select {
	case <-flight:
		return nil
	case <-ctx.Done():
		return relink.Wrap(ctx.Err(), relink.EUNAVAILABLE, "Sending the email was cancelled.")
	}
}

// readQuota sets the limiter to the account's MaxSendRate. A failed first read falls
// back to fallbackRate; a failed refresh keeps the rate last read. Neither is
// logged: the adapter logs nothing but sent message IDs (the rate is on that line).
func (s *Sender) readQuota(ctx context.Context, done chan struct{}) {
	ctx, cancel := context.WithTimeout(ctx, quotaTimeout)
	defer cancel()
	// The SDK's own retries are welcome here: reading the quota has no side effect.
	out, err := s.api.GetSendQuota(ctx, &awsses.GetSendQuotaInput{})

	s.mu.Lock()
	defer s.mu.Unlock()
	defer close(done)
	now := s.clk.Now()
	s.quotaFlight = nil
	switch {
	case err == nil && out != nil && out.MaxSendRate > 0:
		s.limiter.SetLimitAt(now, rate.Limit(out.MaxSendRate))
		s.quotaNext = now.Add(quotaRefresh)
	case !s.quotaKnown:
		s.limiter.SetLimitAt(now, fallbackRate)
		s.quotaNext = now.Add(quotaRetry)
	default:
		s.quotaNext = now.Add(quotaRetry)
	}
	s.quotaKnown = true
}

// take waits for the limiter's next free slot.
func (s *Sender) take(ctx context.Context) error {
	now := s.clk.Now()
	r := s.limiter.ReserveN(now, 1)
	d := r.DelayFrom(now)
	if d <= 0 {
		return nil
	}
	if err := s.pause(ctx, d); err != nil {
		r.CancelAt(s.clk.Now()) // give the slot back to the senders behind us
		return err
	}
	return nil
}

// pause waits d, unless ctx ends first or would end before d is up.
func (s *Sender) pause(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < d {
		return context.DeadlineExceeded
	}
	return s.sleep(ctx, d)
}

// backoff returns the wait before retry n (1-based), with jitter so that throttled
// senders do not come back in step.
func backoff(n int) time.Duration {
	d := min(backoffCap, backoffBase<<(n-1))
	return d/2 + rand.N(d/2+1)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// classify maps an SES error to a Relink error and whether to retry it. The SDK
// error is kept as the cause (for logs); SES error texts never reach the message.
func classify(err error) (retry bool, _ *relink.Error) {
	var apiErr smithy.APIError
	isAPI := errors.As(err, &apiErr)
	if isAPI {
		switch apiErr.ErrorCode() {
		case "Throttling", "ThrottlingException", "MaxSendingRateExceeded":
			// SES answers both the per-second rate and the 24-hour quota with
			// "Throttling"; only the text tells them apart. The daily quota will not
			// free up within any backoff.
			if strings.Contains(strings.ToLower(apiErr.ErrorMessage()), "daily message quota") {
				return false, relink.Wrap(err, relink.ERATELIMIT, msgDaily)
			}
			return true, relink.Wrap(err, relink.ERATELIMIT, msgThrottled)
		case "AccountSendingPausedException", "ConfigurationSetSendingPausedException":
			// Client faults, but not this message's: the same message succeeds once
			// sending is resumed.
			return false, relink.Wrap(err, relink.EUNAVAILABLE, msgPaused)
		}
	}
	var status interface{ HTTPStatusCode() int }
	if errors.As(err, &status) {
		switch code := status.HTTPStatusCode(); {
		case code == 429:
			return true, relink.Wrap(err, relink.ERATELIMIT, msgThrottled)
		case code >= 500:
			return false, relink.Wrap(err, relink.EUNAVAILABLE, msgDown)
		case code >= 400:
			return false, relink.Wrap(err, relink.EINVALID, msgRefused)
		}
	}
	if isAPI {
		if apiErr.ErrorFault() == smithy.FaultServer {
			return false, relink.Wrap(err, relink.EUNAVAILABLE, msgDown)
		}
		// MessageRejected, MailFromDomainNotVerifiedException,
		// ConfigurationSetDoesNotExist, InvalidParameterValue…: SES answered no.
		return false, relink.Wrap(err, relink.EINVALID, msgRefused)
	}
	// No answer at all: network trouble, a timeout or cancellation. Not retried:
	// SES may have accepted the message before the connection broke.
	return false, relink.Wrap(err, relink.EUNAVAILABLE, msgDown)
}
