package channel

import (
	"slices"
	"testing"

	"github.com/relinkhq/relink/internal/account"
)

// want is the part of a Classification a test row checks.
type want struct {
	reason                                      string
	reauth, transient, permission, refreshFirst bool
	code, subcode                               string
}

func check(t *testing.T, name string, got Classification, w want) {
	t.Helper()
	if got.Reason != w.reason || got.Reauth != w.reauth || got.Transient != w.transient ||
		got.PermissionMissing != w.permission || got.RefreshFirst != w.refreshFirst ||
		got.ChannelError.Code != w.code || got.ChannelError.Subcode != w.subcode {
		t.Errorf("%s:\n got  %+v\n want %+v", name, got, w)
	}
	if got.Message == "" {
		t.Errorf("%s: no message for people", name)
	}
}

func graph(code, sub string) string {
	s := `{"error":{"message":"Message describing the error","type":"OAuthException","code":` + code
	if sub != "" {
		s += `,"error_subcode":` + sub
	}
	return s + `,"error_user_title":"A title","error_user_msg":"A message","fbtrace_id":"EJplcsCHuLu"}}`
}

func TestClassifyMeta(t *testing.T) {
	reauth := func(reason, code, sub string) want {
		return want{reason: reason, reauth: true, code: code, subcode: sub}
	}
	transient := func(code, sub string) want {
		return want{reason: account.ReasonTransient, transient: true, code: code, subcode: sub}
	}
	perm := func(code, sub string) want {
		return want{reason: account.ReasonPermissionMissing, permission: true, code: code, subcode: sub}
	}
	rejected := func(code, sub string) want { return want{reason: ReasonRequestRejected, code: code, subcode: sub} }
	tests := []struct {
		name   string
		status int
		body   string
		want   want
	}{
		// §1.3: the documented envelope, one row per authentication subcode.
		{"password changed (official sample)", 400, graph("190", "460"), reauth(account.ReasonPasswordChanged, "190", "460")},
		{"expired", 400, graph("190", "463"), reauth(account.ReasonExpired, "190", "463")},
		{"app not installed", 400, graph("190", "458"), reauth(account.ReasonAppRemoved, "190", "458")},
		{"user checkpointed", 400, graph("190", "459"), reauth(account.ReasonCheckpoint, "190", "459")},
		{"unconfirmed user", 400, graph("190", "464"), reauth(account.ReasonCheckpoint, "190", "464")},
		{"invalid access token", 400, graph("190", "467"), reauth(account.ReasonInvalidToken, "190", "467")},
		{"page role lost", 400, graph("190", "492"), reauth(account.ReasonRoleLost, "190", "492")},
		{"90-day data access", 400, graph("190", "493"), reauth(account.ReasonDataAccessExpired, "190", "493")},
		{"190 without subcode", 400, graph("190", ""), reauth(account.ReasonInvalidToken, "190", "")},
		{"API session 102", 400, graph("102", ""), reauth(account.ReasonInvalidToken, "102", "")},
		{"OAuthException without a code", 400, `{"error":{"message":"x","type":"OAuthException"}}`, reauth(account.ReasonInvalidToken, "", "")},
		{"page token required is Relink's mistake", 400, graph("190", "2069032"), rejected("190", "2069032")},
		// Throttling and temporary errors never disconnect.
		{"unknown 1", 500, graph("1", ""), transient("1", "")},
		{"service 2", 503, graph("2", ""), transient("2", "")},
		{"too many calls 4", 400, graph("4", ""), transient("4", "")},
		{"user too many calls 17", 400, graph("17", ""), transient("17", "")},
		{"app limit 341", 400, graph("341", ""), transient("341", "")},
		{"blocked for policies 368", 400, graph("368", ""), transient("368", "")},
		{"page rate limit 32", 400, graph("32", ""), transient("32", "")},
		{"rate limit 613", 400, graph("613", ""), transient("613", "")},
		// Permissions.
		{"permission denied 10", 403, graph("10", ""), perm("10", "")},
		{"permission 200", 403, graph("200", ""), perm("200", "")},
		{"permission 299", 403, graph("299", ""), perm("299", "")},
		{"method 3", 400, graph("3", ""), perm("3", "")},
		{"viewer lacks permission", 400, graph("1", "2853006"), perm("1", "2853006")},
		// The request, not the connection.
		{"endpoint not supported", 400, graph("200", "2069030"), rejected("200", "2069030")},
		{"field not supported", 400, graph("200", "2069031"), rejected("200", "2069031")},
		{"duplicate post", 400, graph("506", ""), rejected("506", "")},
		{"error posting link", 400, graph("1609005", ""), rejected("1609005", "")},
		{"object gone", 400, `{"error":{"message":"Unsupported get request.","type":"GraphMethodException","code":100,"error_subcode":33}}`,
			reauth(account.ReasonPageDeleted, "100", "33")},
		// §1.2: debug_token spells it "subcode", inside data.error.
		{"debug_token invalid with subcode", 200, `{"data":{"app_id":"1","type":"USER","application":"Relink","error":{"code":190,"message":"Error validating access token: The user has not authorized application 1.","subcode":458},"is_valid":false,"scopes":[]}}`,
			reauth(account.ReasonAppRemoved, "190", "458")},
		{"debug_token password change", 200, `{"data":{"error":{"code":190,"message":"Session invalidated","subcode":460},"is_valid":false}}`,
			reauth(account.ReasonPasswordChanged, "190", "460")},
		{"debug_token invalid without error", 200, `{"data":{"is_valid":false,"scopes":[]}}`, reauth(account.ReasonInvalidToken, "", "")},
		{"debug_token valid (official sample) is no failure", 200, `{"data":{"app_id":"{app-id}","type":"USER","application":"{app-name}","data_access_expires_at":1576687825,"expires_at":1570820400,"is_valid":true,"scopes":["pages_show_list","public_profile"],"granular_scopes":[{"scope":"pages_show_list","target_ids":["1","2"]}],"user_id":"10215241773831025"}}`,
			rejected("", "")},
		// Transport.
		{"no answer", 0, ``, transient("", "")},
		{"gateway HTML", 502, `<html>Bad Gateway</html>`, transient("", "")},
		{"rate limited status", 429, `{}`, transient("", "")},
		{"bare 401", 401, ``, reauth(account.ReasonInvalidToken, "", "")},
		{"malformed JSON 400", 400, `{"error":`, rejected("", "")},
		{"reported without a status", 0, graph("190", "460"), reauth(account.ReasonPasswordChanged, "190", "460")},
	}
	for _, tt := range tests {
		check(t, tt.name, classifyMeta(tt.status, []byte(tt.body)), tt.want)
	}
	long := `{"error":{"code":190,"message":"` + string(make([]byte, 2000)) + `"}}`
	if got := classifyMeta(400, []byte(long)); len(got.ChannelError.Message) > 500 {
		t.Errorf("channel message kept at %d bytes", len(got.ChannelError.Message))
	}
}

func FuzzClassifyMeta(f *testing.F) {
	for _, seed := range []string{graph("190", "460"), graph("4", ""), `{"data":{"is_valid":false,"error":{"code":190,"subcode":458}}}`,
		`{"data":null}`, `{"error":null}`, `[]`, `"x"`, `{"error":{"code":"190"}}`} {
		f.Add(400, []byte(seed))
	}
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		c := classifyMeta(status, body)
		if c.Reason == "" || c.Message == "" {
			t.Fatalf("no reason or message for %d %q", status, body)
		}
		if c.Transient && (c.Reauth || c.PermissionMissing) {
			t.Fatalf("transient and not transient at once: %+v", c)
		}
	})
}

func TestFacebookMatrix(t *testing.T) {
	fb := Facebook()
	var scopes, tasks []string
	for _, p := range fb.Permissions {
		if p.Kind == KindScope {
			scopes = append(scopes, p.Name)
		} else {
			tasks = append(tasks, p.Name)
		}
	}
	if len(scopes) != 10 || len(tasks) != 6 {
		t.Fatalf("Facebook matrix has %d permissions and %d tasks, want 10 and 6", len(scopes), len(tasks))
	}
	if got := fb.Diagnose(scopes, tasks); got != nil {
		t.Fatalf("full grant diagnosed as missing %v", got)
	}
	// A Page moderator (legacy role MODERATOR = MODERATE, ADVERTISE, ANALYZE) can
	// engage partly and report, but not publish.
	got := fb.Diagnose(scopes, []string{"MODERATE", "ADVERTISE", "ANALYZE"})
	want := []account.MissingPermission{
		{Name: "MANAGE", Kind: KindTask, Breaks: []account.Capability{account.CapEngage}},
		{Name: "CREATE_CONTENT", Kind: KindTask, Breaks: []account.Capability{account.CapPublish}},
		{Name: "MESSAGING", Kind: KindTask, Breaks: []account.Capability{account.CapEngage}},
	}
	if !equalMissing(got, want) {
		t.Fatalf("moderator diagnosis = %+v", got)
	}
	// Declining pages_manage_posts breaks publishing only; asking only about reporting,
	// nothing is missing.
	without := slices.DeleteFunc(slices.Clone(scopes), func(s string) bool { return s == "pages_manage_posts" })
	got = fb.Diagnose(without, tasks)
	if !equalMissing(got, []account.MissingPermission{{Name: "pages_manage_posts", Kind: KindScope, Breaks: []account.Capability{account.CapPublish}}}) {
		t.Fatalf("without pages_manage_posts = %+v", got)
	}
	if got := fb.Diagnose(without, tasks, account.CapReport); got != nil {
		t.Fatalf("reporting needs no publishing scope: %+v", got)
	}
	// pages_show_list breaks everything.
	got = fb.Diagnose([]string{"read_insights"}, tasks, account.CapReport)
	if !equalMissing(got, []account.MissingPermission{
		{Name: "pages_show_list", Kind: KindScope, Breaks: []account.Capability{account.CapReport}},
		{Name: "pages_read_engagement", Kind: KindScope, Breaks: []account.Capability{account.CapReport}},
	}) {
		t.Fatalf("report-only diagnosis = %+v", got)
	}
	if got := fb.Scopes(account.CapReport); !slices.Equal(got, []string{"pages_show_list", "pages_read_engagement", "read_insights"}) {
		t.Fatalf("report scopes = %v", got)
	}
	if got := fb.Scopes(); len(got) != 10 {
		t.Fatalf("all scopes = %v", got)
	}
}

func TestInstagramMatrices(t *testing.T) {
	ig := Instagram()
	n := 0
	for _, p := range ig.Permissions {
		if p.Kind == KindScope {
			n++
		}
	}
	if n != 6 {
		t.Fatalf("Instagram (Facebook Login) has %d permissions, want 6", n)
	}
	got := ig.Diagnose([]string{"instagram_basic", "pages_show_list", "instagram_manage_comments", "instagram_manage_insights", "instagram_manage_messages"}, []string{"CREATE_CONTENT"})
	if !equalMissing(got, []account.MissingPermission{{Name: "instagram_content_publish", Kind: KindScope, Breaks: []account.Capability{account.CapPublish}}}) {
		t.Fatalf("instagram diagnosis = %+v", got)
	}
	login := InstagramLogin()
	if login.SelfRefreshGrant != "ig_refresh_token" || login.LongLivedExchange != "ig_exchange_token" || login.Refreshable {
		t.Fatalf("instagram login lifetime = %+v", login.Lifetime)
	}
	th := Threads()
	if th.SelfRefreshGrant != "th_refresh_token" || th.IntrospectURL != "https://graph.threads.net/v1.0/debug_token" {
		t.Fatalf("threads = %+v", th)
	}
	if got := th.Diagnose([]string{"threads_basic"}, nil, account.CapEngage); len(got) != 2 {
		t.Fatalf("threads engage diagnosis = %+v", got)
	}
}

func equalMissing(a, b []account.MissingPermission) bool {
	return slices.EqualFunc(a, b, func(x, y account.MissingPermission) bool {
		return x.Name == y.Name && x.Kind == y.Kind && slices.Equal(x.Breaks, y.Breaks)
	})
}
