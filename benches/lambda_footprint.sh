#!/usr/bin/env bash
# B4 (the measurable part): the footprint of the deployed Lambda, examples/lambda.rs.
#
#   bash benches/lambda_footprint.sh            # build, then 5 runs
#   RUNS=9 bash benches/lambda_footprint.sh     # more runs
#   NO_BUILD=1 bash benches/lambda_footprint.sh # use the binary already in target/release
#
# Reports the release binary's size (as built, and stripped: a copy is stripped, the build is
# left alone), its init time (process start until its first
# `GET /2018-06-01/runtime/invocation/next` to a local Lambda Runtime API stub, which never
# answers it, so the process then idles) as the median of RUNS runs, and its peak RSS
# (/proc/<pid>/status VmHWM) while idle after init. Needs Linux (/proc), python3 and strip.
# Nothing outside the process is contacted during init: DynamoDB and HubSpot URLs point at a
# closed local port and are only used when an event arrives. The process gets only the
# variables below (the caller's SSL_CERT_* are not passed on):
#   FOOTPRINT_SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt bash benches/lambda_footprint.sh
# sets SSL_CERT_FILE for it, so TLS roots are read from that bundle alone.
#
# Then, under load: the same binary's peak RSS while one `process_notifications` invocation
# sweeps N pending notifications in DynamoDB Local (benches/lambda_sweep.rs, run through
# `cargo bench` with `--binary` set to the binary measured above). It needs DynamoDB Local
# (Java 17+): DYNAMODB_ENDPOINT or DYNAMODB_LOCAL_DIR if set, else
# scripts/install-dynamodb-local.sh is run.
#   SWEEP_NOTIFICATIONS=2500 SWEEP_RUNS=3 bash benches/lambda_footprint.sh  # default 10000, 1 run
#   NO_SWEEP=1 bash benches/lambda_footprint.sh                            # skip the sweep
#
# Optionally, last: the binary's peak RSS while one `cleanup` invocation deletes CLEANUP_ITEMS
# processed notifications created 10 days ago (20% of them transactional emails, which are
# kept), written straight into DynamoDB Local (lambda_sweep.rs `--cleanup`). Off unless
# CLEANUP_ITEMS is set; it needs DynamoDB Local as the sweep does, and runs with NO_SWEEP too.
#   CLEANUP_ITEMS=100000 bash benches/lambda_footprint.sh                   # CLEANUP_RUNS=1 default
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS="${RUNS:-5}"
if [[ -z "${NO_BUILD:-}" ]]; then
    echo "lambda_footprint: cargo build --release -p thiscovery-crm-lambda" >&2
    cargo build --release -p thiscovery-crm-lambda >&2
fi
target_dir="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
binary="${target_dir}/release/lambda"
[[ -x "${binary}" ]] || { echo "lambda_footprint: ${binary} not built" >&2; exit 1; }

python3 - "${binary}" "${RUNS}" <<'PY'
import http.server
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

binary, runs = sys.argv[1], int(sys.argv[2])

size = os.path.getsize(binary)
with tempfile.TemporaryDirectory() as tmp:
    stripped = os.path.join(tmp, "lambda")
    shutil.copy(binary, stripped)
    subprocess.run(["strip", stripped], check=True)
    stripped_size = os.path.getsize(stripped)

first_poll = threading.Event()
release = threading.Event()
poll_at = [0.0]


class Runtime(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        if self.path.startswith("/2018-06-01/runtime/invocation/next"):
            if not first_poll.is_set():
                poll_at[0] = time.monotonic()
                first_poll.set()
            # Hold the poll: the Lambda stays idle, as between invocations.
            release.wait(60)
        try:
            self.send_response(503)
            self.send_header("Content-Length", "0")
            self.end_headers()
        except OSError:
            pass

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Runtime)
server.daemon_threads = True
threading.Thread(target=server.serve_forever, daemon=True).start()
port = server.server_address[1]

env = {
    "PATH": os.environ.get("PATH", ""),
    "STACK_NAME": "footprint",
    "HUBSPOT_ACCESS_TOKEN": "footprint-token",
    "HUBSPOT_BASE_URL": "http://127.0.0.1:9",
    "THISCOVERY_CORE_URL": "http://127.0.0.1:9",
    "THISCOVERY_CORE_API_KEY": "footprint-key",
    "AWS_ENDPOINT_URL_DYNAMODB": "http://127.0.0.1:9",
    "AWS_REGION": "eu-west-1",
    "AWS_ACCESS_KEY_ID": "test",
    "AWS_SECRET_ACCESS_KEY": "test",
    "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{port}",
    "AWS_LAMBDA_FUNCTION_NAME": "thiscovery-crm",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
    "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
    "AWS_LAMBDA_LOG_STREAM_NAME": "footprint",
    "AWS_LAMBDA_LOG_GROUP_NAME": "footprint",
}
# Where TLS roots are read from (rustls-native-certs): by default neither SSL_CERT_FILE nor
# SSL_CERT_DIR is set, so the default bundle and every file of the certificate directory
# are read; FOOTPRINT_SSL_CERT_FILE sets SSL_CERT_FILE alone (the bundle only).
if os.environ.get("FOOTPRINT_SSL_CERT_FILE"):
    env["SSL_CERT_FILE"] = os.environ["FOOTPRINT_SSL_CERT_FILE"]


def status_kib(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return None


inits, hwms, rsss = [], [], []
for run in range(runs):
    first_poll.clear()
    release.clear()
    log = tempfile.TemporaryFile()
    started = time.monotonic()
    proc = subprocess.Popen([binary], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        if not first_poll.wait(30):
            proc.kill()
            log.seek(0)
            sys.exit(f"lambda_footprint: no runtime poll within 30 s; output:\n{log.read().decode(errors='replace')}")
        init = poll_at[0] - started
        time.sleep(0.5)  # idle after init
        if proc.poll() is not None:
            log.seek(0)
            sys.exit(f"lambda_footprint: the process exited; output:\n{log.read().decode(errors='replace')}")
        hwm, rss = status_kib(proc.pid, "VmHWM"), status_kib(proc.pid, "VmRSS")
    finally:
        proc.kill()
        proc.wait()
        release.set()
    inits.append(init)
    hwms.append(hwm)
    rsss.append(rss)
    print(f"lambda_footprint: run {run + 1}: init {init * 1000:.1f} ms, VmHWM {hwm / 1024:.1f} MiB, VmRSS {rss / 1024:.1f} MiB", file=sys.stderr)

server.shutdown()
mib = 1024 * 1024
print()
print("| measure | value |")
print("|---|---:|")
print(f"| binary size (release, as built) | {size / mib:.1f} MiB |")
print(f"| binary size (stripped copy) | {stripped_size / mib:.1f} MiB |")
print(f"| init: start to first runtime poll, median of {runs} (min / max) | {statistics.median(inits) * 1000:.1f} ms ({min(inits) * 1000:.1f} / {max(inits) * 1000:.1f}) |")
print(f"| peak RSS (VmHWM) idle after init, median of {runs} (max) | {statistics.median(hwms) / 1024:.1f} MiB ({max(hwms) / 1024:.1f}) |")
PY

if [[ -z "${NO_SWEEP:-}" || -n "${CLEANUP_ITEMS:-}" ]]; then
    if [[ -z "${DYNAMODB_ENDPOINT:-}" && -z "${DYNAMODB_LOCAL_DIR:-}" ]]; then
        DYNAMODB_LOCAL_DIR="$(scripts/install-dynamodb-local.sh)"
        export DYNAMODB_LOCAL_DIR
    fi
fi

if [[ -z "${NO_SWEEP:-}" ]]; then
    echo "lambda_footprint: cargo bench -p thiscovery-crm-stack --bench lambda_sweep" >&2
    cargo bench -p thiscovery-crm-stack --bench lambda_sweep -- \
        --binary "${binary}" \
        --notifications "${SWEEP_NOTIFICATIONS:-10000}" \
        --runs "${SWEEP_RUNS:-1}"
fi

if [[ -n "${CLEANUP_ITEMS:-}" ]]; then
    echo "lambda_footprint: cargo bench -p thiscovery-crm-stack --bench lambda_sweep -- --cleanup ${CLEANUP_ITEMS}" >&2
    cargo bench -p thiscovery-crm-stack --bench lambda_sweep -- \
        --binary "${binary}" \
        --cleanup "${CLEANUP_ITEMS}" \
        --runs "${CLEANUP_RUNS:-1}"
fi
