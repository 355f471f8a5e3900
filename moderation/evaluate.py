"""Evaluation of a hostility model on held-out and cross-domain labelled data.

Flow: ``labelled data -> read -> train -> **evaluate** -> model bundle``. Metrics are computed
only on ``test`` rows: the held-out part of the sources the model was trained on, and the test
part of evaluation-only sources the model never saw (reported separately as cross-domain,
because they measure transfer to a new platform, not fit). Decision thresholds always come from
the bundle's manifest (chosen on training-source validation rows), never from a test set.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from moderation.corpus import SOURCES, load_corpus
from moderation.train import evaluate_model, metrics_table

__all__ = ["REPORT_JSON", "REPORT_MD", "evaluate_bundle", "render_report", "write_report"]

logger = logging.getLogger(__name__)

REPORT_MD = "report.md"
REPORT_JSON = "report.json"


def evaluate_bundle(bundle: Any, datasets_dir: Path) -> dict[str, Any]:
    """Evaluate a loaded :class:`~moderation.bundle.Bundle` on the labelled datasets.

    Parameters
    ----------
    bundle
        A loaded bundle (its manifest supplies thresholds and the training sources).
    datasets_dir
        Folder with the labelled datasets (``../shared/datasets``).

    Returns
    -------
    dict
        The report: bundle name, thresholds, ``heldout`` and ``cross_domain`` metrics per
        source and label, OLID sub-task A macro-F1, identity-bias test AUCs and the off-topic
        metrics recorded at training time.
    """
    manifest = bundle.manifest
    trained = list(manifest.get("heldout_sources") or manifest.get("sources", {}))
    corpus = load_corpus(Path(datasets_dir))
    thresholds = {k: float(v) for k, v in manifest.get("thresholds", {}).items()}
    report = evaluate_model(bundle.hostility, corpus, thresholds, trained, Path(datasets_dir))
    return {
        "bundle": str(bundle.path),
        "name": manifest.get("name"),
        "thresholds": thresholds,
        "trained_sources": trained,
        **report,
        "off_topic": manifest.get("metrics", {}).get("off_topic", {}),
    }


def render_report(report: Mapping[str, Any]) -> str:
    """The Markdown version of an evaluation report."""
    parts = [
        f"# Evaluation of `{report.get('name')}`",
        "",
        "All metrics are on `test` rows only (official test splits where they exist, otherwise "
        "a stable 20 % hash split). Thresholds come from the bundle manifest.",
        "",
        "## Held-out (sources the model was trained on)",
        "",
        metrics_table(report.get("heldout", {})),
        "",
        "## Cross-domain (evaluation-only sources, never trained on)",
        "",
        metrics_table(report.get("cross_domain", {})),
    ]
    olid = report.get("olid_subtask_a")
    if olid:
        parts += [
            "",
            f"OLID sub-task A (official test, n={olid['n']}): macro-F1 {olid['macro_f1']:.3f}, "
            f"ROC-AUC {olid['roc_auc']:.3f} at toxicity threshold {olid['threshold']:.3f}.",
        ]
    bias = report.get("identity_bias")
    if bias:
        parts += ["", "## Identity-term bias test sets (toxicity ROC-AUC)", ""]
        parts += [f"- {name}: {m['roc_auc']:.3f} (n={m['n']})" for name, m in bias.items()]
    if report.get("off_topic"):
        parts += ["", "## Off-topic (recorded at training time)", "", "```"]
        parts += [json.dumps(report["off_topic"], indent=2), "```"]
    return "\n".join(parts) + "\n"


def write_report(report: Mapping[str, Any], out_dir: Path) -> tuple[Path, Path]:
    """Write ``report.md`` and ``report.json`` into ``out_dir`` (created if needed).

    Returns
    -------
    tuple of pathlib.Path
        The Markdown and JSON paths.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    md = out_dir / REPORT_MD
    js = out_dir / REPORT_JSON
    md.write_text(render_report(report), encoding="utf-8")
    js.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return md, js


def known_sources() -> list[str]:
    """Names of all corpus sources (for help texts)."""
    return list(SOURCES)
