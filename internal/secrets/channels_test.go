package secrets

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/relinkhq/relink/internal/channel"
	"github.com/relinkhq/relink/internal/relink"
)

func TestChannelCredentials(t *testing.T) {
	ctx := context.Background()
	env := map[string]string{EnvName("relink/channels"): `{"facebook":{"client_id":"fb-app","client_secret":"fb-secret"},"x":{"client_id":"x-app"}}`}
	c := &ChannelCredentials{Values: Env{Lookup: func(k string) (string, bool) { v, ok := env[k]; return v, ok }}, Name: "relink/channels",
		Fixed: map[string]channel.Credentials{"sandbox": {ClientID: "local"}}}

	got, err := c.Credentials(ctx, "facebook")
	if err != nil || got.ClientID != "fb-app" || got.ClientSecret.Reveal() != "fb-secret" {
		t.Fatalf("facebook: %+v %v", got, err)
	}
	if s := fmt.Sprintf("%v %+v", got, got); strings.Contains(s, "fb-secret") {
		t.Fatalf("credentials print their secret: %s", s)
	}
	if got, err := c.Credentials(ctx, "sandbox"); err != nil || got.ClientID != "local" {
		t.Fatalf("fixed: %+v %v", got, err)
	}
	for _, id := range []string{"x", "tiktok"} { // half-configured, absent
		if _, err := c.Credentials(ctx, id); relink.ErrorCode(err) != relink.EUNAVAILABLE {
			t.Fatalf("%s: %v", id, err)
		}
	}

	env[EnvName("relink/channels")] = `{"facebook":{"client_id":"fb-app","client_secret":"leak-me"`
	_, err = c.Credentials(ctx, "facebook")
	if relink.ErrorCode(err) != relink.EINTERNAL || strings.Contains(err.Error(), "leak-me") {
		t.Fatalf("malformed secret: %v", err)
	}
	delete(env, EnvName("relink/channels"))
	if _, err := c.Credentials(ctx, "facebook"); relink.ErrorCode(err) != relink.EUNAVAILABLE {
		t.Fatalf("no secret: %v", err)
	}
}
