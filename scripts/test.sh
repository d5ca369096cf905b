#!/usr/bin/env bash
# The whole test suite, on a fresh Debian machine or a warm one:
#   1. installs what the build and the tests need (apt packages, the nisshi broker),
#   2. starts the broker on 127.0.0.1,
#   3. runs every test: unit, in-process end to end, Kafka end to end (WIREWATCH_TEST_KAFKA set).
# Steps already done (packages present, broker installed) are skipped.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
export PATH="$HOME/.cargo/bin:$PATH"

need_apt=()
for pkg in build-essential pkg-config zlib1g-dev libssl-dev; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need_apt+=("$pkg")
done
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "installing apt packages: ${need_apt[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}"
fi
if [ ! -d ../shared/corpus ]; then
  echo "error: ../shared/corpus is missing: the tests read the shared corpus beside the checkout" >&2
  exit 1
fi

# A fresh build and the test databases take about 6 GB (4.5 GB with CARGO_INCREMENTAL=0, as CI
# sets it); with less free, PostgreSQL and the linker fail later with "No space left on device".
target_dir="${CARGO_TARGET_DIR:-$ROOT/target}"
mkdir -p "$target_dir"
free_mb="$(df -Pm "$target_dir" | awk 'NR==2 {print $4}')"
if [ -n "$free_mb" ] && [ "$free_mb" -lt 8192 ]; then
  echo "warning: only ${free_mb} MB free on the disk of $target_dir; the build and tests need about 6 GB" >&2
fi

scripts/broker.sh install
PORT="${WIREWATCH_BROKER_PORT:-19092}"
BOOTSTRAP="$(scripts/broker.sh start "$PORT")"
on_exit() {
  local rc=$?
  if [ "$rc" -ne 0 ]; then
    echo "tests failed (exit $rc); free disk now: $(df -Pm "$target_dir" | awk 'NR==2 {print $4}') MB" >&2
  fi
  scripts/broker.sh stop
  scripts/postgres.sh stop
}
trap on_exit EXIT
export WIREWATCH_TEST_POSTGRES="$(scripts/postgres.sh start)"
echo "postgresql at $WIREWATCH_TEST_POSTGRES"
echo "broker at $BOOTSTRAP"
export WIREWATCH_TEST_KAFKA="$BOOTSTRAP"

scripts/prometheus.sh install
scripts/prometheus.sh check
scripts/validate-deploy.sh
export WIREWATCH_TEST_PROMETHEUS="$(scripts/prometheus.sh path)"

cargo build --workspace --all-targets
cargo test --workspace -- --test-threads=2 "$@"
