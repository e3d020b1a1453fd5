package devserver

import (
	"net/http"
	"regexp"

	"github.com/relinkhq/relink/internal/mailbox"
)

// segment is a piece of an email's text: plain, or a link to make clickable.
type segment struct{ Text, URL string }

var urlPattern = regexp.MustCompile(`https?://[^\s<>"]+`)

// linkify splits text so the page can render its links as anchors (html/template still
// escapes every piece).
func linkify(text string) []segment {
	var out []segment
	last := 0
	for _, m := range urlPattern.FindAllStringIndex(text, -1) {
		if m[0] > last {
			out = append(out, segment{Text: text[last:m[0]]})
		}
		out = append(out, segment{URL: text[m[0]:m[1]]})
		last = m[1]
	}
	if last < len(text) {
		out = append(out, segment{Text: text[last:]})
	}
	return out
}

type mailView struct {
	mailbox.Mail
	Body []segment
}

// mail lists every email the local server "sent", newest first, links clickable.
func (h *handler) mail(w http.ResponseWriter, r *http.Request) {
	var views []mailView
	for _, m := range h.mailbox.All() {
		views = append(views, mailView{Mail: m, Body: linkify(m.Text)})
	}
	h.render(w, r, "mail.html", struct{ Mails []mailView }{views})
}

// mailHTML shows one email's HTML body as the recipient's mail client would. Its CSP
// allows the inline styles emails are made of, and nothing that runs.
func (h *handler) mailHTML(w http.ResponseWriter, r *http.Request) {
	m, err := h.mailbox.Get(r.PathValue("id"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write([]byte(m.HTML))
}
