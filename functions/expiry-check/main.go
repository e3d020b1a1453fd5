// Command expiry-check is the hourly check of every due account: renew what can be
// renewed, ask each channel whether the tokens still work, and move accounts.
// EventBridge invokes it on a schedule; the event's content does not matter.
package main

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	lambdasdk "github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/relinkhq/relink/internal/awsenv"
	"github.com/relinkhq/relink/internal/channel"
	"github.com/relinkhq/relink/internal/checkup"
	"github.com/relinkhq/relink/internal/clock"
	"github.com/relinkhq/relink/internal/config"
	"github.com/relinkhq/relink/internal/dynamo"
	"github.com/relinkhq/relink/internal/ident"
	"github.com/relinkhq/relink/internal/lambdafn"
	"github.com/relinkhq/relink/internal/probe"
	"github.com/relinkhq/relink/internal/secrets"
	"github.com/relinkhq/relink/internal/store"
	"github.com/relinkhq/relink/internal/vault"
)

func main() {
	ctx := context.Background()
	cfg, err := config.Load(os.LookupEnv, config.EnvTable, config.EnvAppKeysSecret, config.EnvTokenKeysSecret, config.EnvChannelsSecret)
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
	registry, err := channel.Default("")
	if err != nil {
		logger.Error("channels", "err", err)
		os.Exit(1)
	}
	creds := &secrets.ChannelCredentials{Values: sm, Name: cfg.ChannelsSecret}
	ids := ident.NewULID(clk.Now)
	prober := &probe.Prober{HTTP: &http.Client{Timeout: 10 * time.Second}, Credentials: creds, Clock: clk,
		Renewals: &probe.StoreRenewals{Sends: st, Clock: clk, IDs: ids, Logger: logger}}
	svc := &checkup.Service{Store: st, Registry: registry, Vault: vault.New(secrets.NewKeyRingSource(sm, cfg.TokenKeysSecret)),
		Prober: prober, Clock: clk, IDs: ids, Logger: logger}
	if cfg.FunctionName != "" {
		svc.Fanout = &lambdafn.Fanout{API: lambdasdk.NewFromConfig(awsCfg), Function: cfg.FunctionName}
	}
	lambda.Start(func(ctx context.Context, payload json.RawMessage) (checkup.Summary, error) {
		return svc.Handle(ctx, payload)
	})
}
