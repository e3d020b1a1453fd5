package relink

import (
	"errors"
	"fmt"
	"net/http"
	"testing"
)

func TestErrorCodeAndMessage(t *testing.T) {
	base := Errorf(ENOTFOUND, "Account %q not found.", "a1")
	wrapped := fmt.Errorf("get account: %w", base)
	cause := errors.New("dial tcp 10.0.0.1: secret-ish detail")
	tests := []struct {
		name    string
		err     error
		code    string
		message string
		status  int
	}{
		{"nil", nil, "", "", http.StatusInternalServerError},
		{"direct", base, ENOTFOUND, `Account "a1" not found.`, http.StatusNotFound},
		{"wrapped keeps its code", wrapped, ENOTFOUND, `Account "a1" not found.`, http.StatusNotFound},
		{"foreign error is internal and hidden", cause, EINTERNAL, "An internal error occurred.", http.StatusInternalServerError},
		{"wrap keeps the cause out of the message", Wrap(cause, EUNAVAILABLE, "Try again shortly."), EUNAVAILABLE, "Try again shortly.", http.StatusServiceUnavailable},
		{"conflict", Errorf(ECONFLICT, "x"), ECONFLICT, "x", http.StatusConflict},
		{"illegal", Errorf(EILLEGAL, "x"), EILLEGAL, "x", http.StatusConflict},
		{"reauth", Errorf(EREAUTH, "x"), EREAUTH, "x", http.StatusConflict},
		{"invalid", Errorf(EINVALID, "x"), EINVALID, "x", http.StatusBadRequest},
		{"forbidden", Errorf(EFORBIDDEN, "x"), EFORBIDDEN, "x", http.StatusForbidden},
		{"unauthorized", Errorf(EUNAUTHORIZED, "x"), EUNAUTHORIZED, "x", http.StatusUnauthorized},
		{"rate limited", Errorf(ERATELIMIT, "x"), ERATELIMIT, "x", http.StatusTooManyRequests},
		{"gone", Errorf(EGONE, "x"), EGONE, "x", http.StatusGone},
		{"unknown code", Errorf("made_up", "x"), "made_up", "x", http.StatusInternalServerError},
	}
	for _, tt := range tests {
		if got := ErrorCode(tt.err); got != tt.code {
			t.Errorf("%s: code %q, want %q", tt.name, got, tt.code)
		}
		if got := ErrorMessage(tt.err); got != tt.message {
			t.Errorf("%s: message %q, want %q", tt.name, got, tt.message)
		}
		if tt.err != nil {
			if got := HTTPStatus(tt.err); got != tt.status {
				t.Errorf("%s: status %d, want %d", tt.name, got, tt.status)
			}
		}
	}
	if !errors.Is(Wrap(cause, EINTERNAL, "x"), cause) {
		t.Error("Wrap must keep the cause in the chain for logs")
	}
}
