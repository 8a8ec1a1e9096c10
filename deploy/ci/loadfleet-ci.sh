#!/usr/bin/env bash
# loadfleet-ci.sh: the one script behind loadfleet's CI integrations (the
# GitHub Action in action.yml, the GitLab template in gitlab/). It gets the
# loadfleet binary, runs a plan against a loadfleet server, writes the HTML
# report and the JUnit XML into an output directory, and turns loadfleet's
# exit status into the job's.
#
# Inputs, all environment variables (so CI systems never splice values into
# shell code):
#   LOADFLEET_PLAN              required: path of the plan file (JSON)
#   LOADFLEET_SERVER            required: URL of the loadfleet server
#   LOADFLEET_TOKEN             API token, from a secret; never printed
#   LOADFLEET_OVERRIDES         --set values, one key=value a line
#                               (baseUrl, rateMultiplier, duration)
#   LOADFLEET_VERSION           "source" or empty: go build from the source
#                               tree; vX.Y.Z: download that release
#   LOADFLEET_OUTPUT_DIR        where the files go (default loadfleet-report)
#   LOADFLEET_FAIL_ON_CRITERIA  true (default): failed criteria fail the job
#   LOADFLEET_BIN               use this loadfleet binary as is
#   LOADFLEET_SOURCE_DIR        source tree to build (default: this script's)
#   LOADFLEET_RELEASE_URL       release downloads base (default GitHub's)
#   LOADFLEET_SHA256            expected checksum of the downloaded binary
#                               (default: the release's .sha256 file)
#
# Exit status: 0 passed (or criteria failed with LOADFLEET_FAIL_ON_CRITERIA
# false), 1 criteria failed, 2 invalid input (plan, --set value, token,
# missing input), 3 the run errored or was aborted, or loadfleet could not be
# obtained.
set -euo pipefail

readonly default_release_url="https://github.com/loadfleet/loadfleet/releases/download"
readonly exit_failed=1 exit_invalid=2 exit_error=3

script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
github=false
[[ "${GITHUB_ACTIONS:-}" == "true" ]] && github=true

# say prints a message; on GitHub, errors and warnings become annotations.
say() {
  local level="$1"
  shift
  if $github && [[ "$level" != info ]]; then
    echo "::${level} title=loadfleet::$*"
  else
    echo "loadfleet-ci: ${level}: $*" >&2
  fi
}

die() {
  local code="$1"
  shift
  say error "$*"
  exit "$code"
}

# Inputs are read once, then unset: loadfleet reads LOADFLEET_<FLAG>
# variables as flag defaults, and these names are not meant as flags.
plan="${LOADFLEET_PLAN:-}"
server="${LOADFLEET_SERVER:-}"
overrides="${LOADFLEET_OVERRIDES:-}"
version="${LOADFLEET_VERSION:-}"
output_dir="${LOADFLEET_OUTPUT_DIR:-loadfleet-report}"
fail_on_criteria="${LOADFLEET_FAIL_ON_CRITERIA:-true}"
bin="${LOADFLEET_BIN:-}"
source_dir="${LOADFLEET_SOURCE_DIR:-$script_dir/../..}"
release_url="${LOADFLEET_RELEASE_URL:-$default_release_url}"
sha256="${LOADFLEET_SHA256:-}"
unset LOADFLEET_PLAN LOADFLEET_OVERRIDES LOADFLEET_VERSION LOADFLEET_OUTPUT_DIR \
  LOADFLEET_FAIL_ON_CRITERIA LOADFLEET_BIN LOADFLEET_SOURCE_DIR \
  LOADFLEET_RELEASE_URL LOADFLEET_SHA256

verdict=error
exit_code=""
report="$output_dir/report.html"
junit="$output_dir/junit.xml"

# publish tells the CI system the outcome, whatever it is: GitHub step
# outputs and summary, and a dotenv file GitLab can pass to later jobs.
publish() {
  local status=$?
  exit_code="${exit_code:-$status}"
  if [[ -d "$output_dir" ]]; then
    printf 'LOADFLEET_VERDICT=%s\nLOADFLEET_EXIT_CODE=%s\n' "$verdict" "$exit_code" >"$output_dir/loadfleet.env"
  fi
  if [[ -n "${GITHUB_OUTPUT:-}" ]]; then
    {
      echo "verdict=$verdict"
      echo "exit-code=$exit_code"
      echo "report=$report"
      echo "junit=$junit"
      echo "output-dir=$output_dir"
    } >>"$GITHUB_OUTPUT"
  fi
  if [[ -n "${GITHUB_STEP_SUMMARY:-}" ]]; then
    {
      echo "### loadfleet: ${verdict}"
      echo
      echo "Plan \`$plan\`, exit status $exit_code."
      if [[ -s "$output_dir/summary.txt" ]]; then
        echo
        echo '```'
        cat "$output_dir/summary.txt"
        echo '```'
      fi
    } >>"$GITHUB_STEP_SUMMARY"
  fi
}
trap publish EXIT

check_inputs() {
  [[ -n "$plan" ]] || die $exit_invalid "no plan: set LOADFLEET_PLAN (action input 'plan') to the path of a plan file"
  [[ -f "$plan" ]] || die $exit_invalid "plan file '$plan' does not exist (LOADFLEET_PLAN; paths are relative to $(pwd))"
  [[ -n "$server" ]] || die $exit_invalid "no server: set LOADFLEET_SERVER (action input 'server') to the loadfleet server's URL"
  [[ "$server" == http://* || "$server" == https://* ]] ||
    die $exit_invalid "server '$server' is not an http:// or https:// URL"
  case "$fail_on_criteria" in
    true | false) ;;
    *) die $exit_invalid "LOADFLEET_FAIL_ON_CRITERIA (action input 'fail-on-criteria') must be true or false, not '$fail_on_criteria'" ;;
  esac
  if [[ -z "${LOADFLEET_TOKEN:-}" ]]; then
    say info "no token (LOADFLEET_TOKEN): the server must accept calls without one (a server without tokens answers on loopback only)"
  fi
}

# build compiles loadfleet from the source tree into $1.
build() {
  local out="$1"
  command -v go >/dev/null || die $exit_error "version '${version:-source}' builds loadfleet from source, and go is not on PATH (install Go, or set a release version)"
  [[ -f "$source_dir/services/cmd/loadfleet/main.go" ]] ||
    die $exit_error "no loadfleet source tree at $source_dir (LOADFLEET_SOURCE_DIR)"
  say info "building loadfleet from $source_dir"
  (cd "$source_dir" && go build -o "$out" ./services/cmd/loadfleet) ||
    die $exit_error "go build of loadfleet failed"
}

# download fetches release $version into $1 and verifies its SHA-256.
download() {
  local out="$1" os arch asset url want got
  command -v curl >/dev/null || die $exit_error "curl is needed to download loadfleet"
  os="$(uname -s | tr '[:upper:]' '[:lower:]')"
  case "$(uname -m)" in
    x86_64 | amd64) arch=amd64 ;;
    aarch64 | arm64) arch=arm64 ;;
    *) die $exit_error "no loadfleet release for machine $(uname -m); set version to 'source'" ;;
  esac
  asset="loadfleet-$os-$arch"
  url="${release_url%/}/v${version#v}/$asset"
  say info "downloading $url"
  curl --fail --silent --show-error --location --retry 3 --output "$out" "$url" ||
    die $exit_error "could not download loadfleet ${version}: $url"
  want="$sha256"
  if [[ -z "$want" ]]; then
    want="$(curl --fail --silent --show-error --location --retry 3 "$url.sha256")" ||
      die $exit_error "could not download the checksum $url.sha256"
    want="${want%% *}"
  fi
  got="$(sha256sum "$out")"
  got="${got%% *}"
  [[ "${want,,}" == "$got" ]] ||
    die $exit_error "checksum mismatch for $url: want $want, got $got; refusing to run it"
  chmod +x "$out"
}

get_loadfleet() {
  if [[ -n "$bin" ]]; then
    [[ -x "$bin" ]] || die $exit_error "LOADFLEET_BIN '$bin' is not an executable file"
    return
  fi
  local dir
  dir="$(mktemp -d "${RUNNER_TEMP:-${TMPDIR:-/tmp}}/loadfleet-bin.XXXXXX")"
  bin="$dir/loadfleet"
  if [[ -z "$version" || "$version" == source ]]; then
    build "$bin"
  else
    download "$bin"
  fi
}

# run_plan runs the plan and sets exit_code. The token reaches loadfleet
# through its environment, not its command line, which other processes
# can read.
run_plan() {
  local args=(run "$plan" --server "$server" --report "$report" --junit "$junit" --output text)
  local line
  while IFS= read -r line || [[ -n "$line" ]]; do
    line="${line#"${line%%[![:space:]]*}"}"
    line="${line%"${line##*[![:space:]]}"}"
    [[ -z "$line" || "$line" == \#* ]] && continue
    [[ "$line" == *=* ]] || die $exit_invalid "set value '$line' is not key=value"
    args+=(--set "$line")
  done <<<"$overrides"
  local code=0
  # Both streams reach the job log live; stdout (the summary) is also kept
  # for the step summary, stderr (progress, errors) in loadfleet.log. fd 3
  # carries stdout past the stderr pipe; pipefail makes the status
  # loadfleet's.
  { "$bin" "${args[@]}" 2>&1 1>&3 3>&- | tee "$output_dir/loadfleet.log" >&2; } 3>&1 |
    tee "$output_dir/summary.txt" || code=$?
  exit_code=$code
}

# judge turns loadfleet's exit status into the job's, with a message that
# tells the cases apart.
judge() {
  case "$exit_code" in
    0)
      verdict=passed
      say info "passed: every criterion held; report in $report"
      ;;
    "$exit_failed")
      verdict=failed
      if [[ "$fail_on_criteria" == false ]]; then
        say warning "criteria failed (not failing the job: fail-on-criteria is false); see $report"
        return 0
      fi
      say error "criteria failed: the run completed and at least one criterion did not hold; see $report and $junit"
      ;;
    "$exit_invalid")
      verdict=invalid
      if grep -q "refused the request" "$output_dir/loadfleet.log" 2>/dev/null; then
        say error "the server refused the API token: check LOADFLEET_TOKEN (action input 'token') against the server's auth.tokens"
      else
        say error "invalid input: the plan or a set value was refused (problems listed above)"
      fi
      ;;
    "$exit_error")
      verdict=error
      say error "the run errored or was aborted, or the server could not be reached (see the log above); no verdict"
      ;;
    *)
      verdict=error
      say error "loadfleet exited with unexpected status $exit_code"
      ;;
  esac
  return "$exit_code"
}

main() {
  check_inputs
  mkdir -p "$output_dir"
  get_loadfleet
  run_plan
  judge
}

main
