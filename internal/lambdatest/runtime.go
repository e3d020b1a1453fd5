package lambdatest

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda/messages"
)

// Errors Invoke wraps; the messages carry the function's logs.
var (
	// ErrExited: the process exited before answering (a crash, log.Fatal during init,
	// or an earlier panic: aws-lambda-go exits after reporting one).
	ErrExited = errors.New("lambdatest: function process exited")
	// ErrTimeout: no answer by the deadline plus Grace; the process has been killed,
	// as Lambda resets an instance after a timeout.
	ErrTimeout = errors.New("lambdatest: invocation timed out")
	// ErrInit: the runtime posted /runtime/init/error; Result.Error holds its payload.
	ErrInit = errors.New("lambdatest: function reported an init error")
)

// Defaults for the Runtime fields of the same names.
const (
	DefaultTimeout = 30 * time.Second
	DefaultGrace   = 10 * time.Second
)

// Result is what the function posted for one invocation.
type Result struct {
	RequestID   string
	Payload     []byte // the body of /response, or of /error (errorMessage, errorType, …)
	ContentType string
	// Error is set when the function failed: posted to /error (handler errors, panics,
	// undecodable events), to /runtime/init/error, or as a streamed-response trailer.
	Error    *messages.InvokeResponse_Error
	Deadline time.Time // as sent in Lambda-Runtime-Deadline-Ms
}

// Runtime is one function served through the Runtime API: an execution environment
// (the process and its own API server) that takes one invocation at a time.
type Runtime struct {
	// Timeout sets the deadline Invoke sends (the function's configured timeout).
	Timeout time.Duration
	// Grace is how long past the deadline Invoke waits before giving up with ErrTimeout:
	// a hang guard, generous so that a slow machine never fails a test.
	Grace time.Duration

	t       testing.TB
	binary  string
	env     map[string]string
	logPath string // the processes' stdout and stderr

	invokeMu sync.Mutex // Lambda hands an instance one event at a time
	mu       sync.Mutex // guards inst
	inst     *instance  // nil once stopped
}

// Start runs binary as a Lambda function against a Runtime API served on 127.0.0.1.
// The environment is Lambda's (AWS_LAMBDA_FUNCTION_NAME from the binary's directory,
// memory 128, $LATEST, us-east-1, _HANDLER=bootstrap, JSON logs at INFO, dummy
// credentials so nothing reaches a real AWS account) overlaid with env; the test's own
// environment is not passed on. The process is killed in t.Cleanup, and its output is
// logged there if the test failed.
func Start(t testing.TB, binary string, env map[string]string) *Runtime {
	t.Helper()
	r := &Runtime{
		Timeout: DefaultTimeout, Grace: DefaultGrace,
		t: t, binary: binary, env: maps.Clone(env),
		logPath: filepath.Join(t.TempDir(), "output.log"),
	}
	inst, err := r.launch()
	if err != nil {
		t.Fatalf("lambdatest: %v", err)
	}
	r.inst = inst
	t.Cleanup(func() {
		r.mu.Lock()
		if r.inst != nil {
			r.inst.shutdown()
			r.inst = nil
		}
		r.mu.Unlock()
		if t.Failed() {
			t.Logf("lambdatest: output of %s:\n%s", binary, r.Logs())
		}
	})
	return r
}

// Restart replaces the process with a fresh one (a cold start), as Lambda does after
// a process exits or times out. Logs keep accumulating.
func (r *Runtime) Restart() {
	r.t.Helper()
	r.invokeMu.Lock()
	defer r.invokeMu.Unlock()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.inst != nil {
		r.inst.shutdown()
		r.inst = nil
	}
	inst, err := r.launch()
	if err != nil {
		r.t.Fatalf("lambdatest: %v", err)
	}
	r.inst = inst
}

// Logs returns everything the function's processes wrote to stdout and stderr so far,
// including all a function logged before posting its answer to an invocation.
func (r *Runtime) Logs() string {
	b, err := os.ReadFile(r.logPath)
	if err != nil {
		return fmt.Sprintf("(no output: %v)", err)
	}
	return string(b)
}

// Wait waits for the current process to exit, e.g. after a panic.
func (r *Runtime) Wait(ctx context.Context) (*os.ProcessState, error) {
	inst := r.current()
	if inst == nil {
		return nil, errors.New("lambdatest: runtime stopped")
	}
	select {
	case <-inst.exited:
		return inst.state, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Invoke hands event to the function with a deadline Timeout from now and returns
// what it posted. It waits at most until the deadline plus Grace.
func (r *Runtime) Invoke(ctx context.Context, event []byte) (Result, error) {
	return r.InvokeWithDeadline(ctx, event, time.Now().Add(r.Timeout))
}

// InvokeWithDeadline is Invoke with the deadline sent in Lambda-Runtime-Deadline-Ms
// (millisecond precision). If the process exits, posts an init error, or overruns
// the deadline by Grace, the error says so (ErrExited, ErrInit, ErrTimeout) with the
// logs. If ctx ends while the function holds the event, the process is killed so the
// next invocation does not meet a busy instance.
func (r *Runtime) InvokeWithDeadline(ctx context.Context, event []byte, deadline time.Time) (Result, error) {
	r.invokeMu.Lock()
	defer r.invokeMu.Unlock()
	inst := r.current()
	if inst == nil {
		return Result{}, errors.New("lambdatest: runtime stopped")
	}
	deadline = time.UnixMilli(deadline.UnixMilli()) // what the header can carry
	inv := &invocation{
		id:       newRequestID(),
		event:    event,
		deadline: deadline,
		arn:      fmt.Sprintf("arn:aws:lambda:%s:123456789012:function:%s", inst.env["AWS_REGION"], inst.env["AWS_LAMBDA_FUNCTION_NAME"]),
		traceID:  newTraceID(),
		done:     make(chan Result, 1),
	}
	guard := time.NewTimer(time.Until(deadline) + r.Grace)
	defer guard.Stop()

	// Hand the event to the runtime's pending GET /next.
	select {
	case inst.next <- inv:
	case <-inst.initFailed:
		return r.initFailure(inst)
	case <-inst.exited:
		if isClosed(inst.initFailed) { // it posted an init error, then exited
			return r.initFailure(inst)
		}
		return Result{}, r.exitError(inst, "before taking the event")
	case <-ctx.Done():
		return Result{}, fmt.Errorf("lambdatest: waiting for GET /next: %w", ctx.Err())
	case <-guard.C:
		inst.kill()
		return Result{}, fmt.Errorf("%w: the function never asked for the event (GET /next) by the deadline plus %v; killed\n%s", ErrTimeout, r.Grace, r.Logs())
	}

	select {
	case res := <-inv.done:
		return res, nil
	case <-inst.exited:
		// An answer posted just before exiting (as after a panic) still counts.
		select {
		case res := <-inv.done:
			return res, nil
		default:
		}
		return Result{}, r.exitError(inst, "during invocation "+inv.id)
	case <-ctx.Done():
		inst.kill()
		return Result{}, fmt.Errorf("lambdatest: invocation %s: %w; process killed", inv.id, ctx.Err())
	case <-guard.C:
		inst.kill()
		return Result{}, fmt.Errorf("%w: invocation %s not answered by the deadline plus %v; killed\n%s", ErrTimeout, inv.id, r.Grace, r.Logs())
	}
}

func (r *Runtime) current() *instance {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.inst
}

func (r *Runtime) initFailure(inst *instance) (Result, error) {
	res := Result{Payload: inst.initBody, ContentType: "application/json", Error: inst.initErr}
	return res, fmt.Errorf("%w: %s: %s\n%s", ErrInit, inst.initErr.Type, inst.initErr.Message, r.Logs())
}

func (r *Runtime) exitError(inst *instance, when string) error {
	status := "unknown status"
	if inst.state != nil {
		status = inst.state.String()
	} else if inst.waitErr != nil {
		status = inst.waitErr.Error()
	}
	return fmt.Errorf("%w %s (%s); output:\n%s", ErrExited, when, status, r.Logs())
}

// launch starts one execution environment: an API server and the process using it.
func (r *Runtime) launch() (*instance, error) {
	env := lambdaEnv(filepath.Dir(r.binary), r.env)
	inst := &instance{
		env:        env,
		next:       make(chan *invocation),
		stop:       make(chan struct{}),
		exited:     make(chan struct{}),
		initFailed: make(chan struct{}),
		inflight:   map[string]*invocation{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /2018-06-01/runtime/invocation/next", inst.handleNext)
	mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/response", func(w http.ResponseWriter, req *http.Request) {
		inst.handleResult(w, req, false)
	})
	mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/error", func(w http.ResponseWriter, req *http.Request) {
		inst.handleResult(w, req, true)
	})
	mux.HandleFunc("POST /2018-06-01/runtime/init/error", inst.handleInitError)
	inst.srv = httptest.NewServer(mux) // listens on 127.0.0.1

	env["AWS_LAMBDA_RUNTIME_API"] = inst.srv.Listener.Addr().String()
	cmd := exec.Command(r.binary)
	cmd.Dir = filepath.Dir(r.binary) // Lambda runs bootstrap in LAMBDA_TASK_ROOT
	cmd.Env = envList(env)
	// A file rather than a pipe: the child writes it directly, so whatever it logged
	// before answering is in Logs() when Invoke returns (a pipe may still be draining).
	logFile, err := os.OpenFile(r.logPath, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		close(inst.stop)
		inst.srv.Close()
		return nil, err
	}
	defer logFile.Close() // the child has its own descriptor
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Linux only, like Lambda and CI: the function dies with the test binary.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		close(inst.stop)
		inst.srv.Close()
		return nil, fmt.Errorf("start %s: %w", r.binary, err)
	}
	inst.cmd = cmd
	go func() {
		inst.waitErr = cmd.Wait()
		inst.state = cmd.ProcessState
		close(inst.exited)
	}()
	return inst, nil
}

// lambdaEnv is the environment Lambda gives a provided.al2023 function, overlaid with
// the caller's. Dummy credentials keep the SDK from looking further (IMDS, profiles).
// The function is named after the binary's directory (Build keeps the package's name).
func lambdaEnv(taskRoot string, overlay map[string]string) map[string]string {
	env := map[string]string{
		"PATH":                            "/usr/local/bin:/usr/bin/:/bin:/opt/bin",
		"LANG":                            "en_US.UTF-8",
		"TZ":                              ":UTC",
		"LAMBDA_TASK_ROOT":                taskRoot,
		"LAMBDA_RUNTIME_DIR":              "/var/runtime",
		"_HANDLER":                        "bootstrap",
		"AWS_REGION":                      "us-east-1",
		"AWS_DEFAULT_REGION":              "us-east-1",
		"AWS_LAMBDA_FUNCTION_NAME":        filepath.Base(taskRoot),
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
		"AWS_LAMBDA_FUNCTION_VERSION":     "$LATEST",
		"AWS_LAMBDA_INITIALIZATION_TYPE":  "on-demand",
		"AWS_LAMBDA_LOG_FORMAT":           "JSON",
		"AWS_LAMBDA_LOG_LEVEL":            "INFO",
		"AWS_ACCESS_KEY_ID":               "test",
		"AWS_SECRET_ACCESS_KEY":           "test",
		"AWS_SESSION_TOKEN":               "test",
	}
	maps.Copy(env, overlay)
	if _, ok := overlay["AWS_LAMBDA_LOG_GROUP_NAME"]; !ok {
		env["AWS_LAMBDA_LOG_GROUP_NAME"] = "/aws/lambda/" + env["AWS_LAMBDA_FUNCTION_NAME"]
	}
	if _, ok := overlay["AWS_LAMBDA_LOG_STREAM_NAME"]; !ok {
		env["AWS_LAMBDA_LOG_STREAM_NAME"] = time.Now().UTC().Format("2006/01/02") + "/[$LATEST]" + randomHex(16)
	}
	return env
}

func envList(env map[string]string) []string {
	list := make([]string, 0, len(env))
	for k, v := range env {
		list = append(list, k+"="+v)
	}
	sort.Strings(list)
	return list
}

// instance is one execution environment: a process and the API server only it talks
// to, so a replaced process can never take an event meant for its successor.
type instance struct {
	env map[string]string
	srv *httptest.Server
	cmd *exec.Cmd

	next       chan *invocation // unbuffered: handed straight to a waiting GET /next
	stop       chan struct{}    // closed at shutdown to release GET /next
	exited     chan struct{}    // closed once the process has exited
	initFailed chan struct{}    // closed when /runtime/init/error arrives

	// Set before exited is closed.
	state   *os.ProcessState
	waitErr error

	mu       sync.Mutex
	inflight map[string]*invocation
	initErr  *messages.InvokeResponse_Error // set before initFailed is closed
	initBody []byte
}

type invocation struct {
	id, arn, traceID string
	event            []byte
	deadline         time.Time
	done             chan Result // buffered: the handler never waits for Invoke
}

func (in *instance) handleNext(w http.ResponseWriter, req *http.Request) {
	select {
	case inv := <-in.next:
		in.mu.Lock()
		in.inflight[inv.id] = inv
		in.mu.Unlock()
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("Lambda-Runtime-Aws-Request-Id", inv.id)
		h.Set("Lambda-Runtime-Deadline-Ms", strconv.FormatInt(inv.deadline.UnixMilli(), 10))
		h.Set("Lambda-Runtime-Invoked-Function-Arn", inv.arn)
		h.Set("Lambda-Runtime-Trace-Id", inv.traceID)
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(inv.event)
	case <-req.Context().Done(): // the process went away
	case <-in.stop:
		writeJSON(w, http.StatusInternalServerError, "Runtime API shutting down", "ServiceException")
	}
}

func (in *instance) handleResult(w http.ResponseWriter, req *http.Request, failed bool) {
	id := req.PathValue("id")
	body, err := io.ReadAll(req.Body)
	if err != nil {
		return // the process died mid-post; Invoke sees it exit
	}
	in.mu.Lock()
	inv := in.inflight[id]
	delete(in.inflight, id)
	in.mu.Unlock()
	if inv == nil {
		// Lambda's answer for an unknown or already answered request ID.
		writeJSON(w, http.StatusBadRequest, "Invalid request ID", "InvalidRequestID")
		return
	}
	res := Result{RequestID: id, Payload: body, ContentType: req.Header.Get("Content-Type"), Deadline: inv.deadline}
	if failed {
		res.Error = decodeError(body, req.Header.Get("Lambda-Runtime-Function-Error-Type"))
	} else if typ := req.Trailer.Get("Lambda-Runtime-Function-Error-Type"); typ != "" {
		// A response whose body failed while streaming: the error comes as trailers.
		b, _ := base64.StdEncoding.DecodeString(req.Trailer.Get("Lambda-Runtime-Function-Error-Body"))
		res.Error = decodeError(b, typ)
	}
	inv.done <- res // before the 202, so it is there before the process can exit
	writeJSON(w, http.StatusAccepted, "", "")
}

func (in *instance) handleInitError(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		return
	}
	in.mu.Lock()
	if in.initErr == nil {
		in.initErr = decodeError(body, req.Header.Get("Lambda-Runtime-Function-Error-Type"))
		in.initBody = body
		close(in.initFailed)
	}
	in.mu.Unlock()
	writeJSON(w, http.StatusAccepted, "", "")
}

// decodeError reads an error payload. Any body is accepted, as Lambda does: one that
// is not the usual JSON becomes the message, and the type falls back to the header.
func decodeError(body []byte, headerType string) *messages.InvokeResponse_Error {
	var e messages.InvokeResponse_Error
	if err := json.Unmarshal(body, &e); err != nil {
		e = messages.InvokeResponse_Error{Message: string(body)}
	}
	if e.Type == "" {
		e.Type = headerType
	}
	return &e
}

func writeJSON(w http.ResponseWriter, status int, message, typ string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if typ == "" {
		_, _ = io.WriteString(w, `{"status":"OK"}`)
		return
	}
	_ = json.NewEncoder(w).Encode(map[string]string{"errorMessage": message, "errorType": typ})
}

// kill stops the process without waiting; exited is closed once it is gone.
func (in *instance) kill() {
	_ = in.cmd.Process.Kill()
}

// shutdown kills the process before closing the server: httptest.Server.Close waits
// for handlers, and GET /next only returns once its client is gone or stop is closed.
func (in *instance) shutdown() {
	in.kill()
	<-in.exited
	close(in.stop)
	in.srv.Close()
}

func isClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// newRequestID returns a random UUID (version 4), the form of Lambda's request IDs.
func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// newTraceID returns an X-Ray trace header as Lambda sends it (not sampled).
func newTraceID() string {
	return fmt.Sprintf("Root=1-%08x-%s;Parent=%s;Sampled=0", time.Now().Unix(), randomHex(12), randomHex(8))
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
