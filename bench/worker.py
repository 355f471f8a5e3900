"""One measurement of one system, run by ``bench/run.py`` in that system's own interpreter.

This file runs inside each peer's virtual environment, so it imports only the standard library
at top level and the system under test inside its adapter (the peers' environments have
neither pandas nor this package). Usage::

    python worker.py SYSTEM TASK CORPUS_CSV OUT_JSON [--single N] [--single-seconds S]

TASK is ``cold`` (import, load, score one comment, print ``READY``: the parent times process
start to that line), ``batch`` (score every comment in one call after a warm-up; seconds and
the scores for ROC-AUC), ``single`` (one call per comment on N comments after a warm-up;
the latency of each call in nanoseconds; a slow system stops after S seconds) or
``explained`` (``single`` reading each result's explanation too: only for a system that
explains, see :data:`EXPLAINS`).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

Rows = list[dict[str, str]]
#: Facts a system reports about its last batch beside the scores (ours: the action mix).
EXTRA: dict[str, Any] = {}
BatchFn = Callable[[Rows], list[float]]
OneFn = Callable[[str], float]
#: Systems whose single call can also explain its score (ours: reasons quoting words, terms,
#: sentence and word spans, computed on first access). Their ``explained`` call reads it all.
EXPLAINS: dict[str, OneFn] = {}

#: Calls made before timing starts (caches, lazy imports, first-call allocation).
WARMUP_CALLS = 50
WARMUP_ROWS = 200
#: Fewest single calls timed, so the 99th percentile rests on a few calls, not one.
MIN_SINGLE = 200


def load_altprof() -> tuple[BatchFn, OneFn]:
    """alt-profanity-check: one binary "offensive" probability per text."""
    from profanity_check import predict_prob  # type: ignore[import-not-found]

    def batch(rows: Rows) -> list[float]:
        return [float(p) for p in predict_prob([r["text"] for r in rows])]

    def one(text: str) -> float:
        return float(predict_prob([text])[0])

    return batch, one


def load_hatesonar() -> tuple[BatchFn, OneFn]:
    """hatesonar: hate / offensive / neither; toxic = 1 - P(neither).

    It has no batch API: ``Sonar.ping`` takes one text. Feeding its ONNX session an array
    of texts was measured slower per comment than one call per text (2.3k/s for 2,000 texts
    in one array against 4.2k/s one by one), so batch is its fastest form: a loop of calls.
    """
    from hatesonar import Sonar  # type: ignore[import-not-found]

    sonar = Sonar()

    def one(text: str) -> float:
        result = sonar.ping(text=text)
        return 1.0 - float(result["classes"][2]["confidence"])

    def batch(rows: Rows) -> list[float]:
        return [one(r["text"]) for r in rows]

    return batch, one


def load_ours() -> tuple[BatchFn, OneFn]:
    """Ours: the full default model and rules through ``Moderator.score`` / ``score_one``.

    pandas is imported by the batch task only: a comment system calling ``score_one`` never
    imports it, so the cold start must not pay for the harness's own frame building.
    """
    from moderation import Moderator

    moderator = Moderator.load()

    def batch(rows: Rows) -> list[float]:
        import pandas as pd

        frame = pd.DataFrame(rows)
        scored = moderator.score(frame)
        # Escalated rows cost more (reasons quote words and spans): the mix goes in the report.
        EXTRA["actions"] = {str(k): int(v) for k, v in scored["action"].value_counts().items()}
        return [float(v) for v in scored["toxicity"]]

    def one(text: str) -> float:
        # Decision only: scores and action, as a comment system deciding what to publish.
        scored = moderator.score_one(text)
        _ = scored.action, scored.priority
        return float(scored.scores["toxicity"])

    def explained(text: str) -> float:
        # The explanation too (computed on first access): what a moderation UI shows.
        scored = moderator.score_one(text)
        _ = scored.action, scored.priority, scored.reasons, scored.terms
        _ = scored.spans, scored.word_spans
        return float(scored.scores["toxicity"])

    EXPLAINS["ours"] = explained
    return batch, one


SYSTEMS: dict[str, Callable[[], tuple[BatchFn, OneFn]]] = {
    "alt-profanity-check": load_altprof,
    "hatesonar": load_hatesonar,
    "ours": load_ours,
}
EXPORT_COLUMNS = ("comment_id", "thread_id", "parent_id", "author", "text")


def read_rows(path: str) -> Rows:
    """The corpus rows, export columns only (labels stay with the parent)."""
    with open(path, encoding="utf-8", newline="") as handle:
        return [{c: row[c] for c in EXPORT_COLUMNS} for row in csv.DictReader(handle)]


def peak_memory_mb() -> float:
    """This process's peak resident size (VmHWM: reset at exec, unlike ``ru_maxrss``)."""
    with open("/proc/self/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("system", choices=sorted(SYSTEMS))
    parser.add_argument("task", choices=("cold", "batch", "single", "explained"))
    parser.add_argument("corpus")
    parser.add_argument("out")
    parser.add_argument("--single", type=int, default=1000, help="comments timed one by one")
    parser.add_argument(
        "--single-seconds",
        type=float,
        default=60.0,
        help="stop the single calls after this long (at least MIN_SINGLE calls are made)",
    )
    args = parser.parse_args(argv)

    if args.task == "cold":
        # Timed by the parent from process start: import and load belong to the measure.
        batch, one = SYSTEMS[args.system]()
        one("Thanks for the article, I learned something today.")
        print("READY", flush=True)
        return 0

    rows = read_rows(args.corpus)
    batch, one = SYSTEMS[args.system]()
    result: dict[str, Any] = {"system": args.system, "task": args.task}
    if args.task == "batch":
        batch(rows[:WARMUP_ROWS])
        start = time.perf_counter()
        scores = batch(rows)
        result["seconds"] = time.perf_counter() - start
        result["n"] = len(rows)
        result["scores"] = scores
        result.update(EXTRA)
    else:
        if args.task == "explained":
            if args.system not in EXPLAINS:
                parser.error(f"{args.system} gives no explanation to time")
            one = EXPLAINS[args.system]
        texts = [r["text"] for r in rows[: args.single]]
        for text in texts[:WARMUP_CALLS]:
            one(text)
        latencies = []
        budget_ns = args.single_seconds * 1e9
        for text in texts:
            start_ns = time.perf_counter_ns()
            one(text)
            latencies.append(time.perf_counter_ns() - start_ns)
            if len(latencies) >= MIN_SINGLE and sum(latencies) > budget_ns:
                break  # a slow system still gets enough calls for a p99
        result["latencies_ns"] = latencies
    result["vmhwm_mb"] = peak_memory_mb()
    with open(args.out, "w", encoding="utf-8") as handle:
        json.dump(result, handle)
    return 0


if __name__ == "__main__":
    sys.exit(main())
