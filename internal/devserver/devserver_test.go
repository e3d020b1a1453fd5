package devserver

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

// start runs the local server on a free port against dir and returns its URL, the
// banner and a stop function that waits for a clean shutdown.
func start(t *testing.T, dir string) (url, banner string, stop func()) {
	t.Helper()
	pr, pw := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Config{Addr: "127.0.0.1:0", DataDir: dir, Out: pw, Logger: slog.New(slog.DiscardHandler)})
		pw.Close()
	}()
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	re := regexp.MustCompile(`running at (http://\S+)`)
	var b strings.Builder
	timeout := time.After(30 * time.Second)
	for url == "" || !strings.Contains(b.String(), "starts afresh") {
		select {
		case line, ok := <-lines:
			if !ok {
				cancel()
				t.Fatalf("server exited before its banner: %v", <-done)
			}
			b.WriteString(line + "\n")
			if m := re.FindStringSubmatch(line); m != nil {
				url = m[1]
			}
		case <-timeout:
			cancel()
			t.Fatal("no banner within 30s")
		}
	}
	banner = b.String()
	go func() {
		for range lines { // keep the pipe flowing until the server exits
		}
	}()
	return url, banner, func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run returned %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Error("server did not stop within 15s")
		}
	}
}

func get(t *testing.T, url string) (int, http.Header, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(body)
}

func TestLocalServerSeedsServesAndKeepsData(t *testing.T) {
	dir := t.TempDir()
	url, banner, stop := start(t, dir)
	if !strings.Contains(banner, "seeded just now") {
		t.Fatalf("first start banner = %q", banner)
	}

	status, hdr, body := get(t, url+"/")
	if status != http.StatusOK {
		t.Fatalf("overview status %d: %s", status, body)
	}
	for _, want := range []string{"Acme Brands (demo)", "Acme Coffee", "@acmecoffee", "password changed", "action required",
		"missing CREATE_CONTENT → breaks publish", "expiring", "Olivia Owner", "Omar Owner", "Pat Primary", "deleted", "pending", "deactivated"} {
		if !strings.Contains(body, want) {
			t.Errorf("overview lacks %q", want)
		}
	}
	if got := hdr.Get("Content-Security-Policy"); !strings.Contains(got, "default-src 'none'") || !strings.Contains(got, "frame-ancestors 'none'") {
		t.Errorf("CSP = %q", got)
	}
	if hdr.Get("Referrer-Policy") != "no-referrer" {
		t.Errorf("Referrer-Policy = %q", hdr.Get("Referrer-Policy"))
	}

	status, _, body = get(t, url+"/dev/accounts/acct-ig-coffee")
	if status != http.StatusOK || !strings.Contains(body, "The session has been invalidated because the user changed their password.") ||
		!strings.Contains(body, "new → active") || !strings.Contains(body, "active → disconnected") {
		t.Fatalf("account page %d lacks its audit trail:\n%s", status, body)
	}

	status, _, body = get(t, url+"/dev/accounts/nope")
	if status != http.StatusNotFound || !strings.Contains(body, "Not found") {
		t.Fatalf("unknown account: %d %s", status, body)
	}
	status, _, body = get(t, url+"/no/such/page")
	if status != http.StatusNotFound || !strings.Contains(body, "There is no page at /no/such/page.") {
		t.Fatalf("unknown path: %d %s", status, body)
	}
	if status, _, _ = get(t, url+"/static/app.css"); status != http.StatusOK {
		t.Fatalf("stylesheet status %d", status)
	}
	if status, _, body = get(t, url+"/sandbox/controls"); status != http.StatusOK || !strings.Contains(strings.ToLower(body), "sandbox") {
		t.Fatalf("sandbox controls: %d", status)
	}
	if !strings.Contains(banner, "/sandbox/controls") {
		t.Fatalf("banner does not show the sandbox controls: %q", banner)
	}
	stop()

	// A restart on the same directory keeps everything and does not seed twice.
	url, banner, stop = start(t, dir)
	defer stop()
	if !strings.Contains(banner, "kept from the last run") {
		t.Fatalf("restart banner = %q", banner)
	}
	status, _, body = get(t, url+"/")
	if status != http.StatusOK || strings.Count(body, `href="/dev/accounts/`) != 13 {
		t.Fatalf("after restart: status %d, %d accounts listed, want 13", status, strings.Count(body, `href="/dev/accounts/`))
	}
}

func TestSecondServerOnSameDataFails(t *testing.T) {
	dir := t.TempDir()
	_, _, stop := start(t, dir)
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err := Run(ctx, Config{Addr: "127.0.0.1:0", DataDir: dir, Out: io.Discard, Logger: slog.New(slog.DiscardHandler)})
	if err == nil || !strings.Contains(err.Error(), "another `make run`") {
		t.Fatalf("second server on the same data: %v", err)
	}
}
