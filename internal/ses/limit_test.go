package ses

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/smithy-go"
	"golang.org/x/time/rate"

	"github.com/relinkhq/relink/internal/relink"
)

// TestLimiterConcurrent: 20 goroutines sending at one frozen instant are scheduled
// 1/rate apart by the limiter — none two closer — after one shared quota read. If
// the quota cannot be read, the spacing is the 1 message/second fallback.
func TestLimiterConcurrent(t *testing.T) {
	for _, tc := range []struct {
		name     string
		api      *fakeAPI
		interval time.Duration
	}{
		{"account rate", &fakeAPI{maxRate: 5}, 200 * time.Millisecond},
		{"fractional rate", &fakeAPI{maxRate: 2.5}, 400 * time.Millisecond},
		{"quota unreadable", &fakeAPI{quotaErr: &smithy.GenericAPIError{Code: "AccessDenied"}}, time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The clock does not move and sleeps return at once: every reservation is
			// made at t0, so each one's wait is its place in the queue × the interval.
			s, sl := newSender(t, tc.api, false, Config{})
			const senders = 20
			var wg sync.WaitGroup
			errs := make(chan error, senders)
			start := make(chan struct{})
			for range senders {
				wg.Go(func() {
					<-start
					_, err := s.Send(context.Background(), message())
					errs <- err
				})
			}
			close(start)
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Fatalf("send: %v", err)
				}
			}
			if q, n := tc.api.calls(); q != 1 || n != senders {
				t.Fatalf("%d quota reads and %d sends, want 1 and %d", q, n, senders)
			}
			waits := sl.recorded()
			slices.Sort(waits)
			if len(waits) != senders-1 { // the first send finds the one token
				t.Fatalf("%d waits, want %d: %v", len(waits), senders-1, waits)
			}
			for i, w := range waits {
				if want := time.Duration(i+1) * tc.interval; absDiff(w, want) > time.Microsecond {
					t.Fatalf("wait %d = %v, want %v (all: %v)", i+1, w, want, waits)
				}
			}
		})
	}
}

func absDiff(a, b time.Duration) time.Duration {
	if a > b {
		return a - b
	}
	return b - a
}

// TestQuotaRefresh: the quota is read again after quotaRefresh, in the background
// with the old rate still in force; a failed refresh keeps the rate and is retried
// after quotaRetry.
func TestQuotaRefresh(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		api := &fakeAPI{maxRate: 5}
		s, sl := newSender(t, api, true, Config{})
		send := func() {
			t.Helper()
			if _, err := s.Send(context.Background(), message()); err != nil {
				t.Fatalf("send: %v", err)
			}
			synctest.Wait() // a refresh started by this send has finished
		}
		want := func(reads int, r rate.Limit) {
			t.Helper()
			if q, _ := api.calls(); q != reads {
				t.Fatalf("%d quota reads, want %d", q, reads)
			}
			if got := s.limiter.Limit(); got != r {
				t.Fatalf("rate %v, want %v", got, r)
			}
		}

		send()
		want(1, 5)
		sl.clk.Advance(quotaRefresh - time.Second)
		send()
		want(1, 5)

		api.set(func(f *fakeAPI) { f.maxRate = 10 })
		sl.clk.Advance(time.Second)
		send()
		want(2, 10)

		api.set(func(f *fakeAPI) { f.quotaErr = &smithy.GenericAPIError{Code: "Throttling"} })
		sl.clk.Advance(quotaRefresh)
		send()
		want(3, 10) // the known rate stays, not the fallback
		sl.clk.Advance(quotaRetry - time.Second)
		send()
		want(3, 10)
		sl.clk.Advance(time.Second)
		send()
		want(4, 10)
	})
}

// TestQuotaReadHangs: a quota read that never answers (as aws-ses-v2-local does)
// holds the first sends for quotaTimeout at most, then they go at the fallback
// rate; a sender that gives up meanwhile gets unavailable without failing the
// others.
func TestQuotaReadHangs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		api := &fakeAPI{quotaBlock: true}
		s, _ := newSender(t, api, true, Config{})

		ctx, cancel := context.WithCancel(context.Background())
		var quitter, waiter error
		var wg sync.WaitGroup
		wg.Go(func() { _, quitter = s.Send(ctx, message()) })
		wg.Go(func() { _, waiter = s.Send(context.Background(), message()) })
		synctest.Wait() // both wait on the one read
		cancel()
		synctest.Wait()
		if relink.ErrorCode(quitter) != relink.EUNAVAILABLE || !errors.Is(quitter, context.Canceled) {
			t.Fatalf("cancelled sender got %v, want unavailable (cancelled)", quitter)
		}
		if q, n := api.calls(); q != 1 || n != 0 {
			t.Fatalf("%d quota reads and %d sends before the timeout, want 1 and 0", q, n)
		}

		start := time.Now() // synctest's fake clock
		wg.Wait()
		if waiter != nil {
			t.Fatalf("waiting sender: %v", waiter)
		}
		if waited := time.Since(start); waited > quotaTimeout {
			t.Fatalf("held for %v, want at most quotaTimeout %v", waited, quotaTimeout)
		}
		if got := s.limiter.Limit(); got != fallbackRate {
			t.Fatalf("rate %v, want the fallback %v", got, fallbackRate)
		}
	})
}

// TestCancelGivesSlotBack: a sender that gives up while waiting for the limiter
// returns its slot, so the next one waits one interval, not two.
func TestCancelGivesSlotBack(t *testing.T) {
	api := &fakeAPI{maxRate: 1}
	s, sl := newSender(t, api, false, Config{})
	if _, err := s.Send(context.Background(), message()); err != nil { // takes the token
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	sl.hook = func(ctx context.Context) error { cancel(); return ctx.Err() }
	_, err := s.Send(ctx, message())
	wantCode(t, err, relink.ERATELIMIT)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want a cancellation", err)
	}
	sl.hook = nil
	if _, err := s.Send(context.Background(), message()); err != nil {
		t.Fatal(err)
	}
	if waits := sl.recorded(); !slices.Equal(waits, []time.Duration{time.Second, time.Second}) {
		t.Fatalf("waits = %v, want [1s 1s]", waits)
	}
	if _, n := api.calls(); n != 2 {
		t.Fatalf("%d sends, want 2", n)
	}
}

// TestFixedRateNeverReadsQuota: with MaxRate set, GetSendQuota is never called and the
// limiter runs at that rate.
func TestFixedRateNeverReadsQuota(t *testing.T) {
	api := &fakeAPI{}
	s, err := New(api, Config{From: "Relink <noreply@relink.example>", MaxRate: 7, Sleep: func(context.Context, time.Duration) error { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Send(context.Background(), message()); err != nil {
		t.Fatal(err)
	}
	api.mu.Lock()
	calls := api.quotaCalls
	api.mu.Unlock()
	if calls != 0 || float64(s.limiter.Limit()) != 7 {
		t.Fatalf("quota reads %d, rate %v", calls, s.limiter.Limit())
	}
}
