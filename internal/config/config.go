// Package config reads a function's configuration from its environment (set by
// template.yaml) and builds the JSON logger every function logs through.
package config

import (
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strconv"
	"strings"

	"github.com/relinkhq/relink/internal/relink"
)

// Environment variable names, as template.yaml sets them.
const (
	EnvTable            = "TABLE_NAME"
	EnvPublicURL        = "PUBLIC_URL"
	EnvAppKeysSecret    = "APP_KEYS_SECRET"
	EnvTokenKeysSecret  = "TOKEN_KEYS_SECRET"
	EnvChannelsSecret   = "CHANNELS_SECRET"
	EnvMailFrom         = "MAIL_FROM"
	EnvConfigurationSet = "SES_CONFIGURATION_SET"
	EnvLogLevel         = "LOG_LEVEL"
	EnvMaxSendRate      = "SES_MAX_SEND_RATE"
	EnvWorkspaceClaim   = "JWT_WORKSPACE_CLAIM"
	// EnvFunctionName is set by Lambda itself: the function's own name, which the
	// scheduled functions invoke to split a sweep too large for one invocation.
	EnvFunctionName = "AWS_LAMBDA_FUNCTION_NAME"
)

// Config is what the functions read from their environment.
type Config struct {
	Table            string
	PublicURL        string // base URL of the HTTP API: links and OAuth callbacks start with it
	AppKeysSecret    string
	TokenKeysSecret  string
	ChannelsSecret   string
	MailFrom         string
	ConfigurationSet string
	// MaxSendRate caps SES sends per second; 0 means the account's quota, read from SES.
	MaxSendRate float64
	// WorkspaceClaim names the JWT claim that carries the caller's workspace.
	WorkspaceClaim string
	// FunctionName is the running function's own name ("" outside Lambda).
	FunctionName string
	LogLevel     slog.Level
}

// Load reads the configuration; every name in required must be set.
func Load(lookup func(string) (string, bool), required ...string) (Config, error) {
	get := func(k string) string { v, _ := lookup(k); return strings.TrimSpace(v) }
	c := Config{
		Table: get(EnvTable), PublicURL: strings.TrimRight(get(EnvPublicURL), "/"),
		AppKeysSecret: get(EnvAppKeysSecret), TokenKeysSecret: get(EnvTokenKeysSecret), ChannelsSecret: get(EnvChannelsSecret),
		MailFrom: get(EnvMailFrom), ConfigurationSet: get(EnvConfigurationSet), WorkspaceClaim: get(EnvWorkspaceClaim),
		FunctionName: get(EnvFunctionName),
	}
	var missing []string
	for _, k := range required {
		if get(k) == "" {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		return c, relink.Errorf(relink.EINVALID, "missing configuration: %s", strings.Join(missing, ", "))
	}
	if c.PublicURL != "" {
		u, err := url.Parse(c.PublicURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			return c, relink.Errorf(relink.EINVALID, "%s must be an absolute http(s) URL without query, e.g. https://api.example.com", EnvPublicURL)
		}
	}
	if r := get(EnvMaxSendRate); r != "" {
		v, err := strconv.ParseFloat(r, 64)
		if err != nil || v <= 0 || v > 1000 {
			return c, relink.Errorf(relink.EINVALID, "%s must be a number of messages per second above 0", EnvMaxSendRate)
		}
		c.MaxSendRate = v
	}
	if lvl := get(EnvLogLevel); lvl != "" {
		if err := c.LogLevel.UnmarshalText([]byte(lvl)); err != nil {
			return c, relink.Errorf(relink.EINVALID, "%s must be DEBUG, INFO, WARN or ERROR, not %q", EnvLogLevel, lvl)
		}
	}
	return c, nil
}

// Logger is the JSON logger functions log through; CloudWatch reads one object a line.
func (c Config) Logger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: c.LogLevel}))
}

// String names the configuration without secrets (it holds only names anyway).
func (c Config) String() string {
	return fmt.Sprintf("table=%s public_url=%s", c.Table, c.PublicURL)
}
