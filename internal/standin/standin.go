// Package standin starts local stand-ins for AWS services (moto server, and later
// dynalite and aws-ses-v2-local) on free 127.0.0.1 ports for tests, and builds SDK
// configs that talk to them.
//
// A test that needs a stand-in that is not installed is skipped on a developer's
// machine, and fails when CI=true: CI must never pass by skipping.
package standin

import (
	_ "embed"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// server is one started stand-in process, shared by every test of a test binary.
type server struct {
	once     sync.Once
	endpoint string
	err      error
	cmd      *exec.Cmd
}

var (
	mu      sync.Mutex
	servers = map[string]*server{}
)

// InCI reports whether the tests run in CI, where nothing may be skipped.
func InCI() bool { return os.Getenv("CI") == "true" }

//go:embed moto_server.py
var motoLauncher []byte

// Moto returns the endpoint of a moto server (DynamoDB, Secrets Manager, SES, …),
// starting it on first use. It runs through moto_server.py beside this file, which
// serializes requests and makes transactions cheap (see its docstring for why).
func Moto(t testing.TB) string {
	t.Helper()
	return start(t, "moto", func(port int) (*exec.Cmd, string, error) {
		python, err := exec.LookPath("python3")
		if err != nil {
			return nil, "", fmt.Errorf("python3 not found: %w", err)
		}
		if out, err := exec.Command(python, "-c", "import moto.server").CombinedOutput(); err != nil {
			return nil, "", fmt.Errorf("moto is not installed for %s (make tools installs it): %v: %s", python, err, out)
		}
		script := filepath.Join(os.TempDir(), fmt.Sprintf("relink-moto-%d.py", os.Getpid()))
		if err := os.WriteFile(script, motoLauncher, 0o600); err != nil {
			return nil, "", fmt.Errorf("write moto launcher: %w", err)
		}
		return exec.Command(python, script, "127.0.0.1", fmt.Sprint(port)), "/moto-api/data.json", nil
	})
}

// start launches the named stand-in once per test binary and waits until its health
// path answers. Processes die with the test binary (Pdeathsig) and on StopAll.
func start(t testing.TB, name string, command func(port int) (*exec.Cmd, string, error)) string {
	t.Helper()
	mu.Lock()
	s, ok := servers[name]
	if !ok {
		s = &server{}
		servers[name] = s
	}
	mu.Unlock()

	s.once.Do(func() {
		port, err := freePort()
		if err != nil {
			s.err = err
			return
		}
		cmd, health, err := command(port)
		if err != nil {
			s.err = err
			return
		}
		logPath := filepath.Join(os.TempDir(), fmt.Sprintf("relink-standin-%s-%d.log", name, port))
		if f, err := os.Create(logPath); err == nil {
			cmd.Stdout, cmd.Stderr = f, f
		}
		// Linux only (as are Lambda and CI): the stand-in dies with the test binary.
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
		if err := cmd.Start(); err != nil {
			s.err = fmt.Errorf("start %s: %w", name, err)
			return
		}
		s.cmd = cmd
		endpoint := fmt.Sprintf("http://127.0.0.1:%d", port)
		if err := waitHealthy(endpoint+health, 60*time.Second); err != nil {
			s.err = fmt.Errorf("%s did not become ready (log: %s): %w", name, logPath, err)
			return
		}
		s.endpoint = endpoint
	})
	if s.err != nil {
		if InCI() {
			t.Fatalf("stand-in %s unavailable in CI: %v", name, s.err)
		}
		t.Skipf("stand-in %s unavailable (CI=true makes this a failure): %v", name, s.err)
	}
	return s.endpoint
}

// StopAll stops every stand-in this test binary started. Call it from TestMain.
func StopAll() {
	mu.Lock()
	defer mu.Unlock()
	for _, s := range servers {
		if s.cmd != nil && s.cmd.Process != nil {
			_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
			_, _ = s.cmd.Process.Wait()
		}
	}
}

// Main runs a package's tests and stops the stand-ins afterwards: use it as TestMain.
func Main(m *testing.M) {
	code := m.Run()
	StopAll()
	os.Exit(code)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func waitHealthy(url string, timeout time.Duration) error {
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode < 500 {
				return nil
			}
			err = fmt.Errorf("status %d", resp.StatusCode)
		}
		last = err
		time.Sleep(100 * time.Millisecond)
	}
	return last
}

// AWSConfig returns an SDK config that talks to a stand-in at endpoint with dummy
// credentials, so no test can reach a real AWS account.
func AWSConfig(endpoint string) aws.Config {
	return aws.Config{
		Region:           "us-east-1",
		Credentials:      credentials.NewStaticCredentialsProvider("test", "test", ""),
		BaseEndpoint:     aws.String(endpoint),
		RetryMaxAttempts: 3,
	}
}
