package connect

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/relinkhq/relink/internal/account"
	"github.com/relinkhq/relink/internal/channel"
	"github.com/relinkhq/relink/internal/relink"
)

// linkedInAPI answers like LinkedIn's versioned REST API (channels.md §4): the
// organizationAcls roleAssignee finder, paged by start/count, and the organizations
// batch lookup. acls are the member's ACL rows; names the organizations' names.
type linkedInAPI struct {
	t       *testing.T
	fails   map[string]answer
	acls    []map[string]any
	names   map[string]string
	aclGets atomic.Int32
	orgGets atomic.Int32
}

func (l *linkedInAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if a, ok := failure(l.fails, r.URL.Path); ok {
		a.write(w)
		return
	}
	if r.Header.Get("LinkedIn-Version") != DefaultLinkedInVersion || r.Header.Get("X-Restli-Protocol-Version") != "2.0.0" {
		l.t.Errorf("%s without LinkedIn's headers: %v", r.URL.Path, r.Header)
	}
	if !bearer(l.t, w, r, "li-access") {
		return
	}
	q := r.URL.Query()
	switch r.URL.Path {
	case "/rest/organizationAcls":
		l.aclGets.Add(1)
		if q.Get("q") != "roleAssignee" || q.Get("role") != "ADMINISTRATOR" || q.Get("state") != "APPROVED" || q.Get("count") != "100" {
			l.t.Errorf("organizationAcls with %v", q)
		}
		start, _ := strconv.Atoi(q.Get("start"))
		end := min(start+100, len(l.acls))
		writeJSON(w, 200, map[string]any{"elements": l.acls[min(start, end):end],
			"paging": map[string]any{"count": 100, "start": start, "total": len(l.acls), "links": []any{}}})
	case "/rest/organizations":
		l.orgGets.Add(1)
		list, ok := strings.CutPrefix(r.URL.RawQuery, "ids=List(")
		if !ok || !strings.HasSuffix(list, ")") {
			l.t.Errorf("organizations batch lookup with %q", r.URL.RawQuery)
			writeJSON(w, 400, map[string]any{"status": 400, "message": "bad ids"})
			return
		}
		results, statuses, errs := map[string]any{}, map[string]any{}, map[string]any{}
		for _, id := range strings.Split(strings.TrimSuffix(list, ")"), ",") {
			name, known := l.names[id]
			if !known {
				statuses[id] = 404
				errs[id] = map[string]any{"status": 404, "message": "Not found"}
				continue
			}
			n, _ := strconv.Atoi(id)
			results[id] = map[string]any{"id": n, "localizedName": name, "vanityName": strings.ToLower(strings.ReplaceAll(name, " ", "-")),
				"name": map[string]any{"localized": map[string]any{"en_US": name}, "preferredLocale": map[string]any{"country": "US", "language": "en"}}}
			statuses[id] = 200
		}
		writeJSON(w, 200, map[string]any{"results": results, "statuses": statuses, "errors": errs})
	default:
		http.NotFound(w, r)
	}
}

func linkedInACL(org, role, state string) map[string]any {
	return map[string]any{"organization": org, "roleAssignee": "urn:li:person:olivia-li", "role": role, "state": state}
}

func linkedInStub(t *testing.T, api *linkedInAPI) (channel.Channel, Identifier, *oauth2.Token, *httptest.Server) {
	api.t = t
	ch, srv := stubChannel(t, channel.LinkedIn(), map[string]any{"access_token": "li-access", "expires_in": 5184000,
		"refresh_token": "li-refresh", "refresh_token_expires_in": 31536000,
		"scope": "rw_organization_admin,w_organization_social,r_organization_social"}, api.ServeHTTP)
	return ch, LinkedInIdentifier{HTTP: srv.Client()}, &oauth2.Token{AccessToken: "li-access"}, srv
}

// twoPages: the member administers two pages and is an analyst of a third, which an
// answer ignoring the role filter must not make an account.
func twoPages() *linkedInAPI {
	return &linkedInAPI{
		acls: []map[string]any{
			linkedInACL("urn:li:organization:5550001", "ADMINISTRATOR", "APPROVED"),
			linkedInACL("urn:li:organization:5550002", "ADMINISTRATOR", "APPROVED"),
			linkedInACL("urn:li:organization:5550003", "ANALYST", "APPROVED"),
			{"organizationTarget": "urn:li:organization:5550004", "roleAssignee": "urn:li:person:olivia-li", "role": "ADMINISTRATOR", "state": "REQUESTED"},
		},
		names: map[string]string{"5550001": "Acme Brands", "5550002": "Acme Coffee", "5550003": "Acme Analytics"},
	}
}

func linkedInSetup(t *testing.T, fail *answer) (channel.Channel, Identifier, *oauth2.Token, *httptest.Server) {
	api := twoPages()
	api.fails = everywhere(fail)
	return linkedInStub(t, api)
}

func TestLinkedInIdentifiesAdministeredPages(t *testing.T) {
	ids := identities(t, linkedInSetup)
	sameIdentities(t, ids, []Identity{
		{ExternalID: "urn:li:organization:5550001", Name: "Acme Brands", Parent: "urn:li:person:olivia-li", Kind: account.KindCompany,
			Tasks: []string{"ADMINISTRATOR"}},
		{ExternalID: "urn:li:organization:5550002", Name: "Acme Coffee", Parent: "urn:li:person:olivia-li", Kind: account.KindCompany,
			Tasks: []string{"ADMINISTRATOR"}},
	})
}

func TestLinkedInPagesAcrossPagesOfACLs(t *testing.T) {
	api := &linkedInAPI{names: map[string]string{}}
	for i := range 102 {
		id := strconv.Itoa(7000000 + i)
		api.acls = append(api.acls, linkedInACL("urn:li:organization:"+id, "ADMINISTRATOR", "APPROVED"))
		if i == 10 {
			api.acls[i]["organizationTarget"] = api.acls[i]["organization"]
			delete(api.acls[i], "organization")
		}
		if i != 50 {
			api.names[id] = fmt.Sprintf("Page %d", i)
		}
	}
	ch, id, tok, _ := linkedInStub(t, api)
	ids, err := id.Identify(context.Background(), ch, tok)
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != 102 || api.aclGets.Load() != 2 || api.orgGets.Load() != 2 {
		t.Fatalf("%d pages from %d ACL calls and %d lookups, want 102 from 2 and 2", len(ids), api.aclGets.Load(), api.orgGets.Load())
	}
	// A page the lookup would not describe is still listed, named by its URN.
	if ids[50].Name != "urn:li:organization:7000050" || ids[101].Name != "Page 101" {
		t.Fatalf("names: %q, %q", ids[50].Name, ids[101].Name)
	}
	if ids[10].ExternalID != "urn:li:organization:7000010" || ids[10].Name != "Page 10" {
		t.Fatalf("a row naming its page organizationTarget = %+v", ids[10])
	}
}

func TestLinkedInPagingIsBounded(t *testing.T) {
	// An answer whose total never ends (or a LinkedIn bug) cannot keep the callback busy.
	api := &linkedInAPI{names: map[string]string{}}
	for i := range 100 * (maxAccountPages + 5) {
		api.acls = append(api.acls, linkedInACL("urn:li:organization:"+strconv.Itoa(8000000+i), "ADMINISTRATOR", "APPROVED"))
	}
	ch, id, tok, _ := linkedInStub(t, api)
	if _, err := id.Identify(context.Background(), ch, tok); err != nil {
		t.Fatal(err)
	}
	if calls := api.aclGets.Load() + api.orgGets.Load(); api.aclGets.Load() != maxAccountPages || calls > maxIdentityCalls {
		t.Fatalf("%d ACL calls, %d in all", api.aclGets.Load(), calls)
	}
}

func TestLinkedInWithoutOrganizationAccess(t *testing.T) {
	// The token lacks the organization scope: refused as a missing permission, not
	// connected as a personal profile (see LinkedInIdentifier).
	api := twoPages()
	api.fails = map[string]answer{"/rest/organizationAcls": {403,
		`{"status":403,"serviceErrorCode":100,"code":"ACCESS_DENIED","message":"Not enough permissions to access: organizationAcls.FINDER-roleAssignee.20260801"}`}}
	ch, id, tok, _ := linkedInStub(t, api)
	_, err := id.Identify(context.Background(), ch, tok)
	var te *channel.TokenError
	if !errors.As(err, &te) || te.Reason != account.ReasonPermissionMissing || te.Status != 403 {
		t.Fatalf("identify = %v", err)
	}
	// The lookup refused after the ACLs answered.
	api = twoPages()
	api.fails = map[string]answer{"/rest/organizations": {401,
		`{"status":401,"serviceErrorCode":65602,"code":"EXPIRED_ACCESS_TOKEN","message":"The token used in the request has expired"}`}}
	ch, id, tok, _ = linkedInStub(t, api)
	if _, err := id.Identify(context.Background(), ch, tok); !errors.As(err, &te) || te.Reason != account.ReasonExpired {
		t.Fatalf("identify with the lookup refused = %v", err)
	}

	// A member who administers no page: the connect says the login grants none.
	f := newFixture(t)
	ch, id, _, _ = linkedInStub(t, &linkedInAPI{})
	f.useChannel(t, ch, id)
	_, err = f.connectVia(t, olivia, "linkedin")
	if relink.ErrorCode(err) != relink.EINVALID || !strings.Contains(relink.ErrorMessage(err), "grants no LinkedIn Pages account") {
		t.Fatalf("connect with no administered page: %v", err)
	}
	if n := len(f.all(t)); n != 0 {
		t.Fatalf("created %d accounts", n)
	}
}

func TestLinkedInConnectsEndToEnd(t *testing.T) {
	f := newFixture(t)
	ch, id, _, _ := linkedInSetup(t, nil)
	f.useChannel(t, ch, id)
	out, err := f.connectVia(t, omar, "linkedin")
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	if len(out.Accounts) != 2 {
		t.Fatalf("connected %d accounts, want 2", len(out.Accounts))
	}
	// The token grants no ads scope: every page is action required with exactly those.
	var want []string
	for _, p := range ch.Permissions {
		if slices.Contains(p.Needs, account.CapAds) {
			want = append(want, p.Name)
		}
	}
	for _, a := range out.Accounts {
		var missing []string
		for _, m := range a.Missing {
			missing = append(missing, m.Name)
			if !slices.Equal(m.Breaks, []account.Capability{account.CapAds}) {
				t.Fatalf("%s breaks %v", m.Name, m.Breaks)
			}
		}
		if a.ParentProfileID != "urn:li:person:olivia-li" || a.OwnerID != "u-omar" || a.Kind != account.KindCompany ||
			a.State != account.StateActionRequired || !slices.Equal(missing, want) || !a.Refreshable ||
			!a.TokenExpiresAt.Equal(t0.Add(5184000*time.Second)) || !a.RefreshExpiresAt.Equal(t0.Add(365*24*time.Hour)) {
			t.Fatalf("LinkedIn page = %+v", a)
		}
		if access, refresh := f.sealed(t, a); access != "li-access" || refresh != "li-refresh" {
			t.Fatal("sealed tokens are not the login's")
		}
	}
	if out.Accounts[0].DisplayName != "Acme Brands" || out.Accounts[1].ExternalID != "urn:li:organization:5550002" {
		t.Fatalf("pages = %+v", out.Accounts)
	}
}
