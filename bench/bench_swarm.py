"""Swarm benchmark: what the gateway adds to TTS's first byte with 1 and with 2 replicas.

Needs the stack on a swarm (`make swarm-up`). For each replica count, TTS is scaled to it and
the first audio byte is timed from inside the gateway's container, interleaved: through the
gateway, and straight to each replica. The gateway's added time is the difference of medians;
target: 2 replicas add at most 2 ms more than 1. The replica count is restored afterwards.
Prints a table and writes bench/results/swarm.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import time
from pathlib import Path

PROBE = Path(__file__).with_name("first_byte_probe.py")
TARGET_MS = 2.0


def docker(*args: str) -> str:
    return subprocess.run(["docker", *args], check=True, capture_output=True, text=True).stdout


def replica_addresses(stack: str, service: str) -> list[str]:
    addresses = []
    for task in docker("service", "ps", f"{stack}_{service}", "--filter", "desired-state=running", "--quiet").split():
        details = json.loads(docker("inspect", "--format", "{{json .NetworksAttachments}}", task))
        for attachment in details:
            if attachment["Network"]["Spec"]["Name"] == f"{stack}_speech":
                addresses.append(attachment["Addresses"][0].split("/")[0])
    return addresses


def measure(stack: str, runs: int) -> dict[str, float]:
    gateway = docker("ps", "--quiet", "--filter", f"label=com.docker.swarm.service.name={stack}_gateway").split()[0]
    targets = ["gateway=127.0.0.1:8000"]
    targets += [f"replica{index}={address}:8082" for index, address in enumerate(replica_addresses(stack, "tts"), 1)]
    command = ["docker", "exec", "-i", gateway, "python", "-", str(runs), *targets]
    output = subprocess.run(command, input=PROBE.read_text(), check=True, capture_output=True, text=True).stdout
    return json.loads(output)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stack", default="speech")
    parser.add_argument("--runs", type=int, default=40)
    args = parser.parse_args()
    service = f"{args.stack}_tts"
    original = json.loads(docker("service", "inspect", "--format", "{{json .Spec.Mode.Replicated.Replicas}}", service))
    rows = {}
    try:
        for replicas in (1, 2):
            docker("service", "scale", "--detach=false", f"{service}={replicas}")
            time.sleep(3)  # the gateway resolves the name again within a second
            medians = measure(args.stack, args.runs)
            replica_medians = [value for name, value in medians.items() if name.startswith("replica")]
            direct = sum(replica_medians) / len(replica_medians)  # the gateway spreads over all of them
            rows[replicas] = {
                "gateway_ms": medians["gateway"],
                "direct_ms": direct,
                "added_ms": medians["gateway"] - direct,
            }
            rows[replicas]["per_target_ms"] = medians
    finally:
        docker("service", "scale", "--detach=false", f"{service}={original}")
    print(f"TTS first byte, medians of {args.runs} interleaved runs from inside the gateway's container:")
    print(f"{'replicas':>8} {'gateway':>9} {'direct':>9} {'added':>8}")
    for replicas, row in rows.items():
        print(f"{replicas:>8} {row['gateway_ms']:>7.1f}ms {row['direct_ms']:>7.1f}ms {row['added_ms']:>6.1f}ms")
    extra = rows[2]["added_ms"] - rows[1]["added_ms"]
    verdict = "PASS" if extra <= TARGET_MS else "MISS"
    print(f"2 replicas add {extra:+.1f} ms over 1 (target <= +{TARGET_MS:.0f} ms): {verdict}")
    results = Path("bench/results")
    results.mkdir(parents=True, exist_ok=True)
    (results / "swarm.json").write_text(json.dumps({"rows": rows, "extra_ms": extra}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
