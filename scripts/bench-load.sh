#!/usr/bin/env bash
# Starts a fresh Gatehouse on this machine's loopback and prints the budget
# table of DESIGN.md §7 (gatehouse bench all), every figure from one run.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$(mktemp -d)/gatehouse
DATA=$(mktemp -d)
trap 'kill $SERVER 2>/dev/null || true; rm -rf "$DATA" "$(dirname "$BIN")"' EXIT
CGO_ENABLED=0 ${GO:-go} build -o "$BIN" ./cmd/gatehouse
PORT=$((18000 + RANDOM % 1000))
"$BIN" serve --data-dir "$DATA" --listen 127.0.0.1:$PORT --log-level warn >/dev/null 2>&1 &
SERVER=$!
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null && break; sleep 0.05; done
"$BIN" bench all --data-dir "$DATA" --url "http://127.0.0.1:$PORT" "$@" 2>/dev/null
