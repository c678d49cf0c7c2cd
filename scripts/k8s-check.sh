#!/usr/bin/env bash
# Renders every overlay under the given kustomize tree (default: k8s/) with `kubectl kustomize`
# and validates what comes out, offline, against the Kubernetes schemas with strict checking
# (kubernetes-validate from PyPI ships them; installed into target/k8s-venv on first use).
# Fails, naming the overlay and the resource, on the first manifest that does not validate.
set -euo pipefail
cd "$(dirname "$0")/.."
tree="${1:-k8s}"
kubernetes_version="${K8S_VERSION:-1.30.0}"
validator_version="1.37.0"

if ! command -v kubectl >/dev/null 2>&1; then
  echo "k8s-check: kubectl is missing (it renders the overlays: kubectl kustomize)" >&2
  exit 1
fi
venv="target/k8s-venv"
if [ ! -x "$venv/bin/kubernetes-validate" ] \
  || [ "$("$venv/bin/kubernetes-validate" --version 2>/dev/null)" != "$validator_version" ]; then
  echo "k8s-check: installing kubernetes-validate $validator_version into $venv" >&2
  scripts/ensure-packages.sh python3=python3
  if ! python3 -m venv "$venv" 2>/dev/null; then
    # Debian's python3 keeps venv in a package of its own.
    if [ "$(id -u)" != "0" ]; then
      echo "k8s-check: python3 cannot make a venv (Debian/Ubuntu: sudo apt-get install python3-venv)" >&2
      exit 1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
    python3 -m venv "$venv"
  fi
  "$venv/bin/pip" install --quiet --disable-pip-version-check "kubernetes-validate==$validator_version"
fi

rendered=$(mktemp -d)
trap 'rm -rf "$rendered"' EXIT
overlays=("$tree"/overlays/*/)
if [ ! -d "${overlays[0]}" ]; then
  echo "k8s-check: no overlays under $tree/overlays" >&2
  exit 1
fi
for overlay in "${overlays[@]}"; do
  name=$(basename "$overlay")
  if ! output=$(kubectl kustomize "$overlay" 2>&1 > "$rendered/$name.yaml"); then
    echo "k8s-check: overlay $name does not render:" >&2
    echo "$output" >&2
    exit 1
  fi
  if ! output=$("$venv/bin/kubernetes-validate" --strict --quiet -k "$kubernetes_version" "$rendered/$name.yaml" 2>&1); then
    echo "k8s-check: overlay $name does not validate against Kubernetes $kubernetes_version:" >&2
    echo "$output" >&2
    exit 1
  fi
  resources=$(grep -c '^kind: ' "$rendered/$name.yaml")
  echo "k8s-check: overlay $name: $resources resources valid for Kubernetes $kubernetes_version"
done
