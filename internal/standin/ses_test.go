package standin

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ses"
	"github.com/aws/aws-sdk-go-v2/service/ses/types"
)

// TestSESStandInChild asks for aws-ses-v2-local; it runs only as the child of the
// test below.
func TestSESStandInChild(t *testing.T) {
	if os.Getenv("RELINK_STANDIN_CHILD") != "ses" {
		return
	}
	SESLocal(t)
}

// TestMissingSESStandInSkipsOnlyOutsideCI: without node on PATH, asking for
// aws-ses-v2-local skips on a developer's machine and fails in CI.
func TestMissingSESStandInSkipsOnlyOutsideCI(t *testing.T) {
	run := func(ci string) (string, error) {
		cmd := exec.Command(os.Args[0], "-test.run=^TestSESStandInChild$", "-test.v")
		cmd.Env = []string{"RELINK_STANDIN_CHILD=ses", "PATH=/nonexistent", "CI=" + ci, "HOME=" + os.TempDir()}
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	out, err := run("true")
	if err == nil || !strings.Contains(out, "unavailable in CI") {
		t.Fatalf("with CI=true a missing stand-in must fail; got err=%v\n%s", err, out)
	}
	out, err = run("")
	if err != nil || !strings.Contains(out, "SKIP") {
		t.Fatalf("outside CI a missing stand-in must skip; got err=%v\n%s", err, out)
	}
}

// TestSESLocalStore: a message sent with the SDK reads back through SESMessages,
// filtered by time, and SESClear empties the store.
func TestSESLocalStore(t *testing.T) {
	endpoint := SESLocal(t)
	if !strings.HasPrefix(endpoint, "http://127.0.0.1:") {
		t.Fatalf("endpoint %q is not on loopback", endpoint)
	}
	client := ses.NewFromConfig(AWSConfig(endpoint))
	content := func(v string) *types.Content {
		return &types.Content{Data: aws.String(v), Charset: aws.String("UTF-8")}
	}
	before := time.Now()
	out, err := client.SendEmail(context.Background(), &ses.SendEmailInput{
		Source: aws.String("Relink <noreply@relink.example>"),
		Destination: &types.Destination{
			ToAddresses:  []string{"to1@example.com", "to2@example.com"},
			CcAddresses:  []string{"cc@example.com"},
			BccAddresses: []string{"bcc@example.com"},
		},
		Message: &types.Message{
			Subject: content("Stand-in check é"),
			Body:    &types.Body{Text: content("text body"), Html: content("<p>html body</p>")},
		},
	})
	if err != nil {
		t.Fatalf("send: %v", err)
	}

	var got *SESMessage
	for _, m := range SESMessages(t, endpoint, before) {
		if m.MessageID == *out.MessageId {
			got = &m
		}
	}
	if got == nil {
		t.Fatalf("message %s not in the store", *out.MessageId)
	}
	if got.From != "Relink <noreply@relink.example>" || got.Subject != "Stand-in check é" ||
		got.Body.Text != "text body" || got.Body.HTML != "<p>html body</p>" ||
		strings.Join(got.Destination.Cc, ",") != "cc@example.com" ||
		strings.Join(got.Destination.Bcc, ",") != "bcc@example.com" {
		t.Fatalf("stored message differs: %+v", *got)
	}
	// Documented on SESLocal: its v1 SendEmail drops every address after the first
	// of a list. If this fails, it no longer does: update SESLocal's comment.
	if strings.Join(got.Destination.To, ",") != "to1@example.com" {
		t.Fatalf("To = %q, want only the first address", got.Destination.To)
	}
	if got.At.Before(before.Truncate(time.Second)) || got.At.After(time.Now()) {
		t.Fatalf("At = %v, want between %v and now", got.At, before)
	}

	if later := SESMessages(t, endpoint, time.Now().Add(time.Hour)); len(later) != 0 {
		t.Fatalf("since an hour ahead: %d messages, want none", len(later))
	}
	SESClear(t, endpoint)
	if all := SESMessages(t, endpoint, time.Time{}); len(all) != 0 {
		t.Fatalf("after SESClear: %d messages, want none", len(all))
	}
}
