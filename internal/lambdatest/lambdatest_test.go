package lambdatest

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestMain(m *testing.M) { Main(m) }

// hangGuard bounds every wait in these tests; it is never what a test checks.
const hangGuard = 2 * time.Minute

const echoDir = "internal/lambdatest/testdata/echo"

type echoResponse struct {
	Value        json.RawMessage `json:"value"`
	Greeting     string          `json:"greeting"`
	RequestID    string          `json:"requestId"`
	FunctionARN  string          `json:"functionArn"`
	TraceID      string          `json:"traceId"`
	DeadlineMs   int64           `json:"deadlineMs"`
	FunctionName string          `json:"functionName"`
	MemoryMB     int             `json:"memoryMb"`
	PID          int             `json:"pid"`
	Count        int             `json:"count"`
}

func startEcho(t *testing.T, env map[string]string) *Runtime {
	t.Helper()
	if env == nil {
		env = map[string]string{"ECHO_GREETING": "hello"}
	}
	return Start(t, BuildDir(t, echoDir), env)
}

func guardCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	t.Cleanup(cancel)
	return ctx
}

// invokeOK invokes and requires a successful response from the echo function.
func invokeOK(t *testing.T, r *Runtime, event string) (Result, echoResponse) {
	t.Helper()
	res, err := r.Invoke(guardCtx(t), []byte(event))
	if err != nil {
		t.Fatalf("Invoke(%s): %v", event, err)
	}
	if res.Error != nil {
		t.Fatalf("Invoke(%s): function error %+v", event, res.Error)
	}
	var out echoResponse
	if err := json.Unmarshal(res.Payload, &out); err != nil {
		t.Fatalf("Invoke(%s): response %q: %v", event, res.Payload, err)
	}
	return res, out
}

// invokeFailed invokes and requires a function error (posted to /error).
func invokeFailed(t *testing.T, r *Runtime, event string) Result {
	t.Helper()
	res, err := r.Invoke(guardCtx(t), []byte(event))
	if err != nil {
		t.Fatalf("Invoke(%s): %v", event, err)
	}
	if res.Error == nil {
		t.Fatalf("Invoke(%s): want a function error, got response %s", event, res.Payload)
	}
	return res
}

func TestBuildIsSharedPerTestBinary(t *testing.T) {
	a := BuildDir(t, echoDir)
	b := BuildDir(t, "./"+echoDir+"/")
	if a != b {
		t.Errorf("two builds of one package: %s and %s", a, b)
	}
	if !strings.HasSuffix(a, "/echo/bootstrap") {
		t.Errorf("binary %s: want .../echo/bootstrap (the directory names the function)", a)
	}
}

func TestBuildReportsCompilerOutput(t *testing.T) {
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir() + "/bootstrap"
	for _, tc := range []struct{ dir, want string }{
		{root + "/functions/no-such-function", "no-such-function"},
		{root + "/internal/lambdatest", "not package main"}, // not package main
		{"/", "outside the module"},
	} {
		err := compile(root, tc.dir, out)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("compile(%s) = %v, want an error mentioning %q", tc.dir, err, tc.want)
		}
	}
}

func TestEchoOnWarmInstance(t *testing.T) {
	t.Parallel()
	r := startEcho(t, nil)
	seen := map[string]bool{}
	var pid int
	for i, value := range []string{`1`, `"two"`, `{"three":[3]}`, `null`} {
		res, out := invokeOK(t, r, `{"value":`+value+`}`)
		if value != "null" && string(out.Value) != value {
			t.Errorf("invocation %d: echoed %s, sent %s", i, out.Value, value)
		}
		if out.Count != i+1 {
			t.Errorf("invocation %d: process served %d invocations, want %d (one warm process)", i, out.Count, i+1)
		}
		if pid == 0 {
			pid = out.PID
		} else if out.PID != pid {
			t.Errorf("invocation %d: pid %d, want %d (one warm process)", i, out.PID, pid)
		}
		if seen[res.RequestID] || out.RequestID != res.RequestID {
			t.Errorf("invocation %d: request ID %q (handler saw %q), want a fresh one each time", i, res.RequestID, out.RequestID)
		}
		seen[res.RequestID] = true
		if res.ContentType != "application/json" {
			t.Errorf("invocation %d: content type %q", i, res.ContentType)
		}
		if out.Greeting != "hello" {
			t.Errorf("invocation %d: greeting %q: env not passed", i, out.Greeting)
		}
		// AWS_LAMBDA_LOG_FORMAT=JSON: lambdacontext's logger writes JSON with the request ID.
		if !strings.Contains(r.Logs(), `"requestId":"`+res.RequestID+`"`) {
			t.Errorf("invocation %d: no JSON log line with requestId %s in:\n%s", i, res.RequestID, r.Logs())
		}
	}
}

func TestInvocationContextFromHeaders(t *testing.T) {
	t.Parallel()
	r := startEcho(t, map[string]string{"ECHO_GREETING": "hi", "AWS_REGION": "eu-west-1", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512"})
	deadline := time.Now().Add(time.Hour).Truncate(time.Millisecond)
	res, err := r.InvokeWithDeadline(guardCtx(t), []byte(`{}`), deadline)
	if err != nil || res.Error != nil {
		t.Fatalf("Invoke: %v %+v", err, res.Error)
	}
	var out echoResponse
	if err := json.Unmarshal(res.Payload, &out); err != nil {
		t.Fatal(err)
	}
	if out.DeadlineMs != deadline.UnixMilli() || !res.Deadline.Equal(deadline) {
		t.Errorf("handler's ctx deadline %d, result deadline %v; sent %d", out.DeadlineMs, res.Deadline, deadline.UnixMilli())
	}
	if want := "arn:aws:lambda:eu-west-1:123456789012:function:echo"; out.FunctionARN != want {
		t.Errorf("function ARN %q, want %q", out.FunctionARN, want)
	}
	if !strings.HasPrefix(out.TraceID, "Root=1-") {
		t.Errorf("trace ID %q, want an X-Ray header", out.TraceID)
	}
	if out.FunctionName != "echo" || out.MemoryMB != 512 {
		t.Errorf("function name %q memory %d, want echo and 512", out.FunctionName, out.MemoryMB)
	}
}

func TestHandlerErrorKeepsServing(t *testing.T) {
	t.Parallel()
	r := startEcho(t, nil)
	_, before := invokeOK(t, r, `{}`)
	res := invokeFailed(t, r, `{"action":"fail"}`)
	if res.Error.Message != "requested failure" || res.Error.Type != "echoError" {
		t.Errorf("error %+v, want errorMessage %q errorType %q", res.Error, "requested failure", "echoError")
	}
	var payload map[string]any
	if err := json.Unmarshal(res.Payload, &payload); err != nil || payload["errorMessage"] != "requested failure" {
		t.Errorf("error payload %s, want JSON with errorMessage", res.Payload)
	}
	_, after := invokeOK(t, r, `{}`)
	if after.PID != before.PID || after.Count != 3 {
		t.Errorf("after an error: pid %d count %d, want pid %d count 3 (same process)", after.PID, after.Count, before.PID)
	}
}

// aws-lambda-go reports a panic to /error with a stack trace, then exits the process
// (status 1); Lambda would start a fresh one for the next event, as Restart does.
func TestPanicReportedThenProcessExits(t *testing.T) {
	t.Parallel()
	r := startEcho(t, nil)
	_, before := invokeOK(t, r, `{}`)
	res := invokeFailed(t, r, `{"action":"panic"}`)
	if res.Error.Message != "requested panic" || res.Error.Type != "string" || len(res.Error.StackTrace) == 0 {
		t.Errorf("panic reported as %+v, want message %q, type string (the panic value's type) and a stack", res.Error, "requested panic")
	}
	state, err := r.Wait(guardCtx(t))
	if err != nil {
		t.Fatalf("process still running after a panic: %v", err)
	}
	if state.ExitCode() != 1 {
		t.Errorf("exit after panic: %v, want status 1", state)
	}
	if !strings.Contains(r.Logs(), "resulted in a panic, the process should exit") {
		t.Errorf("logs do not tell why the process exited:\n%s", r.Logs())
	}
	if _, err := r.Invoke(guardCtx(t), []byte(`{}`)); !errors.Is(err, ErrExited) {
		t.Fatalf("Invoke after exit: %v, want ErrExited", err)
	}
	r.Restart()
	_, after := invokeOK(t, r, `{}`)
	if after.PID == before.PID || after.Count != 1 {
		t.Errorf("after Restart: pid %d count %d, want a new process (not %d) on its first invocation", after.PID, after.Count, before.PID)
	}
}

// An event the handler's type cannot take is a function error from the library's
// json.Decoder, not a crash; the process keeps serving.
func TestMalformedEvent(t *testing.T) {
	t.Parallel()
	r := startEcho(t, nil)
	_, before := invokeOK(t, r, `{}`)
	for _, tc := range []struct{ event, typ, msg string }{
		{`{"action":`, "errorString", "unexpected EOF"}, // io.ErrUnexpectedEOF, not a SyntaxError
		{`not json`, "SyntaxError", "invalid character"},
		{`{"action":5}`, "UnmarshalTypeError", "cannot unmarshal number"},
		{``, "errorString", "EOF"}, // io.EOF: an empty event is an error too
	} {
		res := invokeFailed(t, r, tc.event)
		if res.Error.Type != tc.typ || !strings.Contains(res.Error.Message, tc.msg) {
			t.Errorf("event %q: error %+v, want type %s and message containing %q", tc.event, res.Error, tc.typ, tc.msg)
		}
	}
	// The library decodes one JSON value and ignores what follows it.
	invokeOK(t, r, `{"action":""} trailing garbage`)
	_, after := invokeOK(t, r, `{}`)
	if after.PID != before.PID {
		t.Errorf("pid %d after malformed events, want %d (same process)", after.PID, before.PID)
	}
}

// The handler gets the deadline as its context's deadline and stops there on its own.
func TestHandlerStopsAtDeadline(t *testing.T) {
	t.Parallel()
	r := startEcho(t, nil)
	res, err := r.InvokeWithDeadline(guardCtx(t), []byte(`{"action":"wait"}`), time.Now().Add(200*time.Millisecond))
	if err != nil {
		t.Fatalf("Invoke: %v", err)
	}
	if res.Error == nil || res.Error.Message != "context deadline exceeded" {
		t.Fatalf("result %+v, want the handler's context.DeadlineExceeded", res.Error)
	}
	invokeOK(t, r, `{}`) // and is still warm
}

func TestOverrunIsKilled(t *testing.T) {
	t.Parallel()
	r := startEcho(t, nil)
	r.Grace = 100 * time.Millisecond
	_, err := r.InvokeWithDeadline(guardCtx(t), []byte(`{"action":"hang"}`), time.Now().Add(100*time.Millisecond))
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("Invoke of a hanging handler: %v, want ErrTimeout", err)
	}
	if _, err := r.Wait(guardCtx(t)); err != nil {
		t.Fatalf("process not killed after a timeout: %v", err)
	}
	r.Grace = DefaultGrace
	r.Restart()
	invokeOK(t, r, `{}`)
}

func TestExitDuringInvocation(t *testing.T) {
	t.Parallel()
	r := startEcho(t, nil)
	_, err := r.Invoke(guardCtx(t), []byte(`{"action":"exit"}`))
	if !errors.Is(err, ErrExited) || !strings.Contains(err.Error(), "exit status 3") || !strings.Contains(err.Error(), `"action":"exit"`) {
		t.Fatalf("Invoke: %v\nwant ErrExited with the exit status and the logs", err)
	}
}

// A function that exits during init (here log.Fatal on missing config) is reported
// with its output rather than waited for.
func TestMissingConfigExitsAtStart(t *testing.T) {
	t.Parallel()
	r := startEcho(t, map[string]string{})
	res, err := r.Invoke(guardCtx(t), []byte(`{}`))
	if !errors.Is(err, ErrExited) || !strings.Contains(err.Error(), "ECHO_GREETING is required") {
		t.Fatalf("Invoke: %v %+v\nwant ErrExited with the function's output", err, res)
	}
	if state, err := r.Wait(guardCtx(t)); err != nil || state.ExitCode() != 1 {
		t.Errorf("Wait: %v %v, want exit status 1", state, err)
	}
}

func TestInitErrorReported(t *testing.T) {
	t.Parallel()
	r := startEcho(t, map[string]string{"ECHO_INIT_ERROR": "bad config"})
	res, err := r.Invoke(guardCtx(t), []byte(`{}`))
	if !errors.Is(err, ErrInit) {
		t.Fatalf("Invoke: %v, want ErrInit", err)
	}
	if res.Error == nil || res.Error.Type != "Runtime.ConfigError" || res.Error.Message != "bad config" {
		t.Errorf("init error %+v, want Runtime.ConfigError: bad config", res.Error)
	}
}

func TestUnknownRequestIDRefused(t *testing.T) {
	t.Parallel()
	r := startEcho(t, nil)
	url := r.current().srv.URL + "/2018-06-01/runtime/invocation/not-a-request/response"
	resp, err := http.Post(url, "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("response for an unknown request ID: status %d, want 400", resp.StatusCode)
	}
	invokeOK(t, r, `{}`)
}
