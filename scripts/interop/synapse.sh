#!/usr/bin/env bash
# Install / start / stop a throwaway Synapse on 127.0.0.1 for the interop run.
#   scripts/interop/synapse.sh install|start|stop|url|status
# Everything lives under <repo>/.cache/interop/synapse/ (git-ignored).
# Every start wipes the data directory: each run gets a fresh SQLite database.
set -euo pipefail

NAME=synapse

SYNAPSE_VERSION="${SYNAPSE_VERSION:-1.163.2}"          # PyPI matrix-synapse, pinned
HOST=127.0.0.1
PORT="${SYNAPSE_PORT:-18008}"
START_TIMEOUT="${SYNAPSE_START_TIMEOUT:-120}"           # seconds
STOP_TIMEOUT=30

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CACHE="$ROOT/.cache/interop/synapse"
VENV="$CACHE/venv"
DATA="$CACHE/data"
CONFIG="$CACHE/homeserver.yaml"
PIDFILE="$CACHE/synapse.pid"
LOG="$CACHE/synapse.log"
BASE_URL="http://$HOST:$PORT"
# relaxed (default): every rc_* limit set out of reach; default: no rc_* option
# at all, so Synapse runs with its own default rate limits.
RATE_LIMITS="${SYNAPSE_RATE_LIMITS:-relaxed}"
case "$RATE_LIMITS" in
  relaxed|default) ;;
  *) echo "[synapse] ERROR: SYNAPSE_RATE_LIMITS is relaxed or default, got \"$RATE_LIMITS\"" >&2; exit 2 ;;
esac


is_installed() { [ "$(installed_version || true)" = "$SYNAPSE_VERSION" ]; }

installed_version() {
  [ -x "$VENV/bin/python" ] || return 1
  "$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("matrix-synapse"))' 2>/dev/null
}

cmd_install() {
  if [ "$(installed_version || true)" = "$SYNAPSE_VERSION" ]; then
    log "matrix-synapse $SYNAPSE_VERSION already installed in $VENV"
    return 0
  fi
  command -v python3 >/dev/null || die "python3 not found"
  mkdir -p "$CACHE"
  local t0=$SECONDS
  if [ ! -x "$VENV/bin/python" ]; then
    log "creating venv $VENV"
    python3 -m venv "$VENV" >&2 || die "python3 -m venv failed (Debian: apt-get install python3-venv)"
  fi
  log "upgrading pip"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip >&2
  log "pip install matrix-synapse==$SYNAPSE_VERSION (about a minute)"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "matrix-synapse==$SYNAPSE_VERSION" >&2
  [ "$(installed_version || true)" = "$SYNAPSE_VERSION" ] || die "install finished but version check failed"
  log "installed matrix-synapse $SYNAPSE_VERSION in $((SECONDS - t0)) s"
}


write_config() {
  # Secrets are random per start; nothing here is meant to be reused.
  local macaroon form
  macaroon="$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
  form="$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
  cat > "$CONFIG" <<YAML
# Written by scripts/interop/synapse.sh - regenerated on every start.
server_name: "localhost"
public_baseurl: "$BASE_URL/"
pid_file: "$DATA/homeserver.pid"
listeners:
  - port: $PORT
    bind_addresses: ["$HOST"]
    type: http
    tls: false
    x_forwarded: false
    resources:
      - names: [client]
        compress: false
database:
  name: sqlite3
  args:
    database: "$DATA/homeserver.db"
media_store_path: "$DATA/media_store"
signing_key_path: "$DATA/localhost.signing.key"
macaroon_secret_key: "$macaroon"
form_secret: "$form"

# Open registration through m.login.dummy: no email, no captcha, no token.
enable_registration: true
enable_registration_without_verification: true
registrations_require_3pid: []
enable_3pid_lookup: false
auto_join_rooms: []

# No outbound network: no stats, no key servers, no federation, no previews.
report_stats: false
trusted_key_servers: []
suppress_key_server_warning: true
federation_domain_whitelist: []
url_preview_enabled: false
presence:
  enabled: false
# Outbound HTTP (push gateways, identity servers) may only reach loopback,
# so a mock push gateway on 127.0.0.1 works and nothing else is reachable.
ip_range_blacklist: ["0.0.0.0/0", "::/0"]
ip_range_whitelist: ["127.0.0.0/8", "::1/128"]

# Passwords are hashed at Synapse's default cost (bcrypt_rounds 12, about
# 0.23 s of CPU per registration here) in both modes: a run must stay within
# its time goals against a Synapse as it is configured in the wild.
YAML
  if [ "$RATE_LIMITS" = relaxed ]; then
    cat >> "$CONFIG" <<'YAML'

# Rate limits relaxed for a test suite that registers users quickly.
# Defaults (synapse/config/ratelimiting.py): rc_registration 0.17/s burst 3
# (per client IP, all of ours are 127.0.0.1), rc_login.* 0.003/s burst 5,
# rc_message 0.2/s burst 10. A limiter cannot be switched off by config;
# huge numbers make it unreachable. SYNAPSE_RATE_LIMITS=default
# (npm run interop -- synapse --default-limits) leaves all of them out.
rc_registration: {per_second: 100000, burst_count: 100000}
rc_registration_token_validity: {per_second: 100000, burst_count: 100000}
rc_login:
  address: {per_second: 100000, burst_count: 100000}
  account: {per_second: 100000, burst_count: 100000}
  failed_attempts: {per_second: 100000, burst_count: 100000}
rc_message: {per_second: 100000, burst_count: 100000}
rc_joins:
  local: {per_second: 100000, burst_count: 100000}
rc_3pid_validation: {per_second: 100000, burst_count: 100000}
rc_room_creation: {per_second: 100000, burst_count: 100000}
rc_delayed_event_mgmt: {per_second: 100000, burst_count: 100000}
YAML
  else
    printf '\n# SYNAPSE_RATE_LIMITS=default: no rc_* option, every limiter has its default.\n' >> "$CONFIG"
  fi
}

# Fresh data and config, then the server in the background (lib.sh waits for it).
launch() {
  rm -rf "$DATA"
  mkdir -p "$DATA"
  write_config
  log "starting synapse $SYNAPSE_VERSION on $BASE_URL, $RATE_LIMITS rate limits (log: $LOG)"
  # No log_config: Synapse logs to stderr, captured in $LOG.
  # --generate-missing-and-run (the default) creates the signing key.
  SYNAPSE_NO_TLS=1 nohup "$VENV/bin/python" -m synapse.app.homeserver -c "$CONFIG" \
    >>"$LOG" 2>&1 </dev/null &
  echo $! > "$PIDFILE"
}

# shellcheck source=scripts/interop/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
dispatch "$@"
