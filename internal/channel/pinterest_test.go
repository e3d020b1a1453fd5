package channel

import (
	"testing"

	"github.com/relinkhq/relink/internal/account"
)

var pinterestPayloads = []string{
	`{"code":2,"message":"Authentication failed."}`,
}

func TestClassifyPinterest(t *testing.T) {
	xtpRun(t, classifyPinterest, []xtpCase{
		{"authentication failed (token exchange)", 401, pinterestPayloads[0], xtpCode(dead(account.ReasonInvalidToken), "2")},
		{"authentication failed, 400", 400, pinterestPayloads[0], xtpCode(dead(account.ReasonInvalidToken), "2")},
		{"403 (constructed body)", 403, `{"code":7,"message":"constructed"}`, xtpCode(permissionMissing(), "7")},
		{"401 other code: refresh first", 401, `{"code":3,"message":"x"}`, xtpCode(expiredRefreshable(), "3")},
		{"5xx", 500, `{"code":1,"message":"x"}`, xtpCode(Transient(), "1")},
		{"5xx with code 2 stays transient", 503, pinterestPayloads[0], xtpCode(Transient(), "2")},
		{"429", 429, ``, Transient()},
		{"no answer", 0, ``, Transient()},
		{"malformed JSON", 400, `{"code":`, rejected()},
		{"code of the wrong type", 400, `{"code":"2"}`, rejected()},
		{"empty 401: refresh first", 401, ``, expiredRefreshable()},
		{"404 (constructed body)", 404, `{"code":8,"message":"constructed"}`, xtpCode(rejected(), "8")},
	})
}

func TestPinterestEntry(t *testing.T) {
	c := Pinterest()
	xtpEntry(t, c, "pinterest")
	if !c.ClientAuthHeader || !c.RotatingRefresh || c.RefreshTTL <= c.AccessTTL {
		t.Errorf("pinterest: %+v", c)
	}
	xtpDiagnose(t, c, "pins:write")
	if got := c.Diagnose(c.Scopes(account.CapPublish, account.CapReport), nil); len(got) != 2 {
		t.Errorf("pinterest: without ads scopes Diagnose = %+v", got)
	}
}

func FuzzClassifyPinterest(f *testing.F) {
	for _, p := range pinterestPayloads {
		for _, s := range []int{0, 400, 401, 403, 429, 500} {
			f.Add(s, []byte(p))
		}
	}
	f.Add(401, []byte(`{"code":1e400}`))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		xtpInvariants(t, classifyPinterest(status, body))
	})
}
