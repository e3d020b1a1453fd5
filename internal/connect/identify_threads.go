package connect

import (
	"context"
	"net/http"

	"golang.org/x/oauth2"

	"github.com/relinkhq/relink/internal/account"
	"github.com/relinkhq/relink/internal/channel"
)

// ThreadsIdentifier identifies the one Threads profile a login grants (channels.md §3),
// after swapping the one-hour token for a 60-day one.
type ThreadsIdentifier struct {
	HTTP        *http.Client
	Credentials Credentials // the exchange signs with Relink's app secret, read fresh
}

var _ Identifier = ThreadsIdentifier{}

func (ti ThreadsIdentifier) Identify(ctx context.Context, ch channel.Channel, tok *oauth2.Token) ([]Identity, error) {
	long, err := exchangeLongLived(ctx, ti.HTTP, ti.Credentials, ch, tok)
	if err != nil {
		return nil, err
	}
	var me struct {
		ID       flexID `json:"id"`
		Username string `json:"username"`
	}
	if err := getJSON(ctx, ti.HTTP, ch, ch.IdentityURL, long, &me); err != nil {
		return nil, err
	}
	if me.ID == "" || me.Username == "" {
		return nil, malformed(ch)
	}
	return []Identity{{ExternalID: string(me.ID), Name: handle(me.Username, ""), Kind: account.KindCompany, Token: long}}, nil
}
