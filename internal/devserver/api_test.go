package devserver

import (
	"html"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/relinkhq/relink/internal/api/apitest"
	"github.com/relinkhq/relink/internal/demo"
)

var (
	mailArticle = regexp.MustCompile(`(?s)<article class="mail" id="[^"]+">(.*?)</article>`)
	mailBody    = regexp.MustCompile(`(?s)<pre class="mail-body">(.*?)</pre>`)
	tags        = regexp.MustCompile(`<[^>]+>`)
)

// devMail reads the dev mailbox page, as a person would, for the emails to an address.
func devMail(base string) func(t *testing.T, to string) []string {
	return func(t *testing.T, to string) []string {
		t.Helper()
		resp, err := http.Get(base + "/dev/mail")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		page, _ := io.ReadAll(resp.Body)
		var out []string
		for _, a := range mailArticle.FindAllSubmatch(page, -1) {
			if !strings.Contains(string(a[1]), to) {
				continue
			}
			if b := mailBody.FindSubmatch(a[1]); b != nil {
				out = append(out, html.UnescapeString(tags.ReplaceAllString(string(b[1]), "")))
			}
		}
		return out
	}
}

// TestLifecycleOnLocalServer walks the account lifecycle over HTTP against `make run`'s
// server: the admin token from its banner, its sandbox, its dev mailbox.
func TestLifecycleOnLocalServer(t *testing.T) {
	base, banner, stop := start(t, t.TempDir())
	defer stop()
	tok := regexp.MustCompile(`export RELINK_TOKEN=(\S+)`).FindStringSubmatch(banner)
	if tok == nil {
		t.Fatalf("no admin token in the banner:\n%s", banner)
	}
	apitest.Lifecycle(t, apitest.Stack{BaseURL: base, AdminToken: tok[1], Mail: devMail(base)}, demo.OmarID)
}
