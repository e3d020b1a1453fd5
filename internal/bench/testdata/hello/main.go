// Command hello is the cold-start baseline of `make bench`: the smallest aws-lambda-go
// function, built with the same flags as Relink's functions. It answers every event
// with a greeting.
package main

import (
	"context"
	"encoding/json"

	"github.com/aws/aws-lambda-go/lambda"
)

func main() {
	lambda.Start(func(_ context.Context, _ json.RawMessage) (string, error) {
		return "hello", nil
	})
}
