# Shared lifecycle of the interop homeservers, sourced by synapse.sh and dendrite.sh.
# The sourcing script sets NAME, BASE_URL, PIDFILE, LOG, START_TIMEOUT, STOP_TIMEOUT
# and defines cmd_install, is_installed and launch (start the server in the
# background, writing its pid to $PIDFILE, after its data and config are ready).

log() { printf '[%s] %s\n' "$NAME" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

is_running() {
  [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null
}

PORT_OF_URL="${BASE_URL##*:}"

# Whether anything listens on our port (when ss is there to tell).
port_in_use() {
  command -v ss >/dev/null && [ -n "$(ss -ltnH "sport = :$PORT_OF_URL" 2>/dev/null)" ]
}

# Pids of the processes listening on our port, when ss can tell (empty otherwise).
listener_pids() {
  command -v ss >/dev/null || return 0
  ss -ltnpH "sport = :$PORT_OF_URL" 2>/dev/null | grep -o 'pid=[0-9]*' | cut -d= -f2 | sort -u
}

# Whether what answers on our port is the server this script started. Two
# starts at the same moment both find the port free; the later server then
# fails to bind and exits, but can still be alive when the earlier one first
# answers /versions, and the run would test (and later lose) a server that is
# not its own: "the connection was closed before a complete answer".
owns_port() {
  local pids
  pids="$(listener_pids)"
  if [ -n "$pids" ]; then
    printf '%s\n' "$pids" | grep -qx "$(cat "$PIDFILE")"
    return
  fi
  # ss cannot name the listener: our process must at least outlive a bind failure.
  sleep 1
  is_running
}

cmd_start() {
  is_installed || cmd_install
  if is_running; then
    die "already running (pid $(cat "$PIDFILE")); run stop first"
  fi
  if curl -s -o /dev/null --max-time 2 "$BASE_URL/_matrix/client/versions" || port_in_use; then
    die "something already listens on $BASE_URL (not started by this script's pid file)"
  fi
  : > "$LOG"
  local t0=$SECONDS
  launch
  # Bounded wait until /versions answers, or the process dies.
  local deadline=$((SECONDS + START_TIMEOUT))
  while [ $SECONDS -lt $deadline ]; do
    if ! is_running; then
      log "$NAME exited during startup; last log lines:"
      tail -n 40 "$LOG" >&2
      rm -f "$PIDFILE"
      exit 1
    fi
    if curl -sf -o /dev/null --max-time 2 "$BASE_URL/_matrix/client/versions"; then
      if ! owns_port; then
        log "another process answers on $BASE_URL, not ours (pid $(cat "$PIDFILE")): is another interop run using this port? last log lines:"
        tail -n 5 "$LOG" >&2
        cmd_stop || true
        exit 1
      fi
      log "$NAME is up after $((SECONDS - t0)) s (pid $(cat "$PIDFILE"))"
      return 0
    fi
    sleep 0.5
  done
  log "$NAME did not answer within ${START_TIMEOUT}s; last log lines:"
  tail -n 40 "$LOG" >&2
  cmd_stop || true
  exit 1
}

cmd_stop() {
  if [ ! -f "$PIDFILE" ]; then
    log "not running (no pid file)"
    return 0
  fi
  local pid
  pid="$(cat "$PIDFILE")"
  if kill -0 "$pid" 2>/dev/null; then
    log "stopping pid $pid"
    kill -TERM "$pid" 2>/dev/null || true
    local deadline=$((SECONDS + STOP_TIMEOUT))
    while kill -0 "$pid" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.2; done
    if kill -0 "$pid" 2>/dev/null; then
      log "pid $pid still alive after ${STOP_TIMEOUT}s, sending KILL"
      kill -KILL "$pid" 2>/dev/null || true
      sleep 0.5
    fi
  fi
  rm -f "$PIDFILE"
  log "stopped"
}

dispatch() {
  case "${1:-}" in
    install) cmd_install ;;
    start) cmd_start ;;
    stop) cmd_stop ;;
    url) echo "$BASE_URL" ;;
    status) if is_running; then echo "running pid $(cat "$PIDFILE")"; else echo "stopped"; exit 1; fi ;;
    *) echo "usage: $0 install|start|stop|url|status" >&2; exit 2 ;;
  esac
}
