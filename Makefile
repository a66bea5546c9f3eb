# The developer loop. `make up` and `make test` are all a newcomer needs.
SHELL := /bin/bash
export CARGO_TARGET_DIR ?= $(HOME)/.cache/placeholder-sync/target
TOOLS := .tools/.installed-v4

.PHONY: up down import client redrive reconcile test lint unit console console-test smoke package bench chaos fuzz tools fmt clean

up: ## install tools, build, and start the whole local stack in the background
	@infra/local/up.sh

down: ## stop exactly what `make up` started
	@infra/local/down.sh

import: ## import from the remote into the running stack (ARGS=--allow-local-changes)
	@source infra/local/env.sh && set -a && source "$$STATE_DIR/functions.env" && set +a && \
	  "$$CARGO_TARGET_DIR/debug/import" $(ARGS)

client: ## the machine clients of POST /ingest, on the running stack: ARGS="add NAME", "rotate NAME [GRACE_SECONDS]", "revoke NAME" or "list"
	@source infra/local/env.sh && set -a && source "$$STATE_DIR/functions.env" && set +a && \
	  INGEST_CLIENTS_FILE="$$STATE_DIR/ingest-clients.json" "$$CARGO_TARGET_DIR/debug/local-stack" client $(ARGS)

redrive: ## put the parked changes back into the sync (the running stack; ARGS="entity=post&id=5" for one)
	@infra/local/redrive.sh "$(ARGS)"

reconcile: ## compare the whole remote with the master copy (the running stack; ARGS="--repair --delete-orphans[=all]")
	@infra/local/reconcile.sh $(ARGS)

tools: $(TOOLS)
$(TOOLS): infra/local/install-tools.sh tests/clients/package-lock.json
	@infra/local/install-tools.sh

test: tools lint console-test unit smoke ## every check and test (what CI runs)

# checkov (the template) and parliament (its IAM policies) must report nothing; checkov would
# ask Prisma Cloud for its guidelines, and --skip-download keeps it offline.
lint: tools
	cargo fmt --all --check
	cargo clippy --workspace --all-targets --locked -- -D warnings
	.tools/venv/bin/cfn-lint template.yaml
	SAM_CLI_TELEMETRY=0 AWS_DEFAULT_REGION=us-east-1 .tools/venv/bin/sam validate --lint --template template.yaml
	.tools/scanners/bin/checkov --file template.yaml --framework cloudformation --compact --quiet --skip-download
	.tools/scanners/bin/python infra/scan/parliament_check.py template.yaml

console: ## build the admin console (console/dist), what /admin/ serves; make up does it
	@infra/local/console.sh build

console-test: ## the console's own checks: TypeScript types and its unit tests (vitest)
	@infra/local/console.sh test

unit: tools console ## unit, property and integration tests (each test binary starts its own moto server)
	cargo test --workspace --locked

smoke: tools ## brings the stack up on other ports, drives the API over HTTP, brings it down
	@tests/smoke.sh

package: tools console ## sam build: an arm64 bootstrap per function under .aws-sam/build/
	SAM_CLI_TELEMETRY=0 SAM_CLI_BETA_RUST_CARGO_LAMBDA=1 PATH="$(CURDIR)/.tools/venv/bin:$$PATH" \
	  .tools/venv/bin/sam build --beta-features --template template.yaml

bench: tools console ## measure; writes BENCHMARKS.md and bench/results.json (leaves nothing running)
	cargo bench --locked -p ps-core --bench merge
	PATH="$(CURDIR)/.tools/venv/bin:$$PATH" cargo lambda build --release --arm64 --locked \
	  $(foreach f,$(notdir $(wildcard functions/*)),--bin $(f))
	cargo build --locked --profile bench-report $(foreach f,$(notdir $(wildcard functions/*)),-p $(f))
	cargo build --locked --profile bench-report -p placeholder-sync-sim --bin backlog-memory --bin drift-60k
	cargo run --locked --profile bench-report -p placeholder-sync-bench

chaos: tools ## the real local stack under SIGKILL (CHAOS_RUNS=50); writes bench/chaos.json
	@infra/local/chaos.sh

fuzz: tools ## schemathesis from openapi.json against a stack of its own (FUZZ_EXAMPLES=100); writes bench/fuzz.json
	@tests/fuzz.sh

fmt:
	cargo fmt --all

clean: down
	rm -rf .local .aws-sam
