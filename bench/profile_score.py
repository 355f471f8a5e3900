"""Time ``Moderator.score`` on the benchmark corpus in one process, and profile where it goes.

The side-by-side run (``bench/run.py``) gives one figure per system; this script answers the
next question, *which step* of our pipeline the time goes to, on the same corpus and with the
same warm-up as the ``batch`` task of ``bench/worker.py``. Usage::

    python bench/profile_score.py                      # 20,000 rows, 3 timed runs
    python bench/profile_score.py --rows 2000 --profile --top 40
    python bench/profile_score.py --steps              # seconds per pipeline step
    python bench/profile_score.py --single 1000 [--profile]  # score_one, as worker.py times it

``--steps`` times the main steps of ``Moderator.score`` (hostility scores, off-topic,
explanations, spans, ...) by wrapping them; ``--profile`` prints a cProfile table by
cumulative time. ``--single N`` times ``score_one`` on the first N comments after 50
warm-up calls, each comment seen once (as ``bench/worker.py single`` does: new words cost
more than cached ones), decision only and then, in a fresh moderator, reading the
explanation too.
"""

from __future__ import annotations

import argparse
import cProfile
import csv
import functools
import io
import pstats
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).absolute().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import pandas as pd  # noqa: E402

from moderation import Moderator  # noqa: E402

DEFAULT_CORPUS = ROOT / "bench" / ".cache" / "corpus-v2-20000-s0.csv"
EXPORT_COLUMNS = ("comment_id", "thread_id", "parent_id", "author", "text")
WARMUP_ROWS = 200
#: score_one calls before timing starts (as bench/worker.py).
SINGLE_WARMUP = 50


def read_frame(path: Path, rows: int | None) -> pd.DataFrame:
    """The export columns of the corpus, as ``bench/worker.py`` passes them (all strings)."""
    with open(path, encoding="utf-8", newline="") as handle:
        records = [{c: row[c] for c in EXPORT_COLUMNS} for row in csv.DictReader(handle)]
    return pd.DataFrame(records[:rows] if rows else records)


#: ``(owner, attribute, name)`` of the steps ``--steps`` times; owners are resolved lazily.
STEPS: tuple[tuple[str, str, str], ...] = (
    ("moderation.moderator", "validate_comments", "validate"),
    ("moderation.moderator", "attach_context", "thread context"),
    ("moderation.model:HostilityModel", "predict", "hostility predict"),
    ("moderation.moderator:Moderator", "_off_topic", "off-topic scores"),
    ("moderation.moderator", "thread_dynamics", "thread dynamics"),
    ("moderation.moderator", "comment_signals", "comment signals"),
    ("moderation.moderator", "apply_rules", "rules"),
    ("moderation.moderator:Moderator", "_explain", "explain (total)"),
    ("moderation.model:HostilityModel", "top_terms_maps", "  top terms"),
    ("moderation.offtopic:OffTopicScorer", "explain", "  off-topic evidence"),
    ("moderation.moderator:Moderator", "_spans", "spans (total)"),
    ("moderation.model:HostilityModel", "span_maps_each", "  span maps"),
)


def instrument(totals: dict[str, float]) -> None:
    """Wrap every step of :data:`STEPS` so its wall time adds up in ``totals``.

    Wrapping replaces the attributes for the rest of the process: call it once, in a process
    that only measures.
    """
    import importlib

    for owner, attribute, name in STEPS:
        module_name, _, class_name = owner.partition(":")
        target: Any = importlib.import_module(module_name)
        if class_name:
            target = getattr(target, class_name)
        original: Callable[..., Any] | None = getattr(target, attribute, None)
        if original is None:  # an older checkout without this step
            continue

        def timed(
            *args: Any, _f: Callable[..., Any] = original, _n: str = name, **kwargs: Any
        ) -> Any:
            start = time.perf_counter()
            try:
                return _f(*args, **kwargs)
            finally:
                totals[_n] += time.perf_counter() - start

        functools.update_wrapper(timed, original)
        setattr(target, attribute, timed)


def single_calls(corpus: Path, n: int, profile: bool, top: int) -> int:
    """p50 / p99 of ``score_one`` decision only and with the explanation read (or a profile)."""
    texts = read_frame(corpus, n + SINGLE_WARMUP)["text"].tolist()
    for explained in (False, True):
        moderator = Moderator.load()  # fresh word caches: every comment is seen once
        for text in texts[:SINGLE_WARMUP]:
            moderator.score_one(text)
        profiler = cProfile.Profile() if profile else None
        latencies = []
        for text in texts[SINGLE_WARMUP:]:
            if profiler:
                profiler.enable()
            start = time.perf_counter_ns()
            one = moderator.score_one(text)
            _ = one.action, one.priority
            if explained:
                _ = one.reasons, one.terms, one.spans, one.word_spans
            latencies.append(time.perf_counter_ns() - start)
            if profiler:
                profiler.disable()
        latencies.sort()
        what = "explanation read" if explained else "decision only"
        p50, p99 = latencies[len(latencies) // 2], latencies[(len(latencies) * 99) // 100]
        print(f"score_one, {what}: p50 {p50 / 1000:,.1f} µs, p99 {p99 / 1000:,.1f} µs "
              f"({len(latencies)} calls{', under cProfile' if profiler else ''})")  # fmt: skip
        if profiler:
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(top)
            print(out.getvalue())
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--rows", type=int, default=None, help="first N rows (default: all)")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs")
    parser.add_argument("--profile", action="store_true", help="cProfile one run")
    parser.add_argument("--top", type=int, default=35, help="profile lines to print")
    parser.add_argument("--steps", action="store_true", help="seconds per pipeline step")
    parser.add_argument("--single", type=int, help="time score_one on the first N comments")
    args = parser.parse_args(argv)
    if args.single:
        return single_calls(args.corpus, args.single, args.profile, args.top)

    frame = read_frame(args.corpus, args.rows)
    moderator = Moderator.load()
    moderator.score(frame.iloc[:WARMUP_ROWS].reset_index(drop=True))
    totals: dict[str, float] = defaultdict(float)
    if args.steps:
        instrument(totals)
    if args.profile:
        profiler = cProfile.Profile()
        profiler.enable()
        start = time.perf_counter()
        scored = moderator.score(frame)
        seconds = time.perf_counter() - start
        profiler.disable()
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(args.top)
        print(out.getvalue())
        print(f"profiled run: {len(frame) / seconds:,.0f} comments/s (under cProfile)")
        return 0
    runs = []
    cpu = []
    for _ in range(args.repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        scored = moderator.score(frame)
        runs.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    best = min(runs)
    actions = scored["action"].value_counts().to_dict()
    print(
        f"{len(frame):,} comments: best {best:.2f} s = {len(frame) / best:,.0f} comments/s "
        f"(runs: {', '.join(f'{r:.2f}' for r in runs)}; CPU s: "
        f"{', '.join(f'{c:.2f}' for c in cpu)}); actions {actions}"
    )
    if args.steps:
        for _, _, name in STEPS:
            share = totals[name] / sum(runs)
            print(f"  {name:<22} {totals[name] / len(runs):7.3f} s/run  {share:6.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
