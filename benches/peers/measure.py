"""B2 measurement: CPU and peak RSS of each peer client against the standalone fake HubSpot.

Started by run.sh (which builds and installs everything first); usable on its own:

    python3 measure.py --fake target/release/fake-hubspot --calls 2000 --rounds 5 \
        --peer hubspot-client=target/release/examples/peer_hubspot_client ...

For every round and every peer, in an order shuffled per round, it runs the peer twice: with
PEER_CALLS=N and with PEER_CALLS=0 (start-up only), each against a freshly reset fake. The
peer's CPU (user+sys) comes from the kernel's rusage of that child process (os.wait4), so the
fake's own work is never counted; its peak RSS is the VmHWM the peer reads from
/proc/self/status just before it exits (ru_maxrss would also count this script's memory,
which a forked child holds until it execs). After each run it checks the fake's
state (N contacts, N sent emails) so a peer that silently did less cannot look fast.

Per-call CPU = (CPU at N - CPU at 0) / (2 N): each peer makes N upserts and N single-sends.
Medians over the rounds are reported, and each peer's ratio to hubspot-client.
"""

import argparse
import json
import os
import random
import shlex
import statistics
import subprocess
import sys
import time
import urllib.request


def start_fake(path):
    proc = subprocess.Popen(
        [path, "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    url = token = None
    for line in proc.stdout:
        if line.startswith("fake-hubspot listening on "):
            url = line.split()[-1]
        elif line.startswith("static token:"):
            token = line.split()[-1]
        if url and token:
            break
    if not (url and token):
        proc.kill()
        sys.exit("measure: the fake did not print its URL and static token")
    return proc, url.rstrip("/"), token


def admin(url, method, path):
    req = urllib.request.Request(f"{url}/__fake/{path}", method=method)
    with urllib.request.urlopen(req, timeout=30) as resp:
        body = resp.read()
    return json.loads(body) if body else None


def run_peer(cmd, env, timeout):
    start = time.monotonic()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = start + timeout
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() > deadline:
            proc.kill()
            sys.exit(f"measure: {shlex.join(cmd)} took longer than {timeout}s")
        time.sleep(0.005)
    wall = time.monotonic() - start
    out = proc.stdout.read().decode(errors="replace")
    err = proc.stderr.read().decode(errors="replace")
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        sys.exit(f"measure: {shlex.join(cmd)} exited {code}\n{out}{err}")
    # Peak RSS as the peer reports it (VmHWM of its own image). The kernel's ru_maxrss is no
    # use here: it also counts this Python process, whose memory the child had before exec.
    peak = [line.split()[1] for line in out.splitlines() if line.startswith("peak_rss_kib ")]
    if not peak or int(peak[0]) <= 0:
        sys.exit(f"measure: {shlex.join(cmd)} did not report its peak RSS\n{out}{err}")
    return {
        "cpu": usage.ru_utime + usage.ru_stime,
        "rss_mib": int(peak[0]) / 1024.0,
        "wall": wall,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--fake", required=True, help="path to the fake-hubspot binary")
    ap.add_argument("--calls", type=int, default=2000, help="N: upserts, and again single-sends")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--timeout", type=float, default=600.0, help="seconds per peer run")
    ap.add_argument("--json", help="also write every sample to this file")
    ap.add_argument(
        "--peer",
        action="append",
        required=True,
        metavar="NAME=COMMAND",
        help="a peer: its name and the command that runs it (repeatable)",
    )
    args = ap.parse_args()
    peers = []
    for spec in args.peer:
        name, _, cmd = spec.partition("=")
        if not cmd:
            sys.exit(f"measure: --peer {spec!r} must be NAME=COMMAND")
        peers.append((name, shlex.split(cmd)))

    fake, url, token = start_fake(args.fake)
    samples = {name: {"n": [], "zero": []} for name, _ in peers}
    try:
        for rnd in range(args.rounds):
            order = peers[:]
            random.shuffle(order)
            for name, cmd in order:
                for calls, key in ((args.calls, "n"), (0, "zero")):
                    admin(url, "POST", "reset")
                    env = dict(
                        os.environ,
                        HUBSPOT_BASE_URL=url,
                        HUBSPOT_TOKEN=token,
                        PEER_CALLS=str(calls),
                    )
                    s = run_peer(cmd, env, args.timeout)
                    contacts = len(admin(url, "GET", "contacts"))
                    emails = len(admin(url, "GET", "emails"))
                    if contacts != calls or emails != calls:
                        sys.exit(
                            f"measure: {name} with N={calls} left {contacts} contacts and "
                            f"{emails} emails in the fake (expected {calls} of each)"
                        )
                    samples[name][key].append(s)
                    print(
                        f"round {rnd + 1}/{args.rounds} {name:<16} N={calls:<5} "
                        f"cpu {s['cpu']:.3f}s rss {s['rss_mib']:.1f} MiB wall {s['wall']:.2f}s",
                        file=sys.stderr,
                    )
    finally:
        fake.kill()
        fake.wait()

    if args.json:
        with open(args.json, "w") as f:
            json.dump({"calls": args.calls, "rounds": args.rounds, "samples": samples}, f, indent=1)

    calls_total = 2 * args.calls
    rows = []
    for name, _ in peers:
        s = samples[name]
        per_round = [
            (n["cpu"] - z["cpu"]) / calls_total * 1e6 for n, z in zip(s["n"], s["zero"])
        ]
        rows.append(
            {
                "name": name,
                "per_call_us": statistics.median(per_round),
                "per_call_min": min(per_round),
                "per_call_max": max(per_round),
                "startup_ms": statistics.median(z["cpu"] for z in s["zero"]) * 1e3,
                "cpu_n": statistics.median(n["cpu"] for n in s["n"]),
                "rss_n": statistics.median(n["rss_mib"] for n in s["n"]),
                "rss_zero": statistics.median(z["rss_mib"] for z in s["zero"]),
                "wall_n": statistics.median(n["wall"] for n in s["n"]),
            }
        )
    base = next((r for r in rows if r["name"] == "hubspot-client"), rows[0])
    print(
        f"\nB2: {args.calls} upserts + {args.calls} single-sends per run, "
        f"medians of {args.rounds} rounds\n"
    )
    print(
        "| client | CPU per call µs (min–max) | x hubspot-client | start-up CPU ms "
        "| CPU at N s | peak RSS at N MiB | x hubspot-client | RSS at 0 MiB | wall at N s |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['name']} | {r['per_call_us']:.1f} ({r['per_call_min']:.1f}–{r['per_call_max']:.1f}) "
            f"| {r['per_call_us'] / base['per_call_us']:.2f} | {r['startup_ms']:.0f} "
            f"| {r['cpu_n']:.2f} | {r['rss_n']:.1f} | {r['rss_n'] / base['rss_n']:.2f} "
            f"| {r['rss_zero']:.1f} | {r['wall_n']:.2f} |"
        )


if __name__ == "__main__":
    main()
