package bolt

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/relinkhq/relink/internal/account"
	"github.com/relinkhq/relink/internal/clock"
	"github.com/relinkhq/relink/internal/relink"
	"github.com/relinkhq/relink/internal/store"
	"github.com/relinkhq/relink/internal/store/storetest"
	"github.com/relinkhq/relink/internal/workspace"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T, cfg store.Config) store.Store {
		return openTemp(t, filepath.Join(t.TempDir(), "relink.db"), cfg)
	})
}

func openTemp(t *testing.T, path string, cfg store.Config) *Store {
	t.Helper()
	s, err := Open(path, cfg)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return s
}

func testConfig() store.Config { return store.Config{CursorKey: storetest.CursorKey} }

// crashDBEnv names the database TestCrashChild writes to; unset, the child test is a no-op.
const crashDBEnv = "RELINK_BOLT_CRASH_DB"

const crashWorkspace = "ws-crash"

// TestCrashChild is the process TestKillNineLosesNothing kills: it creates accounts
// as fast as it can and acknowledges each one on stdout once CreateAccount returned.
func TestCrashChild(t *testing.T) {
	path := os.Getenv(crashDBEnv)
	if path == "" {
		return
	}
	ctx := context.Background()
	s, err := Open(path, testConfig())
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	now := time.Now().UTC()
	if _, err := s.CreateWorkspace(ctx, workspace.Workspace{ID: crashWorkspace, Name: "Crash", Settings: workspace.DefaultSettings(),
		CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatalf("create workspace: %v", err)
	}
	// Bounded, so an orphaned child ends on its own.
	for i, deadline := 0, time.Now().Add(time.Minute); time.Now().Before(deadline); i++ {
		c, err := crashAccount(i)
		if err != nil {
			t.Fatalf("account.New: %v", err)
		}
		if err := s.CreateAccount(ctx, c); err != nil {
			t.Fatalf("create account: %v", err)
		}
		// os.Stdout is unbuffered: the line is in the pipe when Fprintf returns.
		if _, err := fmt.Fprintf(os.Stdout, "ack %s\n", c.After.ID); err != nil {
			t.Fatalf("ack: %v", err)
		}
	}
}

func crashAccount(i int) (account.Change, error) {
	id := fmt.Sprintf("a%06d", i)
	return account.New(account.Spec{WorkspaceID: crashWorkspace, ID: id, Channel: "facebook", ExternalID: "ext-" + id,
		DisplayName: "Account " + id, OwnerID: "u1", Kind: account.KindCompany, Grant: &account.Grant{}},
		account.Command{Actor: account.SystemActor("crash-test"), At: time.Now().UTC(), EventID: "evt-" + id})
}

func TestKillNineLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns a child process")
	}
	path := filepath.Join(t.TempDir(), "relink.db")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashDBEnv+"="+path)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}

	// Read every line, including those already in the pipe when the kill lands:
	// they were acknowledged too.
	const wantAcks = 200
	var acked []string
	killed := false
	lines := bufio.NewScanner(stdout)
	for lines.Scan() {
		id, ok := strings.CutPrefix(lines.Text(), "ack ")
		if !ok {
			continue
		}
		acked = append(acked, id)
		if len(acked) >= wantAcks && !killed {
			if err := cmd.Process.Kill(); err != nil { // SIGKILL on Unix
				t.Fatalf("kill: %v", err)
			}
			killed = true
		}
	}
	waitErr := cmd.Wait()
	if !killed {
		t.Fatalf("child stopped after %d acks (wait: %v); stderr:\n%s", len(acked), waitErr, stderr.String())
	}
	t.Logf("killed the child after %d acknowledged accounts", len(acked))

	s := openTemp(t, path, testConfig())
	bg := context.Background()
	if _, err := s.GetWorkspace(bg, crashWorkspace); err != nil {
		t.Fatalf("workspace after crash: %v", err)
	}
	for _, id := range acked {
		a, err := s.GetAccount(bg, crashWorkspace, id)
		if err != nil {
			t.Fatalf("acknowledged account %s lost: %v", id, err)
		}
		ev, err := s.Events(bg, crashWorkspace, id, store.Page{})
		if err != nil {
			t.Fatalf("events of %s: %v", id, err)
		}
		if len(ev.Events) != 1 || ev.Events[0].ID != "evt-"+id || ev.Events[0].Version != a.Version {
			t.Fatalf("create event of acknowledged account %s lost: %+v", id, ev.Events)
		}
	}
	c, err := crashAccount(1_000_000)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateAccount(bg, c); err != nil {
		t.Fatalf("write after crash: %v", err)
	}
	if _, err := s.GetAccount(bg, crashWorkspace, c.After.ID); err != nil {
		t.Fatalf("read back write after crash: %v", err)
	}
}

func TestOpenLockedFileFails(t *testing.T) {
	path := filepath.Join(t.TempDir(), "relink.db")
	openTemp(t, path, testConfig())

	done := make(chan error, 1)
	start := time.Now()
	go func() {
		s, err := Open(path, testConfig())
		if err == nil {
			_ = s.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("a second Open of a file in use succeeded")
		}
		if !strings.Contains(err.Error(), "locked") {
			t.Errorf("error does not say the file is locked: %v", err)
		}
		t.Logf("second open failed after %v: %v", time.Since(start).Round(time.Millisecond), err)
	case <-time.After(5 * time.Second):
		t.Fatal("a second Open of a file in use hangs")
	}
}

func TestOpenRejectsShortCursorKey(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "relink.db"), store.Config{CursorKey: []byte("short")})
	if err == nil {
		_ = s.Close()
		t.Fatal("Open accepted a 5-byte cursor key")
	}
}

// TestOpenMovesOldAddressIndex: a file from before UsersByEmail (address index keyed
// ws|email) is moved to the new index on open, so its users are still found by address.
func TestOpenMovesOldAddressIndex(t *testing.T) {
	path := filepath.Join(t.TempDir(), "relink.db")
	ctx := context.Background()
	s := openTemp(t, path, testConfig())
	alice := []workspace.User{
		{WorkspaceID: "ws2", ID: "u1", Email: "alice@example.com", Name: "Alice"},
		{WorkspaceID: "ws1", ID: "u5", Email: "alice@example.com", Name: "Alice"},
	}
	for _, u := range alice {
		if _, err := s.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	// Rewrite the index as the previous version kept it.
	err := s.db.Update(func(tx *bbolt.Tx) error {
		old, err := tx.CreateBucket([]byte(bEmailsV1))
		if err != nil {
			return err
		}
		for _, u := range alice {
			if err := old.Put(key(u.WorkspaceID, u.Email), []byte(u.ID)); err != nil {
				return err
			}
		}
		if err := tx.DeleteBucket([]byte(bAddresses)); err != nil {
			return err
		}
		_, err = tx.CreateBucket([]byte(bAddresses))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openTemp(t, path, testConfig())
	users, err := s.UsersByEmail(ctx, "alice@example.com")
	if err != nil || len(users) != 2 || users[0].WorkspaceID != "ws1" || users[1].WorkspaceID != "ws2" {
		t.Fatalf("users by email after reopening = %+v, %v", users, err)
	}
	if u, err := s.GetUserByEmail(ctx, "ws2", "alice@example.com"); err != nil || u.ID != "u1" {
		t.Fatalf("user by email after reopening = %+v, %v", u, err)
	}
	if _, err := s.CreateUser(ctx, workspace.User{WorkspaceID: "ws1", ID: "u9", Email: "alice@example.com"}); relink.ErrorCode(err) != relink.ECONFLICT {
		t.Fatalf("the moved claim does not hold: %v", err)
	}
	err = s.db.View(func(tx *bbolt.Tx) error {
		if tx.Bucket([]byte(bEmailsV1)) != nil {
			return fmt.Errorf("the old index is still there")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestOldWorkspaceSettingsGetDefaults: a workspace written before the series settings
// existed reads back with their defaults, so it still validates.
func TestOldWorkspaceSettingsGetDefaults(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t, filepath.Join(t.TempDir(), "relink.db"), testConfig())
	old := `{"ID":"ws-old","Name":"Old","Version":3,"Settings":{"TimeZone":"Europe/Amsterdam",` +
		`"WarningWindow":1209600000000000,"ReminderPolicy":"series","ExponentialCap":2592000000000000,` +
		`"CopyAdminsFromStep":3,"PreExpiryWeekly":false,"PostExpiryWeekly":true}}`
	err := s.db.Update(func(tx *bbolt.Tx) error {
		return tx.Bucket([]byte(bWorkspaces)).Put(key("ws-old"), []byte(old))
	})
	if err != nil {
		t.Fatal(err)
	}
	w, err := s.GetWorkspace(ctx, "ws-old")
	if err != nil {
		t.Fatal(err)
	}
	want := workspace.Settings{TimeZone: "Europe/Amsterdam", WarningWindow: 14 * 24 * time.Hour,
		ReminderPolicy: workspace.PolicySeries, ExponentialCap: 30 * 24 * time.Hour, CopyAdminsFromStep: 3,
		PostExpiryWeekly: true, SeriesFirstGap: 2 * 24 * time.Hour, SeriesInterval: 5 * 24 * time.Hour, SeriesRepeats: 4}
	if w.Settings != want {
		t.Fatalf("settings = %+v, want %+v", w.Settings, want)
	}
	if err := w.Validate(); err != nil {
		t.Errorf("old workspace does not validate: %v", err)
	}
}

// TestOpenIndexesRemindersOfOldFiles: a file from before the remind index holds
// accounts with a RemindAt but no index; Open builds the index from them, once.
func TestOpenIndexesRemindersOfOldFiles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "relink.db")
	ctx := context.Background()
	c := clock.NewManual(storetest.T0)
	cfg := store.Config{Clock: c, CursorKey: storetest.CursorKey, Shards: 4}
	s := openTemp(t, path, cfg)
	actor := account.Actor{ID: "u1", Role: workspace.RolePrimaryAdmin}
	var reminded []string
	for i := range 12 {
		spec := account.Spec{WorkspaceID: "ws1", ID: fmt.Sprintf("a%02d", i), Channel: "x", ExternalID: fmt.Sprintf("e%02d", i),
			DisplayName: "A", OwnerID: "u1", Kind: account.KindCompany, Grant: &account.Grant{}}
		if i%3 != 0 { // a known expiry: the reminders look at it
			spec.Grant.TokenExpiresAt = storetest.T0.Add(30 * 24 * time.Hour)
			reminded = append(reminded, spec.ID)
		}
		ch, err := account.New(spec, account.Command{Actor: actor, At: storetest.T0, EventID: "e-" + spec.ID})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.CreateAccount(ctx, ch); err != nil {
			t.Fatal(err)
		}
	}
	remindersDue := func(s *Store) []string {
		t.Helper()
		var ids []string
		for shard := range s.Shards() {
			p, err := s.RemindersDue(ctx, shard, storetest.T0, store.Page{Limit: store.MaxLimit})
			if err != nil {
				t.Fatal(err)
			}
			for _, a := range p.Accounts {
				ids = append(ids, a.ID)
			}
		}
		slices.Sort(ids)
		return ids
	}
	if got := remindersDue(s); !slices.Equal(got, reminded) {
		t.Fatalf("reminders due = %v, want %v", got, reminded)
	}
	// Drop the index, as a file written before it existed lacks it.
	if err := s.db.Update(func(tx *bbolt.Tx) error { return tx.DeleteBucket([]byte(bRemind)) }); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openTemp(t, path, cfg)
	if got := remindersDue(s); !slices.Equal(got, reminded) {
		t.Fatalf("reminders due after reopening an old file = %v, want %v", got, reminded)
	}
	// An existing index is kept as it is: entries moved since are not rebuilt.
	a, err := s.GetAccount(ctx, "ws1", reminded[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Apply(ctx, account.Reminded(a, time.Time{}, storetest.T0)); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openTemp(t, path, cfg)
	if got := remindersDue(s); !slices.Equal(got, reminded[1:]) {
		t.Fatalf("reminders due after a move and reopening = %v, want %v", got, reminded[1:])
	}
}
