"""Time TTS's first audio byte at several addresses, interleaved: standard library only.

bench_swarm.py runs it inside the gateway's container (`docker exec -i ... python -`), where the
gateway (127.0.0.1:8000) and every replica (by its address on the stack's network) are reached
over the same network, so the difference between them is what the gateway adds.

    python first_byte_probe.py RUNS NAME=HOST:PORT [NAME=HOST:PORT ...]   # prints JSON: medians in ms
"""

from __future__ import annotations

import http.client
import json
import statistics
import sys
import time

BODY = json.dumps({"text": "Hello world, this is a streaming TTS test."}).encode()


def first_byte_ms(host: str, port: int) -> float:
    connection = http.client.HTTPConnection(host, port, timeout=60)
    started = time.perf_counter()
    connection.request("POST", "/api/tts", body=BODY, headers={"Content-Type": "application/json"})
    response = connection.getresponse()
    response.read(1)
    elapsed = (time.perf_counter() - started) * 1000
    response.read()
    connection.close()
    if response.status != 200:
        raise SystemExit(f"{host}:{port} answered {response.status}")
    return elapsed


def main(argv: list[str]) -> int:
    runs, targets = int(argv[0]), dict(target.split("=", 1) for target in argv[1:])
    times: dict[str, list[float]] = {name: [] for name in targets}
    for _ in range(runs):
        for name, address in targets.items():
            host, port = address.rsplit(":", 1)
            times[name].append(first_byte_ms(host, int(port)))
            time.sleep(0.1)  # let the replica's threads settle between requests
    print(json.dumps({name: statistics.median(values) for name, values in times.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
