#!/usr/bin/env bash
# The whole-suite test command: installs DynamoDB Local if needed (scripts/install-dynamodb-local.sh)
# and cargo-lambda (PyPI, into target/tools-venv),
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

# cargo-lambda (PyPI) for the Lambda's local invoke test, in a venv under target/.
tools="${repo_root}/target/tools-venv"
if [ ! -x "${tools}/bin/cargo-lambda" ]; then
  python3 -m venv "${tools}"
  "${tools}/bin/pip" install --quiet --disable-pip-version-check cargo-lambda
fi
export PATH="${tools}/bin:${PATH}"
echo "test.sh: $("${tools}/bin/cargo-lambda" lambda --version 2>/dev/null || echo cargo-lambda)" >&2

exec cargo test --workspace "$@"
