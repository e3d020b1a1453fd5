package bench

// Issue #8 item 4: cold start and binary size of each function.
//
// Each function is built for this host with the Makefile's flags (lambdatest.Build:
// CGO_ENABLED=0, -trimpath, -tags lambda.norpc, -ldflags='-s -w'), and so is a minimal
// aws-lambda-go handler (testdata/hello), the baseline. A cold start is the time from
// exec to the first response through the Lambda Runtime API (internal/lambdatest):
// the process starts, runs its init (configuration, AWS config, the app-keys secret
// fetched from Secrets Manager on moto, clients, templates) and answers its first
// event. The API functions get a request that touches no data (the OpenAPI document,
// the stylesheet); the scheduled ones their schedule's event, which sweeps an empty
// table (DynamoDB on dynalite when installed, else moto). The same event sent again to
// the warm process gives the handling time alone, so cold − warm estimates the init.
//
// Binary sizes are of linux/arm64 builds with the same flags, as `make build` ships.

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/relinkhq/relink/internal/dynamo"
	"github.com/relinkhq/relink/internal/lambdatest"
	"github.com/relinkhq/relink/internal/standin"
)

// coldSamples is how many cold starts are timed per binary (the median is reported).
const coldSamples = 7

// functionEvents: each function and the event of its first invocation.
var functionEvents = []struct{ fn, event string }{
	{"connect", "connect/stylesheet.json"},
	{"admin-api", "admin-api/openapi.json"},
	{"expiry-check", "expiry-check/scheduled.json"},
	{"reminders", "reminders/scheduled.json"},
}

// scoped is a testing.TB whose cleanups run when its scope ends rather than with the
// benchmark, so each cold-started process is stopped before the next is timed.
type scoped struct {
	testing.TB
	cleanups []func()
}

func (s *scoped) Cleanup(f func()) { s.cleanups = append(s.cleanups, f) }

func (s *scoped) end() {
	for i := len(s.cleanups) - 1; i >= 0; i-- {
		s.cleanups[i]()
	}
	s.cleanups = nil
}

// functionEnv creates what every function needs at start: a table and the three
// secrets, and returns the environment functions_test.go gives them.
func functionEnv(tb testing.TB) map[string]string {
	ctx := context.Background()
	moto := standin.Moto(tb)
	dbEndpoint := moto
	if os.Getenv("RELINK_BENCH_COLD_MOTO") != "1" {
		if ep, ok := tryStandin(tb, standin.Dynalite); ok {
			dbEndpoint = ep
		}
	}
	db := dynamodb.NewFromConfig(standin.AWSConfig(dbEndpoint))
	name := fmt.Sprintf("relink-cold-%d", time.Now().UnixNano())
	if err := dynamo.CreateTable(ctx, db, name); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		_, _ = db.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(name)})
	})
	sm := secretsmanager.NewFromConfig(standin.AWSConfig(moto))
	names := map[string]string{}
	for key, value := range map[string]string{
		"app-keys":   `{"master":"relink-bench-master-not-a-secret-0123456789abcdef"}`,
		"token-keys": `{"current":"k1","k1":"` + strings.Repeat("seed-", 10) + `"}`,
		"channels":   `{}`,
	} {
		n := name + "/" + key
		if _, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(n), SecretString: aws.String(value)}); err != nil {
			tb.Fatal(err)
		}
		names[key] = n
	}
	// What the eager fetch every function makes at start costs on its own.
	var trips []time.Duration
	for range coldSamples {
		t0 := time.Now()
		if _, err := secretsmanager.NewFromConfig(standin.AWSConfig(moto)).GetSecretValue(ctx,
			&secretsmanager.GetSecretValueInput{SecretId: aws.String(names["app-keys"])}); err != nil {
			tb.Fatal(err)
		}
		trips = append(trips, time.Since(t0))
	}
	record(figure{Section: "cold start", Name: "GetSecretValue from a new client (moto)", Value: ms(median(trips)), Unit: "ms",
		Note: "every function fetches its app-keys secret before lambda.Start: part of each init below"})
	return map[string]string{
		"TABLE_NAME":      name,
		"APP_KEYS_SECRET": names["app-keys"], "TOKEN_KEYS_SECRET": names["token-keys"], "CHANNELS_SECRET": names["channels"],
		"MAIL_FROM": "Relink <noreply@relink.example>", "SES_MAX_SEND_RATE": "10", "PUBLIC_URL": "https://links.relink.example",
		"AWS_ENDPOINT_URL_DYNAMODB": dbEndpoint, "AWS_ENDPOINT_URL_SECRETS_MANAGER": moto, "AWS_ENDPOINT_URL_SES": moto,
		"AWS_REGION": "us-east-1",
	}
}

// tryStandin starts a stand-in if it can, without skipping the benchmark when not.
func tryStandin(tb testing.TB, start func(testing.TB) string) (endpoint string, ok bool) {
	done := make(chan struct{})
	probe := &skipCatcher{TB: tb}
	go func() {
		defer close(done)
		endpoint = start(probe)
		ok = true
	}()
	<-done
	return endpoint, ok && !probe.skipped
}

// skipCatcher turns a stand-in's Skip (runtime.Goexit) into a flag.
type skipCatcher struct {
	testing.TB
	skipped bool
}

func (s *skipCatcher) Skipf(format string, args ...any) { s.skipped = true; runtime.Goexit() }
func (s *skipCatcher) Fatalf(format string, args ...any) {
	s.TB.Logf(format, args...)
	s.skipped = true
	runtime.Goexit()
}

type coldFigures struct {
	cold, warm time.Duration // medians
}

// coldStart times n cold starts of bin with event, each in a fresh process.
func coldStart(b *testing.B, bin string, env map[string]string, event []byte, n int) coldFigures {
	var colds, warms []time.Duration
	for range n {
		s := &scoped{TB: b}
		t0 := time.Now()
		rt := lambdatest.Start(s, bin, env)
		res, err := rt.Invoke(context.Background(), event)
		cold := time.Since(t0)
		if err != nil || res.Error != nil {
			s.end()
			b.Fatalf("%s: first invocation: %v %+v\n%s", bin, err, res.Error, rt.Logs())
		}
		t1 := time.Now()
		if res, err = rt.Invoke(context.Background(), event); err != nil || res.Error != nil {
			s.end()
			b.Fatalf("%s: second invocation: %v %+v", bin, err, res.Error)
		}
		warm := time.Since(t1)
		s.end()
		colds, warms = append(colds, cold), append(warms, warm)
	}
	return coldFigures{cold: median(colds), warm: median(warms)}
}

func BenchmarkColdStart(b *testing.B) {
	env := functionEnv(b)
	hello := lambdatest.BuildDir(b, "internal/bench/testdata/hello")
	var base coldFigures
	b.Run("hello", func(b *testing.B) {
		for range b.N {
			base = coldStart(b, hello, env, []byte(`{}`), coldSamples)
		}
		b.ReportMetric(ms(base.cold), "cold-ms")
		b.ReportMetric(ms(base.warm), "warm-ms")
	})
	root, err := moduleRoot()
	if err != nil {
		b.Fatal(err)
	}
	for _, fe := range functionEvents {
		b.Run(fe.fn, func(b *testing.B) {
			bin := lambdatest.Build(b, fe.fn)
			event, err := os.ReadFile(filepath.Join(root, "events", fe.event))
			if err != nil {
				b.Fatal(err)
			}
			// The baseline is measured again right before each function, so that a
			// machine whose speed drifts during the run compares like with like.
			var f coldFigures
			for range b.N {
				base = coldStart(b, hello, env, []byte(`{}`), coldSamples)
				f = coldStart(b, bin, env, event, coldSamples)
			}
			b.ReportMetric(ms(f.cold), "cold-ms")
			b.ReportMetric(ms(f.warm), "warm-ms")
			b.ReportMetric(ms(f.cold-f.warm), "init-ms")
			if base.cold > 0 {
				b.ReportMetric(float64(f.cold)/float64(base.cold), "ratio-vs-hello")
				record(figure{Section: "cold start", Name: fe.fn + ": exec → first response", Value: ms(f.cold), Unit: "ms",
					Baseline: ms(base.cold), BaseName: "hello handler, just before", Goal: "ratio <= 2",
					Note: fmt.Sprintf("median of %d; first event %s handled warm in %.1f ms", coldSamples, fe.event, ms(f.warm))})
				record(figure{Section: "cold start", Name: fe.fn + ": init (cold − warm)", Value: ms(f.cold - f.warm), Unit: "ms",
					Baseline: ms(base.cold - base.warm), BaseName: "hello handler, just before", Goal: "ratio <= 2"})
			}
		})
	}
}

// BenchmarkBinarySize builds every function for linux/arm64 as `make build` does and
// reports its size.
func BenchmarkBinarySize(b *testing.B) {
	root, err := moduleRoot()
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	builds := append([]string{"internal/bench/testdata/hello"}, func() []string {
		var fns []string
		for _, fe := range functionEvents {
			fns = append(fns, "functions/"+fe.fn)
		}
		return fns
	}()...)
	sizes := map[string]float64{}
	for _, pkg := range builds {
		name := filepath.Base(pkg)
		b.Run(name, func(b *testing.B) {
			out := filepath.Join(dir, name, "bootstrap")
			for range b.N {
				cmd := exec.Command("go", "build", "-tags", "lambda.norpc", "-trimpath", "-ldflags=-s -w", "-o", out, "./"+pkg)
				cmd.Dir = root
				cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=arm64")
				if output, err := cmd.CombinedOutput(); err != nil {
					b.Fatalf("go build %s: %v\n%s", pkg, err, output)
				}
			}
			fi, err := os.Stat(out)
			if err != nil {
				b.Fatal(err)
			}
			mib := float64(fi.Size()) / (1 << 20)
			sizes[name] = mib
			b.ReportMetric(mib, "MiB")
		})
	}
	names := make([]string, 0, len(sizes))
	for n := range sizes {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		if n == "hello" {
			continue
		}
		record(figure{Section: "binary size", Name: n + " (linux/arm64)", Value: sizes[n], Unit: "MiB",
			Baseline: sizes["hello"], BaseName: "hello handler", Goal: "value <= 10"})
	}
}

// moduleRoot is the directory holding go.mod above the working directory.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above %s", dir)
		}
		dir = parent
	}
}
