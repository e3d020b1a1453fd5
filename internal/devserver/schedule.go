package devserver

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/relinkhq/relink/internal/checkup"
	"github.com/relinkhq/relink/internal/clock"
	"github.com/relinkhq/relink/internal/digest"
	"github.com/relinkhq/relink/internal/relink"
)

// scheduler runs the two scheduled functions locally, as EventBridge does in AWS: on
// a timer, and at once whenever the clock is moved, one run at a time.
type scheduler struct {
	checks    *checkup.Service
	reminders *digest.Service
	clock     *clock.Offset
	logger    *slog.Logger

	mu      sync.Mutex // one round at a time
	lastMu  sync.Mutex
	lastChk checkup.Summary
	lastRem digest.Summary
	lastErr string
	rounds  int
	movedBy time.Duration
}

// round runs the expiry check, then the reminders (so a disconnect found now is
// reminded of at once), each bounded by a minute as a Lambda's timeout would.
func (s *scheduler) round(ctx context.Context) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []string
	cctx, cancel := context.WithTimeout(ctx, time.Minute)
	chk, err := s.checks.Run(cctx)
	cancel()
	if err != nil {
		errs = append(errs, "expiry-check: "+err.Error())
		s.logger.ErrorContext(ctx, "local expiry-check run", "err", err)
	}
	rctx, cancel := context.WithTimeout(ctx, time.Minute)
	rem, err := s.reminders.Run(rctx)
	cancel()
	if err != nil {
		errs = append(errs, "reminders: "+err.Error())
		s.logger.ErrorContext(ctx, "local reminders run", "err", err)
	}
	s.lastMu.Lock()
	s.lastChk, s.lastRem, s.lastErr = chk, rem, strings.Join(errs, "; ")
	s.rounds++
	s.lastMu.Unlock()
}

// every runs a round every tick until ctx ends.
func (s *scheduler) every(ctx context.Context, tick time.Duration) {
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.round(ctx)
		}
	}
}

type clockPage struct {
	Now       time.Time
	MovedBy   time.Duration
	Rounds    int
	Checks    checkup.Summary
	Reminders digest.Summary
	Error     string
	Steps     []string
}

var clockSteps = map[string]time.Duration{"1h": time.Hour, "1d": 24 * time.Hour, "7d": 7 * 24 * time.Hour}

func (s *scheduler) page(h *handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.lastMu.Lock()
		p := clockPage{Now: s.clock.Now(), MovedBy: s.movedBy, Rounds: s.rounds, Checks: s.lastChk, Reminders: s.lastRem,
			Error: s.lastErr, Steps: []string{"1h", "1d", "7d"}}
		s.lastMu.Unlock()
		h.render(w, r, "clock.html", p)
	}
}

// move advances the clock by one of the steps (or not at all, for "run now") and runs
// a round at once, so what the move sets off can be watched.
func (s *scheduler) move(h *handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		by := r.FormValue("by")
		d, ok := clockSteps[by]
		if !ok && by != "0" {
			h.fail(w, r, relink.Errorf(relink.EINVALID, "Move the clock by 1h, 1d or 7d."))
			return
		}
		s.clock.Advance(d)
		s.lastMu.Lock()
		s.movedBy += d
		s.lastMu.Unlock()
		s.round(context.WithoutCancel(r.Context()))
		http.Redirect(w, r, "/dev/clock", http.StatusSeeOther)
	}
}
