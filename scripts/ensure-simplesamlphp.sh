#!/usr/bin/env bash
# Makes sure what the federation interop test (interop/federation.test.js)
# needs for its second SAML identity provider is here: SimpleSAMLphp from
# Debian's `simplesamlphp` package (1.19 on bookworm, under
# /usr/share/simplesamlphp) with the PHP command-line interpreter, whose
# built-in web server (php -S) runs it, and PHP's XML extensions, which its
# SAML library needs. Installed as root when missing; quiet when present.
#
# The package depends on a web server (apt picks apache2); the test never
# uses it and Debian's container images keep it from starting (policy-rc.d).
set -euo pipefail

SSP=/usr/share/simplesamlphp/www/saml2/idp/metadata.php

have() {
  [ -f "$SSP" ] && command -v php >/dev/null 2>&1 || return 1
  # Read the module list whole: `php -m | grep -q` under pipefail fails
  # whenever grep stops reading before php has finished writing (SIGPIPE).
  local modules
  modules="$(php -m 2>/dev/null)" || return 1
  grep -qx 'dom' <<<"$modules" && grep -qx 'xml' <<<"$modules"
}

if have; then
  exit 0
fi

if [ "$(id -u)" != 0 ]; then
  echo "SimpleSAMLphp is not installed: run this script as root, or install Debian's packages (apt-get install simplesamlphp php-xml php-cli)" >&2
  exit 1
fi
echo "Installing SimpleSAMLphp and PHP from Debian's packages…"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends simplesamlphp php-xml php-cli; } >"$log" 2>&1; then
  cat "$log" >&2
  echo "installing simplesamlphp failed" >&2
  exit 1
fi
if ! have; then
  echo "apt-get installed simplesamlphp but $SSP, php or its dom/xml extensions are still missing" >&2
  exit 1
fi
php --version 2>/dev/null | head -1
