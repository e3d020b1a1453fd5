package apigw

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
)

func event(method, path, query string) events.APIGatewayV2HTTPRequest {
	ev := events.APIGatewayV2HTTPRequest{Version: "2.0", RouteKey: "$default", RawPath: path, RawQueryString: query,
		Headers: map[string]string{"user-agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko)", "accept": "text/html"}}
	ev.RequestContext.DomainName = "abc123.execute-api.eu-west-1.amazonaws.com"
	ev.RequestContext.HTTP.Method = method
	ev.RequestContext.HTTP.Path = path
	ev.RequestContext.HTTP.SourceIP = "203.0.113.7"
	return ev
}

func TestRequestAndResponse(t *testing.T) {
	var got *http.Request
	var body []byte
	a := &Adapter{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, body = r, must(io.ReadAll(r.Body))
		http.SetCookie(w, &http.Cookie{Name: "a", Value: "1", HttpOnly: true})
		http.SetCookie(w, &http.Cookie{Name: "b", Value: "2"})
		w.Header().Add("Vary", "Cookie")
		w.Header().Add("Vary", "Accept")
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusCreated)
		w.Write([]byte("<p>héllo</p>"))
	})}
	ev := event(http.MethodPost, "/me/reconnect", "a=1&b=x%20y")
	ev.Cookies = []string{"__Host-s=abc", "c=d"}
	ev.Headers["content-type"] = "application/x-www-form-urlencoded"
	ev.Body, ev.IsBase64Encoded = base64.StdEncoding.EncodeToString([]byte("account=acct-1")), true
	resp, err := a.Serve(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	if got.Method != http.MethodPost || got.URL.Path != "/me/reconnect" || got.URL.Query().Get("b") != "x y" || got.Host != ev.RequestContext.DomainName {
		t.Fatalf("request %s %s host %s", got.Method, got.URL, got.Host)
	}
	if string(body) != "account=acct-1" || got.ContentLength != int64(len(body)) {
		t.Fatalf("body %q", body)
	}
	if c, err := got.Cookie("__Host-s"); err != nil || c.Value != "abc" {
		t.Fatalf("cookie: %v", err)
	}
	if ua := got.Header.Get("User-Agent"); !strings.Contains(ua, "(KHTML, like Gecko)") {
		t.Fatalf("a header with commas was split: %q", ua)
	}
	if got.RemoteAddr != "203.0.113.7:0" || got.Header.Get("X-Forwarded-Proto") != "https" {
		t.Fatalf("remote %q proto %q", got.RemoteAddr, got.Header.Get("X-Forwarded-Proto"))
	}
	if resp.StatusCode != http.StatusCreated || resp.Body != "<p>héllo</p>" || resp.IsBase64Encoded {
		t.Fatalf("response %+v", resp)
	}
	if len(resp.Cookies) != 2 || !strings.HasPrefix(resp.Cookies[0], "a=1") || resp.Headers["Set-Cookie"] != "" {
		t.Fatalf("cookies %v headers %v", resp.Cookies, resp.Headers)
	}
	if resp.Headers["Vary"] != "Cookie, Accept" {
		t.Fatalf("Vary %q", resp.Headers["Vary"])
	}
}

func TestBinaryBodyGoesBase64(t *testing.T) {
	png := []byte{0x89, 'P', 'N', 'G', 0, 0xff}
	a := &Adapter{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/png")
		w.Write(png)
	})}
	resp, _ := a.Serve(context.Background(), event(http.MethodGet, "/x.png", ""))
	if !resp.IsBase64Encoded || resp.Body != base64.StdEncoding.EncodeToString(png) {
		t.Fatalf("%+v", resp)
	}
}

func TestMalformedEventsAnswer400(t *testing.T) {
	called := false
	var logs bytes.Buffer
	a := &Adapter{Handler: http.HandlerFunc(func(http.ResponseWriter, *http.Request) { called = true }),
		Logger: slog.New(slog.NewJSONHandler(&logs, nil))}
	bad := []events.APIGatewayV2HTTPRequest{
		{},                                    // nothing at all
		event("", "/me", ""),                  // no method
		event("GET", "me", ""),                // relative path
		event("GET", "/me", ""),               // (made bad below: base64)
		event("GET /x HTTP/1.1\r\n", "/", ""), // injected method
	}
	bad[3].Body, bad[3].IsBase64Encoded = "%%%not base64", true
	bad = append(bad, func() events.APIGatewayV2HTTPRequest {
		e := event("GET", "/", "")
		e.RequestContext.DomainName = "a b"
		return e
	}())
	for i, ev := range bad {
		resp, err := a.Serve(context.Background(), ev)
		var body struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		if err != nil || resp.StatusCode != http.StatusBadRequest || json.Unmarshal([]byte(resp.Body), &body) != nil || body.Error.Code != "invalid" {
			t.Errorf("event %d: %+v %v", i, resp, err)
		}
	}
	if called {
		t.Fatal("a malformed event reached the handler")
	}
}

func TestPanicBecomes500(t *testing.T) {
	var logs bytes.Buffer
	a := &Adapter{Handler: http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom at secret-route") }),
		Logger: slog.New(slog.NewJSONHandler(&logs, nil))}
	resp, err := a.Serve(context.Background(), event(http.MethodGet, "/me", ""))
	if err != nil || resp.StatusCode != http.StatusInternalServerError || strings.Contains(resp.Body, "boom") {
		t.Fatalf("%+v %v", resp, err)
	}
	if !strings.Contains(logs.String(), "handler panicked") {
		t.Fatalf("panic not logged: %s", logs.String())
	}
}

func TestContextHook(t *testing.T) {
	type key struct{}
	a := &Adapter{
		Context: func(ctx context.Context, ev events.APIGatewayV2HTTPRequest) context.Context {
			return context.WithValue(ctx, key{}, ev.RequestContext.HTTP.SourceIP)
		},
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte(r.Context().Value(key{}).(string)))
		}),
	}
	resp, _ := a.Serve(context.Background(), event(http.MethodGet, "/", ""))
	if resp.Body != "203.0.113.7" {
		t.Fatalf("%q", resp.Body)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
