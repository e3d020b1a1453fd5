package probe

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/relinkhq/relink/internal/account"
	"github.com/relinkhq/relink/internal/channel"
	"github.com/relinkhq/relink/internal/relink"
	"github.com/relinkhq/relink/internal/vault"
)

// maxBody bounds what a channel may send back.
const maxBody = 1 << 20

// finding is what one introspection learned.
type finding struct {
	valid   bool
	failure channel.Classification // when !valid
	scopes  []string               // nil: the channel did not report them
	// expiresAt is the expiry the channel reported (zero: never), when expiryKnown.
	expiresAt           time.Time
	expiryKnown         bool
	dataAccessExpiresAt time.Time
}

func failed(c channel.Classification) finding { return finding{failure: c} }

// introspect asks the channel about t's access token in the channel's own way
// (channels.md §11).
func (p *Prober) introspect(ctx context.Context, ch channel.Channel, t vault.Tokens) (finding, error) {
	now := p.Clock.Now()
	switch ch.Introspect {
	case channel.IntrospectDebugToken:
		return p.debugToken(ctx, ch, t, now)
	case channel.IntrospectLinkedIn:
		return p.linkedIn(ctx, ch, t)
	case channel.IntrospectGoogle:
		return p.tokenInfo(ctx, ch, t, now)
	case channel.IntrospectRFC7662:
		return p.rfc7662(ctx, ch, t)
	case channel.IntrospectMe:
		return p.me(ctx, ch, t)
	}
	return finding{}, relink.Errorf(relink.EINTERNAL, "%s has no known way to check a token (%q).", ch.Name, ch.Introspect)
}

// debugToken is Meta's GET /debug_token, signed with the app token app_id|app_secret
// (§1.2). Threads has its own on graph.threads.net (§3), signed the same way: its page
// shows a tester token there, so an app token is UNCONFIRMED for Threads. The token's
// state is in "data"; a non-200 answer is about Relink's call (the app token, an
// outage), never about the account's token.
func (p *Prober) debugToken(ctx context.Context, ch channel.Channel, t vault.Tokens, now time.Time) (finding, error) {
	cred, err := p.credentials(ctx, ch)
	if err != nil {
		return finding{}, err
	}
	req, err := newRequest(ctx, ch, http.MethodGet, withQuery(ch.IntrospectURL, url.Values{
		"input_token":  {t.Access.Reveal()},
		"access_token": {cred.ClientID + "|" + cred.ClientSecret.Reveal()},
	}), nil)
	if err != nil {
		return finding{}, err
	}
	ans, err := p.send(ctx, req, "check")
	if err != nil {
		return finding{}, err
	}
	if ans.status != http.StatusOK {
		return failed(refusedRequest(ch.Classify(ans.status, ans.body))), nil
	}
	var dt struct {
		Data *struct {
			IsValid             bool            `json:"is_valid"`
			Scopes              []string        `json:"scopes"`
			ExpiresAt           unixSeconds     `json:"expires_at"`
			DataAccessExpiresAt unixSeconds     `json:"data_access_expires_at"`
			Error               json.RawMessage `json:"error"`
		} `json:"data"`
	}
	if json.Unmarshal(ans.body, &dt) != nil || dt.Data == nil {
		return failed(refusedRequest(ch.Classify(ans.status, ans.body))), nil
	}
	d := dt.Data
	if !d.IsValid {
		// The classifier reads data.error's code and subcode (spelt "subcode" here,
		// not "error_subcode") the way it reads API errors.
		c := ch.Classify(ans.status, ans.body)
		if len(d.Error) == 0 && c.Reason == account.ReasonInvalidToken && expired(d.ExpiresAt.time(), now) {
			// No error object, but the reported expiry has passed: say so (a Threads
			// token not renewed within its 60 days, §3).
			c.Reason, c.Message = account.ReasonExpired, channel.Message(account.ReasonExpired)
		}
		return failed(c), nil
	}
	return finding{
		valid: true, scopes: d.Scopes,
		// expires_at 0 means never: Page tokens from a long-lived user token (§1.1).
		expiresAt: d.ExpiresAt.time(), expiryKnown: d.ExpiresAt.set,
		dataAccessExpiresAt: d.DataAccessExpiresAt.time(),
	}, nil
}

// linkedIn is POST /oauth/v2/introspectToken with the app's credentials in the form
// (§4). An error status is about Relink's call: 400 "Invalid client id or token" cannot
// tell a bad client ID from an unknown token, so it never disconnects.
func (p *Prober) linkedIn(ctx context.Context, ch channel.Channel, t vault.Tokens) (finding, error) {
	cred, err := p.credentials(ctx, ch)
	if err != nil {
		return finding{}, err
	}
	form := url.Values{"client_id": {cred.ClientID}, "client_secret": {cred.ClientSecret.Reveal()}, "token": {t.Access.Reveal()}}
	req, err := newRequest(ctx, ch, http.MethodPost, ch.IntrospectURL, form)
	if err != nil {
		return finding{}, err
	}
	ans, err := p.send(ctx, req, "check")
	if err != nil {
		return finding{}, err
	}
	var in struct {
		Active    *bool       `json:"active"`
		ExpiresAt unixSeconds `json:"expires_at"`
		Scope     string      `json:"scope"`
	}
	if ans.status != http.StatusOK || json.Unmarshal(ans.body, &in) != nil || in.Active == nil {
		return failed(refusedRequest(ch.Classify(ans.status, ans.body))), nil
	}
	if !*in.Active {
		return failed(ch.Classify(ans.status, ans.body)), nil // status revoked / expired
	}
	return finding{valid: true, scopes: splitScopes(in.Scope), expiresAt: in.ExpiresAt.time(), expiryKnown: in.ExpiresAt.positive()}, nil
}

// tokenInfo is Google's GET /tokeninfo?access_token= (§5). The call carries only the
// token, so its answer is about the token: 400 invalid_token for an invalid or expired one.
func (p *Prober) tokenInfo(ctx context.Context, ch channel.Channel, t vault.Tokens, now time.Time) (finding, error) {
	req, err := newRequest(ctx, ch, http.MethodGet, withQuery(ch.IntrospectURL, url.Values{"access_token": {t.Access.Reveal()}}), nil)
	if err != nil {
		return finding{}, err
	}
	ans, err := p.send(ctx, req, "check")
	if err != nil {
		return finding{}, err
	}
	if ans.status != http.StatusOK {
		return failed(ch.Classify(ans.status, ans.body)), nil
	}
	var info struct {
		Scope     string      `json:"scope"`
		Exp       unixSeconds `json:"exp"`        // numbers as strings
		ExpiresIn unixSeconds `json:"expires_in"` // seconds left, also a string
	}
	if json.Unmarshal(ans.body, &info) != nil {
		return failed(refusedRequest(ch.Classify(ans.status, ans.body))), nil
	}
	f := finding{valid: true, scopes: splitScopes(info.Scope)}
	switch {
	case info.Exp.positive():
		f.expiresAt, f.expiryKnown = info.Exp.time(), true
	case info.ExpiresIn.positive():
		f.expiresAt, f.expiryKnown = now.Add(time.Duration(info.ExpiresIn.v)*time.Second), true
	}
	return f, nil
}

// rfc7662 is standard token introspection with HTTP Basic client authentication (the
// sandbox's). An inactive token is read as the RFC 6750 invalid_token error it stands
// for, with the sandbox's "reason" extension, so the channel's classifier names it.
func (p *Prober) rfc7662(ctx context.Context, ch channel.Channel, t vault.Tokens) (finding, error) {
	cred, err := p.credentials(ctx, ch)
	if err != nil {
		return finding{}, err
	}
	req, err := newRequest(ctx, ch, http.MethodPost, ch.IntrospectURL,
		url.Values{"token": {t.Access.Reveal()}, "token_type_hint": {"access_token"}})
	if err != nil {
		return finding{}, err
	}
	// Form-encoded credentials, as RFC 6749 §2.3.1 asks of Basic client authentication.
	req.SetBasicAuth(url.QueryEscape(cred.ClientID), url.QueryEscape(cred.ClientSecret.Reveal()))
	ans, err := p.send(ctx, req, "check")
	if err != nil {
		return finding{}, err
	}
	var in struct {
		Active *bool       `json:"active"`
		Scope  string      `json:"scope"`
		Exp    unixSeconds `json:"exp"`
		Reason string      `json:"reason"`
	}
	if ans.status != http.StatusOK || json.Unmarshal(ans.body, &in) != nil || in.Active == nil {
		return failed(refusedRequest(ch.Classify(ans.status, ans.body))), nil
	}
	if !*in.Active {
		body, err := json.Marshal(map[string]string{"error": "invalid_token", "reason": in.Reason})
		if err != nil {
			return finding{}, relink.Wrap(err, relink.EINTERNAL, "Could not read the introspection answer.")
		}
		return failed(ch.Classify(ans.status, body)), nil
	}
	return finding{valid: true, scopes: splitScopes(in.Scope), expiresAt: in.Exp.time(), expiryKnown: in.Exp.positive()}, nil
}

// me calls the channel's cheap "who am I" endpoint with the token (Instagram Login, X,
// TikTok, Pinterest: no introspection documented, §11). A 200 means the token works;
// TikTok answers 200 with "error":{"code":"ok"} on success and other codes on failure (§7).
func (p *Prober) me(ctx context.Context, ch channel.Channel, t vault.Tokens) (finding, error) {
	u := ch.IntrospectURL
	if u == "" {
		u = ch.IdentityURL
	}
	req, err := newRequest(ctx, ch, http.MethodGet, u, nil)
	if err != nil {
		return finding{}, err
	}
	req.Header.Set("Authorization", "Bearer "+t.Access.Reveal())
	ans, err := p.send(ctx, req, "check")
	if err != nil {
		return finding{}, err
	}
	if ans.status != http.StatusOK {
		return failed(ch.Classify(ans.status, ans.body)), nil
	}
	var body struct {
		Error json.RawMessage `json:"error"`
	}
	if json.Unmarshal(ans.body, &body) != nil {
		return failed(refusedRequest(ch.Classify(ans.status, ans.body))), nil
	}
	var wrapped struct {
		Code string `json:"code"`
	}
	if json.Unmarshal(body.Error, &wrapped) == nil && wrapped.Code != "" && wrapped.Code != "ok" {
		return failed(ch.Classify(ans.status, ans.body)), nil
	}
	return finding{valid: true}, nil
}

// answer is what a channel said to one request.
type answer struct {
	status int // 0: no answer
	body   []byte
}

// send makes one request. No answer (timeout, refused connection, a body cut short)
// is status 0, which every classifier calls transient; only the caller cancelling is
// an error. The transport's error is dropped: its text holds the URL, which may carry
// a token or the app secret.
func (p *Prober) send(ctx context.Context, req *http.Request, what string) (answer, error) {
	resp, err := p.client().Do(req)
	if err != nil {
		if errors.Is(ctx.Err(), context.Canceled) {
			return answer{}, cancelled(ctx, what)
		}
		return answer{}, nil
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		if errors.Is(ctx.Err(), context.Canceled) {
			return answer{}, cancelled(ctx, what)
		}
		return answer{}, nil
	}
	return answer{status: resp.StatusCode, body: body}, nil
}

// newRequest builds a request, with form as an urlencoded body when set. Its error
// does not quote the URL, which may carry a token.
func newRequest(ctx context.Context, ch channel.Channel, method, u string, form url.Values) (*http.Request, error) {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, relink.Errorf(relink.EINTERNAL, "The %s endpoint URL is not valid.", ch.Name)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set("Accept", "application/json")
	return req, nil
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

// splitScopes reads a scope list joined by spaces (RFC 6749, Google) or commas
// (LinkedIn, TikTok); nil when there is none, so the stored scopes stand.
func splitScopes(s string) []string {
	out := strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == ',' })
	if len(out) == 0 {
		return nil
	}
	return out
}

// unixSeconds is a Unix time or a number of seconds, sent as a JSON number or, by
// Google, as a numeric string.
type unixSeconds struct {
	v   int64
	set bool
}

func (u *unixSeconds) UnmarshalJSON(b []byte) error {
	s := string(b)
	if s == "null" {
		return nil
	}
	if unq, err := strconv.Unquote(s); err == nil {
		s = unq
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil {
		return errors.New("not a number")
	}
	u.v, u.set = int64(f), true
	return nil
}

func (u unixSeconds) positive() bool { return u.set && u.v > 0 }

// time is the moment; zero when absent or 0 (Meta's "never").
func (u unixSeconds) time() time.Time {
	if !u.positive() {
		return time.Time{}
	}
	return time.Unix(u.v, 0).UTC()
}
