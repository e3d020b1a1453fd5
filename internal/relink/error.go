// Package relink holds what every other package shares: the one error type and its
// codes. Codes are stable strings clients may branch on; the HTTP edge owns the single
// code→status mapping. Messages are written for people and never carry internals.
package relink

import (
	"errors"
	"fmt"
	"net/http"
)

// Error codes.
const (
	EINVALID      = "invalid"            // bad input; the message says what to fix
	ENOTFOUND     = "not_found"          // no such thing (or not visible to the caller)
	ECONFLICT     = "conflict"           // concurrent change or uniqueness clash; retry with fresh data
	EILLEGAL      = "illegal_transition" // the move is not allowed from the current state
	EREAUTH       = "reauth_required"    // the token is no longer valid; the account must be re-added
	EFORBIDDEN    = "forbidden"          // known caller, not allowed
	EUNAUTHORIZED = "unauthorized"       // caller not identified
	ERATELIMIT    = "rate_limited"       // too many requests; try later
	EUNAVAILABLE  = "unavailable"        // a dependency is temporarily failing; try later
	EGONE         = "gone"               // existed, but expired, was used up or revoked
	ETOOLARGE     = "too_large"          // the request body is over the limit
	EMEDIATYPE    = "unsupported_media_type"
	EMETHOD       = "method_not_allowed"
	EINTERNAL     = "internal" // a bug or an unexpected failure; details only in logs
)

// Error is the application error. Code is machine-readable, Message is safe to show.
type Error struct {
	Code    string
	Message string
	Field   string // for EINVALID: the input field to fix, when there is one
	Err     error  // underlying cause, for logs only
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with a formatted, client-safe message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Invalid is EINVALID naming the field to fix.
func Invalid(field, format string, args ...any) *Error {
	return &Error{Code: EINVALID, Field: field, Message: fmt.Sprintf(format, args...)}
}

// ErrorField returns the field an EINVALID error names, "" for none.
func ErrorField(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Field
	}
	return ""
}

// Wrap attaches a cause that is kept for logs but never shown to clients.
func Wrap(err error, code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...), Err: err}
}

// ErrorCode returns the code of the first *Error in err's chain, EINTERNAL for any
// other error, and "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the client-safe message of err. Errors that are not *Error
// are internal: their text may hold anything, so it is never shown.
func ErrorMessage(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "An internal error occurred."
}

// statuses is the one code→HTTP-status mapping every HTTP edge uses.
var statuses = map[string]int{
	EINVALID:      http.StatusBadRequest,
	ENOTFOUND:     http.StatusNotFound,
	ECONFLICT:     http.StatusConflict,
	EILLEGAL:      http.StatusConflict,
	EREAUTH:       http.StatusConflict,
	EFORBIDDEN:    http.StatusForbidden,
	EUNAUTHORIZED: http.StatusUnauthorized,
	ERATELIMIT:    http.StatusTooManyRequests,
	EUNAVAILABLE:  http.StatusServiceUnavailable,
	EGONE:         http.StatusGone,
	ETOOLARGE:     http.StatusRequestEntityTooLarge,
	EMEDIATYPE:    http.StatusUnsupportedMediaType,
	EMETHOD:       http.StatusMethodNotAllowed,
	EINTERNAL:     http.StatusInternalServerError,
}

// HTTPStatus returns the HTTP status for err's code (500 for anything unknown).
func HTTPStatus(err error) int {
	if s, ok := statuses[ErrorCode(err)]; ok {
		return s
	}
	return http.StatusInternalServerError
}
