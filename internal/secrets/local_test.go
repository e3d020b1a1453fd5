package secrets

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/relinkhq/relink/internal/relink"
)

func TestEnvName(t *testing.T) {
	for name, want := range map[string]string{
		"relink/token-keys":     "RELINK_SECRET_RELINK_TOKEN_KEYS",
		"linkedin.clientSecret": "RELINK_SECRET_LINKEDIN_CLIENTSECRET",
		"X_2":                   "RELINK_SECRET_X_2",
		"é":                     "RELINK_SECRET__",
	} {
		if got := EnvName(name); got != want {
			t.Errorf("EnvName(%q) = %q, want %q", name, got, want)
		}
	}
}

func TestEnv(t *testing.T) {
	vars := map[string]string{"RELINK_SECRET_RELINK_TOKEN_KEYS": "env-value", "RELINK_SECRET_EMPTY": ""}
	env := Env{Lookup: func(k string) (string, bool) { v, ok := vars[k]; return v, ok }}
	for _, tc := range []struct{ name, want, code string }{
		{"relink/token-keys", "env-value", ""},
		{"empty", "", ""},
		{"missing", "", relink.ENOTFOUND},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.code != "" {
				_, err := env.Value(context.Background(), tc.name)
				wantCode(t, err, tc.code)
				return
			}
			wantValue(t, env, tc.name, tc.want)
		})
	}

	t.Setenv("RELINK_SECRET_FROM_OS", "os-value")
	wantValue(t, Env{}, "from-os", "os-value")
}

func TestFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("plain", "file-value")
	write("newline", "file-value\n")
	write("crlf", "file-value\r\n")
	write("two-newlines", "file-value\n\n")
	write("relink/token-keys", "nested-value")
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "secret"), []byte("outside"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(outside, "secret"), filepath.Join(dir, "escape")); err != nil {
		t.Fatal(err)
	}

	f := Files{Dir: dir}
	for _, tc := range []struct{ name, want, code string }{
		{"plain", "file-value", ""},
		{"newline", "file-value", ""},
		{"crlf", "file-value", ""},
		{"two-newlines", "file-value\n", ""},
		{"relink/token-keys", "nested-value", ""},
		{"missing", "", relink.ENOTFOUND},
		{"../secret", "", relink.EINTERNAL},
		{"escape", "", relink.EINTERNAL},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.code != "" {
				_, err := f.Value(context.Background(), tc.name)
				wantCode(t, err, tc.code)
				return
			}
			wantValue(t, f, tc.name, tc.want)
		})
	}
	_, err := Files{Dir: filepath.Join(dir, "no-such-dir")}.Value(context.Background(), "plain")
	wantCode(t, err, relink.EINTERNAL)
}

func writeFile(dir, name string, b []byte) error {
	return os.WriteFile(filepath.Join(dir, name), b, 0o600)
}
