// Command connect is the owner pages' Lambda: magic links, reconnects through each
// channel's OAuth, invites confirmed by code, and new links on request, behind API
// Gateway's HTTP API (no authorizer: magic links and OAuth state are the credentials).
package main

import (
	"context"
	"crypto/rand"
	"net/http"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	sesapi "github.com/aws/aws-sdk-go-v2/service/ses"

	"github.com/relinkhq/relink/internal/apigw"
	"github.com/relinkhq/relink/internal/awsenv"
	"github.com/relinkhq/relink/internal/channel"
	"github.com/relinkhq/relink/internal/clock"
	"github.com/relinkhq/relink/internal/config"
	"github.com/relinkhq/relink/internal/connect"
	"github.com/relinkhq/relink/internal/dynamo"
	"github.com/relinkhq/relink/internal/ident"
	"github.com/relinkhq/relink/internal/portal"
	"github.com/relinkhq/relink/internal/secrets"
	"github.com/relinkhq/relink/internal/ses"
	"github.com/relinkhq/relink/internal/store"
	"github.com/relinkhq/relink/internal/vault"
)

func main() {
	ctx := context.Background()
	// PUBLIC_URL is optional: without it, links and callbacks use the API's own domain.
	cfg, err := config.Load(os.LookupEnv, config.EnvTable, config.EnvAppKeysSecret,
		config.EnvTokenKeysSecret, config.EnvChannelsSecret, config.EnvMailFrom)
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
	creds := &secrets.ChannelCredentials{Values: sm, Name: cfg.ChannelsSecret}
	channelHTTP := &http.Client{Timeout: 10 * time.Second}

	svc := portal.New(portal.Deps{
		Store: st, Registry: registry, Credentials: creds, Identifiers: connect.DefaultIdentifiers(channelHTTP, creds),
		Vault: vault.New(secrets.NewKeyRingSource(sm, cfg.TokenKeysSecret)), Mail: sender, Clock: clk,
		IDs: ident.NewULID(clk.Now), Random: rand.Reader, HTTP: channelHTTP, BaseURL: cfg.PublicURL, CodePepper: keys.CodePepper, UnsubscribeKey: keys.Unsubscribe, Logger: logger,
	})
	handler := portal.NewHandler(svc, portal.Signer{Key: keys.Session})
	lambda.Start((&apigw.Adapter{Handler: handler, Logger: logger}).Serve)
}
