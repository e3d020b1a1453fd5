// Command echo is the function the lambdatest harness tests itself with. It is wired
// like the real functions: required config from the environment, then lambda.Start.
//
// The event's action picks the behaviour: "" echoes value with what the handler saw of
// its invocation; "fail" returns an error; "panic" panics; "wait" blocks until the
// context's deadline; "hang" ignores the deadline and never returns; "exit" exits the
// process mid-invocation.
//
// ECHO_GREETING is required (missing, the process exits at start like a function with
// missing config); ECHO_INIT_ERROR makes it report an init error through the Runtime API.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log"
	"net/http"
	"os"
	"strconv"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
)

type request struct {
	Action string          `json:"action"`
	Value  json.RawMessage `json:"value,omitempty"`
}

type response struct {
	Value        json.RawMessage `json:"value,omitempty"`
	Greeting     string          `json:"greeting"`
	RequestID    string          `json:"requestId"`
	FunctionARN  string          `json:"functionArn"`
	TraceID      string          `json:"traceId"`    // _X_AMZN_TRACE_ID, set per invocation by the library
	DeadlineMs   int64           `json:"deadlineMs"` // the handler context's deadline
	FunctionName string          `json:"functionName"`
	MemoryMB     int             `json:"memoryMb"`
	PID          int             `json:"pid"`
	Count        int             `json:"count"` // invocations this process has served
}

// echoError gives the error a type name of its own, which becomes errorType.
type echoError struct{ msg string }

func (e *echoError) Error() string { return e.msg }

func main() {
	if msg := os.Getenv("ECHO_INIT_ERROR"); msg != "" {
		reportInitError(msg)
		os.Exit(1)
	}
	greeting := os.Getenv("ECHO_GREETING")
	if greeting == "" {
		log.Fatal("config: ECHO_GREETING is required")
	}
	logger := lambdacontext.NewLogger()
	count := 0 // one invocation at a time per process, so no lock
	lambda.Start(func(ctx context.Context, req request) (response, error) {
		count++
		logger.InfoContext(ctx, "invoked", "action", req.Action)
		switch req.Action {
		case "fail":
			return response{}, &echoError{"requested failure"}
		case "panic":
			panic("requested panic")
		case "wait":
			<-ctx.Done()
			return response{}, ctx.Err()
		case "hang":
			select {}
		case "exit":
			os.Exit(3)
		}
		lc, _ := lambdacontext.FromContext(ctx)
		deadline, _ := ctx.Deadline()
		return response{
			Value:        req.Value,
			Greeting:     greeting,
			RequestID:    lc.AwsRequestID,
			FunctionARN:  lc.InvokedFunctionArn,
			TraceID:      os.Getenv("_X_AMZN_TRACE_ID"),
			DeadlineMs:   deadline.UnixMilli(),
			FunctionName: lambdacontext.FunctionName,
			MemoryMB:     lambdacontext.MemoryLimitInMB,
			PID:          os.Getpid(),
			Count:        count,
		}, nil
	})
}

// reportInitError posts to /runtime/init/error, which aws-lambda-go itself never does.
func reportInitError(msg string) {
	body, _ := json.Marshal(map[string]string{"errorMessage": msg, "errorType": "Runtime.ConfigError"})
	url := "http://" + os.Getenv("AWS_LAMBDA_RUNTIME_API") + "/2018-06-01/runtime/init/error"
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Lambda-Runtime-Function-Error-Type", "Runtime.ConfigError")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		log.Fatalf("init error not reported: %v", err)
	}
	resp.Body.Close()
	log.Print("init error reported: " + strconv.Quote(msg))
}
