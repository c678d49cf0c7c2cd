#!/usr/bin/env bash
# The check must fail on a broken manifest: copies k8s/ and breaks one thing at a time (a field
# Kubernetes does not know, a wrong type, a patch that renders nothing valid), expecting
# k8s-check.sh to fail and to name the overlay; then the unbroken tree must pass.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

expect_failure() {
  local what="$1" tree="$2"
  if output=$(scripts/k8s-check.sh "$tree" 2>&1); then
    echo "k8s-check-test: FAILED: $what passed the check" >&2
    exit 1
  fi
  if ! grep -q "overlay dev does not \(validate\|render\)\|overlay prod does not \(validate\|render\)" <<<"$output"; then
    echo "k8s-check-test: FAILED: $what failed without saying where:" >&2
    echo "$output" >&2
    exit 1
  fi
  echo "k8s-check-test: $what is refused"
}

break_copy() {
  rm -rf "$work/k8s" && cp -r k8s "$work/k8s"
}

# Applies the sed expression $1 to the copy's file $2, failing when it changes nothing (the
# manifests moved on and the breakage no longer applies).
mutate() {
  local expression="$1" file="$work/k8s/$2"
  cp "$file" "$work/before"
  sed -i "$expression" "$file"
  if cmp -s "$file" "$work/before"; then
    echo "k8s-check-test: FAILED: '$expression' changes nothing in $2; update this test" >&2
    exit 1
  fi
}

break_copy
mutate 's/^  replicas: \([0-9]*\)$/  replica: \1/' base/routing.yaml
expect_failure "an unknown field (replica)" "$work/k8s"

break_copy
mutate 's/^              containerPort: 50053$/              containerPort: "grpc"/' base/routing.yaml
expect_failure "a port given as a string" "$work/k8s"

break_copy
mutate 's/^  name: ingest-data$/  name: ingest-data\n  bogus: true/' overlays/dev/sqlite-volumes.yaml
expect_failure "an unknown field in one overlay's own resource" "$work/k8s"

break_copy
mutate 's/^  - path: sqlite.yaml$/  - path: missing.yaml/' overlays/dev/kustomization.yaml
expect_failure "a patch that does not exist" "$work/k8s"

scripts/k8s-check.sh k8s >/dev/null
echo "k8s-check-test: the manifests as committed pass"
