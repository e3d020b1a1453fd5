package store

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"hash/fnv"
	"strconv"
	"strings"
	"time"

	"github.com/relinkhq/relink/internal/account"
	"github.com/relinkhq/relink/internal/relink"
)

// Cursors seals page positions into opaque, tamper-proof strings. A cursor is bound to
// its listing (its scope: workspace, filter, shard…), so it cannot be replayed against
// another workspace or filter, and any change to it is detected.
type Cursors struct {
	key []byte
}

const (
	minCursorKey   = 32
	macLen         = 16 // 128-bit HMAC-SHA256 tag
	maxCursorBytes = 2048
	cursorVersion  = 1
)

// NewCursors returns a codec signing with key (at least 32 bytes).
func NewCursors(key []byte) (*Cursors, error) {
	if len(key) < minCursorKey {
		return nil, relink.Errorf(relink.EINTERNAL, "cursor key must be at least %d bytes", minCursorKey)
	}
	return &Cursors{key: append([]byte(nil), key...)}, nil
}

// Seal returns the cursor for position pos in the listing named by scope.
func (c *Cursors) Seal(scope string, pos []byte) string {
	buf := make([]byte, 0, 1+len(pos)+macLen)
	buf = append(buf, cursorVersion)
	buf = append(buf, pos...)
	buf = append(buf, c.mac(scope, buf)...)
	return base64.RawURLEncoding.EncodeToString(buf)
}

// Open checks a cursor against the listing it is used for and returns its position.
func (c *Cursors) Open(scope, cursor string) ([]byte, error) {
	bad := relink.Errorf(relink.EINVALID, "The page cursor is invalid or belongs to another listing; start again from the first page.")
	if len(cursor) > maxCursorBytes {
		return nil, bad
	}
	raw, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil || len(raw) < 1+macLen || raw[0] != cursorVersion {
		return nil, bad
	}
	body, tag := raw[:len(raw)-macLen], raw[len(raw)-macLen:]
	if !hmac.Equal(tag, c.mac(scope, body)) {
		return nil, bad
	}
	return body[1:], nil
}

func (c *Cursors) mac(scope string, body []byte) []byte {
	h := hmac.New(sha256.New, c.key)
	h.Write([]byte(scope))
	h.Write([]byte{0})
	h.Write(body)
	return h.Sum(nil)[:macLen]
}

// AccountsScope names an account listing for cursor binding.
func AccountsScope(workspaceID string, f account.Filter) string {
	exp := ""
	if !f.ExpiringBefore.IsZero() {
		exp = strconv.FormatInt(f.ExpiringBefore.UnixMilli(), 10)
	}
	return strings.Join([]string{"accounts", workspaceID, string(f.State), f.Channel, f.OwnerID, exp}, "\x00")
}

// DueScope names a due-index listing for cursor binding.
func DueScope(shard int, now time.Time) string { return indexScope("due", shard, now) }

// RemindScope names a remind-index listing for cursor binding. It differs from
// DueScope, so a cursor of one index is refused by the other.
func RemindScope(shard int, now time.Time) string { return indexScope("remind", shard, now) }

func indexScope(index string, shard int, now time.Time) string {
	return strings.Join([]string{index, strconv.Itoa(shard), strconv.FormatInt(now.UnixMilli(), 10)}, "\x00")
}

// EventsScope names an audit-trail listing for cursor binding.
func EventsScope(workspaceID, accountID string) string {
	return strings.Join([]string{"events", workspaceID, accountID}, "\x00")
}

// CheckPage validates a page request and returns its effective limit.
func CheckPage(p Page) (int, error) {
	switch {
	case p.Limit == 0:
		return DefaultLimit, nil
	case p.Limit < 0 || p.Limit > MaxLimit:
		return 0, relink.Errorf(relink.EINVALID, "Page size must be between 1 and %d.", MaxLimit)
	}
	return p.Limit, nil
}

// DueShard is the shard of an account in the due index and in the remind index: a
// stable hash, so an account stays in one shard and shards fill evenly.
func DueShard(workspaceID, accountID string, shards int) int {
	h := fnv.New32a()
	h.Write([]byte(workspaceID))
	h.Write([]byte{0})
	h.Write([]byte(accountID))
	return int(h.Sum32() % uint32(shards))
}
