package devserver

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// TestOwnerReconnectsSeededAccountLocally is the README's tour as a test: the owner link
// from the banner, the seeded Sandbox Brand, a revoke on the sandbox controls, Reconnect
// through the sandbox's consent page, and the green bar — and the previous start's link
// stops working once a new start prints a fresh one.
func TestOwnerReconnectsSeededAccountLocally(t *testing.T) {
	dir := t.TempDir()
	base, banner, stop := start(t, dir)
	link := regexp.MustCompile(`owner link \(Olivia Owner\): (\S+)`).FindStringSubmatch(banner)
	if link == nil {
		t.Fatalf("banner has no owner link:\n%s", banner)
	}
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	var last string
	csrf := regexp.MustCompile(`name="csrf" value="([^"]+)"`)
	do := func(method, target string, form url.Values) (int, *url.URL, string) {
		t.Helper()
		var body io.Reader
		if form != nil {
			if m := csrf.FindStringSubmatch(last); m != nil && form.Get("csrf") == "" {
				form.Set("csrf", m[1])
			}
			body = strings.NewReader(form.Encode())
		}
		req, _ := http.NewRequest(method, target, body)
		if form != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Origin", base)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		last = string(b)
		return resp.StatusCode, resp.Request.URL, last
	}

	status, at, page := do("GET", link[1], nil)
	if status != http.StatusOK || at.Path != "/me" || !strings.Contains(page, "Sandbox Brand") || !strings.Contains(page, "Olivia Owner") {
		t.Fatalf("owner link: %d %s\n%s", status, at, page)
	}

	status, at, page = do("POST", base+"/me/reconnect", url.Values{"account": {"acct-sandbox"}})
	if status != http.StatusOK || at.Path != "/sandbox/oauth/authorize" {
		t.Fatalf("Reconnect: %d %s", status, at)
	}
	form := at.Query()
	form.Set("decision", "allow")
	form.Set("profile", "sandbox-olivia")
	for _, s := range strings.Fields(form.Get("scope")) {
		form.Add("grant_scope", s)
	}
	status, at, page = do("POST", base+"/sandbox/oauth/authorize", form)
	if status != http.StatusOK || at.Path != "/me" || !strings.Contains(page, `class="flash flash-ok"`) || !strings.Contains(page, "Sandbox Brand") {
		t.Fatalf("after consent: %d %s\n%s", status, at, page)
	}

	// The sandbox controls now list the grant the reconnect made.
	if _, _, page = do("GET", base+"/sandbox/controls", nil); !strings.Contains(page, "Olivia Sandbox") {
		t.Fatalf("sandbox controls do not show the new grant:\n%s", page)
	}

	// The tour goes on: revoke the grant on the controls page, move the clock an hour,
	// and the scheduled check finds it revoked and the reminders email Olivia.
	grants := regexp.MustCompile(`name="grant" value="([^"]+)"`).FindAllStringSubmatch(page, -1)
	if len(grants) == 0 {
		t.Fatalf("no grant form on the controls page:\n%s", page)
	}
	if status, _, _ = do("POST", base+"/sandbox/controls", url.Values{"grant": {grants[len(grants)-1][1]}, "action": {"revoke"}}); status != http.StatusOK {
		t.Fatalf("revoke: %d", status)
	}
	if status, at, _ = do("POST", base+"/dev/clock", url.Values{"by": {"1h"}}); status != http.StatusOK || at.Path != "/dev/clock" {
		t.Fatalf("move the clock: %d %s", status, at)
	}
	if _, _, page = do("GET", base+"/me", nil); !regexp.MustCompile(`(?s)Sandbox Brand.*?(revoked|Disconnected)`).MatchString(page) {
		t.Fatalf("an hour after the revoke, /me does not show Sandbox Brand disconnected:\n%s", page)
	}
	if _, _, page = do("GET", base+"/dev/mail", nil); !regexp.MustCompile(`Sandbox Brand on Sandbox\s+Access was revoked`).MatchString(page) || !strings.Contains(page, "to olivia.owner@acme.example") {
		t.Fatalf("no reminder to Olivia about Sandbox Brand in the dev mailbox:\n%s", page)
	}
	stop()

	_, banner2, stop2 := start(t, dir)
	defer stop2()
	base2 := regexp.MustCompile(`running at (http://\S+)`).FindStringSubmatch(banner2)[1]
	oldOnNew := strings.Replace(link[1], base, base2, 1)
	if status, _, page = do("GET", oldOnNew, nil); status != http.StatusGone || !strings.Contains(page, "replaced by a newer one") {
		t.Fatalf("the previous start's link: %d\n%s", status, page)
	}
}
