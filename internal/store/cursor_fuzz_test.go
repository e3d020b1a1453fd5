package store

import (
	"bytes"
	"testing"
	"time"

	"github.com/relinkhq/relink/internal/account"
	"github.com/relinkhq/relink/internal/relink"
)

// FuzzCursorOpen: a page cursor is whatever a client sends back, so Open reads any
// string. Properties:
//
//   - Open never panics, and refuses with EINVALID and the one message (which never
//     echoes the input);
//   - a cursor it accepts was signed for that very listing: the same cursor is refused
//     for any other scope and under another key, and is at most maxCursorBytes;
//   - Seal → Open gives the position back, in the listing it was sealed for only;
//   - changing one character of a sealed cursor is refused, unless the change only
//     touches base64's unused low bits, in which case the very same position comes
//     back: a forged position never verifies.
//
// Seeds: cursors sealed under the test key for real listings (accounts with a filter,
// the due and remind indexes, an audit trail), tampered ones, other keys' ones, junk.
func FuzzCursorOpen(f *testing.F) {
	c, err := NewCursors(key)
	if err != nil {
		f.Fatal(err)
	}
	other, _ := NewCursors(bytes.Repeat([]byte("o"), 32))
	accounts := AccountsScope("ws1", account.Filter{State: account.StateActive, Channel: "facebook"})
	due := DueScope(3, time.UnixMilli(1795338000000))
	for _, s := range []struct {
		scope string
		pos   []byte
	}{
		{accounts, []byte("ws1\x0001JDK7Y4ZQ6M3V5T8W2X9R1B0E")},
		{due, append([]byte{0, 3, 0, 0, 1, 0x9a, 0x1b, 0x2c, 0x3d, 0x4e}, "ws1\x00a1"...)},
		{EventsScope("ws1", "a1"), []byte{0, 0, 0, 0, 0, 0, 0, 7}},
		{RemindScope(0, time.Unix(0, 0)), nil},
	} {
		sealed := c.Seal(s.scope, s.pos)
		f.Add(s.scope, s.pos, sealed, uint16(0))
		f.Add(s.scope, s.pos, sealed, uint16(len(sealed)-1))
		f.Add(s.scope+"x", s.pos, sealed, uint16(5))
		f.Add(s.scope, s.pos, other.Seal(s.scope, s.pos), uint16(1))
	}
	for _, junk := range []string{"", "AQ", "%%%", "not-a-cursor", "AQAAAAAAAAAAAAAAAAAAAAAA", "AQ==", "\n\r", string(bytes.Repeat([]byte("A"), maxCursorBytes+1))} {
		f.Add(accounts, []byte("p"), junk, uint16(0))
	}

	f.Fuzz(func(t *testing.T, scope string, pos []byte, cursor string, flip uint16) {
		// Whatever a client sends.
		got, err := c.Open(scope, cursor)
		if err != nil {
			if relink.ErrorCode(err) != relink.EINVALID || relink.ErrorField(err) != "" ||
				relink.ErrorMessage(err) != "The page cursor is invalid or belongs to another listing; start again from the first page." {
				t.Fatalf("Open(%q) refused with %v", cursor, err)
			}
		} else {
			if len(cursor) > maxCursorBytes {
				t.Fatalf("a cursor of %d bytes was accepted", len(cursor))
			}
			if _, err := c.Open(scope+"\x00", cursor); err == nil {
				t.Fatalf("cursor %q opens in two listings", cursor)
			}
			if _, err := other.Open(scope, cursor); err == nil {
				t.Fatalf("cursor %q opens under two keys", cursor)
			}
			// Sealed again it is canonical, so no longer than what was accepted.
			if again, err := c.Open(scope, c.Seal(scope, got)); err != nil || !bytes.Equal(again, got) {
				t.Fatalf("position %q does not survive Seal/Open: %q, %v", got, again, err)
			}
		}

		// What Relink itself hands out.
		sealed := c.Seal(scope, pos)
		back, err := c.Open(scope, sealed)
		switch {
		case len(sealed) > maxCursorBytes:
			if err == nil {
				t.Fatalf("an over-long cursor (%d bytes) was accepted", len(sealed))
			}
			return
		case err != nil || !bytes.Equal(back, pos):
			t.Fatalf("Seal/Open of %q in %q: %q, %v", pos, scope, back, err)
		}
		if scope != cursor { // any other scope: here the fuzzer's cursor string
			if _, err := c.Open(cursor, sealed); err == nil {
				t.Fatalf("a cursor sealed for %q opens for %q", scope, cursor)
			}
		}
		i := int(flip) % len(sealed)
		tampered := []byte(sealed)
		tampered[i] = alphabet[(bytes.IndexByte(alphabet, tampered[i])+1+int(flip/256)%63)%64]
		if forged, err := c.Open(scope, string(tampered)); err == nil && !bytes.Equal(forged, pos) {
			t.Fatalf("tampered cursor %q verified with position %q (sealed %q for %q)", tampered, forged, sealed, pos)
		}
	})
}

// alphabet is base64url's: a tampered character is always another valid one.
var alphabet = []byte("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
