package connect

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"golang.org/x/oauth2"

	"github.com/relinkhq/relink/internal/account"
	"github.com/relinkhq/relink/internal/channel"
)

// maxIdentityBody bounds what an identity call may send back.
const maxIdentityBody = 1 << 20

// SandboxIdentifier reads the sandbox's GET /sandbox/api/me: the login (the parent
// profile) and the pages it grants, each with the scopes granted for it.
type SandboxIdentifier struct {
	HTTP *http.Client
}

var _ Identifier = SandboxIdentifier{}

func (si SandboxIdentifier) Identify(ctx context.Context, ch channel.Channel, tok *oauth2.Token) ([]Identity, error) {
	var me struct {
		ID    string `json:"id"`
		Name  string `json:"name"`
		Pages []struct {
			ID     string   `json:"id"`
			Name   string   `json:"name"`
			Scopes []string `json:"scopes"`
		} `json:"pages"`
	}
	if err := getJSON(ctx, si.HTTP, ch, ch.IdentityURL, tok, &me); err != nil {
		return nil, err
	}
	ids := make([]Identity, 0, len(me.Pages))
	for _, p := range me.Pages {
		if p.ID == "" || p.Name == "" {
			continue
		}
		scopes := p.Scopes
		if scopes == nil {
			scopes = []string{}
		}
		ids = append(ids, Identity{ExternalID: p.ID, Name: p.Name, Parent: me.ID, Kind: account.KindCompany, Scopes: scopes})
	}
	return ids, nil
}

// getJSON calls a channel API with the token and decodes a 200 answer; any other
// answer is classified by the channel, as a *channel.TokenError.
func getJSON(ctx context.Context, client *http.Client, ch channel.Channel, url string, tok *oauth2.Token, into any) error {
	if client == nil {
		client = http.DefaultClient
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("identity request: %w", err)
	}
	tok.SetAuthHeader(req)
	resp, err := client.Do(req)
	if err != nil {
		return &channel.TokenError{Classification: ch.Classify(0, nil)}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxIdentityBody))
	if err != nil {
		return &channel.TokenError{Classification: ch.Classify(0, nil)}
	}
	if resp.StatusCode != http.StatusOK {
		return &channel.TokenError{Classification: ch.Classify(resp.StatusCode, body), Status: resp.StatusCode}
	}
	if err := json.Unmarshal(body, into); err != nil {
		return &channel.TokenError{Classification: ch.Classify(resp.StatusCode, body), Status: resp.StatusCode}
	}
	return nil
}
