package portal

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/relinkhq/relink/internal/magiclink"
	"github.com/relinkhq/relink/internal/relink"
)

// Cookie names. The __Host- prefix makes browsers insist on Secure, Path=/ and no
// Domain, so no sibling subdomain can plant or read them. Browsers treat localhost
// and 127.0.0.1 as secure, so `make run` keeps the same cookies over plain HTTP.
const (
	sessionCookie = "__Host-relink-session"
	csrfCookie    = "__Host-relink-csrf"
)

// SessionTTL bounds a session; opening the link again starts a new one.
const SessionTTL = 12 * time.Hour

// Session is who opened a magic link, kept in a signed cookie. It holds no secret:
// the link's hash names the link, whose state is checked on every request, so a
// revoked or rotated link ends its sessions at once.
type Session struct {
	WorkspaceID string            `json:"w"`
	UserID      string            `json:"u"`
	LinkHash    string            `json:"l"`
	Purpose     magiclink.Purpose `json:"p"`
	Expires     int64             `json:"e"` // Unix seconds
}

// Signer signs sessions and CSRF tokens with one key, under distinct labels so that
// neither can stand in for the other.
type Signer struct {
	Key []byte // at least 32 bytes
}

func (s Signer) mac(label string, data []byte) []byte {
	m := hmac.New(sha256.New, s.Key)
	m.Write([]byte(label))
	m.Write([]byte{0})
	m.Write(data)
	return m.Sum(nil)
}

// Encode returns the cookie value for sess.
func (s Signer) Encode(sess Session) (string, error) {
	payload, err := json.Marshal(sess)
	if err != nil {
		return "", relink.Wrap(err, relink.EINTERNAL, "Could not start a session.")
	}
	return base64.RawURLEncoding.EncodeToString(payload) + "." + base64.RawURLEncoding.EncodeToString(s.mac("session", payload)), nil
}

// Decode checks a cookie value's signature and expiry.
func (s Signer) Decode(value string, now time.Time) (Session, bool) {
	p64, sig64, ok := strings.Cut(value, ".")
	if !ok || len(value) > 4096 {
		return Session{}, false
	}
	payload, err1 := base64.RawURLEncoding.DecodeString(p64)
	sig, err2 := base64.RawURLEncoding.DecodeString(sig64)
	if err1 != nil || err2 != nil || !hmac.Equal(sig, s.mac("session", payload)) {
		return Session{}, false
	}
	var sess Session
	if json.Unmarshal(payload, &sess) != nil || sess.WorkspaceID == "" || sess.UserID == "" || now.Unix() >= sess.Expires {
		return Session{}, false
	}
	return sess, true
}

// CSRFToken is the form field that must come back with every POST: a MAC of the
// browser's CSRF cookie. A site that cannot read the cookie cannot forge it.
func (s Signer) CSRFToken(cookie string) string {
	return base64.RawURLEncoding.EncodeToString(s.mac("csrf", []byte(cookie)))
}

// CheckCSRF reports whether token belongs to cookie.
func (s Signer) CheckCSRF(cookie, token string) bool {
	if cookie == "" || token == "" {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(s.CSRFToken(cookie)), []byte(token)) == 1
}

func setCookie(w http.ResponseWriter, name, value string, maxAge time.Duration) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: "/", MaxAge: int(maxAge.Seconds()),
		HttpOnly: true, Secure: true, SameSite: http.SameSiteLaxMode})
}

func clearCookie(w http.ResponseWriter, name string) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: true, SameSite: http.SameSiteLaxMode})
}

// newCSRFCookie makes a fresh random CSRF cookie value.
func newCSRFCookie(random io.Reader) (string, error) {
	b := make([]byte, 32)
	if _, err := io.ReadFull(random, b); err != nil {
		return "", relink.Wrap(err, relink.EINTERNAL, "Could not prepare the page.")
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}
