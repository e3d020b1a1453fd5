// Package devserver is the local Relink: one process on the embedded store with a seeded
// demo workspace, for `make run`. It needs no AWS account and keeps its data across
// restarts in a local directory.
package devserver

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/relinkhq/relink/internal/account"
	"github.com/relinkhq/relink/internal/bolt"
	"github.com/relinkhq/relink/internal/clock"
	"github.com/relinkhq/relink/internal/demo"
	"github.com/relinkhq/relink/internal/ident"
	"github.com/relinkhq/relink/internal/secrets"
	"github.com/relinkhq/relink/internal/store"
	"github.com/relinkhq/relink/internal/vault"
)

// Config is the local server's configuration; zero values take the defaults.
type Config struct {
	Addr    string    // listen address; default 127.0.0.1:8080
	DataDir string    // where the store file and local keys live; default .relink
	Out     io.Writer // where the start banner goes; default stdout
	Logger  *slog.Logger
	Tick    time.Duration // how often the scheduled functions run; default 30s
}

func (c Config) withDefaults() Config {
	if c.Addr == "" {
		c.Addr = "127.0.0.1:8080"
	}
	if c.DataDir == "" {
		c.DataDir = ".relink"
	}
	if c.Out == nil {
		c.Out = os.Stdout
	}
	if c.Tick <= 0 {
		c.Tick = 30 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewJSONHandler(os.Stderr, nil))
	}
	return c
}

// Run serves until ctx is done, then shuts down gracefully and closes the store.
func Run(ctx context.Context, cfg Config) error {
	cfg = cfg.withDefaults()
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}
	master, err := localKey(filepath.Join(cfg.DataDir, "master.key"))
	if err != nil {
		return err
	}
	keys, err := secrets.DeriveAppKeys(master)
	if err != nil {
		return err
	}
	ring, err := localKeyRing(filepath.Join(cfg.DataDir, "token-keys.json"))
	if err != nil {
		return err
	}
	clk := &clock.Offset{}
	st, err := bolt.Open(filepath.Join(cfg.DataDir, "relink.db"), store.Config{Clock: clk, CursorKey: keys.Cursor})
	if err != nil {
		return fmt.Errorf("open local store (is another `make run` running?): %w", err)
	}
	defer st.Close()

	ids := ident.NewULID(clk.Now)
	seeded, err := demo.Seed(ctx, st, clk.Now(), ids)
	if err != nil {
		return fmt.Errorf("seed demo workspace: %w", err)
	}

	if seeded {
		if err := demoTokens(ctx, st, vault.New(fixedRing{ring})); err != nil {
			return fmt.Errorf("seed demo tokens: %w", err)
		}
	}

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	base := "http://" + ln.Addr().String()
	app, err := build(appConfig{Store: st, Clock: clk, IDs: ids, Keys: keys, Ring: ring, BaseURL: base, Logger: cfg.Logger})
	if err != nil {
		ln.Close()
		return err
	}
	ownerLink, err := app.ownerLink(ctx, demo.OliviaID)
	if err != nil {
		ln.Close()
		return fmt.Errorf("issue the demo owner link: %w", err)
	}
	adminToken, err := app.apiToken(demo.PrimaryAdminID)
	if err != nil {
		ln.Close()
		return fmt.Errorf("issue the demo admin token: %w", err)
	}
	srv := &http.Server{
		Handler:           app.handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	state := "kept from the last run"
	if seeded {
		state = "seeded just now"
	}
	fmt.Fprintf(cfg.Out, "\nRelink is running at %s\n"+
		"  demo workspace %q (%s), data in %s\n"+
		"  owner link (Olivia Owner): %s\n"+
		"  admin API: %s/v1 (OpenAPI at %s/v1/openapi.yaml)\n"+
		"  admin token (Pat Primary, 30 days):\n    export RELINK_TOKEN=%s\n"+
		"  dev mailbox: %s/dev/mail · clock and scheduled runs: %s/dev/clock\n"+
		"  sandbox channel controls: %s/sandbox/controls\n"+
		"  stop with Ctrl-C; `rm -r %s` starts afresh\n\n",
		base, demo.WorkspaceID, state, cfg.DataDir, ownerLink, base, base, adminToken, base, base, base, cfg.DataDir)

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	schedCtx, stopSched := context.WithCancel(ctx)
	defer stopSched()
	go app.scheduler.every(schedCtx, cfg.Tick)
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shut down: %w", err)
	}
	return nil
}

// demoTokens gives every connected demo account placeholder tokens, sealed as real
// ones are. No channel accepts them: once the clock makes an account due, its check
// finds it dead (or its channel unreachable), as it would any lost grant.
func demoTokens(ctx context.Context, st store.Store, v *vault.Vault) error {
	page := store.Page{Limit: store.MaxLimit}
	for {
		got, err := st.ListAccounts(ctx, demo.WorkspaceID, account.Filter{}, page)
		if err != nil {
			return err
		}
		for _, a := range got.Accounts {
			if a.State == account.StatePending {
				continue
			}
			t := vault.Tokens{Access: vault.Secret("demo-access-" + a.ID), AccessExpiresAt: a.TokenExpiresAt, Scopes: a.Scopes,
				TokenType: "Bearer", IssuedAt: a.CreatedAt}
			if a.Refreshable {
				t.Refresh, t.RefreshExpiresAt = vault.Secret("demo-refresh-"+a.ID), a.RefreshExpiresAt
			}
			sealed, err := v.SealTokens(ctx, t, vault.AccountBinding(a.WorkspaceID, a.ID))
			if err != nil {
				return err
			}
			if err := st.PutTokens(ctx, a.WorkspaceID, a.ID, sealed); err != nil {
				return err
			}
		}
		if got.Next == "" {
			return nil
		}
		page.Cursor = got.Next
	}
}

// localKeyRing reads the local token key ring, creating one on first use.
func localKeyRing(path string) (vault.KeyRing, error) {
	raw, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		if raw, err = vault.GenerateKeyRing("local1"); err != nil {
			return vault.KeyRing{}, err
		}
		if err := os.WriteFile(path, raw, 0o600); err != nil {
			return vault.KeyRing{}, fmt.Errorf("write local key ring: %w", err)
		}
	} else if err != nil {
		return vault.KeyRing{}, fmt.Errorf("read local key ring: %w", err)
	}
	return vault.ParseKeyRing(raw)
}

// localKey reads a 32-byte key from path, creating it on first use, so that what it
// signs (page cursors, sessions) stays valid across restarts.
func localKey(path string) ([]byte, error) {
	key, err := os.ReadFile(path)
	if err == nil && len(key) == 32 {
		return key, nil
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("read local key: %w", err)
	}
	key = make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("generate local key: %w", err)
	}
	if err := os.WriteFile(path, key, 0o600); err != nil {
		return nil, fmt.Errorf("write local key: %w", err)
	}
	return key, nil
}
