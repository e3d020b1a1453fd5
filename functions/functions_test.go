// Package functions_test drives every function binary, built as Lambda builds it,
// through the Lambda Runtime API with every sample event in events/, against local
// stand-ins for DynamoDB and Secrets Manager (moto) and SES (aws-ses-v2-local).
package functions_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"gopkg.in/yaml.v3"

	"github.com/relinkhq/relink/internal/account"
	"github.com/relinkhq/relink/internal/channel"
	"github.com/relinkhq/relink/internal/checkup"
	"github.com/relinkhq/relink/internal/clock"
	"github.com/relinkhq/relink/internal/digest"
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
	for _, f := range eventFiles(t, folder, want) {
		name := filepath.Base(f)
		w := want[name]
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

// eventFiles lists the files of events/<folder> that have an expectation in want. A
// file without one, or an expectation without a file, fails the test: a new sample
// event cannot go untested.
func eventFiles[E any](t *testing.T, folder string, want map[string]E) []string {
	t.Helper()
	files, _ := filepath.Glob("../events/" + folder + "/*.json")
	var names, out []string
	for _, f := range files {
		names = append(names, filepath.Base(f))
	}
	for name := range want {
		if !slices.Contains(names, name) {
			t.Errorf("expected event %s is missing from events/%s", name, folder)
		}
	}
	for _, f := range files {
		if _, ok := want[filepath.Base(f)]; !ok {
			t.Errorf("events/%s/%s has no expectation: add one", folder, filepath.Base(f))
			continue
		}
		out = append(out, f)
	}
	return out
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

// The scheduled functions: expiry-check and reminders. EventBridge Scheduler invokes
// them with the Input of their ScheduleV2 event in template.yaml; they ignore it, so any
// JSON starts a run (events/<fn>/malformed-event.json must run like scheduled.json) and
// only what is not JSON at all is refused, by the runtime library.

// runSummary is what a scheduled run answers: checkup.Summary and digest.Summary both
// have this shape (runScheduled converts them, so the compiler holds them to it).
type runSummary struct {
	ID         string
	StartedAt  time.Time
	FinishedAt time.Time
	Complete   bool
	Counts     map[string]int
}

// scheduledRun is what one sample scheduled event must do: seed writes what its run
// acts on, the run's summary must be complete with exactly these counts, and check
// looks at what the run left behind (again invokes the same event once more).
type scheduledRun struct {
	seed   func(t *testing.T)
	counts map[string]int
	check  func(t *testing.T, again func() runSummary)
}

// runScheduled invokes a scheduled function with every file in events/<folder>, each of
// which must have an expectation, and decodes each answer strictly as S.
func runScheduled[S checkup.Summary | digest.Summary](t *testing.T, rt *lambdatest.Runtime, folder string, want map[string]scheduledRun) {
	t.Helper()
	for _, f := range eventFiles(t, folder, want) {
		name := filepath.Base(f)
		w := want[name]
		t.Run(strings.TrimSuffix(name, ".json"), func(t *testing.T) {
			ev, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if w.seed != nil {
				w.seed(t)
			}
			sum := invokeScheduled[S](t, rt, ev)
			if !maps.Equal(sum.Counts, w.counts) {
				t.Errorf("counts %v, want %v", sum.Counts, w.counts)
			}
			if w.check != nil {
				w.check(t, func() runSummary { return invokeScheduled[S](t, rt, ev) })
			}
		})
	}
}

// invokeScheduled runs the function once with ev and returns its summary, which must
// be an S and nothing else, complete (the test's deadline leaves ample time).
func invokeScheduled[S checkup.Summary | digest.Summary](t *testing.T, rt *lambdatest.Runtime, ev []byte) runSummary {
	t.Helper()
	start := time.Now()
	res, err := rt.Invoke(context.Background(), ev)
	if err != nil {
		t.Fatalf("invoke: %v\n%s", err, rt.Logs())
	}
	if res.Error != nil {
		t.Fatalf("function error: %+v", res.Error)
	}
	var got S
	dec := json.NewDecoder(bytes.NewReader(res.Payload))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&got); err != nil {
		t.Fatalf("not a %T: %v\n%s", got, err, res.Payload)
	}
	var fields map[string]json.RawMessage
	_ = json.Unmarshal(res.Payload, &fields)
	for _, k := range []string{"id", "started_at", "finished_at", "complete", "counts"} {
		if _, ok := fields[k]; !ok {
			t.Errorf("summary lacks %q: %s", k, res.Payload)
		}
	}
	sum := runSummary(got)
	if sum.ID == "" || sum.StartedAt.Before(start.Add(-time.Second)) || sum.FinishedAt.Before(sum.StartedAt) || !sum.Complete {
		t.Errorf("implausible summary: %s", res.Payload)
	}
	return sum
}

// truncatedJSONIsRefused: what is not JSON at all is answered with an error by the
// runtime library, and the process lives on to run the next event.
func truncatedJSONIsRefused[S checkup.Summary | digest.Summary](t *testing.T, rt *lambdatest.Runtime, folder string) {
	t.Helper()
	res, err := rt.Invoke(context.Background(), []byte(`{"version":`))
	if err != nil || res.Error == nil {
		t.Fatalf("truncated JSON: %+v %v", res, err)
	}
	invokeScheduled[S](t, rt, must(os.ReadFile("../events/"+folder+"/scheduled.json")))
}

// scheduledTimeout is the deadline the tests give a run: far less than the deployed
// 300 s (a hang fails sooner), far more than the 20 s both services keep in hand.
const scheduledTimeout = 90 * time.Second

// seedPeople writes the demo workspace (default settings) and its people.
func (s *stack) seedPeople(t *testing.T, people ...workspace.User) {
	t.Helper()
	ctx := context.Background()
	now := time.Now().UTC()
	if _, err := s.store.CreateWorkspace(ctx, workspace.Workspace{ID: "demo", Name: "Acme Brands", Settings: workspace.DefaultSettings(),
		CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	for _, u := range people {
		u.WorkspaceID, u.CreatedAt, u.UpdatedAt = "demo", now, now
		if _, err := s.store.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
}

// seedAccount connects an account at the given time with every permission its channel
// asks for; grant sets the token lifetimes.
func (s *stack) seedAccount(t *testing.T, spec account.Spec, grant account.Grant, at time.Time) account.Account {
	t.Helper()
	reg, err := channel.Default("")
	if err != nil {
		t.Fatal(err)
	}
	ch, err := reg.Get(spec.Channel)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ch.Permissions {
		if p.Kind == channel.KindScope {
			grant.Scopes = append(grant.Scopes, p.Name)
		} else {
			grant.Tasks = append(grant.Tasks, p.Name)
		}
	}
	grant.Missing = ch.Diagnose(grant.Scopes, grant.Tasks)
	spec.WorkspaceID, spec.Grant = "demo", &grant
	c, err := account.New(spec, account.Command{Actor: account.SystemActor("test"), At: at, EventID: "evt-create-" + spec.ID})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.store.CreateAccount(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	return c.After
}

func TestExpiryCheckFunctionWithEveryEvent(t *testing.T) {
	s := newStack(t)
	s.seedPeople(t, workspace.User{ID: "u-olivia", Email: "olivia.owner@acme.example", Name: "Olivia Owner", Role: workspace.RoleOwner})
	now := time.Now().UTC()
	// A healthy account checked just now is not due for a day: no run may touch it.
	healthy := s.seedAccount(t, account.Spec{ID: "acct-fb-healthy", Channel: "facebook", ExternalID: "202020", DisplayName: "Acme Tea",
		OwnerID: "u-olivia", Kind: account.KindCompany, ParentProfileID: "fb-olivia"}, account.Grant{}, now)
	rt := lambdatest.Start(t, lambdatest.Build(t, "expiry-check"), s.env)
	rt.Timeout = scheduledTimeout

	// Each event's run finds one LinkedIn page whose refresh token's year ended an hour
	// ago: it is disconnected as expired from what is stored, without calling LinkedIn
	// (no channel is reachable from here; a call would count as transient, not this).
	expired := func(id string) scheduledRun {
		return scheduledRun{
			seed: func(t *testing.T) {
				s.seedAccount(t, account.Spec{ID: id, Channel: "linkedin", ExternalID: "urn:li:organization:" + id, DisplayName: "Acme " + id,
					OwnerID: "u-olivia", Kind: account.KindCompany, ParentProfileID: "li-olivia"},
					account.Grant{Refreshable: true, TokenExpiresAt: time.Now().Add(-2 * time.Hour), RefreshExpiresAt: time.Now().Add(-time.Hour)},
					time.Now().Add(-365*24*time.Hour))
			},
			counts: map[string]int{checkup.OutcomeDisconnected: 1},
			check: func(t *testing.T, _ func() runSummary) {
				a, err := s.store.GetAccount(context.Background(), "demo", id)
				if err != nil {
					t.Fatal(err)
				}
				if a.State != account.StateDisconnected || a.Reason != account.ReasonExpired || !a.DueAt.IsZero() ||
					a.ChannelError == nil || !strings.Contains(a.ChannelError.Message, "lifetime ended") {
					t.Errorf("not disconnected as expired: state %s, reason %q, due %v, error %+v", a.State, a.Reason, a.DueAt, a.ChannelError)
				}
				if a.RemindAt.IsZero() {
					t.Error("a newly disconnected account must be due for reminders")
				}
			},
		}
	}
	runScheduled[checkup.Summary](t, rt, "expiry-check", map[string]scheduledRun{
		"scheduled.json":       expired("acct-li-expired-1"),
		"malformed-event.json": expired("acct-li-expired-2"),
	})

	if a, err := s.store.GetAccount(context.Background(), "demo", healthy.ID); err != nil || a.Version != healthy.Version || a.State != account.StateActive {
		t.Errorf("the account that was not due changed: %+v %v", a, err)
	}
	// Nothing is due any more: a run checks nothing (and still answers a summary).
	sum := invokeScheduled[checkup.Summary](t, rt, must(os.ReadFile("../events/expiry-check/scheduled.json")))
	if len(sum.Counts) != 0 {
		t.Errorf("a run with nothing due did something: %v", sum.Counts)
	}
	// The dashboard's record of the last run is the run that answered.
	runs, err := s.store.LastRuns(context.Background())
	if err != nil || !slices.ContainsFunc(runs, func(r store.Run) bool { return r.Function == checkup.FunctionName && r.ID == sum.ID }) {
		t.Errorf("run %s not recorded: %+v %v", sum.ID, runs, err)
	}
	truncatedJSONIsRefused[checkup.Summary](t, rt, "expiry-check")
	checkLogs(t, rt.Logs(), eventsMaster)
}

func TestRemindersFunctionWithEveryEvent(t *testing.T) {
	s := newStack(t)
	// The owner; the primary admin is not copied on a first reminder.
	const owner = "rita.owner@acme.example"
	s.seedPeople(t,
		workspace.User{ID: "u-rita", Email: owner, Name: "Rita Owner", Role: workspace.RoleOwner},
		workspace.User{ID: "u-pat", Email: "pat.primary@acme.example", Name: "Pat Primary", Role: workspace.RolePrimaryAdmin})
	const publicURL = "https://links.relink.example"
	env := maps.Clone(s.env)
	env["PUBLIC_URL"] = publicURL + "/" // as an operator might type it
	rt := lambdatest.Start(t, lambdatest.Build(t, "reminders"), env)
	rt.Timeout = scheduledTimeout
	start := time.Now().Add(-time.Second)
	mailsTo := func(addr string) []standin.SESMessage {
		var out []standin.SESMessage
		for _, m := range standin.SESMessages(t, s.ses, start) {
			if slices.Contains(m.Destination.To, addr) || slices.Contains(m.Destination.Cc, addr) {
				out = append(out, m)
			}
		}
		return out
	}
	link := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(publicURL) + `/l/[A-Za-z0-9_-]{43}$`)
	unsubscribe := regexp.MustCompile(`Stop these emails: ` + regexp.QuoteMeta(publicURL) + `/unsubscribe\?t=[A-Za-z0-9_.%-]+`)

	// Each event's run finds one Facebook Page whose token died with a password change:
	// its owner gets the first reminder, one email with a personal link on PUBLIC_URL,
	// and running again sends nothing more.
	disconnected := func(id, name string) scheduledRun {
		var before int
		return scheduledRun{
			seed: func(t *testing.T) {
				before = len(mailsTo(owner))
				a := s.seedAccount(t, account.Spec{ID: id, Channel: "facebook", ExternalID: "page-" + id, DisplayName: name,
					OwnerID: "u-rita", Kind: account.KindCompany, ParentProfileID: "fb-rita"}, account.Grant{}, time.Now().Add(-48*time.Hour))
				c, err := account.Transition(a, account.Command{Action: account.ActDisconnect, Reason: account.ReasonPasswordChanged,
					Actor: account.SystemActor("test"), At: time.Now().Add(-time.Minute), EventID: "evt-disconnect-" + id,
					ChannelError: &account.ChannelError{HTTPStatus: 400, Code: "190", Subcode: "460", Message: "The session has been invalidated because the user changed their password."}})
				if err != nil {
					t.Fatal(err)
				}
				if err := s.store.Apply(context.Background(), c); err != nil {
					t.Fatal(err)
				}
			},
			counts: map[string]int{digest.CountAccounts: 1, digest.CountSteps: 1, digest.CountEmails: 1, digest.CountItems: 1},
			check: func(t *testing.T, again func() runSummary) {
				mails := mailsTo(owner)
				if len(mails) != before+1 {
					t.Fatalf("%d new emails to the owner, want 1: %+v", len(mails)-before, mails[before:])
				}
				m := mails[len(mails)-1]
				if m.Subject != "Reconnect "+name+" on Facebook Pages" || len(m.Destination.Cc) != 0 || !strings.Contains(m.From, "noreply@relink.example") {
					t.Errorf("unexpected email: from %q to %v cc %v: %q", m.From, m.Destination.To, m.Destination.Cc, m.Subject)
				}
				if !link.MatchString(m.Body.Text) || !unsubscribe.MatchString(m.Body.Text) {
					t.Errorf("no personal link and opt-out link on %s:\n%s", publicURL, m.Body.Text)
				}
				if !strings.Contains(m.Body.HTML, `href="`+publicURL+`/l/`) {
					t.Errorf("the HTML part does not link to %s:\n%s", publicURL, m.Body.HTML)
				}
				if sum := again(); sum.Counts[digest.CountEmails] != 0 || sum.Counts[digest.CountItems] != 0 {
					t.Errorf("a second run sent again: %v", sum.Counts)
				}
				if n := len(mailsTo(owner)); n != before+1 {
					t.Errorf("a second run sent %d more emails", n-before-1)
				}
			},
		}
	}
	runScheduled[digest.Summary](t, rt, "reminders", map[string]scheduledRun{
		"scheduled.json":       disconnected("acct-fb-coffee", "Acme Coffee"),
		"malformed-event.json": disconnected("acct-fb-bakery", "Acme Bakery"),
	})
	if mails := mailsTo("pat.primary@acme.example"); len(mails) != 0 {
		t.Errorf("the primary admin was sent a first reminder: %+v", mails)
	}
	truncatedJSONIsRefused[digest.Summary](t, rt, "reminders")
	checkLogs(t, rt.Logs(), eventsMaster)
}

// refusesToStart: the cold start stops with a non-zero exit and one JSON log line at
// ERROR that names the problem, rather than running half-configured; no secret shows.
func refusesToStart(t *testing.T, fn string, env map[string]string, names ...string) {
	t.Helper()
	env = maps.Clone(env)
	const awsSecret = "relink-test-aws-secret-access-key-must-not-leak"
	env["AWS_SECRET_ACCESS_KEY"], env["AWS_SESSION_TOKEN"] = awsSecret, awsSecret+"-session"
	rt := lambdatest.Start(t, lambdatest.Build(t, fn), env)
	_, err := rt.Invoke(context.Background(), must(os.ReadFile("../events/"+fn+"/scheduled.json")))
	if !errors.Is(err, lambdatest.ErrExited) {
		t.Fatalf("started without configuration: %v\n%s", err, rt.Logs())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if state, err := rt.Wait(ctx); err != nil || state.ExitCode() == 0 {
		t.Errorf("exit: %v %v", state, err)
	}
	logs := rt.Logs()
	var found bool
	for _, line := range strings.Split(strings.TrimSpace(logs), "\n") {
		var l struct{ Level, Msg, Err string }
		if json.Unmarshal([]byte(line), &l) == nil && l.Level == "ERROR" && l.Msg == "configuration" &&
			!slices.ContainsFunc(names, func(n string) bool { return !strings.Contains(l.Err, n) }) {
			found = true
		}
	}
	if !found {
		t.Errorf("no ERROR log line naming %v:\n%s", names, logs)
	}
	checkLogs(t, logs, awsSecret, eventsMaster)
}

// configuredEnv is a complete environment for the scheduled functions, pointing at
// nothing: they must refuse before any call.
func configuredEnv() map[string]string {
	return map[string]string{
		"TABLE_NAME": "relink-prod", "APP_KEYS_SECRET": "relink-prod/app-keys", "TOKEN_KEYS_SECRET": "relink-prod/token-keys",
		"CHANNELS_SECRET": "relink-prod/channels", "MAIL_FROM": "Relink <noreply@relink.example>", "PUBLIC_URL": "https://links.relink.example",
		"LOG_LEVEL": "DEBUG", "AWS_REGION": "eu-west-1",
	}
}

func TestExpiryCheckFunctionRefusesToStartWithoutConfig(t *testing.T) {
	for _, missing := range []string{"TABLE_NAME", "APP_KEYS_SECRET", "TOKEN_KEYS_SECRET", "CHANNELS_SECRET"} {
		t.Run(missing, func(t *testing.T) {
			env := configuredEnv()
			delete(env, missing)
			refusesToStart(t, "expiry-check", env, missing)
		})
	}
}

func TestRemindersFunctionRefusesToStartWithoutConfig(t *testing.T) {
	for name, c := range map[string]struct {
		env   func(map[string]string)
		names []string
	}{
		// The API's domain is not known to a scheduled run, so links need PUBLIC_URL.
		"no PUBLIC_URL":       {func(e map[string]string) { delete(e, "PUBLIC_URL") }, []string{"PUBLIC_URL"}},
		"blank PUBLIC_URL":    {func(e map[string]string) { e["PUBLIC_URL"] = "  " }, []string{"PUBLIC_URL"}},
		"PUBLIC_URL relative": {func(e map[string]string) { e["PUBLIC_URL"] = "links.relink.example" }, []string{"PUBLIC_URL", "absolute"}},
		"no MAIL_FROM":        {func(e map[string]string) { delete(e, "MAIL_FROM") }, []string{"MAIL_FROM"}},
		"nothing":             {func(e map[string]string) { clear(e) }, []string{"TABLE_NAME", "PUBLIC_URL", "APP_KEYS_SECRET", "MAIL_FROM"}},
	} {
		t.Run(name, func(t *testing.T) {
			env := configuredEnv()
			c.env(env)
			refusesToStart(t, "reminders", env, c.names...)
		})
	}
}

// TestScheduledFunctionsMatchTemplate holds template.yaml's schedules to the code and
// the samples: each Input, filled in as Scheduler fills it, is events/<fn>/scheduled.json;
// the timeouts stay below what digest.StaleClaim assumes; expiry-check never overlaps.
func TestScheduledFunctionsMatchTemplate(t *testing.T) {
	type schedule struct {
		Type       string
		Properties struct {
			Name, ScheduleExpression, Input string
			RetryPolicy                     struct{ MaximumEventAgeInSeconds int }
			DeadLetterConfig                struct{ Arn any }
		}
	}
	var tpl struct {
		Resources map[string]struct {
			Type       string
			Properties struct {
				Timeout                      int
				ReservedConcurrentExecutions int
				Environment                  struct{ Variables map[string]any }
				Events                       map[string]schedule
			}
		}
	}
	// Through JSON, whose field names match case-insensitively; short-form intrinsics
	// (!Sub "…", !GetAtt …) come through as their plain values.
	var raw any
	if err := yaml.Unmarshal(must(os.ReadFile("../template.yaml")), &raw); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(must(json.Marshal(raw)), &tpl); err != nil {
		t.Fatal(err)
	}
	for id, c := range map[string]struct {
		dir, rate string
		period    time.Duration
	}{
		"ExpiryCheckFunction": {"expiry-check", "rate(1 hour)", time.Hour},
		"RemindersFunction":   {"reminders", "rate(15 minutes)", 15 * time.Minute},
	} {
		t.Run(c.dir, func(t *testing.T) {
			fn, ok := tpl.Resources[id]
			if !ok || fn.Type != "AWS::Serverless::Function" || len(fn.Properties.Events) != 1 {
				t.Fatalf("%s: not a function with one event: %+v", id, fn)
			}
			if timeout := time.Duration(fn.Properties.Timeout) * time.Second; timeout <= 0 || timeout >= digest.StaleClaim || timeout >= c.period {
				t.Errorf("Timeout %v: a run must end before the next one and before digest.StaleClaim (%v)", timeout, digest.StaleClaim)
			}
			if id == "ExpiryCheckFunction" && fn.Properties.ReservedConcurrentExecutions != 1 {
				t.Errorf("ReservedConcurrentExecutions %d: two expiry checks at once would spend shared refresh tokens twice",
					fn.Properties.ReservedConcurrentExecutions)
			}
			if id == "RemindersFunction" && fn.Properties.Environment.Variables["PUBLIC_URL"] == nil {
				t.Error("reminders refuses to start without PUBLIC_URL")
			}
			for _, ev := range fn.Properties.Events {
				p := ev.Properties
				if ev.Type != "ScheduleV2" || p.ScheduleExpression != c.rate || p.DeadLetterConfig.Arn == nil ||
					time.Duration(p.RetryPolicy.MaximumEventAgeInSeconds)*time.Second > c.period {
					t.Errorf("schedule: %+v", ev)
				}
				sample := must(os.ReadFile("../events/" + c.dir + "/scheduled.json"))
				var want struct {
					ID, Time  string
					Resources []string
					Detail    struct{ Attempt string }
				}
				if err := json.Unmarshal(sample, &want); err != nil || len(want.Resources) != 1 {
					t.Fatalf("events/%s/scheduled.json: %v", c.dir, err)
				}
				name := strings.NewReplacer("${Stage}", "prod").Replace(p.Name)
				if arn := "arn:aws:scheduler:eu-west-1:123456789012:schedule/default/" + name; want.Resources[0] != arn {
					t.Errorf("the sample names schedule %s, the template %s", want.Resources[0], arn)
				}
				input := strings.NewReplacer("${AWS::AccountId}", "123456789012", "${AWS::Region}", "eu-west-1",
					"<aws.scheduler.execution-id>", want.ID, "<aws.scheduler.scheduled-time>", want.Time,
					"<aws.scheduler.schedule-arn>", want.Resources[0], "<aws.scheduler.attempt-number>", want.Detail.Attempt).Replace(p.Input)
				var got, sampled any
				if err := json.Unmarshal([]byte(input), &got); err != nil {
					t.Fatalf("the template's Input is not JSON once filled in: %v\n%s", err, input)
				}
				_ = json.Unmarshal(sample, &sampled)
				if !reflect.DeepEqual(got, sampled) {
					t.Errorf("events/%s/scheduled.json is not what the schedule sends:\n%s\nvs the template's\n%s", c.dir, sample, input)
				}
			}
		})
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
