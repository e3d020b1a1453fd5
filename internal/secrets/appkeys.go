package secrets

import (
	"context"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/json"

	"github.com/relinkhq/relink/internal/relink"
)

// AppKeys are the keys that sign and key Relink's own values. They are all derived
// from one generated master secret ({"master":"<at least 32 characters>"}), so a fresh
// stack has them the moment CloudFormation creates the secret, and each key is used for
// one purpose only.
type AppKeys struct {
	Cursor      []byte // signs page cursors (store.Config.CursorKey)
	Session     []byte // signs owner-page sessions and CSRF tokens
	CodePepper  []byte // keys one-time-code hashes
	Unsubscribe []byte // signs unsubscribe links
	APIToken    []byte // signs the local server's dev JWTs (never used in AWS)
}

// MinMasterLen is the shortest master secret accepted.
const MinMasterLen = 32

// LoadAppKeys reads the master secret called name and derives the keys.
func LoadAppKeys(ctx context.Context, values Valuer, name string) (AppKeys, error) {
	raw, err := values.Value(ctx, name)
	if err != nil {
		return AppKeys{}, err
	}
	defer clear(raw)
	var s struct {
		Master string `json:"master"`
	}
	if json.Unmarshal(raw, &s) != nil || len(s.Master) < MinMasterLen {
		return AppKeys{}, relink.Errorf(relink.EINTERNAL, "Secret %q must be {\"master\":\"…\"} with at least %d characters.", name, MinMasterLen)
	}
	return DeriveAppKeys([]byte(s.Master))
}

// DeriveAppKeys expands a master secret into the app keys with HKDF-SHA256, one label
// per key.
func DeriveAppKeys(master []byte) (AppKeys, error) {
	var k AppKeys
	for _, d := range []struct {
		label string
		into  *[]byte
	}{
		{"relink cursor", &k.Cursor}, {"relink session", &k.Session}, {"relink code pepper", &k.CodePepper},
		{"relink unsubscribe", &k.Unsubscribe}, {"relink api token", &k.APIToken},
	} {
		key, err := hkdf.Key(sha256.New, master, nil, d.label, 32)
		if err != nil {
			return AppKeys{}, relink.Wrap(err, relink.EINTERNAL, "Could not derive the app keys.")
		}
		*d.into = key
	}
	return k, nil
}
