package portal

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"

	"github.com/relinkhq/relink/internal/connect"
	"github.com/relinkhq/relink/internal/relink"
)

// Unsubscriber signs the opt-out links every reminder email carries. A link names a
// person of a workspace and cannot be forged for anyone else; opening it asks for a
// confirmation (a POST), so mail scanners that follow links unsubscribe nobody.
type Unsubscriber struct {
	Key     []byte // at least 32 bytes, used for nothing else
	BaseURL string // empty: the request's (connect.WithBaseURL)
}

func (u Unsubscriber) mac(payload []byte) []byte {
	m := hmac.New(sha256.New, u.Key)
	m.Write([]byte("unsubscribe\x00"))
	m.Write(payload)
	return m.Sum(nil)[:16]
}

// Token is the opt-out token of a person.
func (u Unsubscriber) Token(workspaceID, userID string) string {
	payload := []byte(workspaceID + "\x00" + userID)
	return base64.RawURLEncoding.EncodeToString(payload) + "." + base64.RawURLEncoding.EncodeToString(u.mac(payload))
}

// URL is the opt-out link of a person.
func (u Unsubscriber) URL(ctx context.Context, workspaceID, userID string) (string, error) {
	base, err := connect.BaseURL(ctx, u.BaseURL)
	if err != nil {
		return "", err
	}
	return base + "/unsubscribe?" + url.Values{"t": {u.Token(workspaceID, userID)}}.Encode(), nil
}

// Open checks a token and returns whom it names.
func (u Unsubscriber) Open(token string) (workspaceID, userID string, ok bool) {
	p64, sig64, found := strings.Cut(token, ".")
	if !found || len(token) > 600 {
		return "", "", false
	}
	payload, err1 := base64.RawURLEncoding.DecodeString(p64)
	sig, err2 := base64.RawURLEncoding.DecodeString(sig64)
	if err1 != nil || err2 != nil || !hmac.Equal(sig, u.mac(payload)) {
		return "", "", false
	}
	ws, user, found := strings.Cut(string(payload), "\x00")
	return ws, user, found && ws != "" && user != ""
}

// SetSubscription turns a person's reminder emails off (or back on) from their link.
func (s *Service) SetSubscription(ctx context.Context, token string, unsubscribed bool) (string, error) {
	ws, userID, ok := s.Unsubscribe.Open(token)
	if !ok {
		return "", relink.Errorf(relink.ENOTFOUND, "This link is not valid. Use the link at the bottom of one of our emails.")
	}
	for attempt := 0; ; attempt++ {
		u, err := s.Store.GetUser(ctx, ws, userID)
		if relink.ErrorCode(err) == relink.ENOTFOUND {
			return "", relink.Errorf(relink.ENOTFOUND, "This link belongs to someone who is no longer in the workspace.")
		} else if err != nil {
			return "", err
		}
		if u.Preferences.Unsubscribed == unsubscribed {
			return u.Email, nil
		}
		u.Preferences.Unsubscribed = unsubscribed
		u.UpdatedAt = s.Clock.Now()
		if _, err = s.Store.UpdateUser(ctx, u); err == nil {
			return u.Email, nil
		}
		if relink.ErrorCode(err) != relink.ECONFLICT || attempt == 2 {
			return "", err
		}
	}
}

type unsubscribePage struct {
	Token, Email string
	Done         bool
	Unsubscribed bool
}

func (h *Handler) unsubscribeForm(w http.ResponseWriter, r *http.Request) {
	token := r.URL.Query().Get("t")
	if _, _, ok := h.svc.Unsubscribe.Open(token); !ok {
		h.fail(w, r, relink.Errorf(relink.ENOTFOUND, "This link is not valid. Use the link at the bottom of one of our emails."))
		return
	}
	h.render(w, r, http.StatusOK, "unsubscribe.html", page{Title: "Stop reminder emails", Data: unsubscribePage{Token: token}})
}

func (h *Handler) unsubscribe(w http.ResponseWriter, r *http.Request) {
	off := r.PostForm.Get("resubscribe") == ""
	email, err := h.svc.SetSubscription(r.Context(), r.PostForm.Get("t"), off)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.render(w, r, http.StatusOK, "unsubscribe.html", page{Title: "Reminder emails",
		Data: unsubscribePage{Token: r.PostForm.Get("t"), Email: email, Done: true, Unsubscribed: off}})
}
