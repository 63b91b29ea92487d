#!/usr/bin/env bash
# Builds the deployed Lambda for the template's functions (provided.al2023, arm64) and checks
# that the result really is an arm64 binary, so a wrong architecture cannot reach a deploy
# unnoticed:
#   bash scripts/build-lambda.sh            # -> target/lambda/lambda/bootstrap (both functions)
# Needs cargo-lambda (`pip install cargo-lambda`) and the aarch64-unknown-linux-gnu target
# (`rustup target add aarch64-unknown-linux-gnu`). Only the package lambda/ is compiled: none
# of the workspace's test or bench dependencies.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo lambda build --release --arm64 -p thiscovery-crm-lambda "$@"

bootstrap="target/lambda/lambda/bootstrap"
[[ -f "${bootstrap}" ]] || { echo "build-lambda: ${bootstrap} was not produced" >&2; exit 1; }
# ELF header: e_machine (2 bytes at offset 18) is 0xB7 for AArch64, 0x3E for x86-64.
machine="$(od -An -tx1 -j18 -N2 "${bootstrap}" | tr -d ' \n')"
if [[ "${machine}" != "b700" ]]; then
    echo "build-lambda: ${bootstrap} is not an arm64 binary (e_machine ${machine}); template.yaml deploys it to arm64" >&2
    exit 1
fi
echo "build-lambda: ${bootstrap} (arm64, $(du -h "${bootstrap}" | cut -f1))"
