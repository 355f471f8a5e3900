"""The feedback loop: retrain a bundle on the labelled corpus plus moderators' decisions.

Flow: ``review decisions -> export labels -> **retrain**``. `ReviewQueue.export_labels`
(:mod:`moderation.reviewqueue`) turns decisions into labelled comments in the corpus's label
columns; this module adds them to the base corpus with a weight (a moderator's decision on
your own community's comments says more than one crowd label on someone else's), refits the
hostility model, and compares the old and new models on decisions they were not trained on.

Held-out decisions are split **by thread**: the comments of one thread share words, people
and topic, so evaluating on a thread the new model saw would flatter it. Reading, checking and
splitting the decisions is :mod:`moderation.feedbacklabels`, the old/new comparison is
:mod:`moderation.feedbackcomparison`; their public names stay importable from here.

Only the public functions of :mod:`moderation.corpus`, :mod:`moderation.model` and
:mod:`moderation.train` are used; the split of the base corpus into fitted and validation rows
is the one `moderation.train.train_bundle` uses, so a retrained bundle's thresholds and
metrics compare with the shipped ones. The off-topic scorer is copied from the base bundle:
it is fitted on whole threads, which the decisions do not provide, so ``off_topic`` decisions
are exported and reported but not trained on.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from moderation import schema
from moderation.bundle import Bundle, default_bundle_path, load_bundle, save_bundle
from moderation.corpus import CORPUS_COLUMNS, load_corpus, stable_bucket
from moderation.errors import TrainingError
from moderation.feedbackcomparison import compare_models, comparison_table
from moderation.feedbacklabels import (
    FEEDBACK_LICENCE,
    FEEDBACK_SOURCE,
    HELDOUT_PERCENT,
    feedback_rows,
    read_feedback,
    split_by_thread,
)
from moderation.model import HostilityModel
from moderation.train import (
    NOT_FITTED,
    VALIDATION_BUCKETS,
    calibrate,
    choose_thresholds,
    evaluate_model,
    label_counts,
    render_card,
    source_summary,
)

__all__ = [
    "DEFAULT_WEIGHT",
    "FEEDBACK_SOURCE",
    "HELDOUT_PERCENT",
    "FeedbackReport",
    "compare_models",
    "feedback_rows",
    "fit_with_feedback",
    "read_feedback",
    "retrain_with_feedback",
    "split_by_thread",
]

logger = logging.getLogger(__name__)

#: Default weight of one decision relative to one corpus row. Decisions are few, recent and
#: about your own community; 3 lets a handful move the model without drowning the corpus.
DEFAULT_WEIGHT = 3.0


@dataclass(frozen=True)
class FeedbackReport:
    """What `retrain_with_feedback` did.

    Attributes
    ----------
    bundle : Bundle
        The retrained bundle, loaded back from disk.
    comparison : DataFrame
        One row per label with held-out decisions: ``label``, ``n``, ``positives``, then
        ``old_*`` / ``new_*`` agreement with the moderators (share of decisions on the
        right side of the model's threshold), ROC-AUC (None with one class) and F1.
    train_decisions, heldout_decisions : int
        Labelled comments trained on / held out.
    heldout_threads : list of str
        Threads whose decisions were held out.
    weight : float
        Weight of each decision row.
    """

    bundle: Bundle
    comparison: pd.DataFrame
    train_decisions: int
    heldout_decisions: int
    heldout_threads: list[str]
    weight: float

    def table(self) -> str:
        """The comparison as a Markdown table (old and new model side by side)."""
        return comparison_table(self.comparison)


def _base_split(
    corpus: pd.DataFrame, include_restricted: bool
) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """Fitted rows, validation rows and held-out sources, as `train_bundle` chooses them."""
    usable = corpus["redistributable"] | include_restricted
    candidates = corpus[(corpus["split"] == "train") & usable].reset_index(drop=True)
    bucket = np.fromiter((stable_bucket(t) for t in candidates["group"]), dtype=np.int64)
    in_val = np.isin(bucket, np.asarray(VALIDATION_BUCKETS))
    fitted = ~candidates["source"].isin(list(NOT_FITTED)).to_numpy()
    train_rows = candidates[fitted].reset_index(drop=True)
    is_val = in_val[fitted]
    trained = sorted(train_rows["source"].unique())
    heldout_sources = sorted({*trained, *(set(candidates["source"]) & NOT_FITTED)})
    return (
        train_rows[~is_val].reset_index(drop=True),
        train_rows[is_val].reset_index(drop=True),
        heldout_sources,
    )


def fit_with_feedback(
    fit_rows: pd.DataFrame,
    validation_rows: pd.DataFrame,
    decisions: pd.DataFrame,
    *,
    like: HostilityModel,
    weight: float = DEFAULT_WEIGHT,
    seed: int = 0,
) -> tuple[HostilityModel, dict[str, float]]:
    """Fit a hostility model on corpus rows plus weighted decision rows; choose thresholds.

    Parameters
    ----------
    fit_rows, validation_rows : DataFrame
        Corpus rows to fit on and to choose thresholds on.
    decisions : DataFrame
        From `feedback_rows` (may be empty: then this is a plain refit).
    like : HostilityModel
        The model whose settings (features, C, class weight, sentence weight) to reuse.
    weight : float
        Sample weight of each decision row (corpus rows weigh 1).
    seed : int
        Solver random state.

    Returns
    -------
    tuple
        ``(model, thresholds)``.
    """
    if weight <= 0:
        raise TrainingError(f"feedback weight must be positive, got {weight}")
    rows = pd.concat([fit_rows[list(CORPUS_COLUMNS)], decisions], ignore_index=True)
    weights = np.concatenate([np.ones(len(fit_rows)), np.full(len(decisions), float(weight))])
    model = HostilityModel(
        like.config,
        C=like.C,
        class_weight=like.class_weight,
        sentence_weight=float(getattr(like, "sentence_weight", 0.0)),
    )
    model.fit(rows, seed=seed, sample_weight=weights)
    if validation_rows.empty:
        thresholds = {label: 0.5 for label in schema.LABELS}
    else:
        scores, _ = calibrate(model, validation_rows)
        thresholds = choose_thresholds(validation_rows, scores)
    return model, thresholds


def retrain_with_feedback(
    datasets_dir: Path,
    feedback: str | Path | pd.DataFrame,
    out_dir: Path,
    *,
    base: Bundle | str | Path | None = None,
    weight: float = DEFAULT_WEIGHT,
    seed: int = 0,
    include_restricted: bool = False,
    sources: Sequence[str] | None = None,
    heldout_percent: int = HELDOUT_PERCENT,
    heldout_threads: Sequence[str] | None = None,
) -> FeedbackReport:
    """Retrain a bundle on the base corpus plus moderators' decisions; compare old and new.

    Parameters
    ----------
    datasets_dir : Path
        Folder of labelled datasets (as for `moderation.train.train_bundle`).
    feedback : str, Path or DataFrame
        Exported decisions (see `read_feedback`).
    out_dir : Path
        Bundle directory to write (replaced atomically if it exists).
    base : Bundle, str, Path or None
        The bundle being improved: its model settings are reused, its off-topic scorer is
        copied, and it is the "old" model of the comparison. Default: the bundled model.
    weight : float
        Weight of each decision relative to a corpus row.
    seed : int
        Random seed.
    include_restricted : bool
        Also fit non-redistributable sources (do not ship the result).
    sources : sequence of str, optional
        Load only these corpus sources (default: all found).
    heldout_percent, heldout_threads
        How decisions are held out, see `split_by_thread`.

    Returns
    -------
    FeedbackReport

    Raises
    ------
    TrainingError
        If the feedback is unreadable or leaves no decision to train on, or the corpus is
        missing.
    """
    started = time.monotonic()
    old = base if isinstance(base, Bundle) else load_bundle(Path(base or default_bundle_path()))
    decisions = read_feedback(feedback)
    train_fb, heldout_fb = split_by_thread(
        decisions, heldout_percent=heldout_percent, heldout_threads=heldout_threads
    )
    rows = feedback_rows(train_fb)
    if rows.empty:
        raise TrainingError(
            f"{feedback if not isinstance(feedback, pd.DataFrame) else 'feedback'}: no decision "
            f"with a hostility label left to train on ({len(decisions)} rows, "
            f"{len(heldout_fb)} held out)"
        )
    corpus = load_corpus(Path(datasets_dir), sources)
    fit_rows, val_rows, heldout_sources = _base_split(corpus, include_restricted)
    if fit_rows.empty:
        raise TrainingError(f"no training rows found under {datasets_dir}")
    model, thresholds = fit_with_feedback(
        fit_rows, val_rows, rows, like=old.hostility, weight=weight, seed=seed
    )
    comparison = compare_models((old.hostility, old.thresholds), (model, thresholds), heldout_fb)
    metrics = evaluate_model(model, corpus, thresholds, heldout_sources, Path(datasets_dir))
    metrics["off_topic"] = old.manifest.get("metrics", {}).get("off_topic", {})
    held = sorted(set(heldout_fb["thread_id"]))
    summary = source_summary(fit_rows)
    summary[FEEDBACK_SOURCE] = {
        "licence": FEEDBACK_LICENCE,
        "redistributable": True,
        "folder": str(feedback) if not isinstance(feedback, pd.DataFrame) else "",
        "labels": label_counts(rows),
        "rows": len(rows),
        "weight": weight,
    }
    manifest_extra: dict[str, Any] = {
        "thresholds": thresholds,
        "threshold_method": (
            "per label, the score maximising F1 on validation rows of the base corpus (hash "
            f"buckets {VALIDATION_BUCKETS.start}..{VALIDATION_BUCKETS.stop - 1}); moderator "
            "decisions are fitted, not used for thresholds"
        ),
        "sources": summary,
        "heldout_sources": heldout_sources,
        "training": {
            "seed": seed,
            "include_restricted": include_restricted,
            "fit_rows": len(fit_rows) + len(rows),
            "validation_rows": len(val_rows),
            "C": model.C,
            "sentence_weight": model.sentence_weight,
            "not_fitted": sorted(NOT_FITTED),
            "seconds": round(time.monotonic() - started, 1),
            "base_bundle": str(old.path),
        },
        "metrics": metrics,
        "feedback": {
            "weight": weight,
            "train_decisions": len(rows),
            "heldout_decisions": len(heldout_fb),
            "heldout_threads": held,
            "off_topic": "not trained on (scorer copied from the base bundle)",
            "comparison": comparison.replace({np.nan: None}).to_dict("records"),
        },
    }
    card = render_card(Path(out_dir).name, manifest_extra) + _feedback_card(
        old, len(rows), len(heldout_fb), held, weight, comparison
    )
    save_bundle(
        Path(out_dir),
        hostility=model,
        off_topic=old.fitted_off_topic,
        manifest_extra=manifest_extra,
        card=card,
    )
    logger.info(
        "retrained %s on %d decisions (weight %s); %d held out",
        out_dir,
        len(rows),
        weight,
        len(heldout_fb),
    )
    return FeedbackReport(
        bundle=load_bundle(Path(out_dir)),
        comparison=comparison,
        train_decisions=len(rows),
        heldout_decisions=len(heldout_fb),
        heldout_threads=held,
        weight=weight,
    )


def _feedback_card(
    old: Bundle,
    trained: int,
    heldout: int,
    threads: list[str],
    weight: float,
    comparison: pd.DataFrame,
) -> str:
    table = (
        comparison_table(comparison)
        if not comparison.empty
        else "No held-out decisions (all decisions came from one thread)."
    )
    return f"""
## Moderator feedback

Retrained from `{old.path.name}` on the base corpus plus {trained} labelled comments from
review decisions, each weighing {weight:g} corpus rows. {heldout} decisions from
{len(threads)} thread(s) were held out; on them, the base model (old) and this one (new):

{table}

Agreement is the share of held-out decisions on the moderator's side of the threshold.
`off_topic` decisions are not trained on: the off-topic scorer is the base bundle's.
"""
