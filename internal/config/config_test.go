package config

import (
	"log/slog"
	"testing"

	"github.com/relinkhq/relink/internal/relink"
)

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestLoad(t *testing.T) {
	c, err := Load(env(map[string]string{EnvTable: "relink-prod", EnvPublicURL: "https://api.example.com/", EnvLogLevel: "debug"}), EnvTable, EnvPublicURL)
	if err != nil || c.Table != "relink-prod" || c.PublicURL != "https://api.example.com" || c.LogLevel != slog.LevelDebug {
		t.Fatalf("%+v %v", c, err)
	}
	for name, m := range map[string]map[string]string{
		"missing":   {EnvPublicURL: "https://api.example.com"},
		"bad url":   {EnvTable: "t", EnvPublicURL: "api.example.com"},
		"query":     {EnvTable: "t", EnvPublicURL: "https://api.example.com/?x=1"},
		"bad level": {EnvTable: "t", EnvLogLevel: "loud"},
	} {
		if _, err := Load(env(m), EnvTable); relink.ErrorCode(err) != relink.EINVALID {
			t.Errorf("%s: %v", name, err)
		}
	}
}
