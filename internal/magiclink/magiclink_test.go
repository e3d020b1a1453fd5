package magiclink

import (
	"bytes"
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"github.com/relinkhq/relink/internal/relink"
)

var (
	t0     = time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	pepper = []byte("0123456789abcdef0123456789abcdef")
)

func TestIssueAndHash(t *testing.T) {
	token, l, err := Issue(Spec{WorkspaceID: "ws", UserID: "u1", Email: "o@example.com", Purpose: PurposeReconnect}, t0, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if len(token) != 43 || strings.ContainsAny(token, "+/=") {
		t.Fatalf("token %q is not 32 bytes of base64url", token)
	}
	h, err := HashToken(token)
	if err != nil || h != l.Hash || len(h) != 64 || strings.Contains(l.Hash, token) {
		t.Fatalf("hash = %q (%v), stored %q", h, err, l.Hash)
	}
	if !l.ExpiresAt.Equal(t0.Add(14*24*time.Hour)) || l.MaxUses != 50 || l.Uses != 0 {
		t.Fatalf("link = %+v", l)
	}
	other, _, _ := Issue(Spec{WorkspaceID: "ws", UserID: "u1", Purpose: PurposeReconnect}, t0, rand.Reader)
	if other == token {
		t.Fatal("two links share a token")
	}
	// A fixed randomness source gives a fixed token: the randomness is injected.
	a, _, _ := Issue(Spec{WorkspaceID: "ws", UserID: "u1", Purpose: PurposeInvite}, t0, bytes.NewReader(make([]byte, 32)))
	if a != strings.Repeat("A", 43) {
		t.Fatalf("token from zero bytes = %q", a)
	}
	for _, bad := range []string{"", "short", token + "A", token[:42] + "=", strings.Repeat("*", 43), token[:42] + "\x00", " " + token[1:]} {
		if _, err := HashToken(bad); relink.ErrorCode(err) != relink.ENOTFOUND {
			t.Errorf("HashToken(%q) = %v, want not_found", bad, err)
		}
	}
	for _, spec := range []Spec{{WorkspaceID: "ws", UserID: "u", Purpose: "spam"}, {UserID: "u", Purpose: PurposeConnect},
		{WorkspaceID: "ws", UserID: "u", Purpose: PurposeInvite, Message: strings.Repeat("x", 1001)}} {
		if _, _, err := Issue(spec, t0, rand.Reader); relink.ErrorCode(err) != relink.EINVALID {
			t.Errorf("Issue(%+v) = %v, want invalid", spec, err)
		}
	}
	if _, _, err := Issue(Spec{WorkspaceID: "ws", UserID: "u", Purpose: PurposeConnect}, t0, bytes.NewReader(nil)); err == nil {
		t.Error("a failing randomness source went unnoticed")
	}
}

func TestUsable(t *testing.T) {
	_, l, _ := Issue(Spec{WorkspaceID: "ws", UserID: "u1", Purpose: PurposeConnect}, t0, rand.Reader)
	tests := []struct {
		name string
		at   time.Time
		edit func(*Link)
		gone bool
	}{
		{"fresh", t0, nil, false},
		{"a second before expiry", l.ExpiresAt.Add(-time.Second), nil, false},
		{"at expiry", l.ExpiresAt, nil, true},
		{"revoked", t0, func(l *Link) { l.RevokedAt = t0 }, true},
		{"last use left", t0, func(l *Link) { l.Uses = l.MaxUses - 1 }, false},
		{"used up", t0, func(l *Link) { l.Uses = l.MaxUses }, true},
	}
	for _, tt := range tests {
		c := l
		if tt.edit != nil {
			tt.edit(&c)
		}
		err := c.Usable(tt.at)
		if tt.gone != (relink.ErrorCode(err) == relink.EGONE) || (!tt.gone && err != nil) {
			t.Errorf("%s: Usable = %v", tt.name, err)
		}
	}
}

func TestCodes(t *testing.T) {
	code, c, err := NewCode("flow-1", "ws", "o@example.com", pepper, t0, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if len(code) != 6 || strings.Trim(code, "0123456789") != "" || strings.Contains(c.Hash, code) {
		t.Fatalf("code %q / hash %q", code, c.Hash)
	}
	wrong := "000000"
	if wrong == code {
		wrong = "111111"
	}
	// Four wrong attempts count down, each one stored.
	for i := 1; i <= 4; i++ {
		next, err := c.Verify(wrong, pepper, t0.Add(time.Minute))
		if relink.ErrorCode(err) != relink.EINVALID || next.Attempts != i || next.Version != c.Version+1 {
			t.Fatalf("wrong attempt %d: %v %+v", i, err, next)
		}
		if left := 5 - i; !strings.Contains(relink.ErrorMessage(err), map[bool]string{true: "1 attempt left", false: "attempts left"}[left == 1]) {
			t.Fatalf("message %q", relink.ErrorMessage(err))
		}
		c = next
	}
	// The right code, typed with a space, still works on the fifth try.
	used, err := c.Verify(code[:3]+" "+code[3:], pepper, t0.Add(2*time.Minute))
	if err != nil || used.UsedAt.IsZero() || used.Attempts != 4 {
		t.Fatalf("right code: %v %+v", err, used)
	}
	if _, err := used.Verify(code, pepper, t0.Add(3*time.Minute)); relink.ErrorCode(err) != relink.EGONE {
		t.Fatalf("reused code: %v", err)
	}
	// A fifth wrong attempt locks the code, and then even the right one is refused.
	locked, err := c.Verify(wrong, pepper, t0.Add(time.Minute))
	if relink.ErrorCode(err) != relink.EGONE || locked.Attempts != 5 {
		t.Fatalf("fifth wrong: %v %+v", err, locked)
	}
	if _, err := locked.Verify(code, pepper, t0.Add(time.Minute)); relink.ErrorCode(err) != relink.EGONE {
		t.Fatalf("locked code accepted: %v", err)
	}
	// Expiry, another flow's code, another pepper, and junk.
	_, fresh, _ := NewCode("flow-1", "ws", "o@example.com", pepper, t0, bytes.NewReader(make([]byte, 64)))
	if _, err := fresh.Verify("000000", pepper, t0.Add(CodeTTL)); relink.ErrorCode(err) != relink.EGONE {
		t.Fatalf("expired code: %v", err)
	}
	_, otherFlow, _ := NewCode("flow-2", "ws", "o@example.com", pepper, t0, bytes.NewReader(make([]byte, 64)))
	if otherFlow.Hash == fresh.Hash {
		t.Fatal("the same digits hash alike in two flows")
	}
	if _, err := fresh.Verify("000000", bytes.Repeat([]byte("p"), 32), t0); relink.ErrorCode(err) != relink.EINVALID {
		t.Fatalf("code under another pepper: %v", err)
	}
	if _, err := fresh.Verify("000000", pepper, t0); err != nil {
		t.Fatalf("zero code from zero randomness: %v", err)
	}
	for _, junk := range []string{"", "12345", "1234567", "abcdef", "00000O"} {
		if _, err := fresh.Verify(junk, pepper, t0); relink.ErrorCode(err) != relink.EINVALID {
			t.Errorf("junk %q: %v", junk, err)
		}
	}
	if _, _, err := NewCode("f", "ws", "e", []byte("short"), t0, rand.Reader); err == nil {
		t.Error("short pepper accepted")
	}
}

func FuzzHashToken(f *testing.F) {
	f.Add(strings.Repeat("A", 43))
	f.Add("")
	f.Add("%%%")
	f.Fuzz(func(t *testing.T, token string) {
		h, err := HashToken(token)
		if err == nil && (len(h) != 64 || len(token) != 43) {
			t.Fatalf("accepted %q → %q", token, h)
		}
	})
}
