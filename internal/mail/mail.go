// Package mail is the email port: what Relink sends (reminders, invite codes, new
// links) and the one interface every sender implements — SES in AWS, the dev mailbox
// in `make run` and tests.
package mail

import (
	"context"
	"strings"

	"github.com/relinkhq/relink/internal/relink"
)

// Message is one email. Every message carries both an HTML and a text body.
type Message struct {
	To      []string
	Cc      []string
	Subject string
	Text    string
	HTML    string
	// Tags label the message for the provider's event tracking (SES message tags),
	// e.g. "kind": "reminder". Names and values: letters, digits, '_' and '-'.
	Tags map[string]string
}

// Sender sends a message and returns the provider's message ID.
//
// Errors tell the caller what to do next: ERATELIMIT or EUNAVAILABLE mean "try again
// later" (throttling, an outage); EINVALID means the provider refused this message for
// good (a rejected address), so retrying the same message is pointless.
type Sender interface {
	Send(ctx context.Context, m Message) (string, error)
}

// Limits that keep a message inside what every provider accepts.
const (
	MaxRecipients = 50 // SES: 50 recipients per message, To, Cc and Bcc together
	maxSubject    = 998
)

// Validate reports the first thing that makes m unsendable.
func (m Message) Validate() error {
	if len(m.To) == 0 {
		return relink.Errorf(relink.EINVALID, "An email needs at least one recipient.")
	}
	if len(m.To)+len(m.Cc) > MaxRecipients {
		return relink.Errorf(relink.EINVALID, "An email can have at most %d recipients.", MaxRecipients)
	}
	for _, a := range append(append([]string(nil), m.To...), m.Cc...) {
		if strings.TrimSpace(a) == "" || strings.ContainsAny(a, "\r\n,;<>") {
			return relink.Errorf(relink.EINVALID, "%q is not a valid recipient.", a)
		}
	}
	if strings.TrimSpace(m.Subject) == "" || len(m.Subject) > maxSubject || strings.ContainsAny(m.Subject, "\r\n") {
		return relink.Errorf(relink.EINVALID, "An email needs a one-line subject.")
	}
	if m.Text == "" || m.HTML == "" {
		return relink.Errorf(relink.EINVALID, "An email needs both a text and an HTML body.")
	}
	return nil
}
