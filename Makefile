# vpsie-autoscaler — run `make help` for the targets.
SHELL := /usr/bin/env bash
.SHELLFLAGS := -o pipefail -ec
.DEFAULT_GOAL := help

GO ?= go
TOOLS := hack/tools.sh
# Tools live in a cache outside the work tree (see hack/tools.sh); these only compute paths.
ENVTEST_ASSETS = $(shell $(TOOLS) --dir envtest)
CONTROLLER_GEN = $(shell $(TOOLS) --dir controller-gen)/controller-gen
GOLANGCI_LINT = $(shell $(TOOLS) --dir golangci-lint)/golangci-lint
HELM = $(shell $(TOOLS) --dir helm)/helm
CHART = charts/vpsie-autoscaler
# the values a real install must give; the chart refuses to render without them
CHART_SET = --set clusterID=c0000000-0000-4000-8000-000000000001 --set vpsie.token=example
OUTPUT := _output
TEST_FLAGS ?= -race
TEST_PKGS ?= $(shell $(GO) list ./... | grep -v '/test/integration$$' | grep -v '/test/e2e')
# The manager-level suite measures a whole autoscaler against deadlines and batch windows, so it
# runs without the race detector (which slows the simulator several times); the controllers it
# wires are raced in their own suites. Naming TEST_PKGS on the command line leaves it out.
INTEGRATION_PKGS ?= $(if $(filter command line,$(origin TEST_PKGS)),,./test/integration)
INTEGRATION_FLAGS ?=
FUZZ_TIME ?= 10s

##@ General
.PHONY: help
help: ## Show this help
	@awk 'BEGIN {FS = ":.*##"} /^[a-zA-Z0-9_.-]+:.*##/ {printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2} /^##@/ {printf "\n\033[1m%s\033[0m\n", substr($$0, 5)}' $(MAKEFILE_LIST)

##@ Tools
.PHONY: tools tools-envtest tools-codegen
tools: ## Build every tool (etcd, kube-apiserver, controller-manager, scheduler, kwok, helm, controller-gen, golangci-lint) into the cache
	$(TOOLS)
tools-envtest: ## Build only what the tests need (etcd + kube-apiserver)
	$(TOOLS) envtest
tools-codegen:
	$(TOOLS) controller-gen

##@ Development
.PHONY: generate verify fmt vet lint build
generate: tools-codegen ## Regenerate deepcopy code and CRDs, copy CRDs into the chart
	$(CONTROLLER_GEN) object:headerFile=hack/boilerplate.go.txt paths=./pkg/apis/...
	$(CONTROLLER_GEN) crd paths=./pkg/apis/... output:crd:artifacts:config=pkg/apis/crds
	mkdir -p charts/vpsie-autoscaler/crds
	rm -f charts/vpsie-autoscaler/crds/*.yaml
	cp pkg/apis/crds/*.yaml charts/vpsie-autoscaler/crds/

verify: generate vet lint ## Regenerate, fail on any diff, vet and lint
	@if [ -n "$$(git status --porcelain -- pkg/apis charts)" ]; then \
		echo "error: generated files are out of date; run 'make generate' and commit:"; \
		git status --porcelain -- pkg/apis charts; git --no-pager diff --stat -- pkg/apis charts; exit 1; fi
	@unformatted=$$(gofmt -l cmd pkg hack test tools 2>/dev/null); if [ -n "$$unformatted" ]; then \
		echo "error: not gofmt'ed:"; echo "$$unformatted"; exit 1; fi

fmt: ## gofmt the tree
	gofmt -w cmd pkg hack test tools

vet: ## go vet
	$(GO) vet ./...

lint: ## golangci-lint (built from the module proxy into the tool cache)
	$(TOOLS) golangci-lint
	$(GOLANGCI_LINT) run ./...

# The same static build as the Dockerfile's (test/dockerfile keeps them in step).
GO_BUILD_FLAGS := -trimpath -ldflags="-s -w"
build: ## Build the static binaries into bin/ (the container image's flags)
	CGO_ENABLED=0 $(GO) build $(GO_BUILD_FLAGS) -o bin/ ./cmd/...

##@ Test
.PHONY: test fuzz chart-check
test: tools-envtest fuzz chart-check ## A short fuzz run, then unit + envtest suites with -race and the manager-level suite, closing with a summary line
	@mkdir -p $(OUTPUT)
	( KUBEBUILDER_ASSETS=$(ENVTEST_ASSETS) $(GO) test $(TEST_FLAGS) -json $(TEST_PKGS); \
	  if [ -n "$(INTEGRATION_PKGS)" ]; then KUBEBUILDER_ASSETS=$(ENVTEST_ASSETS) $(GO) test $(INTEGRATION_FLAGS) -json $(INTEGRATION_PKGS); fi ) 2>&1 \
	  | tee $(OUTPUT)/test.json | $(GO) run ./hack/testsummary

chart-check: ## helm lint and helm template (values checked against values.schema.json), and the refusals
	$(TOOLS) helm
	$(HELM) lint --strict $(CHART) $(CHART_SET)
	$(HELM) template vpsie-autoscaler $(CHART) --kube-version 1.37.2 -n kube-system $(CHART_SET) > /dev/null
	$(HELM) template vpsie-autoscaler $(CHART) --kube-version 1.37.2 -n kube-system $(CHART_SET) --set metrics.serviceMonitor.enabled=true \
	  --set vpsie.existingSecret=mine --set replicaCount=1 --set monitoring.dashboard.enabled=true \
	  --set monitoring.alerts.enabled=true --set monitoring.prometheusRule.enabled=true > /dev/null
	@if $(HELM) template x $(CHART) --kube-version 1.37.2 --set vpsie.token=t >/dev/null 2>&1; then echo "error: the chart rendered without clusterID"; exit 1; fi
	@if $(HELM) template x $(CHART) --kube-version 1.37.2 $(CHART_SET) --set logLevel=loud >/dev/null 2>&1; then echo "error: values.schema.json let logLevel=loud through"; exit 1; fi
	@echo "chart-check passed"

fuzz: ## Run each fuzz target for FUZZ_TIME (default 10s)
	$(GO) test -run='^$$' -fuzz='^FuzzDecodeEnvelope$$' -fuzztime=$(FUZZ_TIME) ./pkg/vpsie

##@ Local cluster
E2E_TIMEOUT ?= 40m
.PHONY: e2e demo local-up local-down
e2e: tools build ## End-to-end suites on the local cluster (real scheduler, kwok, emulator, helm), then plan fidelity through the bare scheduler
	@mkdir -p $(OUTPUT)
	E2E_BIN_DIR=$(CURDIR)/bin $(GO) test -json -timeout $(E2E_TIMEOUT) ./test/e2e/... 2>&1 | tee $(OUTPUT)/e2e.json | $(GO) run ./hack/testsummary
	@cat $(OUTPUT)/e2e-report.txt $(OUTPUT)/fidelity.txt 2>/dev/null || true

demo: tools build ## Start the local cluster, scale workloads up and down with a live view, print a summary (ARGS=--keep leaves it up)
	bin/vpsie-local demo --bin-dir bin $(ARGS)

local-up: tools build ## Start the local cluster in the background (state in $$TMPDIR/vpsie-local); prints the KUBECONFIG line
	hack/local-up

local-down: ## Stop the local cluster local-up (or demo ARGS=--keep) started
	hack/local-down

##@ Benchmarks
BENCH_DIR ?= ../shared/bench
BENCH_FLAGS = --bin $(OUTPUT)/bin/vpsie-sim --bench-dir $(BENCH_DIR) --examples hack/examples --thresholds hack/bench/thresholds.json --out $(OUTPUT)/bench.json
.PHONY: bench bench-check bench-build
bench-build:
	@mkdir -p $(OUTPUT)/bin
	$(GO) build -o $(OUTPUT)/bin/vpsie-sim ./cmd/vpsie-sim

bench: bench-build ## Plan every bench workload with vpsie-sim: cost/LB, solve time, peak memory (table + _output/bench.json)
	$(GO) run ./hack/bench $(BENCH_FLAGS)

bench-check: bench-build ## Same run; fail if a cost/LB exceeds hack/bench/thresholds.json or unschedulable counts change (skips without ../shared/bench)
	$(GO) run ./hack/bench --check $(BENCH_FLAGS)

.PHONY: bench-go
bench-go: ## Go benchmarks: the simulator over every bench workload (pods/s, new nodes, $/h, cost/LB as metrics) and the packing package
	$(GO) test -run='^$$' -bench='BenchmarkSolve|BenchmarkCover|BenchmarkGenerate' -benchtime=$(or $(BENCHTIME),3x) -benchmem ./pkg/simulator/...
