# Gatehouse — the two commands a newcomer needs are `make run` and `make test`.

GO ?= go
PG_DSN ?= postgres://postgres@127.0.0.1:5432/test?sslmode=disable
export GATEHOUSE_TEST_POSTGRES_DSN ?= $(PG_DSN)

.PHONY: run build test check vet fmt-check staticcheck unit bench postgres mailpit interop

## run: start Gatehouse on the embedded SQLite store in ./gatehouse-data
run:
	$(GO) run ./cmd/gatehouse serve

## build: a static binary in bin/gatehouse
build:
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/gatehouse ./cmd/gatehouse

## test: formatting, vet, staticcheck, every Go test with the race detector on SQLite and PostgreSQL, and the browser interop test
test: check postgres mailpit unit interop

check: fmt-check vet staticcheck

fmt-check:
	@out="$$(gofmt -l .)"; if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

STATICCHECK_VERSION = v0.8.2
staticcheck:
	@command -v staticcheck >/dev/null 2>&1 && staticcheck -version | grep -q "($(patsubst v%,%,$(STATICCHECK_VERSION)))" || \
		$(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	"$$($(GO) env GOPATH)/bin/staticcheck" ./...

## mailpit: the SMTP server the mail tests send to (go install at a pinned version)
mailpit:
	@bash scripts/ensure-mailpit.sh >/dev/null

## postgres: make sure the PostgreSQL test server answers (starts the local cluster if it is stopped)
postgres:
	@bash scripts/ensure-postgres.sh

unit:
	$(GO) test -race -count=1 -timeout 20m ./...

## interop: a real browser (Debian's Chromium) signs in through the hosted pages for an openid-client relying party
interop: build
	bash scripts/ensure-browser.sh
	GATEHOUSE_BIN=$(CURDIR)/bin/gatehouse npm --prefix interop test

## bench: store reads and 1,000,000-user lists on both engines, user creation, start-to-ready and idle RSS, the time Gatehouse adds to a federated sign-in
bench: postgres
	$(GO) test -run '^$$' -bench Store -benchtime 2000x ./sqlite ./postgres
	$(GO) test -run '^$$' -bench ListUsers -benchtime 100x -timeout 90m ./sqlite ./postgres
	$(GO) test -run '^$$' -bench CreateUser -benchtime 3s ./service
	$(GO) test -run '^$$' -bench ServeStartToReady -benchtime 5x ./cmd/gatehouse
	$(GO) test -run '^$$' -bench FederatedSignIn -benchtime 500x ./server
	$(GO) test -run '^$$' -bench Console -benchtime 200x -timeout 30m ./server
