package store

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"testing"
	"time"

	"github.com/relinkhq/relink/internal/account"
	"github.com/relinkhq/relink/internal/relink"
)

var key = []byte("0123456789abcdef0123456789abcdef")

func TestCursorRoundTripAndBinding(t *testing.T) {
	c, err := NewCursors(key)
	if err != nil {
		t.Fatal(err)
	}
	scope := AccountsScope("ws1", account.Filter{State: account.StateActive})
	for _, pos := range [][]byte{nil, []byte("a00042"), bytes.Repeat([]byte{0, 255}, 100)} {
		got, err := c.Open(scope, c.Seal(scope, pos))
		if err != nil || !bytes.Equal(got, pos) {
			t.Fatalf("round trip of %q: %q, %v", pos, got, err)
		}
	}
	cur := c.Seal(scope, []byte("a00042"))
	other, _ := NewCursors([]byte("another-key-another-key-another-k"))
	raw, _ := base64.RawURLEncoding.DecodeString(cur)
	flipped := append([]byte(nil), raw...)
	flipped[2] ^= 1 // change the position, keep the tag
	bad := map[string]struct{ scope, cursor string }{
		"other workspace":    {AccountsScope("ws2", account.Filter{State: account.StateActive}), cur},
		"other filter":       {AccountsScope("ws1", account.Filter{}), cur},
		"other expiring":     {AccountsScope("ws1", account.Filter{State: account.StateActive, ExpiringBefore: time.Unix(1, 0)}), cur},
		"other listing kind": {EventsScope("ws1", "a1"), cur},
		"due as remind":      {RemindScope(3, time.UnixMilli(5)), c.Seal(DueScope(3, time.UnixMilli(5)), []byte("p"))},
		"remind as due":      {DueScope(3, time.UnixMilli(5)), c.Seal(RemindScope(3, time.UnixMilli(5)), []byte("p"))},
		"remind other shard": {RemindScope(4, time.UnixMilli(5)), c.Seal(RemindScope(3, time.UnixMilli(5)), []byte("p"))},
		"remind other time":  {RemindScope(3, time.UnixMilli(6)), c.Seal(RemindScope(3, time.UnixMilli(5)), []byte("p"))},
		"position altered":   {scope, base64.RawURLEncoding.EncodeToString(flipped)},
		"signed elsewhere":   {scope, other.Seal(scope, []byte("a00042"))},
		"not base64":         {scope, "%%%"},
		"too short":          {scope, "AQ"},
		"empty":              {scope, ""},
		"too long":           {scope, string(bytes.Repeat([]byte("A"), maxCursorBytes+1))},
	}
	for name, b := range bad {
		if _, err := c.Open(b.scope, b.cursor); relink.ErrorCode(err) != relink.EINVALID {
			t.Errorf("%s: %v, want invalid", name, err)
		}
	}
	if _, err := NewCursors([]byte("short")); err == nil {
		t.Error("a short key was accepted")
	}
}

func TestCheckPage(t *testing.T) {
	for _, tc := range []struct {
		limit, want int
		ok          bool
	}{{0, DefaultLimit, true}, {1, 1, true}, {MaxLimit, MaxLimit, true}, {-1, 0, false}, {MaxLimit + 1, 0, false}} {
		got, err := CheckPage(Page{Limit: tc.limit})
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("CheckPage(%d) = %d, %v", tc.limit, got, err)
		}
	}
}

// TestDueShardSpread: the shard of an account never changes and shards fill evenly, so
// concurrent sweeps share the work.
func TestDueShardSpread(t *testing.T) {
	const n, shards = 100_000, 16
	counts := make([]int, shards)
	for i := range n {
		ws, id := fmt.Sprintf("ws%d", i%37), fmt.Sprintf("01jd%08d", i)
		s := DueShard(ws, id, shards)
		if s != DueShard(ws, id, shards) {
			t.Fatal("shard not stable")
		}
		counts[s]++
	}
	for s, c := range counts {
		if c < n/shards*9/10 || c > n/shards*11/10 {
			t.Errorf("shard %d holds %d of %d accounts: uneven", s, c, n)
		}
	}
	// The workspace and account IDs are hashed with a separator, so ("ab","c") and
	// ("a","bc") are different accounts in different places.
	if DueShard("ab", "c", 1<<20) == DueShard("a", "bc", 1<<20) {
		t.Error("workspace and account IDs run together in the hash")
	}
}
