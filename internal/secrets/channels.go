package secrets

import (
	"context"
	"encoding/json"

	"github.com/relinkhq/relink/internal/channel"
	"github.com/relinkhq/relink/internal/relink"
	"github.com/relinkhq/relink/internal/vault"
)

// ChannelCredentials reads Relink's app credentials on every channel from one secret
// holding {"facebook":{"client_id":"…","client_secret":"…"},…}. Fixed entries (the
// local sandbox's) answer without asking the secret.
type ChannelCredentials struct {
	Values Valuer
	Name   string
	Fixed  map[string]channel.Credentials
}

type appCredentials struct {
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
}

// Credentials returns the app credentials for channelID. A channel the secret does not
// configure cannot be connected: that is said plainly, without internals.
func (c *ChannelCredentials) Credentials(ctx context.Context, channelID string) (channel.Credentials, error) {
	if cred, ok := c.Fixed[channelID]; ok {
		return cred, nil
	}
	notSetUp := relink.Errorf(relink.EUNAVAILABLE, "Connecting this channel is not set up yet. Ask your Relink admin to add its app credentials.")
	if c.Values == nil || c.Name == "" {
		return channel.Credentials{}, notSetUp
	}
	raw, err := c.Values.Value(ctx, c.Name)
	if relink.ErrorCode(err) == relink.ENOTFOUND {
		return channel.Credentials{}, notSetUp
	} else if err != nil {
		return channel.Credentials{}, err
	}
	defer clear(raw)
	var all map[string]appCredentials
	// The decoder's error could quote a secret, so it is not kept.
	if json.Unmarshal(raw, &all) != nil {
		return channel.Credentials{}, relink.Errorf(relink.EINTERNAL, "The channel credentials in secret %q are not valid JSON.", c.Name)
	}
	app, ok := all[channelID]
	if !ok || app.ClientID == "" || app.ClientSecret == "" {
		return channel.Credentials{}, notSetUp
	}
	return channel.Credentials{ClientID: app.ClientID, ClientSecret: vault.Secret(app.ClientSecret)}, nil
}
