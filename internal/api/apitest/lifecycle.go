// Package apitest holds the admin API's end-to-end scenario, run by tests against the
// local server (embedded store) and against a DynamoDB-backed stack: everything goes
// over HTTP, as an admin, an owner's browser and another system would.
package apitest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// Stack is a running Relink: one base URL serving the admin API (/v1), the owner
// pages and the sandbox channel (/sandbox), and a way to read what it emailed.
type Stack struct {
	BaseURL    string
	AdminToken string // the primary admin's bearer token
	// Mail returns the text bodies of the emails sent to an address, newest first.
	Mail   func(t *testing.T, to string) []string
	Client *http.Client // nil: a plain client
}

func (s Stack) client() *http.Client {
	if s.Client != nil {
		return s.Client
	}
	return &http.Client{}
}

// browser is a person's browser on the stack: cookies kept, redirects followed.
func (s Stack) browser() *http.Client {
	jar, _ := cookiejar.New(nil)
	c := *s.client()
	c.Jar = jar
	return &c
}

type reply struct {
	Status int
	URL    *url.URL
	Body   []byte
}

func (s Stack) api(t *testing.T, method, path string, body any) reply {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, s.BaseURL+path, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+s.AdminToken)
	return do(t, s.client(), req)
}

func do(t *testing.T, c *http.Client, req *http.Request) reply {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return reply{Status: resp.StatusCode, URL: resp.Request.URL, Body: b}
}

func (r reply) decode(t *testing.T, into any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, into); err != nil {
		t.Fatalf("not JSON (%d): %v\n%s", r.Status, err, r.Body)
	}
}

func expect(t *testing.T, step string, r reply, status int) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("%s: %d, want %d\n%s", step, r.Status, status, r.Body)
	}
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// post submits a form as the browser, with the CSRF token of page.
func post(t *testing.T, b *http.Client, base, path string, page []byte, form url.Values) reply {
	t.Helper()
	if m := csrfField.FindSubmatch(page); m != nil {
		form.Set("csrf", string(m[1]))
	}
	req, _ := http.NewRequest(http.MethodPost, base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", base)
	return do(t, b, req)
}

// consent answers the sandbox consent page the browser is on, allowing everything
// as the given sandbox profile.
func consent(t *testing.T, b *http.Client, base string, page reply, profile string) reply {
	t.Helper()
	if page.Status != http.StatusOK || !strings.HasSuffix(page.URL.Path, "/sandbox/oauth/authorize") {
		t.Fatalf("not on the sandbox consent page: %d %s\n%s", page.Status, page.URL, page.Body)
	}
	form := page.URL.Query()
	form.Set("decision", "allow")
	form.Set("profile", profile)
	for _, sc := range strings.Fields(form.Get("scope")) {
		form.Add("grant_scope", sc)
	}
	return post(t, b, base, "/sandbox/oauth/authorize", nil, form)
}

type accountJSON struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	State   string `json:"state"`
	Reason  string `json:"reason"`
	OwnerID string `json:"owner_id"`
}

func (s Stack) account(t *testing.T, id string) accountJSON {
	t.Helper()
	var a accountJSON
	r := s.api(t, "GET", "/v1/accounts/"+id, nil)
	expect(t, "get account", r, 200)
	r.decode(t, &a)
	return a
}

// sandboxControl presses an action on the sandbox controls page for the newest grant
// of a profile (as a person would, by its form).
func (s Stack) sandboxControl(t *testing.T, profileName, action string) {
	t.Helper()
	b := s.browser()
	page := do(t, b, mustReq("GET", s.BaseURL+"/sandbox/controls"))
	rows := regexp.MustCompile(`(?s)<tr>\s*<th scope="row"><code>([^<]+)</code></th><td>([^<]+)<br>`).FindAllSubmatch(page.Body, -1)
	grant := ""
	for _, r := range rows {
		if string(r[2]) == profileName {
			grant = string(r[1])
		}
	}
	if grant == "" {
		t.Fatalf("no sandbox grant for %s on the controls page", profileName)
	}
	r := post(t, b, s.BaseURL, "/sandbox/controls", nil, url.Values{"grant": {grant}, "action": {action}})
	if r.Status >= 400 {
		t.Fatalf("sandbox control %s: %d\n%s", action, r.Status, r.Body)
	}
}

func mustReq(method, u string) *http.Request {
	r, err := http.NewRequest(method, u, nil)
	if err != nil {
		panic(err)
	}
	return r
}

var linkPattern = regexp.MustCompile(`https?://\S+/l/[A-Za-z0-9_-]{43}`)

// Lifecycle walks the scenario: create an owner → invite → connect through the
// sandbox with the emailed code → the password changes → another system reports the
// failure → disconnected → deactivate → activate refused (re-add needed) → re-add →
// active → transfer → delete (refused without confirmation, then soft) → restore.
func Lifecycle(t *testing.T, s Stack, otherOwnerID string) {
	t.Helper()
	email := fmt.Sprintf("nora.%d@acme.example", len(s.BaseURL))

	// Create an owner; they get their connect link by email.
	var nora struct {
		ID              string `json:"id"`
		ConnectLinkSent bool   `json:"connect_link_sent"`
	}
	r := s.api(t, "POST", "/v1/users", map[string]any{"email": email, "name": "Nora Owner", "role": "owner"})
	expect(t, "create owner", r, 201)
	r.decode(t, &nora)
	if !nora.ConnectLinkSent || len(s.Mail(t, email)) != 1 {
		t.Fatalf("the new owner's connect link was not emailed")
	}

	// Invite her to connect a sandbox account.
	var inv struct {
		Invites []struct{ Status string } `json:"invites"`
	}
	r = s.api(t, "POST", "/v1/invites", map[string]any{"emails": []string{email}, "channels": []string{"sandbox"}, "message": "Connect the studio, please."})
	expect(t, "invite", r, 200)
	r.decode(t, &inv)
	if len(inv.Invites) != 1 || inv.Invites[0].Status != "sent" {
		t.Fatalf("invite: %s", r.Body)
	}
	mails := s.Mail(t, email)
	invite := linkPattern.FindString(mails[0])
	if invite == "" || !strings.Contains(mails[0], "Connect the studio, please.") {
		t.Fatalf("invite email:\n%s", mails[0])
	}

	// She follows the invite, connects through the sandbox, and confirms with the code.
	b := s.browser()
	page := do(t, b, mustReq("GET", invite))
	expect(t, "open invite", page, 200)
	page = consent(t, b, s.BaseURL, post(t, b, s.BaseURL, "/invite/connect", page.Body, url.Values{"channel": {"sandbox"}}), "sandbox-omar")
	if page.URL.Path != "/invite/code" {
		t.Fatalf("after consent: %d %s\n%s", page.Status, page.URL, page.Body)
	}
	code := regexp.MustCompile(`\b(\d{3}) (\d{3})\b`).FindStringSubmatch(s.Mail(t, email)[0])
	if code == nil {
		t.Fatal("no code emailed")
	}
	flow := regexp.MustCompile(`name="flow" value="([^"]+)"`).FindSubmatch(page.Body)
	page = post(t, b, s.BaseURL, "/invite/code", page.Body, url.Values{"flow": {string(flow[1])}, "code": {code[1] + code[2]}})
	if page.URL.Path != "/me" || !strings.Contains(string(page.Body), "Sandbox Studio") {
		t.Fatalf("after the code: %d %s\n%s", page.Status, page.URL, page.Body)
	}
	var list struct {
		Accounts []accountJSON `json:"accounts"`
	}
	s.api(t, "GET", "/v1/accounts?owner_id="+nora.ID, nil).decode(t, &list)
	if len(list.Accounts) != 1 || list.Accounts[0].State != "active" {
		t.Fatalf("Nora's accounts: %+v", list.Accounts)
	}
	acct := list.Accounts[0]

	// The password changes; the publisher's next use fails and it reports the answer.
	s.sandboxControl(t, "Omar Sandbox", "password_changed")
	var fo struct {
		Outcome string `json:"outcome"`
	}
	r = s.api(t, "POST", "/v1/accounts/"+acct.ID+"/failures", map[string]any{"http_status": 401,
		"body": map[string]any{"error": "invalid_token", "error_description": "The password was changed.", "reason": "password_changed"}})
	expect(t, "report failure", r, 200)
	r.decode(t, &fo)
	if a := s.account(t, acct.ID); fo.Outcome != "disconnected" || a.State != "disconnected" || a.Reason != "password_changed" {
		t.Fatalf("after the report: %s, %+v", fo.Outcome, a)
	}

	// Deactivate; activating is refused with re-add links, since the token is dead.
	expect(t, "deactivate", s.api(t, "POST", "/v1/accounts/"+acct.ID+"/deactivate", map[string]any{"note": "paused"}), 200)
	r = s.api(t, "POST", "/v1/accounts/"+acct.ID+"/activate", nil)
	expect(t, "activate with a dead token", r, 409)
	var refused struct {
		Error struct {
			Code  string `json:"code"`
			Readd struct {
				ConsentURL string `json:"consent_url"`
			} `json:"readd"`
		} `json:"error"`
	}
	r.decode(t, &refused)
	if refused.Error.Code != "reauth_required" || refused.Error.Readd.ConsentURL == "" {
		t.Fatalf("activate refusal: %s", r.Body)
	}

	// Re-add: the admin follows the consent URL; the account comes back in place.
	var readd struct {
		ConsentURL string `json:"consent_url"`
	}
	r = s.api(t, "POST", "/v1/accounts/"+acct.ID+"/readd", nil)
	expect(t, "readd", r, 200)
	r.decode(t, &readd)
	admin := s.browser()
	page = consent(t, admin, s.BaseURL, do(t, admin, mustReq("GET", readd.ConsentURL)), "sandbox-omar")
	if page.Status != 200 || !strings.Contains(string(page.Body), "Sandbox Studio") {
		t.Fatalf("after the re-add consent: %d %s\n%s", page.Status, page.URL, page.Body)
	}
	if a := s.account(t, acct.ID); a.State != "active" || a.ID != acct.ID {
		t.Fatalf("after re-add: %+v", a)
	}
	s.api(t, "GET", "/v1/accounts?owner_id="+nora.ID, nil).decode(t, &list)
	if len(list.Accounts) != 1 {
		t.Fatalf("re-add duplicated the account: %+v", list.Accounts)
	}

	// Transfer to another owner.
	expect(t, "transfer", s.api(t, "POST", "/v1/accounts/"+acct.ID+"/transfer", map[string]any{"owner_id": otherOwnerID}), 200)
	if a := s.account(t, acct.ID); a.OwnerID != otherOwnerID {
		t.Fatalf("after transfer: %+v", a)
	}

	// Delete: refused without the name typed, then soft.
	r = s.api(t, "DELETE", "/v1/accounts/"+acct.ID, map[string]any{})
	expect(t, "delete without confirmation", r, 400)
	if s.account(t, acct.ID).State != "active" {
		t.Fatal("a refused delete changed the account")
	}
	r = s.api(t, "DELETE", "/v1/accounts/"+acct.ID, map[string]any{"confirmation": acct.Name})
	expect(t, "delete", r, 200)
	if !strings.Contains(string(r.Body), "restored until") {
		t.Fatalf("delete does not say what is kept: %s", r.Body)
	}
	if a := s.account(t, acct.ID); a.State != "deleted" {
		t.Fatalf("after delete: %+v", a)
	}

	// Restore: back to where it was.
	expect(t, "restore", s.api(t, "POST", "/v1/accounts/"+acct.ID+"/restore", nil), 200)
	if a := s.account(t, acct.ID); a.State != "active" {
		t.Fatalf("after restore: %+v", a)
	}
	var ev struct {
		Events []struct {
			Action string `json:"action"`
		} `json:"events"`
	}
	s.api(t, "GET", "/v1/accounts/"+acct.ID+"/events", nil).decode(t, &ev)
	var actions []string
	for _, e := range ev.Events {
		actions = append(actions, e.Action)
	}
	want := "create disconnect deactivate authorize transfer delete restore"
	if strings.Join(actions, " ") != want {
		t.Fatalf("audit trail %v, want %s", actions, want)
	}
}
