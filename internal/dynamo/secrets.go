package dynamo

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/relinkhq/relink/internal/consent"
	"github.com/relinkhq/relink/internal/magiclink"
	"github.com/relinkhq/relink/internal/relink"
	"github.com/relinkhq/relink/internal/store"
)

// Attributes the secrets' conditions read.
const (
	attrUses          = "Uses"
	attrMaxUses       = "MaxUses"
	attrRevokedAt     = "RevokedAt"
	attrLinkExpiresAt = "LinkExpiresAt"
	attrTakenBy       = "TakenBy" // a consent taken, by the token of the call that took it
	attrWorkspaceID   = "WorkspaceID"
	attrPurpose       = "Purpose"
)

// Tokens

const msgTokensNotFound = "This account has no stored tokens."

func (s *Store) PutTokens(ctx context.Context, workspaceID, accountID string, sealed []byte) error {
	if blank(workspaceID, accountID) {
		return invalidKey("account's tokens")
	}
	if len(sealed) == 0 {
		return relink.Errorf(relink.EINVALID, "There are no tokens to store.")
	}
	item, err := marshal(tokenItem{keys: keys{PK: wsPK(workspaceID), SK: tokenSK(accountID)}, Sealed: sealed})
	if err != nil {
		return err
	}
	_, err = s.api.PutItem(ctx, &dynamodb.PutItemInput{TableName: &s.table, Item: item})
	return s.classify("put tokens", err)
}

func (s *Store) GetTokens(ctx context.Context, workspaceID, accountID string) ([]byte, error) {
	if blank(workspaceID, accountID) {
		return nil, relink.Errorf(relink.ENOTFOUND, msgTokensNotFound)
	}
	var it tokenItem
	if err := s.get(ctx, wsPK(workspaceID), tokenSK(accountID), &it, msgTokensNotFound); err != nil {
		return nil, err
	}
	if len(it.Sealed) == 0 {
		return nil, relink.Errorf(relink.ENOTFOUND, msgTokensNotFound)
	}
	return it.Sealed, nil
}

func (s *Store) DeleteTokens(ctx context.Context, workspaceID, accountID string) error {
	if blank(workspaceID, accountID) {
		return nil
	}
	_, err := s.api.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: &s.table, Key: itemKey(wsPK(workspaceID), tokenSK(accountID))})
	return s.classify("delete tokens", err)
}

// Links

const msgLinkNotFound = "This link is not valid. Check that the whole link was copied, or ask for a new one."

// CreateLink writes the link and its pointer under the person in one transaction.
func (s *Store) CreateLink(ctx context.Context, l magiclink.Link) error {
	if blank(l.Hash, l.WorkspaceID, l.UserID, string(l.Purpose)) || l.ExpiresAt.IsZero() {
		return relink.Errorf(relink.EINVALID, "A link needs a hash, a workspace, a person, a purpose and an expiry.")
	}
	link, err := marshal(toLinkItem(l))
	if err != nil {
		return err
	}
	ref, err := marshal(toLinkRefItem(l))
	if err != nil {
		return err
	}
	const taken = "A link with this token already exists."
	return s.commit(ctx, "create link",
		write{item: link, cond: notExists(), conflict: taken},
		write{item: ref, cond: notExists(), conflict: taken})
}

func (s *Store) GetLink(ctx context.Context, hash string) (magiclink.Link, error) {
	if blank(hash) {
		return magiclink.Link{}, relink.Errorf(relink.ENOTFOUND, msgLinkNotFound)
	}
	item, err := s.getItem(ctx, itemKey(linkPK(hash), skLink))
	if err != nil {
		return magiclink.Link{}, err
	}
	return s.decodeLink(item)
}

// decodeLink decodes a stored link; ENOTFOUND if there is none or it is past retention
// (TTL removes items lazily).
func (s *Store) decodeLink(item map[string]types.AttributeValue) (magiclink.Link, error) {
	if item == nil {
		return magiclink.Link{}, relink.Errorf(relink.ENOTFOUND, msgLinkNotFound)
	}
	var it linkItem
	if err := unmarshal(item, &it); err != nil {
		return magiclink.Link{}, err
	}
	if s.expired(it.PurgeAt) {
		return magiclink.Link{}, relink.Errorf(relink.ENOTFOUND, msgLinkNotFound)
	}
	return it.domain(), nil
}

// usableAt is the condition under which a stored link can be opened at now: the
// server-side twin of magiclink.Link.Usable.
func usableAt(now time.Time) expression.ConditionBuilder {
	maxUses := expression.Name(attrMaxUses)
	return expression.AttributeNotExists(expression.Name(attrRevokedAt)).
		And(expression.Name(attrLinkExpiresAt).GreaterThan(expression.Value(now.UnixMilli()))).
		And(expression.Or(
			maxUses.Equal(expression.Value(0)),
			expression.Name(attrUses).LessThan(maxUses),
		))
}

// UseLink counts an opening with one atomic, conditional increment, so concurrent
// openings all count and never exceed MaxUses.
func (s *Store) UseLink(ctx context.Context, hash string, now time.Time) (magiclink.Link, error) {
	if blank(hash) {
		return magiclink.Link{}, relink.Errorf(relink.ENOTFOUND, msgLinkNotFound)
	}
	key := itemKey(linkPK(hash), skLink)
	ex, err := expression.NewBuilder().
		WithUpdate(expression.Set(expression.Name(attrUses), expression.Name(attrUses).Plus(expression.Value(1)))).
		WithCondition(usableAt(now)).Build()
	if err != nil {
		return magiclink.Link{}, fmt.Errorf("build update: %w", err)
	}
	out, err := s.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &s.table, Key: key,
		UpdateExpression: ex.Update(), ConditionExpression: ex.Condition(),
		ExpressionAttributeNames: ex.Names(), ExpressionAttributeValues: ex.Values(),
		ReturnValues:                        types.ReturnValueAllNew,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	var failed *types.ConditionalCheckFailedException
	if errors.As(err, &failed) {
		return magiclink.Link{}, s.linkRefused(ctx, key, failed.Item, now, err)
	}
	if err != nil {
		return magiclink.Link{}, s.classify("use link", err)
	}
	var it linkItem
	if err := unmarshal(out.Attributes, &it); err != nil {
		return magiclink.Link{}, err
	}
	return it.domain(), nil
}

// linkRefused explains a refused opening from the stored link: ENOTFOUND if there is
// none, else the link's own reason.
func (s *Store) linkRefused(ctx context.Context, key, old map[string]types.AttributeValue, now time.Time, cause error) error {
	if old == nil {
		var err error
		if old, err = s.getItem(ctx, key); err != nil {
			return err
		}
	}
	l, err := s.decodeLink(old)
	if err != nil {
		return err
	}
	if err := l.Usable(now); err != nil {
		return err
	}
	// Uses only grow and revocation is final, so a usable link cannot fail the
	// condition; report it as a concurrent change all the same.
	return conflicting(cause)
}

// RevokeLinks reads the person's link pointers of the purpose, then revokes each link
// with a conditional update that holds only while the link is usable at now. A failed
// condition means the link was not usable (or not this person's): not counted.
func (s *Store) RevokeLinks(ctx context.Context, workspaceID, userID string, purpose magiclink.Purpose, now time.Time) (int, error) {
	if blank(workspaceID, userID, string(purpose)) {
		return 0, nil
	}
	ex, err := expression.NewBuilder().
		WithKeyCondition(expression.Key(AttrPK).Equal(expression.Value(wsPK(workspaceID))).
			And(expression.Key(AttrSK).BeginsWith(linkRefPrefix(userID, purpose)))).
		WithFilter(expression.Name(attrLinkExpiresAt).GreaterThan(expression.Value(now.UnixMilli()))).
		Build()
	if err != nil {
		return 0, err
	}
	in := &dynamodb.QueryInput{
		KeyConditionExpression: ex.KeyCondition(), FilterExpression: ex.Filter(),
		ExpressionAttributeNames: ex.Names(), ExpressionAttributeValues: ex.Values(),
	}
	hashes, _, err := collect(ctx, s, in, 0, func(item map[string]types.AttributeValue) (string, bool, error) {
		var ref linkRefItem
		if err := unmarshal(item, &ref); err != nil {
			return "", false, err
		}
		return ref.Hash, ref.Hash != "", nil
	})
	if err != nil {
		return 0, err
	}

	cond := usableAt(now).
		And(expression.Name(attrWorkspaceID).Equal(expression.Value(workspaceID))).
		And(expression.Name(attrUserID).Equal(expression.Value(userID))).
		And(expression.Name(attrPurpose).Equal(expression.Value(string(purpose))))
	up, err := expression.NewBuilder().
		WithUpdate(expression.Set(expression.Name(attrRevokedAt), expression.Value(now.UnixMilli()))).
		WithCondition(cond).Build()
	if err != nil {
		return 0, fmt.Errorf("build update: %w", err)
	}
	revoked := 0
	for _, h := range hashes {
		_, err := s.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName: &s.table, Key: itemKey(linkPK(h), skLink),
			UpdateExpression: up.Update(), ConditionExpression: up.Condition(),
			ExpressionAttributeNames: up.Names(), ExpressionAttributeValues: up.Values(),
		})
		var failed *types.ConditionalCheckFailedException
		switch {
		case err == nil:
			revoked++
		case errors.As(err, &failed):
			// Not usable any more (or gone): nothing to revoke.
		default:
			return revoked, s.classify("revoke link", err)
		}
	}
	return revoked, nil
}

// Consents

const msgConsentNotFound = "This sign-in attempt is not known. Start again from your link."

func (s *Store) PutConsent(ctx context.Context, c consent.State) error {
	if blank(c.Hash, c.WorkspaceID, c.UserID, c.Channel) || c.ExpiresAt.IsZero() {
		return relink.Errorf(relink.EINVALID, "A consent needs a hash, a workspace, a person, a channel and an expiry.")
	}
	item, err := marshal(toConsentItem(c))
	if err != nil {
		return err
	}
	return s.commit(ctx, "put consent", write{item: item, cond: notExists(), conflict: "This sign-in attempt exists already."})
}

// TakeConsent takes the pending consent for good, once. The take marks the item with
// a token of its own call rather than deleting it: the SDK retries a request whose
// answer was lost, and a retried delete could not tell its own landed attempt from a
// second take, which would turn the person away ("already used"). A retry finds its
// own mark and succeeds; any other take finds someone else's and fails. The marked
// item is deleted afterwards (its TTL removes it if that fails).
func (s *Store) TakeConsent(ctx context.Context, hash string, now time.Time) (consent.State, error) {
	if blank(hash) {
		return consent.State{}, relink.Errorf(relink.ENOTFOUND, msgConsentNotFound)
	}
	taker := writeToken()
	ex, err := expression.NewBuilder().
		WithCondition(expression.AttributeExists(expression.Name(AttrPK)).And(expression.AttributeNotExists(expression.Name(attrTakenBy)))).
		WithUpdate(expression.Set(expression.Name(attrTakenBy), expression.Value(taker))).Build()
	if err != nil {
		return consent.State{}, fmt.Errorf("build condition: %w", err)
	}
	key := itemKey(consentPK(hash), skConsent)
	out, err := s.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &s.table, Key: key,
		ConditionExpression: ex.Condition(), UpdateExpression: ex.Update(),
		ExpressionAttributeNames: ex.Names(), ExpressionAttributeValues: ex.Values(),
		ReturnValues: types.ReturnValueAllNew, ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	attrs := map[string]types.AttributeValue(nil)
	var failed *types.ConditionalCheckFailedException
	switch {
	case errors.As(err, &failed):
		if mark, ok := failed.Item[attrTakenBy].(*types.AttributeValueMemberS); !ok || mark.Value != taker {
			return consent.State{}, relink.Wrap(err, relink.ENOTFOUND, msgConsentNotFound)
		}
		attrs = failed.Item // this call's own first attempt took it
	case err != nil:
		return consent.State{}, s.classify("take consent", err)
	default:
		attrs = out.Attributes
	}
	// Best effort: the consent is taken either way, and its TTL removes it.
	_, _ = s.api.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: &s.table, Key: key})
	var it consentItem
	if err := unmarshal(attrs, &it); err != nil {
		return consent.State{}, err
	}
	st := it.domain()
	if st.Expired(now) {
		return consent.State{}, relink.Errorf(relink.EGONE, "This sign-in took too long. Start again from your link.")
	}
	return st, nil
}

// Codes

const (
	msgCodeNotFound = "This code is not known. Ask for a new one."
	msgCodeStale    = "The code was tried at the same time elsewhere; try again."
)

// PutCode replaces any earlier code of the flow (a resend starts the count again).
func (s *Store) PutCode(ctx context.Context, c magiclink.Code) error {
	if blank(c.ID, c.WorkspaceID, c.Hash) || c.ExpiresAt.IsZero() {
		return relink.Errorf(relink.EINVALID, "A code needs a flow, a workspace, a hash and an expiry.")
	}
	if err := store.CheckCodePayload(c.Payload); err != nil {
		return err
	}
	item, err := marshal(toCodeItem(c))
	if err != nil {
		return err
	}
	_, err = s.api.PutItem(ctx, &dynamodb.PutItemInput{TableName: &s.table, Item: item})
	return s.classify("put code", err)
}

func (s *Store) GetCode(ctx context.Context, id string) (magiclink.Code, error) {
	if blank(id) {
		return magiclink.Code{}, relink.Errorf(relink.ENOTFOUND, msgCodeNotFound)
	}
	var it codeItem
	if err := s.get(ctx, codePK(id), skCode, &it, msgCodeNotFound); err != nil {
		return magiclink.Code{}, err
	}
	if s.expired(it.PurgeAt) {
		return magiclink.Code{}, relink.Errorf(relink.ENOTFOUND, msgCodeNotFound)
	}
	return it.domain(), nil
}

// UpdateCode stores c if the stored code is still at c.Version-1 and not gone; a
// failed condition is ENOTFOUND if no live code is stored, ECONFLICT otherwise.
func (s *Store) UpdateCode(ctx context.Context, c magiclink.Code) error {
	if blank(c.ID, c.WorkspaceID, c.Hash) || c.ExpiresAt.IsZero() {
		return relink.Errorf(relink.EINVALID, "A code needs a flow, a workspace, a hash and an expiry.")
	}
	if err := store.CheckCodePayload(c.Payload); err != nil {
		return err
	}
	item, err := marshal(toCodeItem(c))
	if err != nil {
		return err
	}
	// The same code (hash) at the previous version: an attempt on a code that a resend
	// replaced must not overwrite the new one.
	same := expression.Name("Hash").Equal(expression.Value(c.Hash))
	return s.commit(ctx, "update code", write{item: item, cond: atVersion(c.Version-1).And(same, alive(s.nowMs())),
		conflict: msgCodeStale, notFound: msgCodeNotFound})
}
