// Package secrets reads secrets — channel client secrets, the token key ring — from
// AWS Secrets Manager with an in-process cache, or from env/files in local mode.
package secrets

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/smithy-go"

	"github.com/relinkhq/relink/internal/clock"
	"github.com/relinkhq/relink/internal/relink"
)

const (
	// DefaultTTL is how long a value is served from the cache before a refresh.
	DefaultTTL = 5 * time.Minute
	// Grace is how long past its TTL a value is still served while refreshes fail,
	// so a Secrets Manager outage does not take the service down with it.
	Grace = time.Hour
	// retryAfterError spaces refreshes while serving stale, so a struggling
	// Secrets Manager is not asked on every call.
	retryAfterError = 30 * time.Second
	// fetchTimeout bounds a fetch, which runs detached from any one caller.
	fetchTimeout = 30 * time.Second
)

// Valuer returns the value of a named secret. Callers may keep or clear the slice.
type Valuer interface {
	Value(ctx context.Context, name string) ([]byte, error)
}

// API is the part of the Secrets Manager client the Manager uses.
type API interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

// Manager reads secrets from Secrets Manager and caches them per name. Concurrent
// misses for a name share one request. Safe for concurrent use.
type Manager struct {
	api API
	clk clock.Clock
	ttl time.Duration
	log *slog.Logger

	mu      sync.Mutex
	entries map[string]*entry
	flights map[string]*flight
}

type entry struct {
	value      []byte
	freshUntil time.Time // served without asking until then
	staleUntil time.Time // served when a refresh fails until then
}

// flight is one fetch in progress; waiters read val/err after done closes.
type flight struct {
	done chan struct{}
	val  []byte
	err  error
}

// NewManager returns a Manager over api. ttl <= 0 means DefaultTTL.
func NewManager(api API, clk clock.Clock, ttl time.Duration) *Manager {
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	if clk == nil {
		clk = clock.System{}
	}
	return &Manager{
		api: api, clk: clk, ttl: ttl, log: slog.Default(),
		entries: map[string]*entry{}, flights: map[string]*flight{},
	}
}

// WithLogger sets the logger for stale-serving warnings (never with a value). Call it
// before first use.
func (m *Manager) WithLogger(l *slog.Logger) *Manager {
	m.log = l
	return m
}

// Value returns the SecretString (or SecretBinary) of the secret called name.
func (m *Manager) Value(ctx context.Context, name string) ([]byte, error) {
	m.mu.Lock()
	if e := m.entries[name]; e != nil && m.clk.Now().Before(e.freshUntil) {
		v := bytes.Clone(e.value)
		m.mu.Unlock()
		return v, nil
	}
	f := m.flights[name]
	if f == nil {
		f = &flight{done: make(chan struct{})}
		m.flights[name] = f
		// Detached from ctx: one caller giving up must not fail the others waiting.
		go m.fetch(context.WithoutCancel(ctx), name, f)
	}
	m.mu.Unlock()

	select {
	case <-f.done:
		if f.err != nil {
			return nil, f.err
		}
		return bytes.Clone(f.val), nil
	case <-ctx.Done():
		return nil, relink.Wrap(ctx.Err(), relink.EUNAVAILABLE, "Reading secret %q was cancelled.", name)
	}
}

// fetch asks Secrets Manager, updates the cache and completes f.
func (m *Manager) fetch(ctx context.Context, name string, f *flight) {
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	val, err := m.get(ctx, name)

	m.mu.Lock()
	defer m.mu.Unlock()
	defer close(f.done)
	delete(m.flights, name)
	now := m.clk.Now()
	e := m.entries[name]
	switch {
	case err == nil:
		m.entries[name] = &entry{value: val, freshUntil: now.Add(m.ttl), staleUntil: now.Add(m.ttl + Grace)}
		f.val = val
	case e != nil && now.Before(e.staleUntil):
		e.freshUntil = now.Add(min(retryAfterError, m.ttl))
		f.val = e.value
		m.log.WarnContext(ctx, "secrets: refresh failed, serving cached value",
			"secret", name, "code", relink.ErrorCode(err), "error", err, "stale_until", e.staleUntil)
	default:
		f.err = err
	}
}

func (m *Manager) get(ctx context.Context, name string) ([]byte, error) {
	out, err := m.api.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(name)})
	if err != nil {
		return nil, classify(err, name)
	}
	switch {
	case out == nil:
	case out.SecretString != nil:
		return []byte(*out.SecretString), nil
	case out.SecretBinary != nil:
		return bytes.Clone(out.SecretBinary), nil
	}
	return nil, relink.Errorf(relink.EINTERNAL, "Secret %q has no value.", name)
}

// classify maps SDK errors to codes. AWS error responses never carry the secret
// value, so the cause is kept for logs.
func classify(err error, name string) error {
	var notFound *types.ResourceNotFoundException
	if errors.As(err, &notFound) {
		return relink.Wrap(err, relink.ENOTFOUND, "Secret %q not found.", name)
	}
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		switch apiErr.ErrorCode() {
		case "ThrottlingException", "Throttling", "TooManyRequestsException", "RequestLimitExceeded", "InternalServiceError":
			return relink.Wrap(err, relink.EUNAVAILABLE, "Secrets Manager is unavailable.")
		}
	}
	var status interface{ HTTPStatusCode() int }
	if errors.As(err, &status) {
		if status.HTTPStatusCode() >= 500 {
			return relink.Wrap(err, relink.EUNAVAILABLE, "Secrets Manager is unavailable.")
		}
		// Any other answer (access denied, decryption failure…) is a deployment fault.
		return relink.Wrap(err, relink.EINTERNAL, "Could not read secret %q.", name)
	}
	// No answer at all: network trouble or a timeout.
	return relink.Wrap(err, relink.EUNAVAILABLE, "Secrets Manager is unavailable.")
}
