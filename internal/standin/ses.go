package standin

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// SESLocal returns the endpoint of aws-ses-v2-local, starting it on first use. It
// serves SES v1 SendEmail/SendRawEmail and sesv2 sending, and keeps every message for
// SESMessages. Other v1 actions are never answered (GetSendQuota hangs), and v1
// SendEmail keeps only the first address of each of To, Cc and Bcc.
//
// It is installed by `make tools` (npm ci --prefix scripts/standins).
func SESLocal(t testing.TB) string {
	t.Helper()
	return start(t, "aws-ses-v2-local", func(port int) (*exec.Cmd, string, error) {
		node, err := exec.LookPath("node")
		if err != nil {
			return nil, "", fmt.Errorf("node not found: %w", err)
		}
		root, err := repoRoot()
		if err != nil {
			return nil, "", err
		}
		bin := filepath.Join(root, "scripts", "standins", "node_modules", ".bin", "aws-ses-v2-local")
		if _, err := os.Stat(bin); err != nil {
			return nil, "", fmt.Errorf("aws-ses-v2-local is not installed (make tools runs npm ci --prefix scripts/standins): %w", err)
		}
		// Through node found on PATH rather than the script's shebang, so a missing
		// node fails here instead of after the health check's timeout.
		cmd := exec.Command(node, bin, "--host", "127.0.0.1", "--port", fmt.Sprint(port))
		// With SMTP_TRANSPORT set it would also relay every message over SMTP.
		for _, kv := range os.Environ() {
			if !strings.HasPrefix(kv, "SMTP_TRANSPORT=") {
				cmd.Env = append(cmd.Env, kv)
			}
		}
		return cmd, "/health-check", nil
	})
}

// repoRoot walks up from the working directory (a package directory under go test)
// to the directory holding go.mod.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

// SESMessage is one message aws-ses-v2-local accepted.
type SESMessage struct {
	MessageID   string   `json:"messageId"`
	From        string   `json:"from"`
	ReplyTo     []string `json:"replyTo"`
	Destination struct {
		To  []string `json:"to"`
		Cc  []string `json:"cc"`
		Bcc []string `json:"bcc"`
	} `json:"destination"`
	Subject string `json:"subject"`
	Body    struct {
		Text string `json:"text"`
		HTML string `json:"html"`
	} `json:"body"`
	// At is when it arrived, to the second.
	At time.Time `json:"-"`
}

// SESMessages returns the messages aws-ses-v2-local at endpoint accepted from since's
// second on, oldest first. The store is shared by every test of the binary: pick
// yours by message ID or subject.
func SESMessages(t testing.TB, endpoint string, since time.Time) []SESMessage {
	t.Helper()
	resp, err := sesClient.Get(fmt.Sprintf("%s/store?since=%d", endpoint, since.Unix()))
	if err != nil {
		t.Fatalf("read the aws-ses-v2-local store: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("read the aws-ses-v2-local store: status %d", resp.StatusCode)
	}
	var store struct {
		Emails []struct {
			SESMessage
			At int64 `json:"at"` // epoch seconds
		} `json:"emails"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&store); err != nil {
		t.Fatalf("decode the aws-ses-v2-local store: %v", err)
	}
	msgs := make([]SESMessage, len(store.Emails))
	for i, e := range store.Emails {
		msgs[i] = e.SESMessage
		msgs[i].At = time.Unix(e.At, 0).UTC()
	}
	return msgs
}

// SESClear empties the aws-ses-v2-local store, for every test of the binary.
func SESClear(t testing.TB, endpoint string) {
	t.Helper()
	resp, err := sesClient.Post(endpoint+"/clear-store", "application/json", nil)
	if err != nil {
		t.Fatalf("clear the aws-ses-v2-local store: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("clear the aws-ses-v2-local store: status %d", resp.StatusCode)
	}
}

var sesClient = &http.Client{Timeout: 10 * time.Second}
