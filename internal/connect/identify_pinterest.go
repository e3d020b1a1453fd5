package connect

import (
	"context"
	"net/http"

	"golang.org/x/oauth2"

	"github.com/relinkhq/relink/internal/account"
	"github.com/relinkhq/relink/internal/channel"
)

// PinterestIdentifier identifies the one Pinterest account a login grants (GET
// /v5/user_account, channels.md §8).
//
// The external ID is the account's "id": it never changes, while a username can be
// renamed (and then taken by someone else), which would split one account into two
// or join two into one. Answers without an id (older API versions list it as
// optional) fall back to the username, the only identifier they carry.
type PinterestIdentifier struct {
	HTTP *http.Client
}

var _ Identifier = PinterestIdentifier{}

func (pi PinterestIdentifier) Identify(ctx context.Context, ch channel.Channel, tok *oauth2.Token) ([]Identity, error) {
	var me struct {
		ID           flexID `json:"id"`
		Username     string `json:"username"`
		BusinessName string `json:"business_name"`
	}
	if err := getJSON(ctx, pi.HTTP, ch, ch.IdentityURL, tok, &me); err != nil {
		return nil, err
	}
	ext := string(me.ID)
	if ext == "" {
		ext = me.Username
	}
	if ext == "" {
		return nil, malformed(ch)
	}
	name := handle(me.Username, me.BusinessName)
	if name == "" {
		name = ext
	}
	return []Identity{{ExternalID: ext, Name: name, Kind: account.KindCompany}}, nil
}
