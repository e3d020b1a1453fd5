package portal

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestUnsubscribeLink: the signed link from a reminder asks before it acts (a mail
// scanner following it changes nothing), the confirmation turns reminders off, and the
// same page turns them back on. A forged or altered link is a friendly 404.
func TestUnsubscribeLink(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	link, err := e.svc.Unsubscribe.URL(ctx, ws, "u-olivia")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(link, e.srv.URL+"/unsubscribe?t=") {
		t.Fatalf("link %s", link)
	}
	b := e.browser()
	p := b.open(link)
	mustContain(t, p, "Stop reminder emails?", `action="/unsubscribe"`)
	if u, _ := e.store.GetUser(ctx, ws, "u-olivia"); u.Preferences.Unsubscribed {
		t.Fatal("opening the link unsubscribed (scanners follow links)")
	}
	if p.header.Get("Referrer-Policy") != "no-referrer" {
		t.Fatalf("Referrer-Policy %q", p.header.Get("Referrer-Policy"))
	}
	token, _ := url.ParseQuery(strings.SplitN(link, "?", 2)[1])
	p = b.post("/unsubscribe", url.Values{"t": {token.Get("t")}})
	mustContain(t, p, "You will get no more reminder emails", "olivia@acme.example")
	if u, _ := e.store.GetUser(ctx, ws, "u-olivia"); !u.Preferences.Unsubscribed {
		t.Fatal("not unsubscribed after confirming")
	}
	if u, _ := e.store.GetUser(ctx, ws, "u-omar"); u.Preferences.Unsubscribed {
		t.Fatal("someone else was unsubscribed")
	}
	p = b.post("/unsubscribe", url.Values{"t": {token.Get("t")}, "resubscribe": {"1"}})
	mustContain(t, p, "Reminder emails are back on")
	if u, _ := e.store.GetUser(ctx, ws, "u-olivia"); u.Preferences.Unsubscribed {
		t.Fatal("still unsubscribed after turning reminders back on")
	}

	// Olivia's token altered to name Omar, a truncated one, none at all: not valid.
	forged := e.svc.Unsubscribe.Token(ws, "u-olivia")
	forged = strings.Replace(forged, forged[:4], "AAAA", 1)
	for _, bad := range []string{"/unsubscribe?t=" + url.QueryEscape(forged), "/unsubscribe?t=abc", "/unsubscribe"} {
		p := e.browser().open(bad)
		if p.status != http.StatusNotFound || !strings.Contains(p.body, "This link is not valid") {
			t.Fatalf("%s: %d\n%s", bad, p.status, p.body)
		}
	}
	// A POST without the form's CSRF token is refused and changes nothing.
	p = e.browser().post("/unsubscribe", url.Values{"t": {token.Get("t")}, "csrf": {"nope"}})
	if p.status != http.StatusForbidden {
		t.Fatalf("POST without CSRF: %d", p.status)
	}
	if u, _ := e.store.GetUser(ctx, ws, "u-olivia"); u.Preferences.Unsubscribed {
		t.Fatal("a forged POST unsubscribed")
	}
}
