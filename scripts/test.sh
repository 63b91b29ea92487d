#!/usr/bin/env bash
# The whole-suite test command: installs DynamoDB Local if needed (scripts/install-dynamodb-local.sh),
# points the harness at it, then runs `cargo test --workspace` with any extra arguments, e.g.
#   scripts/test.sh
#   scripts/test.sh -p crm-testkit -- dynamodb
# DYNAMODB_ENDPOINT, if set, still wins over the jar (see crm-testkit's README).
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${repo_root}"

DYNAMODB_LOCAL_DIR="$(scripts/install-dynamodb-local.sh)"
export DYNAMODB_LOCAL_DIR
echo "test.sh: DYNAMODB_LOCAL_DIR=${DYNAMODB_LOCAL_DIR}" >&2

exec cargo test --workspace "$@"
