package portal

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/relinkhq/relink/internal/account"
	"github.com/relinkhq/relink/internal/magiclink"
	"github.com/relinkhq/relink/internal/sandbox"
	"github.com/relinkhq/relink/internal/store"
)

// TestReconnectThroughTheSandbox walks the owner's whole path: the emailed link, the
// accounts page, Reconnect, the channel's consent, the callback, and the bar that
// confirms it — first with a permission refused (action required, naming it and what
// it breaks), then with everything granted.
func TestReconnectThroughTheSandbox(t *testing.T) {
	e := newEnv(t)
	brand := e.account("acct-brand", "sandbox", "sandbox-1", "Sandbox Brand", "u-olivia", "sandbox-olivia", account.StateDisconnected)
	e.account("acct-omar", "sandbox", "sandbox-3", "Sandbox Studio", "u-omar", "sandbox-omar", account.StateActive)
	b := e.browser()

	p := b.open("/l/" + e.link("u-olivia", magiclink.PurposeReconnect))
	if p.status != http.StatusOK || p.url.Path != "/me" || p.url.RawQuery != "" {
		t.Fatalf("link opened %d at %s", p.status, p.url)
	}
	mustContain(t, p, "Your accounts", "Sandbox Brand", "Disconnected", "The account password was changed",
		"1 of your accounts needs you", `aria-label="Reconnect Sandbox Brand on Sandbox"`)
	if strings.Contains(p.body, "Sandbox Studio") {
		t.Fatal("the page shows another owner's account")
	}

	// Reconnect, refusing the "report" permission.
	p = b.consent(b.reconnect(brand.ID), "sandbox-olivia", "report")
	if p.status != http.StatusOK || p.url.Path != "/me" {
		t.Fatalf("after consent: %d %s\n%s", p.status, p.url, p.body)
	}
	mustContain(t, p, `class="flash flash-warn"`, "some permissions are still missing", "Sandbox Brand",
		"Action required", "<code>report</code>", "breaks reporting")
	if a := e.get(brand.ID); a.State != account.StateActionRequired || len(a.Missing) != 1 || a.Missing[0].Name != "report" {
		t.Fatalf("after a partial grant: %+v", a)
	}

	// Reconnect again, granting everything: the green bar, and connected.
	p = b.consent(b.reconnect(brand.ID), "sandbox-olivia")
	mustContain(t, p, `class="flash flash-ok"`, "Connected:", "Sandbox Brand")
	if a := e.get(brand.ID); a.State != account.StateActive || a.Version != brand.Version+2 {
		t.Fatalf("after a full grant: %+v", a)
	}
	if strings.Contains(p.body, "Sandbox Coffee") {
		t.Fatal("a re-add of one account added its sibling")
	}

	// Connect a new account from the page: the login grants Sandbox Brand (updated in
	// place, never duplicated) and Sandbox Coffee (new).
	p = b.consent(b.post("/me/connect", url.Values{"channel": {"sandbox"}}), "sandbox-olivia")
	mustContain(t, p, "Connected:", "Sandbox Brand, Sandbox Coffee")
	for range 2 { // twice: still no duplicates
		b.consent(b.post("/me/connect", url.Values{"channel": {"sandbox"}}), "sandbox-olivia")
	}
	all, _ := e.store.ListAccounts(context.Background(), ws, account.Filter{OwnerID: "u-olivia"}, storePage)
	if len(all.Accounts) != 2 {
		t.Fatalf("owner has %d accounts, want 2 (no duplicates)", len(all.Accounts))
	}
}

// TestRefusalsShowAPageAndChangeNothing: a replayed callback, a forged state, a denied
// consent, another owner's account, another owner's parent profile, an expired or
// used-up link — each gets a clear page and leaves every account as it was.
func TestRefusalsShowAPageAndChangeNothing(t *testing.T) {
	e := newEnv(t)
	mine := e.account("acct-brand", "sandbox", "sandbox-1", "Sandbox Brand", "u-olivia", "sandbox-olivia", account.StateDisconnected)
	omars := e.account("acct-omar", "sandbox", "sandbox-3", "Sandbox Studio", "u-omar", "sandbox-omar", account.StateDisconnected)
	versions := func() [2]int64 { return [2]int64{e.get(mine.ID).Version, e.get(omars.ID).Version} }
	b := e.browser()
	b.open("/l/" + e.link("u-olivia", magiclink.PurposeReconnect))

	// Denied on the consent screen.
	before := versions()
	p := b.consent(b.reconnect(mine.ID), "")
	mustContain(t, p, "Nothing was changed", "You chose not to give access", `href="/me"`)
	if versions() != before {
		t.Fatal("a denied consent changed an account")
	}

	// A consent that succeeds, then its callback replayed.
	b.open("/me")
	p = b.reconnect(mine.ID)
	noFollow := *b.client
	noFollow.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	form := p.url.Query()
	form.Set("decision", "allow")
	form.Set("profile", "sandbox-olivia")
	for _, s := range strings.Fields(form.Get("scope")) {
		form.Add("grant_scope", s)
	}
	resp, err := noFollow.PostForm(e.srv.URL+"/sandbox/oauth/authorize", form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	callbackURL := resp.Header.Get("Location")
	if p = b.open(callbackURL); p.url.Path != "/me" {
		t.Fatalf("first callback: %d %s", p.status, p.url)
	}
	before = versions()
	p = b.open(callbackURL)
	if p.status != http.StatusNotFound {
		t.Fatalf("replayed callback: %d", p.status)
	}
	mustContain(t, p, "already used")
	// Forged and malformed states.
	for _, q := range []string{"state=" + strings.Repeat("A", 43) + "&code=x", "state=%00&code=x", "code=x", "error=access_denied"} {
		if p := b.open("/oauth/callback?" + q); p.status != http.StatusNotFound {
			t.Fatalf("callback %s: %d", q, p.status)
		}
	}
	if versions() != before {
		t.Fatal("a replayed or forged callback changed an account")
	}

	// Another owner's account ID, posted by hand.
	b.open("/me")
	p = b.post("/me/reconnect", url.Values{"account": {omars.ID}})
	if p.status != http.StatusNotFound {
		t.Fatalf("another owner's account: %d", p.status)
	}
	mustContain(t, p, "no such account among yours")

	// Signing in with a profile whose accounts belong to another owner: transfer first.
	b.open("/me")
	p = b.consent(b.post("/me/connect", url.Values{"channel": {"sandbox"}}), "sandbox-omar")
	if p.status != http.StatusForbidden {
		t.Fatalf("another owner's parent profile: %d\n%s", p.status, p.body)
	}
	mustContain(t, p, "Ask an admin to transfer")
	if versions() != before {
		t.Fatal("a refused login changed an account")
	}

	// An expired link: a page that says so and offers a new one; the new one arrives.
	token := e.link("u-olivia", magiclink.PurposeReconnect)
	e.clock.Advance(15 * 24 * time.Hour)
	other := e.browser()
	p = other.open("/l/" + token)
	if p.status != http.StatusGone {
		t.Fatalf("expired link: %d", p.status)
	}
	mustContain(t, p, "This link no longer works", "has expired", "Email me a new link")
	p = other.post("/link/new", url.Values{"token": {token}})
	mustContain(t, p, "Check your email")
	mails := e.mailbox.To("olivia@acme.example")
	if len(mails) != 1 || mails[0].Subject != "Your new Relink link" {
		t.Fatalf("new link emails: %+v", mails)
	}
	fresh := regexp.MustCompile(`https://\S+/l/[A-Za-z0-9_-]{43}`).FindString(mails[0].Text)
	if p = other.open(fresh); p.url.Path != "/me" || p.status != http.StatusOK {
		t.Fatalf("the new link: %d %s", p.status, p.url)
	}
	if versions() != before {
		t.Fatal("an expired link changed an account")
	}

	// A link that was never issued.
	if p := e.browser().open("/l/" + strings.Repeat("x", 43)); p.status != http.StatusNotFound {
		t.Fatalf("unknown link: %d", p.status)
	}
	if p := e.browser().open("/l/short"); p.status != http.StatusNotFound {
		t.Fatalf("malformed link: %d", p.status)
	}
}

// TestInviteConfirmedByCode: invite link → choose a channel → consent → a code by
// email → wrong codes counted → the right code adds the accounts.
func TestInviteConfirmedByCode(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	p := b.open("/l/" + e.link("u-omar", magiclink.PurposeInvite, "sandbox"))
	if p.url.Path != "/invite" {
		t.Fatalf("invite link opened %s", p.url)
	}
	mustContain(t, p, "Connect your accounts to Acme Brands", "Please connect the brand accounts.", "Connect with Sandbox",
		"6-digit code to omar@acme.example")

	p = b.consent(b.post("/invite/connect", url.Values{"channel": {"sandbox"}}), "sandbox-omar")
	if p.url.Path != "/invite/code" {
		t.Fatalf("after consent: %d %s\n%s", p.status, p.url, p.body)
	}
	mustContain(t, p, "Type your code", "o•••r@acme.example", "Sandbox Studio")
	all, _ := e.store.ListAccounts(context.Background(), ws, account.Filter{}, storePage)
	if len(all.Accounts) != 0 {
		t.Fatal("accounts were added before the code was typed")
	}
	mails := e.mailbox.To("omar@acme.example")
	if len(mails) != 1 {
		t.Fatalf("code emails: %d", len(mails))
	}
	code := regexp.MustCompile(`\b(\d{3}) (\d{3})\b`).FindStringSubmatch(mails[0].Text)
	if code == nil {
		t.Fatalf("no code in the email:\n%s", mails[0].Text)
	}
	wrong := "000000"
	if code[1]+code[2] == wrong {
		wrong = "111111"
	}
	p = b.post("/invite/code", url.Values{"flow": {p.url.Query().Get("flow")}, "code": {wrong}})
	if p.status != http.StatusBadRequest {
		t.Fatalf("wrong code: %d", p.status)
	}
	mustContain(t, p, "That code is not right. 4 attempts left.", `aria-invalid="true"`)
	flow := regexp.MustCompile(`name="flow" value="([^"]+)"`).FindStringSubmatch(p.body)[1]
	p = b.post("/invite/code", url.Values{"flow": {flow}, "code": {code[1] + " " + code[2]}})
	if p.url.Path != "/me" {
		t.Fatalf("right code: %d %s\n%s", p.status, p.url, p.body)
	}
	mustContain(t, p, "Connected:", "Sandbox Studio")
	all, _ = e.store.ListAccounts(context.Background(), ws, account.Filter{OwnerID: "u-omar"}, storePage)
	if len(all.Accounts) != 1 || all.Accounts[0].State != account.StateActive || all.Accounts[0].ParentProfileID != "sandbox-omar" {
		t.Fatalf("invited accounts: %+v", all.Accounts)
	}
	// The code works once.
	b.open("/me")
	p = b.post("/invite/code", url.Values{"flow": {flow}, "code": {code[1] + code[2]}})
	if p.status != http.StatusGone {
		t.Fatalf("code used twice: %d", p.status)
	}
}

// TestInviteCodeLocksAfterFiveAttempts, and a resend starts afresh.
func TestInviteCodeLocksAfterFiveAttempts(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	b.open("/l/" + e.link("u-omar", magiclink.PurposeInvite))
	p := b.consent(b.post("/invite/connect", url.Values{"channel": {"sandbox"}}), "sandbox-omar")
	flow := p.url.Query().Get("flow")
	first := codeIn(t, e, "omar@acme.example", 1)
	for i := 1; i <= 5; i++ {
		p = b.post("/invite/code", url.Values{"flow": {flow}, "code": {otherThan(first)}})
	}
	if p.status != http.StatusGone {
		t.Fatalf("fifth wrong code: %d", p.status)
	}
	p = b.post("/invite/code", url.Values{"flow": {flow}, "code": {first}})
	if p.status != http.StatusGone {
		t.Fatalf("the right code after the lock: %d", p.status)
	}
	// Another person's session cannot see or use the flow.
	intruder := e.browser()
	intruder.open("/l/" + e.link("u-olivia", magiclink.PurposeConnect))
	if p := intruder.open("/invite/code?flow=" + flow); p.status != http.StatusNotFound {
		t.Fatalf("another person's flow: %d", p.status)
	}
	// A resend: a new code, and it works.
	b.open("/invite/code?flow=" + flow)
	p = b.post("/invite/code/resend", url.Values{"flow": {flow}})
	mustContain(t, p, "We sent a new code")
	second := codeIn(t, e, "omar@acme.example", 2)
	p = b.post("/invite/code", url.Values{"flow": {flow}, "code": {second}})
	if p.url.Path != "/me" {
		t.Fatalf("resent code: %d %s\n%s", p.status, p.url, p.body)
	}
}

func codeIn(t *testing.T, e *env, to string, n int) string {
	t.Helper()
	mails := e.mailbox.To(to)
	if len(mails) != n {
		t.Fatalf("%d emails to %s, want %d", len(mails), to, n)
	}
	m := regexp.MustCompile(`\b(\d{3}) (\d{3})\b`).FindStringSubmatch(mails[0].Text)
	if m == nil {
		t.Fatalf("no code in %q", mails[0].Text)
	}
	return m[1] + m[2]
}

func otherThan(code string) string {
	if code == "123456" {
		return "654321"
	}
	return "123456"
}

// TestNewLinkRequestsRevealNothing: a known and an unknown address get the same answer;
// only the known one gets an email, at most three an hour; a client asking too often
// is told so.
func TestNewLinkRequestsRevealNothing(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	b.open("/link/new")
	known := b.post("/link/new", url.Values{"email": {" Olivia@Acme.example "}})
	b.open("/link/new")
	unknown := b.post("/link/new", url.Values{"email": {"nobody@acme.example"}})
	if known.status != http.StatusOK || known.status != unknown.status || stripCSRF(known.body) != stripCSRF(unknown.body) {
		t.Fatalf("known and unknown addresses answered differently:\n%s\n---\n%s", known.body, unknown.body)
	}
	if n := len(e.mailbox.To("olivia@acme.example")); n != 1 {
		t.Fatalf("%d emails for the known address", n)
	}
	if n := len(e.mailbox.All()); n != 1 {
		t.Fatalf("%d emails in all", n)
	}
	for range 5 {
		b.open("/link/new")
		b.post("/link/new", url.Values{"email": {"olivia@acme.example"}})
	}
	if n := len(e.mailbox.To("olivia@acme.example")); n != 3 {
		t.Fatalf("%d emails to one address within an hour, want 3", n)
	}
	b.open("/link/new")
	if p := b.post("/link/new", url.Values{"email": {"not an address"}}); p.status != http.StatusBadRequest {
		t.Fatalf("malformed address: %d", p.status)
	}
	var last result
	for range 20 {
		b.open("/link/new")
		last = b.post("/link/new", url.Values{"email": {"someone@acme.example"}})
	}
	if last.status != http.StatusTooManyRequests {
		t.Fatalf("a client asking 28 times an hour: %d", last.status)
	}
}

var storePage = store.Page{Limit: 100}

func stripCSRF(s string) string { return csrfField.ReplaceAllString(s, "") }

// TestFormsAndHeaders: every POST needs the CSRF token and a same-origin request; every
// page carries the security headers; cookies are HttpOnly, Secure and SameSite.
func TestFormsAndHeaders(t *testing.T) {
	e := newEnv(t)
	brand := e.account("acct-brand", "sandbox", "sandbox-1", "Sandbox Brand", "u-olivia", "", account.StateDisconnected)
	b := e.browser()
	token := e.link("u-olivia", magiclink.PurposeReconnect)
	req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/l/"+token, nil)
	noFollow := *b.client
	noFollow.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := noFollow.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/me" {
		t.Fatalf("open: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	for _, c := range resp.Cookies() {
		if !c.HttpOnly || !c.Secure || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.Domain != "" {
			t.Fatalf("cookie %s: %+v", c.Name, c)
		}
	}
	p := b.open("/me")
	for _, path := range []string{"/me", "/link/new", "/nowhere", "/l/" + strings.Repeat("x", 43)} {
		p := b.open(path)
		csp := p.header.Get("Content-Security-Policy")
		if p.header.Get("Referrer-Policy") != "no-referrer" || !strings.Contains(csp, "frame-ancestors 'none'") ||
			!strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "script-src") ||
			p.header.Get("X-Content-Type-Options") != "nosniff" || p.header.Get("Cache-Control") != "no-store" {
			t.Fatalf("%s headers: %v", path, p.header)
		}
		if strings.Contains(p.body, "<script") || strings.Contains(p.body, " style=") {
			t.Fatalf("%s has inline script or style", path)
		}
	}

	before := e.get(brand.ID).Version
	b.open("/me")
	// No token, a wrong token, another browser's token.
	for _, form := range []url.Values{{"account": {brand.ID}, "csrf": {"x"}}, {"account": {brand.ID}, "csrf": {""}}} {
		if form.Get("csrf") == "" {
			form.Set("csrf", " ")
		}
		if p := b.post("/me/reconnect", form); p.status != http.StatusForbidden {
			t.Fatalf("POST with csrf %q: %d", form.Get("csrf"), p.status)
		}
	}
	other := e.browser()
	other.open("/link/new")
	theirs := csrfField.FindStringSubmatch(other.last)[1]
	if p := b.post("/me/reconnect", url.Values{"account": {brand.ID}, "csrf": {theirs}}); p.status != http.StatusForbidden {
		t.Fatalf("POST with another browser's token: %d", p.status)
	}
	// A cross-site POST, even with the right token.
	b.open("/me")
	tok := csrfField.FindStringSubmatch(b.last)[1]
	req, _ = http.NewRequest(http.MethodPost, e.srv.URL+"/me/reconnect", strings.NewReader(url.Values{"account": {brand.ID}, "csrf": {tok}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "https://evil.example")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	if p := b.do(req); p.status != http.StatusForbidden {
		t.Fatalf("cross-site POST: %d", p.status)
	}
	if e.get(brand.ID).Version != before {
		t.Fatal("a refused POST changed the account")
	}
	// A too-large form is refused, not read.
	b.open("/me")
	if p := b.post("/me/reconnect", url.Values{"account": {strings.Repeat("a", 20000)}}); p.status != http.StatusBadRequest {
		t.Fatalf("oversized form: %d", p.status)
	}
	_ = p
}

// TestNoSecretsInLogsOrPages drives the flows while capturing every log line and every
// page, then looks in both for every token, code and secret those flows handled.
func TestNoSecretsInLogsOrPages(t *testing.T) {
	e := newEnv(t)
	e.account("acct-brand", "sandbox", "sandbox-1", "Sandbox Brand", "u-olivia", "sandbox-olivia", account.StateDisconnected)
	b := e.browser()
	linkToken := e.link("u-olivia", magiclink.PurposeReconnect)
	b.open("/l/" + linkToken)
	b.consent(b.reconnect("acct-brand"), "sandbox-olivia")

	inviter := e.browser()
	inviteToken := e.link("u-omar", magiclink.PurposeInvite)
	inviter.open("/l/" + inviteToken)
	p := inviter.consent(inviter.post("/invite/connect", url.Values{"channel": {"sandbox"}}), "sandbox-omar")
	code := codeIn(t, e, "omar@acme.example", 1)
	inviter.post("/invite/code", url.Values{"flow": {p.url.Query().Get("flow")}, "code": {code}})

	// Every token the flows stored, read back through the vault.
	var tokens []string
	all, _ := e.store.ListAccounts(context.Background(), ws, account.Filter{}, storePage)
	for _, a := range all.Accounts {
		sealed, err := e.store.GetTokens(context.Background(), ws, a.ID)
		if err != nil {
			continue
		}
		tok, err := e.vault.OpenTokens(context.Background(), sealed, ws+"/"+a.ID)
		if err != nil {
			t.Fatal(err)
		}
		tokens = append(tokens, tok.Access.Reveal(), tok.Refresh.Reveal())
	}

	// A failure that is ours is logged: make the store fail under a request.
	e.store.(interface{ Close() error }).Close()
	if p := b.open("/me"); p.status != http.StatusInternalServerError {
		t.Fatalf("a broken store: %d", p.status)
	}

	secrets := append([]string{linkToken, inviteToken, code, sandbox.ClientSecret}, tokens...)
	if len(secrets) < 6 {
		t.Fatalf("only %d secrets collected", len(secrets))
	}
	logs := e.logs.String()
	if !strings.Contains(logs, `"level":"ERROR"`) {
		t.Fatalf("the failure was not logged:\n%s", logs)
	}
	for _, s := range secrets {
		if strings.Contains(logs, s) {
			t.Errorf("a secret is in the logs: %q…", s[:4])
		}
		for _, seen := range []string{b.seen.String(), inviter.seen.String()} {
			if strings.Contains(seen, s) && s != linkToken && s != inviteToken {
				t.Errorf("a secret is in a page: %q…", s[:4])
			}
		}
	}
	if strings.Contains(b.seen.String()+inviter.seen.String(), code) {
		t.Error("the one-time code is on a page")
	}
}
