// Package consent holds a pending OAuth consent: someone was sent to a channel's consent
// screen and is expected back at the callback with the same state, once, within ten
// minutes. The state value itself is never stored, only its hash.
package consent

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"time"

	"github.com/relinkhq/relink/internal/relink"
)

// TTL is how long a consent may take (DESIGN.md: 10 minutes).
const TTL = 10 * time.Minute

// State is a pending consent as stored.
type State struct {
	Hash        string // hex SHA-256 of the state parameter
	WorkspaceID string
	UserID      string // who started it: the account owner, or an admin re-adding
	Channel     string
	AccountID   string // the account to re-add in place; "" to connect new accounts
	LinkHash    string // the magic link the flow started from, if any
	// Verifier is the PKCE code verifier. It is useless without the authorization code,
	// which only reaches the callback, and it lives ten minutes.
	Verifier  string
	CreatedAt time.Time
	ExpiresAt time.Time
}

const stateBytes = 32

// New makes a pending consent: the state parameter for the consent URL and the State
// to store.
func New(s State, now time.Time, random io.Reader) (string, State, error) {
	if s.WorkspaceID == "" || s.UserID == "" || s.Channel == "" {
		return "", State{}, relink.Errorf(relink.EINVALID, "A consent needs a workspace, a person and a channel.")
	}
	raw := make([]byte, stateBytes)
	if _, err := io.ReadFull(random, raw); err != nil {
		return "", State{}, fmt.Errorf("read randomness for a consent: %w", err)
	}
	param := base64.RawURLEncoding.EncodeToString(raw)
	s.Hash = hashOf(param)
	s.CreatedAt, s.ExpiresAt = now, now.Add(TTL)
	return param, s, nil
}

// HashParam checks a state parameter's form and returns its hash. A forged or
// truncated state is refused before any lookup.
func HashParam(param string) (string, error) {
	raw, err := base64.RawURLEncoding.DecodeString(param)
	if err != nil || len(raw) != stateBytes {
		return "", relink.Errorf(relink.ENOTFOUND, "This sign-in attempt is not known. Start again from your link.")
	}
	return hashOf(param), nil
}

func hashOf(param string) string {
	sum := sha256.Sum256([]byte(param))
	return hex.EncodeToString(sum[:])
}

// Expired reports whether the consent took too long.
func (s State) Expired(now time.Time) bool { return !now.Before(s.ExpiresAt) }
