package connect

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"golang.org/x/oauth2"

	"github.com/relinkhq/relink/internal/account"
	"github.com/relinkhq/relink/internal/channel"
)

// Page sizes of the Business Profile APIs: the most each list call allows.
const (
	googleAccountsPageSize  = 20
	googleLocationsPageSize = 100
)

// GoogleBusinessIdentifier lists the Business Profile locations a Google login manages:
// the accounts it reaches (its personal account, location groups, organizations), then
// each account's locations. Each location is a company account, external ID
// "locations/…"; the parent profile is the login's personal account ("accounts/…"),
// the one account that is the person rather than a group they were added to.
type GoogleBusinessIdentifier struct {
	HTTP *http.Client
}

var _ Identifier = GoogleBusinessIdentifier{}

func (gb GoogleBusinessIdentifier) Identify(ctx context.Context, ch channel.Channel, tok *oauth2.Token) ([]Identity, error) {
	type gAccount struct {
		Name string `json:"name"`
		Type string `json:"type"`
		Role string `json:"role"`
	}
	var accounts []gAccount
	calls := 0
	for pageToken := ""; calls < maxAccountPages; {
		q := url.Values{"pageSize": {strconv.Itoa(googleAccountsPageSize)}}
		if pageToken != "" {
			q.Set("pageToken", pageToken)
		}
		var page struct {
			Accounts      []gAccount `json:"accounts"`
			NextPageToken string     `json:"nextPageToken"`
		}
		calls++
		if err := getJSON(ctx, gb.HTTP, ch, withQuery(ch.IdentityURL, q), tok, &page); err != nil {
			return nil, err
		}
		accounts = append(accounts, page.Accounts...)
		if pageToken = page.NextPageToken; pageToken == "" {
			break
		}
	}
	var parent string
	for _, a := range accounts {
		if a.Type == "PERSONAL" && googleResourceName(a.Name, "accounts/") {
			parent = a.Name
			break
		}
	}

	base := strings.TrimRight(ch.AccountsURL, "/")
	var ids []Identity
	seen := map[string]bool{}
	for _, a := range accounts {
		// The name becomes part of the URL path: only a well-formed one is used.
		if !googleResourceName(a.Name, "accounts/") {
			continue
		}
		for pageToken := ""; calls < maxIdentityCalls; {
			q := url.Values{"readMask": {"name,title"}, "pageSize": {strconv.Itoa(googleLocationsPageSize)}}
			if pageToken != "" {
				q.Set("pageToken", pageToken)
			}
			var page struct {
				Locations []struct {
					Name  string `json:"name"`
					Title string `json:"title"`
				} `json:"locations"`
				NextPageToken string `json:"nextPageToken"`
			}
			calls++
			if err := getJSON(ctx, gb.HTTP, ch, base+"/"+a.Name+"/locations?"+q.Encode(), tok, &page); err != nil {
				return nil, err
			}
			for _, l := range page.Locations {
				// A location in a group can be listed under more than one account.
				if !googleResourceName(l.Name, "locations/") || seen[l.Name] {
					continue
				}
				seen[l.Name] = true
				name := l.Title
				if name == "" {
					name = l.Name
				}
				id := Identity{ExternalID: l.Name, Name: name, Parent: parent, Kind: account.KindCompany}
				if a.Role != "" {
					id.Tasks = []string{a.Role} // PRIMARY_OWNER, OWNER, MANAGER, SITE_MANAGER
				}
				ids = append(ids, id)
			}
			if pageToken = page.NextPageToken; pageToken == "" {
				break
			}
		}
	}
	return ids, nil
}

// googleResourceName reports whether name is prefix followed by one ID segment.
func googleResourceName(name, prefix string) bool {
	id, ok := strings.CutPrefix(name, prefix)
	if !ok || id == "" {
		return false
	}
	for _, r := range id {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}
