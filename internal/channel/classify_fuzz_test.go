package channel

import (
	"bytes"
	"net/http"
	"testing"
	"unicode/utf8"

	"github.com/relinkhq/relink/internal/account"
)

// FuzzClassifyEveryChannel feeds one arbitrary answer (HTTP status and body) to the
// classifier of every registered channel, the sandbox included, and holds each to the
// rules every classifier keeps, whoever writes it:
//
//   - it never panics, and answers the same twice;
//   - the reason is one Relink knows, with the message people read for it;
//   - the flags agree with the reason: transient only for the transient reason, never
//     with re-authentication or a missing permission; a refresh only for a dead token;
//   - an answer that says nothing about the token — a 5xx, 429, 408, or no answer at
//     all (status 0 and no body) — is transient and never asks anyone to reconnect;
//   - the platform's message kept for diagnosis is bounded and stays valid UTF-8.
//
// Status 0 with a body is a failure another system reported without a status (see
// TestClassifyMeta "reported without a status"): the body decides, so it may be dead.
//
// Seeds: every documented payload of shared/channels.md (testdata/fuzz/FuzzClassifyEveryChannel)
// and the payload tables of the per-channel tests.
func FuzzClassifyEveryChannel(f *testing.F) {
	reg, err := Default("http://127.0.0.1:8080")
	if err != nil {
		f.Fatal(err)
	}
	for _, tc := range append(append([]lgCase{}, googlePayloads...), linkedInPayloads...) {
		f.Add(tc.status, []byte(tc.body))
	}
	for _, table := range [][]string{xPayloads, tiktokPayloads, pinterestPayloads} {
		for _, p := range table {
			for _, status := range []int{400, 401, 403} {
				f.Add(status, []byte(p))
			}
		}
	}
	for _, status := range []int{0, 200, 408, 429, 500, 502, 599, 600, -1} {
		f.Add(status, []byte(nil))
		f.Add(status, []byte(graph("190", "460")))
	}
	f.Add(401, []byte(`{"error":"invalid_token","reason":"password_changed"}`))
	f.Add(401, []byte(`{"error":{"code":190,"error_subcode":460,"message":"x`+string(bytes.Repeat([]byte("é"), 400))+`"}}`))

	f.Fuzz(func(t *testing.T, status int, body []byte) {
		for _, id := range reg.IDs() {
			ch, _ := reg.Get(id)
			in := bytes.Clone(body)
			c := ch.Classify(status, in)
			if !bytes.Equal(in, body) {
				t.Fatalf("%s: the classifier changed the body it read", id)
			}
			if again := ch.Classify(status, body); again != c {
				t.Fatalf("%s: two answers for one input:\n%+v\n%+v", id, c, again)
			}
			checkClassification(t, id, status, body, c)
		}
	})
}

func checkClassification(t *testing.T, id string, status int, body []byte, c Classification) {
	t.Helper()
	fail := func(why string) {
		t.Helper()
		t.Fatalf("%s: Classify(%d, %q) = %+v: %s", id, status, body, c, why)
	}
	want, known := messages[c.Reason]
	switch {
	case !known:
		fail("unknown reason")
	case c.Message != want:
		fail("the message is not the reason's")
	case c.Transient != (c.Reason == account.ReasonTransient):
		fail("transient flag and reason disagree")
	case c.Transient && (c.Reauth || c.PermissionMissing || c.RefreshFirst):
		fail("transient and not transient at once")
	case c.Reauth && (c.Reason == ReasonRequestRejected || c.Reason == account.ReasonPermissionMissing):
		fail("re-authentication for a reason that keeps the token")
	case c.PermissionMissing && c.Reason != account.ReasonPermissionMissing:
		fail("missing permission under another reason")
	case c.RefreshFirst && !c.Reauth:
		fail("refresh first for a token that is not dead")
	case c.Reason == ReasonRequestRejected && (c.Reauth || c.Transient || c.PermissionMissing):
		fail("a refused request flagged as more")
	}
	noAnswer := status == 0 && len(bytes.TrimSpace(body)) == 0
	if (noAnswer || status >= 500 || status == http.StatusTooManyRequests || status == http.StatusRequestTimeout) &&
		(!c.Transient || c.Reauth) {
		fail("an outage, a rate limit or no answer must be transient and never ask for a reconnect")
	}
	if len(c.ChannelError.Message) > 500 {
		fail("the channel's message is kept unbounded")
	}
	for _, s := range []string{c.ChannelError.Message, c.ChannelError.Code, c.ChannelError.Subcode} {
		if !utf8.ValidString(s) {
			fail("the channel's error is not valid UTF-8")
		}
	}
}
