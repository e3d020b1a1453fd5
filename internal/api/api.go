// Package api is the admin API's HTTP edge: JSON routes over the admin service, one
// error shape, strict decoding, and the OpenAPI document it is held to. The
// admin-api function serves it behind API Gateway's JWT authorizer; the local server
// mounts the same handler behind its dev-token check.
package api

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/relinkhq/relink/internal/admin"
	"github.com/relinkhq/relink/internal/auth"
	"github.com/relinkhq/relink/internal/relink"
	"github.com/relinkhq/relink/internal/store"
)

// OpenAPI is the API's contract, served at GET /v1/openapi.yaml.
//
//go:embed openapi.yaml
var OpenAPI []byte

// MaxBody bounds a request body.
const MaxBody = 1 << 20

// Handler serves the admin API.
type Handler struct {
	svc    *admin.Service
	logger *slog.Logger
	mux    *http.ServeMux
	routes []string
}

// NewHandler returns the admin API's handler.
func NewHandler(svc *admin.Service, logger *slog.Logger) *Handler {
	if logger == nil {
		logger = slog.Default()
	}
	h := &Handler{svc: svc, logger: logger, mux: http.NewServeMux()}
	h.mux.HandleFunc("GET /v1/openapi.yaml", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/yaml")
		_, _ = w.Write(OpenAPI)
	})
	h.routes = append(h.routes, "GET /v1/openapi.yaml")

	h.route("GET /v1/accounts", h.listAccounts, "state", "channel", "owner_id", "group", "expiring_within_days", "limit", "cursor")
	h.route("GET /v1/accounts/{id}", h.getAccount)
	h.route("GET /v1/accounts/{id}/events", h.events, "limit", "cursor")
	h.route("POST /v1/accounts/{id}/deactivate", h.deactivate)
	h.route("POST /v1/accounts/{id}/activate", h.activate)
	h.route("POST /v1/accounts/{id}/readd", h.readd)
	h.route("POST /v1/accounts/{id}/remind", h.remind)
	h.route("POST /v1/accounts/{id}/transfer", h.transfer)
	h.route("DELETE /v1/accounts/{id}", h.deleteAccount)
	h.route("POST /v1/accounts/{id}/restore", h.restore)
	h.route("POST /v1/accounts/{id}/failures", h.reportFailure)

	h.route("GET /v1/users", h.listUsers)
	h.route("POST /v1/users", h.createUser)
	h.route("GET /v1/users/{id}", h.getUser)
	h.route("PATCH /v1/users/{id}", h.updateUser)
	h.route("GET /v1/users/{id}/preferences", h.getPreferences)
	h.route("PATCH /v1/users/{id}/preferences", h.setPreferences)
	h.route("POST /v1/users/{id}/connect-link", h.connectLink)

	h.route("GET /v1/groups", h.listGroups)
	h.route("POST /v1/groups", h.createGroup)
	h.route("GET /v1/groups/{id}", h.getGroup)
	h.route("PATCH /v1/groups/{id}", h.updateGroup)
	h.route("DELETE /v1/groups/{id}", h.deleteGroup)
	h.route("POST /v1/groups/{id}/accounts", h.addAccounts)
	h.route("DELETE /v1/groups/{id}/accounts/{account_id}", h.removeAccount)

	h.route("POST /v1/invites", h.invite)
	h.route("GET /v1/dashboard", h.dashboard)
	h.route("GET /v1/workspace", h.getWorkspace)
	h.route("PATCH /v1/workspace", h.updateWorkspace)
	return h
}

// Routes lists every route as "METHOD /path", for the contract and template checks.
func (h *Handler) Routes() []string { return slices.Clone(h.routes) }

// call is one request: its context, caller and inputs.
type call struct {
	ctx context.Context
	p   auth.Principal
	r   *http.Request
}

// result is what a route answers: a status and a body (nil for 204).
type result struct {
	status int
	body   any
}

func ok(v any) (result, error)      { return result{status: http.StatusOK, body: v}, nil }
func created(v any) (result, error) { return result{status: http.StatusCreated, body: v}, nil }

// route registers a handler that needs a caller. query lists the query parameters the
// route takes; any other is refused, so a typo never silently widens a listing.
func (h *Handler) route(pattern string, fn func(c call) (result, error), query ...string) {
	h.routes = append(h.routes, pattern)
	h.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		status, p := h.serve(w, r, fn, query)
		h.logger.InfoContext(r.Context(), "api request", "method", r.Method, "route", pattern, "status", status,
			"workspace", p.WorkspaceID, "user", p.UserID, "ms", time.Since(start).Milliseconds())
	})
}

func (h *Handler) serve(w http.ResponseWriter, r *http.Request, fn func(c call) (result, error), query []string) (int, auth.Principal) {
	p, err := auth.Resolve(r.Context(), h.svc.Store)
	if err != nil {
		return h.fail(w, r, err), p
	}
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return h.fail(w, r, relink.Errorf(relink.EINVALID, "The query string is malformed.")), p
	}
	for k := range q {
		if !slices.Contains(query, k) {
			return h.fail(w, r, relink.Invalid(k, "Unknown query parameter %q.", k)), p
		}
	}
	res, err := fn(call{ctx: r.Context(), p: p, r: r})
	if err != nil {
		return h.fail(w, r, err), p
	}
	if res.body == nil {
		w.WriteHeader(res.status)
		return res.status, p
	}
	writeJSON(w, res.status, res.body)
	return res.status, p
}

// ServeHTTP answers every request, unknown routes and methods included, in JSON.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Content-Type-Options", "nosniff")
	r.Body = http.MaxBytesReader(w, r.Body, MaxBody)
	// ServeMux would answer an unclean path ("//", "..") with an HTML redirect; no API
	// route has one, so it is simply not a route.
	if p := r.URL.Path; p != path.Clean(p) && p != path.Clean(p)+"/" {
		h.fail(w, r, relink.Errorf(relink.ENOTFOUND, "There is no API route %s %s.", r.Method, p))
		return
	}
	if _, pattern := h.mux.Handler(r); pattern == "" {
		if allowed := h.allowed(r); len(allowed) > 0 {
			hd.Set("Allow", strings.Join(allowed, ", "))
			h.fail(w, r, relink.Errorf(relink.EMETHOD, "%s is not allowed here; use %s.", r.Method, strings.Join(allowed, " or ")))
			return
		}
		h.fail(w, r, relink.Errorf(relink.ENOTFOUND, "There is no API route %s %s.", r.Method, r.URL.Path))
		return
	}
	h.mux.ServeHTTP(w, r)
}

// Match reports whether r's path belongs to the API (the local server routes by it).
func (h *Handler) Match(r *http.Request) bool { return strings.HasPrefix(r.URL.Path, "/v1/") }

// allowed lists the methods the path does take.
func (h *Handler) allowed(r *http.Request) []string {
	var out []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := h.mux.Handler(probe); pattern != "" {
			out = append(out, m)
		}
	}
	return out
}

// errorBody is the one error shape.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string            `json:"code"`
	Message string            `json:"message"`
	Field   string            `json:"field,omitempty"`
	Readd   *admin.ReaddLinks `json:"readd,omitempty"`
}

// fail writes err as the error shape with its status, and logs our own failures once,
// here. Anything that is not a Relink error is internal, and its text stays in the log.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) int {
	status := relink.HTTPStatus(err)
	d := errorDetail{Code: relink.ErrorCode(err), Message: relink.ErrorMessage(err), Field: relink.ErrorField(err)}
	var re *admin.ReauthError
	if errors.As(err, &re) && re.Readd.ConsentURL != "" {
		d.Readd = &re.Readd
	}
	if status >= 500 {
		h.logger.ErrorContext(r.Context(), "api request failed", "method", r.Method, "route", r.Pattern, "status", status, "err", err)
	}
	writeJSON(w, status, errorBody{Error: d})
	return status
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// decode reads a JSON body strictly: the right content type, at most MaxBody bytes,
// no unknown fields, one value. An empty body reads as {} where the route allows it.
func decode(r *http.Request, into any, emptyOK bool) error {
	body, err := io.ReadAll(r.Body)
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return relink.Errorf(relink.ETOOLARGE, "The request body is over %d bytes.", MaxBody)
	} else if err != nil {
		return relink.Errorf(relink.EINVALID, "The request body could not be read.")
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		if emptyOK {
			return nil
		}
		return relink.Errorf(relink.EINVALID, "A JSON body is required.")
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return relink.Errorf(relink.EMEDIATYPE, "Send the body as application/json.")
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(into); err != nil {
		return decodeError(err)
	}
	if dec.More() {
		return relink.Errorf(relink.EINVALID, "The body holds more than one JSON value.")
	}
	return nil
}

// decodeError names the field a JSON error is about, without echoing the input.
func decodeError(err error) error {
	var typ *json.UnmarshalTypeError
	var syn *json.SyntaxError
	switch {
	case errors.As(err, &typ):
		return relink.Invalid(typ.Field, "%s must be a JSON %s.", fieldName(typ.Field), jsonType(typ.Type.Kind().String()))
	case errors.As(err, &syn):
		return relink.Errorf(relink.EINVALID, "The body is not valid JSON (at byte %d).", syn.Offset)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		f := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return relink.Invalid(f, "Unknown field %q.", f)
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return relink.Errorf(relink.EINVALID, "The body is not valid JSON (it ends too early).")
	}
	return relink.Errorf(relink.EINVALID, "The body is not valid JSON for this route.")
}

func fieldName(f string) string {
	if f == "" {
		return "The body"
	}
	return f
}

func jsonType(kind string) string {
	switch kind {
	case "string":
		return "string"
	case "bool":
		return "boolean"
	case "slice", "array":
		return "array"
	case "map", "struct", "ptr":
		return "object"
	}
	return "number"
}

// intParam reads an optional integer query parameter.
func intParam(q url.Values, name string) (int, error) {
	v := q.Get(name)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, relink.Invalid(name, "%s must be a whole number.", name)
	}
	return n, nil
}

func page(q url.Values) (store.Page, error) {
	limit, err := intParam(q, "limit")
	if err != nil {
		return store.Page{}, err
	}
	if limit < 0 || limit > store.MaxLimit {
		return store.Page{}, relink.Invalid("limit", "limit must be between 1 and %d.", store.MaxLimit)
	}
	return store.Page{Limit: limit, Cursor: q.Get("cursor")}, nil
}
