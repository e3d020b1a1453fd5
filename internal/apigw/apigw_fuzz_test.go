package apigw

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"

	"github.com/relinkhq/relink/internal/auth"
	"github.com/relinkhq/relink/internal/connect"
)

// FuzzServeEvent feeds arbitrary bytes, decoded as the Lambda runtime decodes them, to
// the adapter as an API Gateway HTTP API (payload 2.0) event, with the admin API's JWT
// claims hook, in front of a mux holding the owner pages' and the API's route shapes
// and a handler that echoes what it got. Properties:
//
//   - Serve never panics and never returns an error (Lambda would answer a bare 502);
//   - an event it cannot read is a 400 in the API's error shape, and reaches no handler;
//   - a request that reaches the handler is what the event says: its method (a token),
//     an absolute path, the event's host as Host and as the public base URL (https,
//     nothing but the host: links and OAuth callbacks are built from it), the body
//     (base64-decoded when flagged) with its length, cookies, a source IP, https;
//   - JWT claims reach the handler only when the authorizer passed a subject and a
//     workspace, trimmed;
//   - the response event carries the handler's status, headers and exact body (base64
//     for anything that is not UTF-8 text) and Set-Cookie apart, and is never a 5xx the
//     handler did not give.
//
// Seeds: every sample event under events/ (testdata/fuzz/FuzzServeEvent) and a few
// built here.
func FuzzServeEvent(f *testing.F) {
	for _, ev := range []events.APIGatewayV2HTTPRequest{event("GET", "/me", ""), event("POST", "/invite/code", "flow=1"),
		event("GET", "/oauth/callback", "state=x&code=y"), event("GET", "/v1/accounts", "limit=1&cursor=AQ")} {
		ev.Cookies = []string{"__Host-relink-session=a.b", "c=d"}
		ev.Body, ev.IsBase64Encoded = base64.StdEncoding.EncodeToString([]byte("code=123+456&flow=f\xff")), true
		ev.RequestContext.Authorizer = &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{
			JWT: &events.APIGatewayV2HTTPRequestContextAuthorizerJWTDescription{Claims: map[string]string{"sub": " u1 ", "workspace": "ws"}}}
		b, _ := json.Marshal(ev)
		f.Add(b)
	}
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"rawPath":"/x","requestContext":{"http":{"method":"GET"},"domainName":"a b"}}`))

	var got struct {
		called bool
		req    *http.Request
		body   []byte
		claims auth.Claims
		hasC   bool
	}
	echo := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.called, got.req = true, r
		got.body, _ = io.ReadAll(r.Body)
		got.claims, got.hasC = auth.ClaimsFrom(r.Context())
		_ = r.ParseForm()
		_ = r.Cookies()
		http.SetCookie(w, &http.Cookie{Name: "seen", Value: strconv.Itoa(len(got.body)), Path: "/"})
		w.Header().Set("Content-Type", r.Header.Get("Content-Type"))
		w.Header().Add("X-Echo", "1")
		w.Header().Add("X-Echo", "2")
		status := http.StatusOK
		if s, err := strconv.Atoi(r.Header.Get("X-Status")); err == nil && s >= 200 && s < 500 {
			status = s
		}
		w.WriteHeader(status)
		_, _ = w.Write(got.body)
	})
	mux := http.NewServeMux()
	for _, p := range []string{"GET /l/{token}", "GET /me", "POST /invite/code", "GET /oauth/callback", "GET /v1/accounts/{id}",
		"DELETE /v1/groups/{id}/accounts/{account_id}", "/"} {
		mux.Handle(p, echo)
	}
	a := &Adapter{Handler: mux, Context: JWTClaims("workspace")}

	f.Fuzz(func(t *testing.T, data []byte) {
		var ev events.APIGatewayV2HTTPRequest
		if json.Unmarshal(data, &ev) != nil {
			return // the Lambda runtime refuses it before any handler
		}
		got.called, got.req, got.body, got.hasC = false, nil, nil, false
		resp, err := a.Serve(context.Background(), ev)
		if err != nil {
			t.Fatalf("Serve returned an error: %v", err)
		}
		if resp.StatusCode >= 500 {
			t.Fatalf("status %d for %s", resp.StatusCode, data)
		}
		if !got.called {
			if _, err := Request(context.Background(), ev); err == nil {
				if resp.StatusCode != http.StatusMovedPermanently && resp.StatusCode != http.StatusTemporaryRedirect &&
					resp.StatusCode != http.StatusNotFound && resp.StatusCode != http.StatusMethodNotAllowed {
					t.Fatalf("a readable event did not reach the mux's handler: %d %q", resp.StatusCode, resp.Body)
				}
				return // the mux answered itself (a path to clean, no route)
			}
			var e struct {
				Error struct{ Code, Message string } `json:"error"`
			}
			if resp.StatusCode != http.StatusBadRequest || json.Unmarshal([]byte(resp.Body), &e) != nil || e.Error.Code != "invalid" ||
				e.Error.Message == "" || resp.Headers["Content-Type"] != "application/json" {
				t.Fatalf("a malformed event answered %+v", resp)
			}
			return
		}
		checkRequest(t, ev, got.req, got.body)
		// Claims: only a subject and a workspace both present, trimmed.
		var wantC auth.Claims
		wantHas := false
		if az := ev.RequestContext.Authorizer; az != nil && az.JWT != nil {
			wantC, wantHas = auth.FromJWTClaims(az.JWT.Claims, "workspace")
		}
		if got.hasC != wantHas || wantHas && got.claims != wantC {
			t.Fatalf("claims %+v (%v), want %+v (%v)", got.claims, got.hasC, wantC, wantHas)
		}
		checkResponse(t, resp, got.req, got.body)
	})
}

func checkRequest(t *testing.T, ev events.APIGatewayV2HTTPRequest, r *http.Request, body []byte) {
	t.Helper()
	host := ev.RequestContext.DomainName
	if host == "" {
		host = ev.Headers["host"]
	}
	if host == "" {
		host = "localhost"
	}
	switch {
	case r.Method != ev.RequestContext.HTTP.Method || r.Method == "" || strings.ContainsAny(r.Method, " \t\r\n"):
		t.Fatalf("method %q from %q", r.Method, ev.RequestContext.HTTP.Method)
	case !strings.HasPrefix(r.URL.Path, "/"):
		t.Fatalf("path %q is not absolute", r.URL.Path)
	case r.Host != host || r.URL.Host != host:
		t.Fatalf("host %q / %q, event says %q", r.Host, r.URL.Host, host)
	case r.Header.Get("X-Forwarded-Proto") != "https" || r.URL.Scheme != "https":
		t.Fatal("not https")
	case r.ContentLength != int64(len(body)):
		t.Fatalf("content length %d for %d bytes", r.ContentLength, len(body))
	case r.URL.RawQuery != ev.RawQueryString:
		t.Fatalf("query %q, event says %q", r.URL.RawQuery, ev.RawQueryString)
	}
	want := []byte(ev.Body)
	if ev.IsBase64Encoded {
		want, _ = base64.StdEncoding.DecodeString(ev.Body)
	}
	if !bytes.Equal(body, want) {
		t.Fatalf("body %q, event says %q", body, want)
	}
	if ip, _, err := net.SplitHostPort(r.RemoteAddr); err != nil || net.ParseIP(ip) == nil {
		t.Fatalf("remote address %q", r.RemoteAddr)
	}
	if len(ev.Cookies) > 0 && r.Header.Get("Cookie") != strings.Join(ev.Cookies, "; ") {
		t.Fatalf("cookies %q from %q", r.Header.Get("Cookie"), ev.Cookies)
	}
	// Links and OAuth callbacks start with the base URL: https and the host, nothing else.
	base, err := connect.BaseURL(r.Context(), "")
	if err != nil {
		t.Fatalf("no base URL: %v", err)
	}
	u, err := url.Parse(base)
	if err != nil || u.Scheme != "https" || u.Host != strings.TrimRight(host, "/") || u.User != nil || u.Path != "" || u.RawQuery != "" || u.Fragment != "" {
		t.Fatalf("base URL %q from host %q", base, host)
	}
}

func checkResponse(t *testing.T, resp events.APIGatewayV2HTTPResponse, r *http.Request, body []byte) {
	t.Helper()
	status := http.StatusOK
	if s, err := strconv.Atoi(r.Header.Get("X-Status")); err == nil && s >= 200 && s < 500 {
		status = s
	}
	if resp.StatusCode != status {
		t.Fatalf("status %d, handler said %d", resp.StatusCode, status)
	}
	out := []byte(resp.Body)
	if resp.IsBase64Encoded {
		var err error
		if out, err = base64.StdEncoding.DecodeString(resp.Body); err != nil {
			t.Fatalf("response body is not base64: %v", err)
		}
	} else if !utf8.ValidString(resp.Body) {
		t.Fatal("response body is neither UTF-8 nor base64")
	}
	bodyless := status == http.StatusNoContent || status == http.StatusNotModified || r.Method == http.MethodHead || status < 200
	if !bodyless && !bytes.Equal(out, body) {
		t.Fatalf("response body %q, handler wrote %q", out, body)
	}
	if resp.Headers["X-Echo"] != "1, 2" || resp.Headers["Set-Cookie"] != "" {
		t.Fatalf("headers %v", resp.Headers)
	}
	if len(resp.Cookies) != 1 || !strings.HasPrefix(resp.Cookies[0], "seen=") {
		t.Fatalf("cookies %v", resp.Cookies)
	}
}
