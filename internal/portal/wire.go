package portal

import (
	"io"
	"log/slog"
	"net/http"

	"github.com/relinkhq/relink/internal/channel"
	"github.com/relinkhq/relink/internal/clock"
	"github.com/relinkhq/relink/internal/connect"
	"github.com/relinkhq/relink/internal/ident"
	"github.com/relinkhq/relink/internal/mail"
	"github.com/relinkhq/relink/internal/store"
	"github.com/relinkhq/relink/internal/vault"
)

// Deps are what the owner pages are built from: the same in Lambda and locally.
type Deps struct {
	Store       store.Store
	Registry    *channel.Registry
	Credentials connect.Credentials
	Identifiers map[string]connect.Identifier
	Vault       *vault.Vault
	Mail        mail.Sender
	Clock       clock.Clock
	IDs         ident.Generator
	Random      io.Reader
	HTTP        *http.Client // token requests to channels
	// BaseURL is the public base URL links and the OAuth callback start with; empty
	// means the one each request arrived on (see connect.WithBaseURL).
	BaseURL    string
	CodePepper []byte
	// UnsubscribeKey signs the opt-out links of reminder emails.
	UnsubscribeKey []byte
	Logger         *slog.Logger
}

// New builds the owner pages' service with its connect service and link issuer.
func New(d Deps) *Service {
	links := &Links{Store: d.Store, Clock: d.Clock, Random: d.Random, BaseURL: d.BaseURL}
	return &Service{
		Store: d.Store, Registry: d.Registry, Links: links, Unsubscribe: Unsubscriber{Key: d.UnsubscribeKey, BaseURL: d.BaseURL}, Mail: d.Mail, Clock: d.Clock, Random: d.Random, Logger: d.Logger,
		Connect: &connect.Service{Store: d.Store, Registry: d.Registry, Credentials: d.Credentials, Identifiers: d.Identifiers,
			Vault: d.Vault, Clock: d.Clock, IDs: d.IDs, Random: d.Random, BaseURL: d.BaseURL,
			Mail: d.Mail, CodePepper: d.CodePepper, HTTP: d.HTTP},
	}
}
