package vault

import (
	"context"
	"encoding/json"
	"time"

	"github.com/relinkhq/relink/internal/relink"
)

// Tokens is what a channel grant holds.
type Tokens struct {
	Access, Refresh                   Secret
	AccessExpiresAt, RefreshExpiresAt time.Time
	Scopes                            []string
	TokenType                         string
	// IssuedAt is when the access token was issued: tokens that renew themselves
	// (Instagram Login, Threads) may be renewed only once they are a day old. Zero:
	// unknown (sealed before it was recorded), to be treated as old enough.
	IssuedAt time.Time
}

// sealedTokens is the plaintext inside a sealed Tokens: the only place the secrets
// are revealed for encoding.
type sealedTokens struct {
	Access           string    `json:"a,omitempty"`
	Refresh          string    `json:"r,omitempty"`
	AccessExpiresAt  time.Time `json:"ae,omitzero"`
	RefreshExpiresAt time.Time `json:"re,omitzero"`
	Scopes           []string  `json:"s,omitempty"`
	TokenType        string    `json:"t,omitempty"`
	IssuedAt         time.Time `json:"ia,omitzero"` // absent from older payloads
}

// SealTokens seals t for binding (see Seal).
func (v *Vault) SealTokens(ctx context.Context, t Tokens, binding string) ([]byte, error) {
	plain, err := json.Marshal(sealedTokens{
		Access: t.Access.Reveal(), Refresh: t.Refresh.Reveal(),
		AccessExpiresAt: t.AccessExpiresAt, RefreshExpiresAt: t.RefreshExpiresAt,
		Scopes: t.Scopes, TokenType: t.TokenType, IssuedAt: t.IssuedAt,
	})
	if err != nil {
		return nil, relink.Wrap(err, relink.EINTERNAL, "Could not encode tokens.")
	}
	defer clear(plain)
	return v.Seal(ctx, plain, binding)
}

// OpenTokens opens what SealTokens sealed for the same binding.
func (v *Vault) OpenTokens(ctx context.Context, sealed []byte, binding string) (Tokens, error) {
	plain, err := v.Open(ctx, sealed, binding)
	if err != nil {
		return Tokens{}, err
	}
	defer clear(plain)
	var s sealedTokens
	// The decoder's error could quote part of the plaintext, so it is not kept.
	if json.Unmarshal(plain, &s) != nil {
		return Tokens{}, relink.Errorf(relink.EINTERNAL, "Sealed tokens are malformed.")
	}
	return Tokens{
		Access: Secret(s.Access), Refresh: Secret(s.Refresh),
		AccessExpiresAt: s.AccessExpiresAt, RefreshExpiresAt: s.RefreshExpiresAt,
		Scopes: s.Scopes, TokenType: s.TokenType, IssuedAt: s.IssuedAt,
	}, nil
}

// AccountBinding is the binding an account's tokens are sealed under: a ciphertext
// copied to another account (or workspace) does not open there.
func AccountBinding(workspaceID, accountID string) string { return workspaceID + "/" + accountID }
