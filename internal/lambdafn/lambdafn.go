// Package lambdafn is the AWS Lambda adapter for sweep.Fanout: a scheduled function
// starts the other partitions of its sweep as asynchronous invocations of itself.
package lambdafn

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/relinkhq/relink/internal/relink"
	"github.com/relinkhq/relink/internal/sweep"
)

// InvokeAPI is the part of the Lambda client the adapter uses.
type InvokeAPI interface {
	Invoke(ctx context.Context, in *lambda.InvokeInput, opts ...func(*lambda.Options)) (*lambda.InvokeOutput, error)
}

// Fanout invokes Function (a name or ARN; in Lambda, AWS_LAMBDA_FUNCTION_NAME is the
// function's own) once per partition, asynchronously: Lambda queues the event, retries
// a failed run twice, and the function's on-failure destination gets what still fails.
type Fanout struct {
	API      InvokeAPI
	Function string
}

var _ sweep.Fanout = (*Fanout)(nil)

// Start queues one invocation for partition p.
func (f *Fanout) Start(ctx context.Context, p sweep.Partition) error {
	payload, err := json.Marshal(sweep.Request{Partition: &p})
	if err != nil {
		return err
	}
	out, err := f.API.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String(f.Function),
		InvocationType: types.InvocationTypeEvent, Payload: payload})
	if err != nil {
		return relink.Wrap(err, relink.EUNAVAILABLE, "Starting partition %d of %d failed.", p.Index, p.Count)
	}
	if out.StatusCode != http.StatusAccepted {
		return relink.Errorf(relink.EUNAVAILABLE, "Starting partition %d of %d: Lambda answered %d.", p.Index, p.Count, out.StatusCode)
	}
	return nil
}
