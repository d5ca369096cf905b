#!/usr/bin/env bash
# A Kafka-protocol broker for tests and development: nisshi (formerly tansu) on 127.0.0.1.
#
#   scripts/broker.sh install        install nisshi $NISSHI_VERSION unless already there
#   scripts/broker.sh start [PORT]   start it (default port 19092), print bootstrap address
#   scripts/broker.sh stop           stop it (SIGINT)
#   scripts/broker.sh status
#
# State lives in .broker/ (sqlite storage, log, pid). Nothing in wirewatch depends on nisshi:
# the services speak the Kafka protocol and run against Apache Kafka by configuration alone.
set -euo pipefail

NISSHI_VERSION="${NISSHI_VERSION:-0.8.1}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
STATE="${WIREWATCH_BROKER_DIR:-$ROOT/.broker}"
export PATH="$HOME/.cargo/bin:$PATH"

installed_version() {
  command -v nisshi >/dev/null 2>&1 || return 1
  nisshi --version 2>/dev/null | grep -oE '[0-9]+\.[0-9]+\.[0-9]+' | head -n1
}

install() {
  if [ "$(installed_version || true)" = "$NISSHI_VERSION" ]; then
    echo "nisshi $NISSHI_VERSION already installed"
    return 0
  fi
  echo "installing nisshi $NISSHI_VERSION (about 10 minutes on 2 cores)..."
  # It declares rustc 1.96 but builds and works on 1.95.
  cargo install nisshi --version "$NISSHI_VERSION" --locked --ignore-rust-version
}

wait_port() {
  local port=$1
  for _ in $(seq 1 150); do
    if port_open "$port"; then return 0; fi
    if ! kill -0 "$(cat "$STATE/pid")" 2>/dev/null; then return 1; fi
    sleep 0.2
  done
  return 1
}

port_open() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

start() {
  local port="${1:-19092}"
  if [ -f "$STATE/pid" ] && kill -0 "$(cat "$STATE/pid")" 2>/dev/null; then
    echo "127.0.0.1:$(cat "$STATE/port")"
    return 0
  fi
  if port_open "$port"; then
    # Never wipe the state of a broker we did not start, nor start a second one beside it.
    echo "error: 127.0.0.1:$port is already in use by a process this script did not start" >&2
    echo "       (stop it, or choose another port: scripts/broker.sh start PORT)" >&2
    exit 1
  fi
  rm -rf "$STATE"
  mkdir -p "$STATE"
  # nisshi loads a .env file from its working directory: run it in a fresh, empty directory.
  # Every descriptor is redirected, so `$(scripts/broker.sh start)` returns at once instead of
  # waiting for the broker to close the command substitution's pipe.
  (
    cd "$STATE" || exit 1
    exec nohup nisshi broker \
      --listener-url "tcp://127.0.0.1:$port" \
      --advertised-listener-url "tcp://127.0.0.1:$port" \
      --storage-engine "sqlite://nisshi.db" \
      --group-initial-rebalance-delay 0s \
      >"$STATE/broker.log" 2>&1 </dev/null
  ) >/dev/null 2>&1 </dev/null &
  echo $! >"$STATE/pid"
  echo "$port" >"$STATE/port"
  if ! wait_port "$port"; then
    echo "broker did not open port $port; log:" >&2
    cat "$STATE/broker.log" >&2
    exit 1
  fi
  echo "127.0.0.1:$port"
}

stop() {
  if [ -f "$STATE/pid" ]; then
    local pid
    pid="$(cat "$STATE/pid")"
    kill -INT "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$STATE/pid"
  fi
}

case "${1:-}" in
  install) install ;;
  start) shift; start "$@" ;;
  stop) stop ;;
  status) if [ -f "$STATE/pid" ] && kill -0 "$(cat "$STATE/pid")" 2>/dev/null; then echo "running on 127.0.0.1:$(cat "$STATE/port")"; else echo "stopped"; exit 1; fi ;;
  *) echo "usage: $0 install|start [PORT]|stop|status" >&2; exit 2 ;;
esac
