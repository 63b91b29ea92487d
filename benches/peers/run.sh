#!/usr/bin/env bash
# B2: client overhead of hubspot-client against a raw reqwest floor and HubSpot's official
# Python and Node SDKs. See benches/peers/README.md for what it measures and how to read it.
#
#   bash benches/peers/run.sh                 # N=2000, 5 rounds
#   PEER_CALLS_N=500 PEER_ROUNDS=3 bash benches/peers/run.sh
#   bash benches/peers/run.sh --json /tmp/b2.json    # extra arguments go to measure.py
#
# Builds the fake and the Rust peers in release mode, installs the SDKs into $PEERS_DIR
# (default target/peers: outside the tracked tree, removed by `cargo clean`), then measures.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
calls=${PEER_CALLS_N:-2000}
rounds=${PEER_ROUNDS:-5}
target=${CARGO_TARGET_DIR:-$root/target}
tools=${PEERS_DIR:-$target/peers}
mkdir -p "$tools"

echo "== building the fake and the Rust peers (release)" >&2
cargo build --release --quiet -p crm-testkit --bin fake-hubspot
cargo build --release --quiet -p thiscovery-crm-stack \
  --example peer_hubspot_client --example peer_raw

echo "== installing hubspot-api-client (PyPI) into $tools/venv" >&2
if [ ! -x "$tools/venv/bin/python" ]; then
  python3 -m venv "$tools/venv"
fi
"$tools/venv/bin/pip" install --quiet --disable-pip-version-check \
  -r benches/peers/python/requirements.txt

echo "== installing @hubspot/api-client (npm) into $tools/node" >&2
mkdir -p "$tools/node"
cp benches/peers/node/package.json benches/peers/node/peer.mjs "$tools/node/"
(cd "$tools/node" && npm install --silent --no-audit --no-fund >/dev/null)

python3 benches/peers/measure.py \
  --fake "$target/release/fake-hubspot" \
  --calls "$calls" --rounds "$rounds" \
  --peer "hubspot-client=$target/release/examples/peer_hubspot_client" \
  --peer "raw-reqwest=$target/release/examples/peer_raw" \
  --peer "python-sdk=$tools/venv/bin/python $root/benches/peers/python/peer.py" \
  --peer "node-sdk=node $tools/node/peer.mjs" \
  "$@"
