// Package lambdatest drives real Lambda function binaries in tests through the Lambda
// Runtime API, served by the harness on 127.0.0.1 (the official runtime interface
// emulator is not available on the project machines).
//
//	func TestMain(m *testing.M) { lambdatest.Main(m) } // share builds across the package's tests
//
//	bin := lambdatest.Build(t, "sweep")                  // ./functions/sweep as bootstrap
//	fn := lambdatest.Start(t, bin, map[string]string{"TABLE": "relink"})
//	res, err := fn.Invoke(ctx, event)                     // res.Error is set when the function failed
//
// Build compiles with the Lambda flags (CGO_ENABLED=0, -trimpath, -tags lambda.norpc,
// -ldflags='-s -w') for the host, so the binary is what `make build` ships apart from
// the architecture.
package lambdatest

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// cache shares binaries between the tests of one test binary. It is only on under
// Main or Run, which remove it afterwards: testing has no other end-of-binary hook,
// and without one a shared directory would be left behind in the temp dir.
var cache struct {
	mu     sync.Mutex
	dir    string // "" when off: every Build compiles into its test's TempDir
	builds map[string]*build
}

type build struct {
	once sync.Once
	path string
	err  error
}

// Main runs the package's tests with one build per function shared by all of them,
// and removes the builds afterwards. Use it as TestMain.
func Main(m *testing.M) { os.Exit(Run(m)) }

// Run is Main for a TestMain that also does other things, e.g.
//
//	code := lambdatest.Run(m); standin.StopAll(); os.Exit(code)
func Run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "relink-lambdatest-")
	if err != nil {
		fmt.Fprintf(os.Stderr, "lambdatest: no build cache, every test builds its own: %v\n", err)
		return m.Run()
	}
	defer os.RemoveAll(dir)
	cache.mu.Lock()
	cache.dir, cache.builds = dir, map[string]*build{}
	cache.mu.Unlock()
	return m.Run()
}

// Build compiles ./functions/<name> of this module and returns the path of the binary,
// named bootstrap as on Lambda. Under Main/Run the build is shared by every test of the
// test binary; otherwise it lands in t.TempDir().
func Build(t testing.TB, name string) string {
	t.Helper()
	return BuildDir(t, path.Join("functions", name))
}

// BuildDir is Build for any main package: dir is relative to the module root (the
// nearest go.mod above the working directory) or absolute. Directories under testdata
// work too, since go build takes them when named explicitly.
func BuildDir(t testing.TB, dir string) string {
	t.Helper()
	root, err := moduleRoot()
	if err != nil {
		t.Fatalf("lambdatest: %v", err)
	}
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(root, filepath.FromSlash(dir))
	}
	dir = filepath.Clean(dir)

	cache.mu.Lock()
	if cache.dir == "" {
		cache.mu.Unlock()
		out := filepath.Join(t.TempDir(), filepath.Base(dir), "bootstrap")
		if err := compile(root, dir, out); err != nil {
			t.Fatalf("lambdatest: %v", err)
		}
		return out
	}
	b, ok := cache.builds[dir]
	if !ok {
		// The directory name becomes the function name (see Start), so keep it and
		// number the entries to tell same-named packages apart.
		b = &build{path: filepath.Join(cache.dir, fmt.Sprint(len(cache.builds)), filepath.Base(dir), "bootstrap")}
		cache.builds[dir] = b
	}
	cache.mu.Unlock()

	// Parallel tests wait here for the one build; a failure fails each of them.
	b.once.Do(func() { b.err = compile(root, dir, b.path) })
	if b.err != nil {
		t.Fatalf("lambdatest: %v", b.err)
	}
	return b.path
}

// compile builds the main package in dir into out with the Lambda build flags, for the
// host's OS and architecture so the binary runs here.
func compile(root, dir, out string) error {
	rel, err := filepath.Rel(root, dir)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return fmt.Errorf("%s is outside the module at %s", dir, root)
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	pkg := "./" + filepath.ToSlash(rel)
	// go test puts its own toolchain first on PATH, so "go" is the one running the tests.
	cmd := exec.Command("go", "build", "-trimpath", "-tags", "lambda.norpc", "-ldflags=-s -w", "-o", out, pkg)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+runtime.GOOS, "GOARCH="+runtime.GOARCH)
	if output, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %v\n%s", pkg, err, output)
	}
	// go build -o on a package that is not main writes an archive, which would only
	// fail later, at exec.
	f, err := os.Open(out)
	if err != nil {
		return err
	}
	defer f.Close()
	magic := make([]byte, 8)
	if _, err := io.ReadFull(f, magic); err != nil || string(magic) == "!<arch>\n" {
		return fmt.Errorf("go build %s produced no executable: not package main?", pkg)
	}
	return nil
}

var modRoot struct {
	once sync.Once
	dir  string
	err  error
}

// moduleRoot is the nearest directory holding go.mod at or above the working
// directory (go test runs tests in their package directory).
func moduleRoot() (string, error) {
	modRoot.once.Do(func() {
		dir, err := os.Getwd()
		if err != nil {
			modRoot.err = err
			return
		}
		for {
			if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
				modRoot.dir = dir
				return
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				modRoot.err = errors.New("no go.mod at or above the working directory")
				return
			}
			dir = parent
		}
	})
	return modRoot.dir, modRoot.err
}
