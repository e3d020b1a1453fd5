package secrets

import (
	"context"

	"github.com/relinkhq/relink/internal/relink"
	"github.com/relinkhq/relink/internal/vault"
)

// KeyRingSource is the vault's key source: the key ring stored as the secret Name.
type KeyRingSource struct {
	Values Valuer
	Name   string
}

// NewKeyRingSource returns a key source reading the secret name from values (a
// Manager in AWS, Env or Files locally).
func NewKeyRingSource(values Valuer, name string) *KeyRingSource {
	return &KeyRingSource{Values: values, Name: name}
}

func (s *KeyRingSource) KeyRing(ctx context.Context) (vault.KeyRing, error) {
	raw, err := s.Values.Value(ctx, s.Name)
	if err != nil {
		return vault.KeyRing{}, err
	}
	defer clear(raw) // our copy: the material lives on only in the parsed ring
	ring, err := vault.ParseKeyRing(raw)
	if err != nil {
		// A malformed stored ring is a deployment fault, not the caller's bad input.
		return vault.KeyRing{}, relink.Wrap(err, relink.EINTERNAL, "The key ring in secret %q is malformed.", s.Name)
	}
	return ring, nil
}

var (
	_ vault.KeySource = (*KeyRingSource)(nil)
	_ Valuer          = (*Manager)(nil)
	_ Valuer          = Env{}
	_ Valuer          = Files{}
)
