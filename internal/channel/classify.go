package channel

import (
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/relinkhq/relink/internal/account"
)

// ReasonRequestRejected: the platform refused one request (a duplicate post, an
// unsupported field) but the connection itself is fine. Recorded, never a disconnect.
const ReasonRequestRejected = "request_rejected"

// messages are what people read for each reason, in the spirit of the error catalogues
// admins of social tools already know.
var messages = map[string]string{
	account.ReasonExpired:           "The access token expired. Reconnect the account to renew it.",
	account.ReasonRevoked:           "Access was revoked, for example in the account's app settings. Reconnect to grant it again.",
	account.ReasonPasswordChanged:   "The account password was changed, which signed Relink out. Reconnect to continue.",
	account.ReasonCheckpoint:        "The platform wants the account holder to log in on its website and resolve a security check first; then reconnect.",
	account.ReasonAppRemoved:        "The app was removed from the account's settings. Reconnect to add it again.",
	account.ReasonRoleLost:          "You are no longer an admin of this Page. Ask a Page admin to restore your role, then reconnect.",
	account.ReasonPageDeleted:       "The Page or profile no longer exists, or is unpublished.",
	account.ReasonDataAccessExpired: "Access to the account's data lapsed after 90 days without activity. Reconnect to renew it.",
	account.ReasonInvalidToken:      "The platform no longer accepts the access token. Reconnect the account.",
	account.ReasonPermissionMissing: "A permission some features need is missing. Reconnect and grant every permission asked for.",
	account.ReasonTransient:         "The platform is temporarily unavailable or is limiting requests. Relink will try again; nothing to do yet.",
	ReasonRequestRejected:           "The platform refused this request, but the account is still connected.",
}

// Message returns the plain-language text for a reason code.
func Message(reason string) string {
	if m, ok := messages[reason]; ok {
		return m
	}
	return messages[account.ReasonInvalidToken]
}

// dead is a classification for a token that only a person reconnecting can fix.
func dead(reason string) Classification {
	return Classification{Reason: reason, Message: Message(reason), Reauth: true}
}

// Transient classifies a failure to retry later: the account is left as it is.
func Transient() Classification {
	return Classification{Reason: account.ReasonTransient, Message: Message(account.ReasonTransient), Transient: true}
}

func permissionMissing() Classification {
	return Classification{Reason: account.ReasonPermissionMissing, Message: Message(account.ReasonPermissionMissing), PermissionMissing: true}
}

func rejected() Classification {
	return Classification{Reason: ReasonRequestRejected, Message: Message(ReasonRequestRejected)}
}

// expiredRefreshable: the access token lapsed, and a refresh may fix it without a person.
func expiredRefreshable() Classification {
	c := dead(account.ReasonExpired)
	c.RefreshFirst = true
	return c
}

// transientStatus reports statuses that never say anything about the token: server
// errors, rate limits, and no answer at all (status 0: timeout or connection failure).
func transientStatus(status int) bool {
	return status == 0 || status == http.StatusTooManyRequests || status == http.StatusRequestTimeout || status >= 500
}

// byStatus is the fallback when a payload says nothing the channel's rules know.
func byStatus(status int) Classification {
	switch {
	case transientStatus(status):
		return Transient()
	case status == http.StatusUnauthorized:
		return dead(account.ReasonInvalidToken)
	case status == http.StatusForbidden:
		return permissionMissing()
	default:
		return rejected()
	}
}

// withError attaches the platform's own code and message, trimmed, for diagnosis.
func withError(c Classification, status int, code, subcode, message string) Classification {
	const maxMessage = 500
	message = strings.TrimSpace(message)
	if len(message) > maxMessage {
		cut := maxMessage
		for cut > 0 && !utf8.RuneStart(message[cut]) { // never half a character
			cut--
		}
		message = message[:cut]
	}
	c.ChannelError = account.ChannelError{HTTPStatus: status, Code: code, Subcode: subcode, Message: message}
	return c
}

func itoa(n int) string {
	if n == 0 {
		return ""
	}
	return strconv.Itoa(n)
}
