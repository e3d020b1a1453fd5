#!/usr/bin/env python3
"""Writes the sample events in events/: API Gateway (HTTP API, payload 2.0) requests
for connect and admin-api, and EventBridge Scheduler runs for expiry-check and reminders.

The events serve `sam local invoke -e` and the Go tests in functions/ (which drive
every function binary through the Lambda Runtime API with every file). Run it after
changing a route or a schedule: python3 scripts/events.py. Values that the tests
depend on (the link token, the CSRF token derived from the test master secret) are
fixed here.
"""
import base64
import json
import os

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "events")
DOMAIN = "a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com"
TOKEN = "0tRNL1juzJJWOTWGu1Cc951CQBD1MCGkaTBrfRPpVxI"  # events/connect/open-link.json's magic link
CSRF_COOKIE = "events-csrf-cookie-value-0123456789abcdefghij"
CSRF = "MsivAtERffVK8A8uVae9EZuFlb0iEc75R8HQ4WvErjE"  # HMAC of CSRF_COOKIE under the test master's session key


def event(method, route, path, query="", headers=None, cookies=None, body=None, b64=False, params=None,
          ip="198.51.100.23", claims=None):
    h = {"accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
         "accept-encoding": "gzip, deflate, br", "accept-language": "en-GB,en;q=0.9", "host": DOMAIN,
         "user-agent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36",
         "x-amzn-trace-id": "Root=1-674f1c2a-3b0f1e2d4c5a6b7c8d9e0f1a", "x-forwarded-for": ip, "x-forwarded-port": "443",
         "x-forwarded-proto": "https"}
    if headers:
        h.update(headers)
    e = {"version": "2.0", "routeKey": f"{method} {route}", "rawPath": path, "rawQueryString": query}
    if cookies:
        e["cookies"] = cookies
    e["headers"] = h
    if query:
        e["queryStringParameters"] = {k: v for k, _, v in (p.partition("=") for p in query.split("&"))}
    if params:
        e["pathParameters"] = params
    ctx = {"accountId": "123456789012", "apiId": "a1b2c3d4e5", "domainName": DOMAIN, "domainPrefix": "a1b2c3d4e5",
           "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": ip, "userAgent": h["user-agent"]},
           "requestId": "Cxq2Zg8-joEEMnA=", "routeKey": f"{method} {route}", "stage": "$default",
           "time": "23/Nov/2026:09:00:00 +0000", "timeEpoch": 1795338000000}
    if claims is not None:
        ctx["authorizer"] = {"jwt": {"claims": claims, "scopes": None}}
    e["requestContext"] = ctx
    if body is not None:
        e["body"] = base64.b64encode(body.encode()).decode() if b64 else body
    e["isBase64Encoded"] = b64
    return e


def jwt(sub, workspace="demo"):
    """Claims as API Gateway's JWT authorizer passes them on: all strings."""
    return {"sub": sub, "workspace": workspace, "iss": "https://auth.relink.example/", "aud": "relink-api",
            "iat": "1795337000", "exp": "1795340600", "scope": "openid"}


JSON = {"content-type": "application/json", "accept": "application/json"}

CONNECT = {
    "open-link.json": event("GET", "/l/{token}", f"/l/{TOKEN}", params={"token": TOKEN}),
    "open-link-unknown.json": event("GET", "/l/{token}", "/l/" + "A" * 43, params={"token": "A" * 43}),
    "open-link-malformed.json": event("GET", "/l/{token}", "/l/%3Cscript%3E", params={"token": "<script>"}),
    "me-without-session.json": event("GET", "/me", "/me"),
    "me-forged-session.json": event("GET", "/me", "/me", cookies=["__Host-relink-session=eyJ3IjoiZGVtbyIsInUiOiJ1LW9saXZpYSJ9.Zm9yZ2Vk"]),
    "callback-forged-state.json": event("GET", "/oauth/callback", "/oauth/callback",
                                        "state=bm90LWEtcmVhbC1zdGF0ZS1ub3QtYS1yZWFsLXN0YXRl&code=4%2F0AeanS0a"),
    "callback-denied-unknown-state.json": event("GET", "/oauth/callback", "/oauth/callback",
                                                "error=access_denied&error_description=The+user+denied&state=" + "A" * 43),
    "request-link.json": event("POST", "/link/new", "/link/new",
                               headers={"content-type": "application/x-www-form-urlencoded", "origin": f"https://{DOMAIN}", "sec-fetch-site": "same-origin"},
                               cookies=[f"__Host-relink-csrf={CSRF_COOKIE}"], body=f"csrf={CSRF}&email=olivia.owner%40acme.example", b64=True),
    "request-link-without-csrf.json": event("POST", "/link/new", "/link/new",
                                            headers={"content-type": "application/x-www-form-urlencoded", "origin": f"https://{DOMAIN}", "sec-fetch-site": "same-origin"},
                                            body="email=olivia.owner%40acme.example", b64=True),
    "request-link-cross-site.json": event("POST", "/link/new", "/link/new",
                                          headers={"content-type": "application/x-www-form-urlencoded", "origin": "https://evil.example", "sec-fetch-site": "cross-site"},
                                          cookies=[f"__Host-relink-csrf={CSRF_COOKIE}"], body=f"csrf={CSRF}&email=olivia.owner%40acme.example", b64=True),
    "stylesheet.json": event("GET", "/assets/portal.css", "/assets/portal.css", headers={"accept": "text/css,*/*;q=0.1"}),
    "unknown-path.json": event("GET", "$default", "/wp-admin/install.php"),
}

ADMIN = {
    "openapi.json": event("GET", "/v1/openapi.yaml", "/v1/openapi.yaml", headers={"accept": "application/yaml"}),
    "list-accounts.json": event("GET", "/v1/accounts", "/v1/accounts", "state=disconnected&limit=10", headers=JSON, claims=jwt("u-primary")),
    "get-account.json": event("GET", "/v1/accounts/{id}", "/v1/accounts/acct-fb-coffee", headers=JSON, params={"id": "acct-fb-coffee"}, claims=jwt("u-primary")),
    "get-account-foreign-workspace.json": event("GET", "/v1/accounts/{id}", "/v1/accounts/acct-fb-coffee", headers=JSON,
                                                params={"id": "acct-fb-coffee"}, claims=jwt("u-bob", "beta")),
    "report-failure.json": event("POST", "/v1/accounts/{id}/failures", "/v1/accounts/acct-fb-coffee/failures", headers=JSON,
                                 params={"id": "acct-fb-coffee"}, claims=jwt("u-publisher"),
                                 body=json.dumps({"http_status": 400, "body": {"error": {"message": "Error validating access token: The session has been invalidated because the user changed their password.",
                                                                                         "type": "OAuthException", "code": 190, "error_subcode": 460, "fbtrace_id": "A1b2C3"}}})),
    "deactivate-as-owner.json": event("POST", "/v1/accounts/{id}/deactivate", "/v1/accounts/acct-fb-coffee/deactivate", headers=JSON,
                                      params={"id": "acct-fb-coffee"}, claims=jwt("u-olivia"), body='{"note":"not mine to switch off"}'),
    "create-user.json": event("POST", "/v1/users", "/v1/users", headers=JSON, claims=jwt("u-primary"),
                              body=json.dumps({"email": "nora.owner@acme.example", "name": "Nora Owner", "role": "owner"})),
    "create-user-unknown-field.json": event("POST", "/v1/users", "/v1/users", headers=JSON, claims=jwt("u-primary"),
                                            body='{"email":"x@acme.example","role":"owner","admin":true}'),
    "create-user-bad-json.json": event("POST", "/v1/users", "/v1/users", headers=JSON, claims=jwt("u-primary"), body='{"email":'),
    "create-user-wrong-content-type.json": event("POST", "/v1/users", "/v1/users", headers={"content-type": "text/plain"},
                                                 claims=jwt("u-primary"), body='{"email":"x@acme.example","role":"owner"}'),
    "dashboard.json": event("GET", "/v1/dashboard", "/v1/dashboard", headers=JSON, claims=jwt("u-primary")),
    "no-claims.json": event("GET", "/v1/accounts", "/v1/accounts", headers=JSON),
    "unknown-user.json": event("GET", "/v1/accounts", "/v1/accounts", headers=JSON, claims=jwt("u-nobody")),
    "malformed-cursor.json": event("GET", "/v1/accounts", "/v1/accounts", "cursor=not-a-cursor", headers=JSON, claims=jwt("u-primary")),
    "wrong-method.json": event("PUT", "$default", "/v1/accounts/acct-fb-coffee", headers=JSON, claims=jwt("u-primary"), body="{}"),
}

MALFORMED = {"version": "2.0", "routeKey": "$default", "rawPath": "/me", "requestContext": {"http": {"path": "/me"}},
             "isBase64Encoded": True, "body": "%%%"}


def scheduled(function, time="2026-11-23T09:00:00Z", execution_id="d32c5kddcf5bb8c3", attempt="1"):
    """What a ScheduleV2 event of template.yaml delivers: its Input, an EventBridge
    "Scheduled Event" filled in from Scheduler's context attributes (execution ID,
    scheduled time, schedule ARN, attempt number)."""
    return {"version": "0", "id": execution_id, "detail-type": "Scheduled Event", "source": "aws.scheduler",
            "account": "123456789012", "time": time, "region": "eu-west-1",
            "resources": [f"arn:aws:scheduler:eu-west-1:123456789012:schedule/default/relink-prod-{function}"],
            "detail": {"attempt": attempt}}


SCHEDULED = {
    "expiry-check": scheduled("expiry-check"),
    "reminders": scheduled("reminders", time="2026-11-23T09:15:00Z", execution_id="7be1a94f0c2d3e58"),
}

# The scheduled functions ignore their event: any JSON starts a run, so these, which
# are no Scheduled Event at all, must run like scheduled.json does.
MALFORMED_SCHEDULED = {
    "expiry-check": "rate(1 hour)",  # a JSON string
    "reminders": [{"detail-type": 15, "time": None}],  # a JSON array
}


def write(folder, events):
    os.makedirs(os.path.join(ROOT, folder), exist_ok=True)
    for name, e in events.items():
        with open(os.path.join(ROOT, folder, name), "w") as f:
            json.dump(e, f, indent=2)
            f.write("\n")


if __name__ == "__main__":
    write("connect", dict(CONNECT, **{"malformed-event.json": MALFORMED}))
    write("admin-api", dict(ADMIN, **{"malformed-event.json": MALFORMED}))
    for fn in ("expiry-check", "reminders"):
        write(fn, {"scheduled.json": SCHEDULED[fn], "malformed-event.json": MALFORMED_SCHEDULED[fn]})
