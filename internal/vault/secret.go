package vault

import (
	"fmt"
	"io"
	"log/slog"
)

// redacted is what every formatting, encoding and logging path shows for a Secret.
const redacted = "[redacted]"

// Secret is a token or other secret value. It prints, marshals and logs as
// "[redacted]", so it cannot leak through fmt, JSON or slog by accident; Reveal is
// the one explicit way to read it.
//
// The guard works through methods, so it needs an exported field (or a direct
// value): fmt cannot call methods on unexported struct fields and would print those
// raw, and encoding/json writes string-kind map keys as they are. Keep secrets in
// exported fields or map values, or pass them on their own.
type Secret string

// Reveal returns the secret value. Call it only where the value must leave the
// process (an HTTP request to a channel, the vault's sealed payload).
func (s Secret) Reveal() string { return string(s) }

func (Secret) String() string   { return redacted }
func (Secret) GoString() string { return redacted }

// Format covers every verb (%d, %x, %q, bad verbs…): fmt's fallbacks for verbs a
// Stringer does not handle would otherwise print the raw string.
func (Secret) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, redacted) }

func (Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }
func (Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }
func (Secret) LogValue() slog.Value         { return slog.StringValue(redacted) }

var (
	_ fmt.Stringer   = Secret("")
	_ fmt.GoStringer = Secret("")
	_ fmt.Formatter  = Secret("")
	_ slog.LogValuer = Secret("")
)
