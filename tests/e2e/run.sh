#!/usr/bin/env bash
# End to end in a real browser: build the Next.js example, start promptkit (fresh SQLite, the
# offline echo provider, local tokens, resumable replies) and the app on free loopback ports, then
# drive the app in Debian's headless Chromium: chat, layout, prompts, attachments,
# stop-and-resume, outage, organizations and branches tests, search.test.mjs where promptkit
# answers GET /search and tools.test.mjs where it answers
# GET /tools (or only the files named: `run.sh outage.test.mjs`). Screenshots land in
# tests/e2e/artifacts/.
# Needs: `make install` done, Node.js 20.9+, and `chromium` (apt-get install chromium).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
APP="$ROOT/examples/nextjs-chat"
E2E="$ROOT/tests/e2e"
PROMPTKIT="${PROMPTKIT:-$ROOT/.venv/bin/promptkit}"
export CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
export ARTIFACTS="${ARTIFACTS:-$E2E/artifacts}"
export NEXT_TELEMETRY_DISABLED=1 PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1

[ -x "$CHROMIUM" ] || { echo "no browser at $CHROMIUM: apt-get install chromium" >&2; exit 1; }

# Install exactly what the lock files say, only when they changed since the last install.
npm_ci() {
  if [ ! -f "$1/node_modules/.package-lock.json" ] \
    || [ "$1/package-lock.json" -nt "$1/node_modules/.package-lock.json" ]; then
    (cd "$1" && npm ci --no-audit --no-fund --loglevel=error)
  fi
}
npm_ci "$APP"
npm_ci "$E2E"
# E2E_REUSE_BUILD=1 keeps the last build (when only the tests or promptkit changed).
[ -n "${E2E_REUSE_BUILD:-}" ] && [ -d "$APP/.next" ] || (cd "$APP" && node node_modules/next/dist/bin/next build > /dev/null)

WORK="$(mktemp -d)"
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
PROMPTKIT_PORT="$(free_port)"
APP_PORT="$(free_port)"
export APP_URL="http://127.0.0.1:$APP_PORT"
PIDS=()
cleanup() {
  status=$?
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  [ -f "$WORK/promptkit.pid" ] && kill "$(cat "$WORK/promptkit.pid")" 2>/dev/null || true
  wait 2>/dev/null || true
  if [ "$status" -ne 0 ]; then
    echo "== promptkit log (tail)" >&2; tail -n 30 "$WORK/promptkit.log" >&2 || true
    echo "== next log (tail)" >&2; tail -n 30 "$WORK/next.log" >&2 || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

# Offline on purpose: no provider keys (the echo provider answers), no Clerk keys (local tokens).
# It runs in its own directory, so no `.env` of the checkout is read.
OFFLINE=(env -u OPENAI_API_KEY -u OPENAI_BASE_URL -u ANTHROPIC_API_KEY -u CLERK_JWT_KEY
  -u CLERK_JWKS_URL -u NEXT_PUBLIC_CLERK_PUBLISHABLE_KEY -u CLERK_SECRET_KEY -u PROMPTKIT_MODEL
  -u PROMPTKIT_DISABLED_PLUGINS -u PROMPTKIT_RATE_LIMIT -u REDIS_URL -u PROMPTKIT_TITLES
  -u PROMPTKIT_TITLE_MODEL -u PROMPTKIT_RESUMABLE
  DATABASE_URL="sqlite:///$WORK/promptkit.sqlite3" PROMPTKIT_DATA_DIR="$WORK/data")

# Budgets large enough never to refuse a chat of the suite: the token meters show them.
BUDGETS=(PROMPTKIT_TOKEN_BUDGET=5000000/day PROMPTKIT_ORG_TOKEN_BUDGET=9000000/day)

# Resumable replies on both sides (E2E_RESUMABLE=off runs the suite without): the app reads the
# same setting as promptkit, to call GET /chat/{id}/stream on mount (stop.test.mjs needs it on).
RESUMABLE=(PROMPTKIT_RESUMABLE="${E2E_RESUMABLE:-on}")
export E2E_RESUMABLE="${E2E_RESUMABLE:-on}"

# promptkit starts from a script, so that outage.test.mjs can stop it and start it again.
export PROMPTKIT_URL="http://127.0.0.1:$PROMPTKIT_PORT"
export PROMPTKIT_START="$WORK/start-promptkit.sh" PROMPTKIT_PID_FILE="$WORK/promptkit.pid"
{
  printf 'cd %q\n' "$WORK"
  printf 'echo $$ > %q\n' "$PROMPTKIT_PID_FILE"
  printf 'exec'; printf ' %q' "${OFFLINE[@]}" PROMPTKIT_CORS_ORIGINS="$APP_URL" "${RESUMABLE[@]}" "${BUDGETS[@]}" \
    "$PROMPTKIT" serve --port "$PROMPTKIT_PORT"; printf ' >> %q 2>&1\n' "$WORK/promptkit.log"
} > "$PROMPTKIT_START"
bash "$PROMPTKIT_START" &
(cd "$APP" && exec "${OFFLINE[@]}" "${RESUMABLE[@]}" PROMPTKIT_URL="$PROMPTKIT_URL" \
  PROMPTKIT_CLI="$PROMPTKIT" PROMPTKIT_CLI_CWD="$WORK" PROMPTKIT_LOCAL_USER=e2e-user \
  node node_modules/next/dist/bin/next start -H 127.0.0.1 -p "$APP_PORT" > "$WORK/next.log" 2>&1) &
PIDS+=($!)

wait_for() {
  for _ in $(seq 60); do curl -sf -o /dev/null "$1" && return 0; sleep 1; done
  echo "nothing answered at $1" >&2
  return 1
}
wait_for "$PROMPTKIT_URL/health"
wait_for "$APP_URL/api/local-token"

FILES=(chat.test.mjs layout.test.mjs prompts.test.mjs attach.test.mjs stop.test.mjs outage.test.mjs
  organizations.test.mjs branches.test.mjs)
# Search arrives with its own backend route: its test runs once promptkit has GET /search.
search_status="$(curl -s -o /dev/null -w '%{http_code}' "$PROMPTKIT_URL/search?q=x")"
if [ "$search_status" != 404 ]; then FILES+=(search.test.mjs); else echo "GET /search answers 404: search.test.mjs skipped"; fi
# Tools likewise: tools.test.mjs runs once promptkit has GET /tools (and the echo's `/tool`).
tools_status="$(curl -s -o /dev/null -w '%{http_code}' "$PROMPTKIT_URL/tools")"
if [ "$tools_status" != 404 ]; then FILES+=(tools.test.mjs); else echo "GET /tools answers 404: tools.test.mjs skipped"; fi
# `run.sh chat.test.mjs ...` runs only those files.
[ "$#" -gt 0 ] && FILES=("$@")
echo "screenshots go to $ARTIFACTS"
# One file at a time: outage.test.mjs stops the promptkit that the others talk to.
(cd "$E2E" && node --test --test-concurrency=1 "${FILES[@]}")
