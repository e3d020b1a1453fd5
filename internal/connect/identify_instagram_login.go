package connect

import (
	"context"
	"net/http"

	"golang.org/x/oauth2"

	"github.com/relinkhq/relink/internal/account"
	"github.com/relinkhq/relink/internal/channel"
)

// InstagramLoginIdentifier identifies the one professional account an Instagram Login
// grants (channels.md §2.2), after swapping the one-hour token for a 60-day one.
type InstagramLoginIdentifier struct {
	HTTP        *http.Client
	Credentials Credentials // the exchange signs with Relink's app secret, read fresh
}

var _ Identifier = InstagramLoginIdentifier{}

func (il InstagramLoginIdentifier) Identify(ctx context.Context, ch channel.Channel, tok *oauth2.Token) ([]Identity, error) {
	long, err := exchangeLongLived(ctx, il.HTTP, il.Credentials, ch, tok)
	if err != nil {
		return nil, err
	}
	// user_id is the professional account's ID, the one its API calls and webhooks
	// use; "id" is only app-scoped, so it is not taken in its place.
	var me struct {
		UserID   flexID `json:"user_id"`
		Username string `json:"username"`
	}
	if err := getJSON(ctx, il.HTTP, ch, ch.IdentityURL, long, &me); err != nil {
		return nil, err
	}
	if me.UserID == "" || me.Username == "" {
		return nil, malformed(ch)
	}
	return []Identity{{ExternalID: string(me.UserID), Name: handle(me.Username, ""), Kind: account.KindCompany, Token: long}}, nil
}
