#!/usr/bin/env bash
# The whole-suite test command: installs DynamoDB Local if needed (scripts/install-dynamodb-local.sh),
# cargo-lambda and moto[server] (PyPI, into target/tools-venv: the Lambda's local invoke test
# and the Secrets Manager tests), points the harnesses at them (DYNAMODB_LOCAL_DIR,
# MOTO_SERVER_BIN), then runs `cargo test --workspace` with any extra arguments, e.g.
#   scripts/test.sh
#   scripts/test.sh -p crm-testkit -- dynamodb
# DYNAMODB_ENDPOINT, if set, still wins over the jar (see crm-testkit's README).
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${repo_root}"

DYNAMODB_LOCAL_DIR="$(scripts/install-dynamodb-local.sh)"
export DYNAMODB_LOCAL_DIR
echo "test.sh: DYNAMODB_LOCAL_DIR=${DYNAMODB_LOCAL_DIR}" >&2

# cargo-lambda and moto's server mode (PyPI), in a venv under target/. pip runs as
# `python -m pip`, so a venv copied from another checkout still installs into this one.
tools="${repo_root}/target/tools-venv"
[ -x "${tools}/bin/python3" ] || python3 -m venv "${tools}"
pip_install() {
  "${tools}/bin/python3" -m pip install --quiet --disable-pip-version-check "$@"
}
[ -x "${tools}/bin/cargo-lambda" ] || pip_install cargo-lambda
[ -x "${tools}/bin/moto_server" ] || pip_install 'moto[server]'
export PATH="${tools}/bin:${PATH}"
export MOTO_SERVER_BIN="${tools}/bin/moto_server"
echo "test.sh: $("${tools}/bin/cargo-lambda" lambda --version 2>/dev/null || echo cargo-lambda)" >&2
echo "test.sh: MOTO_SERVER_BIN=${MOTO_SERVER_BIN} ($("${tools}/bin/python3" -m pip show moto 2>/dev/null | grep '^Version' || echo moto))" >&2

# The root package's tests run binaries: the Lambda (package lambda/), the budget workers and
# the crm command; `cargo test` builds a binary only for its own package's tests, so build them
# all first.
cargo build --workspace --bins --examples
exec cargo test --workspace "$@"
