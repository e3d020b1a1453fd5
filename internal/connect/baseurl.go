package connect

import (
	"context"
	"strings"

	"github.com/relinkhq/relink/internal/relink"
)

// CallbackPath is where channels send people back, under the public base URL.
const CallbackPath = "/oauth/callback"

type baseURLKey struct{}

// WithBaseURL records the public base URL a request arrived on. Behind API Gateway it
// is the API's own domain (which the gateway sets, not the client); the functions use
// it when no fixed URL is configured, since a function cannot be told its own API's
// URL without a dependency cycle in the template.
func WithBaseURL(ctx context.Context, base string) context.Context {
	return context.WithValue(ctx, baseURLKey{}, strings.TrimRight(base, "/"))
}

// BaseURL returns the configured base URL, or else the one the request arrived on.
func BaseURL(ctx context.Context, configured string) (string, error) {
	if configured != "" {
		return strings.TrimRight(configured, "/"), nil
	}
	if b, _ := ctx.Value(baseURLKey{}).(string); b != "" {
		return b, nil
	}
	return "", relink.Errorf(relink.EINTERNAL, "no public base URL is configured or known from the request")
}

// callbackURL is where this service's channels send people back.
func (s *Service) callbackURL(ctx context.Context) (string, error) {
	base, err := BaseURL(ctx, s.BaseURL)
	if err != nil {
		return "", err
	}
	return base + CallbackPath, nil
}
