"""Ray: 1,000 prompts through ``neureus.ray.ChatMany`` on a local Ray cluster.

Run it with ``python examples/ray_chat_many.py`` after ``pip install "neureus[ray]"``.
With NEUREUS_API_KEY set it talks to the real gateway; without, to the built-in emulator
served on 127.0.0.1 (Ray's workers are other processes, so they need a real socket).
On a real cluster, ``ray.init(address="auto")`` instead, and the same code scales out.
"""

from __future__ import annotations

import os
from typing import Any

ROWS = 1000


def run(*, base_url: str | None, api_key: str | None, rows: int = ROWS, workers: int = 2) -> list[dict[str, Any]]:
    """Chat over ``rows`` prompts with ``workers`` Ray workers; every output row."""
    import ray

    from neureus.ray import ChatMany

    dataset = ray.data.from_items([{"prompt": f"Give item {i} a five-word name."} for i in range(rows)])
    answered = ChatMany.map(
        dataset,
        workers=workers,  # one client per worker, built once
        batch_size=100,
        concurrency=16,  # calls in flight per worker
        requests_per_minute=120_000,  # for all workers together: each gets its share
        api_key=api_key,  # None: each worker reads NEUREUS_API_KEY where it runs
        base_url=base_url,
        model="meta-llm",
    )
    return answered.take_all()


def main() -> None:
    try:
        import ray
    except ImportError:
        print('Ray is not installed: pip install "neureus[ray]" to run this example.')
        return
    server = None
    if os.environ.get("NEUREUS_API_KEY"):
        print("Using the real Neureus gateway.")
        base_url = api_key = None
    else:
        from neureus.testing import EmulatorServer, FakeGateway

        server = EmulatorServer(FakeGateway()).start()
        print(f"NEUREUS_API_KEY is not set: using the built-in offline emulator on {server.base_url}.")
        base_url, api_key = server.base_url, "nru_local_0123456789"
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, _node_ip_address="127.0.0.1")
    try:
        rows = run(base_url=base_url, api_key=api_key)
    finally:
        ray.shutdown()
        if server is not None:
            server.stop()
    failed = [row for row in rows if row["error"] is not None]
    print(f"{len(rows)} rows, {len(failed)} failed")
    tokens_in = sum(row["input_tokens"] or 0 for row in rows)
    tokens_out = sum(row["output_tokens"] or 0 for row in rows)
    print(f"tokens: {tokens_in} in, {tokens_out} out")
    print(f"cost: ${sum(row['cost_usd'] or 0 for row in rows):.4f}")
    print(f"first: {rows[0]['prompt']!r} -> {rows[0]['text']!r}")


if __name__ == "__main__":
    main()
