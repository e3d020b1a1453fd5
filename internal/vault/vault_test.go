package vault

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/relinkhq/relink/internal/relink"
)

// handSealed builds version | len(id) | id | nonce | GCM(plain, aad = header+binding)
// independently of Seal.
func handSealed(t testing.TB, key []byte, id string, nonce, plain []byte, binding string) []byte {
	t.Helper()
	block, err := aes.NewCipher(key)
	if err != nil {
		t.Fatalf("cipher: %v", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		t.Fatalf("gcm: %v", err)
	}
	header := append([]byte{1, byte(len(id))}, id...)
	out := append(bytes.Clone(header), nonce...)
	return aead.Seal(out, nonce, plain, append(bytes.Clone(header), binding...))
}

// staticSource is a KeySource over a ring the test can swap (rotation).
type staticSource struct {
	ring KeyRing
	err  error
}

func (s *staticSource) KeyRing(context.Context) (KeyRing, error) { return s.ring, s.err }

func testKey(b byte) []byte { return bytes.Repeat([]byte{b}, KeySize) }

func ring(current string, ids ...string) KeyRing {
	r := KeyRing{Current: current, Keys: map[string][]byte{}}
	for i, id := range ids {
		r.Keys[id] = testKey(byte(i + 1))
	}
	return r
}

// header returns the version and key ID of a sealed value.
func header(t *testing.T, sealed []byte) (byte, string) {
	t.Helper()
	if len(sealed) < 2 || len(sealed) < 2+int(sealed[1]) {
		t.Fatalf("sealed value too short: %d bytes", len(sealed))
	}
	return sealed[0], string(sealed[2 : 2+sealed[1]])
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := relink.ErrorCode(err); got != code {
		t.Fatalf("error code = %q, want %q (err: %v)", got, code, err)
	}
}

func TestSealOpen(t *testing.T) {
	ctx := context.Background()
	v := New(&staticSource{ring: ring("k1", "k1")})
	plain := []byte("refresh-token-value")

	sealed, err := v.Seal(ctx, plain, "ws1/acct1")
	if err != nil {
		t.Fatalf("seal: %v", err)
	}
	if ver, id := header(t, sealed); ver != version || id != "k1" {
		t.Fatalf("header = %d/%q, want %d/k1", ver, id, version)
	}
	if want := 2 + len("k1") + nonceSize + len(plain) + tagSize; len(sealed) != want {
		t.Fatalf("sealed length = %d, want %d", len(sealed), want)
	}
	if bytes.Contains(sealed, plain) {
		t.Fatal("sealed value contains the plaintext")
	}
	again, _ := v.Seal(ctx, plain, "ws1/acct1")
	if bytes.Equal(sealed, again) {
		t.Fatal("two seals are identical: the nonce is not random")
	}
	got, err := v.Open(ctx, sealed, "ws1/acct1")
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	if !bytes.Equal(got, plain) {
		t.Fatal("opened value differs from the sealed one")
	}
	if empty, err := v.Seal(ctx, nil, ""); err != nil {
		t.Fatalf("seal empty: %v", err)
	} else if got, err := v.Open(ctx, empty, ""); err != nil || len(got) != 0 {
		t.Fatalf("open empty: %d bytes, %v", len(got), err)
	}
}

func TestOpenRejects(t *testing.T) {
	ctx := context.Background()
	v := New(&staticSource{ring: ring("k1", "k1", "k2")})
	plain := []byte("access-token-value")
	sealed, err := v.Seal(ctx, plain, "ws1/acct1")
	if err != nil {
		t.Fatalf("seal: %v", err)
	}
	mutate := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(sealed)) }
	// Same material under another ID: only the authenticated header tells them apart.
	twin := ring("k1", "k1")
	twin.Keys["k9"] = twin.Keys["k1"]

	for _, tc := range []struct {
		name    string
		src     KeyRing
		sealed  []byte
		binding string
	}{
		{"other binding", ring("k1", "k1", "k2"), sealed, "ws1/acct2"},
		{"empty binding", ring("k1", "k1", "k2"), sealed, ""},
		{"empty", ring("k1", "k1"), nil, "ws1/acct1"},
		{"version only", ring("k1", "k1"), sealed[:1], "ws1/acct1"},
		{"truncated header", ring("k1", "k1"), sealed[:3], "ws1/acct1"},
		{"truncated nonce", ring("k1", "k1"), sealed[:2+2+nonceSize-1], "ws1/acct1"},
		{"truncated tag", ring("k1", "k1"), sealed[:len(sealed)-1], "ws1/acct1"},
		{"no ciphertext", ring("k1", "k1"), sealed[:2+2+nonceSize+tagSize], "ws1/acct1"},
		{"extra byte", ring("k1", "k1"), append(bytes.Clone(sealed), 0), "ws1/acct1"},
		{"wrong version", ring("k1", "k1"), mutate(func(b []byte) []byte { b[0] = 2; return b }), "ws1/acct1"},
		{"id length too long", ring("k1", "k1"), mutate(func(b []byte) []byte { b[1] = 200; return b }), "ws1/acct1"},
		{"unknown key", ring("k2", "k2"), sealed, "ws1/acct1"},
		{"swapped key id", ring("k1", "k1", "k2"), mutate(func(b []byte) []byte { b[3] = '2'; return b }), "ws1/acct1"},
		{"twin key id", twin, mutate(func(b []byte) []byte { b[3] = '9'; return b }), "ws1/acct1"},
		{"flipped nonce", ring("k1", "k1"), mutate(func(b []byte) []byte { b[4] ^= 1; return b }), "ws1/acct1"},
		{"flipped ciphertext", ring("k1", "k1"), mutate(func(b []byte) []byte { b[4+nonceSize] ^= 0x80; return b }), "ws1/acct1"},
		{"flipped tag", ring("k1", "k1"), mutate(func(b []byte) []byte { b[len(b)-1] ^= 1; return b }), "ws1/acct1"},
		{"other material", KeyRing{Current: "k1", Keys: map[string][]byte{"k1": testKey(9)}}, sealed, "ws1/acct1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := New(&staticSource{ring: tc.src}).Open(ctx, tc.sealed, tc.binding)
			if err == nil {
				t.Fatalf("open succeeded (%d bytes)", len(got))
			}
			wantCode(t, err, relink.EINTERNAL)
			if strings.Contains(err.Error(), string(plain)) {
				t.Fatal("error mentions the plaintext")
			}
		})
	}
}

func TestKeySourceErrors(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		src  *staticSource
		want string
	}{
		{"unavailable stays unavailable", &staticSource{err: relink.Errorf(relink.EUNAVAILABLE, "throttled")}, relink.EUNAVAILABLE},
		{"not found is internal", &staticSource{err: relink.Errorf(relink.ENOTFOUND, "no secret")}, relink.EINTERNAL},
		{"plain error is internal", &staticSource{err: errors.New("boom")}, relink.EINTERNAL},
		{"invalid ring", &staticSource{ring: KeyRing{Current: "k1", Keys: map[string][]byte{"k1": make([]byte, 16)}}}, relink.EINTERNAL},
		{"no current", &staticSource{ring: ring("", "k1")}, relink.EINTERNAL},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := New(tc.src)
			_, err := v.Seal(ctx, []byte("x"), "b")
			wantCode(t, err, tc.want)
			sealed, serr := New(&staticSource{ring: ring("k1", "k1")}).Seal(ctx, []byte("x"), "b")
			if serr != nil {
				t.Fatalf("seal: %v", serr)
			}
			_, err = v.Open(ctx, sealed, "b")
			wantCode(t, err, tc.want)
		})
	}
}

func TestRotation(t *testing.T) {
	ctx := context.Background()
	src := &staticSource{ring: ring("k1", "k1")}
	v := New(src)
	old, err := v.Seal(ctx, []byte("old"), "ws/a")
	if err != nil {
		t.Fatalf("seal: %v", err)
	}

	src.ring = ring("k2", "k1", "k2") // k1 keeps its material, k2 is new and current
	got, err := v.Open(ctx, old, "ws/a")
	if err != nil || string(got) != "old" {
		t.Fatalf("open old ciphertext after rotation: %v", err)
	}
	fresh, err := v.Seal(ctx, []byte("new"), "ws/a")
	if err != nil {
		t.Fatalf("seal after rotation: %v", err)
	}
	if _, id := header(t, fresh); id != "k2" {
		t.Fatalf("new seal uses key %q, want k2", id)
	}

	src.ring = ring("k2", "k2") // k1 retired: its ciphertexts must be resealed first
	src.ring.Keys["k2"] = testKey(2)
	if _, err := v.Open(ctx, old, "ws/a"); err == nil {
		t.Fatal("opened a ciphertext whose key was retired")
	}
	if got, err := v.Open(ctx, fresh, "ws/a"); err != nil || string(got) != "new" {
		t.Fatalf("open new ciphertext: %v", err)
	}
}

func TestTokens(t *testing.T) {
	ctx := context.Background()
	v := New(&staticSource{ring: ring("k1", "k1")})
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		in   Tokens
	}{
		{"full", Tokens{
			Access: "access-value", Refresh: "refresh-value",
			AccessExpiresAt: now.Add(time.Hour), RefreshExpiresAt: now.Add(60 * 24 * time.Hour),
			Scopes: []string{"r_basicprofile", "w_member_social"}, TokenType: "Bearer", IssuedAt: now.Add(-time.Minute),
		}},
		{"access only", Tokens{Access: "access-value", AccessExpiresAt: now}},
		{"empty", Tokens{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sealed, err := v.SealTokens(ctx, tc.in, "ws/a")
			if err != nil {
				t.Fatalf("seal: %v", err)
			}
			if tc.in.Access != "" && bytes.Contains(sealed, []byte(tc.in.Access.Reveal())) {
				t.Fatal("sealed tokens contain the access token")
			}
			got, err := v.OpenTokens(ctx, sealed, "ws/a")
			if err != nil {
				t.Fatalf("open: %v", err)
			}
			// Compare revealed values explicitly: a failure must not print tokens.
			if got.Access.Reveal() != tc.in.Access.Reveal() || got.Refresh.Reveal() != tc.in.Refresh.Reveal() {
				t.Fatal("secrets differ after the round trip")
			}
			if !got.AccessExpiresAt.Equal(tc.in.AccessExpiresAt) || !got.RefreshExpiresAt.Equal(tc.in.RefreshExpiresAt) ||
				!reflect.DeepEqual(got.Scopes, tc.in.Scopes) || got.TokenType != tc.in.TokenType || !got.IssuedAt.Equal(tc.in.IssuedAt) {
				t.Fatalf("metadata differs: got %+v, want %+v", got, tc.in)
			}
			if _, err := v.OpenTokens(ctx, sealed, "ws/b"); err == nil {
				t.Fatal("opened tokens under another binding")
			}
		})
	}
	// Sealed before IssuedAt was recorded: it opens, with the issue time unknown (zero).
	older, _ := v.Seal(ctx, []byte(`{"a":"access-value","ae":"2026-03-01T12:00:00Z","t":"Bearer"}`), "ws/a")
	got, err := v.OpenTokens(ctx, older, "ws/a")
	if err != nil || got.Access.Reveal() != "access-value" || !got.AccessExpiresAt.Equal(now) || !got.IssuedAt.IsZero() {
		t.Fatalf("older payload: issued %v, expires %v, %v", got.IssuedAt, got.AccessExpiresAt, err)
	}
	notJSON, _ := v.Seal(ctx, []byte("not json"), "ws/a")
	_, err = v.OpenTokens(ctx, notJSON, "ws/a")
	wantCode(t, err, relink.EINTERNAL)
}

func TestParseKeyRing(t *testing.T) {
	b64 := func(n int) string { return base64.StdEncoding.EncodeToString(make([]byte, n)) }
	ok := b64(KeySize)
	for _, tc := range []struct {
		name, raw, wantErr string
		wantKeys           int
	}{
		{"one key", `{"current":"k1","keys":{"k1":"` + ok + `"}}`, "", 1},
		{"two keys", `{"current":"k2","keys":{"k1":"` + ok + `","k2":"` + ok + `"}}`, "", 2},
		{"id charset", `{"current":"A-z_9","keys":{"A-z_9":"` + ok + `"}}`, "", 1},
		{"id 32 chars", `{"current":"` + strings.Repeat("a", 32) + `","keys":{"` + strings.Repeat("a", 32) + `":"` + ok + `"}}`, "", 1},
		{"not json", `current=k1`, "not valid JSON", 0},
		{"empty", ``, "not valid JSON", 0},
		{"no current", `{"keys":{"k1":"` + ok + `"}}`, "no current key", 0},
		{"current missing", `{"current":"k2","keys":{"k1":"` + ok + `"}}`, `"k2" is not in`, 0},
		{"no keys", `{"current":"k1"}`, `"k1" is not in`, 0},
		{"short key", `{"current":"k1","keys":{"k1":"` + b64(16) + `"}}`, "must be 32 bytes, not 16", 0},
		{"long key", `{"current":"k1","keys":{"k1":"` + b64(33) + `"}}`, "must be 32 bytes, not 33", 0},
		{"old short key", `{"current":"k2","keys":{"k1":"` + b64(31) + `","k2":"` + ok + `"}}`, `Key "k1" must be`, 0},
		{"bad base64", `{"current":"k1","keys":{"k1":"***"}}`, "not valid base64", 0},
		{"id too long", `{"current":"k1","keys":{"k1":"` + ok + `","` + strings.Repeat("a", 33) + `":"` + ok + `"}}`, "Key IDs must be", 0},
		{"id bad char", `{"current":"k/1","keys":{"k/1":"` + ok + `"}}`, "Key IDs must be", 0},
		{"empty id", `{"current":"k1","keys":{"k1":"` + ok + `","":"` + ok + `"}}`, "Key IDs must be", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := ParseKeyRing([]byte(tc.raw))
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("parse: %v", err)
				}
				if len(r.Keys) != tc.wantKeys {
					t.Fatalf("keys = %d, want %d", len(r.Keys), tc.wantKeys)
				}
				return
			}
			wantCode(t, err, relink.EINVALID)
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %q does not contain %q", err, tc.wantErr)
			}
		})
	}
}

func TestParseKeyRingHidesMaterial(t *testing.T) {
	// A syntax error right after the material must not echo any of it.
	material := base64.StdEncoding.EncodeToString(testKey(0x5a))
	_, err := ParseKeyRing([]byte(`{"current":"k1","keys":{"k1":"` + material + `"x}}`))
	if err == nil || strings.Contains(err.Error(), material[:8]) {
		t.Fatal("want an error that does not quote the material")
	}
	r := ring("k1", "k1")
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("ring", "ring", r, "key", Key{ID: "k1", Material: testKey(1)})
	for _, out := range []string{
		fmt.Sprintf("%v %+v %#v %s %x", r, r, r, r, r), fmt.Sprint(Key{ID: "k1", Material: testKey(1)}), logs.String(),
	} {
		if !strings.Contains(out, "k1") {
			t.Fatalf("formatted key ring does not name its keys: %s", out)
		}
		if strings.Contains(out, "[1 1 1") || strings.Contains(out, "\\x01") || strings.Contains(out, "AQEB") || strings.Contains(out, "0101") {
			t.Fatalf("formatted key ring shows material: %s", out)
		}
	}
}

func TestGenerateKeyRing(t *testing.T) {
	raw, err := GenerateKeyRing("local-1")
	if err != nil {
		t.Fatalf("generate: %v", err)
	}
	r, err := ParseKeyRing(raw)
	if err != nil {
		t.Fatalf("parse generated ring: %v", err)
	}
	if r.Current != "local-1" || len(r.Keys) != 1 || bytes.Equal(r.Keys["local-1"], make([]byte, KeySize)) {
		t.Fatalf("unexpected generated ring %v", r)
	}
	other, _ := GenerateKeyRing("local-1")
	if bytes.Equal(raw, other) {
		t.Fatal("two generated rings are identical")
	}
	for _, id := range []string{"", "has space", strings.Repeat("x", 33)} {
		_, err := GenerateKeyRing(id)
		wantCode(t, err, relink.EINVALID)
	}
}

func FuzzOpen(f *testing.F) {
	ctx := context.Background()
	twin := ring("k1", "k1", "k2")
	twin.Keys["k2"] = twin.Keys["k1"] // k1 and k2 share material: only the header AAD separates them
	v := New(&staticSource{ring: twin})
	const binding = "ws1/acct1"
	// Fuzzing runs in several processes, so the valid value must not depend on a
	// random nonce: build it by hand, which also pins the documented format.
	valid := handSealed(f, twin.Keys["k1"], "k1", bytes.Repeat([]byte{7}, nonceSize), []byte("fuzz-plaintext"), binding)
	f.Add(valid, binding)
	f.Add(valid, "ws1/acct2")
	f.Add(valid[:len(valid)-1], binding)
	f.Add(valid[:5], binding)
	f.Add([]byte{}, binding)
	f.Add([]byte{version, 0}, "")
	f.Add([]byte{version, 255, 'k'}, binding)
	flipped := bytes.Clone(valid)
	flipped[len(flipped)/2] ^= 1
	f.Add(flipped, binding)
	swapped := bytes.Clone(valid)
	swapped[3] = '2'
	f.Add(swapped, binding)

	f.Fuzz(func(t *testing.T, sealed []byte, b string) {
		got, err := v.Open(ctx, sealed, b)
		if bytes.Equal(sealed, valid) && b == binding {
			if err != nil || string(got) != "fuzz-plaintext" {
				t.Fatalf("the unaltered value does not open: %v", err)
			}
			return
		}
		if err == nil {
			t.Fatalf("altered input opened (%d bytes in, %d out)", len(sealed), len(got))
		}
		if relink.ErrorCode(err) != relink.EINTERNAL {
			t.Fatalf("error code %q, want %q", relink.ErrorCode(err), relink.EINTERNAL)
		}
	})
}

func TestSeedRing(t *testing.T) {
	seed1, seed2 := strings.Repeat("s", 40), strings.Repeat("t", 64)
	r1, err := ParseKeyRing([]byte(`{"current":"k1","k1":"` + seed1 + `"}`))
	if err != nil {
		t.Fatal(err)
	}
	again, _ := ParseKeyRing([]byte(`{"k1":"` + seed1 + `","current":"k1"}`))
	if len(r1.Keys["k1"]) != KeySize || string(again.Keys["k1"]) != string(r1.Keys["k1"]) {
		t.Fatal("a seed must always expand to the same 32-byte key")
	}
	// Rotation: k2 seals new data, k1 still opens the old.
	ctx := context.Background()
	old, err := New(&staticSource{ring: r1}).Seal(ctx, []byte("hello"), "ws/a")
	if err != nil {
		t.Fatal(err)
	}
	r2, err := ParseKeyRing([]byte(`{"current":"k2","k1":"` + seed1 + `","k2":"` + seed2 + `"}`))
	if err != nil {
		t.Fatal(err)
	}
	if string(r2.Keys["k1"]) == string(r2.Keys["k2"]) {
		t.Fatal("different seeds gave the same key")
	}
	v2 := New(&staticSource{ring: r2})
	if plain, err := v2.Open(ctx, old, "ws/a"); err != nil || string(plain) != "hello" {
		t.Fatalf("old ciphertext after rotation: %q %v", plain, err)
	}
	for name, raw := range map[string]string{
		"short seed":      `{"current":"k1","k1":"short"}`,
		"no current":      `{"k1":"` + seed1 + `"}`,
		"current missing": `{"current":"k9","k1":"` + seed1 + `"}`,
		"bad id":          `{"current":"k 1","k 1":"` + seed1 + `"}`,
		"not a string":    `{"current":"k1","k1":42}`,
	} {
		_, err := ParseKeyRing([]byte(raw))
		if relink.ErrorCode(err) != relink.EINVALID || strings.Contains(err.Error(), seed1) {
			t.Errorf("%s: %v", name, err)
		}
	}
}
