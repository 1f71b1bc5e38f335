#!/usr/bin/env bash
# Makes sure mailpit, the SMTP server the mail tests send to and read back
# from (DESIGN.md §6), is installed at the pinned version where `go install`
# puts it ($(go env GOBIN), else the first $(go env GOPATH)/bin), building
# it from the Go module proxy when it is missing or another version (about
# a minute with an empty module cache). Prints the binary's path on stdout;
# quiet otherwise, except for errors.
set -euo pipefail

VERSION=v1.33.1
BINDIR="$(go env GOBIN)"
if [ -z "$BINDIR" ]; then
  BINDIR="$(go env GOPATH | cut -d: -f1)/bin"
fi
BIN="$BINDIR/mailpit"

# The version comes from the module information Go records in the binary:
# a `go install`ed mailpit calls itself "dev" in `mailpit version`, which
# also asks GitHub for the latest release.
installed() {
  [ -x "$BIN" ] && [ "$(go version -m "$BIN" 2>/dev/null | awk '$1 == "mod" && $2 == "github.com/axllent/mailpit" { print $3 }')" = "$VERSION" ]
}

if ! installed; then
  log=$(mktemp)
  trap 'rm -f "$log"' EXIT
  # go install refuses to overwrite a file that is not a Go program (a
  # mailpit from a release archive, a wrapper script): it is the wrong
  # version anyway.
  rm -f "$BIN"
  # GOFLAGS from the caller (e.g. -mod=vendor) would not suit a module
  # outside this repository; build it as a tool of its own.
  if ! (cd / && GOFLAGS= go install "github.com/axllent/mailpit@$VERSION") >"$log" 2>&1; then
    cat "$log" >&2
    echo "go install github.com/axllent/mailpit@$VERSION failed" >&2
    exit 1
  fi
  if ! installed; then
    echo "go install put no mailpit $VERSION at $BIN" >&2
    exit 1
  fi
fi
echo "$BIN"
