package secrets

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"strings"

	"github.com/relinkhq/relink/internal/relink"
)

// EnvPrefix starts the environment variable holding a secret in local mode.
const EnvPrefix = "RELINK_SECRET_"

// Env reads secrets from environment variables: name "relink/token-keys" is
// RELINK_SECRET_RELINK_TOKEN_KEYS. Lookup defaults to os.LookupEnv.
type Env struct {
	Lookup func(string) (string, bool)
}

// EnvName returns the variable that holds the secret called name.
func EnvName(name string) string {
	return EnvPrefix + strings.Map(func(r rune) rune {
		switch {
		case 'A' <= r && r <= 'Z', '0' <= r && r <= '9':
			return r
		case 'a' <= r && r <= 'z':
			return r - 'a' + 'A'
		}
		return '_'
	}, name)
}

func (e Env) Value(_ context.Context, name string) ([]byte, error) {
	lookup := e.Lookup
	if lookup == nil {
		lookup = os.LookupEnv
	}
	v, ok := lookup(EnvName(name))
	if !ok {
		return nil, relink.Errorf(relink.ENOTFOUND, "Secret %q not found: set %s.", name, EnvName(name))
	}
	return []byte(v), nil
}

// Files reads secrets from <Dir>/<name>, the layout of mounted secret volumes. One
// trailing newline is dropped, since editors and `echo` add one.
type Files struct {
	Dir string
}

func (f Files) Value(_ context.Context, name string) ([]byte, error) {
	// os.Root keeps names like "../x" and symlinks from reaching outside Dir.
	root, err := os.OpenRoot(f.Dir)
	if err != nil {
		return nil, relink.Wrap(err, relink.EINTERNAL, "Cannot open the secrets directory.")
	}
	defer root.Close()
	b, err := root.ReadFile(name)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, relink.Wrap(err, relink.ENOTFOUND, "Secret %q not found.", name)
	case err != nil:
		return nil, relink.Wrap(err, relink.EINTERNAL, "Cannot read secret %q.", name)
	}
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
		if n := len(b); n > 0 && b[n-1] == '\r' {
			b = b[:n-1]
		}
	}
	return b, nil
}
