#!/usr/bin/env bash
# The downstream check (issue #19): the crate in downstream/, copied outside this repository
# (so nothing of the workspace is found by walking up from it) with its path dependencies
# pointed back here, set up only as crm-testkit's README says:
#   cargo install crm-testkit --bin fake-hubspot --bin crm-testkit   (here: --path crm-testkit)
#   crm-testkit install-dynamodb-local
# then `cargo test` in it. The tools go under target/downstream-tools and DynamoDB Local into
# the per-user cache (CRM_TESTKIT_CACHE_DIR points it under target/ so CI stays self-contained).
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${repo_root}"

tools="${repo_root}/target/downstream-tools"
# Debug builds sharing the workspace's target directory: most of it is already compiled.
cargo install --locked --debug --path crm-testkit --bin fake-hubspot --bin crm-testkit \
  --root "${tools}" --target-dir "${repo_root}/target"
export PATH="${tools}/bin:${PATH}"
export CRM_TESTKIT_CACHE_DIR="${repo_root}/target/downstream-cache"
unset DYNAMODB_LOCAL_DIR DYNAMODB_ENDPOINT
crm-testkit install-dynamodb-local

work="$(mktemp -d)"
trap 'rm -rf "${work}"' EXIT
cp -r downstream "${work}/downstream"
sed -i "s#path = \"\.\./#path = \"${repo_root}/#g" "${work}/downstream/Cargo.toml"
(cd "${work}/downstream" && cargo test --target-dir "${repo_root}/target")

# DynamoDB Local's scratch files stay out of the consumer's tree.
if [ -e "${work}/downstream/dynamodb-local-metadata.json" ]; then
  echo "downstream: DynamoDB Local wrote dynamodb-local-metadata.json into the crate" >&2
  exit 1
fi
echo "downstream: passed"
