package secrets

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/relinkhq/relink/internal/clock"
	"github.com/relinkhq/relink/internal/relink"
	"github.com/relinkhq/relink/internal/vault"
)

// mergeRings returns a stored ring holding the keys of all rings, current set to
// current: how an operator rotates (add a key, move current).
func mergeRings(t *testing.T, current string, rings ...[]byte) string {
	t.Helper()
	merged := struct {
		Current string            `json:"current"`
		Keys    map[string]string `json:"keys"`
	}{Current: current, Keys: map[string]string{}}
	for _, raw := range rings {
		var r struct{ Keys map[string]string }
		if err := json.Unmarshal(raw, &r); err != nil {
			t.Fatalf("decode ring: %v", err)
		}
		for id, k := range r.Keys {
			merged.Keys[id] = k
		}
	}
	out, err := json.Marshal(merged)
	if err != nil {
		t.Fatalf("encode ring: %v", err)
	}
	return string(out)
}

func keyID(sealed []byte) string { return string(sealed[2 : 2+sealed[1]]) }

func TestKeyRingRoundTrip(t *testing.T) {
	ctx := context.Background()
	sm := newMoto(t)
	k1, err := vault.GenerateKeyRing("k1")
	if err != nil {
		t.Fatalf("generate: %v", err)
	}
	name := sm.create(t, string(k1), false)
	clk := clock.NewManual(t0)
	v := vault.New(NewKeyRingSource(NewManager(sm, clk, time.Minute), name))

	tokens := vault.Tokens{Access: "access-value", Refresh: "refresh-value", Scopes: []string{"openid"}, TokenType: "Bearer"}
	old, err := v.SealTokens(ctx, tokens, "ws1/acct1")
	if err != nil {
		t.Fatalf("seal: %v", err)
	}
	if keyID(old) != "k1" {
		t.Fatalf("sealed with %q, want k1", keyID(old))
	}
	got, err := v.OpenTokens(ctx, old, "ws1/acct1")
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	if got.Access.Reveal() != "access-value" || got.Refresh.Reveal() != "refresh-value" {
		t.Fatal("tokens differ after the round trip")
	}
	if _, err := v.OpenTokens(ctx, old, "ws1/acct2"); err == nil {
		t.Fatal("opened under another account")
	}

	// Rotate in Secrets Manager; the vault sees it once the cache expires.
	k2, err := vault.GenerateKeyRing("k2")
	if err != nil {
		t.Fatalf("generate: %v", err)
	}
	sm.put(t, name, mergeRings(t, "k2", k1, k2))
	clk.Advance(time.Minute)
	fresh, err := v.Seal(ctx, []byte("after rotation"), "ws1/acct1")
	if err != nil {
		t.Fatalf("seal after rotation: %v", err)
	}
	if keyID(fresh) != "k2" {
		t.Fatalf("sealed with %q after rotation, want k2", keyID(fresh))
	}
	if _, err := v.OpenTokens(ctx, old, "ws1/acct1"); err != nil {
		t.Fatalf("open a k1 ciphertext after rotation: %v", err)
	}
	if p, err := v.Open(ctx, fresh, "ws1/acct1"); err != nil || !bytes.Equal(p, []byte("after rotation")) {
		t.Fatalf("open a k2 ciphertext: %v", err)
	}
}

func TestKeyRingSourceErrors(t *testing.T) {
	ctx := context.Background()
	vars := map[string]string{EnvName("bad"): `{"current":"k1","keys":{}}`}
	env := Env{Lookup: func(k string) (string, bool) { v, ok := vars[k]; return v, ok }}

	_, err := NewKeyRingSource(env, "missing").KeyRing(ctx)
	wantCode(t, err, relink.ENOTFOUND)
	_, err = NewKeyRingSource(env, "bad").KeyRing(ctx)
	wantCode(t, err, relink.EINTERNAL)

	// Through the vault, a missing ring is the deployment's fault, not the caller's.
	_, err = vault.New(NewKeyRingSource(env, "missing")).Seal(ctx, []byte("x"), "b")
	wantCode(t, err, relink.EINTERNAL)
}

func TestKeyRingFromEnvAndFiles(t *testing.T) {
	ctx := context.Background()
	raw, err := vault.GenerateKeyRing("local")
	if err != nil {
		t.Fatalf("generate: %v", err)
	}
	env := Env{Lookup: func(k string) (string, bool) { return string(raw), k == EnvName("relink/token-keys") }}
	files := Files{Dir: t.TempDir()}
	if err := writeFile(files.Dir, "token-keys", append(bytes.Clone(raw), '\n')); err != nil {
		t.Fatal(err)
	}
	for name, src := range map[string]vault.KeySource{
		"env":   NewKeyRingSource(env, "relink/token-keys"),
		"files": NewKeyRingSource(files, "token-keys"),
	} {
		t.Run(name, func(t *testing.T) {
			v := vault.New(src)
			sealed, err := v.Seal(ctx, []byte("local"), "b")
			if err != nil {
				t.Fatalf("seal: %v", err)
			}
			if p, err := v.Open(ctx, sealed, "b"); err != nil || string(p) != "local" {
				t.Fatalf("open: %v", err)
			}
		})
	}
}
