package standin

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

func TestMain(m *testing.M) { Main(m) }

// TestStandInChild asks for moto; it runs only as the child of the test below.
func TestStandInChild(t *testing.T) {
	if os.Getenv("RELINK_STANDIN_CHILD") != "1" {
		return
	}
	Moto(t)
}

// TestMissingStandInSkipsOnlyOutsideCI: without python3 on PATH, asking for moto skips
// on a developer's machine and fails in CI.
func TestMissingStandInSkipsOnlyOutsideCI(t *testing.T) {
	run := func(ci string) (string, error) {
		cmd := exec.Command(os.Args[0], "-test.run=^TestStandInChild$", "-test.v")
		cmd.Env = []string{"RELINK_STANDIN_CHILD=1", "PATH=/nonexistent", "CI=" + ci, "HOME=" + os.TempDir()}
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	out, err := run("true")
	if err == nil || !strings.Contains(out, "unavailable in CI") {
		t.Fatalf("with CI=true a missing stand-in must fail; got err=%v\n%s", err, out)
	}
	out, err = run("")
	if err != nil || !strings.Contains(out, "SKIP") {
		t.Fatalf("outside CI a missing stand-in must skip; got err=%v\n%s", err, out)
	}
}

// TestMotoServes: the launcher starts and answers on loopback.
func TestMotoServes(t *testing.T) {
	endpoint := Moto(t)
	if !strings.HasPrefix(endpoint, "http://127.0.0.1:") {
		t.Fatalf("endpoint %q is not on loopback", endpoint)
	}
}
