# Relink — the two commands a newcomer needs are `make run` and `make test`.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
GO ?= go

# Lambda binaries: provided.al2023 on arm64, one `bootstrap` per function.
GOARCH ?= arm64
BUILD_ENV := CGO_ENABLED=0 GOOS=linux GOARCH=$(GOARCH)
BUILD_FLAGS := -tags lambda.norpc -trimpath -ldflags='-s -w'
BUILD_DIR ?= bin

# Every function as directory:LogicalId (the LogicalId in template.yaml). Each one
# also gets an explicit build-<LogicalId> target below, which `sam build` calls.
FUNCTIONS := connect:ConnectFunction admin-api:AdminApiFunction expiry-check:ExpiryCheckFunction \
	reminders:RemindersFunction

# build_function(dir, output directory)
define build_function
	$(BUILD_ENV) $(GO) build $(BUILD_FLAGS) -o $(2)/bootstrap ./functions/$(1)
endef

.PHONY: run test lint build tools bench fuzz clean

# Fuzz targets as package:FuzzName, run one after another (go test fuzzes one target
# of one package at a time). Their seed corpora (testdata/fuzz/<FuzzName>/ and f.Add)
# run with every `go test`. FUZZ_QUICK also fuzz for FUZZTIME_QUICK each in `make
# test` (an optional third field is that target's own time: the admin API needs a few
# seconds just to replay its corpus; `make test FUZZ_QUICK=` skips the step);
# `make fuzz` runs every target for FUZZTIME. A failing input is written to the
# package's testdata/fuzz/<FuzzName>/ and reproduces with `go test -run=<FuzzName>/<file>`.
FUZZTIME ?= 30s
FUZZTIME_QUICK ?= 2s
FUZZ_QUICK := ./internal/api:FuzzAdminAPI:6s ./internal/store:FuzzCursorOpen ./internal/portal:FuzzOAuthCallback \
	./internal/portal:FuzzOpenLink ./internal/portal:FuzzInviteCode ./internal/magiclink:FuzzLinkToken \
	./internal/magiclink:FuzzCodeVerify ./internal/channel:FuzzClassifyEveryChannel ./internal/apigw:FuzzServeEvent
FUZZ_TARGETS := $(FUZZ_QUICK) ./internal/magiclink:FuzzHashToken ./internal/vault:FuzzOpen \
	./internal/channel:FuzzClassifyMeta ./internal/channel:FuzzClassifyLinkedIn ./internal/channel:FuzzClassifyGoogle \
	./internal/channel:FuzzClassifyX ./internal/channel:FuzzClassifyTikTok ./internal/channel:FuzzClassifyPinterest

# fuzz_run(targets, time, own): each target is package:FuzzName[:time]; its own time
# counts when own is set.
define fuzz_run
	@for t in $(1); do \
		IFS=: read -r pkg fn own <<< "$$t"; time=$(2); [ -z "$(3)" ] || time=$${own:-$(2)}; \
		echo "fuzz $$fn ($$pkg) for $$time"; \
		$(GO) test -run='^$$' -fuzz="^$$fn\$$" -fuzztime=$$time $$pkg || exit 1; \
	done
endef

## run: the whole service locally on the embedded store with demo data (no AWS account)
run:
	$(GO) run ./scripts/devserver

## test: lint, then every test; stand-ins for AWS are started by the tests themselves
test: tools lint
	$(GO) test -race -count=1 ./...
	$(call fuzz_run,$(FUZZ_QUICK),$(FUZZTIME_QUICK),own)

## lint: formatting, vet, and a tidy go.mod
lint:
	@unformatted=$$(gofmt -l $$(find . -name '*.go' -not -path './node_modules/*')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(GO) mod tidy -diff

# sam build calls build-<LogicalId> with ARTIFACTS_DIR set.
.PHONY: build-ConnectFunction build-AdminApiFunction build-ExpiryCheckFunction build-RemindersFunction
build-ConnectFunction:
	$(call build_function,connect,$(ARTIFACTS_DIR))
build-AdminApiFunction:
	$(call build_function,admin-api,$(ARTIFACTS_DIR))
build-ExpiryCheckFunction:
	$(call build_function,expiry-check,$(ARTIFACTS_DIR))
build-RemindersFunction:
	$(call build_function,reminders,$(ARTIFACTS_DIR))

## build: every function as bin/<function>/bootstrap (linux/arm64)
build:
	@if [ -z "$(strip $(FUNCTIONS))" ]; then echo "no functions to build yet"; fi
	$(foreach f,$(FUNCTIONS),$(call build_function,$(firstword $(subst :, ,$(f))),$(BUILD_DIR)/$(firstword $(subst :, ,$(f))))$(newline))

## tools: install the local stand-ins and cfn-lint the tests use where they are missing
tools:
	@command -v moto_server >/dev/null 2>&1 || python3 -m pip install --quiet 'moto[server]' || \
		{ echo "moto_server is missing and could not be installed: pip install 'moto[server]'"; [ "$${CI:-}" != true ]; }
	@# cfn-lint with the SAM translator whose schema and policy templates are in functions/testdata/sam.
	@command -v cfn-lint >/dev/null 2>&1 || python3 -m pip install --quiet 'cfn-lint==1.51.0' 'aws-sam-translator==1.110.0' || \
		{ echo "cfn-lint is missing and could not be installed: pip install 'cfn-lint==1.51.0' 'aws-sam-translator==1.110.0'"; [ "$${CI:-}" != true ]; }
	@# npm stand-ins (aws-ses-v2-local, dynalite); npm writes node_modules/.package-lock.json
	@# last, so it is missing or older than the lock file until an install has completed.
	@[ ! scripts/standins/package-lock.json -nt scripts/standins/node_modules/.package-lock.json ] || \
		npm ci --prefix scripts/standins --no-audit --no-fund || \
		{ echo "the npm stand-ins could not be installed: npm ci --prefix scripts/standins"; [ "$${CI:-}" != true ]; }

## fuzz: every fuzz target for FUZZTIME each (default 30s): make fuzz FUZZTIME=5m
fuzz:
	$(call fuzz_run,$(FUZZ_TARGETS),$(FUZZTIME))

## bench: the benchmarks of issue #8 (internal/bench: scheduled sweeps over 10k–100k accounts,
## email throughput, admin API latency, cold starts and binary sizes) with a summary of every
## figure beside its baseline, and the other packages' micro-benchmarks. Stand-ins that are
## missing skip their part. Results: bin/bench/results.jsonl.
BENCH_DIR := $(BUILD_DIR)/bench
BENCH_ENV := RELINK_BENCH_RESULTS=$(abspath $(BENCH_DIR))/results.jsonl
BENCH_PKGS = $(filter-out ./internal/bench,$(sort $(patsubst %/,./%,$(dir $(shell grep -rl '^func Benchmark' --include='*_test.go' internal functions)))))
BENCH_RUN := $(BENCH_ENV) $(abspath $(BENCH_DIR))/bench.test -test.run '^$$'
bench:
	@mkdir -p $(BENCH_DIR) && rm -f $(BENCH_DIR)/results.jsonl
	$(GO) test -c -o $(BENCH_DIR)/bench.test ./internal/bench
	@# A failing part does not stop the others; the summary is printed either way.
	@status=0; \
	echo "== sweeps, email, cold starts, binary sizes, cost model (one op = one whole run)"; \
	(cd internal/bench && $(BENCH_RUN) -test.bench '^Benchmark(Sweep|Email|ColdStart|BinarySize|Cost)$$' -test.benchtime 1x -test.timeout 12m) || status=1; \
	$(if $(BENCH_PKGS),echo "== micro-benchmarks: $(BENCH_PKGS)"; $(GO) test -run '^$$' -bench . -benchmem $(BENCH_PKGS) || status=1;) \
	echo "== admin API in process (one op = one request)"; \
	(cd internal/bench && $(BENCH_RUN) -test.bench '^BenchmarkAPI$$' -test.benchtime 400x -test.benchmem -test.timeout 5m) || status=1; \
	echo "== summary"; \
	(cd internal/bench && RELINK_BENCH_SUMMARY=1 $(BENCH_RUN) -test.bench 'NONE' -test.benchtime 1x) | sed -n '/==== relink bench summary/,$$p' ; \
	exit $$status

clean:
	rm -rf $(BUILD_DIR) .aws-sam

define newline


endef
