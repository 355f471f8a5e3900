"""Moderators' decisions as labels: read and checked, split by thread, made corpus rows.

Flow: ``review decisions -> **export labels** -> retrain``. `ReviewQueue.export_labels`
(:mod:`moderation.reviewqueue`) writes decisions as labelled comments in the corpus's label
columns; this module reads such a file back (`read_feedback`), holds out whole threads for
the old/new comparison (`split_by_thread`: the comments of one thread share words, people
and topic, so evaluating on a thread the new model saw would flatter it), and turns the rest
into training corpus rows (`feedback_rows`) for :mod:`moderation.feedback`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from moderation import schema
from moderation.corpus import CORPUS_COLUMNS, stable_bucket
from moderation.errors import TrainingError
from moderation.reviewqueue import EXPORT_LABELS

__all__ = [
    "FEEDBACK_LICENCE",
    "FEEDBACK_SOURCE",
    "HELDOUT_PERCENT",
    "feedback_rows",
    "read_feedback",
    "split_by_thread",
]

#: Source name of decision rows in the training frame and the manifest.
FEEDBACK_SOURCE = "moderator-feedback"

#: Licence of decision rows in the training frame and the manifest.
FEEDBACK_LICENCE = "your moderators' decisions"

#: Share of threads (by a stable hash of ``thread_id``) whose decisions are held out.
HELDOUT_PERCENT = 25


def read_feedback(source: str | Path | pd.DataFrame) -> pd.DataFrame:
    """Read exported decisions (``moderation review export-labels``) and check them.

    Parameters
    ----------
    source : str, Path or DataFrame
        A ``.csv``, ``.jsonl`` or ``.parquet`` file, or the frame itself.

    Returns
    -------
    DataFrame
        ``text``, ``thread_id`` (as strings) and float label columns `EXPORT_LABELS`
        (NaN = unknown); other columns are kept.

    Raises
    ------
    TrainingError
        If the file cannot be read, lacks ``text`` or every label column, or holds a label
        value other than 0, 1 or empty.
    """
    name = "feedback" if isinstance(source, pd.DataFrame) else str(source)
    if isinstance(source, pd.DataFrame):
        frame = source.copy()
    else:
        path = Path(source)
        suffix = path.suffix.lower()
        try:
            if suffix == ".parquet":
                frame = pd.read_parquet(path)
            elif suffix in (".jsonl", ".ndjson"):
                frame = pd.read_json(path, lines=True, dtype=False)
            else:
                frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        except FileNotFoundError:
            raise TrainingError(f"{name}: feedback file not found") from None
        except (OSError, ValueError) as exc:
            raise TrainingError(f"{name}: cannot read feedback ({exc})") from exc
    if "text" not in frame.columns:
        raise TrainingError(
            f"{name}: no 'text' column; write it with `moderation review export-labels`"
        )
    present = [label for label in EXPORT_LABELS if label in frame.columns]
    if not present:
        raise TrainingError(f"{name}: none of the label columns {', '.join(EXPORT_LABELS)}")
    out = frame.copy()
    out["text"] = out["text"].fillna("").astype(str)
    threads = out["thread_id"] if "thread_id" in out.columns else pd.Series("", index=out.index)
    out["thread_id"] = threads.fillna("").astype(str)
    for label in EXPORT_LABELS:
        if label not in out.columns:
            out[label] = np.nan
            continue
        values = pd.to_numeric(out[label].replace("", np.nan), errors="coerce")
        bad = values.notna() & ~values.isin([0.0, 1.0])
        unparsed = values.isna() & out[label].notna() & (out[label].astype(str).str.strip() != "")
        wrong = np.flatnonzero((bad | unparsed).to_numpy())
        if len(wrong):
            row = int(wrong[0])
            raise TrainingError(
                f"{name}: row {row + 1}: {label} is {out[label].iloc[row]!r}; labels are 0, 1 "
                "or empty (unknown)"
            )
        out[label] = values.astype("float64")
    return out


def split_by_thread(
    feedback: pd.DataFrame,
    *,
    heldout_percent: int = HELDOUT_PERCENT,
    heldout_threads: Sequence[str] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split decisions into training and held-out rows, whole threads at a time.

    Parameters
    ----------
    feedback : DataFrame
        From `read_feedback`.
    heldout_percent : int
        Threads whose stable hash bucket (0..99) is below this are held out. With two or
        more threads, at least one is held out and at least one trained on; a single thread
        is trained on (nothing to compare then).
    heldout_threads : sequence of str, optional
        Hold out exactly these threads instead.

    Returns
    -------
    tuple of DataFrame
        ``(train, heldout)``, each with a fresh index.
    """
    threads = sorted(set(feedback["thread_id"]))
    if heldout_threads is not None:
        held = set(heldout_threads)
    else:
        buckets = {t: stable_bucket(t) for t in threads}
        held = {t for t in threads if buckets[t] < heldout_percent}
        if len(threads) > 1 and not held:
            held = {min(threads, key=lambda t: (buckets[t], t))}
        if len(threads) > 1 and held == set(threads):
            held.discard(max(threads, key=lambda t: (buckets[t], t)))
        if len(threads) == 1:
            held = set()
    mask = feedback["thread_id"].isin(held)
    return (
        feedback[~mask].reset_index(drop=True),
        feedback[mask].reset_index(drop=True),
    )


def feedback_rows(feedback: pd.DataFrame) -> pd.DataFrame:
    """Decisions as training corpus rows (:data:`moderation.corpus.CORPUS_COLUMNS`).

    Rows that know no hostility label (e.g. an ``off_topic``-only decision) are dropped:
    the hostility model could learn nothing from them.
    """
    known = feedback[list(schema.LABELS)].notna().any(axis=1)
    rows = feedback[known]
    return pd.DataFrame(
        {
            "text": rows["text"].astype(str),
            "group": rows["text"].astype(str),
            "source": FEEDBACK_SOURCE,
            "split": "train",
            "licence": FEEDBACK_LICENCE,
            "redistributable": True,
            **{label: rows[label].astype("float64") for label in schema.LABELS},
        },
        columns=list(CORPUS_COLUMNS),
    ).reset_index(drop=True)
