package devserver

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// The owner pages in a real browser: headless Chromium driven through chromedp against
// the local server (plain http on 127.0.0.1, which Chromium counts as a secure context,
// so the __Host- Secure cookies are kept as they are over https in AWS). Each scenario
// runs in its own browser context (its own cookies). A failing scenario leaves a
// full-page screenshot in $RELINK_ARTIFACTS_DIR (default: test-artifacts/ at the
// repository root) and logs its path.
//
// Without Chromium the test is skipped, unless CI=true, where it fails.

// chromiumPath finds the browser: $RELINK_CHROMIUM, or a Chromium or Chrome on PATH.
func chromiumPath() string {
	if p := os.Getenv("RELINK_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome-stable", "google-chrome", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// browserEnv is one local server and one headless browser shared by the scenarios.
type browserEnv struct {
	base, ownerLink, adminToken string
	browser                     context.Context // a started browser; scenarios open tabs from it
}

func newBrowserEnv(t *testing.T) *browserEnv {
	t.Helper()
	exe := chromiumPath()
	if exe == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("Chromium is needed for the browser tests: apt-get install chromium (or set RELINK_CHROMIUM)")
		}
		t.Skip("no Chromium found (apt-get install chromium, or set RELINK_CHROMIUM); skipping the browser tests")
	}
	base, banner := startQuiet(t)
	env := &browserEnv{base: base}
	if m := regexp.MustCompile(`owner link \(Olivia Owner\): (\S+)`).FindStringSubmatch(banner); m != nil {
		env.ownerLink = m[1]
	} else {
		t.Fatalf("banner has no owner link:\n%s", banner)
	}
	if m := regexp.MustCompile(`export RELINK_TOKEN=(\S+)`).FindStringSubmatch(banner); m != nil {
		env.adminToken = m[1]
	} else {
		t.Fatalf("banner has no admin token:\n%s", banner)
	}

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.NoSandbox, // CI runs as root, where Chromium's sandbox cannot start; the pages are our own
		chromedp.WindowSize(1280, 900),
	)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	browser, cancelBrowser := chromedp.NewContext(alloc)
	t.Cleanup(cancelBrowser)
	// The browser lives as long as the context of its first run, so that run gets no
	// deadline; a watchdog ends a start that hangs.
	watchdog := time.AfterFunc(time.Minute, cancelBrowser)
	err := chromedp.Do(browser)
	if !watchdog.Stop() {
		err = fmt.Errorf("no answer within a minute (%v)", err)
	}
	if err != nil {
		t.Fatalf("start Chromium (%s): %v", exe, err)
	}
	env.browser = browser
	return env
}

// startQuiet runs the local server with its schedule effectively off (the scenarios
// expect the seeded states, not what a 30-second tick would make of them) and returns
// its URL and banner; the server stops when the test ends.
func startQuiet(t *testing.T) (base, banner string) {
	t.Helper()
	dir := t.TempDir() // removed after the server has stopped (cleanups run last first)
	pr, pw := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Config{Addr: "127.0.0.1:0", DataDir: dir, Out: pw, Logger: slog.New(slog.DiscardHandler), Tick: time.Hour})
		pw.Close()
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run returned %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Error("server did not stop within 15s")
		}
	})
	var b strings.Builder
	slow := time.AfterFunc(30*time.Second, func() { pr.CloseWithError(fmt.Errorf("no banner within 30s")) })
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		b.WriteString(sc.Text() + "\n")
		if strings.Contains(sc.Text(), "starts afresh") {
			break
		}
	}
	slow.Stop()
	go io.Copy(io.Discard, pr) // keep the pipe flowing until the server exits
	m := regexp.MustCompile(`running at (http://\S+)`).FindStringSubmatch(b.String())
	if m == nil {
		t.Fatalf("no banner: %v\n%s", sc.Err(), b.String())
	}
	return m[1], b.String()
}

// tab is one scenario's browser tab, in a browser context of its own.
type tab struct {
	t   *testing.T
	ctx context.Context // the tab's context, bounded by the scenario's deadline

	mu      sync.Mutex
	console []chromedp.ConsoleMessage
}

const scenarioTimeout = 30 * time.Second

func (env *browserEnv) tab(t *testing.T) *tab {
	t.Helper()
	tabCtx, cancel := chromedp.NewContext(env.browser, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	watchdog := time.AfterFunc(scenarioTimeout, cancel) // as for the browser: the first run gets no deadline
	err := chromedp.Do(tabCtx)
	if !watchdog.Stop() {
		err = fmt.Errorf("no answer within %v (%v)", scenarioTimeout, err)
	}
	if err != nil {
		t.Fatalf("open a tab: %v", err)
	}
	tb := &tab{t: t}
	messages := chromedp.Console(tabCtx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			tb.mu.Lock()
			tb.console = append(tb.console, m)
			tb.mu.Unlock()
		}
	}()
	ctx, cancelRun := context.WithTimeout(tabCtx, scenarioTimeout)
	t.Cleanup(cancelRun)
	tb.ctx = ctx
	// Runs before the cancels above (cleanups run last first): on failure, the page as
	// a PNG and the browser console in the test log.
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		tb.mu.Lock()
		for _, m := range tb.console {
			t.Logf("browser console (%s): %s %s", m.Type, m.URL, m.Text)
		}
		tb.mu.Unlock()
		tb.screenshot(tabCtx)
	})
	return tb
}

// artifactsDir is $RELINK_ARTIFACTS_DIR, or test-artifacts/ at the repository root.
func artifactsDir() string {
	if d := os.Getenv("RELINK_ARTIFACTS_DIR"); d != "" {
		return d
	}
	dir, _ := os.Getwd()
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return filepath.Join(d, "test-artifacts")
		}
		if filepath.Dir(d) == d {
			return filepath.Join(dir, "test-artifacts")
		}
	}
}

func (tb *tab) screenshot(tabCtx context.Context) {
	t := tb.t
	ctx, cancel := context.WithTimeout(tabCtx, 10*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Logf("no screenshot of the failing page: %v", err)
		return
	}
	dir := artifactsDir()
	name := regexp.MustCompile(`[^A-Za-z0-9_.-]+`).ReplaceAllString(t.Name(), "_")
	file := filepath.Join(dir, fmt.Sprintf("%s-%s.png", name, time.Now().Format("20060102-150405.000")))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Logf("no screenshot: %v", err)
		return
	}
	if err := os.WriteFile(file, png, 0o644); err != nil {
		t.Logf("no screenshot: %v", err)
		return
	}
	if loc, err := chromedp.Run(ctx, chromedp.Location()); err == nil {
		t.Logf("screenshot of %s: %s", loc, file)
	} else {
		t.Logf("screenshot: %s", file)
	}
}

func (tb *tab) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	if err := chromedp.Do(tb.ctx, steps...); err != nil {
		tb.t.Fatalf("%s: %v", what, err)
	}
}

// navigate runs steps that load a page (a link, a form, a key on a button) and waits
// for it; it returns the final URL and the HTTP status of the document.
func (tb *tab) navigate(what string, steps ...chromedp.Action[chromedp.Void]) (string, int) {
	tb.t.Helper()
	resp, err := chromedp.RunResponse(tb.ctx, steps...)
	if err != nil {
		tb.t.Fatalf("%s: %v", what, err)
	}
	loc := tb.location()
	if resp == nil {
		tb.t.Fatalf("%s: no document loaded (at %s)", what, loc)
	}
	return loc, int(resp.Status)
}

func (tb *tab) location() string {
	tb.t.Helper()
	loc, err := chromedp.Run(tb.ctx, chromedp.Location())
	if err != nil {
		tb.t.Fatalf("location: %v", err)
	}
	return loc
}

func (tb *tab) text(sel string) string {
	tb.t.Helper()
	s, err := chromedp.Run(tb.ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		tb.t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

func eval[T any](tb *tab, js string) T {
	tb.t.Helper()
	v, err := chromedp.Run(tb.ctx, chromedp.Evaluate[T](js))
	if err != nil {
		tb.t.Fatalf("evaluate %s: %v", js, err)
	}
	return v
}

func (tb *tab) cspViolations() []string {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	var out []string
	for _, m := range tb.console {
		if strings.Contains(m.Text, "Content Security Policy") {
			out = append(out, m.Text)
		}
	}
	return out
}

// allowConsent answers the sandbox consent page the tab is on as a person would:
// chooses the profile, leaves every permission ticked, presses Allow.
func (tb *tab) allowConsent(profileID string) (string, int) {
	tb.t.Helper()
	if loc := tb.location(); urlPath(loc) != "/sandbox/oauth/authorize" {
		tb.t.Fatalf("not on the sandbox consent page: %s", loc)
	}
	tb.do("choose the sandbox profile", chromedp.Click(chromedp.CSS("#profile-"+profileID)))
	return tb.navigate("press Allow", chromedp.Click(chromedp.CSS(`button[name=decision][value=allow]`)))
}

// api calls the admin API as the demo workspace's primary admin.
func (env *browserEnv) api(t *testing.T, method, path string, body any, into any) {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(method, env.base+path, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+env.adminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, raw)
	}
	if into != nil {
		if err := json.Unmarshal(raw, into); err != nil {
			t.Fatalf("%s %s: %v\n%s", method, path, err, raw)
		}
	}
}

// mailTo reads the dev mailbox page in the tab and returns the text of the emails to
// an address, newest first.
func (tb *tab) mailTo(base, address string) []string {
	tb.t.Helper()
	tb.navigate("open the dev mailbox", chromedp.Navigate(base+"/dev/mail"))
	return eval[[]string](tb, fmt.Sprintf(`[...document.querySelectorAll("article.mail")]
		.filter(a => a.querySelector("p").innerText.includes(%q))
		.map(a => a.querySelector("pre.mail-body").innerText)`, "to "+address))
}

func TestBrowser(t *testing.T) {
	began := time.Now()
	env := newBrowserEnv(t)
	t.Logf("server and Chromium ready in %v", time.Since(began).Round(time.Millisecond))

	// The order matters where scenarios share the server: the keyboard scenario
	// expects Olivia's seeded accounts, so it runs before the reconnect changes one.
	t.Run("KeyboardOnlyWithVisibleFocus", func(t *testing.T) { keyboardScenario(t, env) })
	t.Run("OwnerLinkReconnect", func(t *testing.T) { reconnectScenario(t, env) })
	t.Run("InviteWithEmailedCode", func(t *testing.T) { inviteScenario(t, env) })
	t.Run("LinkNoLongerWorks", func(t *testing.T) { goneLinkScenario(t, env) })
	t.Logf("browser suite took %v", time.Since(began).Round(time.Millisecond))
}

// reconnectScenario is the README's tour: the owner link → her accounts with their
// states → Reconnect on Sandbox Brand → the sandbox's consent → Allow → the green bar.
func reconnectScenario(t *testing.T, env *browserEnv) {
	tb := env.tab(t)
	loc, status := tb.navigate("open the owner link", chromedp.Navigate(env.ownerLink))
	if status != http.StatusOK || urlPath(loc) != "/me" || strings.Contains(loc, "/l/") {
		t.Fatalf("owner link: %d at %s, want /me (the token leaves the address bar)", status, loc)
	}
	if got := tb.text("h1"); got != "Your accounts" {
		t.Errorf("heading %q", got)
	}
	if who := tb.text("header .who"); !strings.Contains(who, "Olivia Owner") {
		t.Errorf("header names %q, want Olivia Owner", who)
	}
	// Each account's visible badge, as a person reads it.
	badges := eval[map[string]string](tb, `Object.fromEntries([...document.querySelectorAll("li.card")]
		.map(c => [c.querySelector("h2").innerText, c.querySelector(".state").innerText]))`)
	for name, want := range map[string]string{
		"Sandbox Brand": "Connected", "@acmecoffee": "Disconnected", "Olivia (personal)": "Disconnected",
		"Acme Bakery": "Action required", "Acme on Pinterest": "Switched off", "Acme Coffee": "Connected",
	} {
		if badges[name] != want {
			t.Errorf("%s shows %q, want %q (all: %v)", name, badges[name], want, badges)
		}
	}
	if _, ok := badges["@acme_old"]; ok {
		t.Errorf("a deleted account is listed: %v", badges)
	}
	// The badge is styled (the stylesheet loaded under the page's CSP), not bare text.
	if bg := eval[string](tb, `getComputedStyle(document.querySelector(".state-disconnected")).backgroundColor`); bg == "rgba(0, 0, 0, 0)" {
		t.Errorf("the Disconnected badge has no background: is the stylesheet loaded?")
	}
	if said := tb.text("#account-acct-ig-coffee"); !strings.Contains(said, "password") {
		t.Errorf("@acmecoffee does not say why it is disconnected: %q", said)
	}

	loc, status = tb.navigate("press Reconnect on Sandbox Brand",
		chromedp.Click(chromedp.CSS(`#account-acct-sandbox button[type=submit]`)))
	if status != http.StatusOK || urlPath(loc) != "/sandbox/oauth/authorize" {
		t.Fatalf("Reconnect led to %d %s, want the sandbox consent page", status, loc)
	}
	if h := tb.text("h1"); !strings.Contains(h, "Allow") {
		t.Errorf("consent page heading %q", h)
	}
	loc, status = tb.allowConsent("sandbox-olivia")
	if status != http.StatusOK || urlPath(loc) != "/me" {
		t.Fatalf("after Allow: %d %s, want /me", status, loc)
	}
	flash := tb.text(".flash.flash-ok")
	if !strings.Contains(flash, "Sandbox Brand") {
		t.Fatalf("green bar %q does not name Sandbox Brand", flash)
	}
	if role := eval[string](tb, `document.querySelector(".flash-ok").getAttribute("role")`); role != "status" {
		t.Errorf("the green bar's role is %q, want status (announced by screen readers)", role)
	}
	if bg := eval[string](tb, `getComputedStyle(document.querySelector(".flash-ok")).backgroundColor`); bg != "rgb(217, 245, 227)" {
		t.Errorf("the green bar's background is %s, want the green rgb(217, 245, 227)", bg)
	}
	if got := eval[string](tb, `document.querySelector("#account-acct-sandbox .state").innerText`); got != "Connected" {
		t.Errorf("Sandbox Brand after reconnecting: %q", got)
	}
	if v := tb.cspViolations(); len(v) > 0 {
		t.Errorf("CSP violations: %v", v)
	}
}

// inviteScenario: an admin invites a new address; the invite email in the dev mailbox
// → the invite page → Connect with Sandbox → consent → the code page → the code from
// the dev mailbox, typed → the accounts, with the green bar.
func inviteScenario(t *testing.T, env *browserEnv) {
	address := "sam.browser@acme.example"
	var inv struct {
		Invites []struct{ Status string } `json:"invites"`
	}
	env.api(t, "POST", "/v1/invites", map[string]any{"emails": []string{address}, "channels": []string{"sandbox"},
		"message": "Please connect the studio account."}, &inv)
	if len(inv.Invites) != 1 || inv.Invites[0].Status != "sent" {
		t.Fatalf("invite: %+v", inv)
	}

	tb := env.tab(t)
	mails := tb.mailTo(env.base, address)
	if len(mails) != 1 {
		t.Fatalf("%d emails to %s in the dev mailbox, want the invite", len(mails), address)
	}
	// Follow the link in the dev mailbox, as a person would.
	loc, status := tb.navigate("open the invite link from the dev mailbox", chromedp.Click(chromedp.Search(
		fmt.Sprintf(`//article[@class="mail"][.//p[contains(., "to %s")]]//pre//a[contains(@href, "/l/")]`, address))))
	if status != http.StatusOK || urlPath(loc) != "/invite" {
		t.Fatalf("invite link: %d %s", status, loc)
	}
	if note := tb.text(".note-from"); note != "Please connect the studio account." {
		t.Errorf("the inviter's note reads %q", note)
	}
	tb.tabThrough("the invite page")
	loc, status = tb.navigate("press Connect with Sandbox", chromedp.Click(chromedp.Search(`//button[contains(., "Connect with Sandbox")]`)))
	if status != http.StatusOK || urlPath(loc) != "/sandbox/oauth/authorize" {
		t.Fatalf("Connect with Sandbox led to %d %s", status, loc)
	}
	loc, status = tb.allowConsent("sandbox-omar")
	if status != http.StatusOK || urlPath(loc) != "/invite/code" {
		t.Fatalf("after Allow: %d %s, want the code page", status, loc)
	}
	// The address is shown masked (s•••r@acme.example): whoever holds the link
	// learns where the code went, not the whole address.
	if lead := tb.text(".lead"); !strings.Contains(lead, "@acme.example") || strings.Contains(lead, address) {
		t.Errorf("the code page should name the masked address the code went to: %q", lead)
	}
	// The code field has focus on arrival (autofocus), so a person can type at once.
	if id := eval[string](tb, `document.activeElement.id`); id != "code" {
		t.Errorf("focus on the code page is on %q, want the code field", id)
	}
	codePage := tb.location()
	tb.tabThrough("the code page") // from the code field on

	// Read the code in another tab, from the dev mailbox.
	mailTab := env.tab(t)
	mails = mailTab.mailTo(env.base, address)
	var code string
	for _, m := range mails {
		if c := regexp.MustCompile(`\b(\d{3}) (\d{3})\b`).FindStringSubmatch(m); c != nil {
			code = c[1] + " " + c[2]
			break
		}
	}
	if code == "" {
		t.Fatalf("no code in the emails to %s:\n%s", address, strings.Join(mails, "\n---\n"))
	}

	if loc := tb.location(); loc != codePage {
		t.Fatalf("the invite tab moved to %s", loc)
	}
	// A mistyped code first: the same form again, the error announced (role=alert),
	// the field marked invalid and focused, so the person can type again at once.
	wrong := "000 000"
	if code == wrong {
		wrong = "111 111"
	}
	tb.do("type a wrong code", chromedp.SendKeys(chromedp.CSS("#code"), wrong))
	loc, status = tb.navigate("press Confirm", chromedp.Click(chromedp.Search(`//button[normalize-space(.)="Confirm"]`)))
	if urlPath(loc) != "/invite/code" || status/100 != 4 {
		t.Fatalf("a wrong code: %d %s, want the code form again", status, loc)
	}
	if msg := tb.text(`.flash-error[role=alert]`); msg == "" {
		t.Errorf("a wrong code is not announced")
	}
	if f := tb.focus(); f.ID != "code" {
		t.Errorf("after a wrong code, focus is on %s, want the code field", f)
	}
	if inv := eval[string](tb, `document.querySelector("#code").getAttribute("aria-invalid")`); inv != "true" {
		t.Errorf("after a wrong code, the field's aria-invalid is %q", inv)
	}
	tb.do("type the code", chromedp.SendKeys(chromedp.CSS("#code"), code))
	loc, status = tb.navigate("press Confirm", chromedp.Click(chromedp.Search(`//button[normalize-space(.)="Confirm"]`)))
	if status != http.StatusOK || urlPath(loc) != "/me" {
		t.Fatalf("after the code: %d %s", status, loc)
	}
	if flash := tb.text(".flash.flash-ok"); !strings.Contains(flash, "Sandbox Studio") {
		t.Fatalf("green bar %q does not name Sandbox Studio", flash)
	}
	if got := eval[string](tb, `[...document.querySelectorAll("li.card")].map(c => c.querySelector("h2").innerText + ": " + c.querySelector(".state").innerText).join("; ")`); got != "Sandbox Studio: Connected" {
		t.Errorf("the invited person's accounts: %q", got)
	}
	if v := tb.cspViolations(); len(v) > 0 {
		t.Errorf("CSP violations: %v", v)
	}
}

// goneLinkScenario: a link that was replaced by a newer one shows a page that says so
// and offers to email a new one (which arrives); an unknown link asks for the address.
func goneLinkScenario(t *testing.T, env *browserEnv) {
	var first, second struct {
		URL string `json:"url"`
	}
	env.api(t, "POST", "/v1/users/u-omar/connect-link", map[string]any{"send": false}, &first)
	env.api(t, "POST", "/v1/users/u-omar/connect-link", map[string]any{"send": false}, &second)
	if first.URL == "" || second.URL == "" || first.URL == second.URL {
		t.Fatalf("connect links: %q %q", first.URL, second.URL)
	}

	tb := env.tab(t)
	loc, status := tb.navigate("open the replaced link", chromedp.Navigate(first.URL))
	if status != http.StatusGone {
		t.Errorf("replaced link: status %d, want 410", status)
	}
	if strings.Contains(loc, "/me") {
		t.Fatalf("a replaced link opened the accounts: %s", loc)
	}
	if h := tb.text("h1"); h != "This link no longer works" {
		t.Errorf("heading %q", h)
	}
	if lead := tb.text(".lead"); !strings.Contains(lead, "replaced by a newer one") {
		t.Errorf("the page does not say why: %q", lead)
	}
	if n := eval[int](tb, `document.querySelectorAll('form[action="/link/new"][method="post"] button[type=submit]').length`); n != 1 {
		t.Fatalf("no form to email a new link (%d)", n)
	}
	tb.tabThrough("the replaced link's page")
	loc, status = tb.navigate("press Email me a new link", chromedp.Click(chromedp.Search(`//button[contains(., "Email me a new link")]`)))
	if status != http.StatusOK || urlPath(loc) != "/link/new" {
		t.Fatalf("Email me a new link: %d %s", status, loc)
	}
	if h := tb.text("h1"); h != "Check your email" {
		t.Errorf("after asking: heading %q", h)
	}
	mails := tb.mailTo(env.base, "omar.owner@acme.example")
	if len(mails) == 0 || !regexp.MustCompile(`/l/[A-Za-z0-9_-]{43}`).MatchString(mails[0]) {
		t.Fatalf("no new link emailed to Omar: %q", mails)
	}

	// An unknown link: says so and asks for the address to send one to.
	loc, status = tb.navigate("open an unknown link", chromedp.Navigate(env.base+"/l/"+strings.Repeat("A", 43)))
	if status != http.StatusNotFound {
		t.Errorf("unknown link: status %d at %s, want 404", status, loc)
	}
	if h := tb.text("h1"); h != "Open your link again" {
		t.Errorf("unknown link heading %q", h)
	}
	if n := eval[int](tb, `document.querySelectorAll('form[action="/link/new"] input[type=email][required]').length`); n != 1 {
		t.Errorf("the unknown link's page has no address field")
	}
	if label := eval[string](tb, `document.querySelector('label[for="email"]')?.innerText ?? ""`); label == "" {
		t.Errorf("the address field has no label")
	}
	tb.tabThrough("the unknown link's page")
}

// focused describes document.activeElement and how its focus shows.
type focused struct {
	Tag, Text, Label, ID string
	Stop                 int // its place among the page's focusable elements (-1: none)
	Outline              string
	OutlineWidth         float64
	BoxShadow            string
	FocusVisible         bool
	InView               bool
}

// markStops numbers the page's keyboard stops in document order (every visible,
// enabled element that Tab should reach) and returns them as "tag|name".
const markStops = `[...document.querySelectorAll("a[href], button, select, input:not([type=hidden]), textarea, summary, [tabindex]")]
	.filter(el => el.tabIndex >= 0 && !el.disabled && !el.closest("details:not([open]) > :not(summary)") && el.getClientRects().length > 0)
	.map((el, i) => { el.dataset.stop = i; return el.tagName.toLowerCase() + "|" + (el.getAttribute("aria-label") || (el.innerText || el.value || "").trim().split("\n")[0]); })`

const describeFocus = `(() => {
	const el = document.activeElement, cs = getComputedStyle(el), r = el.getBoundingClientRect();
	return {
		Tag: el.tagName.toLowerCase(), Text: (el.innerText || el.value || "").trim().split("\n")[0], ID: el.id,
		Label: el.getAttribute("aria-label") || "", Stop: el.dataset.stop === undefined ? -1 : +el.dataset.stop,
		Outline: cs.outlineStyle, OutlineWidth: parseFloat(cs.outlineWidth) || 0, BoxShadow: cs.boxShadow,
		FocusVisible: el.matches(":focus-visible"),
		InView: r.width > 0 && r.height > 0 && r.bottom > 0 && r.right > 0 && r.top < innerHeight && r.left < innerWidth,
	};
})()`

func (f focused) String() string {
	if f.Label != "" {
		return fmt.Sprintf("%s[%s]", f.Tag, f.Label)
	}
	if f.Text != "" {
		return fmt.Sprintf("%s(%.30s)", f.Tag, f.Text)
	}
	return f.Tag
}

// focusProblems says what is wrong with how focus shows on f, if anything: it must
// match :focus-visible (so the browser knows it came from the keyboard), have an
// outline or a box-shadow, and be on screen (scrolled into view, not parked off it).
func focusProblems(f focused) []string {
	var out []string
	if !f.FocusVisible {
		out = append(out, "does not match :focus-visible")
	}
	if (f.Outline == "none" || f.OutlineWidth <= 0) && (f.BoxShadow == "" || f.BoxShadow == "none") {
		out = append(out, fmt.Sprintf("shows no focus indicator (outline %s %.1fpx, box-shadow %s)", f.Outline, f.OutlineWidth, f.BoxShadow))
	}
	if !f.InView {
		out = append(out, "is not on screen")
	}
	return out
}

func (tb *tab) focus() focused {
	tb.t.Helper()
	return eval[focused](tb, describeFocus)
}

// tabThrough presses Tab from where focus is now until it leaves the page, and checks
// that it stops at every keyboard stop after the current one, in document order, each
// with a visible focus indicator. It returns the stops it saw.
func (tb *tab) tabThrough(page string) []focused {
	t := tb.t
	t.Helper()
	stops := eval[[]string](tb, markStops)
	from := tb.focus().Stop // -1 from the top of the page
	var seen []focused
	for i := 0; i <= len(stops); i++ {
		tb.do("press Tab", chromedp.KeyEvent("\t"))
		f := tb.focus()
		if f.Tag == "body" { // past the last stop: focus left the page
			break
		}
		seen = append(seen, f)
		for _, p := range focusProblems(f) {
			t.Errorf("%s, Tab %d: %s %s", page, i+1, f, p)
		}
	}
	var got, want []string
	for _, f := range seen {
		if f.Stop < 0 {
			got = append(got, "unexpected "+f.String())
		} else {
			got = append(got, stops[f.Stop])
		}
	}
	want = stops[from+1:]
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("%s: Tab order\n  got  %q\n  want %q", page, got, want)
	}
	t.Logf("%s: Tab reached %d stops: %v", page, len(seen), seen)
	return seen
}

// keyboardScenario: /me with the keyboard only. Tab reaches every interactive element
// in document order — the skip link first, each Reconnect — each with a visible focus
// indicator; the skip link moves focus to the main landmark; Enter on a Reconnect
// button starts the reconnect. The focus check itself is shown to notice a control
// whose indicator was styled away.
func keyboardScenario(t *testing.T, env *browserEnv) {
	tb := env.tab(t)
	loc, status := tb.navigate("open the owner link", chromedp.Navigate(env.ownerLink))
	if status != http.StatusOK || urlPath(loc) != "/me" {
		t.Fatalf("owner link: %d %s", status, loc)
	}
	reconnects := eval[[]string](tb, `[...document.querySelectorAll("li.card form[action='/me/reconnect'] button")].map(b => b.getAttribute("aria-label"))`)
	if len(reconnects) < 4 {
		t.Fatalf("only %d Reconnect buttons on Olivia's page: %v", len(reconnects), reconnects)
	}
	if p := eval[int](tb, `[...document.querySelectorAll("[tabindex]")].filter(el => el.tabIndex > 0).length`); p != 0 {
		t.Errorf("%d elements with a positive tabindex reorder the keyboard path", p)
	}

	path := tb.tabThrough("/me")
	if len(path) == 0 || path[0].Tag != "a" || path[0].Text != "Skip to content" {
		t.Errorf("the first Tab does not reach the skip link: %v", path)
	}
	for _, label := range reconnects {
		if !slices.ContainsFunc(path, func(f focused) bool { return f.Label == label }) {
			t.Errorf("Tab never reaches %q", label)
		}
	}

	// The skip link: focus it from the top of the page, press Enter, and focus is on
	// the main landmark; the next Tab goes to the first control inside it.
	tb.navigate("reload /me", chromedp.Reload())
	tb.do("Tab to the skip link", chromedp.KeyEvent("\t"))
	if f := tb.focus(); f.Text != "Skip to content" || len(focusProblems(f)) > 0 {
		t.Fatalf("first Tab after reload: %s %v", f, focusProblems(f))
	}
	tb.do("press Enter on the skip link", chromedp.KeyEvent("\r"))
	if id := eval[string](tb, `document.activeElement.id`); id != "main" {
		t.Errorf("after the skip link, focus is on %q, want main", id)
	}
	if n := eval[int](tb, `document.querySelectorAll("main").length`); n != 1 {
		t.Errorf("%d main landmarks, want 1", n)
	}
	tb.do("press Tab after the skip link", chromedp.KeyEvent("\t"))
	if in := eval[bool](tb, `document.querySelector("main").contains(document.activeElement)`); !in {
		t.Errorf("Tab after the skip link left main: %s", tb.focus())
	}

	// Enter on a focused Reconnect button starts the reconnect.
	target := "Reconnect Sandbox Brand on Sandbox"
	for i := 0; tb.focus().Label != target; i++ {
		if i > 3*len(path) {
			t.Fatalf("Tab never reached %q", target)
		}
		tb.do("press Tab", chromedp.KeyEvent("\t"))
	}
	loc, status = tb.navigate("press Enter on Reconnect", chromedp.KeyEvent("\r"))
	if status != http.StatusOK || urlPath(loc) != "/sandbox/oauth/authorize" {
		t.Fatalf("Enter on Reconnect led to %d %s, want the sandbox consent page", status, loc)
	}

	// The check notices a missing indicator: style Sign out's away and Tab to it.
	tb.navigate("back to /me", chromedp.Navigate(env.base+"/me"))
	tb.do("hide Sign out's focus", chromedp.Evaluate[chromedp.Void](
		`document.querySelector(".signout button").style.cssText = "outline: none !important; box-shadow: none !important"`),
		chromedp.KeyEvent("\t"), chromedp.KeyEvent("\t"))
	if f := tb.focus(); f.Text != "Sign out" || len(focusProblems(f)) == 0 {
		t.Errorf("the focus check passes %s with its indicator styled away: %+v", f, f)
	}
	if v := tb.cspViolations(); len(v) > 0 {
		t.Errorf("CSP violations: %v", v)
	}
}

// urlPath is the path of a URL the browser is on.
func urlPath(loc string) string {
	u, err := url.Parse(loc)
	if err != nil {
		return loc
	}
	return u.Path
}
