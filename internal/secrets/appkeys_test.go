package secrets

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/relinkhq/relink/internal/relink"
)

func TestLoadAppKeys(t *testing.T) {
	master := strings.Repeat("m", 64)
	env := map[string]string{EnvName("app"): `{"master":"` + master + `"}`}
	values := Env{Lookup: func(k string) (string, bool) { v, ok := env[k]; return v, ok }}
	k, err := LoadAppKeys(context.Background(), values, "app")
	if err != nil {
		t.Fatal(err)
	}
	keys := [][]byte{k.Cursor, k.Session, k.CodePepper, k.Unsubscribe, k.APIToken}
	for i, a := range keys {
		if len(a) != 32 {
			t.Fatalf("key %d has %d bytes", i, len(a))
		}
		for j, b := range keys[i+1:] {
			if bytes.Equal(a, b) {
				t.Fatalf("keys %d and %d are equal: one purpose per key", i, i+1+j)
			}
		}
	}
	again, _ := DeriveAppKeys([]byte(master))
	if !bytes.Equal(again.Session, k.Session) {
		t.Fatal("derivation is not stable")
	}
	for _, raw := range []string{`{"master":"short"}`, `not json`, `{}`} {
		env[EnvName("app")] = raw
		if _, err := LoadAppKeys(context.Background(), values, "app"); relink.ErrorCode(err) != relink.EINTERNAL {
			t.Fatalf("%s: %v", raw, err)
		}
	}
}
