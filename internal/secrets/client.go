package secrets

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

// Client is API over the SDK client's operation as a method value, so that a binary
// linking text/template keeps only the operation it calls (see dynamo.Client).
type Client struct {
	getSecretValue func(ctx context.Context, in *secretsmanager.GetSecretValueInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

var _ API = Client{}

// NewClient returns the client's operations that the adapter calls.
func NewClient(c *secretsmanager.Client) Client {
	return Client{getSecretValue: c.GetSecretValue}
}

func (c Client) GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	return c.getSecretValue(ctx, in, opts...)
}
