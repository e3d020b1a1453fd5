package connect

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"golang.org/x/oauth2"

	"github.com/relinkhq/relink/internal/account"
	"github.com/relinkhq/relink/internal/channel"
	"github.com/relinkhq/relink/internal/sandbox"
)

func TestDefaultIdentifiersCoverTheRegistry(t *testing.T) {
	reg, err := channel.Default("http://sandbox.example")
	if err != nil {
		t.Fatal(err)
	}
	ids := DefaultIdentifiers(http.DefaultClient, staticCreds{})
	for _, id := range reg.IDs() {
		if ids[id] == nil {
			t.Errorf("no identifier for channel %q", id)
		}
	}
	if got, want := slices.Sorted(maps.Keys(ids)), reg.IDs(); !slices.Equal(got, want) {
		t.Errorf("identifiers for %v, registry has %v", got, want)
	}
}

// testCallback is the fixture's CallbackURL, where the stub channels send people back.
const testCallback = "https://relink.example/oauth/callback"

// answer is a canned API answer.
type answer struct {
	status int
	body   string
}

func (a answer) write(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(a.status)
	_, _ = io.WriteString(w, a.body)
}

// stubChannel serves a channel's OAuth endpoints (an authorize page that consents at
// once, and a token endpoint answering token to a good code) and its API (api) from
// one httptest server, and returns the registry entry with every URL moved onto that
// server, paths and queries kept, so the identifier is tested on the registry's URLs.
func stubChannel(t *testing.T, ch channel.Channel, token map[string]any, api http.HandlerFunc) (channel.Channel, *httptest.Server) {
	t.Helper()
	stub := &oauthStub{t: t, ch: ch, token: token, codes: map[string]string{}}
	authorizePath, tokenPath := pathOf(t, ch.AuthorizeURL), pathOf(t, ch.TokenURL)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == authorizePath:
			stub.authorize(w, r)
		case r.URL.Path == tokenPath && r.Method == http.MethodPost:
			stub.exchange(w, r)
		default:
			api(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	e := &ch.Endpoints
	for _, u := range []*string{&e.AuthorizeURL, &e.TokenURL, &e.IntrospectURL, &e.RevokeURL, &e.IdentityURL, &e.AccountsURL,
		&e.ExchangeURL, &e.RefreshURL} {
		*u = rebase(t, *u, srv.URL)
	}
	return ch, srv
}

func pathOf(t *testing.T, u string) string {
	p, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	return p.Path
}

// rebase moves a URL onto base's scheme and host.
func rebase(t *testing.T, u, base string) string {
	if u == "" {
		return ""
	}
	p, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	b, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	p.Scheme, p.Host = b.Scheme, b.Host
	return p.String()
}

// oauthStub is a channel's authorization server, held to the channel's own quirks:
// its client ID parameter, scope separator, extra parameters, PKCE and client auth.
type oauthStub struct {
	t     *testing.T
	ch    channel.Channel
	token map[string]any
	mu    sync.Mutex
	codes map[string]string // issued, unused code → its PKCE challenge
}

// authorize checks the consent request and consents at once, as the person would.
func (o *oauthStub) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var bad []string
	check := func(k, want string) {
		if q.Get(k) != want {
			bad = append(bad, fmt.Sprintf("%s=%q, want %q", k, q.Get(k), want))
		}
	}
	check("response_type", "code")
	check(cmp.Or(o.ch.ClientIDParam, "client_id"), "relink-local")
	check("redirect_uri", testCallback)
	check("scope", strings.Join(o.ch.Scopes(), cmp.Or(o.ch.ScopeSeparator, " ")))
	for k, v := range o.ch.AuthParams {
		check(k, v)
	}
	if q.Get("state") == "" {
		bad = append(bad, "no state")
	}
	challenge := q.Get("code_challenge")
	if o.ch.PKCE {
		check("code_challenge_method", "S256")
	}
	if o.ch.PKCE != (challenge != "") {
		bad = append(bad, fmt.Sprintf("code_challenge %q with PKCE %v", challenge, o.ch.PKCE))
	}
	if len(bad) > 0 {
		o.t.Errorf("%s authorize request: %v", o.ch.ID, bad)
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	o.mu.Lock()
	code := fmt.Sprintf("code-%d", len(o.codes)+1)
	o.codes[code] = challenge
	o.mu.Unlock()
	http.Redirect(w, r, testCallback+"?"+url.Values{"code": {code}, "state": {q.Get("state")}}.Encode(), http.StatusFound)
}

// exchange answers the code exchange: one use per code, the verifier of its
// challenge, and the client authenticated the channel's way.
func (o *oauthStub) exchange(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		writeJSON(w, 400, map[string]any{"error": "invalid_request"})
		return
	}
	f := r.PostForm
	o.mu.Lock()
	challenge, ok := o.codes[f.Get("code")]
	o.codes[f.Get("code")] = "spent"
	o.mu.Unlock()
	var bad []string
	if !ok || challenge == "spent" {
		bad = append(bad, "unknown or reused code "+f.Get("code"))
	}
	if f.Get("grant_type") != "authorization_code" || f.Get("redirect_uri") != testCallback {
		bad = append(bad, "grant "+f.Get("grant_type")+" to "+f.Get("redirect_uri"))
	}
	if o.ch.ClientAuthHeader {
		if id, secret, ok := r.BasicAuth(); !ok || id != "relink-local" || secret != sandbox.ClientSecret {
			bad = append(bad, "no Basic client authentication")
		}
	} else if f.Get(cmp.Or(o.ch.ClientIDParam, "client_id")) != "relink-local" || f.Get("client_secret") != sandbox.ClientSecret {
		bad = append(bad, "no client credentials in the form")
	}
	if o.ch.PKCE {
		sum := sha256.Sum256([]byte(f.Get("code_verifier")))
		if base64.RawURLEncoding.EncodeToString(sum[:]) != challenge {
			bad = append(bad, "code_verifier does not match the challenge")
		}
	}
	if len(bad) > 0 {
		o.t.Errorf("%s token request: %v", o.ch.ID, bad)
		writeJSON(w, 400, map[string]any{"error": "invalid_grant"})
		return
	}
	writeJSON(w, 200, o.token)
}

// connectVia plays a whole connect on a stubbed channel: Start, the person allowing
// the consent at the channel's authorize endpoint, the redirect back, Callback.
func (f *fixture) connectVia(t *testing.T, who Who, channelID string) (Outcome, error) {
	t.Helper()
	u, err := f.svc.Start(context.Background(), who, channelID, "")
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || resp.StatusCode != http.StatusFound || !strings.HasPrefix(loc.String(), testCallback+"?") {
		t.Fatalf("authorize answered %d, Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	q := loc.Query()
	return f.svc.Callback(context.Background(), Callback{State: q.Get("state"), Code: q.Get("code"), Error: q.Get("error")})
}

// sealed opens the tokens stored for an account.
func (f *fixture) sealed(t *testing.T, a account.Account) (access, refresh string) {
	t.Helper()
	raw, err := f.store.GetTokens(context.Background(), ws, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := f.vault.OpenTokens(context.Background(), raw, ws+"/"+a.ID)
	if err != nil {
		t.Fatal(err)
	}
	return tok.Access.Reveal(), tok.Refresh.Reveal()
}

// identifierCase is one channel's identifier on a stub of its API. setup builds them;
// when fail is set, every identity call of the channel answers it.
type identifierCase struct {
	channel string
	setup   func(t *testing.T, fail *answer) (channel.Channel, Identifier, *oauth2.Token, *httptest.Server)
	auth    answer // the channel's own refusal of a dead token
	reason  string // what it means
}

func identifierCases() []identifierCase {
	return []identifierCase{
		{"instagram", instagramSetup, answer{400, `{"error":{"message":"Error validating access token: The user has not authorized application 1234.","type":"OAuthException","code":190,"error_subcode":458,"fbtrace_id":"AbCdEf"}}`},
			account.ReasonAppRemoved},
		{"instagram_login", instagramLoginSetup, answer{400, `{"error":{"message":"Error validating access token: The session has been invalidated because the user changed their password or Facebook has changed the session for security reasons.","type":"OAuthException","code":190,"error_subcode":460,"fbtrace_id":"AbCdEf"}}`},
			account.ReasonPasswordChanged},
		{"threads", threadsSetup, answer{400, `{"error":{"message":"Error validating access token: Session has expired on Sunday, 22-Nov-26 09:00:00 PST.","type":"OAuthException","code":190,"error_subcode":463,"fbtrace_id":"AbCdEf"}}`},
			account.ReasonExpired},
		{"linkedin", linkedInSetup, answer{401, `{"status":401,"serviceErrorCode":65601,"code":"REVOKED_ACCESS_TOKEN","message":"The token used in the request has been revoked by the user"}`},
			account.ReasonRevoked},
		{"google_business", googleBusinessSetup, answer{401, `{"error":{"code":401,"message":"Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.","errors":[{"message":"Invalid Credentials","domain":"global","reason":"authError","location":"Authorization","locationType":"header"}],"status":"UNAUTHENTICATED"}}`},
			account.ReasonExpired},
		{"x", xSetup, answer{401, `{"title":"Unauthorized","type":"about:blank","status":401,"detail":"Unauthorized"}`},
			account.ReasonExpired},
		{"tiktok", tiktokSetup, answer{401, `{"data":{},"error":{"code":"access_token_invalid","message":"The access token is invalid or not found in the request.","log_id":"20261123090000CBE87ED59D524E727021"}}`},
			account.ReasonExpired},
		{"pinterest", pinterestSetup, answer{401, `{"code":2,"message":"Authentication failed."}`},
			account.ReasonInvalidToken},
	}
}

// TestIdentifiersClassifyRefusals: whatever a channel answers instead of an identity,
// the connect gets a *channel.TokenError its own classifier wrote, and nothing panics.
func TestIdentifiersClassifyRefusals(t *testing.T) {
	huge := `{"data":"` + strings.Repeat("a", maxIdentityBody+10) + `"}`
	for _, c := range identifierCases() {
		failures := []struct {
			name      string
			answer    answer
			reason    string
			transient bool
		}{
			{"dead token", c.auth, c.reason, false},
			{"server error", answer{500, ""}, account.ReasonTransient, true},
			{"gateway page", answer{502, "<html><body>Bad Gateway</body></html>"}, account.ReasonTransient, true},
			{"unavailable", answer{503, `{"error":"x"}`}, account.ReasonTransient, true},
			{"rate limited", answer{429, `{"title":"Too Many Requests","status":429}`}, account.ReasonTransient, true},
			{"html under 200", answer{200, "<html>maintenance</html>"}, channel.ReasonRequestRejected, false},
			{"truncated", answer{200, `{"data":[{"id":"1",`}, channel.ReasonRequestRejected, false},
			{"wrong types", answer{200, `{"data":7,"id":{"x":1},"user_id":[],"elements":"x","accounts":1,"username":3}`}, channel.ReasonRequestRejected, false},
			{"array", answer{200, `[]`}, channel.ReasonRequestRejected, false},
			{"over the size bound", answer{200, huge}, channel.ReasonRequestRejected, false},
		}
		for _, fc := range failures {
			t.Run(c.channel+"/"+fc.name, func(t *testing.T) {
				ch, id, tok, _ := c.setup(t, &fc.answer)
				ids, err := id.Identify(context.Background(), ch, tok)
				var te *channel.TokenError
				if !errors.As(err, &te) {
					t.Fatalf("identify = %v, %v; want a *channel.TokenError", ids, err)
				}
				if te.Reason != fc.reason || te.Transient != fc.transient || (!fc.transient && te.Status != fc.answer.status) {
					t.Fatalf("classified %+v (HTTP %d), want %s (transient %v)", te.Classification, te.Status, fc.reason, fc.transient)
				}
				if fc.name == "dead token" && (!te.Reauth || te.ChannelError.HTTPStatus != fc.answer.status) {
					t.Fatalf("dead token classified %+v", te.Classification)
				}
			})
		}
		t.Run(c.channel+"/no answer", func(t *testing.T) {
			ch, id, tok, srv := c.setup(t, nil)
			srv.Close()
			_, err := id.Identify(context.Background(), ch, tok)
			var te *channel.TokenError
			if !errors.As(err, &te) || !te.Transient || te.Reauth {
				t.Fatalf("identify with the channel down = %v", err)
			}
		})
	}
}

// identities runs an identifier on its stub and fails the test on an error.
func identities(t *testing.T, setup func(*testing.T, *answer) (channel.Channel, Identifier, *oauth2.Token, *httptest.Server)) []Identity {
	t.Helper()
	ch, id, tok, _ := setup(t, nil)
	ids, err := id.Identify(context.Background(), ch, tok)
	if err != nil {
		t.Fatalf("identify: %v", err)
	}
	return ids
}

// brief is an identity without its token, to compare.
func brief(ids []Identity) []Identity {
	out := make([]Identity, len(ids))
	for i, id := range ids {
		id.Token = nil
		out[i] = id
	}
	return out
}

func sameIdentities(t *testing.T, got, want []Identity) {
	t.Helper()
	got = brief(got)
	if !slices.EqualFunc(got, want, func(a, b Identity) bool {
		return a.ExternalID == b.ExternalID && a.Name == b.Name && a.Parent == b.Parent && a.Kind == b.Kind &&
			slices.Equal(a.Scopes, b.Scopes) && slices.Equal(a.Tasks, b.Tasks)
	}) {
		t.Fatalf("identities:\n got %+v\nwant %+v", got, want)
	}
}

// failure returns the canned failure for a path: its own, else the one for every path ("*").
func failure(fails map[string]answer, path string) (answer, bool) {
	if a, ok := fails[path]; ok {
		return a, true
	}
	a, ok := fails["*"]
	return a, ok
}

// everywhere makes one failure the answer of every identity call.
func everywhere(fail *answer) map[string]answer {
	if fail == nil {
		return nil
	}
	return map[string]answer{"*": *fail}
}

// bearer checks that an API call carries the token it should.
func bearer(t *testing.T, w http.ResponseWriter, r *http.Request, want string) bool {
	t.Helper()
	if got := r.Header.Get("Authorization"); got != "Bearer "+want {
		t.Errorf("%s called with Authorization %q, want the token %q", r.URL.Path, got, want)
		w.WriteHeader(http.StatusUnauthorized)
		return false
	}
	return true
}
