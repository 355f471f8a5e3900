"""Robustness probes of a hostility model on held-out data: evasion and dilution.

Flow: evaluation only (``corpus``/``obfuscate`` -> **robustness** -> ``train``/``evaluate``).
Two questions a moderator asks of a classifier, each answered on text the model never fitted:

- *Does disguising the words defeat it?* :func:`obfuscation_robustness` takes the official
  SemEval-2021 toxic-spans test posts, disguises only the words inside their gold spans
  (``1d10t``, ``f***``, ``i d i o t``, Cyrillic look-alikes, zero-width joiners, glued words:
  :mod:`moderation.obfuscate`), and compares toxicity ROC-AUC (against fixed civil held-out
  comments) and recall at the decision threshold with the clean posts.
- *Does a long civil comment hide an insult?* :func:`long_text_insults` puts one held-out
  insulting sentence inside a held-out civil comment of several sentences and measures how often
  ``insult`` and ``toxicity`` still reach their thresholds -- and how often the civil comment
  alone does (the price in false alarms).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from moderation import schema
from moderation.corpus import TSD_TEST
from moderation.normalize import split_sentences
from moderation.obfuscate import KINDS, SPAN_KINDS, obfuscate_spans

__all__ = ["long_text_insults", "obfuscation_robustness"]

#: Civil held-out comments used as the negatives of the obfuscation AUC (fixed sample).
CIVIL_NEGATIVES = 2_000
#: Long-text probe: pairs of (civil comment of at least this many sentences, insult sentence).
LONG_MIN_SENTENCES = 4
LONG_PAIRS = 1_000
#: An insult "sentence" is a held-out comment of one sentence and at most this many characters.
INSULT_MAX_CHARS = 150


def _civil_heldout(corpus: pd.DataFrame, sources: Sequence[str]) -> pd.DataFrame:
    """Test-split rows of ``sources`` known to be civil on every label they annotate."""
    test = corpus[(corpus["split"] == "test") & corpus["source"].isin(list(sources))]
    labels = test[list(schema.LABELS)]
    civil = (labels.fillna(0.0) < 0.5).all(axis=1) & labels[schema.TOXICITY].notna()
    return test[civil].reset_index(drop=True)


def _read_spans_test(datasets_dir: Path) -> pd.DataFrame | None:
    folder = datasets_dir / "toxic-spans-civil"
    found = [p for p in (folder / f"{TSD_TEST}.gz", folder / TSD_TEST) if p.is_file()]
    return pd.read_csv(found[0]) if found else None


def _runs(offsets: Sequence[int]) -> list[tuple[int, int]]:
    """Sorted character offsets -> ``[(begin, end), ...]`` runs of consecutive offsets."""
    runs: list[tuple[int, int]] = []
    for i in sorted(offsets):
        if runs and runs[-1][1] == i:
            runs[-1] = (runs[-1][0], i + 1)
        else:
            runs.append((i, i + 1))
    return runs


def obfuscation_robustness(
    model: Any,
    corpus: pd.DataFrame,
    datasets_dir: Path,
    threshold: float,
    heldout_sources: Sequence[str],
    *,
    seed: int = 0,
) -> dict[str, Any]:
    """Toxicity of the toxic-spans test posts, clean and with their gold spans disguised.

    Parameters
    ----------
    model
        Anything with ``predict(texts) -> DataFrame`` of label scores.
    corpus
        Output of :func:`moderation.corpus.load_corpus` (for the civil negatives).
    datasets_dir
        Folder holding ``toxic-spans-civil`` with the official test posts.
    threshold
        Toxicity decision threshold: recall is the share of posts scoring at least this.
    heldout_sources
        Sources whose test rows are held out; the civil negatives come from them.

    Returns
    -------
    dict
        ``{"posts", "negatives", "threshold", "kinds": {kind: {"roc_auc", "recall"}}}`` with
        kind ``clean`` first; empty when the test posts or civil rows are missing.
    """
    frame = _read_spans_test(Path(datasets_dir))
    civil = _civil_heldout(corpus, heldout_sources)
    if frame is None or civil.empty:
        return {}
    spans = [_runs(json.loads(s)) for s in frame["spans"].astype(str)]
    keep = [i for i, s in enumerate(spans) if s]
    texts = [str(frame["text"].iloc[i]) for i in keep]
    spans = [spans[i] for i in keep]
    negatives = civil.sample(min(CIVIL_NEGATIVES, len(civil)), random_state=seed)["text"]
    neg_scores = model.predict(negatives.tolist())[schema.TOXICITY].to_numpy()
    y = np.r_[np.ones(len(texts)), np.zeros(len(neg_scores))]
    out: dict[str, Any] = {
        "posts": len(texts),
        "negatives": len(neg_scores),
        "threshold": round(float(threshold), 4),
        "kinds": {},
    }
    for kind in ("clean", *KINDS, *SPAN_KINDS):
        variant = (
            texts
            if kind == "clean"
            else [obfuscate_spans(t, s, kind) for t, s in zip(texts, spans, strict=True)]
        )
        pos = model.predict(variant)[schema.TOXICITY].to_numpy()
        out["kinds"][kind] = {
            "roc_auc": round(float(roc_auc_score(y, np.r_[pos, neg_scores])), 4),
            "recall": round(float((pos >= threshold).mean()), 4),
        }
    return out


def _insert(civil: str, insult: str, position: float) -> str:
    """``civil`` with ``insult`` placed between two of its sentences (``position`` in [0, 1])."""
    bounds = [end for _, end in split_sentences(civil)][:-1]
    if not bounds:
        return f"{civil} {insult}"
    cut = bounds[min(int(position * len(bounds)), len(bounds) - 1)]
    return f"{civil[:cut].rstrip()} {insult.strip()} {civil[cut:].lstrip()}"


def long_text_insults(
    model: Any,
    corpus: pd.DataFrame,
    thresholds: Mapping[str, float],
    heldout_sources: Sequence[str],
    *,
    seed: int = 0,
) -> dict[str, Any]:
    """How often one insulting sentence inside a long civil comment reaches the thresholds.

    Held-out civil comments of at least :data:`LONG_MIN_SENTENCES` sentences each receive one
    held-out insult (a one-sentence comment labelled ``insult``) at a random sentence boundary.

    Returns
    -------
    dict
        Per label in (``insult``, ``toxicity``): ``{"threshold", "insult_alone",
        "civil_alone", "combined", "kept"}``: the share of texts scoring at least the
        threshold, and ``kept`` the share of the insults flagged alone that are still flagged
        inside the long comment;
        plus ``pairs``, ``civil_mean_sentences``; empty when the rows are missing.
    """
    civil = _civil_heldout(corpus, heldout_sources)
    test = corpus[(corpus["split"] == "test") & corpus["source"].isin(list(heldout_sources))]
    insults = test[(test[schema.INSULT] >= 0.5) & (test["text"].str.len() <= INSULT_MAX_CHARS)]
    insults = insults[[len(split_sentences(t)) == 1 for t in insults["text"]]]
    counts = np.asarray([len(split_sentences(t)) for t in civil["text"]])
    civil = civil[counts >= LONG_MIN_SENTENCES]
    if civil.empty or insults.empty:
        return {}
    rng = np.random.default_rng(seed)
    n = min(LONG_PAIRS, len(civil))
    long_texts = civil["text"].iloc[rng.choice(len(civil), n, replace=False)].tolist()
    insult_texts = insults["text"].iloc[rng.choice(len(insults), n)].tolist()
    combined = [
        _insert(c, i, p) for c, i, p in zip(long_texts, insult_texts, rng.random(n), strict=True)
    ]
    scored = {
        "insult_alone": model.predict(insult_texts),
        "civil_alone": model.predict(long_texts),
        "combined": model.predict(combined),
    }
    sentences = [len(split_sentences(t)) for t in long_texts]
    out: dict[str, Any] = {"pairs": n, "civil_mean_sentences": round(float(np.mean(sentences)), 1)}
    for label in (schema.INSULT, schema.TOXICITY):
        threshold = float(thresholds.get(label, 0.5))
        entry: dict[str, Any] = {"threshold": round(threshold, 4)}
        flagged = {key: frame[label].to_numpy() >= threshold for key, frame in scored.items()}
        for key, hits in flagged.items():
            entry[key] = round(float(hits.mean()), 4)
        alone = flagged["insult_alone"]
        # Of the insults flagged on their own, the share still flagged inside the long comment.
        entry["kept"] = round(float(flagged["combined"][alone].mean()), 4) if alone.any() else None
        out[label] = entry
    return out
