#!/usr/bin/env python3
"""Writes the sample events in events/: API Gateway (HTTP API, payload 2.0) requests
for connect and admin-api, and EventBridge Scheduler runs for expiry-check and reminders.

The events serve `sam local invoke -e` and the Go tests in functions/ (which drive
every function binary through the Lambda Runtime API with every file). Run it after
changing a route or a schedule: python3 scripts/events.py. Values that the tests
depend on (the link tokens, consent states and invite flow the tests seed, and the test
master secret that the CSRF tokens, session cookies and unsubscribe tokens are derived
from, as the code derives them) are fixed here and in functions/functions_test.go.
"""
import base64
import hashlib
import hmac
import json
import os

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "events")
DOMAIN = "a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com"
TOKEN = "0tRNL1juzJJWOTWGu1Cc951CQBD1MCGkaTBrfRPpVxI"  # events/connect/open-link.json's magic link
CSRF_COOKIE = "events-csrf-cookie-value-0123456789abcdefghij"
MASTER = b"relink-events-master-not-a-secret-0123456789abcdef"  # functions_test.go's eventsMaster; not a secret


def b64url(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def app_key(label):
    """secrets.DeriveAppKeys: HKDF-SHA256 of the master, no salt, the label as info, 32 bytes."""
    prk = hmac.new(b"\0" * 32, MASTER, hashlib.sha256).digest()
    return hmac.new(prk, label.encode() + b"\x01", hashlib.sha256).digest()


SESSION_KEY, UNSUBSCRIBE_KEY = app_key("relink session"), app_key("relink unsubscribe")


def signed(label, data):
    """portal.Signer.mac: HMAC-SHA256 of label, a NUL and data under the session key."""
    return hmac.new(SESSION_KEY, label.encode() + b"\0" + data, hashlib.sha256).digest()


def link_hash(token):
    return hashlib.sha256(token.encode()).hexdigest()


# A session cookie as portal.Signer.Encode makes it. Real sessions last 12 hours at most;
# these end in 2100 so that the files keep working (the tests seed the links they name,
# which the function checks on every request).
SESSION_END = 4102444800


def session(user, token, purpose, workspace="demo"):
    payload = json.dumps({"w": workspace, "u": user, "l": link_hash(token), "p": purpose, "e": SESSION_END},
                         separators=(",", ":")).encode()
    return "__Host-relink-session=" + b64url(payload) + "." + b64url(signed("session", payload))


def unsubscribe_token(user, workspace="demo"):
    """portal.Unsubscriber.Token: the person, and a 16-byte HMAC of them."""
    payload = (workspace + "\0" + user).encode()
    mac = hmac.new(UNSUBSCRIBE_KEY, b"unsubscribe\0" + payload, hashlib.sha256).digest()[:16]
    return b64url(payload) + "." + b64url(mac)


CSRF = b64url(signed("csrf", CSRF_COOKIE.encode()))  # the form token for CSRF_COOKIE
assert CSRF == "MsivAtERffVK8A8uVae9EZuFlb0iEc75R8HQ4WvErjE"

# What functions_test.go seeds for the owner pages (eventsInviteToken, eventsInviteFlow,
# eventsConsent*): Maya's invite link, the invite flow waiting for her code, and pending
# consents of Olivia's, one for each way a channel can send her back with an error.
INVITE_TOKEN = "5v0VraDDzD_0P2uu4Mvv-spuZ8lJ2MVAByeYw5L3Ohs"
INVITE_FLOW = "01JDK7Y4ZQ6M3V5T8W2X9R1B0E"
CONSENT_DENIED = "_K5IMwH7eYxuQR-paWl3dUZzRL9MV_vYS1wcWQ7Ahpo"
CONSENT_REFUSED = "nJClTUWVBrasCIiU87Ayx0LFzt-Om-MZ1UW5BYFexDY"
CONSENT_UNAVAILABLE = "3hO_zXUrpHZtArcV1tuP3LbHnKTwTzgBd36w2MqOy_0"
CONSENT_GARBLED = "C8UTvGRtq1YH-Nn5bHSGsjlI9DX40doFm2R010-oSIk"
OLIVIA = session("u-olivia", TOKEN, "reconnect")
MAYA = session("u-maya", INVITE_TOKEN, "invite")
CSRF_PAIR = f"__Host-relink-csrf={CSRF_COOKIE}"
FORM = {"content-type": "application/x-www-form-urlencoded", "origin": f"https://{DOMAIN}", "sec-fetch-site": "same-origin",
        "cache-control": "max-age=0"}


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

    # Olivia's own page, with the session open-link.json starts.
    "me.json": event("GET", "/me", "/me", cookies=[OLIVIA, CSRF_PAIR]),
    # Maya's invite: the link, the page it leads to, the code page after her consent,
    # a wrong code; and the invite pages reached without an invite.
    "open-invite-link.json": event("GET", "/l/{token}", f"/l/{INVITE_TOKEN}", params={"token": INVITE_TOKEN}),
    "invite.json": event("GET", "/invite", "/invite", cookies=[MAYA, CSRF_PAIR]),
    "invite-with-reconnect-session.json": event("GET", "/invite", "/invite", cookies=[OLIVIA, CSRF_PAIR]),
    "invite-code.json": event("GET", "/invite/code", "/invite/code", f"flow={INVITE_FLOW}", cookies=[MAYA, CSRF_PAIR]),
    "invite-code-unknown-flow.json": event("GET", "/invite/code", "/invite/code", "flow=01JDK7Y4ZQ6M3V5T8W2X9R1B0F",
                                           cookies=[MAYA, CSRF_PAIR]),
    "invite-code-without-session.json": event("GET", "/invite/code", "/invite/code", f"flow={INVITE_FLOW}"),
    "invite-code-wrong.json": event("POST", "/invite/code", "/invite/code", headers=FORM, cookies=[MAYA, CSRF_PAIR],
                                    body=f"csrf={CSRF}&flow={INVITE_FLOW}&code=000+000", b64=True),
    # Asking for a new link by address: the form.
    "new-link-page.json": event("GET", "/link/new", "/link/new"),
    "signout.json": event("POST", "/signout", "/signout", headers=FORM, cookies=[OLIVIA, CSRF_PAIR], body=f"csrf={CSRF}", b64=True),
    "signout-without-csrf.json": event("POST", "/signout", "/signout", headers=FORM, cookies=[OLIVIA], body="", b64=True),
    # The opt-out link of a reminder email: Olivia's, signed as the code signs it; a
    # forged one; and the confirmation.
    "unsubscribe.json": event("GET", "/unsubscribe", "/unsubscribe", "t=" + unsubscribe_token("u-olivia")),
    "unsubscribe-bad-token.json": event("GET", "/unsubscribe", "/unsubscribe",
                                        "t=ZGVtbwB1LW9saXZpYQ.AAAAAAAAAAAAAAAAAAAAAA"),
    "unsubscribe-confirm.json": event("POST", "/unsubscribe", "/unsubscribe", headers=FORM, cookies=[CSRF_PAIR],
                                      body=f"csrf={CSRF}&t={unsubscribe_token('u-olivia')}", b64=True),
    # The channel sends Olivia back with an error, as Facebook does: she declined, the
    # request was refused, Facebook was down, and an error that is not an error code.
    "callback-provider-denied.json": event("GET", "/oauth/callback", "/oauth/callback",
                                           "error=access_denied&error_code=200&error_description=Permissions+error"
                                           f"&error_reason=user_denied&state={CONSENT_DENIED}",
                                           headers={"referer": "https://www.facebook.com/", "sec-fetch-site": "cross-site"},
                                           cookies=[OLIVIA, CSRF_PAIR]),
    "callback-provider-error.json": event("GET", "/oauth/callback", "/oauth/callback",
                                          "error=invalid_scope&error_description=Invalid+Scopes%3A+pages_manage_postz"
                                          f"&state={CONSENT_REFUSED}",
                                          headers={"referer": "https://www.facebook.com/", "sec-fetch-site": "cross-site"},
                                          cookies=[OLIVIA, CSRF_PAIR]),
    "callback-provider-unavailable.json": event("GET", "/oauth/callback", "/oauth/callback",
                                                "error=temporarily_unavailable&error_description=Please+try+again+later"
                                                f"&state={CONSENT_UNAVAILABLE}",
                                                headers={"referer": "https://www.facebook.com/", "sec-fetch-site": "cross-site"},
                                                cookies=[OLIVIA, CSRF_PAIR]),
    "callback-provider-garbled-error.json": event("GET", "/oauth/callback", "/oauth/callback",
                                                  "error=%3Cscript%3Ealert(document.cookie)%3C%2Fscript%3E"
                                                  f"&state={CONSENT_GARBLED}", cookies=[OLIVIA, CSRF_PAIR]),
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


def api(method, route, sub, body=None, query="", workspace="demo", **params):
    """An admin API request by sub of workspace; params fill the route's {names}."""
    path = route
    for k, v in params.items():
        path = path.replace("{" + k + "}", v)
    return event(method, route, path, query, headers=JSON, params=params or None, claims=jwt(sub, workspace),
                 body=None if body is None else json.dumps(body, ensure_ascii=False))


# Who calls, in functions_test.go's seed: Pat the primary admin, Alex an admin, Olivia
# and Rita owners, the publisher a service; Bob is Beta's primary admin.
A = "/v1/accounts/{id}"
ADMIN.update({
    # The audit trail: Olivia reads her own account's, Rita cannot see it, a bad page size.
    "account-events.json": api("GET", A + "/events", "u-olivia", query="limit=20", id="acct-fb-coffee"),
    "account-events-other-owner.json": api("GET", A + "/events", "u-rita", id="acct-fb-coffee"),
    "account-events-bad-limit.json": api("GET", A + "/events", "u-primary", query="limit=5000", id="acct-fb-coffee"),
    # Switching off and on: Bistro off (its group's subscribers hear of it); Tea, off
    # since its token died, cannot come back on without a re-add; Coffee is not off.
    "deactivate.json": api("POST", A + "/deactivate", "u-alex", {"note": "Bistro closed for renovation until March"}, id="acct-fb-bistro"),
    "activate.json": api("POST", A + "/activate", "u-primary", {"note": "Tea room reopened"}, id="acct-fb-tea"),
    "activate-not-deactivated.json": api("POST", A + "/activate", "u-primary", id="acct-fb-coffee"),
    # Re-adding: the consent URL and Olivia's reconnect link; not for a deleted account.
    "readd.json": api("POST", A + "/readd", "u-alex", id="acct-fb-bakery"),
    "readd-deleted.json": api("POST", A + "/readd", "u-alex", id="acct-fb-diner"),
    # Reminding Olivia of the disconnected Bakery now; Coffee needs nothing from her.
    "remind.json": api("POST", A + "/remind", "u-alex", id="acct-fb-bakery"),
    "remind-healthy.json": api("POST", A + "/remind", "u-alex", id="acct-fb-coffee"),
    # Rita hands Juice, and Smoothie under the same Facebook login, to Olivia; bad ones.
    "transfer.json": api("POST", A + "/transfer", "u-alex", {"owner_id": "u-olivia", "with_parent_profile": True,
                                                             "note": "Rita moved to the Rotterdam office"}, id="acct-fb-juice"),
    "transfer-to-service.json": api("POST", A + "/transfer", "u-alex", {"owner_id": "u-publisher"}, id="acct-fb-coffee"),
    "transfer-bad-type.json": api("POST", A + "/transfer", "u-alex", {"owner_id": "u-rita", "with_parent_profile": "yes"}, id="acct-fb-coffee"),
    # Deleting Bagels: only Pat, only with its name typed.
    "delete-account.json": api("DELETE", A, "u-primary", {"confirmation": "Acme Bagels", "note": "Sold the bagel shop"}, id="acct-fb-bagels"),
    "delete-account-without-confirmation.json": api("DELETE", A, "u-primary", id="acct-fb-bagels"),
    "delete-account-wrong-name.json": api("DELETE", A, "u-primary", {"confirmation": "acme bagel"}, id="acct-fb-bagels"),
    "delete-account-as-admin.json": api("DELETE", A, "u-alex", {"confirmation": "Acme Bagels"}, id="acct-fb-bagels"),
    # Restoring Deli, deleted last week; Coffee was never deleted.
    "restore.json": api("POST", A + "/restore", "u-alex", {"note": "Deleted by mistake"}, id="acct-fb-deli"),
    "restore-not-deleted.json": api("POST", A + "/restore", "u-alex", id="acct-fb-coffee"),

    # People.
    "list-users.json": api("GET", "/v1/users", "u-alex"),
    "list-users-as-owner.json": api("GET", "/v1/users", "u-olivia"),
    "get-user-self.json": api("GET", "/v1/users/{id}", "u-olivia", id="u-olivia"),
    "get-user-other-as-owner.json": api("GET", "/v1/users/{id}", "u-olivia", id="u-rita"),
    "update-user.json": api("PATCH", "/v1/users/{id}", "u-primary", {"name": "Rita Okafor", "email": " Rita.Okafor@Acme.example "}, id="u-rita"),
    "update-user-bad-email.json": api("PATCH", "/v1/users/{id}", "u-alex", {"email": "rita at acme"}, id="u-rita"),
    "update-user-promote-as-admin.json": api("PATCH", "/v1/users/{id}", "u-alex", {"role": "admin"}, id="u-rita"),
    "update-user-unknown.json": api("PATCH", "/v1/users/{id}", "u-alex", {"name": "Nobody"}, id="u-nobody"),
    "get-preferences.json": api("GET", "/v1/users/{id}/preferences", "u-olivia", id="u-olivia"),
    "set-preferences.json": api("PATCH", "/v1/users/{id}/preferences", "u-alex", {"notify_trouble": False}, id="u-alex"),
    "set-preferences-other-as-owner.json": api("PATCH", "/v1/users/{id}/preferences", "u-olivia", {"unsubscribed": True}, id="u-rita"),
    # Olivia's personal connect link: to copy, or emailed; services have none.
    "connect-link-copy.json": api("POST", "/v1/users/{id}/connect-link", "u-alex", id="u-olivia"),
    "connect-link-send.json": api("POST", "/v1/users/{id}/connect-link", "u-alex", {"send": True}, id="u-olivia"),
    "connect-link-service.json": api("POST", "/v1/users/{id}/connect-link", "u-alex", {"send": True}, id="u-publisher"),

    # Account groups.
    "list-groups.json": api("GET", "/v1/groups", "u-alex"),
    "create-group.json": api("POST", "/v1/groups", "u-alex", {"name": "Bakeries", "subscribers": ["u-alex", "u-olivia"],
                                                              "account_ids": ["acct-fb-bakery"]}),
    "create-group-service-subscriber.json": api("POST", "/v1/groups", "u-alex", {"name": "Publishing", "subscribers": ["u-publisher"]}),
    "update-group.json": api("PATCH", "/v1/groups/{id}", "u-alex", {"name": "Cafés & tea rooms", "subscribers": ["u-alex", "u-primary"]},
                             id="grp-cafes"),
    "group-add-accounts.json": api("POST", "/v1/groups/{id}/accounts", "u-alex", {"account_ids": ["acct-fb-tea", "acct-fb-coffee"]},
                                   id="grp-cafes"),
    "group-add-unknown-account.json": api("POST", "/v1/groups/{id}/accounts", "u-alex", {"account_ids": ["acct-fb-nope"]}, id="grp-cafes"),
    "group-remove-account.json": api("DELETE", "/v1/groups/{id}/accounts/{account_id}", "u-alex", id="grp-cafes", account_id="acct-fb-bakery"),
    "group-remove-account-not-member.json": api("DELETE", "/v1/groups/{id}/accounts/{account_id}", "u-alex", id="grp-cafes",
                                                account_id="acct-fb-juice"),
    "group-foreign-workspace.json": api("GET", "/v1/groups/{id}", "u-bob", workspace="beta", id="grp-cafes"),
    "delete-group.json": api("DELETE", "/v1/groups/{id}", "u-alex", id="grp-old"),

    # Invites: Maya is new, Olivia is not; a channel that does not exist.
    "invite.json": api("POST", "/v1/invites", "u-alex", {
        "emails": ["maya.baker@acme.example", "Olivia.Owner@acme.example"], "channels": ["facebook", "instagram"],
        "message": "Hi both: please connect the bakery's Facebook Page and Instagram so the spring campaign can go out."}),
    "invite-unknown-channel.json": api("POST", "/v1/invites", "u-alex", {"emails": ["maya.baker@acme.example"], "channels": ["myspace"]}),
    "invite-as-service.json": api("POST", "/v1/invites", "u-publisher", {"emails": ["maya.baker@acme.example"]}),

    # Settings: anyone reads them, admins change them, within bounds.
    "get-settings.json": api("GET", "/v1/workspace", "u-olivia"),
    "update-settings.json": api("PATCH", "/v1/workspace", "u-alex", {"settings": {
        "time_zone": "Europe/Amsterdam", "warning_window_days": 14, "reminder_policy": "series",
        "series_first_gap_days": 2, "series_interval_days": 3, "series_repeats": 5}}),
    "update-settings-invalid.json": api("PATCH", "/v1/workspace", "u-alex", {"settings": {"time_zone": "Mars/Olympus_Mons"}}),
    "update-settings-as-owner.json": api("PATCH", "/v1/workspace", "u-olivia", {"settings": {"warning_window_days": 60}}),

    # The publisher, a service: reads accounts, is not an admin.
    "service-list-accounts.json": api("GET", "/v1/accounts", "u-publisher", query="channel=facebook&owner_id=u-olivia&limit=50"),
    "service-dashboard.json": api("GET", "/v1/dashboard", "u-publisher"),

    # Claims that name no one: a token without the workspace claim, or another's.
    "claims-without-workspace.json": event("GET", "/v1/accounts", "/v1/accounts", headers=JSON,
                                           claims={k: v for k, v in jwt("u-primary").items() if k != "workspace"}),
    "claims-unknown-workspace.json": api("GET", "/v1/accounts", "u-primary", workspace="gamma"),
})

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
