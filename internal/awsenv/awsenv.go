// Package awsenv builds the AWS SDK configuration of a Lambda function from its
// environment.
//
// In Lambda, config.LoadDefaultConfig resolves to exactly what this package reads: the
// region and the execution role's credentials, which the runtime puts in the
// environment. But it also links the STS, SSO, SSO-OIDC and sign-in clients and the
// shared-config parser, and looks for ~/.aws files on every cold start; this package
// does neither (see the README's Performance section for the measured difference).
package awsenv

import (
	"context"
	"errors"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// Environment variables read. The endpoint overrides are the SDK's own names
// (AWS_ENDPOINT_URL_<SERVICE ID>); the tests use them to point at stand-ins.
const (
	EnvRegion       = "AWS_REGION"
	EnvAccessKeyID  = "AWS_ACCESS_KEY_ID"
	EnvSecretKey    = "AWS_SECRET_ACCESS_KEY"
	EnvSessionToken = "AWS_SESSION_TOKEN"
	EnvEndpointURL  = "AWS_ENDPOINT_URL"
)

// Config returns the SDK configuration read through lookup (os.LookupEnv in a
// function). The region is required; without credentials in the environment
// (never the case in Lambda) the clients' requests fail to sign, which a request
// reports, rather than the function refusing to start.
func Config(lookup func(string) (string, bool)) (aws.Config, error) {
	get := func(name string) string {
		v, _ := lookup(name)
		return strings.TrimSpace(v)
	}
	region := get(EnvRegion)
	if region == "" {
		return aws.Config{}, errors.New("awsenv: " + EnvRegion + " is not set")
	}
	cfg := aws.Config{Region: region, ConfigSources: []any{endpoints{lookup: lookup}}}
	if id, key := get(EnvAccessKeyID), get(EnvSecretKey); id != "" && key != "" {
		// The role's session credentials last as long as the execution environment,
		// as with LoadDefaultConfig's environment provider (also static).
		cfg.Credentials = aws.NewCredentialsCache(credentials.NewStaticCredentialsProvider(id, key, get(EnvSessionToken)))
	}
	if url := get(EnvEndpointURL); url != "" {
		cfg.BaseEndpoint = aws.String(url)
	}
	return cfg, nil
}

// endpoints answers the service clients' question for a service-specific endpoint
// (AWS_ENDPOINT_URL_DYNAMODB, AWS_ENDPOINT_URL_SECRETS_MANAGER, ...): the SDK asks
// every configuration source for GetServiceBaseEndpoint when it builds a client.
type endpoints struct {
	lookup func(string) (string, bool)
}

// GetServiceBaseEndpoint returns the endpoint set for the service whose SDK ID is
// sdkID ("DynamoDB", "Secrets Manager").
func (e endpoints) GetServiceBaseEndpoint(_ context.Context, sdkID string) (string, bool, error) {
	name := EnvEndpointURL + "_" + strings.ToUpper(strings.ReplaceAll(sdkID, " ", "_"))
	v, ok := e.lookup(name)
	v = strings.TrimSpace(v)
	return v, ok && v != "", nil
}
