// Package vault seals tokens at rest with AES-256-GCM under a rotatable key ring and
// keeps secret values out of logs. It is domain code: keys come through KeySource,
// which an adapter (Secrets Manager, env, files) implements.
package vault

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"io"

	"github.com/relinkhq/relink/internal/relink"
)

// Sealed format: version | len(keyID) | keyID | nonce | ciphertext+tag.
const (
	version   byte = 1
	nonceSize      = 12
	tagSize        = 16
)

// Vault seals and opens small payloads. Safe for concurrent use.
type Vault struct {
	src KeySource
}

// New returns a Vault that takes its keys from src.
func New(src KeySource) *Vault { return &Vault{src: src} }

// Seal encrypts plaintext with the current key. binding (e.g. "workspace/account") is
// authenticated but not stored: Open must be given the same one, so a ciphertext
// copied to another account does not open.
func (v *Vault) Seal(ctx context.Context, plaintext []byte, binding string) ([]byte, error) {
	ring, err := v.ring(ctx)
	if err != nil {
		return nil, err
	}
	key, _ := ring.Key(ring.Current) // present: Validate checked it
	aead, err := newAEAD(key.Material)
	if err != nil {
		return nil, err
	}
	header := append([]byte{version, byte(len(key.ID))}, key.ID...)
	out := make([]byte, len(header)+nonceSize, len(header)+nonceSize+len(plaintext)+tagSize)
	copy(out, header)
	if _, err := io.ReadFull(rand.Reader, out[len(header):]); err != nil {
		return nil, relink.Wrap(err, relink.EINTERNAL, "Could not seal data.")
	}
	return aead.Seal(out, out[len(header):], plaintext, aad(header, binding)), nil
}

// Open decrypts what Seal sealed for the same binding, with whichever key of the
// ring sealed it. Every failure reads the same and says nothing about the contents.
func (v *Vault) Open(ctx context.Context, sealed []byte, binding string) ([]byte, error) {
	if len(sealed) < 2 || sealed[0] != version {
		return nil, errOpen(nil)
	}
	idEnd := 2 + int(sealed[1])
	if len(sealed) < idEnd+nonceSize+tagSize {
		return nil, errOpen(nil)
	}
	ring, err := v.ring(ctx)
	if err != nil {
		return nil, err
	}
	key, ok := ring.Key(string(sealed[2:idEnd]))
	if !ok {
		return nil, relink.Errorf(relink.EINTERNAL, "Sealed data uses a key that is not in the key ring.")
	}
	aead, err := newAEAD(key.Material)
	if err != nil {
		return nil, err
	}
	nonce := sealed[idEnd : idEnd+nonceSize]
	plain, err := aead.Open(nil, nonce, sealed[idEnd+nonceSize:], aad(sealed[:idEnd], binding))
	if err != nil {
		return nil, errOpen(err)
	}
	return plain, nil
}

// ring loads and validates the key ring. A failing dependency stays EUNAVAILABLE so
// callers retry; anything else (a missing or malformed ring) is a deployment fault,
// never the caller's "not found" or "invalid".
func (v *Vault) ring(ctx context.Context) (KeyRing, error) {
	ring, err := v.src.KeyRing(ctx)
	if err == nil {
		err = ring.Validate()
	}
	if err != nil {
		code := relink.EINTERNAL
		if relink.ErrorCode(err) == relink.EUNAVAILABLE {
			code = relink.EUNAVAILABLE
		}
		return KeyRing{}, relink.Wrap(err, code, "The token key ring is unavailable.")
	}
	return ring, nil
}

// aad authenticates the header with the binding, so the version and key ID cannot be
// swapped either (two IDs holding the same material would otherwise be
// interchangeable). The header is self-delimiting, so the concatenation is unambiguous.
func aad(header []byte, binding string) []byte {
	return append(append(make([]byte, 0, len(header)+len(binding)), header...), binding...)
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	if len(key) != KeySize { // aes.NewCipher would also take AES-128/192 keys
		return nil, relink.Errorf(relink.EINTERNAL, "The token key has the wrong size.")
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, relink.Wrap(err, relink.EINTERNAL, "Could not use the token key.")
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, relink.Wrap(err, relink.EINTERNAL, "Could not use the token key.")
	}
	return aead, nil
}

func errOpen(cause error) error {
	return relink.Wrap(cause, relink.EINTERNAL, "Sealed data could not be opened.")
}
