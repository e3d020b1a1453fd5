package standin

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Dynalite returns the endpoint of dynalite (an in-memory DynamoDB), starting it on
// first use. It is much faster than moto for bulk work (seeding and sweeping many
// thousands of items), but has no TransactWriteItems, TransactGetItems, PartiQL or
// UpdateTimeToLive, and ignores ReturnValuesOnConditionCheckFailure: code that needs
// transactions runs on Moto.
//
// It is installed by `make tools` (npm ci --prefix scripts/standins).
func Dynalite(t testing.TB) string {
	t.Helper()
	return start(t, "dynalite", func(port int) (*exec.Cmd, string, error) {
		node, err := exec.LookPath("node")
		if err != nil {
			return nil, "", fmt.Errorf("node not found: %w", err)
		}
		root, err := repoRoot()
		if err != nil {
			return nil, "", err
		}
		bin := filepath.Join(root, "scripts", "standins", "node_modules", ".bin", "dynalite")
		if _, err := os.Stat(bin); err != nil {
			return nil, "", fmt.Errorf("dynalite is not installed (make tools runs npm ci --prefix scripts/standins): %w", err)
		}
		// In memory; tables are ACTIVE at once. A larger heap than node's default, so
		// that a table of a few hundred thousand items fits.
		cmd := exec.Command(node, "--max-old-space-size=4096", bin, "--host", "127.0.0.1", "--port", fmt.Sprint(port),
			"--createTableMs", "0", "--deleteTableMs", "0", "--updateTableMs", "0")
		// Any answer means it is listening (it refuses a bare GET with 400).
		return cmd, "/", nil
	})
}
