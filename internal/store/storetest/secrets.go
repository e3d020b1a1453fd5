package storetest

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/relinkhq/relink/internal/consent"
	"github.com/relinkhq/relink/internal/magiclink"
	"github.com/relinkhq/relink/internal/relink"
	"github.com/relinkhq/relink/internal/store"
)

func testTokens(t *testing.T, e *env) {
	ctx := e.ctx
	_, err := e.s.GetTokens(ctx, "ws1", "a1")
	wantCode(t, err, relink.ENOTFOUND, "tokens never stored")
	sealed := bytes.Repeat([]byte{0x01, 0xfe, 0x00}, 1400) // binary, 4 KiB
	must(t, e.s.PutTokens(ctx, "ws1", "a1", sealed), "put tokens")
	got, err := e.s.GetTokens(ctx, "ws1", "a1")
	must(t, err, "get tokens")
	if !bytes.Equal(got, sealed) {
		t.Fatal("tokens changed on the way through the store")
	}
	must(t, e.s.PutTokens(ctx, "ws1", "a1", []byte("rotated")), "replace tokens")
	if got, _ = e.s.GetTokens(ctx, "ws1", "a1"); string(got) != "rotated" {
		t.Fatalf("replaced tokens = %q", got)
	}
	_, err = e.s.GetTokens(ctx, "ws2", "a1")
	wantCode(t, err, relink.ENOTFOUND, "tokens of another workspace")
	must(t, e.s.DeleteTokens(ctx, "ws1", "a1"), "delete tokens")
	_, err = e.s.GetTokens(ctx, "ws1", "a1")
	wantCode(t, err, relink.ENOTFOUND, "deleted tokens")
	must(t, e.s.DeleteTokens(ctx, "ws1", "a1"), "delete absent tokens")
	wantCode(t, e.s.PutTokens(ctx, "ws1", "a1", nil), relink.EINVALID, "empty tokens")
}

func (e *env) link(t *testing.T, ws, user string, purpose magiclink.Purpose) magiclink.Link {
	t.Helper()
	_, l, err := magiclink.Issue(magiclink.Spec{WorkspaceID: ws, UserID: user, Email: user + "@example.com", Purpose: purpose,
		Channels: []string{"facebook", "x"}, Message: "Please reconnect"}, e.clock.Now(), rand.Reader)
	must(t, err, "issue link")
	must(t, e.s.CreateLink(e.ctx, l), "create link")
	return l
}

func testLinks(t *testing.T, e *env) {
	ctx := e.ctx
	l := e.link(t, "ws1", "u1", magiclink.PurposeReconnect)
	got, err := e.s.GetLink(ctx, l.Hash)
	must(t, err, "get link")
	same(t, got, l, "stored link")
	wantCode(t, e.s.CreateLink(ctx, l), relink.ECONFLICT, "duplicate link")
	_, err = e.s.GetLink(ctx, "0000000000000000000000000000000000000000000000000000000000000000")
	wantCode(t, err, relink.ENOTFOUND, "unknown link")

	for i := 1; i <= 3; i++ {
		used, err := e.s.UseLink(ctx, l.Hash, e.clock.Now())
		must(t, err, "use link")
		if used.Uses != i {
			t.Fatalf("after %d uses the link says %d", i, used.Uses)
		}
	}
	stored, _ := e.s.GetLink(ctx, l.Hash)
	if stored.Uses != 3 {
		t.Fatalf("stored uses = %d", stored.Uses)
	}

	// Expired: refused with the reason, still readable, then gone after retention.
	_, err = e.s.UseLink(ctx, l.Hash, l.ExpiresAt)
	wantCode(t, err, relink.EGONE, "use expired link")
	e.clock.Set(l.ExpiresAt.Add(store.LinkRetention - time.Minute))
	if _, err := e.s.GetLink(ctx, l.Hash); err != nil {
		t.Fatalf("expired link within retention: %v", err)
	}
	e.clock.Set(l.ExpiresAt.Add(store.LinkRetention))
	_, err = e.s.GetLink(ctx, l.Hash)
	wantCode(t, err, relink.ENOTFOUND, "link past retention")
	e.clock.Set(T0)

	// Used up, under concurrency: exactly MaxUses openings succeed.
	_, capped, _ := magiclink.Issue(magiclink.Spec{WorkspaceID: "ws1", UserID: "u9", Purpose: magiclink.PurposeInvite}, T0, rand.Reader)
	capped.MaxUses = 10
	must(t, e.s.CreateLink(ctx, capped), "create capped link")
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok, gone := 0, 0
	var other error
	for range 20 {
		wg.Go(func() {
			_, err := e.s.UseLink(ctx, capped.Hash, T0)
			mu.Lock()
			defer mu.Unlock()
			switch relink.ErrorCode(err) {
			case "":
				ok++
			case relink.EGONE:
				gone++
			default:
				other = err
			}
		})
	}
	wg.Wait()
	if other != nil || ok != 10 || gone != 10 {
		t.Fatalf("20 openings of a 10-use link: %d ok, %d gone, other %v", ok, gone, other)
	}
	final, _ := e.s.GetLink(ctx, capped.Hash)
	if final.Uses != 10 {
		t.Fatalf("capped link counts %d uses", final.Uses)
	}

	// Rotation revokes one person's usable links of one purpose, nothing else.
	r1 := e.link(t, "ws1", "u1", magiclink.PurposeReconnect)
	r2 := e.link(t, "ws1", "u1", magiclink.PurposeReconnect)
	keep := []magiclink.Link{
		e.link(t, "ws1", "u1", magiclink.PurposeConnect),
		e.link(t, "ws1", "u2", magiclink.PurposeReconnect),
		e.link(t, "ws2", "u1", magiclink.PurposeReconnect),
	}
	n, err := e.s.RevokeLinks(ctx, "ws1", "u1", magiclink.PurposeReconnect, T0.Add(time.Hour))
	must(t, err, "revoke links")
	// r1, r2 and the first link l, which is still usable (3 of 50 uses, not expired).
	if n != 3 {
		t.Fatalf("revoked %d links, want 3", n)
	}
	for _, r := range []magiclink.Link{r1, r2, l} {
		_, err := e.s.UseLink(ctx, r.Hash, T0.Add(2*time.Hour))
		wantCode(t, err, relink.EGONE, "use revoked link")
		got, _ := e.s.GetLink(ctx, r.Hash)
		if !got.RevokedAt.Equal(T0.Add(time.Hour)) {
			t.Fatalf("revoked link says RevokedAt %v", got.RevokedAt)
		}
	}
	for _, k := range keep {
		if _, err := e.s.UseLink(ctx, k.Hash, T0.Add(2*time.Hour)); err != nil {
			t.Fatalf("a link outside the rotation was touched: %v", err)
		}
	}
	n, err = e.s.RevokeLinks(ctx, "ws1", "u1", magiclink.PurposeReconnect, T0.Add(3*time.Hour))
	must(t, err, "revoke again")
	if n != 0 {
		t.Fatalf("revoking again revoked %d", n)
	}
}

func testConsents(t *testing.T, e *env) {
	ctx := e.ctx
	_, s, err := consent.New(consent.State{WorkspaceID: "ws1", UserID: "u1", Channel: "facebook", AccountID: "a1",
		LinkHash: "abc", Verifier: "verifier-0123456789"}, T0, rand.Reader)
	must(t, err, "new consent")
	must(t, e.s.PutConsent(ctx, s), "put consent")
	wantCode(t, e.s.PutConsent(ctx, s), relink.ECONFLICT, "duplicate consent")
	got, err := e.s.TakeConsent(ctx, s.Hash, T0.Add(time.Minute))
	must(t, err, "take consent")
	same(t, got, s, "taken consent")
	_, err = e.s.TakeConsent(ctx, s.Hash, T0.Add(time.Minute))
	wantCode(t, err, relink.ENOTFOUND, "replayed consent")

	_, late, _ := consent.New(consent.State{WorkspaceID: "ws1", UserID: "u1", Channel: "x"}, T0, rand.Reader)
	must(t, e.s.PutConsent(ctx, late), "put consent")
	_, err = e.s.TakeConsent(ctx, late.Hash, late.ExpiresAt)
	wantCode(t, err, relink.EGONE, "expired consent")
	_, err = e.s.TakeConsent(ctx, late.Hash, late.ExpiresAt)
	wantCode(t, err, relink.ENOTFOUND, "expired consent, asked again")

	// Twenty callbacks race with one state: one wins.
	_, raced, _ := consent.New(consent.State{WorkspaceID: "ws1", UserID: "u1", Channel: "tiktok"}, T0, rand.Reader)
	must(t, e.s.PutConsent(ctx, raced), "put consent")
	var wg sync.WaitGroup
	var mu sync.Mutex
	won, lost := 0, 0
	var other error
	for range 20 {
		wg.Go(func() {
			_, err := e.s.TakeConsent(ctx, raced.Hash, T0)
			mu.Lock()
			defer mu.Unlock()
			switch relink.ErrorCode(err) {
			case "":
				won++
			case relink.ENOTFOUND:
				lost++
			default:
				other = err
			}
		})
	}
	wg.Wait()
	if won != 1 || lost != 19 || other != nil {
		t.Fatalf("20 racing callbacks: %d won, %d lost, other %v", won, lost, other)
	}
}

var pepper = []byte("storetest-pepper-0123456789abcdef")

func testCodes(t *testing.T, e *env) {
	ctx := e.ctx
	code, c, err := magiclink.NewCode("flow-1", "ws1", "o@example.com", pepper, T0, rand.Reader)
	must(t, err, "new code")
	must(t, e.s.PutCode(ctx, c), "put code")
	got, err := e.s.GetCode(ctx, "flow-1")
	must(t, err, "get code")
	same(t, got, c, "stored code")
	_, err = e.s.GetCode(ctx, "flow-none")
	wantCode(t, err, relink.ENOTFOUND, "missing code")

	wrong := fmt.Sprintf("%06d", (mustAtoi(code)+1)%1_000_000)
	next, verr := got.Verify(wrong, pepper, T0)
	wantCode(t, verr, relink.EINVALID, "wrong code")
	must(t, e.s.UpdateCode(ctx, next), "count a wrong attempt")
	wantCode(t, e.s.UpdateCode(ctx, next), relink.ECONFLICT, "stale attempt")
	got, _ = e.s.GetCode(ctx, "flow-1")
	if got.Attempts != 1 {
		t.Fatalf("attempts = %d", got.Attempts)
	}

	// Ten people guess at once: every guess counts, and the code locks after five.
	var wg sync.WaitGroup
	var mu sync.Mutex
	counted := 0
	var other error
	for i := range 10 {
		wg.Go(func() {
			guess := fmt.Sprintf("%06d", (mustAtoi(code)+2+i)%1_000_000)
			for {
				cur, err := e.s.GetCode(ctx, "flow-1")
				if err != nil {
					mu.Lock()
					other = err
					mu.Unlock()
					return
				}
				next, verr := cur.Verify(guess, pepper, T0)
				if relink.ErrorCode(verr) == relink.EGONE && next.Version == cur.Version {
					return // locked before this guess
				}
				err = e.s.UpdateCode(ctx, next)
				if relink.ErrorCode(err) == relink.ECONFLICT {
					continue
				}
				mu.Lock()
				if err != nil {
					other = err
				} else {
					counted++
				}
				mu.Unlock()
				return
			}
		})
	}
	wg.Wait()
	if other != nil || counted != 4 {
		t.Fatalf("concurrent guesses: %d counted (want 4 more to reach 5), error %v", counted, other)
	}
	locked, _ := e.s.GetCode(ctx, "flow-1")
	if locked.Attempts != magiclink.MaxCodeAttempts {
		t.Fatalf("attempts after the race = %d", locked.Attempts)
	}
	if _, err := locked.Verify(code, pepper, T0); relink.ErrorCode(err) != relink.EGONE {
		t.Fatalf("locked code accepted the right digits: %v", err)
	}

	// A resend replaces the code and starts the count again; an attempt still holding
	// the old code cannot overwrite the new one, even at a matching version.
	code2, c2, _ := magiclink.NewCode("flow-1", "ws1", "o@example.com", pepper, T0.Add(time.Minute), rand.Reader)
	must(t, e.s.PutCode(ctx, c2), "resend code")
	_, oldCode, _ := magiclink.NewCode("flow-1", "ws1", "o@example.com", pepper, T0, rand.Reader)
	oldCode.Attempts, oldCode.Version = 1, c2.Version+1
	wantCode(t, e.s.UpdateCode(ctx, oldCode), relink.ECONFLICT, "attempt on a replaced code")
	got, _ = e.s.GetCode(ctx, "flow-1")
	same(t, got, c2, "resent code")
	if _, err := got.Verify(code2, pepper, T0.Add(2*time.Minute)); err != nil {
		t.Fatalf("resent code refused: %v", err)
	}

	// An expired code is kept for a day, then gone.
	e.clock.Set(c2.ExpiresAt.Add(23 * time.Hour))
	if _, err := e.s.GetCode(ctx, "flow-1"); err != nil {
		t.Fatalf("code a few hours past expiry: %v", err)
	}
	e.clock.Set(c2.ExpiresAt.Add(24 * time.Hour))
	_, err = e.s.GetCode(ctx, "flow-1")
	wantCode(t, err, relink.ENOTFOUND, "code a day past expiry")
	e.clock.Set(T0)
}

// testCodePayload: a code's payload is stored as given and comes back byte for byte.
func testCodePayload(t *testing.T, e *env) {
	ctx := e.ctx
	payload := make([]byte, 4096)
	_, _ = rand.Read(payload)
	payload[0], payload[1] = 0x00, 0xff // binary, not text

	code, c, err := magiclink.NewCode("flow-p", "ws1", "o@example.com", pepper, T0, rand.Reader)
	must(t, err, "new code")
	c.Payload = payload
	must(t, e.s.PutCode(ctx, c), "put code with payload")
	got, err := e.s.GetCode(ctx, "flow-p")
	must(t, err, "get code with payload")
	if !bytes.Equal(got.Payload, payload) {
		t.Fatalf("payload changed through PutCode/GetCode: %d bytes back, want %d", len(got.Payload), len(payload))
	}
	same(t, got, c, "stored code with payload")

	// UpdateCode keeps the payload it is given: unchanged by a counted attempt ...
	wrong := fmt.Sprintf("%06d", (mustAtoi(code)+1)%1_000_000)
	next, verr := got.Verify(wrong, pepper, T0)
	wantCode(t, verr, relink.EINVALID, "wrong code")
	must(t, e.s.UpdateCode(ctx, next), "count an attempt")
	got, _ = e.s.GetCode(ctx, "flow-p")
	if got.Attempts != 1 || !bytes.Equal(got.Payload, payload) {
		t.Fatalf("after an attempt: %d attempts, payload kept %v", got.Attempts, bytes.Equal(got.Payload, payload))
	}
	// ... replaced when the flow's state changes ...
	next, verr = got.Verify(wrong, pepper, T0)
	wantCode(t, verr, relink.EINVALID, "wrong code again")
	next.Payload = []byte("sealed state, second version")
	must(t, e.s.UpdateCode(ctx, next), "update the payload")
	got, _ = e.s.GetCode(ctx, "flow-p")
	if string(got.Payload) != "sealed state, second version" {
		t.Fatalf("updated payload = %q", got.Payload)
	}
	// ... and dropped when given none.
	cleared := got
	cleared.Version++
	cleared.Payload = nil
	must(t, e.s.UpdateCode(ctx, cleared), "clear the payload")
	got, _ = e.s.GetCode(ctx, "flow-p")
	if got.Payload != nil {
		t.Fatalf("cleared payload came back as %q, want nil", got.Payload)
	}

	// A code without a payload comes back without one: nil, also for an empty one.
	for name, p := range map[string][]byte{"nil": nil, "empty": {}} {
		_, plain, _ := magiclink.NewCode("flow-plain-"+name, "ws1", "o@example.com", pepper, T0, rand.Reader)
		plain.Payload = p
		must(t, e.s.PutCode(ctx, plain), "put code without payload")
		got, err := e.s.GetCode(ctx, plain.ID)
		must(t, err, "get code without payload")
		if got.Payload != nil {
			t.Fatalf("%s payload came back as %#v, want nil", name, got.Payload)
		}
	}

	// The payload is bounded at store.MaxCodePayload.
	_, big, _ := magiclink.NewCode("flow-big", "ws1", "o@example.com", pepper, T0, rand.Reader)
	big.Payload = bytes.Repeat([]byte{0xa5}, store.MaxCodePayload)
	must(t, e.s.PutCode(ctx, big), "put code with the largest payload")
	got, err = e.s.GetCode(ctx, "flow-big")
	must(t, err, "get code with the largest payload")
	if !bytes.Equal(got.Payload, big.Payload) {
		t.Fatalf("largest payload changed: %d bytes back", len(got.Payload))
	}
	tooBig := got
	tooBig.Version++
	tooBig.Payload = append(bytes.Clone(big.Payload), 0)
	wantCode(t, e.s.UpdateCode(ctx, tooBig), relink.EINVALID, "update with a payload over the bound")
	_, over, _ := magiclink.NewCode("flow-over", "ws1", "o@example.com", pepper, T0, rand.Reader)
	over.Payload = tooBig.Payload
	wantCode(t, e.s.PutCode(ctx, over), relink.EINVALID, "put with a payload over the bound")
	_, err = e.s.GetCode(ctx, "flow-over")
	wantCode(t, err, relink.ENOTFOUND, "code refused for its payload")
	got, _ = e.s.GetCode(ctx, "flow-big")
	if got.Version != big.Version || !bytes.Equal(got.Payload, big.Payload) {
		t.Fatal("a refused update changed the stored code")
	}
}

func mustAtoi(s string) int {
	n := 0
	for _, r := range s {
		n = n*10 + int(r-'0')
	}
	return n
}
