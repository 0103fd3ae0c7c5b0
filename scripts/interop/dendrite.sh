#!/usr/bin/env bash
# Install / start / stop a throwaway Dendrite on 127.0.0.1 for the interop run.
#   scripts/interop/dendrite.sh install|start|stop|url|status
# Everything lives under <repo>/.cache/interop/dendrite/ (git-ignored).
# Every start wipes the data directory: each run gets fresh SQLite databases.
set -euo pipefail

NAME=dendrite

# github.com/matrix-org/dendrite, pinned. v0.13.8 is the newest version of this
# module path on the Go module proxy (later releases moved to another path).
DENDRITE_VERSION="${DENDRITE_VERSION:-v0.13.8}"
MODULE=github.com/matrix-org/dendrite
HOST=127.0.0.1
PORT="${DENDRITE_PORT:-18009}"
START_TIMEOUT="${DENDRITE_START_TIMEOUT:-120}"          # seconds
STOP_TIMEOUT=30

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CACHE="$ROOT/.cache/interop/dendrite"
BIN="$CACHE/bin"
DATA="$CACHE/data"
CONFIG="$CACHE/dendrite.yaml"
PIDFILE="$CACHE/dendrite.pid"
LOG="$CACHE/dendrite.log"
STAMP="$BIN/.version"
BASE_URL="http://$HOST:$PORT"
# Dendrite's own rate limiter, with its default settings, when "true";
# switched off otherwise. Nothing else in the config depends on it.
case "${DENDRITE_RATE_LIMITING:-false}" in
  true) RATE_LIMITING=true ;;
  false) RATE_LIMITING=false ;;
  *) echo "[dendrite] ERROR: DENDRITE_RATE_LIMITING is true or false, got \"$DENDRITE_RATE_LIMITING\"" >&2; exit 2 ;;
esac


is_installed() {
  [ -x "$BIN/dendrite" ] && [ -x "$BIN/generate-keys" ] && [ -f "$STAMP" ] &&
    [ "$(cat "$STAMP")" = "$DENDRITE_VERSION" ]
}

cmd_install() {
  if is_installed; then
    log "dendrite $DENDRITE_VERSION already installed in $BIN"
    return 0
  fi
  command -v go >/dev/null || die "go not found on PATH"
  mkdir -p "$BIN"
  local t0=$SECONDS
  log "go install $MODULE/cmd/{dendrite,generate-keys,generate-config}@$DENDRITE_VERSION (a few minutes on 2 cores)"
  # Build caches stay in the user's usual GOPATH/GOCACHE so repeated installs are quick.
  GOBIN="$BIN" GOFLAGS="${GOFLAGS:-} -buildvcs=false" go install \
    "$MODULE/cmd/dendrite@$DENDRITE_VERSION" \
    "$MODULE/cmd/generate-keys@$DENDRITE_VERSION" \
    "$MODULE/cmd/generate-config@$DENDRITE_VERSION" >&2 \
    || die "go install failed"
  echo "$DENDRITE_VERSION" > "$STAMP"
  log "installed dendrite $DENDRITE_VERSION in $((SECONDS - t0)) s ($("$BIN/dendrite" -version 2>&1 | head -n1))"
}


write_config() {
  local D="$DATA"
  cat > "$CONFIG" <<YAML
# Written by scripts/interop/dendrite.sh - regenerated on every start.
# Options not given here take Dendrite's defaults (setup/config, Defaults()).
version: 2
global:
  server_name: localhost
  private_key: $D/matrix_key.pem
  # No outbound network: no federation, no identity servers, no stats.
  disable_federation: true
  trusted_third_party_id_servers: []
  presence:
    enable_inbound: false
    enable_outbound: false
  report_stats:
    enabled: false
  server_notices:
    enabled: false
  dns_cache:
    enabled: false
  metrics:
    enabled: false
  jetstream:
    # NATS runs in-process (DontListen): no port is opened.
    storage_path: $D/jetstream
    in_memory: true
    topic_prefix: Dendrite
client_api:
  # Open registration through m.login.dummy needs BOTH this and the
  # -really-enable-open-registration command-line flag.
  registration_disabled: false
  registration_requires_token: false
  enable_registration_captcha: false
  guests_disabled: true
  # Default: enabled, threshold 5, cooloff_ms 500 - at most 5 requests in
  # flight per 500 ms, keyed by user+device for authenticated endpoints
  # (pushers/set included) and by remote address for /register (all of ours
  # come from 127.0.0.1). Turned off entirely unless DENDRITE_RATE_LIMITING=true
  # (npm run interop -- dendrite --default-limits), which keeps the defaults.
  rate_limiting:
    enabled: $RATE_LIMITING
    threshold: 5
    cooloff_ms: 500
federation_api:
  database:
    connection_string: file:$D/dendrite_federationapi.db
  key_perspectives: []
key_server:
  database:
    connection_string: file:$D/dendrite_keyserver.db
media_api:
  database:
    connection_string: file:$D/dendrite_mediaapi.db
  base_path: $D/media
room_server:
  database:
    connection_string: file:$D/dendrite_roomserver.db
sync_api:
  database:
    connection_string: file:$D/dendrite_syncapi.db
  search:
    enabled: false
user_api:
  account_database:
    connection_string: file:$D/dendrite_userapi.db
  # bcrypt cost 4 (the minimum) instead of 10: registration is much faster.
  bcrypt_cost: 4
  # Dendrite only accepts https push gateway URLs; a local mock gateway
  # would use a self-signed certificate.
  push_gateway_disable_tls_validation: true
  auto_join_rooms: []
relay_api:
  database:
    connection_string: file:$D/dendrite_relayapi.db
mscs:
  mscs: []
  database:
    connection_string: file:$D/dendrite_mscs.db
app_service_api:
  config_files: []
logging:
  - type: std
    level: info
YAML
}

# Fresh data and config, then the server in the background (lib.sh waits for it).
launch() {
  rm -rf "$DATA"
  mkdir -p "$DATA"
  "$BIN/generate-keys" -private-key "$DATA/matrix_key.pem" >&2
  write_config
  log "starting dendrite $DENDRITE_VERSION on $BASE_URL, rate limiting $([ "$RATE_LIMITING" = true ] && echo 'on (defaults)' || echo off) (log: $LOG)"
  # No -tls-cert/-tls-key: the HTTPS listener is not started.
  (cd "$DATA" && exec nohup "$BIN/dendrite" -config "$CONFIG" \
      -http-bind-address "$HOST:$PORT" -really-enable-open-registration \
      >>"$LOG" 2>&1 </dev/null) &
  echo $! > "$PIDFILE"
}

# shellcheck source=scripts/interop/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
dispatch "$@"
