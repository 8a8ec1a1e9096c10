#!/usr/bin/env bash
# test.sh: the one test command. Starts what the tests need
# (scripts/ci-deps.sh), then checks formatting and runs go build, go vet and
# go test in every module of the workspace: a root `./...` does not cross
# modules.
set -euo pipefail

cd "$(dirname "$0")/.."
MODULES=(schemas executors services deploy)

if [[ -x scripts/ci-deps.sh ]]; then
  scripts/ci-deps.sh
fi

echo "== gofmt"
unformatted="$(gofmt -l .)"
if [[ -n "$unformatted" ]]; then
  echo "gofmt would change these files:" >&2
  echo "$unformatted" >&2
  exit 1
fi

# Every module is checked even when one fails, so one run shows everything.
failed=()
for module in "${MODULES[@]}"; do
  echo "== $module"
  if ! (
    cd "$module"
    go build ./...
    go vet ./...
    go test -count=1 -timeout 15m ./...
  ); then
    failed+=("$module")
  fi
done
if (( ${#failed[@]} > 0 )); then
  echo "== FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "== all modules passed"
