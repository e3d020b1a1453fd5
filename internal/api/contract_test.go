package api

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// TestRoutesMatchTheDocument: a route in code but not in openapi.yaml, or the other
// way round, fails.
func TestRoutesMatchTheDocument(t *testing.T) {
	var doc struct {
		Paths map[string]map[string]any `yaml:"paths"`
	}
	if err := yaml.Unmarshal(OpenAPI, &doc); err != nil {
		t.Fatal(err)
	}
	var documented []string
	for path, ops := range doc.Paths {
		for method := range ops {
			if method == "parameters" {
				continue
			}
			documented = append(documented, strings.ToUpper(method)+" "+path)
		}
	}
	e := newEnv(t, boltStore)
	code := e.handler.Routes()
	slices.Sort(documented)
	slices.Sort(code)
	for _, r := range code {
		if !slices.Contains(documented, r) {
			t.Errorf("route %s is served but not in openapi.yaml", r)
		}
	}
	for _, r := range documented {
		if !slices.Contains(code, r) {
			t.Errorf("route %s is in openapi.yaml but not served", r)
		}
	}
	if len(code) < 30 {
		t.Fatalf("only %d routes", len(code))
	}
	// The document itself is served, without a token.
	got := e.call("", http.MethodGet, "/v1/openapi.yaml", nil)
	if got.status != 200 || !strings.HasPrefix(string(got.body), "openapi: 3") {
		t.Fatalf("document route: %d", got.status)
	}
}

// TestProtocol: every kind of bad request gets a clear 4xx in the one error shape,
// never a 500, and changes nothing.
func TestProtocol(t *testing.T) {
	f := newFixture(t)
	tok := f.tokenOf(primary)
	before := f.version(f.brand)
	for _, tc := range []struct {
		name, method, path string
		body               any
		contentType        string
		status             int
		code, field        string
	}{
		{"unknown field", "POST", "/v1/accounts/{brand}/deactivate", `{"note":"x","force":true}`, "", 400, "invalid", "force"},
		{"wrong type", "POST", "/v1/accounts/{brand}/transfer", `{"owner_id":42}`, "", 400, "invalid", "owner_id"},
		{"not JSON", "POST", "/v1/accounts/{brand}/transfer", `{"owner_id":`, "", 400, "invalid", ""},
		{"two values", "POST", "/v1/accounts/{brand}/deactivate", `{} {}`, "", 400, "invalid", ""},
		{"array body", "POST", "/v1/accounts/{brand}/transfer", `[1,2]`, "", 400, "invalid", ""},
		{"wrong content type", "POST", "/v1/accounts/{brand}/deactivate", `{"note":"x"}`, "text/plain", 415, "unsupported_media_type", ""},
		{"form content type", "POST", "/v1/accounts/{brand}/deactivate", `note=x`, "application/x-www-form-urlencoded", 415, "unsupported_media_type", ""},
		{"oversize body", "POST", "/v1/accounts/{brand}/deactivate", `{"note":"` + strings.Repeat("a", MaxBody) + `"}`, "", 413, "too_large", ""},
		{"missing body", "POST", "/v1/accounts/{brand}/transfer", nil, "", 400, "invalid", ""},
		{"malformed query string", "GET", "/v1/accounts?cursor=%%%", nil, "", 400, "invalid", ""},
		{"malformed cursor", "GET", "/v1/accounts?cursor=not-a-cursor", nil, "", 400, "invalid", "cursor"},
		{"tampered cursor", "GET", "/v1/accounts?cursor=AQAAAAAAAAAAAAAAAAAAAAAA", nil, "", 400, "invalid", "cursor"},
		{"limit too big", "GET", "/v1/accounts?limit=5000", nil, "", 400, "invalid", "limit"},
		{"limit not a number", "GET", "/v1/accounts?limit=ten", nil, "", 400, "invalid", "limit"},
		{"unknown query parameter", "GET", "/v1/accounts?staet=active", nil, "", 400, "invalid", "staet"},
		{"unknown channel", "GET", "/v1/accounts?channel=myspace", nil, "", 400, "invalid", "channel"},
		{"unknown route", "GET", "/v1/nothing", nil, "", 404, "not_found", ""},
		{"wrong method", "PUT", "/v1/accounts/{brand}", nil, "", 405, "method_not_allowed", ""},
		{"unknown account", "GET", "/v1/accounts/nope", nil, "", 404, "not_found", ""},
		{"no token", "GET", "/v1/accounts", nil, "none", 401, "unauthorized", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var raw []byte
			switch b := tc.body.(type) {
			case string:
				raw = []byte(b)
			}
			req, _ := http.NewRequest(tc.method, f.api.URL+ids(f.fixture(), tc.path), nil)
			if raw != nil {
				req, _ = http.NewRequest(tc.method, f.api.URL+ids(f.fixture(), tc.path), strings.NewReader(string(raw)))
				ct := tc.contentType
				if ct == "" {
					ct = "application/json"
				}
				req.Header.Set("Content-Type", ct)
			}
			if tc.contentType != "none" {
				req.Header.Set("Authorization", "Bearer "+tok)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			a := readAnswer(t, resp)
			code, field := a.errorCode()
			if a.status != tc.status || code != tc.code || field != tc.field {
				t.Fatalf("%d %s field %q, want %d %s field %q\n%s", a.status, code, field, tc.status, tc.code, tc.field, a.body)
			}
			if a.header.Get("Content-Type") != "application/json" {
				t.Fatalf("content type %q", a.header.Get("Content-Type"))
			}
		})
	}
	if f.version(f.brand) != before {
		t.Fatal("a refused request changed the account")
	}
	if strings.Contains(f.logs.String(), `"level":"ERROR"`) {
		t.Fatalf("a bad request was logged as our failure:\n%s", f.logs.String())
	}
}
