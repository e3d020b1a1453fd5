package connect

import (
	"context"
	"net/http"

	"golang.org/x/oauth2"

	"github.com/relinkhq/relink/internal/account"
	"github.com/relinkhq/relink/internal/channel"
)

// XIdentifier identifies the one X account a login grants (GET /2/users/me,
// channels.md §6). The external ID is the numeric user ID: a username can be changed,
// and a freed one taken by someone else.
type XIdentifier struct {
	HTTP *http.Client
}

var _ Identifier = XIdentifier{}

func (xi XIdentifier) Identify(ctx context.Context, ch channel.Channel, tok *oauth2.Token) ([]Identity, error) {
	var me struct {
		Data struct {
			ID       flexID `json:"id"`
			Name     string `json:"name"`
			Username string `json:"username"`
		} `json:"data"`
	}
	if err := getJSON(ctx, xi.HTTP, ch, ch.IdentityURL, tok, &me); err != nil {
		return nil, err
	}
	name := handle(me.Data.Username, me.Data.Name)
	if me.Data.ID == "" || name == "" {
		// X can answer 200 with only an "errors" list; nothing identifies the account.
		return nil, malformed(ch)
	}
	return []Identity{{ExternalID: string(me.Data.ID), Name: name, Kind: account.KindCompany}}, nil
}
