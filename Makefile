# vault-inject: every target runs on the project's own Node.js 24 (scripts/ensure-node.sh),
# never on the machine's. Real components are built once and cached outside the repo.
SHELL := /usr/bin/env bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

NODE_BIN := $(shell scripts/ensure-node.sh)
ifeq ($(NODE_BIN),)
$(error could not provide Node.js 24; run scripts/ensure-node.sh to see why)
endif
export PATH := $(NODE_BIN):$(CURDIR)/node_modules/.bin:$(PATH)

# Node's own test runner runs the TypeScript sources directly (type stripping).
NODE_TEST := node --test --test-reporter=spec --test-timeout=300000
UNIT_TESTS := 'test/unit/**/*.test.ts'
INTEGRATION_TESTS := 'test/integration/**/*.test.ts'
E2E_TESTS := 'test/e2e/**/*.test.ts'

PREFIX ?= $(HOME)/.local

.PHONY: help deps components build bundle install-cli lint typecheck test test-unit test-integration test-e2e demo format clean bench bench-webhook bench-init bench-soak manifests

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | expand -t 20

node_modules/.installed: package.json package-lock.json
	npm ci --no-fund --no-audit
	@touch $@

deps: node_modules/.installed ## install npm packages (on the project's Node.js 24)

components: ## build or install the real servers used by the tests (cached)
	scripts/components.sh

build: deps ## build dist/ (webhook and init program)
	node scripts/build.ts

bundle: deps ## assemble the portable /vault-inject bundle in dist/bundle/vault-inject
	scripts/bundle.sh dist/bundle/vault-inject

install-cli: ## vault-inject and vault-inject-env on PATH: links in $(PREFIX)/bin to scripts/launcher.sh
	mkdir -p "$(PREFIX)/bin"
	ln -sfn "$(CURDIR)/scripts/launcher.sh" "$(PREFIX)/bin/vault-inject"
	ln -sfn "$(CURDIR)/scripts/launcher.sh" "$(PREFIX)/bin/vault-inject-env"
	@case ":$$PATH:" in *":$(PREFIX)/bin:"*) ;; *) echo "add $(PREFIX)/bin to PATH" >&2 ;; esac

lint: deps ## eslint (with the size and import gates), prettier, unused exports (knip), shellcheck
	eslint .
	prettier --check .
	knip --no-progress --include files,exports,types,nsExports,nsTypes,duplicates
	scripts/components/shellcheck.sh ensure >/dev/null
	shellcheck $$(find scripts -name '*.sh') .ci/run

typecheck: deps ## tsc, strict
	tsc -p tsconfig.json

test-unit: deps ## unit tests only (no servers)
	$(NODE_TEST) $(UNIT_TESTS)

test-integration: deps components build bundle ## tests against real servers
	$(NODE_TEST) $(INTEGRATION_TESTS)

test-e2e: deps components build bundle ## the end-to-end test through kube-apiserver
	$(NODE_TEST) $(E2E_TESTS)

test: deps lint typecheck components build bundle ## everything CI runs: install, lint, typecheck, every test
	$(NODE_TEST) $(UNIT_TESTS) $(INTEGRATION_TESTS) $(E2E_TESTS)

# The benches (never part of `make test`): ours beside Bank-Vaults' programs, built from the sources
# VAULT_INJECT_BV_SOURCES names (docs/benchmarks.md); without them, ours alone, saying why.
bench: deps build bundle ## every benchmark beside its Bank-Vaults peer, interleaved rounds, ratios (docs/benchmarks.md)
	node scripts/bench/run.ts

bench-webhook: deps build ## the webhook beside vault-secrets-webhook: reviews/s, CPU per review, RSS (HTTPS, 127.0.0.1)
	node scripts/bench/webhook.ts

bench-init: deps bundle ## start-to-exec and peak RSS of vault-inject-env beside vault-env, loopback and +5/+20 ms RTT
	node scripts/bench/init.ts

bench-soak: deps build ## the webhook at full rate for 10 minutes: RSS sampled, fails if it grows
	node scripts/bench/webhook.ts --no-handler --no-peer --soak 600

manifests: ## render deploy/manifests from the Helm chart (a test fails when they are stale)
	scripts/render-manifests.sh

demo: deps components build bundle ## the whole flow on the local real stack, narrated (scripts/demo.ts)
	@eval "$$(scripts/components.sh --env 2>/dev/null)" && node scripts/demo.ts

format: deps ## rewrite files with prettier
	prettier --write .

clean: ## remove build output (the component cache stays)
	rm -rf dist coverage
