package mail

import (
	"strings"
	"testing"
	"time"
)

func TestComposeEscapesAndCarriesBothBodies(t *testing.T) {
	exp := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	m, err := Compose("invite", InviteLetter{Name: "Olivia", Workspace: "Acme <Brands>", InvitedBy: "Pat",
		Message: `<script>alert(1)</script> "hi"`, Channels: []string{"Facebook Pages", "LinkedIn Pages"},
		URL: "https://relink.example/l/abc?x=1&y=2", ExpiresAt: exp}, []string{"olivia@acme.example"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if m.Subject != "Pat invited you to connect your accounts to Acme <Brands>" {
		t.Fatalf("subject %q", m.Subject)
	}
	if !strings.Contains(m.Text, "https://relink.example/l/abc?x=1&y=2") || !strings.Contains(m.Text, `<script>alert(1)</script>`) {
		t.Fatalf("text body is escaped or lacks the link:\n%s", m.Text)
	}
	if strings.Contains(m.HTML, "<script>") || !strings.Contains(m.HTML, "&lt;script&gt;") || !strings.Contains(m.HTML, "Acme &lt;Brands&gt;") {
		t.Fatalf("HTML body is not escaped:\n%s", m.HTML)
	}
	if !strings.Contains(m.HTML, `href="https://relink.example/l/abc?x=1&amp;y=2"`) {
		t.Fatalf("HTML body lacks the link:\n%s", m.HTML)
	}
	if !strings.Contains(m.Text, "Facebook Pages, LinkedIn Pages accounts") || !strings.Contains(m.Text, "Monday 7 December 2026") {
		t.Fatalf("text body:\n%s", m.Text)
	}
	if m.Tags["kind"] != "invite" {
		t.Fatalf("tags %v", m.Tags)
	}
}

func TestComposeEveryLetter(t *testing.T) {
	exp := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	for kind, data := range map[string]any{
		"code":   CodeLetter{Code: "042917", Workspace: "Acme", Minutes: 10},
		"link":   LinkLetter{Workspace: "Acme", URL: "https://relink.example/l/x", ExpiresAt: exp, Requested: true},
		"invite": InviteLetter{Workspace: "Acme", InvitedBy: "Pat", URL: "https://relink.example/l/y", ExpiresAt: exp},
		"digest": DigestLetter{Workspace: "Acme", URL: "https://relink.example/l/z", LinkExpiresAt: exp,
			Items: []DigestItem{{Account: "Acme Coffee", Channel: "Facebook Pages", Kind: "disconnected", Why: "The password changed."}}},
		"deactivated": DeactivatedLetter{Workspace: "Acme", Account: "Acme Coffee", Channel: "Facebook Pages", By: "Pat", At: exp},
	} {
		m, err := Compose(kind, data, []string{"a@example.com"}, nil)
		if err != nil {
			t.Fatalf("%s: %v", kind, err)
		}
		if strings.Contains(m.Text, "<no value>") || strings.Contains(m.HTML, "<no value>") || strings.Contains(m.Subject, "\n") {
			t.Fatalf("%s renders a missing field: %+v", kind, m)
		}
	}
	m, _ := Compose("code", CodeLetter{Code: "042917", Workspace: "Acme", Minutes: 10}, []string{"a@example.com"}, nil)
	if m.Subject != "Your Relink code: 042 917" || !strings.Contains(m.HTML, "042 917") {
		t.Fatalf("code letter: %q", m.Subject)
	}
}

func TestValidate(t *testing.T) {
	ok := Message{To: []string{"a@example.com"}, Subject: "s", Text: "t", HTML: "<p>h</p>"}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, m := range map[string]Message{
		"no recipient":     {Subject: "s", Text: "t", HTML: "h"},
		"header injection": {To: []string{"a@example.com\r\nBcc: x@evil.example"}, Subject: "s", Text: "t", HTML: "h"},
		"subject newline":  {To: []string{"a@example.com"}, Subject: "s\nBcc: x", Text: "t", HTML: "h"},
		"no html":          {To: []string{"a@example.com"}, Subject: "s", Text: "t"},
		"too many":         {To: make([]string, 51), Subject: "s", Text: "t", HTML: "h"},
	} {
		if err := m.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestDigestSubjects(t *testing.T) {
	exp := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	one := func(kind string) DigestLetter {
		return DigestLetter{Workspace: "Acme", Items: []DigestItem{{Account: "Acme Coffee", Channel: "Facebook Pages", Kind: kind, Deadline: exp}}}
	}
	for kind, want := range map[string]string{
		"disconnected":       "Reconnect Acme Coffee on Facebook Pages",
		"expiring":           "Update required: Acme Coffee on Facebook Pages stops working on 7 December",
		"expired":            "Acme Coffee on Facebook Pages has expired: reconnect it",
		"action_required":    "Acme Coffee on Facebook Pages needs a permission",
		"still_disconnected": "Still disconnected: Acme Coffee on Facebook Pages",
	} {
		m, err := Compose("digest", one(kind), []string{"a@example.com"}, nil)
		if err != nil || m.Subject != want {
			t.Errorf("%s: %q %v", kind, m.Subject, err)
		}
	}
	two := one("disconnected")
	two.Items = append(two.Items, DigestItem{Account: "Acme TV", Channel: "YouTube", Kind: "expired"})
	two.Copied, two.Unsubscribe = true, "https://relink.example/unsubscribe?t=x"
	m, err := Compose("digest", two, []string{"a@example.com"}, nil)
	if err != nil || m.Subject != "2 accounts in Acme need attention" || !strings.Contains(m.Text, "Stop these emails: https://relink.example/unsubscribe?t=x") {
		t.Fatalf("%q %v\n%s", m.Subject, err, m.Text)
	}
}
