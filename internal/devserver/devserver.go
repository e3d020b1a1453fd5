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

	"github.com/relinkhq/relink/internal/bolt"
	"github.com/relinkhq/relink/internal/clock"
	"github.com/relinkhq/relink/internal/demo"
	"github.com/relinkhq/relink/internal/ident"
	"github.com/relinkhq/relink/internal/store"
)

// Config is the local server's configuration; zero values take the defaults.
type Config struct {
	Addr    string    // listen address; default 127.0.0.1:8080
	DataDir string    // where the store file and local keys live; default .relink
	Out     io.Writer // where the start banner goes; default stdout
	Logger  *slog.Logger
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
	cursorKey, err := localKey(filepath.Join(cfg.DataDir, "cursor.key"))
	if err != nil {
		return err
	}
	clk := &clock.Offset{}
	st, err := bolt.Open(filepath.Join(cfg.DataDir, "relink.db"), store.Config{Clock: clk, CursorKey: cursorKey})
	if err != nil {
		return fmt.Errorf("open local store (is another `make run` running?): %w", err)
	}
	defer st.Close()

	seeded, err := demo.Seed(ctx, st, clk.Now(), ident.NewULID(clk.Now))
	if err != nil {
		return fmt.Errorf("seed demo workspace: %w", err)
	}

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	srv := &http.Server{
		Handler:           NewHandler(st, clk, cfg.Logger),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	url := "http://" + ln.Addr().String()
	state := "kept from the last run"
	if seeded {
		state = "seeded just now"
	}
	fmt.Fprintf(cfg.Out, "\nRelink is running at %s\n  demo workspace %q (%s), data in %s\n  sandbox channel controls: %s/sandbox/controls\n  stop with Ctrl-C; `rm -r %s` starts afresh\n\n",
		url, demo.WorkspaceID, state, cfg.DataDir, url, cfg.DataDir)

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
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

// localKey reads a 32-byte key from path, creating it on first use, so that what it
// signs (page cursors) stays valid across restarts.
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
