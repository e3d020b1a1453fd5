package connect

import (
	"context"
	"net/http"
	"strings"

	"golang.org/x/oauth2"

	"github.com/relinkhq/relink/internal/account"
	"github.com/relinkhq/relink/internal/channel"
)

// DefaultGoogleAPIURL is the base of Google API identity calls.
const DefaultGoogleAPIURL = "https://www.googleapis.com"

// GoogleIdentifier lists the YouTube channels a Google login holds (channels.md §5).
type GoogleIdentifier struct {
	HTTP   *http.Client
	APIURL string // "" means DefaultGoogleAPIURL
}

var _ Identifier = GoogleIdentifier{}

func (gi GoogleIdentifier) Identify(ctx context.Context, ch channel.Channel, tok *oauth2.Token) ([]Identity, error) {
	base := DefaultGoogleAPIURL
	if gi.APIURL != "" {
		base = strings.TrimRight(gi.APIURL, "/")
	}
	var list struct {
		Items []struct {
			ID      string `json:"id"`
			Snippet struct {
				Title string `json:"title"`
			} `json:"snippet"`
		} `json:"items"`
	}
	if err := getJSON(ctx, gi.HTTP, ch, base+"/youtube/v3/channels?part=snippet&mine=true", tok, &list); err != nil {
		return nil, err
	}
	ids := make([]Identity, 0, len(list.Items))
	for _, it := range list.Items {
		if it.ID == "" || it.Snippet.Title == "" {
			continue
		}
		ids = append(ids, Identity{ExternalID: it.ID, Name: it.Snippet.Title, Kind: account.KindCompany})
	}
	return ids, nil
}
