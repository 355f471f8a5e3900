"""Turn raw benchmark measurements into medians, ratios, target verdicts and a Markdown page.

Pure functions over the results JSON written by ``bench/run.py``, so the page can be
re-rendered without re-running anything::

    python bench/report.py bench/results/latest.json --scaling bench/results/scaling.json \\
        -o docs/benchmarks.md
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: Hand-written reading of the latest figures, appended to the generated page.
ANALYSIS = Path(__file__).with_name("ANALYSIS.md")

OURS = "ours"
ALTPROF = "alt-profanity-check"
HATESONAR = "hatesonar"
#: Systems whose single call is also timed reading its explanation (``bench/worker.py``).
EXPLAINED = (OURS,)
#: Sources the peers were trained on (alt-profanity-check: Davidson + Jigsaw 2018 Wikipedia;
#: hatesonar: Davidson). Their held-out rows are no test for those peers.
PEER_TRAINING_SOURCES = ("davidson", "jigsaw", "cat")

#: Published figures for systems that cannot run here (``../shared/research/anchors.md``).
NOT_MEASURED = (
    (
        "Detoxify (`original`, BERT)",
        "~250 comments/s on CPU batched (~4 ms per text in batches of 30); ~30 ms per single "
        "call on CPU; Jigsaw 2018 mean ROC-AUC 0.9864",
        "downloads its weights at first use; no network here",
    ),
    (
        "Perspective API",
        "one comment per request, default quota 1 QPS; network-bound latency",
        "a web API (reported to close at the end of 2026); no network here",
    ),
)


class ReportError(ValueError):
    """The results file lacks what the report needs."""


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100) by linear interpolation between closest ranks."""
    if not values:
        raise ReportError("percentile of an empty list")
    if not 0 <= q <= 100:
        raise ReportError(f"percentile must be within 0..100, got {q}")
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    low = math.floor(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def median(values: Sequence[float]) -> float:
    """Median of the non-missing values (NaN when there are none)."""
    kept = [v for v in values if v is not None and not math.isnan(v)]
    return statistics.median(kept) if kept else math.nan


def ratio(ours: float, peer: float) -> float:
    """``ours / peer``; NaN when either is missing or the peer is zero."""
    if math.isnan(ours) or math.isnan(peer) or peer == 0:
        return math.nan
    return ours / peer


@dataclass(frozen=True)
class Measure:
    """One row of a comparison table: a per-round measure and which way is better."""

    key: str
    title: str
    unit: str
    higher_is_better: bool
    digits: int


MEASURES = (
    Measure("batch_cps", "Batch throughput, one process", "comments/s", True, 0),
    Measure("p50_us", "Single call `score_one`, median", "µs", False, 1),
    Measure("p99_us", "Single call `score_one`, 99th percentile", "µs", False, 1),
    Measure("cold_s", "Cold start (process start to first score ready)", "s", False, 3),
    Measure("batch_rss_mb", "Peak memory while batch scoring", "MB", False, 0),
)
#: Single calls that read the explanation too (ours only: the peers explain nothing).
EXPLAINED_MEASURES = (
    Measure("p50_explained_us", "median", "µs", False, 1),
    Measure("p99_explained_us", "99th percentile", "µs", False, 1),
)


def summarise(results: dict[str, Any], scaled: dict[str, Any] | None = None) -> dict[str, Any]:
    """Medians over rounds per system and measure, CLI medians, ratios and target verdicts.

    ``scaled`` is the scaling run's results (a separate run and file), if any.
    """
    rounds = results.get("rounds")
    if not isinstance(rounds, dict) or OURS not in rounds:
        raise ReportError("results have no per-round measurements of 'ours'")
    medians = {
        system: {m.key: median(per.get(m.key, [])) for m in MEASURES}
        for system, per in rounds.items()
    }
    cli = {
        str(workers): {k: median(v) for k, v in per.items()}
        for workers, per in results.get("cli", {}).items()
    }
    peers = [s for s in medians if s != OURS]
    ratios = {
        peer: {m.key: ratio(medians[OURS][m.key], medians[peer][m.key]) for m in MEASURES}
        for peer in peers
    }
    for m in EXPLAINED_MEASURES:
        medians[OURS][m.key] = median(rounds[OURS].get(m.key, []))
    return {
        "medians": medians,
        "cli": cli,
        "ratios": ratios,
        "targets": targets(medians, cli, (scaled or {}).get("scaling", [])),
    }


def targets(
    medians: dict[str, dict[str, float]],
    cli: dict[str, dict[str, float]],
    scaling: Sequence[dict[str, Any]],
) -> list[dict[str, Any]]:
    """The issue's targets, each with the measured value and met / not met / not measured."""
    out: list[dict[str, Any]] = []

    def add(name: str, goal: str, value: float, met: bool | None, shown: str) -> None:
        verdict = (
            "not measured" if met is None or math.isnan(value) else ("met" if met else "NOT met")
        )
        out.append({"target": name, "goal": goal, "measured": shown, "verdict": verdict})

    ours = medians.get(OURS, {})
    alt = medians.get(ALTPROF, {}).get("batch_cps", math.nan)
    r = ratio(ours.get("batch_cps", math.nan), alt)
    add("Batch, one process, full model", "≥ 1.0x alt-profanity-check comments/s", r, r >= 1.0,
        f"{r:.2f}x ({ours.get('batch_cps', math.nan):,.0f} vs {alt:,.0f} comments/s)")  # fmt: skip
    one, two = cli.get("1", {}).get("cps", math.nan), cli.get("2", {}).get("cps", math.nan)
    r = ratio(two, one)
    add("Batch, two workers (CLI)", "≥ 1.7x our one-process CLI figure", r, r >= 1.7,
        f"{r:.2f}x ({two:,.0f} vs {one:,.0f} comments/s)" if not math.isnan(r)
        else "`--workers` not available")  # fmt: skip
    p50 = ours.get("p50_us", math.nan)
    explained = ours.get("p50_explained_us", math.nan)
    shown = f"{p50:,.1f} µs, decision only (scores and action; the explanation not read)"
    if not math.isnan(explained):
        shown += f"; {explained:,.1f} µs with the explanation read"
    add("`score_one` p50 after load", "≤ 100 µs", p50, p50 <= 100, shown)
    cold = ours.get("cold_s", math.nan)
    add("Cold start", "≤ 0.5 s", cold, cold <= 0.5, f"{cold:.3f} s")
    by_factor = {int(s["factor"]): s for s in scaling}
    if 1 in by_factor and 100 in by_factor:
        r = by_factor[100]["seconds"] / by_factor[1]["seconds"]
        add("Linear scaling", "100x the corpus in ≤ 105x the time", r, r <= 105, f"{r:.1f}x")
    else:
        add("Linear scaling", "100x the corpus in ≤ 105x the time", math.nan, None, "not run")
    if scaling:
        peak = max(float(s.get("tree_rss_mb", s["rss_mb"])) for s in scaling)
        largest = max(by_factor)
        add("Peak memory flat", f"≤ 1 GB at every size (largest run: {largest}x)", peak,
            peak <= 1024, f"{peak:,.0f} MB")  # fmt: skip
    else:
        add("Peak memory flat", "≤ 1 GB at every size", math.nan, None, "not run")
    return out


def _fmt(value: float, digits: int) -> str:
    if value is None or math.isnan(value):
        return "n/a"
    return f"{value:,.{digits}f}"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def render(
    results: dict[str, Any], scaled: dict[str, Any] | None = None, analysis: str = ""
) -> str:
    """The whole ``docs/benchmarks.md`` page for ``results`` (and the scaling run ``scaled``).

    ``analysis`` is hand-written Markdown (``bench/ANALYSIS.md``: what the figures mean and
    what stands in the way of the targets not met), appended as is.
    """
    summary = summarise(results, scaled)
    medians, ratios = summary["medians"], summary["ratios"]
    peers = list(ratios)
    machine = results.get("machine", {})
    corpus = results.get("corpus", {})
    n_rounds = len(results["rounds"][OURS].get("batch_cps", []))
    lines = [
        "# Benchmarks",
        "",
        "Ours against the self-hosted toxicity scorers that install from PyPI and run offline, "
        "measured side by side in one run. Generated by `bench/report.py` from "
        f"`{results.get('results_file', 'bench/results/latest.json')}`; do not edit by hand.",
        "",
        "Reproduce (from a checkout with `../shared/datasets` beside it; installs each peer in "
        "its own virtual environment under `bench/.cache/venvs`):",
        "",
        "```bash",
        str(results.get("command", "python bench/run.py")),
        "```",
        "",
        "## Targets (issue #6)",
        "",
    ]
    lines += _table(
        ["target", "goal", "measured", "verdict"],
        [[t["target"], t["goal"], t["measured"], t["verdict"]] for t in summary["targets"]],
    )
    lines += [
        "",
        "## How it was measured",
        "",
        f"- **Machine**: {machine.get('cpu', '?')}, {machine.get('cores', '?')} cores, "
        f"{machine.get('memory_gb', '?')} GB RAM, {machine.get('os', '?')}, Python "
        f"{machine.get('python', '?')}. The machine is **shared with other jobs** (load average "
        f"{machine.get('load_start', '?')} at the start, {machine.get('load_end', '?')} at the "
        "end), so absolute figures are noisy; the ratios, measured alternately in one run, are "
        "what count.",
        f"- **Corpus**: {corpus.get('rows', '?'):,} real comments ({corpus.get('positives', '?'):,}"
        " toxic) drawn with a fixed seed from the held-out (`test`) rows of "
        "`moderation.corpus.load_corpus`, none sharing a `split_key` with any training row, so "
        "none trained our default model; arranged into "
        f"{corpus.get('threads', '?'):,} invented threads ({corpus.get('replies', '?'):,} "
        f"replies) so thread context runs. SHA-256 of the rows `{corpus.get('sha256', '?')}`.",
        f"- **Alternation**: {n_rounds} round(s); in every round each system runs each measurement "
        "in a fresh subprocess of its own virtual environment, the order of systems rotating "
        "between rounds. Figures are medians over rounds.",
        "- **Ours** is the full default model"
        + (f" (bundle `{results['bundle']}`)" if results.get("bundle") else "")
        + " through `Moderator.score` (all six hostility "
        "labels with word+char features, off-topic, thread context, rules and reasons) on a "
        "DataFrame of the export columns; `score_one` is `Moderator.score_one(text)`. "
        "alt-profanity-check is `predict_prob(list)` (one label, word unigrams); hatesonar is "
        "`Sonar.ping` per comment (it has no batch API, and feeding its ONNX session an array "
        "was slower per comment than one call at a time), toxic = "
        "1 - P(neither).",
        "- **Batch** times one call on all comments after a 200-comment warm-up. **Single** "
        f"times up to {results.get('single_n', '?')} consecutive calls after 50 warm-up calls "
        f"({_calls(results)}); ours reads the scores and action of each result, not its "
        "explanation (computed on first access; timed separately below). "
        "**Cold start** is the wall time from launching the interpreter to the first score "
        "(imports, model load, one call). **Peak memory** is the peak resident size (VmHWM, "
        "polled from `/proc` every 20 ms and read by the worker itself at the end) of the "
        "process; for `moderation score` also the peak of all its processes together.",
        "",
        "## Side by side",
        "",
        "Ratio = ours / peer. Comments/s: higher is better; times and memory: lower is better.",
        "",
    ]
    for m in MEASURES:
        lines += [f"### {m.title} ({m.unit})", ""]
        row = [_fmt(medians[OURS][m.key], m.digits)]
        header = ["ours"]
        for peer in peers:
            header += [peer, f"ours / {peer}"]
            row += [_fmt(medians[peer][m.key], m.digits), _fmt(ratios[peer][m.key], 2) + "x"]
        lines += [*_table(header, [row]), ""]
        if m.key == "p99_us":
            lines += _explained_section(medians[OURS])
    lines += _cli_section(summary["cli"], medians, peers, str(results.get("cli_command", "")))
    actions = results.get("actions", {})
    if actions:
        total = sum(actions.values())
        mix = ", ".join(f"{k} {v / total:.0%}" for k, v in sorted(actions.items()))
        share = corpus.get("positives", 0) / max(1, corpus.get("rows", 1))
        lines += [
            f"Our actions on the corpus: {mix}. Escalated rows cost more than allowed ones (their "
            f"reasons quote the words and spans behind them); the corpus is {share:.0%} toxic, "
            "far more than a typical comment section, so this is a demanding mix.",
            "",
        ]
    lines += _auc_section(results.get("auc", {}), peers)
    if scaled:
        lines += _scaling_section(scaled)
    lines += [
        "## Not measured here",
        "",
        "These cannot run on this machine; their figures are the published ones quoted in "
        "`../shared/research/anchors.md`, **not measured here** and not comparable to the "
        "ratios above.",
        "",
    ]
    lines += _table(
        ["system", "published figures (not measured here)", "why not run"],
        [list(row) for row in NOT_MEASURED],
    )
    lines += [
        "",
        "## Peers and how they are installed",
        "",
        "`bench/run.py` creates one virtual environment per system under `bench/.cache/venvs` "
        "with `pip` from PyPI (exact pins in `bench/run.py`), so no peer's dependencies touch "
        "another's:",
        "",
        "- **alt-profanity-check 1.9.1** pins scikit-learn exactly (1.9.1 here); it loads its "
        "model at import.",
        "- **hatesonar 0.1.0** installs on Python 3.11 as is (it is now an ONNX model run by "
        "onnxruntime, no old scikit-learn needed), but its ONNX string normaliser asks the C "
        "library for the `en_US.UTF-8` locale by name and fails to load without it. The runner "
        "compiles that locale with `localedef -i en_US -f UTF-8` into `bench/.cache/locale` "
        "and points `LOCPATH` at it for hatesonar's processes only.",
        "- **ours**: this checkout installed editable (`pip install -e .`) into its own "
        "environment, so a run measures the working tree as it is.",
    ]
    lines += ["", "## Versions", ""]
    lines += _table(
        ["system", "packages"],
        [
            [name, ", ".join(f"{k} {v}" for k, v in sorted(pkgs.items()))]
            for name, pkgs in results.get("versions", {}).items()
        ],
    )
    notes = results.get("notes", [])
    if notes:
        lines += ["", "## Notes", ""] + [f"- {note}" for note in notes]
    if analysis:
        lines += ["", analysis.strip()]
    return "\n".join(lines) + "\n"


def _explained_section(ours: dict[str, float]) -> list[str]:
    """Our single call decision-only (the figures above) against reading its explanation."""
    lines = [
        "### `score_one` with and without reading the explanation (ours, µs)",
        "",
        "`score_one` computes its scores, action and priority; the explanation (reasons "
        "quoting the words behind high scores, top terms, sentence and word spans of each "
        "flagged label) is computed on first access. The figures above, and the target, are "
        "decision only, as a comment system deciding whether to publish calls it; a separate "
        "process times the same calls reading the explanation too, as a moderation UI would.",
        "",
    ]
    rows = [
        ["decision only (scores, action)"]
        + [_fmt(ours.get(k, math.nan), 1) for k in ("p50_us", "p99_us")],
        ["explanation read too"]
        + [_fmt(ours.get(m.key, math.nan), m.digits) for m in EXPLAINED_MEASURES],
    ]
    return [*lines, *_table(["ours", "median", "99th percentile"], rows), ""]


def _calls(results: dict[str, Any]) -> str:
    """How many single calls each system made (a slow one stops at a time budget)."""
    parts = []
    for system, per in results["rounds"].items():
        calls = per.get("single_calls", [])
        if calls:
            parts.append(f"{system} {min(calls):,.0f}-{max(calls):,.0f}")
        calls = per.get("explained_calls", [])
        if calls:
            parts.append(f"{system} reading explanations {min(calls):,.0f}-{max(calls):,.0f}")
    seconds = results.get("single_seconds")
    budget = f"a system stops after {seconds:g} s, with at least 200 calls; " if seconds else ""
    return budget + "calls made per round: " + ", ".join(parts) if parts else budget.rstrip("; ")


def _cli_section(
    cli: dict[str, dict[str, float]],
    medians: dict[str, dict[str, float]],
    peers: list[str],
    command: str,
) -> list[str]:
    if not cli:
        return []
    lines = [
        "### `moderation score` end to end (comments/s, including start-up, reading and writing)",
        "",
        f"Command: `{command}` (without `--workers` for one process).",
        "",
    ]
    header = [
        "run",
        "comments/s",
        "peak memory, largest process (MB)",
        "peak memory, all processes (MB)",
    ]
    header += [f"ours / {p} batch" for p in peers]
    rows = []
    for workers, per in sorted(cli.items()):
        name = "one process" if workers == "1" else f"`--workers {workers}`"
        rows.append(
            [
                name,
                _fmt(per.get("cps", math.nan), 0),
                _fmt(per.get("rss_mb", math.nan), 0),
                _fmt(per.get("tree_rss_mb", math.nan), 0),
            ]
            + [
                _fmt(ratio(per.get("cps", math.nan), medians[p]["batch_cps"]), 2) + "x"
                for p in peers
            ]
        )
    return lines + _table(header, rows) + [""]


def _auc_section(auc: dict[str, Any], peers: list[str]) -> list[str]:
    if not auc:
        return []
    systems = [OURS, *peers]
    lines = [
        "## Accuracy: toxicity ROC-AUC on the same held-out rows",
        "",
        "`toxic` is each source's binary toxicity label as mapped by `moderation.corpus`. The "
        f"peers were trained on some of these sources ({', '.join(PEER_TRAINING_SOURCES)}: "
        "Davidson tweets and Jigsaw/Wikipedia talk), so the row that leaves them out is the "
        "fair comparison; all rows are unseen by our model.",
        "",
    ]
    header = ["rows", "comments", "toxic", *systems]
    first = auc[OURS]
    rows = [
        ["all", f"{first['n']:,}", f"{first.get('positives', '?'):,}"]
        + [_fmt(auc[s]["all"], 4) for s in systems],
        [
            "without " + ", ".join(PEER_TRAINING_SOURCES),
            f"{first['n_unseen']:,}",
            f"{first.get('positives_unseen', '?'):,}",
        ]
        + [_fmt(auc[s]["unseen"], 4) for s in systems],
    ]
    for source in sorted(first["by_source"]):
        part = first["by_source"][source]
        rows.append(
            [source, f"{part['n']:,}", f"{part.get('positives', '?'):,}"]
            + [_fmt(auc[s]["by_source"][source]["auc"], 4) for s in systems]
        )
    note = [
        "",
        "Per-source figures on a handful of toxic comments (see the `toxic` column) are noise; "
        "n/a where a source has only one class in the sample.",
        "",
    ]
    return lines + _table(header, rows) + note


def _bundle(results: dict[str, Any]) -> str:
    """ ", model bundle `NAME`" when the results file records the bundle it measured, else ""."""
    name = results.get("bundle")
    return f", model bundle `{name}`" if name else ""


def _scaling_section(scaled: dict[str, Any]) -> list[str]:
    scaling = scaled.get("scaling", [])
    if not scaling:
        return []
    machine = scaled.get("machine", {})
    factors = ", ".join(f"{int(s['factor'])}x" for s in scaling)
    lines = [
        f"## Scaling: `moderation score` on {factors} the corpus",
        "",
        "Each copy of the corpus gets fresh comment and thread ids (same thread shapes), so "
        "thread context is exercised at every size. A separate run "
        f"(finished {scaled.get('created', '?')}{_bundle(scaled)}, load average "
        f"{machine.get('load_start', '?')} at the start, "
        f"{machine.get('load_end', '?')} at the end):",
        "",
        "```bash",
        str(scaled.get("command", "")),
        "```",
        "",
    ]
    base = next((s for s in scaling if int(s["factor"]) == 1), None)
    rows = []
    for s in sorted(scaling, key=lambda s: int(s["factor"])):
        rel = s["seconds"] / base["seconds"] if base else math.nan
        rows.append(
            [
                f"{int(s['factor'])}x",
                f"{int(s['rows']):,}",
                _fmt(float(s["seconds"]), 1),
                _fmt(rel, 1) + "x",
                _fmt(int(s["rows"]) / float(s["seconds"]), 0),
                _fmt(float(s.get("tree_rss_mb", s["rss_mb"])), 0),
            ]
        )
    lines += _table(
        ["size", "comments", "wall time (s)", "time / 1x time", "comments/s", "peak memory (MB)"],
        rows,
    )
    command = scaled.get("scaling_command", "")
    if command:
        lines += ["", f"Each size runs `{command}` (peak memory: all its processes together)."]
    return [*lines, ""]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Render benchmark results as Markdown.")
    parser.add_argument("results", type=Path)
    parser.add_argument("--scaling", type=Path, help="the scaling run's results file")
    parser.add_argument("-o", "--output", type=Path, help="write here instead of stdout")
    args = parser.parse_args(argv)
    results = json.loads(args.results.read_text(encoding="utf-8"))
    scaled = None
    if args.scaling and args.scaling.is_file():
        scaled = json.loads(args.scaling.read_text(encoding="utf-8"))
    analysis = ANALYSIS.read_text(encoding="utf-8") if ANALYSIS.is_file() else ""
    page = render(results, scaled, analysis)
    if args.output:
        args.output.write_text(page, encoding="utf-8")
    else:
        sys.stdout.write(page)
    return 0


if __name__ == "__main__":
    sys.exit(main())
