package devserver

import (
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// TestREADMECurlExamples runs the README's admin API examples, as written, against a
// fresh local server: every command must succeed (curl --fail-with-body), and the one
// shown refusing must refuse as described.
func TestREADMECurlExamples(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("curl is needed to run the README's examples")
		}
		t.Skip("curl is not installed")
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	section := string(readme)[strings.Index(string(readme), "## The admin API"):]
	block := regexp.MustCompile("(?s)```sh\n(.*?)```").FindStringSubmatch(section)
	if block == nil {
		t.Fatal("no sh block in the README's admin API section")
	}
	base, banner, stop := start(t, t.TempDir())
	defer stop()
	tok := regexp.MustCompile(`export RELINK_TOKEN=(\S+)`).FindStringSubmatch(banner)[1]
	script := strings.NewReplacer("export B=http://127.0.0.1:8080", "export B="+base,
		"export RELINK_TOKEN=...   # printed by make run", "export RELINK_TOKEN="+tok).Replace(block[1])
	cmd := exec.Command("bash", "-euo", "pipefail", "-c", script)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("README examples failed: %v\n%s", err, out)
	}
	for _, want := range []string{`"by_state"`, `"outcome":"disconnected"`, `"code":"reauth_required"`, `"consent_url"`,
		`"restorable_until"`, `"connect_link_sent":true`, `"status":"sent"`, `"reminder_policy":"series"`} {
		if !strings.Contains(string(out), want) {
			t.Errorf("README examples' output lacks %s", want)
		}
	}
}
