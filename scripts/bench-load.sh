#!/usr/bin/env bash
# Loads a fresh Gatehouse on this machine's loopback and prints the figures
# of DESIGN.md §7 side by side with their budgets. Every figure comes from
# the same run, so ratios hold on a shared, noisy machine.
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
BIN=$(mktemp -d)/gatehouse
DATA=$(mktemp -d)
trap 'kill $SERVER 2>/dev/null || true; rm -rf "$DATA" "$(dirname "$BIN")"' EXIT
CGO_ENABLED=0 $GO build -o "$BIN" ./cmd/gatehouse
gh() { "$BIN" --data-dir "$DATA" "$@"; }
field() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }

gh env create acme >/dev/null 2>&1
svc=$(gh app create --env acme --name bench --type service --role ENVIRONMENT_ADMIN --output json 2>/dev/null)
api=$(gh app create --env acme --name bench-api --type api-user --output json 2>/dev/null)
SVC_ID=$(echo "$svc" | field "['clientId']"); SVC_SECRET=$(echo "$svc" | field "['clientSecret']")
API_ID=$(echo "$api" | field "['clientId']"); API_SECRET=$(echo "$api" | field "['clientSecret']")
gh user create bench-api-user --env acme --type API >/dev/null 2>&1
echo 'bench-api-password-1' | gh user set-password bench-api-user --env acme --password-stdin --force-change=false >/dev/null 2>&1

PORT=18${RANDOM:0:3}
URL=http://127.0.0.1:$PORT
"$BIN" serve --data-dir "$DATA" --listen 127.0.0.1:$PORT --log-level warn >/dev/null 2>&1 &
SERVER=$!
for _ in $(seq 1 100); do curl -sf "$URL/readyz" >/dev/null && break; sleep 0.05; done

TOKEN=$(curl -s -u "$SVC_ID:$SVC_SECRET" -d grant_type=client_credentials "$URL/acme/oauth2/token" | field "['access_token']")
run() { "$BIN" bench "$@" --url "$URL" --concurrency 16 --output json 2>/dev/null || true; }
hash=$("$BIN" bench hash --duration 5s --output json | field "['verificationsPerSecond']")
cc=$(run token --env acme --client-id "$SVC_ID" --client-secret "$SVC_SECRET" --duration 10s)
pw=$(run password --env acme --client-id "$API_ID" --client-secret "$API_SECRET" --username bench-api-user --password bench-api-password-1 --duration 10s)
intro=$(run introspect --env acme --client-id "$SVC_ID" --client-secret "$SVC_SECRET" --token "$TOKEN" --duration 5s)
disc=$(run get /acme/.well-known/openid-configuration --duration 5s)
jwks=$(run get /acme/oauth2/jwks --duration 5s)

python3 - "$hash" "$cc" "$pw" "$intro" "$disc" "$jwks" <<'PY'
import json, sys
hash = float(sys.argv[1])
cc, pw, intro, disc, jwks = (json.loads(a) for a in sys.argv[2:])
rows = [
    ("client_credentials (SQLite, c=16)", f"{cc['perSecond']:.0f}/s, p99 {cc['p99Ms']:.1f} ms", ">= 2,000/s, p99 <= 20 ms"),
    ("password grant (c=16)", f"{pw['perSecond']:.0f}/s = {100*pw['perSecond']/hash:.0f}% of {hash:.0f}/s ceiling, p99 {pw['p99Ms']:.0f} ms, {pw['errors']} errors", ">= 75% of ceiling, p99 <= 300 ms"),
    ("introspection (c=16)", f"{intro['perSecond']:.0f}/s, p99 {intro['p99Ms']:.1f} ms", ">= 5,000/s"),
    ("discovery (c=16)", f"{disc['perSecond']:.0f}/s, p99 {disc['p99Ms']:.1f} ms", ">= 20,000/s"),
    ("JWKS (c=16)", f"{jwks['perSecond']:.0f}/s, p99 {jwks['p99Ms']:.1f} ms", ">= 20,000/s"),
]
w = max(len(r[0]) for r in rows)
print(f"{'what'.ljust(w)} | measured | budget")
for r in rows:
    print(f"{r[0].ljust(w)} | {r[1]} | {r[2]}")
PY
