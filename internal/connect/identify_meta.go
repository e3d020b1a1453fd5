package connect

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"golang.org/x/oauth2"

	"github.com/relinkhq/relink/internal/account"
	"github.com/relinkhq/relink/internal/channel"
)

// DefaultGraphURL is the Graph API base of Facebook identity calls (channels.md §1.1).
const DefaultGraphURL = "https://graph.facebook.com/v19.0"

// maxAccountPages bounds how many pages of /me/accounts are followed.
const maxAccountPages = 20

// FacebookIdentifier swaps the login's token for a long-lived one, then lists the
// Pages the person manages, each with its tasks and its own Page token (§1.1, §1.5).
// Page tokens got with a long-lived user token do not expire.
type FacebookIdentifier struct {
	HTTP     *http.Client
	GraphURL string // "" means DefaultGraphURL
	// Credentials are the service's own: the exchange signs with Relink's app, read
	// fresh so that a rotated secret is picked up.
	Credentials Credentials
}

var _ Identifier = FacebookIdentifier{}

func (fi FacebookIdentifier) graph() string {
	if fi.GraphURL == "" {
		return DefaultGraphURL
	}
	return strings.TrimRight(fi.GraphURL, "/")
}

func (fi FacebookIdentifier) Identify(ctx context.Context, ch channel.Channel, tok *oauth2.Token) ([]Identity, error) {
	base := fi.graph()
	long, err := fi.exchange(ctx, ch, tok)
	if err != nil {
		return nil, err
	}
	var me struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	}
	if err := getJSON(ctx, fi.HTTP, ch, base+"/me?"+url.Values{"fields": {"id,name"}}.Encode(), long, &me); err != nil {
		return nil, err
	}
	var ids []Identity
	next := base + "/me/accounts?" + url.Values{"fields": {"id,name,tasks,access_token"}}.Encode()
	for n := 0; next != "" && n < maxAccountPages; n++ {
		var page struct {
			Data []struct {
				ID          string   `json:"id"`
				Name        string   `json:"name"`
				Tasks       []string `json:"tasks"`
				AccessToken string   `json:"access_token"`
			} `json:"data"`
			Paging struct {
				Next string `json:"next"`
			} `json:"paging"`
		}
		if err := getJSON(ctx, fi.HTTP, ch, next, long, &page); err != nil {
			return nil, err
		}
		for _, p := range page.Data {
			if p.ID == "" || p.Name == "" {
				continue
			}
			id := Identity{ExternalID: p.ID, Name: p.Name, Parent: me.ID, Kind: account.KindCompany,
				Tasks: p.Tasks, Token: long}
			if p.AccessToken != "" {
				id.Token = &oauth2.Token{AccessToken: p.AccessToken, TokenType: "bearer"}
			}
			ids = append(ids, id)
		}
		next = page.Paging.Next
		// The token goes only back to the Graph API, never to a host a page names.
		if next != "" && !strings.HasPrefix(next, base+"/") {
			next = ""
		}
	}
	return ids, nil
}

// exchange swaps the login's short-lived user token for a ~60-day one (§1.1).
func (fi FacebookIdentifier) exchange(ctx context.Context, ch channel.Channel, tok *oauth2.Token) (*oauth2.Token, error) {
	cred, err := fi.Credentials.Credentials(ctx, ch.ID)
	if err != nil {
		return nil, fmt.Errorf("credentials for %s: %w", ch.ID, err)
	}
	q := url.Values{
		"grant_type":        {"fb_exchange_token"},
		"client_id":         {cred.ClientID},
		"client_secret":     {cred.ClientSecret.Reveal()},
		"fb_exchange_token": {tok.AccessToken},
	}
	var resp struct {
		AccessToken string   `json:"access_token"`
		TokenType   string   `json:"token_type"`
		ExpiresIn   *float64 `json:"expires_in"`
	}
	if err := getJSON(ctx, fi.HTTP, ch, fi.graph()+"/oauth/access_token?"+q.Encode(), tok, &resp); err != nil {
		return nil, err
	}
	if resp.AccessToken == "" {
		return nil, &channel.TokenError{Classification: ch.Classify(200, nil), Status: 200}
	}
	long := &oauth2.Token{AccessToken: resp.AccessToken, TokenType: resp.TokenType}
	if resp.ExpiresIn != nil {
		long = long.WithExtra(map[string]any{"expires_in": *resp.ExpiresIn})
	}
	return long, nil
}
