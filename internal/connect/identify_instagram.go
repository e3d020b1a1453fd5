package connect

import (
	"context"
	"net/http"
	"net/url"
	"strings"

	"golang.org/x/oauth2"

	"github.com/relinkhq/relink/internal/account"
	"github.com/relinkhq/relink/internal/channel"
)

// InstagramIdentifier finds the Instagram professional accounts a Facebook login
// reaches: each is linked to a Page the person manages (channels.md §2.1). Like the
// Facebook identifier it first swaps the login's token for a long-lived one, so that
// the Page tokens it reads do not expire (§1.1).
type InstagramIdentifier struct {
	HTTP        *http.Client
	GraphURL    string // "" means DefaultGraphURL
	Credentials Credentials
}

var _ Identifier = InstagramIdentifier{}

func (ii InstagramIdentifier) Identify(ctx context.Context, ch channel.Channel, tok *oauth2.Token) ([]Identity, error) {
	fi := FacebookIdentifier{HTTP: ii.HTTP, GraphURL: ii.GraphURL, Credentials: ii.Credentials}
	base := fi.graph()
	long, err := fi.exchange(ctx, ch, tok)
	if err != nil {
		return nil, err
	}
	var me struct {
		ID flexID `json:"id"`
	}
	if err := getJSON(ctx, ii.HTTP, ch, base+"/me?"+url.Values{"fields": {"id"}}.Encode(), long, &me); err != nil {
		return nil, err
	}
	if me.ID == "" {
		return nil, malformed(ch) // the parent profile is how "transfer first" is decided
	}
	var ids []Identity
	seen := map[string]bool{}
	fields := "id,name,access_token,tasks,instagram_business_account{id,username,name}"
	next := base + "/me/accounts?" + url.Values{"fields": {fields}}.Encode()
	for n := 0; next != "" && n < maxAccountPages; n++ {
		var page struct {
			Data []struct {
				ID          flexID   `json:"id"`
				AccessToken string   `json:"access_token"`
				Tasks       []string `json:"tasks"`
				IG          *struct {
					ID       flexID `json:"id"`
					Username string `json:"username"`
					Name     string `json:"name"`
				} `json:"instagram_business_account"`
			} `json:"data"`
			Paging struct {
				Next string `json:"next"`
			} `json:"paging"`
		}
		if err := getJSON(ctx, ii.HTTP, ch, next, long, &page); err != nil {
			return nil, err
		}
		for _, p := range page.Data {
			// A Page without a linked professional account grants no Instagram account.
			if p.IG == nil || p.IG.ID == "" || seen[string(p.IG.ID)] {
				continue
			}
			name := handle(p.IG.Username, p.IG.Name)
			if name == "" {
				continue
			}
			seen[string(p.IG.ID)] = true
			// Publishing needs CREATE_CONTENT on the linked Page (§2.1): its tasks are
			// the account's. Calls go out with the Page's own non-expiring token.
			id := Identity{ExternalID: string(p.IG.ID), Name: name, Parent: string(me.ID), Kind: account.KindCompany,
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
