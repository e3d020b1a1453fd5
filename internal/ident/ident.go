// Package ident generates identifiers. Generators are injected so that tests get
// predictable IDs and production gets sortable, unguessable ones.
package ident

import (
	"crypto/rand"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/oklog/ulid/v2"
)

// Generator returns a new unique identifier on each call.
type Generator interface {
	New() string
}

// ULID generates lower-case ULIDs: time-ordered (so audit events and listings sort by
// creation) with 80 random bits from crypto/rand. Safe for concurrent use.
type ULID struct {
	mu      sync.Mutex
	entropy *ulid.MonotonicEntropy
	now     func() time.Time
}

// NewULID returns a ULID generator that reads the time from now.
func NewULID(now func() time.Time) *ULID {
	return &ULID{entropy: ulid.Monotonic(rand.Reader, 0), now: now}
}

func (g *ULID) New() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	id, err := ulid.New(ulid.Timestamp(g.now()), g.entropy)
	if err != nil {
		// Monotonic entropy overflows only after 2^80 IDs in one millisecond, and
		// crypto/rand does not fail on supported platforms; fall back to fresh entropy.
		id = ulid.MustNew(ulid.Timestamp(g.now()), rand.Reader)
	}
	return strings.ToLower(id.String())
}

// Sequence generates prefix-0001, prefix-0002, … for tests.
type Sequence struct {
	Prefix string
	n      atomic.Int64
}

func (s *Sequence) New() string {
	return fmt.Sprintf("%s%04d", s.Prefix, s.n.Add(1))
}
