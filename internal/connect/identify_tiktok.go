package connect

import (
	"context"
	"encoding/json"
	"net/http"

	"golang.org/x/oauth2"

	"github.com/relinkhq/relink/internal/account"
	"github.com/relinkhq/relink/internal/channel"
)

// TikTokIdentifier identifies the one TikTok account a login grants (GET
// /v2/user/info/, channels.md §7). The external ID is open_id, the account's ID for
// Relink's app, which the token response carries as well.
type TikTokIdentifier struct {
	HTTP *http.Client
}

var _ Identifier = TikTokIdentifier{}

func (ti TikTokIdentifier) Identify(ctx context.Context, ch channel.Channel, tok *oauth2.Token) ([]Identity, error) {
	var info struct {
		Data struct {
			User struct {
				OpenID      string `json:"open_id"`
				DisplayName string `json:"display_name"`
			} `json:"user"`
		} `json:"data"`
		Error *struct {
			Code    string `json:"code"`
			Message string `json:"message"`
			LogID   string `json:"log_id"`
		} `json:"error"`
	}
	if err := getJSON(ctx, ti.HTTP, ch, ch.IdentityURL, tok, &info); err != nil {
		return nil, err
	}
	// Every answer carries "error"; "ok" is success (§7). Anything else is a refusal
	// even under HTTP 200, and the channel's classifier reads it.
	if info.Error != nil && info.Error.Code != "" && info.Error.Code != "ok" {
		body, _ := json.Marshal(map[string]any{"error": info.Error})
		return nil, &channel.TokenError{Classification: ch.Classify(http.StatusOK, body), Status: http.StatusOK}
	}
	u := info.Data.User
	if u.OpenID == "" {
		return nil, malformed(ch)
	}
	name := u.DisplayName
	if name == "" {
		name = u.OpenID // display_name is optional in the scope's fields; the account still is
	}
	return []Identity{{ExternalID: u.OpenID, Name: name, Kind: account.KindCompany}}, nil
}
