# The two commands a fresh machine needs are `make run` and `make test`;
# both install or build whatever they need first.

SHELL := /bin/bash
GO ?= go
CHROMIUM ?= /usr/bin/chromium

# Optional local settings (see .env.example).
-include .env
export

# `make run` is the local sandbox: if no admin password is configured it uses
# this one for the first admin, so the portal is ready to sign in to. It only
# applies when the database has no users yet.
RUN_ADMIN_EMAIL := $(or $(PORTAL_ADMIN_EMAIL),admin@example.com)
RUN_ADMIN_PASSWORD := $(or $(PORTAL_ADMIN_PASSWORD),sandbox-first-staff-password)

.PHONY: run build test test-sqlite test-postgres test-short bench-load bench-load-postgres generate check-generated lint bench browser-deps node-deps ci

build:
	$(GO) build -o bin/portal ./cmd/portal
	$(GO) build -o bin/sandbox ./cmd/sandbox

run: build
	@echo "Portal: $(or $(PORTAL_BASE_URL),http://$(or $(PORTAL_ADDR),127.0.0.1:8080))"
	@echo "Sign in as $(RUN_ADMIN_EMAIL) with password '$(RUN_ADMIN_PASSWORD)' (set when the database is first created; change it under your name)."
	@echo "The first sign-in sets up the admin's second factor: scan the QR code with an authenticator app, or run 'oathtool --totp -b KEY' with the key shown under it."
	PORTAL_ADMIN_EMAIL='$(RUN_ADMIN_EMAIL)' PORTAL_ADMIN_PASSWORD='$(RUN_ADMIN_PASSWORD)' ./bin/portal

# Browser tests need Debian's chromium; install it when missing (as root, as
# on CI and the dev machines).
browser-deps:
	@if [ ! -x "$(CHROMIUM)" ]; then \
		if [ "$$(id -u)" = "0" ]; then \
			echo "Installing chromium for the browser tests..."; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
		else \
			echo "Browser tests need $(CHROMIUM): run 'sudo apt-get install chromium' (or set CHROMIUM_PATH)."; exit 1; \
		fi; \
	fi

# The pasby SDK contract test (cmd/sandbox, TestPasbySDK) runs
# the provider's npm package under Debian's nodejs, and the browser tests'
# accessibility checks install axe-core (e2e/axe) with npm ci; install
# nodejs and npm when missing (as root, as on CI and the dev machines).
node-deps:
	@if ! command -v node >/dev/null || ! command -v npm >/dev/null; then \
		if [ "$$(id -u)" = "0" ]; then \
			echo "Installing nodejs and npm for the pasby SDK contract test and the accessibility checks..."; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null; \
		else \
			echo "The pasby SDK contract test and the accessibility checks need node and npm: run 'sudo apt-get install nodejs npm'."; exit 1; \
		fi; \
	fi

# Every test twice: on SQLite (the embedded default), then on a throwaway
# PostgreSQL 15 cluster that scripts/with-postgres.sh starts on loopback and
# removes afterwards (it installs Debian's postgresql when missing and run as
# root, and says what to install otherwise). The two-replica test runs only
# in the PostgreSQL pass.
test: browser-deps node-deps
	CHROMIUM_PATH=$(CHROMIUM) $(GO) test -race -count=1 ./...
	CHROMIUM_PATH=$(CHROMIUM) ./scripts/with-postgres.sh $(GO) test -race -count=1 ./...

# One pass on one database, for a quicker loop.
test-sqlite: browser-deps node-deps
	CHROMIUM_PATH=$(CHROMIUM) $(GO) test -race -count=1 ./...

test-postgres: browser-deps node-deps
	CHROMIUM_PATH=$(CHROMIUM) ./scripts/with-postgres.sh $(GO) test -race -count=1 ./...

# Everything but the browser tests, for a quick loop.
test-short:
	$(GO) test -short -count=1 ./...

generate:
	$(GO) tool templ generate

# Fails when a *.templ file changed without regenerating its *_templ.go.
check-generated:
	@$(GO) tool templ generate >/dev/null
	@if [ -n "$$(git status --porcelain -- '*_templ.go')" ]; then \
		echo "Generated templ files are stale; run 'make generate' and commit:"; git status --porcelain -- '*_templ.go'; exit 1; \
	fi

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

# Go benchmarks (SQLite; under scripts/with-postgres.sh on PostgreSQL), then
# the load run: a portal on a database seeded with BENCH_ROWS records of
# each kind (default 1,000,000), driven by cmd/loadtest.
bench:
	$(GO) test -run '^$$' -bench . -benchmem -count 6 ./... | tee bench.txt
	./scripts/bench-load.sh | tee -a bench.txt

bench-load:
	./scripts/bench-load.sh

bench-load-postgres:
	./scripts/with-postgres.sh ./scripts/bench-load.sh

ci: lint check-generated test
