# kubectl-gitops. Needs only Go; everything else is built from the Go module
# proxy into the user's cache (see internal/tools).

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c

GO       ?= go
MODULE   := github.com/kubectl-gitops/kubectl-gitops
VERSION  ?= $(or $(shell git describe --tags --always --dirty --match 'v*' 2>/dev/null | grep '^v'),v0.0.0-dev)
COMMIT   ?= $(or $(shell git rev-parse --verify -q HEAD 2>/dev/null),unknown)
LDFLAGS  := -s -w -X $(MODULE)/pkg/version.version=$(VERSION) -X $(MODULE)/pkg/version.commit=$(COMMIT)
BIN      := bin
PREFIX   ?= $(HOME)/.local
TEST_TIMEOUT ?= 30m
# FUZZTIME bounds each fuzz target of pkg/sops that make test runs, and
# FUZZTIME_PARSERS each of the others (annotations, sync windows, templates,
# webhooks, ignoreDifferences, AppProject globs); new inputs are minimized
# for at most 2 s, so the time goes to fuzzing. FUZZFLAGS adds flags to each
# run (FUZZFLAGS=-parallel=1 on a shared machine).
FUZZTIME ?= 15s
FUZZTIME_PARSERS ?= 10s
FUZZFLAGS ?=
# Release archives: every entry carries this time (default: the commit's).
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null)
DIST_PLATFORMS ?= linux/amd64,linux/arm64,darwin/amd64,darwin/arm64,windows/amd64,windows/arm64

.PHONY: all build install tools test fuzz vet demo bench localcluster dist krew-manifest image clean help

all: build

help: ## List the targets.
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

build: ## Build bin/kubectl-gitops (version stamped) and bin/kubectl_complete-gitops.
	mkdir -p $(BIN)
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/kubectl-gitops ./cmd/kubectl-gitops
	install -m 0755 cmd/kubectl-gitops/kubectl_complete-gitops $(BIN)/kubectl_complete-gitops

install: build ## Copy the plugin and its completion helper into $(PREFIX)/bin.
	install -d $(PREFIX)/bin
	install -m 0755 $(BIN)/kubectl-gitops $(BIN)/kubectl_complete-gitops $(PREFIX)/bin/

tools: ## Build the real kube-apiserver, etcd, kubectl, kwok, kustomize, sops, krew, age (cached).
	$(GO) run ./hack/ensuretools

vet: ## gofmt check and go vet, both modules.
	@unformatted=$$(gofmt -l cmd pkg plugins hack internal krm-functions deploy); \
	  if [ -n "$$unformatted" ]; then echo "gofmt -w these files: $$unformatted"; exit 1; fi
	$(GO) vet ./...
	cd hack/tools && $(GO) vet ./...

test: tools vet ## Every test: unit, command and e2e against a real local control plane.
	$(GO) test -count=1 -timeout $(TEST_TIMEOUT) ./...
	$(MAKE) --no-print-directory fuzz

# A fuzz build instruments everything the test binary links, and each
# target is a run of go test that links it again: keep cluster and tools
# imports out of these packages' tests (the sops interop tests live in
# pkg/sops/interop). pkg/sops and pkg/agent/webhook link no Kubernetes
# package; pkg/plan, pkg/ignore and krm-functions/validateproject link
# apimachinery or kyaml; pkg/argocd links client-go and kustomize, the
# most costly: from a cold cache its instrumented build takes about 3
# minutes on a busy 2-core machine, and each of its runs some 40 s to link.
# Hence FUZZTIME_PARSERS is shorter than FUZZTIME (docs/development.md has
# the measured times).
FUZZ_SOPS := FuzzParseEncrypted FuzzMetadata FuzzParse
FUZZ_PARSERS := \
	./pkg/plan:FuzzSyncWave ./pkg/plan:FuzzSyncOptions ./pkg/plan:FuzzHookOf \
	./pkg/agent/webhook:FuzzWebhook ./pkg/agent/webhook:FuzzSameRepo \
	./pkg/ignore:FuzzRules ./krm-functions/validateproject:FuzzGlob ./krm-functions/validateproject:FuzzSourceRepos \
	./pkg/argocd:FuzzSyncWindow ./pkg/argocd:FuzzAppSetTemplate

# fuzz_one PKG TARGET TIME runs one target. go.dev/issue/75804 (fixed in
# Go 1.27): when -fuzztime runs out while a worker is busy, as on a loaded
# machine, go test can fail with "context deadline exceeded" and no failing
# input; such a run passes with a note. Any other failure fails, and so
# does any run that wrote a failing input under testdata/fuzz.
FUZZ_ONE = fuzz_one() { \
	  log=$$(mktemp); \
	  if $(GO) test -run '^$$' -fuzz "^$$2$$" -fuzztime "$$3" -fuzzminimizetime 2s $(FUZZFLAGS) "$$1" 2>&1 | tee "$$log"; then rm -f "$$log"; return 0; fi; \
	  if grep -q 'context deadline exceeded' "$$log" && ! grep -q 'Failing input written' "$$log"; then \
	    echo "$$2: the fuzz time ran out during a run (go.dev/issue/75804); no failing input, so it passes"; rm -f "$$log"; return 0; \
	  fi; \
	  rm -f "$$log"; return 1; \
	}

fuzz: ## Run each fuzz target: SOPS (ENC[...], metadata, whole files) for $(FUZZTIME); sync-wave, sync-options and hook annotations, webhooks, ignoreDifferences, AppProject globs, sync windows, ApplicationSet templates for $(FUZZTIME_PARSERS).
	$(FUZZ_ONE); \
	for target in $(FUZZ_SOPS); do fuzz_one ./pkg/sops "$$target" $(FUZZTIME) || exit 1; done; \
	for entry in $(FUZZ_PARSERS); do fuzz_one "$${entry%%:*}" "$${entry#*:}" $(FUZZTIME_PARSERS) || exit 1; done

demo: build tools ## Start a throwaway control plane, use the plugin through kubectl, stop.
	$(GO) run ./hack/demo --bin $(BIN)

bench: tools ## Benchmarks side by side with what users use instead: sync vs kubectl apply, hooks vs kubectl create/wait, an ApplicationSet of 100 apps vs kubectl apply, the agent on 100 apps vs a kubectl apply loop, status/diff vs kubectl diff, functions vs kustomize, secrets vs sops (docs/benchmarks.md).
	$(GO) test -count=1 -run '^$$' -bench . -benchtime=1x -timeout 30m ./pkg/sync/ ./pkg/ssaproof/ ./plugins/agent/ ./krm-functions/... ./pkg/sops/interop/ | tee bench.out

localcluster: tools ## Run a local control plane until Ctrl-C or SIGINT/SIGTERM (kubeconfig in .localcluster/).
	mkdir -p $(BIN)
	$(GO) build -o $(BIN)/localcluster ./hack/localcluster
	exec $(BIN)/localcluster

dist: ## Release archives (linux, darwin, windows; amd64, arm64) and dist/checksums.txt, reproducible.
	$(GO) run ./hack/dist --go '$(GO)' --version '$(VERSION)' --commit '$(COMMIT)' --source-date-epoch '$(SOURCE_DATE_EPOCH)' --platforms '$(DIST_PLATFORMS)' --out dist

krew-manifest: ## Render .krew.yaml for the archives in dist/ into dist/gitops.yaml: make krew-manifest VERSION=vX.Y.Z.
	$(if $(filter command line environment environment override,$(origin VERSION)),,$(error VERSION is not set; run 'make krew-manifest VERSION=vX.Y.Z' with the version 'make dist' built (make dist VERSION=vX.Y.Z)))
	$(GO) run ./hack/krewmanifest --version '$(VERSION)' --template .krew.yaml --dist dist --out dist/gitops.yaml

# ko, pinned by hack/ko (its own module: moving it rebuilds nothing of
# hack/tools); go tool builds it once into Go's cache. deploy/ko_test.go runs
# the same version from the tools cache (internal/tools.EnsureKo).
KO := $(GO) tool -modfile=hack/ko/go.mod ko

image: ## Build and push the agent's image with ko (.ko.yaml) to KO_DOCKER_REPO, version stamped; prints its digest.
	$(if $(KO_DOCKER_REPO),,$(error KO_DOCKER_REPO is not set; run 'make image KO_DOCKER_REPO=registry.example.com/kubectl-gitops'))
	KO_DOCKER_REPO='$(KO_DOCKER_REPO)' VERSION='$(VERSION)' SOURCE_DATE_EPOCH='$(SOURCE_DATE_EPOCH)' $(KO) build --bare ./cmd/kubectl-gitops

clean: ## Remove build output (the tools cache stays; see 'make tools').
	rm -rf $(BIN) dist .localcluster
