package magiclink

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/relinkhq/relink/internal/relink"
)

// FuzzLinkToken: the token of GET /l/{token} is whatever is in the address bar.
// HashToken refuses anything Issue could not have made, with ENOTFOUND and the one
// message, before any lookup; what it accepts is hashed as documented (hex SHA-256 of
// the token); and every token Issue makes, from any randomness, is accepted and hashes
// to the Link's Hash. Seeds: issued tokens, a token with each kind of damage (short,
// long, padded, standard alphabet, a space, percent-encoded), junk.
func FuzzLinkToken(f *testing.F) {
	issued, _, _ := Issue(Spec{WorkspaceID: "ws", UserID: "u", Purpose: PurposeConnect}, time.Unix(0, 0), bytes.NewReader(bytes.Repeat([]byte{0xfb}, 32)))
	for _, tok := range []string{issued, issued[:42], issued + "A", issued + "=", strings.ReplaceAll(issued, "-", "+"),
		issued[:20] + " " + issued[21:], "%2F" + issued[3:], strings.Repeat("A", 43), "", "%%%"} {
		f.Add(tok, bytes.Repeat([]byte{7}, 32))
	}
	f.Fuzz(func(t *testing.T, token string, random []byte) {
		h, err := HashToken(token)
		if err != nil {
			if relink.ErrorCode(err) != relink.ENOTFOUND || relink.ErrorMessage(err) != relink.ErrorMessage(invalidLink()) {
				t.Fatalf("HashToken(%q) refused with %v", token, err)
			}
		} else {
			sum := sha256.Sum256([]byte(token))
			if len(token) != tokenLen || h != hex.EncodeToString(sum[:]) {
				t.Fatalf("HashToken(%q) = %q", token, h)
			}
		}

		// Any 32 bytes of randomness make a token the pages accept.
		random = append(random, make([]byte, tokenBytes)...)[:tokenBytes]
		tok, l, err := Issue(Spec{WorkspaceID: "ws", UserID: "u", Purpose: PurposeInvite}, time.Unix(0, 0), bytes.NewReader(random))
		if err != nil {
			t.Fatal(err)
		}
		if h, err := HashToken(tok); err != nil || h != l.Hash {
			t.Fatalf("issued token %q: %q, %v (stored %q)", tok, h, err, l.Hash)
		}
	})
}

// FuzzCodeVerify: the 6-digit code of POST /invite/code is typed by a person, so
// anything arrives. Verify is held to:
//
//   - only the emailed digits are right, typed with any white space in between
//     ("123 456"); nothing else is (not full-width digits, not a sign, not a longer
//     number that contains them);
//   - a wrong attempt counts (Attempts and Version up by one) and is EINVALID saying
//     how many are left, or EGONE at the fifth; it never marks the code used;
//   - a right one marks the code used, bumps the version and leaves Attempts alone;
//   - a used, expired or locked code answers EGONE and comes back unchanged, so the
//     caller stores nothing.
//
// The input may hold "{code}", replaced by the right digits, so the fuzzer works
// around the right code as well as the wrong ones. Seeds: right, spaced, wrong, junk.
func FuzzCodeVerify(f *testing.F) {
	pepper := bytes.Repeat([]byte("p"), 32)
	t0 := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	digits, fresh, err := NewCode("01JDK7Y4ZQ6M3V5T8W2X9R1B0E", "ws", "omar@acme.example", pepper, t0, bytes.NewReader(bytes.Repeat([]byte{0x5a}, 64)))
	if err != nil {
		f.Fatal(err)
	}
	for _, in := range []string{"{code}", " {code} ", "{code}\n", "000000", "12345", "1234567", "abcdef", "", "{code}0", "-{code}", "+{code}",
		"１２３４５６", "{code}\u00a0", "\u2003{code}"} {
		f.Add(in, uint8(0), false, uint16(0))
	}
	f.Add("{code}", uint8(4), false, uint16(0))
	f.Add("{code}", uint8(5), false, uint16(0))
	f.Add("{code}", uint8(0), true, uint16(0))
	f.Add("{code}", uint8(0), false, uint16(600))

	f.Fuzz(func(t *testing.T, input string, attempts uint8, used bool, ageSeconds uint16) {
		input = strings.ReplaceAll(input, "{code}", digits[:3]+" "+digits[3:])
		c := fresh
		c.Attempts = int(attempts % (MaxCodeAttempts + 2))
		if used {
			c.UsedAt = t0
		}
		now := t0.Add(time.Duration(ageSeconds) * time.Second)
		next, err := c.Verify(input, pepper, now)

		typed := strings.Join(strings.Fields(input), "")
		right := typed == digits
		switch {
		case used || !now.Before(c.ExpiresAt) || c.Attempts >= MaxCodeAttempts:
			if relink.ErrorCode(err) != relink.EGONE || !sameCode(next, c) {
				t.Fatalf("a used, expired or locked code: %+v, %v", next, err)
			}
		case right:
			if err != nil || next.UsedAt != now || next.Attempts != c.Attempts || next.Version != c.Version+1 {
				t.Fatalf("right code %q: %+v, %v", input, next, err)
			}
		default:
			if !next.UsedAt.IsZero() || next.Attempts != c.Attempts+1 || next.Version != c.Version+1 {
				t.Fatalf("wrong code %q: %+v", input, next)
			}
			wantCode := relink.EINVALID
			if next.Attempts == MaxCodeAttempts {
				wantCode = relink.EGONE
			}
			if relink.ErrorCode(err) != wantCode {
				t.Fatalf("wrong code %q at attempt %d: %v", input, next.Attempts, err)
			}
		}
		if err != nil && strings.Contains(relink.ErrorMessage(err), digits) {
			t.Fatal("an error message shows the code")
		}
	})
}

func sameCode(a, b Code) bool {
	return a.ID == b.ID && a.Hash == b.Hash && a.Attempts == b.Attempts && a.Version == b.Version && a.UsedAt.Equal(b.UsedAt) &&
		a.ExpiresAt.Equal(b.ExpiresAt) && bytes.Equal(a.Payload, b.Payload)
}
