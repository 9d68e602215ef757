"""How many 500-recipient multicasts a second one sandbox process absorbs, and its memory.

Usage: python bench/sandbox_throughput.py [--recipients 1000000] [--rate 200] [--delay-ms 20]
       [--concurrency 64] [--client-rate 195]

The sandbox runs as its own process (as in the delivery benchmark); the client sends
pre-serialised bodies with aiohttp so the client is not what is measured.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid

import aiohttp
import psutil

from broadcaster.pacing import AsyncTokenBucket
from broadcaster.sandbox import SandboxConfig
from broadcaster.sandbox.testing import SandboxProcess


async def blast(
    url: str, requests: int, concurrency: int, client_rate: float | None
) -> dict[int, int]:
    statuses: dict[int, int] = {}
    counter = iter(range(requests))
    headers = {"authorization": "Bearer sandbox-token", "content-type": "application/json"}
    connector = aiohttp.TCPConnector(limit=concurrency)
    pacer = AsyncTokenBucket(client_rate, max(1.0, client_rate / 10)) if client_rate else None
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            for n in counter:
                to = [f"U{n * 500 + i:032x}" for i in range(500)]
                body = json.dumps({"to": to, "customAggregationUnits": ["b1"],
                                   "messages": [{"type": "text", "text": "避難指示が出ました"}]})
                key = {"x-line-retry-key": str(uuid.uuid4())}
                if pacer is not None:
                    await pacer.acquire()
                async with session.post(f"{url}/v2/bot/message/multicast", data=body,
                                        headers={**headers, **key}) as response:
                    await response.read()
                    statuses[response.status] = statuses.get(response.status, 0) + 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return statuses


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--recipients", type=int, default=1_000_000)
    parser.add_argument("--rate", type=float, default=100_000.0, help="sandbox multicast rate")
    parser.add_argument("--delay-ms", type=int, default=0)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--client-rate", type=float, default=None,
                        help="pace the client with AsyncTokenBucket at this many requests/s")
    args = parser.parse_args()
    requests = -(-args.recipients // 500)
    config = SandboxConfig(rate_limits={"multicast": args.rate}, delay_ms=args.delay_ms)
    with SandboxProcess(config) as sandbox:
        assert sandbox.pid is not None
        process = psutil.Process(sandbox.pid)
        rss_before = process.memory_info().rss
        cpu_before = process.cpu_times()
        start = time.monotonic()
        statuses = asyncio.run(blast(sandbox.url, requests, args.concurrency, args.client_rate))
        elapsed = time.monotonic() - start
        cpu_after = process.cpu_times()
        totals = sandbox.totals()
        rss_after = process.memory_info().rss
    cpu = (cpu_after.user + cpu_after.system) - (cpu_before.user + cpu_before.system)
    print(json.dumps({
        "requests": requests,
        "statuses": statuses,
        "elapsed_s": round(elapsed, 2),
        "requests_per_s": round(requests / elapsed, 1),
        "sandbox_cpu_s": round(cpu, 2),
        "sandbox_cpu_ms_per_request": round(1000 * cpu / requests, 2),
        "recipients_served": totals["recipients_served"],
        "distinct_users": totals["distinct_users"],
        "sandbox_rss_mb_before": round(rss_before / 2**20, 1),
        "sandbox_rss_mb_after": round(rss_after / 2**20, 1),
    }, indent=2))


if __name__ == "__main__":
    main()
