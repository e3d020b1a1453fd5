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

.PHONY: run test lint build tools bench clean

## run: the whole service locally on the embedded store with demo data (no AWS account)
run:
	$(GO) run ./scripts/devserver

## test: lint, then every test; stand-ins for AWS are started by the tests themselves
test: tools lint
	$(GO) test -race -count=1 ./...

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

## bench: Go benchmarks
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

clean:
	rm -rf $(BUILD_DIR) .aws-sam

define newline


endef
