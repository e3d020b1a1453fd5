// Package functions_test drives every function binary, built as Lambda builds it,
// through the Lambda Runtime API with every sample event in events/, against local
// stand-ins for DynamoDB and Secrets Manager (moto) and SES (aws-ses-v2-local).
package functions_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/relinkhq/relink/internal/account"
	"github.com/relinkhq/relink/internal/clock"
	"github.com/relinkhq/relink/internal/dynamo"
	"github.com/relinkhq/relink/internal/lambdatest"
	"github.com/relinkhq/relink/internal/magiclink"
	"github.com/relinkhq/relink/internal/secrets"
	"github.com/relinkhq/relink/internal/standin"
	"github.com/relinkhq/relink/internal/store"
	"github.com/relinkhq/relink/internal/workspace"
)

func TestMain(m *testing.M) {
	code := lambdatest.Run(m)
	standin.StopAll()
	os.Exit(code)
}

// eventsMaster is the app-keys master the sample events were made with: the CSRF
// token in events/connect/request-link.json is derived from it. Not a secret.
const eventsMaster = "relink-events-master-not-a-secret-0123456789abcdef"

// eventsLinkToken is the magic link in events/connect/open-link.json.
const eventsLinkToken = "0tRNL1juzJJWOTWGu1Cc951CQBD1MCGkaTBrfRPpVxI"

// stack is one deployment's worth of stand-ins: a table, the three secrets and SES.
type stack struct {
	table, moto, ses string
	store            store.Store
	env              map[string]string
}

func newStack(t *testing.T) *stack {
	t.Helper()
	ctx := context.Background()
	moto, ses := standin.Moto(t), standin.SESLocal(t)
	cfg := standin.AWSConfig(moto)
	db := dynamodb.NewFromConfig(cfg)
	table := fmt.Sprintf("relink-fn-%d", time.Now().UnixNano())
	if err := dynamo.CreateTable(ctx, db, table); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = db.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(table)})
	})

	sm := secretsmanager.NewFromConfig(cfg)
	names := map[string]string{}
	for key, value := range map[string]string{
		"app-keys":   `{"master":"` + eventsMaster + `"}`,
		"token-keys": `{"current":"k1","k1":"` + strings.Repeat("seed-", 10) + `"}`,
		"channels":   `{}`,
	} {
		name := table + "/" + key
		if _, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String(value)}); err != nil {
			t.Fatal(err)
		}
		names[key] = name
	}
	keys, _ := secrets.DeriveAppKeys([]byte(eventsMaster))
	st, err := dynamo.New(db, table, store.Config{Clock: clock.System{}, CursorKey: keys.Cursor})
	if err != nil {
		t.Fatal(err)
	}
	return &stack{table: table, moto: moto, ses: ses, store: st, env: map[string]string{
		// No PUBLIC_URL, as deployed without a custom domain: links use the API's domain.
		"TABLE_NAME":      table,
		"APP_KEYS_SECRET": names["app-keys"], "TOKEN_KEYS_SECRET": names["token-keys"], "CHANNELS_SECRET": names["channels"],
		"MAIL_FROM": "Relink <noreply@relink.example>", "SES_MAX_SEND_RATE": "10", "LOG_LEVEL": "DEBUG",
		"AWS_ENDPOINT_URL_DYNAMODB": moto, "AWS_ENDPOINT_URL_SECRETS_MANAGER": moto, "AWS_ENDPOINT_URL_SES": ses,
		"AWS_REGION": "us-east-1",
	}}
}

// seedDemo writes the workspace, Olivia and the link of events/connect/open-link.json.
func (s *stack) seedDemo(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	now := time.Now().UTC()
	if _, err := s.store.CreateWorkspace(ctx, workspace.Workspace{ID: "demo", Name: "Acme Brands", Settings: workspace.DefaultSettings(),
		CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.store.CreateUser(ctx, workspace.User{WorkspaceID: "demo", ID: "u-olivia", Email: "olivia.owner@acme.example",
		Name: "Olivia Owner", Role: workspace.RoleOwner, CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(eventsLinkToken))
	if err := s.store.CreateLink(ctx, magiclink.Link{Hash: hex.EncodeToString(sum[:]), WorkspaceID: "demo", UserID: "u-olivia",
		Purpose: magiclink.PurposeReconnect, Email: "olivia.owner@acme.example", CreatedAt: now, ExpiresAt: now.Add(24 * time.Hour),
		MaxUses: 50}); err != nil {
		t.Fatal(err)
	}
}

// expect is what one sample event must produce.
type expect struct {
	status   int
	contains []string
	header   map[string]string
	cookie   string // a Set-Cookie that must be there (prefix)
}

// response decodes an API Gateway response payload, checking it is one.
func response(t *testing.T, payload []byte) events.APIGatewayV2HTTPResponse {
	t.Helper()
	var r events.APIGatewayV2HTTPResponse
	if err := json.Unmarshal(payload, &r); err != nil || r.StatusCode == 0 {
		t.Fatalf("not an API Gateway response: %v\n%s", err, payload)
	}
	if r.IsBase64Encoded {
		b, err := base64.StdEncoding.DecodeString(r.Body)
		if err != nil {
			t.Fatal(err)
		}
		r.Body = string(b)
	}
	return r
}

// runEvents invokes the function with every file in events/<folder>, each of which must
// have an expectation (so a new sample event cannot go untested), and checks status,
// body, headers and cookies.
func runEvents(t *testing.T, rt *lambdatest.Runtime, folder string, want map[string]expect) {
	t.Helper()
	files, _ := filepath.Glob("../events/" + folder + "/*.json")
	var names []string
	for _, f := range files {
		names = append(names, filepath.Base(f))
	}
	for name := range want {
		if !slices.Contains(names, name) {
			t.Errorf("expected event %s is missing from events/%s", name, folder)
		}
	}
	for _, f := range files {
		name := filepath.Base(f)
		w, ok := want[name]
		if !ok {
			t.Errorf("events/%s/%s has no expectation: add one", folder, name)
			continue
		}
		t.Run(strings.TrimSuffix(name, ".json"), func(t *testing.T) {
			ev, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			res, err := rt.Invoke(context.Background(), ev)
			if err != nil {
				t.Fatalf("invoke: %v\n%s", err, rt.Logs())
			}
			if res.Error != nil {
				t.Fatalf("function error: %+v", res.Error)
			}
			r := response(t, res.Payload)
			if r.StatusCode != w.status {
				t.Fatalf("status %d, want %d\n%s", r.StatusCode, w.status, r.Body)
			}
			for _, c := range w.contains {
				if !strings.Contains(r.Body, c) {
					t.Errorf("body lacks %q:\n%s", c, r.Body)
				}
			}
			for k, v := range w.header {
				if r.Headers[k] != v {
					t.Errorf("header %s = %q, want %q", k, r.Headers[k], v)
				}
			}
			if w.cookie != "" && !slices.ContainsFunc(r.Cookies, func(c string) bool {
				return strings.HasPrefix(c, w.cookie) && strings.Contains(c, "HttpOnly") && strings.Contains(c, "Secure")
			}) {
				t.Errorf("no %s… cookie in %v", w.cookie, r.Cookies)
			}
		})
	}
}

// checkLogs: every log line is JSON, and none holds a secret.
func checkLogs(t *testing.T, logs string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if strings.Contains(logs, s) {
			t.Errorf("a secret is in the logs: %.6s…", s)
		}
	}
	for _, line := range strings.Split(logs, "\n") {
		if strings.HasPrefix(line, "{") && !json.Valid([]byte(line)) {
			t.Errorf("log line is not JSON: %s", line)
		}
	}
}

func TestConnectFunctionWithEveryEvent(t *testing.T) {
	s := newStack(t)
	s.seedDemo(t)
	rt := lambdatest.Start(t, lambdatest.Build(t, "connect"), s.env)
	security := map[string]string{"Referrer-Policy": "no-referrer", "X-Content-Type-Options": "nosniff"}
	since := time.Now().Add(-time.Second)
	runEvents(t, rt, "connect", map[string]expect{
		"open-link.json":                     {status: 303, header: map[string]string{"Location": "/me"}, cookie: "__Host-relink-session="},
		"open-link-unknown.json":             {status: 404, contains: []string{"This link is not valid"}, header: security},
		"open-link-malformed.json":           {status: 404, contains: []string{"This link is not valid"}},
		"me-without-session.json":            {status: 401, contains: []string{"open the link from your email"}, header: security},
		"me-forged-session.json":             {status: 401, contains: []string{"Your session has ended"}},
		"callback-forged-state.json":         {status: 404, contains: []string{"Start again from your link"}},
		"callback-denied-unknown-state.json": {status: 404, contains: []string{"Start again from your link"}},
		"request-link.json":                  {status: 200, contains: []string{"Check your email"}},
		"request-link-without-csrf.json":     {status: 403, contains: []string{"This form has expired"}},
		"request-link-cross-site.json":       {status: 403},
		"stylesheet.json":                    {status: 200, contains: []string{".card"}, header: map[string]string{"Content-Type": "text/css; charset=utf-8"}},
		"unknown-path.json":                  {status: 404, contains: []string{"There is no page here"}},
		"malformed-event.json":               {status: 400, contains: []string{`"code":"invalid"`}},
	})

	// The link request went out through SES with a working link to the owner pages.
	mails := standin.SESMessages(t, s.ses, since)
	var found bool
	for _, m := range mails {
		if slices.Contains(m.Destination.To, "olivia.owner@acme.example") && m.Subject == "Your new Relink link" &&
			regexp.MustCompile(`https://a1b2c3d4e5\.execute-api\.eu-west-1\.amazonaws\.com/l/[A-Za-z0-9_-]{43}`).MatchString(m.Body.Text) {
			found = true
		}
	}
	if !found {
		t.Errorf("no new-link email in SES: %+v", mails)
	}

	// Not an event at all: the runtime library answers with an error, the process lives on.
	res, err := rt.Invoke(context.Background(), []byte(`{"version":`))
	if err != nil || res.Error == nil {
		t.Fatalf("truncated JSON: %+v %v", res, err)
	}
	if res, err := rt.Invoke(context.Background(), must(os.ReadFile("../events/connect/stylesheet.json"))); err != nil || res.Error != nil {
		t.Fatalf("after a bad event the function stopped serving: %v", err)
	}
	checkLogs(t, rt.Logs(), eventsLinkToken)
}

// seedAdmin writes what the admin-api events act on: the demo workspace with its
// primary admin, an owner, a publisher service and one Facebook account, and Beta.
func (s *stack) seedAdmin(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	now := time.Now().UTC()
	for _, w := range []workspace.Workspace{{ID: "demo", Name: "Acme Brands"}, {ID: "beta", Name: "Beta Corp"}} {
		w.Settings, w.CreatedAt, w.UpdatedAt = workspace.DefaultSettings(), now, now
		if _, err := s.store.CreateWorkspace(ctx, w); err != nil {
			t.Fatal(err)
		}
	}
	for _, u := range []workspace.User{
		{WorkspaceID: "demo", ID: "u-primary", Email: "pat.primary@acme.example", Name: "Pat Primary", Role: workspace.RolePrimaryAdmin},
		{WorkspaceID: "demo", ID: "u-olivia", Email: "olivia.owner@acme.example", Name: "Olivia Owner", Role: workspace.RoleOwner},
		{WorkspaceID: "demo", ID: "u-publisher", Email: "publisher@acme.example", Name: "Publisher", Role: workspace.RoleService},
		{WorkspaceID: "beta", ID: "u-bob", Email: "bob@beta.example", Name: "Bob", Role: workspace.RolePrimaryAdmin},
	} {
		u.CreatedAt, u.UpdatedAt = now, now
		if _, err := s.store.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	c, err := account.New(account.Spec{WorkspaceID: "demo", ID: "acct-fb-coffee", Channel: "facebook", ExternalID: "101010",
		DisplayName: "Acme Coffee", OwnerID: "u-olivia", Kind: account.KindCompany, ParentProfileID: "fb-olivia",
		Grant: &account.Grant{Scopes: []string{"pages_show_list"}}},
		account.Command{Actor: account.Actor{ID: "u-primary", Role: workspace.RolePrimaryAdmin}, At: now, EventID: "evt-1"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.store.CreateAccount(ctx, c); err != nil {
		t.Fatal(err)
	}
}

func TestAdminAPIFunctionWithEveryEvent(t *testing.T) {
	s := newStack(t)
	s.seedAdmin(t)
	rt := lambdatest.Start(t, lambdatest.Build(t, "admin-api"), s.env)
	jsonType := map[string]string{"Content-Type": "application/json", "Cache-Control": "no-store"}
	since := time.Now().Add(-time.Second)
	runEvents(t, rt, "admin-api", map[string]expect{
		"openapi.json":                        {status: 200, contains: []string{"openapi: 3.0.3", "/v1/accounts/{id}/failures"}},
		"list-accounts.json":                  {status: 200, contains: []string{`"accounts":[]`}, header: jsonType},
		"get-account.json":                    {status: 200, contains: []string{`"id":"acct-fb-coffee"`, `"channel_name":"Facebook Pages"`, `"next_reminder"`}},
		"get-account-foreign-workspace.json":  {status: 404, contains: []string{`"code":"not_found"`}},
		"report-failure.json":                 {status: 200, contains: []string{`"outcome":"disconnected"`, `"reason":"password_changed"`, "The account password was changed"}},
		"deactivate-as-owner.json":            {status: 403, contains: []string{`"code":"forbidden"`}},
		"create-user.json":                    {status: 201, contains: []string{`"email":"nora.owner@acme.example"`, `"connect_link_sent":true`}},
		"create-user-unknown-field.json":      {status: 400, contains: []string{`"field":"admin"`}},
		"create-user-bad-json.json":           {status: 400, contains: []string{`"code":"invalid"`}},
		"create-user-wrong-content-type.json": {status: 415, contains: []string{`"code":"unsupported_media_type"`}},
		"dashboard.json":                      {status: 200, contains: []string{`"by_state"`}},
		"no-claims.json":                      {status: 401, contains: []string{`"code":"unauthorized"`}},
		"unknown-user.json":                   {status: 401, contains: []string{`"code":"unauthorized"`}},
		"malformed-cursor.json":               {status: 400, contains: []string{`"field":"cursor"`}},
		"wrong-method.json":                   {status: 405, contains: []string{`"code":"method_not_allowed"`}},
		"malformed-event.json":                {status: 400, contains: []string{`"code":"invalid"`}},
	})
	// The new owner's connect link went out through SES, pointing at the API's domain.
	var found bool
	for _, m := range standin.SESMessages(t, s.ses, since) {
		if slices.Contains(m.Destination.To, "nora.owner@acme.example") &&
			regexp.MustCompile(`https://a1b2c3d4e5\.execute-api\.eu-west-1\.amazonaws\.com/l/[A-Za-z0-9_-]{43}`).MatchString(m.Body.Text) {
			found = true
		}
	}
	if !found {
		t.Error("no connect-link email in SES for the new owner")
	}
	checkLogs(t, rt.Logs())
}

// TestConnectFunctionRefusesToStartWithoutConfig: a missing variable stops the cold
// start with a log line naming it, rather than serving half-configured.
func TestConnectFunctionRefusesToStartWithoutConfig(t *testing.T) {
	rt := lambdatest.Start(t, lambdatest.Build(t, "connect"), map[string]string{"TABLE_NAME": "x"})
	_, err := rt.Invoke(context.Background(), must(os.ReadFile("../events/connect/stylesheet.json")))
	if err == nil || !strings.Contains(rt.Logs(), "APP_KEYS_SECRET") {
		t.Fatalf("started without configuration: %v\n%s", err, rt.Logs())
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
