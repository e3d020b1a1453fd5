package faults

// Fault 3: SES throttles and refuses. Fault 6a: the process dies between the
// provider accepting a reminder and the run recording it.

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/relinkhq/relink/internal/digest"
	"github.com/relinkhq/relink/internal/mail"
	"github.com/relinkhq/relink/internal/reminder"
	"github.com/relinkhq/relink/internal/ses"
	"github.com/relinkhq/relink/internal/standin"
	"github.com/relinkhq/relink/internal/store"
	"github.com/relinkhq/relink/internal/workspace"
)

// owners returns n owners o1…on of the workspace.
func owners(n int) []person {
	out := make([]person, n)
	for i := range out {
		out[i] = person{fmt.Sprintf("u-o%d", i+1), fmt.Sprintf("Owner %d", i+1), fmt.Sprintf("o%d@acme.example", i+1), workspace.RoleOwner, false}
	}
	return out
}

// stepKey is the key of the one reminder step due for a freshly disconnected account.
func stepKey(t *testing.T, st store.Store, id string, at time.Time) string {
	t.Helper()
	a, err := st.GetAccount(context.Background(), ws, id)
	if err != nil {
		t.Fatal(err)
	}
	steps := reminder.Due(a, workspace.DefaultSettings(), nil, at)
	if len(steps) == 0 {
		t.Fatalf("%s: no reminder step due", id)
	}
	return steps[0].Key
}

// TestSESThrottlingAndRefusal: SES throttles the first message of a run on every
// attempt and every other request after, and refuses one address for good
// (MessageRejected). The adapter retries throttling with growing backoffs; the
// message throttled four times fails and is released; the refused address is
// recorded as rejected. The next run sends only the released message, the refused
// address is never tried again, and across the runs each person has exactly one
// email.
func TestSESThrottlingAndRefusal(t *testing.T) {
	start := time.Now()
	clk := newManual()
	tb := newTable(t, clk)
	c := newChannel(t, clk)
	sesURL := standin.SESLocal(t)
	standin.SESClear(t, sesURL)
	people := owners(8)
	bounce := person{"u-bounce", "Bea Bounce", "bounce@acme.example", workspace.RoleOwner, false}
	seedWorkspace(t, tb.clean, ws, "Acme Brands", append([]person{pat, ada, bounce}, people...)...)
	var want []string
	for i, o := range append(slices.Clone(people), bounce) {
		for j := range 2 {
			id := fmt.Sprintf("d%d", 2*i+j)
			if _, err := addDisconnected(tb.clean, clk, ws, id, o.id); err != nil {
				t.Fatal(err)
			}
			if o != bounce {
				want = append(want, o.email+" "+id)
			}
		}
	}
	f := newSESFaults()
	f.reject[bounce.email] = true
	var storm string
	f.set(func(n int, to string) bool {
		if storm == "" {
			storm = to // the run's first message: throttled on every attempt
		}
		return to == storm || n%2 == 1
	})
	sl := &sleeps{}
	sender := sesSender(t, sesURL, f, 50, sl)
	logs := &syncBuffer{}
	run := func() digest.Summary {
		t.Helper()
		sum, err := digestService(c.reg, tb.open(nil), clk, sender, logs).Run(context.Background())
		if err != nil || !sum.Complete {
			t.Fatalf("run: %+v %v", sum, err)
		}
		return sum
	}

	sum1 := run()
	if sum1.Counts[digest.CountEmails] != 7 || sum1.Counts[digest.CountItems] != 14 || sum1.Counts[digest.CountFailed] != 2 ||
		sum1.Counts[digest.CountRejected] != 2 {
		t.Fatalf("run 1: %v", sum1.Counts)
	}
	f.mu.Lock()
	stormTries, stormSent, bounceTries, throttled1 := f.attempts[storm], f.accepted[storm], f.attempts[bounce.email], f.throttle
	f.mu.Unlock()
	if stormTries != ses.Attempts || stormSent != 0 || bounceTries != 1 {
		t.Fatalf("the throttled message was tried %d times (%d accepted), the refused one %d", stormTries, stormSent, bounceTries)
	}
	// Backoffs: three growing ones for the message throttled throughout (0.25–0.5 s,
	// 0.5–1 s, 1–2 s; its fourth answer ends it), one of the first kind for each
	// message throttled once.
	backoffs := sl.backoffs()
	if len(backoffs) != throttled1-1 {
		t.Fatalf("%d backoffs for %d throttled answers: %v", len(backoffs), throttled1, backoffs)
	}
	for _, d := range backoffs {
		if d < 250*time.Millisecond || d > 2*time.Second {
			t.Fatalf("backoff %v out of the adapter's range", d)
		}
	}
	if !slices.ContainsFunc(backoffs, func(d time.Duration) bool { return d >= time.Second }) {
		t.Fatalf("no grown backoff among %v", backoffs)
	}
	if got := standin.SESMessages(t, sesURL, time.Time{}); len(got) != 7 || slices.ContainsFunc(got, func(m standin.SESMessage) bool {
		return strings.EqualFold(m.Destination.To[0], storm) || strings.EqualFold(m.Destination.To[0], bounce.email)
	}) {
		t.Fatalf("after run 1 the stand-in holds %d messages", len(got))
	}
	// The refused address is settled as rejected: its reminders are done, not retried.
	for _, id := range []string{"d16", "d17"} {
		rec, err := tb.clean.GetSend(context.Background(), stepKey(t, tb.clean, id, t0)+"#"+bounce.id)
		if err != nil || rec.State != store.SendSent || rec.MessageID != "rejected" {
			t.Fatalf("%s to the refused address: %+v %v", id, rec, err)
		}
	}

	// Run 2: still throttling every other request. Only the released message goes.
	f.set(func(n int, _ string) bool { return n%2 == 1 })
	clk.Advance(15 * time.Minute)
	sum2 := run()
	if sum2.Counts[digest.CountEmails] != 1 || sum2.Counts[digest.CountItems] != 2 || sum2.Counts[digest.CountFailed] != 0 ||
		sum2.Counts[digest.CountRejected] != 0 || sum2.Counts[digest.CountAccounts] != 2 {
		t.Fatalf("run 2: %v", sum2.Counts)
	}
	clk.Advance(15 * time.Minute)
	if sum3 := run(); sum3.Counts[digest.CountEmails] != 0 || sum3.Counts[digest.CountAccounts] != 0 {
		t.Fatalf("run 3: %v", sum3.Counts)
	}
	f.mu.Lock()
	bounceTries, stormSent = f.attempts[bounce.email], f.accepted[storm]
	requests, throttledAll, rejectedAll := f.n, f.throttle, f.rejected
	f.mu.Unlock()
	if bounceTries != 1 || stormSent != 1 {
		t.Fatalf("the refused address was tried %d times; the released message accepted %d times", bounceTries, stormSent)
	}
	exactlyOnce(t, tally(t, standin.SESMessages(t, sesURL, time.Time{})), want)
	t.Logf("runs: %v / %v; %d SendEmail requests, %d throttled, %d refused; backoffs %v (%v)",
		sum1.Counts, sum2.Counts, requests, throttledAll, rejectedAll, sl.backoffs(), time.Since(start).Round(time.Millisecond))
}

// crashing is the real SES adapter behind a switch that plays a process dying in the
// middle of a reminder send: once armed, the next message either reaches SES first
// (the provider accepted it; the run never learns so) or dies just before it does.
// Either way the run's context is cancelled at once, as if the process were gone:
// nothing after that point is recorded.
type crashing struct {
	next mail.Sender

	mu       sync.Mutex
	armed    bool
	accepted bool
	cancel   context.CancelFunc
	victims  []string // the recipient of each crash
}

func (c *crashing) Send(ctx context.Context, m mail.Message) (string, error) {
	c.mu.Lock()
	armed, accepted, cancel := c.armed, c.accepted, c.cancel
	if armed {
		c.armed = false
		c.victims = append(c.victims, strings.ToLower(m.To[0]))
	}
	c.mu.Unlock()
	if !armed {
		return c.next.Send(ctx, m)
	}
	if accepted {
		if _, err := c.next.Send(ctx, m); err != nil {
			return "", err
		}
	}
	cancel()
	return "", ctx.Err()
}

func (c *crashing) arm(accepted bool, cancel context.CancelFunc) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.armed, c.accepted, c.cancel = true, accepted, cancel
}

func (c *crashing) victim(i int) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.victims[i]
}

// TestCrashBetweenSendAndRecord: a run dies mid-send. Its claim stays "sending":
// a run minutes later (a retried invocation) leaves it alone, since that run might
// still be sending; once the claim is older than any run lives (digest.StaleClaim)
// it counts as uncertain and is never sent again.
//
// The trade-off: after such a crash Relink cannot know whether the provider took the
// message. Sending again risks a duplicate, not sending risks a missed email. Relink
// chooses the missed email — a duplicate cannot be taken back, while a missed step is
// recovered by the next one (the exponential series mails again a day later) and the
// owner can ask for a link at any time. Here the first run dies after SES accepted
// its first email (that person got it once: no duplicate), the second run just before
// SES got its first (that person misses step 1 and gets step 2 a day later, like
// everyone else, once).
func TestCrashBetweenSendAndRecord(t *testing.T) {
	start := time.Now()
	clk := newManual()
	tb := newTable(t, clk)
	c := newChannel(t, clk)
	sesURL := standin.SESLocal(t)
	standin.SESClear(t, sesURL)
	people := owners(3)
	seedWorkspace(t, tb.clean, ws, "Acme Brands", append([]person{pat}, people...)...)
	accountOf := map[string]string{} // email → account
	byEmail := map[string]person{}
	for i, o := range people {
		id := fmt.Sprintf("d%d", i+1)
		if _, err := addDisconnected(tb.clean, clk, ws, id, o.id); err != nil {
			t.Fatal(err)
		}
		accountOf[o.email], byEmail[o.email] = id, o
	}
	sender := &crashing{next: sesSender(t, sesURL, nil, 50, nil)}
	logs := &syncBuffer{}
	run := func(ctx context.Context) digest.Summary {
		t.Helper()
		sum, err := digestService(c.reg, tb.open(nil), clk, sender, logs).Run(ctx)
		if err != nil {
			t.Fatalf("run: %+v %v", sum, err)
		}
		return sum
	}
	mails := func(email string) int {
		n := 0
		for _, m := range standin.SESMessages(t, sesURL, time.Time{}) {
			if strings.EqualFold(m.Destination.To[0], email) {
				n++
			}
		}
		return n
	}
	claim := func(email string) store.Send {
		t.Helper()
		rec, err := tb.clean.GetSend(context.Background(), stepKey(t, tb.clean, accountOf[email], t0)+"#"+byEmail[email].id)
		if err != nil {
			return store.Send{}
		}
		return rec
	}

	// Run 1 dies right after SES accepted its first email.
	ctx, cancel := context.WithCancel(context.Background())
	sender.arm(true, cancel)
	sum1 := run(ctx)
	cancel()
	v1 := sender.victim(0)
	if mails(v1) != 1 || claim(v1).State != store.SendSending || len(standin.SESMessages(t, sesURL, time.Time{})) != 1 {
		t.Fatalf("after the crash: %d emails to %s, claim %+v (run 1: %v)", mails(v1), v1, claim(v1), sum1.Counts)
	}
	// Run 2, a minute later, dies just before its first email reaches SES. The first
	// crash's claim is fresh — that run might still be sending — so it is left open.
	clk.Advance(time.Minute)
	ctx, cancel = context.WithCancel(context.Background())
	sender.arm(false, cancel)
	sum2 := run(ctx)
	cancel()
	v2 := sender.victim(1)
	if v2 == v1 || sum2.Counts[digest.CountTaken] != 1 || mails(v1) != 1 || mails(v2) != 0 || claim(v2).State != store.SendSending {
		t.Fatalf("run 2: %v; %s %d emails, %s %d", sum2.Counts, v1, mails(v1), v2, mails(v2))
	}
	var rest string
	for _, o := range people {
		if o.email != v1 && o.email != v2 {
			rest = o.email
		}
	}

	// Run 3, fifteen minutes after the first crash: its claim is stale (uncertain,
	// never re-sent), the second is not yet; the third person gets theirs.
	clk.Advance(digest.StaleClaim - time.Minute)
	sum3 := run(context.Background())
	if sum3.Counts[digest.CountUncertain] != 1 || sum3.Counts[digest.CountTaken] != 1 || sum3.Counts[digest.CountEmails] != 1 ||
		mails(v1) != 1 || mails(v2) != 0 || mails(rest) != 1 {
		t.Fatalf("run 3: %v; %d, %d, %d emails", sum3.Counts, mails(v1), mails(v2), mails(rest))
	}
	// Run 4: the second crash's claim is stale too. Nothing is sent again; every step
	// is settled.
	clk.Advance(time.Minute)
	sum4 := run(context.Background())
	if sum4.Counts[digest.CountUncertain] != 1 || sum4.Counts[digest.CountEmails] != 0 || mails(v2) != 0 {
		t.Fatalf("run 4: %v", sum4.Counts)
	}
	clk.Advance(15 * time.Minute)
	if sum := run(context.Background()); sum.Counts[digest.CountAccounts] != 0 || sum.Counts[digest.CountEmails] != 0 {
		t.Fatalf("run 5: %v", sum.Counts)
	}
	if claim(v1).State != store.SendSending || claim(v2).State != store.SendSending || claim(rest).State != store.SendSent {
		t.Fatalf("claims: %+v %+v %+v", claim(v1), claim(v2), claim(rest))
	}
	// A day on, step 2 reaches all three, once each: the missed step is recovered.
	clk.Set(t0.Add(24*time.Hour + 5*time.Minute))
	sum6 := run(context.Background())
	if sum6.Counts[digest.CountEmails] != 3 || sum6.Counts[digest.CountItems] != 3 {
		t.Fatalf("step 2: %v", sum6.Counts)
	}
	if mails(v1) != 2 || mails(v2) != 1 || mails(rest) != 2 {
		t.Fatalf("after step 2: %d, %d, %d emails", mails(v1), mails(v2), mails(rest))
	}
	t.Logf("runs: %v / %v / %v / %v / %v (%v)", sum1.Counts, sum2.Counts, sum3.Counts, sum4.Counts, sum6.Counts,
		time.Since(start).Round(time.Millisecond))
}
