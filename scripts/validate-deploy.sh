#!/usr/bin/env bash
# Offline validation of the deployment files (no Docker engine or cluster needed):
#   - yamllint on every YAML file under deploy/ (config: deploy/.yamllint.yaml)
#   - kubernetes-validate on deploy/k8s/*.yaml against the Kubernetes $K8S_VERSION schemas
#   - Grafana dashboard: valid JSON (the schema and metric names are checked by
#     tests/metrics_contract.rs)
#   - systemd units: `systemd-analyze verify` where systemd is installed
#   - Prometheus: scripts/prometheus.sh check (promtool config, rules, rule tests)
# Installs yamllint and kubernetes-validate from PyPI when missing.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
K8S_VERSION="${K8S_VERSION:-1.30.0}"

PY="${PYTHON:-python3}"
missing=()
"$PY" -m yamllint --version >/dev/null 2>&1 || missing+=(yamllint)
"$PY" -c 'import kubernetes_validate' >/dev/null 2>&1 || missing+=(kubernetes-validate)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing ${missing[*]} from PyPI..." >&2
  "$PY" -m pip install --quiet "${missing[@]}"
fi

echo "== yamllint deploy/"
"$PY" -m yamllint --strict -c deploy/.yamllint.yaml deploy/

echo "== kubernetes-validate deploy/k8s (Kubernetes $K8S_VERSION, strict)"
k8s_files=()
for f in deploy/k8s/*.yaml; do
  [ "$(basename "$f")" = kustomization.yaml ] || k8s_files+=("$f")
done
"$PY" -m kubernetes_validate --strict -k "$K8S_VERSION" "${k8s_files[@]}"

echo "== grafana dashboard JSON"
"$PY" -m json.tool deploy/grafana/wirewatch.json >/dev/null
echo "deploy/grafana/wirewatch.json: valid JSON"

echo "== systemd units"
if command -v systemd-analyze >/dev/null 2>&1; then
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  cp deploy/systemd/*.service "$tmp/"
  # verify wants the ExecStart binary to exist: check the units' syntax against a stand-in.
  sed -i 's|^ExecStart=/usr/local/bin/wirewatch|ExecStart=/bin/true|' "$tmp"/*.service
  out="$(SYSTEMD_LOG_LEVEL=notice systemd-analyze verify "$tmp"/*.service 2>&1)" || { echo "$out" >&2; exit 1; }
  if grep -Ei "unknown|invalid|failed|ignoring" <<<"$out" >&2; then exit 1; fi
  echo "systemd units verified"
else
  echo "systemd-analyze not installed: unit files checked for required keys only"
fi
for u in deploy/systemd/*.service; do
  for key in ExecStart=/usr/local/bin/wirewatch Restart=on-failure NoNewPrivileges=yes ProtectSystem=strict User=wirewatch; do
    grep -q "^$key" "$u" || { echo "$u lacks $key" >&2; exit 1; }
  done
done

echo "== prometheus"
scripts/prometheus.sh install >/dev/null
scripts/prometheus.sh check

echo "deployment files valid"
