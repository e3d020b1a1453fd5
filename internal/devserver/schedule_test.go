package devserver

import (
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// TestClockRunsTheScheduledFunctions: "Run now" on /dev/clock runs the expiry check and
// the reminders over the seeded accounts (the disconnected ones are reminded at once,
// into the dev mailbox); moving the clock a week runs them again and sends the next
// steps; a bad step is a clear error and moves nothing.
func TestClockRunsTheScheduledFunctions(t *testing.T) {
	base, banner, stop := start(t, t.TempDir())
	defer stop()
	move := func(by string) (int, string) {
		t.Helper()
		resp, err := http.PostForm(base+"/dev/clock", url.Values{"by": {by}})
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		_, _, body := get(t, base+"/dev/clock")
		return resp.StatusCode, body
	}
	status, page := move("0")
	if status != http.StatusOK || !strings.Contains(page, "<td>reminders</td>") {
		t.Fatalf("run now: %d\n%s", status, page)
	}
	emails := regexp.MustCompile(`emails: (\d+)`)
	if m := emails.FindStringSubmatch(page); m == nil || m[1] == "0" {
		t.Fatalf("the first run sent no reminders for the seeded disconnected accounts:\n%s", page)
	}
	// The admin dashboard shows both runs (times only: counts span every workspace).
	tok := regexp.MustCompile(`export RELINK_TOKEN=(\S+)`).FindStringSubmatch(banner)[1]
	req, _ := http.NewRequest(http.MethodGet, base+"/v1/dashboard", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Runs []map[string]any `json:"runs"`
	}
	err = json.NewDecoder(resp.Body).Decode(&dash)
	resp.Body.Close()
	if err != nil || len(dash.Runs) != 2 || dash.Runs[0]["function"] != "expiry-check" || dash.Runs[1]["function"] != "reminders" ||
		dash.Runs[1]["complete"] != true || dash.Runs[1]["counts"] != nil {
		t.Fatalf("dashboard runs: %v %v", dash.Runs, err)
	}
	_, _, box := get(t, base+"/dev/mail")
	if !strings.Contains(box, "olivia@") && !strings.Contains(box, "Olivia") {
		t.Fatalf("no reminder to the owner in the dev mailbox:\n%s", box)
	}
	before := strings.Count(box, `<article class="mail"`)

	_, page = move("7d")
	if !strings.Contains(page, "moved forward by 168h0m0s") {
		t.Fatalf("after +7d:\n%s", page)
	}
	if m := regexp.MustCompile(`checked: (\d+)|refreshed: (\d+)|disconnected: (\d+)`).FindString(page); m == "" {
		t.Fatalf("the expiry check did nothing in a week:\n%s", page)
	}
	_, _, box = get(t, base+"/dev/mail")
	if strings.Count(box, `<article class="mail"`) <= before {
		t.Fatal("a week later no further reminder was sent")
	}

	resp, err = http.PostForm(base+"/dev/clock", url.Values{"by": {"1y"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("by=1y: %d", resp.StatusCode)
	}
	if _, _, page := get(t, base+"/dev/clock"); !strings.Contains(page, "moved forward by 168h0m0s") {
		t.Fatal("a refused move moved the clock")
	}
}
