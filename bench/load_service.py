"""Loopback load test of `moderation serve`: throughput and latency, single and batch requests.

Starts the service in a subprocess on a free 127.0.0.1 port (or uses ``--url`` if it is a
loopback URL), sends a bounded number of requests from a few client threads, and stops by
itself: every scenario ends after ``--requests`` requests or ``--seconds`` seconds, whichever
comes first. Nothing is sent anywhere but the loopback interface. Any 5xx answer is counted and
makes the exit status 1.

Scenarios:

- ``single``: ``POST /v1alpha1/comments:analyze``, one comment, TOXICITY and INSULT (what a
  Perspective client sends per comment);
- ``batch``: ``POST /v1/score`` with ``--batch-size`` comments of several threads;
- ``thread``: ``POST /v1/thread``, one thread of ``--batch-size`` replies with its article.

Usage::

    python bench/load_service.py                        # all scenarios, prints a Markdown table
    python bench/load_service.py --scenario single --requests 500 --concurrency 4 --json out.json
"""

from __future__ import annotations

import argparse
import http.client
import ipaddress
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any

#: Sentences written for this benchmark: civil, off-topic and hostile, mixed by index.
SENTENCES = (
    "The council should publish the full budget before the vote.",
    "I disagree: the bus timetable change hurts people who work late shifts.",
    "You are an idiot if you believe this nonsense.",
    "Does anyone know when the new bridge opens to cyclists?",
    "Shut up, nobody asked for your stupid opinion.",
    "My sourdough finally rose after I switched to rye flour.",
    "Thanks for the clear write-up, the chart on page two helped a lot.",
    "People like you should be banned from commenting, moron.",
)
ARTICLE = {
    "title": "Council approves new bus timetable",
    "body": "The city council approved a new bus timetable with fewer late-night services "
    "and a new route to the hospital. Critics say shift workers will lose out.",
}


def comment_text(i: int) -> str:
    """A distinct comment for request ``i`` (distinct texts defeat any caching)."""
    return f"{SENTENCES[i % len(SENTENCES)]} (#{i})"


def single_body(i: int, size: int) -> dict[str, Any]:
    return {
        "comment": {"text": comment_text(i)},
        "requestedAttributes": {"TOXICITY": {}, "INSULT": {}},
        "doNotStore": True,
    }


def batch_body(i: int, size: int) -> dict[str, Any]:
    comments = []
    for k in range(size):
        thread = f"t{i}-{k // 10}"
        parent = f"c{i}-{k - 1}" if k % 10 else ""
        comments.append(
            {
                "comment_id": f"c{i}-{k}",
                "thread_id": thread,
                "parent_id": parent,
                "author": f"user{k % 4}",
                "text": comment_text(i * size + k),
            }
        )
    threads = sorted({c["thread_id"] for c in comments})
    return {
        "comments": comments,
        "articles": [{"thread_id": t, **ARTICLE} for t in threads],
        "doNotStore": True,
    }


def thread_body(i: int, size: int) -> dict[str, Any]:
    comments = [
        {
            "comment_id": f"c{k}",
            "parent_id": f"c{k - 1}" if k % 5 else "",
            "author": f"user{k % 3}",
            "text": comment_text(i * size + k),
        }
        for k in range(size)
    ]
    return {
        "thread_id": f"thread-{i}",
        "article": ARTICLE,
        "comments": comments,
        "doNotStore": True,
    }


SCENARIOS: dict[str, tuple[str, Callable[[int, int], dict[str, Any]], bool]] = {
    # name: (path, body builder, whether a request carries --batch-size comments)
    "single": ("/v1alpha1/comments:analyze", single_body, False),
    "batch": ("/v1/score", batch_body, True),
    "thread": ("/v1/thread", thread_body, True),
}


@dataclass
class Result:
    """What one scenario measured."""

    scenario: str
    requests: int
    comments_per_request: int
    concurrency: int
    seconds: float
    requests_per_second: float
    comments_per_second: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    client_errors: int
    server_errors: int


def check_loopback(url: str) -> tuple[str, int]:
    """Host and port of ``url``; refuses anything but the loopback interface."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if parts.scheme != "http" or not loopback or parts.port is None:
        raise SystemExit(f"--url must be http://127.0.0.1:PORT (loopback only), got {url!r}")
    return host, parts.port


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def served(start_timeout: float, workers: int = 1) -> Iterator[str]:
    """Run ``moderation serve`` on a free loopback port for the duration of the block."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODERATION_")}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "moderation",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + start_timeout
        while True:
            if process.poll() is not None:
                error = process.stderr.read().decode() if process.stderr else ""
                raise SystemExit(f"moderation serve exited with {process.returncode}:\n{error}")
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                connection.request("GET", "/healthz")
                if connection.getresponse().status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"moderation serve did not answer within {start_timeout:.0f} s")
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def run_scenario(
    url: str, name: str, *, requests: int, seconds: float, concurrency: int, batch_size: int
) -> Result:
    """Send up to ``requests`` requests (at most ``seconds``) from ``concurrency`` threads."""
    host, port = check_loopback(url)
    path, build, batched = SCENARIOS[name]
    size = batch_size if batched else 1
    bodies = [json.dumps(build(i, size)).encode("utf-8") for i in range(requests)]
    counter = iter(range(requests))
    lock = threading.Lock()
    latencies: list[float] = []
    client_errors = server_errors = 0
    stop_at = time.monotonic() + seconds

    def worker() -> None:
        nonlocal client_errors, server_errors
        connection = http.client.HTTPConnection(host, port, timeout=120)
        try:
            while time.monotonic() < stop_at:
                with lock:
                    i = next(counter, None)
                if i is None:
                    return
                began = time.perf_counter()
                connection.request(
                    "POST", path, body=bodies[i], headers={"Content-Type": "application/json"}
                )
                response = connection.getresponse()
                response.read()
                elapsed = time.perf_counter() - began
                with lock:
                    latencies.append(elapsed)
                    if response.status >= 500:
                        server_errors += 1
                    elif response.status >= 400:
                        client_errors += 1
        finally:
            connection.close()

    # Warm up (first-request costs are not what a running service pays).
    warm = http.client.HTTPConnection(host, port, timeout=120)
    warm.request("POST", path, body=bodies[0], headers={"Content-Type": "application/json"})
    warm.getresponse().read()
    warm.close()

    began = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        for future in [pool.submit(worker) for _ in range(concurrency)]:
            future.result()
    wall = time.perf_counter() - began
    done = len(latencies)
    ordered = sorted(latencies) or [0.0]
    p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
    return Result(
        scenario=name,
        requests=done,
        comments_per_request=size,
        concurrency=concurrency,
        seconds=round(wall, 2),
        requests_per_second=round(done / wall, 1),
        comments_per_second=round(done * size / wall, 1),
        p50_ms=round(statistics.median(ordered) * 1000, 1),
        p99_ms=round(p99 * 1000, 1),
        max_ms=round(ordered[-1] * 1000, 1),
        client_errors=client_errors,
        server_errors=server_errors,
    )


def table(results: list[Result]) -> str:
    """The results as a Markdown table."""
    lines = [
        "| scenario | comments/request | concurrency | requests | req/s | comments/s "
        "| p50 ms | p99 ms | 4xx | 5xx |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r.scenario} | {r.comments_per_request} | {r.concurrency} | {r.requests} "
            f"| {r.requests_per_second} | {r.comments_per_second} | {r.p50_ms} | {r.p99_ms} "
            f"| {r.client_errors} | {r.server_errors} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="A running service on loopback (default: start one).")
    parser.add_argument(
        "--scenario", choices=[*SCENARIOS, "all"], default="all", help="What to send."
    )
    parser.add_argument("--requests", type=int, default=300, help="Requests per scenario (max).")
    parser.add_argument("--seconds", type=float, default=60.0, help="Time per scenario (max).")
    parser.add_argument("--concurrency", type=int, default=4, help="Client threads.")
    parser.add_argument("--batch-size", type=int, default=100, help="Comments per batch request.")
    parser.add_argument(
        "--batch-requests", type=int, default=30, help="Requests per batch/thread scenario (max)."
    )
    parser.add_argument(
        "--workers", type=int, default=1, help="Server processes of the service it starts."
    )
    parser.add_argument("--json", help="Also write the results to this JSON file.")
    args = parser.parse_args(argv)
    if min(args.requests, args.batch_requests, args.concurrency, args.batch_size, args.workers) < 1:
        parser.error(
            "--requests, --batch-requests, --concurrency, --batch-size and --workers must be >= 1"
        )
    names = list(SCENARIOS) if args.scenario == "all" else [args.scenario]

    def measure(url: str) -> list[Result]:
        return [
            run_scenario(
                url,
                name,
                requests=args.batch_requests if SCENARIOS[name][2] else args.requests,
                seconds=args.seconds,
                concurrency=args.concurrency,
                batch_size=args.batch_size,
            )
            for name in names
        ]

    if args.url:
        check_loopback(args.url)
        results = measure(args.url)
    else:
        with served(start_timeout=120, workers=args.workers) as url:
            results = measure(url)
    print(table(results))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump([asdict(r) for r in results], handle, indent=2)
    return 1 if any(r.server_errors for r in results) else 0


if __name__ == "__main__":
    raise SystemExit(main())
