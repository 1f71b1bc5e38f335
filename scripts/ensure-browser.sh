#!/usr/bin/env bash
# Makes sure what the browser interop tests (interop/) need is here:
# Chromium from Debian's `chromium` package at /usr/bin/chromium, installed
# as root when it is missing (never a browser build of Playwright's own),
# SimpleSAMLphp for the federation test (scripts/ensure-simplesamlphp.sh),
# mailpit for the MFA and password-reset test (scripts/ensure-mailpit.sh),
# and the tests' npm packages installed from the committed lockfile. Quiet
# when everything is already present.
set -euo pipefail
cd "$(dirname "$0")/.."

CHROMIUM=/usr/bin/chromium

if [ ! -x "$CHROMIUM" ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "Chromium is not installed at $CHROMIUM: run this script as root, or install Debian's chromium package (apt-get install chromium)" >&2
    exit 1
  fi
  echo "Installing Chromium from Debian's packages…"
  log=$(mktemp)
  trap 'rm -f "$log"' EXIT
  # fonts-liberation is only a recommendation of chromium: without a font
  # the pages' screenshots would show no text.
  if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-liberation; } >"$log" 2>&1; then
    cat "$log" >&2
    echo "installing chromium failed" >&2
    exit 1
  fi
  if [ ! -x "$CHROMIUM" ]; then
    echo "apt-get installed chromium but $CHROMIUM is still missing" >&2
    exit 1
  fi
  "$CHROMIUM" --version 2>/dev/null
fi

bash scripts/ensure-simplesamlphp.sh

# ensure-mailpit.sh prints mailpit's path; mfa.test.js runs it again to
# find the binary, quickly once it is installed.
bash scripts/ensure-mailpit.sh >/dev/null

if ! command -v npm >/dev/null 2>&1; then
  echo "npm is not installed: the interop test needs Node.js 20 or later with npm" >&2
  exit 1
fi

# npm ci when interop/node_modules is missing or older than the lockfile or
# package.json (npm writes node_modules/.package-lock.json at each install).
lock=interop/package-lock.json
installed=interop/node_modules/.package-lock.json
if [ ! -f "$installed" ] || [ "$lock" -nt "$installed" ] || [ interop/package.json -nt "$installed" ]; then
  # PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD: playwright-core downloads nothing, but
  # say it anyway so that no install step ever fetches a browser.
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --prefix interop --no-audit --no-fund --loglevel=error >/dev/null
fi
