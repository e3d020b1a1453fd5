// Package mailbox is the dev mailbox: a mail.Sender that keeps every message in memory
// instead of sending it, and pages that list them with their links clickable. The
// local server (`make run`) and tests send through it; AWS sends through SES.
package mailbox

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/relinkhq/relink/internal/clock"
	"github.com/relinkhq/relink/internal/mail"
	"github.com/relinkhq/relink/internal/relink"
)

// Capacity bounds how many messages are kept; the oldest go first.
const Capacity = 1000

// Mail is one kept message.
type Mail struct {
	ID string
	At time.Time
	mail.Message
}

// Mailbox keeps messages. Safe for concurrent use.
type Mailbox struct {
	clk clock.Clock

	mu    sync.Mutex
	seq   int
	mails []Mail
	fail  map[string]error // recipient → error to answer with (fault injection)
}

var _ mail.Sender = (*Mailbox)(nil)

// New returns an empty mailbox reading the time from clk.
func New(clk clock.Clock) *Mailbox { return &Mailbox{clk: clk, fail: map[string]error{}} }

// Send keeps m, or answers with the failure injected for one of its recipients.
func (b *Mailbox) Send(ctx context.Context, m mail.Message) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	if err := m.Validate(); err != nil {
		return "", err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, to := range append(slices.Clone(m.To), m.Cc...) {
		if err, ok := b.fail[strings.ToLower(to)]; ok {
			return "", err
		}
	}
	b.seq++
	id := fmt.Sprintf("mail-%06d", b.seq)
	b.mails = append(b.mails, Mail{ID: id, At: b.clk.Now(), Message: m})
	if len(b.mails) > Capacity {
		b.mails = slices.Delete(b.mails, 0, len(b.mails)-Capacity)
	}
	return id, nil
}

// FailFor makes every message to or copied to address fail with err until Heal;
// a nil err fails with a throttling error, as SES would.
func (b *Mailbox) FailFor(address string, err error) {
	if err == nil {
		err = relink.Errorf(relink.ERATELIMIT, "The email provider is throttling; try again later.")
	}
	b.mu.Lock()
	b.fail[strings.ToLower(address)] = err
	b.mu.Unlock()
}

// Heal ends every injected failure.
func (b *Mailbox) Heal() {
	b.mu.Lock()
	clear(b.fail)
	b.mu.Unlock()
}

// All returns every kept message, newest first.
func (b *Mailbox) All() []Mail {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := slices.Clone(b.mails)
	slices.Reverse(out)
	return out
}

// To returns the messages addressed or copied to address, newest first.
func (b *Mailbox) To(address string) []Mail {
	var out []Mail
	for _, m := range b.All() {
		if slices.ContainsFunc(append(slices.Clone(m.Message.To), m.Cc...), func(a string) bool { return strings.EqualFold(a, address) }) {
			out = append(out, m)
		}
	}
	return out
}

// Get returns one message by ID.
func (b *Mailbox) Get(id string) (Mail, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, m := range b.mails {
		if m.ID == id {
			return m, nil
		}
	}
	return Mail{}, relink.Errorf(relink.ENOTFOUND, "No such email in the dev mailbox.")
}

// Clear forgets every message.
func (b *Mailbox) Clear() {
	b.mu.Lock()
	b.mails = nil
	b.mu.Unlock()
}
