// Command devserver runs Relink locally (`make run`): embedded store, demo data, no AWS.
package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/relinkhq/relink/internal/devserver"
)

func main() {
	logger := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg := devserver.Config{
		Addr:    os.Getenv("RELINK_ADDR"),
		DataDir: os.Getenv("RELINK_DATA_DIR"),
		Logger:  logger,
	}
	if err := devserver.Run(ctx, cfg); err != nil {
		logger.Error("local server stopped", "err", err)
		os.Exit(1)
	}
}
