#!/usr/bin/env bash
# Prometheus for the operator kit: checks of deploy/prometheus/ and the real-Prometheus test.
#
#   scripts/prometheus.sh install   install Debian's prometheus package (prometheus + promtool)
#                                   unless both are already on PATH
#   scripts/prometheus.sh check     promtool check config (both configs), check rules, and
#                                   test rules (deploy/prometheus/tests/*_test.yml)
#   scripts/prometheus.sh path      print the prometheus binary, for
#                                   export WIREWATCH_TEST_PROMETHEUS="$(scripts/prometheus.sh path)"
#   scripts/prometheus.sh           install, check, and print the export line
#
# tests/prometheus.rs starts its own Prometheus on a free 127.0.0.1 port from that binary;
# nothing is left running. The Debian package's own service is not started here.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PROM_DIR="$ROOT/deploy/prometheus"

install() {
  if command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1; then
    echo "prometheus already installed: $(prometheus --version 2>&1 | head -n1)" >&2
    return 0
  fi
  echo "installing Debian's prometheus package..." >&2
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  # --no-install-recommends: no node exporter and no web console extras.
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends prometheus >&2
  command -v prometheus >/dev/null && command -v promtool >/dev/null
}

check() {
  cd "$PROM_DIR"
  promtool check config prometheus.yml
  promtool check config prometheus-kubernetes.yml
  promtool check rules rules/*.yml
  local tests=(tests/*_test.yml)
  promtool test rules "${tests[@]}"
  # Every alerting rule has a unit test.
  local missing=0
  for alert in $(sed -n 's/^[[:space:]]*- alert:[[:space:]]*//p' rules/*.yml); do
    if ! grep -q "alertname: $alert\$" "${tests[@]}"; then
      echo "alert $alert has no promtool test in deploy/prometheus/tests/" >&2
      missing=1
    fi
  done
  [ "$missing" -eq 0 ]
  echo "promtool: configs, rules and rule tests pass"
}

path() {
  command -v prometheus
}

case "${1:-all}" in
  install) install ;;
  check) check ;;
  path) path ;;
  all)
    install
    check
    echo "export WIREWATCH_TEST_PROMETHEUS=\"$(path)\""
    ;;
  *)
    echo "usage: $0 [install|check|path]" >&2
    exit 2
    ;;
esac
