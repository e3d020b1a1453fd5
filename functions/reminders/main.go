// Command reminders sends the reminder emails that are due, every 15 minutes: one
// digest per recipient, each reminder exactly once. EventBridge invokes it on a
// schedule; the event's content does not matter.
package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	sesapi "github.com/aws/aws-sdk-go-v2/service/ses"

	"github.com/relinkhq/relink/internal/awsenv"
	"github.com/relinkhq/relink/internal/channel"
	"github.com/relinkhq/relink/internal/clock"
	"github.com/relinkhq/relink/internal/config"
	"github.com/relinkhq/relink/internal/digest"
	"github.com/relinkhq/relink/internal/dynamo"
	"github.com/relinkhq/relink/internal/ident"
	"github.com/relinkhq/relink/internal/portal"
	"github.com/relinkhq/relink/internal/secrets"
	"github.com/relinkhq/relink/internal/ses"
	"github.com/relinkhq/relink/internal/store"
)

func main() {
	ctx := context.Background()
	// PUBLIC_URL is required here: a scheduled run has no request to take a domain from.
	cfg, err := config.Load(os.LookupEnv, config.EnvTable, config.EnvPublicURL, config.EnvAppKeysSecret, config.EnvMailFrom)
	logger := cfg.Logger(os.Stdout)
	if err != nil {
		logger.Error("configuration", "err", err)
		os.Exit(1)
	}
	awsCfg, err := awsenv.Config(os.LookupEnv)
	if err != nil {
		logger.Error("AWS configuration", "err", err)
		os.Exit(1)
	}
	clk := clock.System{}
	sm := secrets.NewManager(secrets.NewClient(secretsmanager.NewFromConfig(awsCfg)), clk, 0)
	keys, err := secrets.LoadAppKeys(ctx, sm, cfg.AppKeysSecret)
	if err != nil {
		logger.Error("app keys", "err", err)
		os.Exit(1)
	}
	st, err := dynamo.New(dynamo.NewClient(dynamodb.NewFromConfig(awsCfg)), cfg.Table, store.Config{Clock: clk, CursorKey: keys.Cursor})
	if err != nil {
		logger.Error("store", "err", err)
		os.Exit(1)
	}
	sender, err := ses.New(ses.NewClient(sesapi.NewFromConfig(awsCfg)), ses.Config{From: cfg.MailFrom, ConfigurationSet: cfg.ConfigurationSet,
		MaxRate: cfg.MaxSendRate, Logger: logger})
	if err != nil {
		logger.Error("email", "err", err)
		os.Exit(1)
	}
	registry, err := channel.Default("")
	if err != nil {
		logger.Error("channels", "err", err)
		os.Exit(1)
	}
	svc := &digest.Service{Store: st, Registry: registry,
		Links:       &portal.Links{Store: st, Clock: clk, Random: rand.Reader, BaseURL: cfg.PublicURL},
		Unsubscribe: portal.Unsubscriber{Key: keys.Unsubscribe, BaseURL: cfg.PublicURL},
		Mail:        sender, Clock: clk, IDs: ident.NewULID(clk.Now), Logger: logger}
	lambda.Start(func(ctx context.Context, payload json.RawMessage) (digest.Summary, error) {
		return svc.Handle(ctx, payload)
	})
}
