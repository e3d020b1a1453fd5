// Package magiclink holds the secrets people receive by email: magic links that open an
// owner's pages, and the one-time codes that confirm an invite. Only hashes are ever
// stored; the plain values exist in the email and in the person's hands.
package magiclink

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"math/big"
	"strings"
	"time"

	"github.com/relinkhq/relink/internal/relink"
)

// Purpose is what a link is for.
type Purpose string

const (
	// PurposeReconnect links go out in reminder emails: the owner's accounts, each
	// with a Reconnect button.
	PurposeReconnect Purpose = "reconnect"
	// PurposeConnect is an owner's personal connect link, which an admin copies or
	// emails; it also offers "connect a new account".
	PurposeConnect Purpose = "connect"
	// PurposeInvite starts an invite: choose channels, authorise, confirm with a code.
	PurposeInvite Purpose = "invite"
)

// policy bounds a purpose: how long a link lives and how often it may be opened.
type policy struct {
	ttl     time.Duration
	maxUses int
}

var policies = map[Purpose]policy{
	PurposeReconnect: {ttl: 14 * 24 * time.Hour, maxUses: 50},
	PurposeConnect:   {ttl: 30 * 24 * time.Hour, maxUses: 100},
	PurposeInvite:    {ttl: 7 * 24 * time.Hour, maxUses: 20},
}

// Valid reports whether p is a known purpose.
func (p Purpose) Valid() bool { _, ok := policies[p]; return ok }

// Link is a magic link as stored: its hash, never its token.
type Link struct {
	Hash        string // hex SHA-256 of the token
	WorkspaceID string
	UserID      string // whose pages it opens (for invites: the invited person)
	Purpose     Purpose
	Email       string   // where it was sent
	Channels    []string // invite: the channels offered
	Message     string   // invite: the inviter's note
	CreatedAt   time.Time
	ExpiresAt   time.Time
	Uses        int
	MaxUses     int
	RevokedAt   time.Time
}

// Spec is what a new link is issued for.
type Spec struct {
	WorkspaceID, UserID, Email string
	Purpose                    Purpose
	Channels                   []string
	Message                    string
}

const (
	tokenBytes = 32
	tokenLen   = 43 // base64url of 32 bytes, unpadded
	maxMessage = 1000
)

// Issue makes a new link: the token for the email and the Link to store.
func Issue(spec Spec, now time.Time, random io.Reader) (string, Link, error) {
	pol, ok := policies[spec.Purpose]
	if !ok {
		return "", Link{}, relink.Errorf(relink.EINVALID, "Unknown link purpose %q.", spec.Purpose)
	}
	if spec.WorkspaceID == "" || spec.UserID == "" {
		return "", Link{}, relink.Errorf(relink.EINVALID, "A link needs a workspace and a person.")
	}
	if len(spec.Message) > maxMessage {
		return "", Link{}, relink.Errorf(relink.EINVALID, "The message is too long (%d characters at most).", maxMessage)
	}
	raw := make([]byte, tokenBytes)
	if _, err := io.ReadFull(random, raw); err != nil {
		return "", Link{}, fmt.Errorf("read randomness for a link: %w", err)
	}
	token := base64.RawURLEncoding.EncodeToString(raw)
	l := Link{
		Hash: hashOf(token), WorkspaceID: spec.WorkspaceID, UserID: spec.UserID, Purpose: spec.Purpose,
		Email: spec.Email, Channels: spec.Channels, Message: strings.TrimSpace(spec.Message),
		CreatedAt: now, ExpiresAt: now.Add(pol.ttl), MaxUses: pol.maxUses,
	}
	return token, l, nil
}

// HashToken checks a token's form and returns the hash it is stored under. Anything
// that is not a token Issue could have made is refused before any lookup.
func HashToken(token string) (string, error) {
	if len(token) != tokenLen {
		return "", invalidLink()
	}
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(raw) != tokenBytes {
		return "", invalidLink()
	}
	return hashOf(token), nil
}

func hashOf(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

func invalidLink() error {
	return relink.Errorf(relink.ENOTFOUND, "This link is not valid. Check that the whole link was copied, or ask for a new one.")
}

// Usable reports why a link can no longer be opened: revoked, expired, or used up —
// all EGONE, so the page can offer a new link.
func (l Link) Usable(now time.Time) error {
	switch {
	case !l.RevokedAt.IsZero():
		return relink.Errorf(relink.EGONE, "This link was replaced by a newer one. Use the latest email, or ask for a new link.")
	case !now.Before(l.ExpiresAt):
		return relink.Errorf(relink.EGONE, "This link has expired. Ask for a new one and it will be emailed to you.")
	case l.MaxUses > 0 && l.Uses >= l.MaxUses:
		return relink.Errorf(relink.EGONE, "This link has been used too often. Ask for a new one and it will be emailed to you.")
	}
	return nil
}

// Code is a one-time code as stored: a keyed hash, never the digits.
type Code struct {
	ID          string // the flow it confirms (e.g. the invite's OAuth session)
	WorkspaceID string
	Email       string
	Hash        string // hex HMAC-SHA256(pepper, ID + code)
	CreatedAt   time.Time
	ExpiresAt   time.Time
	Attempts    int       // wrong guesses so far
	UsedAt      time.Time // a right code works once
	Version     int64
	// Payload is the sealed state of the flow the code confirms (an invite's pending
	// connection: the tokens and accounts waiting for the code). Opaque to the store.
	Payload []byte
}

// Code limits (DESIGN.md: 10 minutes, 5 attempts).
const (
	CodeTTL         = 10 * time.Minute
	MaxCodeAttempts = 5
	codeDigits      = 6
)

// NewCode makes a 6-digit code for flow id. The pepper keys the hash, so a copy of the
// table alone cannot be searched for the million possible codes.
func NewCode(id, workspaceID, email string, pepper []byte, now time.Time, random io.Reader) (string, Code, error) {
	if len(pepper) < 32 {
		return "", Code{}, relink.Errorf(relink.EINTERNAL, "code pepper must be at least 32 bytes")
	}
	n, err := rand.Int(random, big.NewInt(1_000_000))
	if err != nil {
		return "", Code{}, fmt.Errorf("read randomness for a code: %w", err)
	}
	code := fmt.Sprintf("%06d", n.Int64())
	return code, Code{ID: id, WorkspaceID: workspaceID, Email: email, Hash: codeHash(pepper, id, code),
		CreatedAt: now, ExpiresAt: now.Add(CodeTTL), Version: 1}, nil
}

func codeHash(pepper []byte, id, code string) string {
	m := hmac.New(sha256.New, pepper)
	m.Write([]byte(id))
	m.Write([]byte{0})
	m.Write([]byte(code))
	return hex.EncodeToString(m.Sum(nil))
}

// Verify checks a person's attempt. It returns the code as it must be stored next
// (with the attempt counted) and nil when the attempt is right. A wrong attempt is
// EINVALID saying how many remain; an expired code or one locked after 5 wrong
// attempts is EGONE. Store the returned code before answering, conditional on the
// version read, so concurrent guesses all count.
func (c Code) Verify(input string, pepper []byte, now time.Time) (Code, error) {
	if !c.UsedAt.IsZero() {
		return c, relink.Errorf(relink.EGONE, "This code was already used.")
	}
	if !now.Before(c.ExpiresAt) {
		return c, relink.Errorf(relink.EGONE, "This code has expired. Ask for a new one.")
	}
	if c.Attempts >= MaxCodeAttempts {
		return c, relink.Errorf(relink.EGONE, "Too many wrong codes. Ask for a new one.")
	}
	next := c
	next.Attempts++
	next.Version++
	input = strings.Join(strings.Fields(input), "") // "123 456" as typed from an email
	if len(input) == codeDigits && strings.Trim(input, "0123456789") == "" &&
		subtle.ConstantTimeCompare([]byte(codeHash(pepper, c.ID, input)), []byte(c.Hash)) == 1 {
		next.Attempts = c.Attempts // a right code is not a wrong guess
		next.UsedAt = now
		return next, nil
	}
	left := MaxCodeAttempts - next.Attempts
	if left == 0 {
		return next, relink.Errorf(relink.EGONE, "Too many wrong codes. Ask for a new one.")
	}
	return next, relink.Errorf(relink.EINVALID, "That code is not right. %d attempt%s left.", left, plural(left))
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
