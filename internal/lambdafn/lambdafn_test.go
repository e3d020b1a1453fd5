package lambdafn

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/relinkhq/relink/internal/relink"
	"github.com/relinkhq/relink/internal/standin"
	"github.com/relinkhq/relink/internal/sweep"
)

func TestMain(m *testing.M) { standin.Main(m) }

// TestFanoutQueuesInvocations: against moto's Lambda, a partition is queued as an
// asynchronous invocation of the function (202), and a function that does not exist
// is a clear EUNAVAILABLE, not a silent loss.
func TestFanoutQueuesInvocations(t *testing.T) {
	moto := standin.Moto(t)
	client := lambda.NewFromConfig(standin.AWSConfig(moto))
	ctx := context.Background()
	// moto's Lambda wants a role it knows; IAM's query API is one signed form post.
	form := url.Values{"Action": {"CreateRole"}, "Version": {"2010-05-08"}, "RoleName": {"relink"},
		"AssumeRolePolicyDocument": {`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}`}}.Encode()
	req, _ := http.NewRequest(http.MethodPost, moto, strings.NewReader(form))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	sum := sha256.Sum256([]byte(form))
	cfg := standin.AWSConfig(moto)
	creds, _ := cfg.Credentials.Retrieve(ctx)
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), "iam", "us-east-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("create role: %d", resp.StatusCode)
	}
	var zipped bytes.Buffer
	zw := zip.NewWriter(&zipped)
	w, _ := zw.Create("bootstrap")
	w.Write([]byte("#!/bin/sh\n"))
	zw.Close()
	if _, err := client.CreateFunction(ctx, &lambda.CreateFunctionInput{FunctionName: aws.String("relink-test-expiry-check"),
		Runtime: types.RuntimeProvidedal2023, Handler: aws.String("bootstrap"), Role: aws.String("arn:aws:iam::123456789012:role/relink"),
		Architectures: []types.Architecture{types.ArchitectureArm64}, Code: &types.FunctionCode{ZipFile: zipped.Bytes()}}); err != nil {
		t.Fatal(err)
	}
	f := &Fanout{API: client, Function: "relink-test-expiry-check"}
	for i := 1; i < 4; i++ {
		if err := f.Start(ctx, sweep.Partition{Index: i, Count: 4}); err != nil {
			t.Fatalf("partition %d: %v", i, err)
		}
	}
	missing := &Fanout{API: client, Function: "relink-test-nothing"}
	if err := missing.Start(ctx, sweep.Partition{Index: 1, Count: 2}); relink.ErrorCode(err) != relink.EUNAVAILABLE {
		t.Fatalf("a missing function: %v", err)
	}
}

// recorder checks what the adapter asks Lambda for.
type recorder struct{ in *lambda.InvokeInput }

func (r *recorder) Invoke(_ context.Context, in *lambda.InvokeInput, _ ...func(*lambda.Options)) (*lambda.InvokeOutput, error) {
	r.in = in
	return &lambda.InvokeOutput{StatusCode: 202}, nil
}

// TestFanoutPayload: the invocation is asynchronous and carries exactly the partition
// request the function decodes.
func TestFanoutPayload(t *testing.T) {
	r := &recorder{}
	if err := (&Fanout{API: r, Function: "fn"}).Start(context.Background(), sweep.Partition{Index: 2, Count: 5}); err != nil {
		t.Fatal(err)
	}
	if r.in.InvocationType != types.InvocationTypeEvent || aws.ToString(r.in.FunctionName) != "fn" {
		t.Fatalf("invoke %+v", r.in)
	}
	if got := sweep.Decode(r.in.Payload).Partition; got == nil || *got != (sweep.Partition{Index: 2, Count: 5}) {
		t.Fatalf("payload %s", r.in.Payload)
	}
}
