// Package apigw serves an http.Handler behind API Gateway HTTP APIs (payload format
// 2.0): it turns the Lambda event into a net/http request and the handler's answer into
// the response event. Handlers stay plain net/http, so the local server mounts the very
// same ones.
//
// Why not aws-lambda-go-api-proxy: it splits every non-singleton header on commas
// (breaking values such as User-Agent or Sec-CH-UA), answers a malformed event with a
// 504, logs through the standard logger, and pulls half a dozen web frameworks into
// go.sum. The conversion is small enough to own.
package apigw

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime/debug"
	"strings"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"

	"github.com/relinkhq/relink/internal/auth"
	"github.com/relinkhq/relink/internal/connect"
)

// Adapter answers API Gateway events with an http.Handler.
type Adapter struct {
	Handler http.Handler
	// Context, if set, enriches each request's context from its event (the admin API
	// puts the caller's verified JWT claims there).
	Context func(ctx context.Context, ev events.APIGatewayV2HTTPRequest) context.Context
	Logger  *slog.Logger
}

// Serve is the Lambda handler. It never returns an error: Lambda would turn one into
// a bare 502, so even a malformed event gets a proper response.
func (a *Adapter) Serve(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	if a.Context != nil {
		ctx = a.Context(ctx, ev)
	}
	req, err := Request(ctx, ev)
	if err != nil {
		if a.Logger != nil {
			a.Logger.WarnContext(ctx, "malformed API Gateway event", "route", ev.RouteKey, "err", err)
		}
		return errorResponse(http.StatusBadRequest, "invalid", "The request could not be read."), nil
	}
	return a.serve(ctx, req, ev.RouteKey), nil
}

// serve runs the handler; a panic (a bug) becomes a 500 and one log line, and the
// instance stays warm for the next request.
func (a *Adapter) serve(ctx context.Context, req *http.Request, route string) (resp events.APIGatewayV2HTTPResponse) {
	defer func() {
		if p := recover(); p != nil {
			if a.Logger != nil {
				a.Logger.ErrorContext(ctx, "handler panicked", "route", route, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			}
			resp = errorResponse(http.StatusInternalServerError, "internal", "An internal error occurred.")
		}
	}()
	rec := httptest.NewRecorder()
	a.Handler.ServeHTTP(rec, req)
	return Response(rec.Result().StatusCode, rec.Header(), rec.Body.Bytes())
}

type badEvent string

func (e badEvent) Error() string { return string(e) }

// Request turns an event into the request it describes.
func Request(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (*http.Request, error) {
	method := ev.RequestContext.HTTP.Method
	if method == "" || strings.ContainsAny(method, " \t\r\n") {
		return nil, badEvent("event has no HTTP method")
	}
	path := ev.RawPath
	if path == "" {
		path = ev.RequestContext.HTTP.Path
	}
	if !strings.HasPrefix(path, "/") {
		return nil, badEvent("event path is not absolute")
	}
	host := ev.RequestContext.DomainName
	if host == "" {
		host = ev.Headers["host"]
	}
	if host == "" {
		host = "localhost"
	}
	u, err := url.Parse("https://" + host + path)
	if err != nil || u.Host != host {
		return nil, badEvent("event path or host is malformed")
	}
	u.RawQuery = ev.RawQueryString

	body := []byte(ev.Body)
	if ev.IsBase64Encoded {
		if body, err = base64.StdEncoding.DecodeString(ev.Body); err != nil {
			return nil, badEvent("event body is not valid base64")
		}
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), bytes.NewReader(body))
	if err != nil {
		return nil, badEvent("event does not make a valid request")
	}
	// API Gateway lower-cases header names and joins repeated headers with commas,
	// which is what HTTP means by them; they are taken as they come.
	for k, v := range ev.Headers {
		req.Header.Set(k, v)
	}
	if len(ev.Cookies) > 0 {
		req.Header.Set("Cookie", strings.Join(ev.Cookies, "; "))
	}
	req.Host = host
	req.ContentLength = int64(len(body))
	req.RequestURI = u.RequestURI()
	ip := ev.RequestContext.HTTP.SourceIP
	if net.ParseIP(ip) == nil {
		ip = "0.0.0.0"
	}
	req.RemoteAddr = net.JoinHostPort(ip, "0")
	req.Header.Set("X-Forwarded-Proto", "https") // API Gateway only speaks HTTPS
	// Links and OAuth callbacks point at the domain the request arrived on, which API
	// Gateway sets (the client's Host header cannot move them elsewhere).
	return req.WithContext(connect.WithBaseURL(req.Context(), "https://"+host)), nil
}

// JWTClaims returns a Context hook that hands the handler the claims API Gateway's JWT
// authorizer verified, the workspace read from the named claim.
func JWTClaims(workspaceClaim string) func(context.Context, events.APIGatewayV2HTTPRequest) context.Context {
	return func(ctx context.Context, ev events.APIGatewayV2HTTPRequest) context.Context {
		if a := ev.RequestContext.Authorizer; a != nil && a.JWT != nil {
			if c, ok := auth.FromJWTClaims(a.JWT.Claims, workspaceClaim); ok {
				return auth.WithClaims(ctx, c)
			}
		}
		return ctx
	}
}

// Response turns a handler's answer into the response event. Set-Cookie headers go to
// Cookies (payload 2.0 carries them apart); a body that is not text goes base64.
func Response(status int, header http.Header, body []byte) events.APIGatewayV2HTTPResponse {
	out := events.APIGatewayV2HTTPResponse{StatusCode: status, Headers: map[string]string{}}
	for k, vs := range header {
		if strings.EqualFold(k, "Set-Cookie") {
			out.Cookies = append(out.Cookies, vs...)
			continue
		}
		out.Headers[k] = strings.Join(vs, ", ")
	}
	if textual(header.Get("Content-Type")) && utf8.Valid(body) {
		out.Body = string(body)
	} else if len(body) > 0 {
		out.Body, out.IsBase64Encoded = base64.StdEncoding.EncodeToString(body), true
	}
	return out
}

func textual(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return contentType == ""
	}
	return strings.HasPrefix(mt, "text/") || mt == "application/json" || strings.HasSuffix(mt, "+json") ||
		mt == "application/xml" || mt == "application/yaml" || mt == "image/svg+xml"
}

func errorResponse(status int, code, message string) events.APIGatewayV2HTTPResponse {
	body := `{"error":{"code":"` + code + `","message":"` + message + `"}}`
	return events.APIGatewayV2HTTPResponse{StatusCode: status, Body: body,
		Headers: map[string]string{"Content-Type": "application/json", "Cache-Control": "no-store"}}
}
