package admin

import (
	"context"
	"fmt"

	"github.com/relinkhq/relink/internal/account"
	"github.com/relinkhq/relink/internal/channel"
	"github.com/relinkhq/relink/internal/probe"
	"github.com/relinkhq/relink/internal/store"
	"github.com/relinkhq/relink/internal/vault"
)

// ProbeChecker checks an account's stored token with its channel's introspection.
type ProbeChecker struct {
	Store    store.Store
	Vault    *vault.Vault
	Registry *channel.Registry
	Prober   *probe.Prober
}

var _ Checker = ProbeChecker{}

// CheckToken opens the account's tokens and asks the channel about them. Tokens the
// check had to renew are stored before anything else happens, even when the check then
// failed (a rotated refresh token is the only one that still works).
func (c ProbeChecker) CheckToken(ctx context.Context, a account.Account) (TokenCheck, error) {
	sealed, err := c.Store.GetTokens(ctx, a.WorkspaceID, a.ID)
	if err != nil {
		return TokenCheck{}, err
	}
	binding := vault.AccountBinding(a.WorkspaceID, a.ID)
	tokens, err := c.Vault.OpenTokens(ctx, sealed, binding)
	if err != nil {
		return TokenCheck{}, err
	}
	ch, err := c.Registry.Get(a.Channel)
	if err != nil {
		return TokenCheck{}, err
	}
	res, checkErr := c.Prober.Check(ctx, ch, a, tokens)
	// Renewed tokens are stored whatever came after the renewal: with rotation, the
	// old refresh token no longer works.
	if res.Tokens != nil {
		renewed, err := c.Vault.SealTokens(ctx, *res.Tokens, binding)
		if err != nil {
			return TokenCheck{}, err
		}
		if err := c.Store.PutTokens(ctx, a.WorkspaceID, a.ID, renewed); err != nil {
			return TokenCheck{}, fmt.Errorf("store renewed tokens: %w", err)
		}
	}
	if checkErr != nil {
		return TokenCheck{}, checkErr
	}
	return TokenCheck{Valid: res.Valid, Grant: res.Grant, Failure: res.Failure}, nil
}
