#!/usr/bin/env bash
# Prints the built lab tests that run on the suite's store (HYPHA_TEST_STORE): every test file that
# starts a lab with test/helpers/lab.ts, except those that always ask for PostgreSQL themselves.
set -euo pipefail
cd "$(dirname "$0")/.."
grep -rl --include='*.test.js' 'startLab(' dist/test | xargs grep -L -e "'--store', 'postgres'" | sort
