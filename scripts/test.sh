#!/usr/bin/env bash
# The test suite (`make test`): every crate's unit and integration tests. The integration tests
# start their own PostgreSQL clusters and devvault servers on 127.0.0.1. Ends with one summary
# line over all test binaries, since cargo's own last line is that of the last binary only.
set -uo pipefail
cd "$(dirname "$0")/.."
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo test --workspace --all-targets "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
bash python/run_tests.sh || status=1
exit "$status"
