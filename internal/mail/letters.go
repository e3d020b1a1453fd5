package mail

import (
	"bytes"
	"embed"
	"fmt"
	htmltemplate "html/template"
	"strings"
	"sync"
	texttemplate "text/template"
	"time"

	"github.com/relinkhq/relink/internal/relink"
)

// Every letter is two templates: <kind>.txt, whose first line is the subject and whose
// rest (after one blank line) is the text body, and <kind>.html, the HTML body inside
// the shared layout. Text goes through text/template and HTML through html/template,
// so each body is escaped for what it is.
//
//go:embed templates/*.txt templates/*.html
var letterFS embed.FS

var funcs = map[string]any{
	"date": func(t time.Time) string { return t.Format("Monday 2 January 2006") },
	"datetime": func(t time.Time) string {
		return t.Format("Monday 2 January 2006, 15:04 MST")
	},
	"plural": func(n int, one, many string) string {
		if n == 1 {
			return one
		}
		return many
	},
	"dict": func(kv ...any) map[string]any { // pass several values to a sub-template
		m := make(map[string]any, len(kv)/2)
		for i := 0; i+1 < len(kv); i += 2 {
			if k, ok := kv[i].(string); ok {
				m[k] = kv[i+1]
			}
		}
		return m
	},
	"spaced": func(code string) string { // "123456" → "123 456": easier to read and type
		if len(code) == 6 {
			return code[:3] + " " + code[3:]
		}
		return code
	},
}

// The letters are parsed on first use, not at start-up (a cold start that sends no
// email never pays for them).
var (
	textLetters = sync.OnceValue(func() *texttemplate.Template {
		return texttemplate.Must(texttemplate.New("").Funcs(funcs).ParseFS(letterFS, "templates/*.txt"))
	})
	htmlLetters = sync.OnceValue(func() *htmltemplate.Template {
		return htmltemplate.Must(htmltemplate.New("").Funcs(funcs).ParseFS(letterFS, "templates/*.html"))
	})
)

// Compose renders the letter of the given kind (a template name without extension)
// for data, addressed to the given recipients.
func Compose(kind string, data any, to []string, cc []string) (Message, error) {
	var txt, html bytes.Buffer
	if err := textLetters().ExecuteTemplate(&txt, kind+".txt", data); err != nil {
		return Message{}, relink.Wrap(err, relink.EINTERNAL, "Could not write the email.")
	}
	if err := htmlLetters().ExecuteTemplate(&html, kind+".html", data); err != nil {
		return Message{}, relink.Wrap(err, relink.EINTERNAL, "Could not write the email.")
	}
	subject, body, ok := strings.Cut(txt.String(), "\n\n")
	if !ok {
		return Message{}, relink.Errorf(relink.EINTERNAL, "letter %s has no subject line", kind)
	}
	m := Message{To: to, Cc: cc, Subject: strings.TrimSpace(subject), Text: strings.TrimSpace(body) + "\n",
		HTML: html.String(), Tags: map[string]string{"kind": strings.ReplaceAll(kind, ".", "_")}}
	return m, m.Validate()
}

// CodeLetter is the one-time code that confirms an invite.
type CodeLetter struct {
	Name      string // the person's name, "" if unknown
	Code      string // six digits
	Workspace string
	Minutes   int // how long the code lives
}

// LinkLetter carries a personal magic link: asked for again, or sent by an admin.
type LinkLetter struct {
	Name      string
	Workspace string
	URL       string
	ExpiresAt time.Time
	// Requested: the person asked for it (after an expired link); otherwise an admin
	// sent it.
	Requested bool
	SentBy    string // the admin's name, when an admin sent it
}

// InviteLetter invites a person to connect accounts.
type InviteLetter struct {
	Name      string
	Workspace string
	InvitedBy string
	Message   string   // the inviter's note, "" for none
	Channels  []string // channel names offered
	URL       string
	ExpiresAt time.Time
}

// DigestLetter lists every account of one recipient that needs attention: reminders
// (one digest per recipient per run) and an admin's one-off "remind owner".
type DigestLetter struct {
	Name          string
	Workspace     string
	Items         []DigestItem
	URL           string // the recipient's personal magic link
	LinkExpiresAt time.Time
	Copied        bool   // the recipient is copied (an admin), the owners are addressed
	FromAdmin     string // an admin asked for this reminder now, "" for scheduled ones
	Unsubscribe   string // signed opt-out link, "" when the email cannot be opted out of
}

// DigestItem is one account in a digest.
type DigestItem struct {
	Account  string
	Channel  string
	Owner    string
	Kind     string // expiring, expired, disconnected, action_required, still_disconnected, still_action_required
	Why      string
	Breaks   string    // what does not work, in words
	Missing  []string  // missing permissions, in words
	Deadline time.Time // expiring: when it stops; otherwise zero
}

// Subject is the digest's subject line, worded for its situation.
func (d DigestLetter) Subject() string {
	if len(d.Items) == 1 {
		it := d.Items[0]
		switch it.Kind {
		case "expiring":
			return "Update required: " + it.Account + " on " + it.Channel + " stops working on " + it.Deadline.Format("2 January")
		case "expired":
			return it.Account + " on " + it.Channel + " has expired: reconnect it"
		case "action_required":
			return it.Account + " on " + it.Channel + " needs a permission"
		case "still_disconnected":
			return "Still disconnected: " + it.Account + " on " + it.Channel
		case "still_action_required":
			return "Still missing a permission: " + it.Account + " on " + it.Channel
		}
		return "Reconnect " + it.Account + " on " + it.Channel
	}
	return fmt.Sprintf("%d accounts in %s need attention", len(d.Items), d.Workspace)
}

// DeactivatedLetter tells a group's subscribers an account was switched off.
type DeactivatedLetter struct {
	Name      string
	Workspace string
	Account   string
	Channel   string
	By        string
	Note      string
	At        time.Time
	Deleted   bool // deleted rather than switched off
}
