package awsenv

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

func lookup(env map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := env[k]; return v, ok }
}

func TestConfigFromLambdaEnvironment(t *testing.T) {
	cfg, err := Config(lookup(map[string]string{
		EnvRegion: "eu-west-1", EnvAccessKeyID: "AKIDEXAMPLE", EnvSecretKey: "secret", EnvSessionToken: "session",
		"AWS_ENDPOINT_URL_SECRETS_MANAGER": "http://127.0.0.1:5000",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Region != "eu-west-1" {
		t.Errorf("region %q", cfg.Region)
	}
	creds, err := cfg.Credentials.Retrieve(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if creds.AccessKeyID != "AKIDEXAMPLE" || creds.SecretAccessKey != "secret" || creds.SessionToken != "session" {
		t.Errorf("credentials %+v", creds)
	}
	// The SDK's own resolution picks the service-specific endpoint for its service only.
	if got := secretsmanager.NewFromConfig(cfg).Options().BaseEndpoint; got == nil || *got != "http://127.0.0.1:5000" {
		t.Errorf("secrets manager endpoint %v", got)
	}
	if got := dynamodb.NewFromConfig(cfg).Options().BaseEndpoint; got != nil {
		t.Errorf("dynamodb endpoint %q, want the default", *got)
	}
}

func TestConfigGlobalEndpoint(t *testing.T) {
	cfg, err := Config(lookup(map[string]string{EnvRegion: "us-east-1", EnvEndpointURL: "http://127.0.0.1:4566"}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Credentials != nil {
		t.Error("credentials without any in the environment")
	}
	if got := dynamodb.NewFromConfig(cfg).Options().BaseEndpoint; got == nil || *got != "http://127.0.0.1:4566" {
		t.Errorf("dynamodb endpoint %v", got)
	}
}

func TestConfigNeedsRegion(t *testing.T) {
	if _, err := Config(lookup(map[string]string{EnvRegion: "  "})); err == nil {
		t.Fatal("no error without a region")
	}
}
