package vault

import (
	"context"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"

	"github.com/relinkhq/relink/internal/relink"
)

const (
	// KeySize is the AES-256 key size in bytes.
	KeySize     = 32
	maxKeyIDLen = 32
)

// Key is one data key: an ID (stored in every ciphertext it seals) and its material.
type Key struct {
	ID       string
	Material []byte
}

// KeyRing holds every key that may still open a ciphertext; Current seals new ones.
// Rotation adds a key and moves Current; old keys stay until nothing uses them.
type KeyRing struct {
	Current string
	Keys    map[string][]byte
}

// KeySource provides the key ring: the port the Secrets Manager adapter implements.
// It is asked on every Seal and Open, so it should cache.
type KeySource interface {
	KeyRing(ctx context.Context) (KeyRing, error)
}

// keyRingJSON is the stored form: {"current":"k2","keys":{"k1":"<base64>",…}}.
type keyRingJSON struct {
	Current string            `json:"current"`
	Keys    map[string]string `json:"keys"`
}

// ParseKeyRing parses and validates a stored key ring, in either of two forms:
//
//   - {"current":"k2","keys":{"k1":"<base64 of 32 bytes>","k2":"…"}}: the keys themselves;
//   - {"current":"k1","k1":"<seed>"}: a seed of at least MinSeedLen characters per key,
//     expanded with HKDF-SHA256. This is the form CloudFormation can generate (a
//     template plus one generated string), so a fresh stack has a ring without anyone
//     handling key material; rotating adds "k2":"<seed>" and moves current.
//
// Errors name key IDs, never material, and drop the JSON decoder's text (it can quote
// input bytes).
func ParseKeyRing(raw []byte) (KeyRing, error) {
	var fields map[string]json.RawMessage
	if json.Unmarshal(raw, &fields) != nil {
		return KeyRing{}, relink.Errorf(relink.EINVALID, "The key ring is not valid JSON.")
	}
	if _, ok := fields["keys"]; !ok {
		return parseSeedRing(fields)
	}
	var j keyRingJSON
	if json.Unmarshal(raw, &j) != nil {
		return KeyRing{}, relink.Errorf(relink.EINVALID, "The key ring is not valid JSON.")
	}
	r := KeyRing{Current: j.Current, Keys: make(map[string][]byte, len(j.Keys))}
	for id, b64 := range j.Keys {
		if !validKeyID(id) {
			return KeyRing{}, relink.Errorf(relink.EINVALID, "Key IDs must be 1–%d characters of A-Z, a-z, 0-9, _ and -.", maxKeyIDLen)
		}
		m, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			return KeyRing{}, relink.Errorf(relink.EINVALID, "Key %q is not valid base64.", id)
		}
		r.Keys[id] = m
	}
	if err := r.Validate(); err != nil {
		return KeyRing{}, err
	}
	return r, nil
}

// MinSeedLen is the shortest seed a seed ring accepts: CloudFormation's generated
// strings of 64 printable characters carry far more than 256 bits.
const MinSeedLen = 32

func parseSeedRing(fields map[string]json.RawMessage) (KeyRing, error) {
	r := KeyRing{Keys: map[string][]byte{}}
	for id, v := range fields {
		var s string
		if json.Unmarshal(v, &s) != nil {
			return KeyRing{}, relink.Errorf(relink.EINVALID, "Key ring entry %q must be a string.", id)
		}
		if id == "current" {
			r.Current = s
			continue
		}
		if !validKeyID(id) {
			return KeyRing{}, relink.Errorf(relink.EINVALID, "Key IDs must be 1–%d characters of A-Z, a-z, 0-9, _ and -.", maxKeyIDLen)
		}
		if len(s) < MinSeedLen {
			return KeyRing{}, relink.Errorf(relink.EINVALID, "The seed of key %q must be at least %d characters.", id, MinSeedLen)
		}
		m, err := hkdf.Key(sha256.New, []byte(s), nil, "relink token key "+id, KeySize)
		if err != nil {
			return KeyRing{}, relink.Wrap(err, relink.EINTERNAL, "Could not derive key %q.", id)
		}
		r.Keys[id] = m
	}
	if err := r.Validate(); err != nil {
		return KeyRing{}, err
	}
	return r, nil
}

// Validate checks that Current names a key and every key is a valid AES-256 key.
func (r KeyRing) Validate() error {
	if r.Current == "" {
		return relink.Errorf(relink.EINVALID, "The key ring has no current key.")
	}
	if _, ok := r.Keys[r.Current]; !ok {
		return relink.Errorf(relink.EINVALID, "The current key %q is not in the key ring.", r.Current)
	}
	for _, id := range slices.Sorted(maps.Keys(r.Keys)) { // sorted: the same ring always reports the same error
		if !validKeyID(id) {
			return relink.Errorf(relink.EINVALID, "Key IDs must be 1–%d characters of A-Z, a-z, 0-9, _ and -.", maxKeyIDLen)
		}
		if len(r.Keys[id]) != KeySize {
			return relink.Errorf(relink.EINVALID, "Key %q must be %d bytes, not %d.", id, KeySize, len(r.Keys[id]))
		}
	}
	return nil
}

// Key returns the key with the given ID.
func (r KeyRing) Key(id string) (Key, bool) {
	m, ok := r.Keys[id]
	return Key{ID: id, Material: m}, ok
}

// GenerateKeyRing returns a stored key ring holding one fresh random key, for local
// setups and tests.
func GenerateKeyRing(id string) (raw []byte, err error) {
	if !validKeyID(id) {
		return nil, relink.Errorf(relink.EINVALID, "Key IDs must be 1–%d characters of A-Z, a-z, 0-9, _ and -.", maxKeyIDLen)
	}
	m := make([]byte, KeySize)
	if _, err := io.ReadFull(rand.Reader, m); err != nil {
		return nil, relink.Wrap(err, relink.EINTERNAL, "Could not generate a key.")
	}
	defer clear(m)
	return json.Marshal(keyRingJSON{Current: id, Keys: map[string]string{id: base64.StdEncoding.EncodeToString(m)}})
}

func validKeyID(id string) bool {
	if len(id) == 0 || len(id) > maxKeyIDLen {
		return false
	}
	for _, c := range []byte(id) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// Key and KeyRing print and log their IDs only: material must never reach a log.

func (k Key) Format(f fmt.State, _ rune) {
	_, _ = fmt.Fprintf(f, "Key{ID:%s Material:%s}", k.ID, redacted)
}
func (k Key) LogValue() slog.Value { return slog.GroupValue(slog.String("id", k.ID)) }

func (r KeyRing) Format(f fmt.State, _ rune) {
	_, _ = fmt.Fprintf(f, "KeyRing{Current:%s Keys:%v}", r.Current, slices.Sorted(maps.Keys(r.Keys)))
}

func (r KeyRing) LogValue() slog.Value {
	return slog.GroupValue(slog.String("current", r.Current), slog.Any("keys", slices.Sorted(maps.Keys(r.Keys))))
}
