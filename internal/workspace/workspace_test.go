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
