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
	"github.com/relinkhq/relink/internal/consent"
	"github.com/relinkhq/relink/internal/digest"
	"github.com/relinkhq/relink/internal/dynamo"
	"github.com/relinkhq/relink/internal/lambdatest"
	"github.com/relinkhq/relink/internal/magiclink"
	"github.com/relinkhq/relink/internal/secrets"
	"github.com/relinkhq/relink/internal/standin"
	"github.com/relinkhq/relink/internal/store"
	"github.com/relinkhq/relink/internal/sweep"
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

// What scripts/events.py names for the owner pages, seeded by seedDemo: Maya's invite
// link (events/connect/open-invite-link.json; the session cookies of invite*.json name
// it), the invite flow waiting for her code, and Olivia's pending consents that the
// channel answers with an error (callback-provider-*.json).
const (
	eventsInviteToken        = "5v0VraDDzD_0P2uu4Mvv-spuZ8lJ2MVAByeYw5L3Ohs"
	eventsInviteFlow         = "01JDK7Y4ZQ6M3V5T8W2X9R1B0E"
	eventsConsentDenied      = "_K5IMwH7eYxuQR-paWl3dUZzRL9MV_vYS1wcWQ7Ahpo"
	eventsConsentRefused     = "nJClTUWVBrasCIiU87Ayx0LFzt-Om-MZ1UW5BYFexDY"
	eventsConsentUnavailable = "3hO_zXUrpHZtArcV1tuP3LbHnKTwTzgBd36w2MqOy_0"
	eventsConsentGarbled     = "C8UTvGRtq1YH-Nn5bHSGsjlI9DX40doFm2R010-oSIk"
)

func hashHex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

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

// seedDemo writes the workspace, Olivia and the link of events/connect/open-link.json;
// Maya, invited by the link of open-invite-link.json, with an invite flow waiting for
// her code; and the consents Olivia started that callback-provider-*.json come back to.
// It returns the code Maya was sent.
func (s *stack) seedDemo(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	now := time.Now().UTC()
	if _, err := s.store.CreateWorkspace(ctx, workspace.Workspace{ID: "demo", Name: "Acme Brands", Settings: workspace.DefaultSettings(),
		CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	for _, u := range []workspace.User{
		{ID: "u-olivia", Email: "olivia.owner@acme.example", Name: "Olivia Owner", Role: workspace.RoleOwner},
		{ID: "u-maya", Email: "maya.baker@acme.example", Name: "Maya Baker", Role: workspace.RoleOwner},
	} {
		u.WorkspaceID, u.CreatedAt, u.UpdatedAt = "demo", now, now
		if _, err := s.store.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	for _, l := range []magiclink.Link{
		{Hash: hashHex(eventsLinkToken), UserID: "u-olivia", Purpose: magiclink.PurposeReconnect, Email: "olivia.owner@acme.example", MaxUses: 50},
		{Hash: hashHex(eventsInviteToken), UserID: "u-maya", Purpose: magiclink.PurposeInvite, Email: "maya.baker@acme.example", MaxUses: 20,
			Channels: []string{"facebook", "instagram"}, Message: "Please connect the bakery's Page before the spring campaign."},
	} {
		l.WorkspaceID, l.CreatedAt, l.ExpiresAt = "demo", now, now.Add(24*time.Hour)
		if err := s.store.CreateLink(ctx, l); err != nil {
			t.Fatal(err)
		}
	}
	// Maya signed in with Facebook from her invite: the Bakery's Page waits for her code
	// (as connect's hold leaves it; the sealed tokens are never reached with a wrong code).
	code, c, err := magiclink.NewCode(eventsInviteFlow, "demo", "maya.baker@acme.example", must(secrets.DeriveAppKeys([]byte(eventsMaster))).CodePepper,
		now, strings.NewReader(strings.Repeat("events-code-", 8)))
	if err != nil {
		t.Fatal(err)
	}
	c.Payload = must(json.Marshal(map[string]any{"ws": "demo", "user": "u-maya", "channel": "facebook", "link": hashHex(eventsInviteToken),
		"started": now, "accounts": []map[string]any{{"ext": "303030", "name": "Acme Bakery", "kind": "company", "grant": map[string]any{}}}}))
	if err := s.store.PutCode(ctx, c); err != nil {
		t.Fatal(err)
	}
	for _, param := range []string{eventsConsentDenied, eventsConsentRefused, eventsConsentUnavailable, eventsConsentGarbled} {
		if err := s.store.PutConsent(ctx, consent.State{Hash: hashHex(param), WorkspaceID: "demo", UserID: "u-olivia", Channel: "facebook",
			LinkHash: hashHex(eventsLinkToken), Verifier: "events-verifier-" + param[:8], CreatedAt: now, ExpiresAt: now.Add(consent.TTL)}); err != nil {
			t.Fatal(err)
		}
	}
	return code
}

// expect is what one sample event must produce.
type expect struct {
	status   int
	contains []string
	absent   []string // what the body must not hold (an echoed input, a wrong claim)
	header   map[string]string
	cookie   string // a Set-Cookie that must be there (prefix)
	// errorCode: the body is the admin API's one error shape, {"error":{"code","message"}}
	// with this code, a message, and field when one is named.
	errorCode, field string
}

// checkErrorBody holds an answer to the admin API's error shape.
func checkErrorBody(t *testing.T, body, code, field string) {
	t.Helper()
	var e struct {
		Error *struct{ Code, Message, Field string } `json:"error"`
	}
	dec := json.NewDecoder(strings.NewReader(body))
	if err := dec.Decode(&e); err != nil || e.Error == nil {
		t.Fatalf("not the error shape: %v\n%s", err, body)
	}
	if e.Error.Code != code || strings.TrimSpace(e.Error.Message) == "" || e.Error.Field != field {
		t.Errorf("error %+v, want code %q and field %q with a message", *e.Error, code, field)
	}
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
			for _, c := range w.absent {
				if strings.Contains(r.Body, c) {
					t.Errorf("body holds %q:\n%s", c, r.Body)
				}
			}
			if w.errorCode != "" {
				checkErrorBody(t, r.Body, w.errorCode, w.field)
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
	if code := s.seedDemo(t); code == "000000" {
		t.Fatal("the seeded invite code is the one invite-code-wrong.json types")
	}
	rt := lambdatest.Start(t, lambdatest.Build(t, "connect"), s.env)
	security := map[string]string{"Referrer-Policy": "no-referrer", "X-Content-Type-Options": "nosniff"}
	since := time.Now().Add(-time.Second)
	html := map[string]string{"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store"}
	runEvents(t, rt, "connect", map[string]expect{
		"open-link.json":        {status: 303, header: map[string]string{"Location": "/me"}, cookie: "__Host-relink-session="},
		"open-invite-link.json": {status: 303, header: map[string]string{"Location": "/invite"}, cookie: "__Host-relink-session="},
		"me.json":               {status: 200, contains: []string{"Your accounts", "Olivia Owner"}, header: html},
		"invite.json": {status: 200, header: html, contains: []string{"Connect your accounts to Acme Brands", "You were invited",
			"Please connect the bakery&#39;s Page before the spring campaign.", "maya.baker@acme.example",
			"Connect with Facebook Pages", "Connect with Instagram (via Facebook Login)"},
			absent: []string{"Maya Baker invited you", "Connect with Threads"}},
		"invite-with-reconnect-session.json": {status: 404, contains: []string{"This page belongs to invitations."}, header: html},
		"invite-code.json":                   {status: 200, contains: []string{"Type your code", "m•••r@acme.example", "Acme Bakery", eventsInviteFlow}},
		"invite-code-unknown-flow.json":      {status: 404, contains: []string{"This confirmation is not known or has ended"}},
		"invite-code-without-session.json":   {status: 401, contains: []string{"open the link from your email"}},
		"invite-code-wrong.json":             {status: 400, contains: []string{"Type your code", "4 attempts left", `aria-invalid="true"`}},
		"new-link-page.json":                 {status: 200, contains: []string{"Ask for a new link"}, header: html, cookie: "__Host-relink-csrf="},
		"signout.json":                       {status: 200, contains: []string{"You are signed out"}, cookie: "__Host-relink-session=; Path=/; Max-Age=0"},
		"signout-without-csrf.json":          {status: 403, contains: []string{"This form has expired"}},
		"unsubscribe.json":                   {status: 200, contains: []string{"Stop reminder emails?"}, header: security},
		"unsubscribe-bad-token.json":         {status: 404, contains: []string{"This link is not valid. Use the link at the bottom of one of our emails."}},
		"unsubscribe-confirm.json":           {status: 200, contains: []string{"You will get no more reminder emails", "olivia.owner@acme.example"}},
		"callback-provider-denied.json":      {status: 200, contains: []string{"Nothing was changed", `href="/me"`}},
		"callback-provider-error.json":       {status: 400, contains: []string{"The channel refused the sign-in (invalid_scope)"}, absent: []string{"pages_manage_postz"}},
		"callback-provider-unavailable.json": {status: 503, contains: []string{"The channel could not complete the sign-in just now"}},
		"callback-provider-garbled-error.json": {status: 400, contains: []string{"The channel refused the sign-in (an error)"},
			absent: []string{"<script>", "alert(", "document.cookie"}},
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
	// unsubscribe-confirm.json stopped Olivia's reminders; the page alone did not.
	if u, err := s.store.GetUser(context.Background(), "demo", "u-olivia"); err != nil || !u.Preferences.Unsubscribed {
		t.Errorf("Olivia is still subscribed: %+v %v", u.Preferences, err)
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
// primary admin, an admin, two owners, a publisher service, Facebook accounts in every
// state an event needs and two groups; and Beta, another workspace. Facebook's app
// credentials are set, so that re-add links can be made (no call reaches Facebook).
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
		{WorkspaceID: "demo", ID: "u-alex", Email: "alex.admin@acme.example", Name: "Alex Admin", Role: workspace.RoleAdmin},
		{WorkspaceID: "demo", ID: "u-rita", Email: "rita.owner@acme.example", Name: "Rita Owner", Role: workspace.RoleOwner},
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

	// More of Olivia's and Rita's Facebook Pages, each in the state its events need,
	// changed as the services change them (the audit trail included).
	admin := account.Actor{ID: "u-primary", Role: workspace.RolePrimaryAdmin}
	for _, a := range []struct {
		id, name, owner string
		then            []account.Command
	}{
		{"acct-fb-bakery", "Acme Bakery", "u-olivia", []account.Command{{Action: account.ActDisconnect, Reason: account.ReasonPasswordChanged,
			Actor: account.SystemActor("expiry-check"), ChannelError: &account.ChannelError{HTTPStatus: 400, Code: "190", Subcode: "460",
				Message: "Error validating access token: The session has been invalidated because the user changed their password."}}}},
		{"acct-fb-bistro", "Acme Bistro", "u-olivia", nil},
		{"acct-fb-tea", "Acme Tea Room", "u-olivia", []account.Command{{Action: account.ActDeactivate, Actor: admin, Note: "closed for the winter"}}},
		{"acct-fb-bagels", "Acme Bagels", "u-olivia", nil},
		{"acct-fb-deli", "Acme Deli", "u-olivia", []account.Command{{Action: account.ActDelete, Actor: admin, Confirmation: "Acme Deli"}}},
		{"acct-fb-diner", "Acme Diner", "u-olivia", []account.Command{{Action: account.ActDelete, Actor: admin, Confirmation: "Acme Diner"}}},
		{"acct-fb-juice", "Acme Juice Bar", "u-rita", nil},
		{"acct-fb-smoothie", "Acme Smoothies", "u-rita", nil},
	} {
		at := now.Add(-7 * 24 * time.Hour)
		parent := "fb-" + strings.TrimPrefix(a.owner, "u-")
		ch, err := account.New(account.Spec{WorkspaceID: "demo", ID: a.id, Channel: "facebook", ExternalID: "page-" + a.id,
			DisplayName: a.name, OwnerID: a.owner, Kind: account.KindCompany, ParentProfileID: parent,
			Grant: &account.Grant{Scopes: []string{"pages_show_list", "pages_manage_posts"}}},
			account.Command{Actor: admin, At: at, EventID: "evt-create-" + a.id})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.store.CreateAccount(ctx, ch); err != nil {
			t.Fatal(err)
		}
		for i, cmd := range a.then {
			cmd.At, cmd.EventID = at.Add(time.Duration(i+1)*time.Hour), fmt.Sprintf("evt-%d-%s", i, a.id)
			if ch, err = account.Transition(ch.After, cmd); err != nil {
				t.Fatal(err)
			}
			if err := s.store.Apply(ctx, ch); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, g := range []workspace.Group{
		{ID: "grp-cafes", Name: "Cafés", AccountIDs: []string{"acct-fb-coffee", "acct-fb-bakery", "acct-fb-bistro"}, Subscribers: []string{"u-alex", "u-primary"}},
		{ID: "grp-old", Name: "Closed shops"},
	} {
		g.WorkspaceID, g.CreatedAt, g.UpdatedAt = "demo", now, now
		if _, err := s.store.CreateGroup(ctx, g); err != nil {
			t.Fatal(err)
		}
	}
	sm := secretsmanager.NewFromConfig(standin.AWSConfig(s.moto))
	if _, err := sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(s.env["CHANNELS_SECRET"]),
		SecretString: aws.String(`{"facebook":{"client_id":"1234567890123456","client_secret":"events-facebook-app-secret"}}`)}); err != nil {
		t.Fatal(err)
	}
}

func TestAdminAPIFunctionWithEveryEvent(t *testing.T) {
	s := newStack(t)
	s.seedAdmin(t)
	rt := lambdatest.Start(t, lambdatest.Build(t, "admin-api"), s.env)
	jsonType := map[string]string{"Content-Type": "application/json", "Cache-Control": "no-store"}
	since := time.Now().Add(-time.Second)
	// The events run in file-name order against one table, so a few see what an earlier
	// one did: list-groups after delete-group, report-failure after remind-healthy and
	// get-account (Coffee is still connected for them), the successful delete-account
	// after its refusals, group-remove-account after group-add-accounts.
	const links = `https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com/l/`
	consentURL := `"consent_url":"https://www.facebook.com/`
	runEvents(t, rt, "admin-api", map[string]expect{
		"openapi.json":                        {status: 200, contains: []string{"openapi: 3.0.3", "/v1/accounts/{id}/failures"}},
		"list-accounts.json":                  {status: 200, contains: []string{`"id":"acct-fb-bakery"`, `"reason":"password_changed"`}, absent: []string{"acct-fb-coffee"}, header: jsonType},
		"get-account.json":                    {status: 200, contains: []string{`"id":"acct-fb-coffee"`, `"channel_name":"Facebook Pages"`, `"next_reminder"`, `"grp-cafes"`}},
		"get-account-foreign-workspace.json":  {status: 404, errorCode: "not_found"},
		"report-failure.json":                 {status: 200, contains: []string{`"outcome":"disconnected"`, `"reason":"password_changed"`, "The account password was changed"}},
		"deactivate-as-owner.json":            {status: 403, errorCode: "forbidden"},
		"create-user.json":                    {status: 201, contains: []string{`"email":"nora.owner@acme.example"`, `"connect_link_sent":true`}},
		"create-user-unknown-field.json":      {status: 400, errorCode: "invalid", field: "admin"},
		"create-user-bad-json.json":           {status: 400, errorCode: "invalid"},
		"create-user-wrong-content-type.json": {status: 415, errorCode: "unsupported_media_type"},
		"dashboard.json":                      {status: 200, contains: []string{`"by_state"`}},
		"no-claims.json":                      {status: 401, errorCode: "unauthorized"},
		"unknown-user.json":                   {status: 401, errorCode: "unauthorized"},
		"malformed-cursor.json":               {status: 400, errorCode: "invalid", field: "cursor"},
		"wrong-method.json":                   {status: 405, errorCode: "method_not_allowed", header: map[string]string{"Allow": "GET, DELETE"}},
		"malformed-event.json":                {status: 400, errorCode: "invalid"},

		"account-events.json":             {status: 200, contains: []string{`"events":[{`, `"action":"create"`, `"actor":"u-primary"`}},
		"account-events-other-owner.json": {status: 404, errorCode: "not_found"},
		"account-events-bad-limit.json":   {status: 400, errorCode: "invalid", field: "limit"},
		"deactivate.json":                 {status: 200, contains: []string{`"id":"acct-fb-bistro"`, `"state":"deactivated"`}, header: jsonType},
		"activate.json": {status: 409, errorCode: "reauth_required", contains: []string{"Acme Tea Room", `"readd":{`, consentURL,
			`"reconnect_url":"` + links}},
		"activate-not-deactivated.json": {status: 409, errorCode: "illegal_transition"},
		"readd.json":                    {status: 200, contains: []string{consentURL, "client_id=1234567890123456", `"reconnect_url":"` + links, `"consent_expires_at"`}},
		"readd-deleted.json":            {status: 409, errorCode: "illegal_transition", contains: []string{"restore it first"}},
		"remind.json":                   {status: 200, contains: []string{`"sent_to":"olivia.owner@acme.example"`}},
		"remind-healthy.json":           {status: 409, errorCode: "illegal_transition", contains: []string{"nothing to remind"}},
		"transfer.json": {status: 200, contains: []string{`"id":"acct-fb-juice"`, `"id":"acct-fb-smoothie"`, `"owner_id":"u-olivia"`},
			absent: []string{`"owner_id":"u-rita"`}},
		"transfer-to-service.json":                 {status: 400, errorCode: "invalid", field: "owner_id"},
		"transfer-bad-type.json":                   {status: 400, errorCode: "invalid", field: "with_parent_profile"},
		"delete-account.json":                      {status: 200, contains: []string{`"state":"deleted"`, `"restorable_until"`, `"kept"`}},
		"delete-account-without-confirmation.json": {status: 400, errorCode: "invalid", field: "confirmation", contains: []string{`\"Acme Bagels\"`}},
		"delete-account-wrong-name.json":           {status: 400, errorCode: "invalid", field: "confirmation"},
		"delete-account-as-admin.json":             {status: 403, errorCode: "forbidden", contains: []string{"only the primary admin"}},
		"restore.json":                             {status: 200, contains: []string{`"id":"acct-fb-deli"`, `"state":"active"`}},
		"restore-not-deleted.json":                 {status: 409, errorCode: "illegal_transition"},

		"list-users.json":                     {status: 200, contains: []string{`"users":[`, "pat.primary@acme.example", "rita.owner@acme.example", `"role":"service"`}},
		"list-users-as-owner.json":            {status: 403, errorCode: "forbidden"},
		"get-user-self.json":                  {status: 200, contains: []string{`"id":"u-olivia"`, `"role":"owner"`}},
		"get-user-other-as-owner.json":        {status: 404, errorCode: "not_found"},
		"update-user.json":                    {status: 200, contains: []string{`"name":"Rita Okafor"`, `"email":"rita.okafor@acme.example"`}},
		"update-user-bad-email.json":          {status: 400, errorCode: "invalid", field: "email"},
		"update-user-promote-as-admin.json":   {status: 403, errorCode: "forbidden"},
		"update-user-unknown.json":            {status: 404, errorCode: "not_found"},
		"get-preferences.json":                {status: 200, contains: []string{`"notify_trouble":false`, `"unsubscribed":false`}},
		"set-preferences.json":                {status: 200, contains: []string{`"notify_trouble":false`}},
		"set-preferences-other-as-owner.json": {status: 404, errorCode: "not_found"},
		"connect-link-copy.json":              {status: 200, contains: []string{`"url":"` + links, `"expires_at"`}},
		"connect-link-send.json":              {status: 200, contains: []string{`"sent_to":"olivia.owner@acme.example"`}, absent: []string{`"url"`}},
		"connect-link-service.json":           {status: 409, errorCode: "illegal_transition"},

		"list-groups.json":                     {status: 200, contains: []string{`"id":"grp-cafes"`}, absent: []string{"grp-old"}}, // after delete-group.json
		"create-group.json":                    {status: 201, contains: []string{`"name":"Bakeries"`, `"account_ids":["acct-fb-bakery"]`}},
		"create-group-service-subscriber.json": {status: 400, errorCode: "invalid", field: "subscribers"},
		"update-group.json":                    {status: 200, contains: []string{`"name":"Cafés & tea rooms"`, `"subscribers":["u-alex","u-primary"]`}},
		"group-add-accounts.json":              {status: 200, contains: []string{`"acct-fb-tea"`, `"acct-fb-coffee"`}},
		"group-add-unknown-account.json":       {status: 400, errorCode: "invalid", field: "account_ids"},
		"group-remove-account.json":            {status: 200, contains: []string{`"acct-fb-bistro"`}, absent: []string{"acct-fb-bakery"}},
		"group-remove-account-not-member.json": {status: 404, errorCode: "not_found"},
		"group-foreign-workspace.json":         {status: 404, errorCode: "not_found"},
		"delete-group.json":                    {status: 204},
		"invite.json":                          {status: 200, contains: []string{`"email":"maya.baker@acme.example"`, `"created":true`, `"email":"olivia.owner@acme.example"`, `"status":"sent"`}, absent: []string{`"failed"`}},
		"invite-unknown-channel.json":          {status: 400, errorCode: "invalid", field: "channels"},
		"invite-as-service.json":               {status: 403, errorCode: "forbidden"},
		"get-settings.json":                    {status: 200, contains: []string{`"time_zone"`, `"reminder_policy"`}},
		"update-settings.json":                 {status: 200, contains: []string{`"time_zone":"Europe/Amsterdam"`, `"reminder_policy":"series"`}},
		"update-settings-invalid.json":         {status: 400, errorCode: "invalid", field: "settings.time_zone"},
		"update-settings-as-owner.json":        {status: 403, errorCode: "forbidden"},
		"service-list-accounts.json":           {status: 200, contains: []string{`"id":"acct-fb-coffee"`}},
		"service-dashboard.json":               {status: 403, errorCode: "forbidden"},
		"claims-without-workspace.json":        {status: 401, errorCode: "unauthorized"},
		"claims-unknown-workspace.json":        {status: 401, errorCode: "unauthorized"},
	})
	// What went out through SES: the new owner's connect link (create-user.json) and
	// Maya's invite (invite.json), pointing at the API's domain; Olivia's reminder about
	// the Bakery (remind.json); and the notice to the Cafés group's subscriber that Alex
	// switched the Bistro off (deactivate.json; Alex, who did it, is not told).
	link := regexp.MustCompile(`https://a1b2c3d4e5\.execute-api\.eu-west-1\.amazonaws\.com/l/[A-Za-z0-9_-]{43}`)
	mails := standin.SESMessages(t, s.ses, since)
	for _, want := range []struct {
		to, text string
		link     bool
	}{
		{"nora.owner@acme.example", "", true},
		{"maya.baker@acme.example", "spring campaign", true},
		{"olivia.owner@acme.example", "Acme Bakery", true},
		{"pat.primary@acme.example", "Acme Bistro", false},
	} {
		if !slices.ContainsFunc(mails, func(m standin.SESMessage) bool {
			return slices.Contains(m.Destination.To, want.to) && strings.Contains(m.Body.Text, want.text) &&
				(!want.link || link.MatchString(m.Body.Text))
		}) {
			t.Errorf("no email to %s about %q in SES", want.to, want.text)
		}
	}
	if slices.ContainsFunc(mails, func(m standin.SESMessage) bool { return slices.Contains(m.Destination.To, "alex.admin@acme.example") }) {
		t.Error("Alex was told of his own change")
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
	Partition  sweep.Partition
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
				FunctionName                 string
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
			// A run ends before the next one starts; a reminders run also before its
			// claims could be taken for a crash's (digest.StaleClaim). The expiry check's
			// claims are per renewal, one channel call, not per run.
			timeout := time.Duration(fn.Properties.Timeout) * time.Second
			if timeout <= 0 || timeout > 15*time.Minute || timeout >= c.period {
				t.Errorf("Timeout %v: at most Lambda's 15 minutes, and a run must end before the next one", timeout)
			}
			if id == "RemindersFunction" && timeout >= digest.StaleClaim {
				t.Errorf("Timeout %v: a reminders run must end before its claims go stale (digest.StaleClaim %v)", timeout, digest.StaleClaim)
			}
			// The expiry check starts the partitions of a large sweep by invoking itself,
			// by name, so reserving one execution would throttle them.
			if id == "ExpiryCheckFunction" && (fn.Properties.ReservedConcurrentExecutions != 0 ||
				fn.Properties.FunctionName != "relink-${Stage}-expiry-check" ||
				!strings.Contains(string(must(os.ReadFile("../template.yaml"))), `Action: lambda:InvokeFunction
              Resource: !Sub "arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:relink-${Stage}-expiry-check"`)) {
				t.Errorf("the expiry check must be named relink-${Stage}-expiry-check, may invoke itself, and reserves no concurrency")
			}
			if id == "RemindersFunction" && fn.Properties.ReservedConcurrentExecutions != 1 {
				t.Errorf("ReservedConcurrentExecutions %d: reminders pace themselves to the SES rate, one run at a time",
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
