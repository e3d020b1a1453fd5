// Command admin-api is the admin API's Lambda, behind API Gateway's HTTP API with a
// JWT authorizer: accounts, people, groups, invites, the dashboard and settings.
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

	"github.com/relinkhq/relink/internal/admin"
	"github.com/relinkhq/relink/internal/api"
	"github.com/relinkhq/relink/internal/apigw"
	"github.com/relinkhq/relink/internal/awsenv"
	"github.com/relinkhq/relink/internal/channel"
	"github.com/relinkhq/relink/internal/clock"
	"github.com/relinkhq/relink/internal/config"
	"github.com/relinkhq/relink/internal/connect"
	"github.com/relinkhq/relink/internal/dynamo"
	"github.com/relinkhq/relink/internal/ident"
	"github.com/relinkhq/relink/internal/portal"
	"github.com/relinkhq/relink/internal/probe"
	"github.com/relinkhq/relink/internal/secrets"
	"github.com/relinkhq/relink/internal/ses"
	"github.com/relinkhq/relink/internal/store"
	"github.com/relinkhq/relink/internal/vault"
)

func main() {
	ctx := context.Background()
	cfg, err := config.Load(os.LookupEnv, config.EnvTable, config.EnvAppKeysSecret, config.EnvTokenKeysSecret,
		config.EnvChannelsSecret, config.EnvMailFrom)
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
	v := vault.New(secrets.NewKeyRingSource(sm, cfg.TokenKeysSecret))
	ids := ident.NewULID(clk.Now)

	owners := portal.New(portal.Deps{
		Store: st, Registry: registry, Credentials: creds, Identifiers: connect.DefaultIdentifiers(channelHTTP, creds),
		Vault: v, Mail: sender, Clock: clk, IDs: ids, Random: rand.Reader, HTTP: channelHTTP, BaseURL: cfg.PublicURL,
		CodePepper: keys.CodePepper, UnsubscribeKey: keys.Unsubscribe, Logger: logger,
	})
	svc := &admin.Service{Store: st, Registry: registry, Links: owners.Links, Connect: owners.Connect, Mail: sender,
		Clock: clk, IDs: ids, Random: rand.Reader, Logger: logger,
		Checker: admin.ProbeChecker{Store: st, Vault: v, Registry: registry,
			Prober: &probe.Prober{HTTP: channelHTTP, Credentials: creds, Clock: clk,
				Renewals: &probe.StoreRenewals{Sends: st, Clock: clk, IDs: ids, Logger: logger}}}}
	adapter := &apigw.Adapter{Handler: api.NewHandler(svc, logger), Context: apigw.JWTClaims(cfg.WorkspaceClaim), Logger: logger}
	lambda.Start(adapter.Serve)
}
