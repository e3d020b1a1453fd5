package vault

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

const rawSecret = "tok-SHOULD-NOT-LEAK"

func TestSecretRedacted(t *testing.T) {
	s := Secret(rawSecret)
	holder := struct {
		Token Secret
		Ptr   *Secret
	}{s, &s}
	tokens := Tokens{Access: s, Refresh: s, TokenType: "bearer"}

	for _, tc := range []struct{ name, format string }{
		{"v", "%v"}, {"s", "%s"}, {"+v", "%+v"}, {"#v", "%#v"},
		{"q", "%q"}, {"x", "%x"}, {"d", "%d"}, {"10s", "%10s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, arg := range []any{s, &s, holder, &holder, tokens, []Secret{s}, map[string]Secret{"k": s}} {
				if out := fmt.Sprintf(tc.format, arg); strings.Contains(out, rawSecret) || !strings.Contains(out, redacted) {
					t.Errorf("%s of %T is not redacted", tc.format, arg)
				}
			}
		})
	}

	t.Run("json", func(t *testing.T) {
		for _, arg := range []any{s, holder, tokens, map[string]Secret{"k": s}} {
			out, err := json.Marshal(arg)
			if err != nil {
				t.Fatalf("marshal %T: %v", arg, err)
			}
			if bytes.Contains(out, []byte(rawSecret)) || !bytes.Contains(out, []byte(redacted)) {
				t.Errorf("json of %T is not redacted", arg)
			}
		}
	})

	t.Run("text", func(t *testing.T) {
		if out, _ := s.MarshalText(); string(out) != redacted {
			t.Error("MarshalText is not redacted")
		}
	})

	t.Run("slog", func(t *testing.T) {
		var buf bytes.Buffer
		log := slog.New(slog.NewJSONHandler(&buf, nil))
		log.Info("grant", "token", s, "holder", holder, "tokens", tokens, slog.Any("ptr", &s))
		if strings.Contains(buf.String(), rawSecret) || strings.Count(buf.String(), redacted) < 4 {
			t.Errorf("slog output is not redacted (%d bytes)", buf.Len())
		}
	})

	t.Run("reveal", func(t *testing.T) {
		if s.Reveal() != rawSecret {
			t.Error("Reveal does not return the value")
		}
	})
}
