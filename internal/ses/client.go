package ses

import (
	"context"

	awsses "github.com/aws/aws-sdk-go-v2/service/ses"
)

// Client is API over the SDK client's operations as method values, so that a binary
// linking text/template keeps only the operations it calls (see dynamo.Client).
type Client struct {
	sendEmail    func(ctx context.Context, in *awsses.SendEmailInput, opts ...func(*awsses.Options)) (*awsses.SendEmailOutput, error)
	getSendQuota func(ctx context.Context, in *awsses.GetSendQuotaInput, opts ...func(*awsses.Options)) (*awsses.GetSendQuotaOutput, error)
}

var _ API = Client{}

// NewClient returns the client's operations that the adapter calls.
func NewClient(c *awsses.Client) Client {
	return Client{sendEmail: c.SendEmail, getSendQuota: c.GetSendQuota}
}

func (c Client) SendEmail(ctx context.Context, in *awsses.SendEmailInput, opts ...func(*awsses.Options)) (*awsses.SendEmailOutput, error) {
	return c.sendEmail(ctx, in, opts...)
}

func (c Client) GetSendQuota(ctx context.Context, in *awsses.GetSendQuotaInput, opts ...func(*awsses.Options)) (*awsses.GetSendQuotaOutput, error) {
	return c.getSendQuota(ctx, in, opts...)
}
