package workspace

import (
	"testing"
	"time"

	"github.com/relinkhq/relink/internal/relink"
)

func TestNormalizeEmail(t *testing.T) {
	good := map[string]string{
		"Alice@Example.com":          "alice@example.com",
		"  bob.o'neil@acme.example ": "bob.o'neil@acme.example",
		"x+tag@sub.acme.example":     "x+tag@sub.acme.example",
	}
	for in, want := range good {
		if got, err := NormalizeEmail(in); err != nil || got != want {
			t.Errorf("NormalizeEmail(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "   ", "alice", "Alice <alice@example.com>", "a@b@c", "alice@", "@example.com",
		"alice@example.com, bob@example.com", string(make([]byte, 300)) + "@x.y"} {
		if _, err := NormalizeEmail(in); relink.ErrorCode(err) != relink.EINVALID {
			t.Errorf("NormalizeEmail(%q) accepted: %v", in, err)
		}
	}
}

func TestSettingsValidate(t *testing.T) {
	if err := DefaultSettings().Validate(); err != nil {
		t.Fatalf("defaults invalid: %v", err)
	}
	if DefaultSettings().WarningWindow != 20*24*time.Hour || DefaultSettings().ReminderPolicy != PolicyExponential {
		t.Fatal("defaults differ from DESIGN.md")
	}
	bad := map[string]func(*Settings){
		"no zone":          func(s *Settings) { s.TimeZone = "" },
		"unknown zone":     func(s *Settings) { s.TimeZone = "Mars/Olympus" },
		"local zone":       func(s *Settings) { s.TimeZone = "Local" },
		"window too short": func(s *Settings) { s.WarningWindow = time.Hour },
		"window too long":  func(s *Settings) { s.WarningWindow = 100 * 24 * time.Hour },
		"unknown policy":   func(s *Settings) { s.ReminderPolicy = "daily" },
		"cap too small":    func(s *Settings) { s.ExponentialCap = time.Minute },
		"copy step 0":      func(s *Settings) { s.CopyAdminsFromStep = 0 },
		"series gap 0":     func(s *Settings) { s.SeriesFirstGap = 0 },
		"series gap long":  func(s *Settings) { s.SeriesFirstGap = 31 * 24 * time.Hour },
		"interval short":   func(s *Settings) { s.SeriesInterval = 23 * time.Hour },
		"interval long":    func(s *Settings) { s.SeriesInterval = 31 * 24 * time.Hour },
		"repeats 0":        func(s *Settings) { s.SeriesRepeats = 0 },
		"repeats 21":       func(s *Settings) { s.SeriesRepeats = 21 },
	}
	for name, mutate := range bad {
		s := DefaultSettings()
		mutate(&s)
		if relink.ErrorCode(s.Validate()) != relink.EINVALID {
			t.Errorf("%s: accepted", name)
		}
	}
	s := DefaultSettings()
	s.TimeZone = "Europe/Amsterdam"
	if s.Validate() != nil || s.Location().String() != "Europe/Amsterdam" {
		t.Errorf("Amsterdam: %v %v", s.Validate(), s.Location())
	}
}

func TestSettingsSeriesDefaults(t *testing.T) {
	d := DefaultSettings()
	if d.SeriesFirstGap != 2*24*time.Hour || d.SeriesInterval != 5*24*time.Hour || d.SeriesRepeats != 4 {
		t.Fatalf("series defaults differ from DESIGN.md: %+v", d)
	}
	for _, ok := range []func(*Settings){
		func(s *Settings) { s.SeriesFirstGap, s.SeriesInterval, s.SeriesRepeats = 24*time.Hour, 24*time.Hour, 1 },
		func(s *Settings) {
			s.SeriesFirstGap, s.SeriesInterval, s.SeriesRepeats = 30*24*time.Hour, 30*24*time.Hour, 20
		},
	} {
		s := DefaultSettings()
		ok(&s)
		if err := s.Validate(); err != nil {
			t.Errorf("%+v: %v", s, err)
		}
	}
}

func TestSettingsWithDefaults(t *testing.T) {
	if got := (Settings{PreExpiryWeekly: true, PostExpiryWeekly: true}).WithDefaults(); got != DefaultSettings() {
		t.Errorf("zero settings with defaults = %+v, want %+v", got, DefaultSettings())
	}
	// A workspace stored before the series settings existed: only those are filled in,
	// and switched-off weekly emails stay off.
	old := Settings{TimeZone: "Europe/Amsterdam", WarningWindow: 14 * 24 * time.Hour, ReminderPolicy: PolicySeries,
		ExponentialCap: 10 * 24 * time.Hour, CopyAdminsFromStep: 2}
	want := old
	want.SeriesFirstGap, want.SeriesInterval, want.SeriesRepeats = 2*24*time.Hour, 5*24*time.Hour, 4
	if got := old.WithDefaults(); got != want {
		t.Errorf("old settings with defaults = %+v, want %+v", got, want)
	}
	custom := DefaultSettings()
	custom.SeriesFirstGap, custom.SeriesInterval, custom.SeriesRepeats = 24*time.Hour, 3*24*time.Hour, 2
	custom.PreExpiryWeekly = false
	if got := custom.WithDefaults(); got != custom {
		t.Errorf("custom settings changed: %+v", got)
	}
}

func TestUserAndGroupValidate(t *testing.T) {
	u := User{WorkspaceID: "ws", ID: "u1", Email: "a@example.com", Role: RoleOwner}
	if err := u.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, mutate := range map[string]func(*User){
		"unnormalised email": func(u *User) { u.Email = "A@example.com" },
		"bad role":           func(u *User) { u.Role = "superuser" },
		"no ID":              func(u *User) { u.ID = "" },
	} {
		v := u
		mutate(&v)
		if relink.ErrorCode(v.Validate()) != relink.EINVALID {
			t.Errorf("user %s: accepted", name)
		}
	}
	if !RolePrimaryAdmin.IsAdmin() || !RoleAdmin.IsAdmin() || RoleOwner.IsAdmin() || RoleService.IsAdmin() {
		t.Error("IsAdmin wrong")
	}
	g := Group{WorkspaceID: "ws", ID: "g1", Name: "EMEA", AccountIDs: []string{"a1"}}
	if g.Validate() != nil || !g.Contains("a1") || g.Contains("a2") {
		t.Fatal("group basics")
	}
	g.AccountIDs = make([]string, MaxGroupMembers+1)
	if relink.ErrorCode(g.Validate()) != relink.EINVALID {
		t.Error("oversized group accepted")
	}
	w := Workspace{ID: "ws", Name: " ", Settings: DefaultSettings()}
	if relink.ErrorCode(w.Validate()) != relink.EINVALID {
		t.Error("nameless workspace accepted")
	}
}
