package connect

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"

	"golang.org/x/oauth2"

	"github.com/relinkhq/relink/internal/channel"
)

// DefaultIdentifiers returns an identifier for every channel of the registry.
func DefaultIdentifiers(client *http.Client, creds Credentials) map[string]Identifier {
	return map[string]Identifier{
		channel.SandboxID: SandboxIdentifier{HTTP: client},
		"facebook":        FacebookIdentifier{HTTP: client, Credentials: creds},
		"instagram":       InstagramIdentifier{HTTP: client, Credentials: creds},
		"instagram_login": InstagramLoginIdentifier{HTTP: client, Credentials: creds},
		"threads":         ThreadsIdentifier{HTTP: client, Credentials: creds},
		"linkedin":        LinkedInIdentifier{HTTP: client},
		"youtube":         GoogleIdentifier{HTTP: client},
		"google_business": GoogleBusinessIdentifier{HTTP: client},
		"x":               XIdentifier{HTTP: client},
		"tiktok":          TikTokIdentifier{HTTP: client},
		"pinterest":       PinterestIdentifier{HTTP: client},
	}
}

// maxIdentityCalls bounds the calls one identification may make where the accounts
// fan out (LinkedIn organization pages, Google Business Profile accounts and their
// locations), so a huge or looping answer cannot keep a callback busy.
const maxIdentityCalls = 2 * maxAccountPages

// fetchJSON is getJSON with the request's headers in the caller's hands: a channel's
// own headers (LinkedIn's API version), and no Authorization header at all when tok is
// nil, for calls that carry the token in the query as the API documents (Meta's
// long-lived exchanges) and must not send it twice. Answers are bounded and classified
// the same way.
func fetchJSON(ctx context.Context, client *http.Client, ch channel.Channel, u string, tok *oauth2.Token,
	header http.Header, into any) error {
	if client == nil {
		client = http.DefaultClient
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return fmt.Errorf("identity request: %w", err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if tok != nil {
		tok.SetAuthHeader(req)
	}
	resp, err := client.Do(req)
	if err != nil {
		return &channel.TokenError{Classification: ch.Classify(0, nil)}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxIdentityBody))
	if err != nil {
		return &channel.TokenError{Classification: ch.Classify(0, nil)}
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, into) != nil {
		return &channel.TokenError{Classification: ch.Classify(resp.StatusCode, body), Status: resp.StatusCode}
	}
	return nil
}

// malformed is the error for a 200 answer that lacks what an identity needs (an
// account ID): classified by the channel like any answer it cannot read.
func malformed(ch channel.Channel) error {
	return &channel.TokenError{Classification: ch.Classify(http.StatusOK, nil), Status: http.StatusOK}
}

// exchangeLongLived swaps the login's one-hour token for a 60-day one at the channel's
// ExchangeURL (Instagram Login's ig_exchange_token, Threads' th_exchange_token,
// channels.md §2.2, §3). Without it the account would hold a token that dies in an
// hour, before it is old enough (24 h) to renew itself.
func exchangeLongLived(ctx context.Context, client *http.Client, creds Credentials, ch channel.Channel,
	tok *oauth2.Token) (*oauth2.Token, error) {
	if creds == nil {
		return nil, fmt.Errorf("credentials for %s: none configured", ch.ID)
	}
	cred, err := creds.Credentials(ctx, ch.ID)
	if err != nil {
		return nil, fmt.Errorf("credentials for %s: %w", ch.ID, err)
	}
	q := url.Values{
		"grant_type":    {ch.LongLivedExchange},
		"client_secret": {cred.ClientSecret.Reveal()},
		"access_token":  {tok.AccessToken},
	}
	var resp struct {
		AccessToken string   `json:"access_token"`
		TokenType   string   `json:"token_type"`
		ExpiresIn   *float64 `json:"expires_in"`
	}
	if err := fetchJSON(ctx, client, ch, withQuery(ch.ExchangeURL, q), nil, nil, &resp); err != nil {
		return nil, err
	}
	if resp.AccessToken == "" {
		return nil, malformed(ch)
	}
	long := &oauth2.Token{AccessToken: resp.AccessToken, TokenType: resp.TokenType}
	if resp.ExpiresIn != nil {
		long = long.WithExtra(map[string]any{"expires_in": *resp.ExpiresIn})
	}
	return long, nil
}

// withQuery adds q to a URL that may already carry a query of its own.
func withQuery(u string, q url.Values) string {
	parsed, err := url.Parse(u)
	if err != nil {
		return u // the request fails on it and says so
	}
	merged := parsed.Query()
	for k, v := range q {
		merged[k] = v
	}
	parsed.RawQuery = merged.Encode()
	return parsed.String()
}

// handle is how people know accounts on handle-based channels: "@name".
func handle(username, fallback string) string {
	if username != "" {
		return "@" + username
	}
	return fallback
}

// flexID reads an ID that APIs send as a JSON string or number (LinkedIn's
// organization IDs are numbers; Meta's are strings but have been numbers).
type flexID string

func (f *flexID) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*f = flexID(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return err
	}
	if _, err := strconv.ParseUint(n.String(), 10, 64); err != nil {
		return fmt.Errorf("id %s is not a whole number", n)
	}
	*f = flexID(n.String())
	return nil
}
