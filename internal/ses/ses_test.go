package ses

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awsses "github.com/aws/aws-sdk-go-v2/service/ses"
	"github.com/aws/aws-sdk-go-v2/service/ses/types"
	"github.com/aws/smithy-go"

	"github.com/relinkhq/relink/internal/mail"
	"github.com/relinkhq/relink/internal/relink"
	"github.com/relinkhq/relink/internal/standin"
)

func TestMain(m *testing.M) { standin.Main(m) }

// standinAPI is the SDK client on aws-ses-v2-local, which never answers
// GetSendQuota: that one call gets a fixed quota. TestQuotaFromMoto and TestSDKWire
// read real quotas through the SDK.
type standinAPI struct{ *awsses.Client }

func (standinAPI) GetSendQuota(context.Context, *awsses.GetSendQuotaInput, ...func(*awsses.Options)) (*awsses.GetSendQuotaOutput, error) {
	return &awsses.GetSendQuotaOutput{MaxSendRate: 14, Max24HourSend: 50000}, nil
}

// TestSendThroughStandIn: a message goes through the SDK to aws-ses-v2-local and
// reads back with the same sender, recipients, subject and both bodies.
func TestSendThroughStandIn(t *testing.T) {
	endpoint := standin.SESLocal(t)
	api := standinAPI{awsses.NewFromConfig(standin.AWSConfig(endpoint))}
	for _, tc := range []struct {
		name string
		cset string
		tags map[string]string
	}{
		{"plain", "", nil},
		{"tags and configuration set", "relink-events", map[string]string{"kind": "reminder", "workspace": "ws_1-a"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := New(api, Config{From: "Relink <noreply@relink.example>", ConfigurationSet: tc.cset})
			if err != nil {
				t.Fatal(err)
			}
			m := mail.Message{
				// aws-ses-v2-local keeps only the first address of each list (see
				// standin.SESLocal); TestSendInput covers several.
				To:      []string{"owner@brand.example"},
				Cc:      []string{"admin@brand.example"},
				Subject: fmt.Sprintf("Reconnect “Brand Page” — ação necessária (%s %d)", tc.name, time.Now().UnixNano()),
				Text:    "Reconnect here: https://relink.example/m/abc123\n\nRelink",
				HTML:    `<p>Reconnect <a href="https://relink.example/m/abc123">here</a>.</p><p>Relink — ✓</p>`,
				Tags:    tc.tags,
			}
			before := time.Now()
			id, err := s.Send(context.Background(), m)
			if err != nil {
				t.Fatalf("send: %v", err)
			}
			var got *standin.SESMessage
			for _, sm := range standin.SESMessages(t, endpoint, before) {
				if sm.MessageID == id {
					got = &sm
				}
			}
			if got == nil {
				t.Fatalf("message %q not in the stand-in's store", id)
			}
			for _, c := range []struct{ what, got, want string }{
				{"from", got.From, "Relink <noreply@relink.example>"},
				{"to", strings.Join(got.Destination.To, ","), "owner@brand.example"},
				{"cc", strings.Join(got.Destination.Cc, ","), "admin@brand.example"},
				{"bcc", strings.Join(got.Destination.Bcc, ","), ""},
				{"subject", got.Subject, m.Subject},
				{"text", got.Body.Text, m.Text},
				{"html", got.Body.HTML, m.HTML},
			} {
				if c.got != c.want {
					t.Errorf("%s = %q, want %q", c.what, c.got, c.want)
				}
			}
		})
	}
}

// TestQuotaFromMoto: the quota is read through the SDK from a server that answers
// GetSendQuota (moto, MaxSendRate 1) and sets the limiter.
func TestQuotaFromMoto(t *testing.T) {
	client := awsses.NewFromConfig(standin.AWSConfig(standin.Moto(t)))
	// moto refuses unverified senders, as the SES sandbox does.
	if _, err := client.VerifyEmailIdentity(context.Background(), &awsses.VerifyEmailIdentityInput{
		EmailAddress: aws.String("noreply@relink.example"),
	}); err != nil {
		t.Fatalf("verify: %v", err)
	}
	s, err := New(client, Config{From: "noreply@relink.example"})
	if err != nil {
		t.Fatal(err)
	}
	m := message()
	m.Tags = nil
	id, err := s.Send(context.Background(), m)
	if err != nil || id == "" {
		t.Fatalf("send = %q, %v", id, err)
	}
	if got := s.limiter.Limit(); got != 1 {
		t.Fatalf("rate = %v, want moto's MaxSendRate 1", got)
	}
}

// TestSendInput: the request carries both bodies in UTF-8, every recipient, the
// tags (sorted) and the configuration set, and turns the SDK's retries off.
func TestSendInput(t *testing.T) {
	api := &fakeAPI{maxRate: 14}
	s, _ := newSender(t, api, true, Config{From: "Relink <noreply@relink.example>", ConfigurationSet: "relink-events"})
	m := message()
	m.To = []string{"a@brand.example", "b@brand.example"}
	m.Cc = []string{"c@brand.example", "d@brand.example"}
	m.Tags = map[string]string{"workspace": "ws-1", "kind": "reminder", "A_b-9": "x"}
	id, err := s.Send(context.Background(), m)
	if err != nil || id != "fake-id" {
		t.Fatalf("send = %q, %v", id, err)
	}
	in := api.inputs[0]
	utf8 := func(what string, c *types.Content, want string) {
		t.Helper()
		if c == nil || aws.ToString(c.Data) != want || aws.ToString(c.Charset) != "UTF-8" {
			t.Errorf("%s = %+v, want %q in UTF-8", what, c, want)
		}
	}
	utf8("subject", in.Message.Subject, m.Subject)
	utf8("text", in.Message.Body.Text, m.Text)
	utf8("html", in.Message.Body.Html, m.HTML)
	if aws.ToString(in.Source) != "Relink <noreply@relink.example>" || aws.ToString(in.ConfigurationSetName) != "relink-events" {
		t.Errorf("source %q, configuration set %q", aws.ToString(in.Source), aws.ToString(in.ConfigurationSetName))
	}
	if !slices.Equal(in.Destination.ToAddresses, m.To) || !slices.Equal(in.Destination.CcAddresses, m.Cc) || in.Destination.BccAddresses != nil {
		t.Errorf("destination = %+v", in.Destination)
	}
	var tags []string
	for _, tag := range in.Tags {
		tags = append(tags, aws.ToString(tag.Name)+"="+aws.ToString(tag.Value))
	}
	if want := []string{"A_b-9=x", "kind=reminder", "workspace=ws-1"}; !slices.Equal(tags, want) {
		t.Errorf("tags = %v, want %v", tags, want)
	}

	// The options the SDK client would apply: its own retryer is replaced, even
	// when the client was configured with retries (standin.AWSConfig sets 3).
	opts := awsses.Options{Retryer: retry.NewStandard(), RetryMaxAttempts: 3}
	for _, fn := range api.optFns[0] {
		fn(&opts)
	}
	if _, ok := opts.Retryer.(aws.NopRetryer); !ok || opts.RetryMaxAttempts != 0 {
		t.Errorf("SDK retries not off: retryer %T, max attempts %d", opts.Retryer, opts.RetryMaxAttempts)
	}

	// Without a configuration set none is named.
	plain, _ := newSender(t, api, true, Config{})
	if _, err := plain.Send(context.Background(), message()); err != nil {
		t.Fatal(err)
	}
	if in := api.inputs[1]; in.ConfigurationSetName != nil {
		t.Errorf("configuration set %q named without one configured", *in.ConfigurationSetName)
	}
}

// TestInvalid: unsendable messages and configurations fail before any request.
func TestInvalid(t *testing.T) {
	for name, edit := range map[string]func(*mail.Message){
		"no recipient":      func(m *mail.Message) { m.To = nil },
		"no html body":      func(m *mail.Message) { m.HTML = "" },
		"bad tag name":      func(m *mail.Message) { m.Tags = map[string]string{"kind!": "reminder"} },
		"bad tag value":     func(m *mail.Message) { m.Tags = map[string]string{"kind": "a reminder"} },
		"empty tag value":   func(m *mail.Message) { m.Tags = map[string]string{"kind": ""} },
		"too long tag name": func(m *mail.Message) { m.Tags = map[string]string{strings.Repeat("k", maxTag+1): "x"} },
	} {
		t.Run(name, func(t *testing.T) {
			api := &fakeAPI{maxRate: 14}
			s, _ := newSender(t, api, true, Config{})
			m := message()
			edit(&m)
			_, err := s.Send(context.Background(), m)
			wantCode(t, err, relink.EINVALID)
			if q, n := api.calls(); q+n != 0 {
				t.Fatalf("%d quota reads and %d sends for an invalid message", q, n)
			}
		})
	}
	for name, cfg := range map[string]Config{
		"no sender":         {},
		"two-line sender":   {From: "Relink <noreply@relink.example>\r\nBcc: x@evil.example"},
		"blank sender line": {From: "  "},
	} {
		if _, err := New(&fakeAPI{}, cfg); relink.ErrorCode(err) != relink.EINVALID {
			t.Errorf("%s: New = %v, want invalid", name, err)
		}
	}
	if _, err := New(nil, Config{From: "noreply@relink.example"}); relink.ErrorCode(err) != relink.EINVALID {
		t.Errorf("no client: New = %v, want invalid", err)
	}
}

// TestLogs: a sent message logs its ID at debug level and nothing it carries;
// failures log nothing.
func TestLogs(t *testing.T) {
	var logs bytes.Buffer
	api := &fakeAPI{maxRate: 14}
	s, _ := newSender(t, api, true, Config{
		Logger: slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	m := message()
	if _, err := s.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "fake-id") {
		t.Fatalf("the message ID was not logged: %s", logs.String())
	}
	for _, secret := range []string{"secret-magic-token", "brand.example", "Brand Page", "reminder"} {
		if strings.Contains(logs.String(), secret) {
			t.Fatalf("the log holds %q: %s", secret, logs.String())
		}
	}

	logs.Reset()
	api.set(func(f *fakeAPI) {
		f.send = func(int) error {
			return &types.MessageRejected{Message: aws.String("Address blacklisted: owner@brand.example")}
		}
	})
	if _, err := s.Send(context.Background(), m); err == nil {
		t.Fatal("a rejected message was sent")
	}
	api.set(func(f *fakeAPI) {
		f.send = func(int) error {
			return &smithy.GenericAPIError{Code: "Throttling", Message: "Maximum sending rate exceeded."}
		}
	})
	if _, err := s.Send(context.Background(), m); err == nil {
		t.Fatal("a throttled message was sent")
	}
	if logs.Len() != 0 {
		t.Fatalf("failures were logged: %s", logs.String())
	}
}
