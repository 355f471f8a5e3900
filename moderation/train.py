"""Training: labelled datasets in, a verified model bundle out.

Flow: ``labelled data -> read (corpus) -> **train** -> evaluate -> model bundle (models/)``.
:func:`train_bundle` loads the corpus, fits the hostility model on the ``train`` rows of the
redistributable sources (unless asked to include restricted ones), chooses per-label thresholds
on a validation slice of those rows, measures held-out and cross-domain metrics on ``test``
rows, fits the off-topic scorer and writes the bundle with its manifest and model card.
Everything is deterministic for a given seed. The metric helpers live here (not in
``evaluate``) because training records held-out metrics in the manifest and data flows one
way: ``evaluate`` builds its report on top of them.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import (
    average_precision_score,
    f1_score,
    precision_recall_curve,
    roc_auc_score,
)

from moderation import schema
from moderation.bundle import Bundle, load_bundle, save_bundle
from moderation.calibration import (
    Calibration,
    apply_calibration,
    brier,
    choose_calibration,
    expected_calibration_error,
)
from moderation.corpus import (
    HOSTILE_TEMPLATES,
    IDENTITY_FRAMES,
    IDENTITY_NEUTRAL,
    IDENTITY_TERMS,
    SOURCES,
    TSD_TEST,
    hostile_template_sentences,
    identity_neutral_sentences,
    load_corpus,
    stable_bucket,
)
from moderation.errors import TrainingError
from moderation.features import FeatureConfig
from moderation.model import BLIND_MIN_CHARS, HostilityModel, term_columns
from moderation.normalize import split_sentences
from moderation.offtopic import fit_off_topic, off_topic_card
from moderation.robustness import long_text_insults, obfuscation_robustness

__all__ = [
    "BLIND_LABELS",
    "BLIND_TERMS",
    "HOSTILE_FAMILY_WEIGHTS",
    "HOSTILE_TEMPLATE_WEIGHT",
    "IDENTITY_NEUTRAL_WEIGHT",
    "PRECISION_TARGETS",
    "VALIDATION_BUCKETS",
    "TrainingRows",
    "bias_aucs",
    "binary_metrics",
    "choose_thresholds",
    "counterfactual_rows",
    "evaluate_model",
    "fit_hostility",
    "generalized_mean",
    "identity_template_bias",
    "known_rows",
    "label_counts",
    "metrics_table",
    "precision_recall_at",
    "render_card",
    "source_summary",
    "split_training_rows",
    "thresholds_at_precision",
    "train_bundle",
]

logger = logging.getLogger(__name__)

#: Hash buckets (of :func:`moderation.corpus.stable_bucket`, 0..99) of ``train`` rows that are
#: kept out of fitting to choose thresholds. Buckets below 20 are the hash test split.
VALIDATION_BUCKETS = range(20, 32)

#: Regularisation of each label's logistic regression: per label, the C among 0.5 / 1 / 2 / 4 / 8
#: with the best validation-slice ROC-AUC (mean over sources) under identity blinding; 4 was
#: best before it. Validation toxicity 0.914 / 0.917 / 0.918 / 0.916 / 0.913, insult 0.909 /
#: 0.909 / 0.904 / 0.899 / - (``data/README.md``).
DEFAULT_C: dict[str, float] = {
    schema.TOXICITY: 2.0,
    schema.SEVERE_TOXICITY: 2.0,
    schema.INSULT: 1.0,
    schema.THREAT: 2.0,
    schema.IDENTITY_ATTACK: 2.0,
    schema.PROFANITY: 2.0,
}

#: Weight of the best sentence in a multi-sentence text's score (see
#: :meth:`moderation.model.HostilityModel.predict`). Chosen on the validation slice: toxicity
#: ROC-AUC (mean over the comment-level sources) 0.905 / 0.916 / 0.917 / 0.916 / 0.915 for
#: w = 0 / 0.25 / 0.5 / 0.75 / 1.
SENTENCE_WEIGHT = 0.5

#: Length, co-occurrence window and feature scale of the word vectors learned from the
#: training texts (:mod:`moderation.wordvectors`; 0 dimensions leaves them out). Chosen on the
#: validation slice and the held-out parts of the mild-insult templates (``data/README.md``,
#: "Word vectors"): with 100 / 4 / 1 held-out insult ROC-AUC of sentences made only of
#: unseen insult words 0.661 -> 0.752, validation threat 0.752 -> 0.776, severe 0.944 -> 0.956,
#: toxicity 0.918 -> 0.916.
WORD_VECTOR_DIM = 100
WORD_VECTOR_WINDOW = 4
WORD_VECTOR_SCALE = 1.0

#: Redistributable sources that are evaluated but not fitted. Every whole toxic-spans post is
#: toxic (pre-selected), so fitting them taught news/political vocabulary as toxicity (C3
#: toxicity ROC-AUC 0.684 with them vs 0.750 without); their sentences
#: (``toxic-spans-sentences``) are fitted instead, and the posts' test split measures how the
#: sentence-aware scores rank whole posts.
NOT_FITTED = frozenset({"toxic-spans-civil"})

#: Sentence-level sources: excluded from the off-topic scorer's background texts.
SENTENCE_SOURCES = frozenset({"toxic-spans-sentences"})

#: Sample weight of each neutral identity-mention sentence
#: (:func:`moderation.corpus.identity_neutral_sentences`) added to the fitted rows to mitigate
#: identity-term bias; 0 turns the mitigation off. See ``data/README.md`` for the measurements.
IDENTITY_NEUTRAL_WEIGHT = 1.0

#: Whether each identity term's neutral sentences are weighted up to balance the term's toxic
#: rate in the fitted rows (:func:`identity_balance_weights`).
IDENTITY_BALANCE = True

#: Labels whose rate per identity term the neutral sentences balance; each term gets the
#: largest weight any of them needs. identity_attack too: without it the default rules sent
#: 187 of 38,282 nontoxic bias-template phrases ("I am muslim") to review as identity attacks,
#: with it 8, for -0.005 held-out identity_attack ROC-AUC (data/README.md).
IDENTITY_BALANCE_LABELS: tuple[str, ...] = (schema.TOXICITY, schema.IDENTITY_ATTACK)

#: Sample weight of each threat / group-derogation / hard-negative sentence
#: (:func:`moderation.corpus.hostile_template_sentences`) added to the fitted rows; 0 leaves
#: them out. Chosen on held-out templates and the validation slice: 0.3 / 1 / 3 raise held-out
#: template threat ROC-AUC 0.790 -> 0.901 / 0.906 / 0.908 while validation threat ROC-AUC falls
#: 0.760 -> 0.752 / 0.747 / 0.741 (``data/README.md``).
HOSTILE_TEMPLATE_WEIGHT = 0.3

#: Multiplier of :data:`HOSTILE_TEMPLATE_WEIGHT` per template family (others 1): the
#: person-praise hard negatives are few next to the "you are a ..." insults of the training
#: data, so they weigh more (``data/README.md``). The hard negatives of the mild person-directed
#: insults (civil disagreement with a claim or a person, the insult words about things) weigh
#: x 3 and the insults x 1: chosen on the validation slice and held-out template parts
#: (template-split harness: validation insult ROC-AUC 0.9080 -> 0.9118, toxicity 0.9182 ->
#: 0.9181; all x 1: 0.9110 / 0.9181; x 3 / x 10 cost Ruddit and toxic-spans toxicity;
#: ``data/README.md``, "Mild insults at a person").
HOSTILE_FAMILY_WEIGHTS: dict[str, float] = {
    "person-praise": 10.0,
    "third-person-praise": 10.0,
    "person-praise-adjective": 10.0,
    "agreement": 10.0,
    "claim-disagreement": 3.0,
    "person-disagreement": 3.0,
    "insult-word-benign": 3.0,
    # Implicit group derogation (contempt, stereotypes, "place", refusal, conspiracy, removal)
    # x 0.3 and its largest hard negative, the bare negated derogations, x 0.3; the other hard
    # negatives x 1. Chosen on the validation slice: at x 1 validation identity_attack
    # ROC-AUC fell 0.8117 -> 0.8037, at this mix 0.8065 (held-out template parts 0.568 ->
    # 0.748; ``data/README.md``, "Implicit derogation of groups").
    "group-contempt": 0.3,
    "group-stereotype": 0.3,
    "group-place": 0.3,
    "group-refusal": 0.3,
    "group-conspiracy": 0.3,
    "group-removal": 0.3,
    "negated-derogation": 0.3,
}

#: Labels whose classifiers do not see identity-term n-grams (:func:`moderation.model.term_columns`
#: of :data:`BLIND_TERMS`): naming a group can neither raise nor lower them, the words around
#: the name must do it. ``identity_attack`` keeps them: it is about who is attacked.
BLIND_LABELS: tuple[str, ...] = tuple(
    label for label in schema.LABELS if label != schema.IDENTITY_ATTACK
)

#: Identity words blinded for :data:`BLIND_LABELS`: the neutral-sentence terms plus nouns
#: that name groups without an adjective form in that list.
BLIND_TERMS: tuple[str, ...] = (*IDENTITY_TERMS, "jew", "woman", "women")

#: Sample weight of the counterfactual copies (:func:`counterfactual_rows`); 0 leaves them out.
COUNTERFACTUAL_WEIGHT = 0.0

#: Target precisions for :func:`thresholds_at_precision` (0.6 for ``review``-class rules, 0.8
#: for ``hold``-class rules).
PRECISION_TARGETS = (0.6, 0.8)


# --------------------------------------------------------------------------- metrics

#: Identity-term bias test sets (CC BY 4.0): file -> (text column, label column, toxic value).
_BIAS_SETS = {
    "toxicity_nonfuzzed_testset.csv": ("comment", "toxic", True),
    "toxicity_fuzzed_testset.csv": ("comment", "toxic", True),
    "en_sentence_templates.csv": ("phrase", "toxicity", "toxic"),
}


#: Key of the per-label macro average in a metrics block.
MACRO = "mean over sources"


def _macro_average(block: Mapping[str, Mapping[str, Mapping[str, Any]]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for label in schema.LABELS:
        rows = [labels[label] for labels in block.values() if label in labels]
        if not rows:
            continue
        entry: dict[str, Any] = {}
        for key in ("roc_auc", "pr_auc", "f1"):
            values = [r[key] for r in rows if r[key] is not None]
            entry[key] = round(float(np.mean(values)), 4) if values else None
        entry["n"] = int(sum(r["n"] for r in rows))
        entry["positives"] = int(sum(r["positives"] for r in rows))
        out[label] = entry
    return out


def binary_metrics(y_true: np.ndarray, score: np.ndarray, threshold: float) -> dict[str, Any]:
    """ROC-AUC, PR-AUC (average precision), F1 at ``threshold``, n and positives.

    AUCs are ``None`` when only one class is present (they are undefined there).
    """
    y = np.asarray(y_true, dtype=np.float64) >= 0.5
    s = np.asarray(score, dtype=np.float64)
    both = 0 < y.sum() < len(y)
    return {
        "roc_auc": round(float(roc_auc_score(y, s)), 4) if both else None,
        "pr_auc": round(float(average_precision_score(y, s)), 4) if both else None,
        "f1": round(float(f1_score(y, s >= threshold, zero_division=0)), 4),
        "n": len(y),
        "positives": int(y.sum()),
    }


def evaluate_predictions(
    frame: pd.DataFrame, scores: pd.DataFrame, thresholds: Mapping[str, float]
) -> dict[str, dict[str, dict[str, Any]]]:
    """Per source and label metrics for rows of ``frame`` (corpus rows) scored in ``scores``.

    With more than one source, adds a ``"mean over sources"`` entry per label: the unweighted
    mean of the per-source metrics (pooling rows instead would let the largest source, with
    its own base rate, dominate). Labels a source does not annotate (all NaN) are omitted.
    """
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for name, group in frame.groupby("source", sort=True):
        per_label: dict[str, dict[str, Any]] = {}
        for label in schema.LABELS:
            known = group[label].notna().to_numpy()
            if not known.any():
                continue
            index = group.index[known]
            per_label[label] = binary_metrics(
                group.loc[index, label].to_numpy(),
                scores.loc[index, label].to_numpy(),
                float(thresholds.get(label, 0.5)),
            )
        if per_label:
            out[str(name)] = per_label
    if len(out) > 1:
        out[MACRO] = _macro_average(out)
    return out


def _olid_subtask_a(test: pd.DataFrame, scores: pd.DataFrame, threshold: float) -> dict[str, Any]:
    rows = test.index[test["source"] == "olid"]
    if len(rows) == 0:
        return {}
    y = test.loc[rows, schema.TOXICITY].to_numpy() >= 0.5
    s = scores.loc[rows, schema.TOXICITY].to_numpy()
    return {
        "macro_f1": round(float(f1_score(y, s >= threshold, average="macro")), 4),
        "roc_auc": round(float(roc_auc_score(y, s)), 4),
        "threshold": round(threshold, 4),
        "n": len(rows),
        "note": "official test set (860 tweets); OFF vs NOT from toxicity at the manifest "
        "threshold, which was chosen on training-source validation rows",
    }


def _bias_sets(model: Any, datasets_dir: Path) -> dict[str, Any]:
    folder = datasets_dir / "identity-bias-templates"
    out: dict[str, Any] = {}
    for name, (text_col, label_col, positive) in _BIAS_SETS.items():
        path = folder / f"{name}.gz"
        if not path.is_file():
            continue
        frame = pd.read_csv(path)
        y = (frame[label_col] == positive).to_numpy()
        s = model.predict(frame[text_col].astype(str).tolist())[schema.TOXICITY].to_numpy()
        out[name.removesuffix(".csv")] = {
            "roc_auc": round(float(roc_auc_score(y, s)), 4),
            "n": len(y),
            "positives": int(y.sum()),
        }
    return out


#: The identity-term template set scored per identity (Borkan et al. 2019 metrics), and the
#: word list that names the identities in it.
TEMPLATES = "en_sentence_templates.csv"
TEMPLATE_IDENTITIES = "bias_madlibs_wordlists/adjectives_people.txt"
#: Power of the generalised mean in the Jigsaw bias metric, and the weight of each part.
BIAS_POWER = -5.0
BIAS_WEIGHT = 0.25
#: Targets of issue 3 for every identity.
SUBGROUP_AUC_TARGET = 0.95
BPSN_AUC_TARGET = 0.90


def _auc(y: np.ndarray, s: np.ndarray) -> float | None:
    if len(y) == 0 or y.all() or not y.any():
        return None
    return float(roc_auc_score(y, s))


def bias_aucs(y: np.ndarray, score: np.ndarray, in_subgroup: np.ndarray) -> dict[str, Any]:
    """Subgroup, BPSN and BNSP ROC-AUC of one identity subgroup (Borkan et al. 2019).

    - Subgroup AUC: only the examples that mention the identity.
    - BPSN (background positive, subgroup negative): the subgroup's non-toxic examples and the
      toxic examples that do not mention it. Low when neutral mentions outscore real abuse.
    - BNSP (background negative, subgroup positive): the subgroup's toxic examples and the
      non-toxic examples that do not mention it. Low when abuse of the group scores low.

    AUCs are ``None`` where one class is missing.
    """
    y = np.asarray(y, dtype=bool)
    s = np.asarray(score, dtype=np.float64)
    sub = np.asarray(in_subgroup, dtype=bool)
    bpsn = (sub & ~y) | (~sub & y)
    bnsp = (sub & y) | (~sub & ~y)
    return {
        "subgroup_auc": _auc(y[sub], s[sub]),
        "bpsn_auc": _auc(y[bpsn], s[bpsn]),
        "bnsp_auc": _auc(y[bnsp], s[bnsp]),
        "n": int(sub.sum()),
        "positives": int((sub & y).sum()),
    }


def generalized_mean(values: Sequence[float], p: float = BIAS_POWER) -> float:
    """Power mean ``(mean(v ** p)) ** (1 / p)``; with p = -5 it is dominated by the worst value."""
    v = np.asarray(values, dtype=np.float64)
    if p < 0 and (v <= 0).any():
        return 0.0  # the limit: one AUC of 0 makes the mean 0
    return float(np.mean(v**p) ** (1.0 / p))


def _identity_pattern(terms: Sequence[str]) -> re.Pattern[str]:
    ordered = sorted({t.strip().lower() for t in terms if t.strip()}, key=len, reverse=True)
    return re.compile(r"\b(" + "|".join(map(re.escape, ordered)) + r")\b", re.IGNORECASE)


def template_identities(phrases: Sequence[str], terms: Sequence[str]) -> list[str | None]:
    """The identity term each template phrase mentions (the longest match), or None.

    "african american" wins over "american", "middle aged" over "middle".
    """
    pattern = _identity_pattern(terms)
    out: list[str | None] = []
    for phrase in phrases:
        found = [m.group(1).lower() for m in pattern.finditer(phrase)]
        out.append(max(found, key=len) if found else None)
    return out


def identity_template_bias(model: Any, datasets_dir: Path) -> dict[str, Any]:
    """Borkan et al. (2019) bias metrics of ``toxicity`` on the identity-term sentence templates.

    Each template phrase ("<name> is a <adjective> <identity>", "Being <identity> is
    <adjective>", ...) is assigned the identity term it mentions (from the set's own identity
    word list); phrases naming no identity (the occupation templates) are background for every
    subgroup. The final score is the Jigsaw Unintended Bias metric:
    ``0.25 * overall AUC + 0.25 * M(subgroup) + 0.25 * M(BPSN) + 0.25 * M(BNSP)`` with ``M`` the
    generalised mean with p = -5 over identities.

    Returns
    -------
    dict
        ``{}`` if the templates are absent; else ``overall_auc``, ``final_metric``, the three
        generalised means, ``per_identity`` (term -> AUCs), the worst identities and whether
        the issue's targets (Subgroup AUC >= 0.95, BPSN >= 0.90 for every identity) are met.
    """
    folder = Path(datasets_dir) / "identity-bias-templates"
    found = [p for p in (folder / f"{TEMPLATES}.gz", folder / TEMPLATES) if p.is_file()]
    words = folder / TEMPLATE_IDENTITIES
    if not found or not words.is_file():
        return {}
    frame = pd.read_csv(found[0])
    phrases = frame["phrase"].astype(str).tolist()
    terms = [t for t in words.read_text(encoding="utf-8").splitlines() if t.strip()]
    identity = np.array(template_identities(phrases, terms), dtype=object)
    y = (frame["toxicity"] == "toxic").to_numpy()
    s = model.predict(phrases)[schema.TOXICITY].to_numpy()
    per: dict[str, dict[str, Any]] = {}
    for term in sorted({t for t in identity if t is not None}):
        per[term] = {
            k: round(v, 4) if isinstance(v, float) else v
            for k, v in bias_aucs(y, s, identity == term).items()
        }
    overall = float(roc_auc_score(y, s))
    means = {
        f"{key}_power_mean": round(
            generalized_mean([m[key] for m in per.values() if m[key] is not None]), 4
        )
        for key in ("subgroup_auc", "bpsn_auc", "bnsp_auc")
    }
    final = BIAS_WEIGHT * overall + BIAS_WEIGHT * sum(means.values())

    def worst(key: str) -> list[list[Any]]:
        ranked = sorted(per.items(), key=lambda kv: kv[1][key])
        return [[term, m[key]] for term, m in ranked[:5]]

    return {
        "templates": TEMPLATES.removesuffix(".csv"),
        "n": len(y),
        "identities": len(per),
        "overall_auc": round(overall, 4),
        **means,
        "final_metric": round(final, 4),
        "worst_subgroup_auc": worst("subgroup_auc"),
        "worst_bpsn_auc": worst("bpsn_auc"),
        "worst_bnsp_auc": worst("bnsp_auc"),
        "identities_below_subgroup_target": sum(
            m["subgroup_auc"] < SUBGROUP_AUC_TARGET for m in per.values()
        ),
        "identities_below_bpsn_target": sum(m["bpsn_auc"] < BPSN_AUC_TARGET for m in per.values()),
        "per_identity": per,
    }


def span_f1(truth: set[int], predicted: set[int]) -> float:
    """SemEval-2021 Task 5 per-post F1 of character offsets (1 when both are empty)."""
    if not truth or not predicted:
        return float(truth == predicted)
    hit = len(truth & predicted)
    return 2 * hit / (len(truth) + len(predicted))


def _span_bounds(span: Any) -> tuple[int, int]:
    """``(begin, end)`` of a span given as a mapping, an object or a tuple."""
    if isinstance(span, Mapping):
        return int(span["begin"]), int(span["end"])
    if hasattr(span, "begin"):
        return int(span.begin), int(span.end)
    return int(span[0]), int(span[1])


def model_span_offsets(
    model: Any, texts: Sequence[str], label: str, threshold: float
) -> list[set[int]] | None:
    """Character offsets of the word-level spans the model flags for ``label`` in each text.

    Uses ``model.spans_batch(texts, label, threshold)`` (one list of spans per text, each with
    ``begin``/``end``) when the model has it; None otherwise.
    """
    method = getattr(model, "spans_batch", None)
    if not callable(method):
        return None
    found = method(list(texts), label, threshold)
    return [{i for span in spans for i in range(*_span_bounds(span))} for spans in found]


def _toxic_spans_test(model: Any, datasets_dir: Path, threshold: float) -> dict[str, Any]:
    """Scores on the official SemEval-2021 Task 5 toxic-spans test set (never trained on).

    Each post is cut into sentences; a sentence is toxic when it overlaps the gold span
    offsets. Reports the sentence toxicity ROC-AUC and the task's span F1 (mean per-post F1 of
    character offsets) when the predicted span is every sentence scoring at least the toxicity
    threshold -- sentence granularity, so precision is bounded by the civil words around an
    insult. If the model has a ``spans_batch`` method (word-level character spans of offending
    text), the official span F1 of its spans is reported as ``span_f1``.
    """
    folder = datasets_dir / "toxic-spans-civil"
    found = [p for p in (folder / f"{TSD_TEST}.gz", folder / TSD_TEST) if p.is_file()]
    if not found:
        return {}
    frame = pd.read_csv(found[0])
    texts = frame["text"].astype(str).tolist()
    posts: list[tuple[set[int], list[tuple[int, int]]]] = []
    sentences: list[str] = []
    gold: list[bool] = []
    for text, spans in zip(texts, frame["spans"].astype(str), strict=True):
        offsets = split_sentences(text)
        truth = {int(i) for i in json.loads(spans)}
        posts.append((truth, offsets))
        sentences.extend(text[a:b] for a, b in offsets)
        gold.extend(any(a <= i < b for i in truth) for a, b in offsets)
    scores = model.predict(sentences)[schema.TOXICITY].to_numpy()
    f1s: list[float] = []
    k = 0
    for truth, offsets in posts:
        predicted = {
            i for j, (a, b) in enumerate(offsets) if scores[k + j] >= threshold for i in range(a, b)
        }
        k += len(offsets)
        f1s.append(span_f1(truth, predicted))
    y = np.asarray(gold)
    out: dict[str, Any] = {
        "sentence_roc_auc": round(float(roc_auc_score(y, scores)), 4),
        "sentence_pr_auc": round(float(average_precision_score(y, scores)), 4),
        "sentences": len(y),
        "toxic_sentences": int(y.sum()),
        "span_f1_sentence_granularity": round(float(np.mean(f1s)), 4),
        "posts": len(posts),
        "threshold": round(threshold, 4),
    }
    predicted_spans = model_span_offsets(model, texts, schema.TOXICITY, threshold)
    if predicted_spans is not None:
        pairs = zip(posts, predicted_spans, strict=True)
        out["span_f1"] = round(float(np.mean([span_f1(t, p) for (t, _), p in pairs])), 4)
        out["span_method"] = "model.spans_batch (word level) at the toxicity threshold"
    return out


def evaluate_model(
    model: Any,
    corpus: pd.DataFrame,
    thresholds: Mapping[str, float],
    trained_sources: Sequence[str],
    datasets_dir: Path | None = None,
) -> dict[str, Any]:
    """Metrics of ``model`` on the ``test`` rows of ``corpus``.

    Parameters
    ----------
    model
        Anything with ``predict(texts) -> DataFrame`` of label scores.
    corpus
        Output of :func:`moderation.corpus.load_corpus`.
    thresholds
        Per-label decision thresholds (from the manifest).
    trained_sources
        Sources the model was trained on: their test rows are "held-out"; every other
        source's test rows are "cross-domain".
    datasets_dir
        If given, the identity-term bias test sets found there are scored too.

    Returns
    -------
    dict
        ``{"heldout": ..., "cross_domain": ..., "olid_subtask_a": ..., "long_text_insults":
        ..., "identity_bias": ..., "toxic_spans_test": ..., "obfuscation": ...}`` (the last
        three only with ``datasets_dir``; see :mod:`moderation.robustness`).
    """
    test = corpus[corpus["split"] == "test"].reset_index(drop=True)
    scores = model.predict(test["text"].tolist())
    trained = test["source"].isin(list(trained_sources))
    report: dict[str, Any] = {
        "heldout": evaluate_predictions(test[trained], scores, thresholds),
        "cross_domain": evaluate_predictions(test[~trained], scores, thresholds),
        "calibration": calibration_metrics(
            test[trained & ~test["source"].isin(list(NOT_FITTED))],
            scores[(trained & ~test["source"].isin(list(NOT_FITTED))).to_numpy()],
        ),
    }
    if "olid" not in trained_sources:
        report["olid_subtask_a"] = _olid_subtask_a(
            test, scores, float(thresholds.get(schema.TOXICITY, 0.5))
        )
    if datasets_dir is not None:
        report["identity_bias"] = _bias_sets(model, Path(datasets_dir))
        templates = identity_template_bias(model, Path(datasets_dir))
        if templates:
            report["identity_templates"] = templates
        spans = _toxic_spans_test(
            model, Path(datasets_dir), float(thresholds.get(schema.TOXICITY, 0.5))
        )
        if spans:
            report["toxic_spans_test"] = spans
        evasion = obfuscation_robustness(
            model,
            corpus,
            Path(datasets_dir),
            float(thresholds.get(schema.TOXICITY, 0.5)),
            trained_sources,
        )
        if evasion:
            report["obfuscation"] = evasion
    dilution = long_text_insults(model, corpus, thresholds, trained_sources)
    if dilution:
        report["long_text_insults"] = dilution
    return report


def _fmt(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def metrics_table(block: Mapping[str, Mapping[str, Mapping[str, Any]]]) -> str:
    """Markdown table: one row per source x label."""
    lines = [
        "| source | label | ROC-AUC | PR-AUC | F1 @ threshold | n | positives |",
        "|---|---|---|---|---|---|---|",
    ]
    for source, labels in block.items():
        for label, m in labels.items():
            lines.append(
                f"| {source} | {label} | {_fmt(m['roc_auc'])} | {_fmt(m['pr_auc'])} | "
                f"{_fmt(m['f1'])} | {m['n']} | {m['positives']} |"
            )
    return "\n".join(lines)


def choose_thresholds(labels: pd.DataFrame, scores: pd.DataFrame) -> dict[str, float]:
    """Per label, the score threshold that maximises F1 on the given (validation) rows.

    Labels without both classes among the known rows get 0.5.
    """
    out: dict[str, float] = {}
    for label in schema.LABELS:
        known = labels[label].notna().to_numpy()
        y = labels[label].to_numpy()[known] >= 0.5
        if known.sum() == 0 or y.all() or not y.any():
            out[label] = 0.5
            continue
        precision, recall, cuts = precision_recall_curve(y, scores[label].to_numpy()[known])
        f1 = 2 * precision * recall / np.maximum(precision + recall, 1e-12)
        best = int(np.argmax(f1[:-1]))
        out[label] = round(float(cuts[best]), 4)
    return out


def known_rows(
    labels: pd.DataFrame, scores: pd.DataFrame, label: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Truth, scores and weights of the rows that know ``label``.

    With a ``source`` column every source weighs the same in total (each row ``1 / rows of its
    source``), so one large source with its own base rate does not set the precision.
    """
    known = labels[label].notna().to_numpy()
    y = labels[label].to_numpy()[known] >= 0.5
    s = scores[label].to_numpy(dtype=np.float64)[known]
    if "source" not in labels:
        return y, s, np.ones(len(y))
    source = labels["source"].to_numpy()[known]
    _, inverse, counts = np.unique(source, return_inverse=True, return_counts=True)
    return y, s, 1.0 / counts[inverse]


def _weighted_pr(
    y: np.ndarray, hit: np.ndarray, w: np.ndarray
) -> tuple[float | None, float | None]:
    flagged = float(w[hit].sum())
    positives = float(w[y].sum())
    tp = float(w[hit & y].sum())
    return (tp / flagged if flagged else None, tp / positives if positives else None)


def thresholds_at_precision(
    labels: pd.DataFrame,
    scores: pd.DataFrame,
    targets: Sequence[float] = PRECISION_TARGETS,
) -> dict[str, dict[str, dict[str, Any]]]:
    """Per label and target precision, the lowest threshold whose precision reaches the target.

    Among the thresholds where ``precision(score >= t) >= target`` on the given (validation)
    rows, the one with the highest recall. A target no threshold reaches gets ``threshold``
    ``None`` (the label cannot be used at that precision). If ``labels`` has a ``source``
    column, precision and recall are source-balanced: every source weighs the same.

    Returns
    -------
    dict
        ``{label: {"0.8": {"threshold", "precision", "recall", "flagged", "n", "positives"}}}``
        with target keys formatted as ``f"{target:g}"``.
    """
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for label in schema.LABELS:
        y, s, w = known_rows(labels, scores, label)
        entry: dict[str, dict[str, Any]] = {}
        for target in targets:
            found: dict[str, Any] = {"threshold": None, "precision": None, "recall": None}
            if y.any() and not y.all():
                precision, recall, cuts = precision_recall_curve(y, s, sample_weight=w)
                ok = np.flatnonzero(precision[:-1] >= target)
                if ok.size:
                    best = int(ok[np.argmax(recall[ok])])
                    found = {
                        "threshold": round(float(cuts[best]), 4),
                        "precision": round(float(precision[best]), 4),
                        "recall": round(float(recall[best]), 4),
                    }
            found["flagged"] = (
                int((s >= found["threshold"]).sum()) if found["threshold"] is not None else 0
            )
            found["n"] = len(y)
            found["positives"] = int(y.sum())
            entry[f"{target:g}"] = found
        out[label] = entry
    return out


def precision_recall_at(
    labels: pd.DataFrame, scores: pd.DataFrame, thresholds: Mapping[str, float | None]
) -> dict[str, dict[str, Any]]:
    """Precision and recall of ``score >= threshold`` per label (``None`` thresholds skipped).

    Source-balanced like :func:`thresholds_at_precision` when ``labels`` has a ``source``
    column; ``by_source`` then gives each source's own precision and recall.
    """
    out: dict[str, dict[str, Any]] = {}
    for label, threshold in thresholds.items():
        if threshold is None or label not in labels:
            continue
        y, s, w = known_rows(labels, scores, label)
        hit = s >= threshold
        precision, recall = _weighted_pr(y, hit, w)
        entry: dict[str, Any] = {
            "threshold": threshold,
            "precision": None if precision is None else round(precision, 4),
            "recall": None if recall is None else round(recall, 4),
            "flagged": int(hit.sum()),
            "n": len(y),
            "positives": int(y.sum()),
        }
        if "source" in labels:
            known = labels[label].notna().to_numpy()
            source = labels["source"].to_numpy()[known]
            by_source: dict[str, Any] = {}
            for name in sorted(set(source)):
                m = source == name
                p, r = _weighted_pr(y[m], hit[m], np.ones(int(m.sum())))
                by_source[str(name)] = {
                    "precision": None if p is None else round(p, 4),
                    "recall": None if r is None else round(r, 4),
                    "n": int(m.sum()),
                    "positives": int(y[m].sum()),
                }
            entry["by_source"] = by_source
        out[label] = entry
    return out


@dataclass(frozen=True)
class TrainingRows:
    """The corpus cut the way :func:`train_bundle` fits, validates and evaluates."""

    fit: pd.DataFrame  # fitted (identity-neutral sentences are added by fit_hostility)
    validation: pd.DataFrame  # train-split rows kept out of fitting to choose thresholds
    background: list[str]  # comment-level fit texts for the off-topic scorer
    trained_sources: list[str]
    heldout_sources: list[str]  # sources whose test rows are held-out (not cross-domain)


def split_training_rows(
    corpus: pd.DataFrame,
    *,
    include_restricted: bool = False,
    exclude: Sequence[str] = (),
) -> TrainingRows:
    """Cut the corpus into fitting and validation rows (train split of usable sources).

    Parameters
    ----------
    corpus
        Output of :func:`moderation.corpus.load_corpus`.
    include_restricted
        Also use sources whose licence does not allow redistributing a model.
    exclude
        Sources to leave out entirely (leave-one-source-out evaluation).
    """
    usable = corpus["redistributable"] | include_restricted
    keep = (corpus["split"] == "train") & usable & ~corpus["source"].isin(list(exclude))
    candidates = corpus[keep].reset_index(drop=True)
    bucket = np.fromiter((stable_bucket(t) for t in candidates["group"]), dtype=np.int64)
    in_val = np.isin(bucket, np.asarray(VALIDATION_BUCKETS))
    # Off-topic background: comment-level training texts (as before sentences were added).
    background = candidates.loc[
        ~in_val & ~candidates["source"].isin(list(SENTENCE_SOURCES)), "text"
    ].tolist()
    fitted = ~candidates["source"].isin(list(NOT_FITTED)).to_numpy()
    train_rows = candidates[fitted].reset_index(drop=True)
    is_val = in_val[fitted]
    trained = sorted(train_rows["source"].unique())
    return TrainingRows(
        fit=train_rows[~is_val].reset_index(drop=True),
        validation=train_rows[is_val].reset_index(drop=True),
        background=background,
        trained_sources=trained,
        heldout_sources=sorted({*trained, *(set(candidates["source"]) & NOT_FITTED)}),
    )


def identity_balance_weights(
    fit_rows: pd.DataFrame,
    terms: Sequence[str],
    frames: int,
    weight: float,
    label: str = schema.TOXICITY,
) -> dict[str, float]:
    """Per identity term, the weight of each of its neutral sentences (Dixon et al. 2018).

    Balancing as in "Measuring and Mitigating Unintended Bias in Text Classification": a term
    that appears in toxic training texts more often than the overall toxic rate gets enough
    weighted neutral sentences to bring its toxic rate down to that rate. With ``n`` known
    texts mentioning the term, ``k`` of them toxic, and overall rate ``r``, the neutral weight
    needed is ``k / r - n``, shared by the term's ``frames`` sentences; every term gets at
    least ``weight`` per sentence. ``label`` is the label whose rate is balanced.
    """
    known = fit_rows[fit_rows[label].notna()]
    toxic = (known[label] >= 0.5).to_numpy()
    rate = float(toxic.mean()) if len(toxic) else 0.0
    lowered = known["text"].str.lower()
    out: dict[str, float] = {}
    for term in terms:
        if rate <= 0:
            out[term] = weight
            continue
        mentions = lowered.str.contains(rf"\b{re.escape(term)}\b", regex=True).to_numpy()
        needed = toxic[mentions].sum() / rate - mentions.sum()
        out[term] = weight * max(1.0, float(needed) / frames)
    return out


def counterfactual_rows(
    fit_rows: pd.DataFrame, terms: Sequence[str], *, seed: int = 0
) -> pd.DataFrame:
    """Copies of the rows that mention an identity term, each mention swapped for another term.

    Counterfactual data augmentation (Dixon et al. 2018; Garg et al. 2019): the copy keeps
    the row's labels, so an abusive sentence about one group teaches the same about a random
    other group and no single group's name carries the toxicity of the texts that mention it.
    Replacements are drawn with a generator seeded by ``seed`` (deterministic).
    """
    pattern = _identity_pattern(terms)
    pool = sorted({t.strip().lower() for t in terms if t.strip()})
    rng = np.random.default_rng(seed)
    mentions = np.fromiter(
        (pattern.search(t) is not None for t in fit_rows["text"]), dtype=bool, count=len(fit_rows)
    )
    out = fit_rows[mentions].copy()

    def swap(match: re.Match[str]) -> str:
        found = match.group(1).lower()
        choice = pool[int(rng.integers(len(pool)))]
        return pool[(pool.index(choice) + 1) % len(pool)] if choice == found else choice

    out["text"] = [pattern.sub(swap, text) for text in out["text"]]
    return out.reset_index(drop=True)


def fit_hostility(
    fit_rows: pd.DataFrame,
    *,
    seed: int = 0,
    identity_neutral_weight: float = IDENTITY_NEUTRAL_WEIGHT,
    identity_balance: bool = IDENTITY_BALANCE,
    identity_balance_labels: Sequence[str] = IDENTITY_BALANCE_LABELS,
    blind_labels: Sequence[str] = BLIND_LABELS,
    config: FeatureConfig | None = None,
    C: float | dict[str, float] = DEFAULT_C,
    counterfactual_weight: float = COUNTERFACTUAL_WEIGHT,
    hostile_template_weight: float = HOSTILE_TEMPLATE_WEIGHT,
    hostile_templates: pd.DataFrame | None = None,
    hostile_family_weights: Mapping[str, float] = HOSTILE_FAMILY_WEIGHTS,
    word_vectors: int = WORD_VECTOR_DIM,
    unlabelled: Sequence[str] | None = None,
) -> HostilityModel:
    """Fit the shipped recipe's hostility model on ``fit_rows``.

    Adds the neutral identity-mention sentences
    (:func:`moderation.corpus.identity_neutral_sentences`) with ``identity_neutral_weight``
    (0 leaves them out) to mitigate identity-term bias; with ``identity_balance`` each term's
    sentences are weighted up to balance its toxic rate (:func:`identity_balance_weights`).
    The ``blind_labels`` classifiers are fitted without the n-grams of :data:`BLIND_TERMS`
    (:func:`moderation.model.term_columns`); ``counterfactual_weight`` > 0 adds
    :func:`counterfactual_rows` copies (measured and left off, see ``data/README.md``).
    ``hostile_template_weight`` > 0 adds the threat / group-derogation sentences
    (``hostile_templates``, by default every :func:`moderation.corpus.hostile_template_sentences`;
    experiments pass the ``"train"`` part to measure on held-out templates), each row's weight
    multiplied by ``hostile_family_weights`` of its ``family`` (when that column is present).
    ``config`` and ``C`` override the shipped features and regularisation (experiments).
    ``word_vectors`` > 0 learns word vectors of that length (:mod:`moderation.wordvectors`)
    from ``unlabelled`` texts, by default the texts of ``fit_rows`` (never the generated
    sentences, whose co-occurrences were written by us).
    """
    rows = fit_rows
    weights = np.ones(len(rows))
    if identity_neutral_weight > 0:
        neutral = identity_neutral_sentences()
        terms = [term for _ in IDENTITY_FRAMES for term in IDENTITY_TERMS]
        per_term = dict.fromkeys(IDENTITY_TERMS, identity_neutral_weight)
        if identity_balance:
            for label in identity_balance_labels:
                needed = identity_balance_weights(
                    fit_rows, IDENTITY_TERMS, len(IDENTITY_FRAMES), identity_neutral_weight, label
                )
                per_term = {t: max(per_term[t], needed[t]) for t in IDENTITY_TERMS}
        rows = pd.concat([fit_rows, neutral], ignore_index=True)
        weights = np.concatenate([weights, [per_term[t] for t in terms]])
    if counterfactual_weight > 0:
        swapped = counterfactual_rows(fit_rows, IDENTITY_TERMS, seed=seed)
        rows = pd.concat([rows, swapped], ignore_index=True)
        weights = np.concatenate([weights, np.full(len(swapped), counterfactual_weight)])
    if hostile_template_weight > 0:
        hostile = (
            hostile_template_sentences(with_family=True)
            if hostile_templates is None
            else hostile_templates
        )
        scale = np.full(len(hostile), hostile_template_weight)
        if "family" in hostile:
            scale *= hostile["family"].map(dict(hostile_family_weights)).fillna(1.0).to_numpy()
            hostile = hostile.drop(columns="family")
        rows = pd.concat([rows, hostile], ignore_index=True)
        weights = np.concatenate([weights, scale])
    model = HostilityModel(
        config or FeatureConfig(),
        C=C,
        sentence_weight=SENTENCE_WEIGHT,
        blind_terms=BLIND_TERMS if blind_labels else (),
        blind_labels=blind_labels,
        word_vectors=word_vectors,
        word_vector_window=WORD_VECTOR_WINDOW,
        word_vector_scale=WORD_VECTOR_SCALE,
    )
    texts = fit_rows["text"].tolist() if unlabelled is None else list(unlabelled)
    model.fit(rows, seed=seed, sample_weight=weights, unlabelled=texts)
    return model


CALIBRATION_METHOD = (
    "per label, an isotonic map from the raw score to the observed rate, fitted on the "
    "validation rows (never fitted by the classifiers) and kept only when cross-fitting on "
    "those rows (two halves by thread hash, each calibrated by the map of the other) lowers the "
    "Brier score; knots at the centre of each isotonic block, so the map is strictly increasing "
    "where the rate changes and rankings are kept. Calibrated to the validation mix of sources: "
    "on a community with a different base rate, scores are still ordered right but their level "
    "shifts"
)


def fit_calibration(
    validation: pd.DataFrame, scores: pd.DataFrame
) -> tuple[dict[str, Calibration], dict[str, Any]]:
    """Per-label isotonic maps chosen on the validation rows (:func:`choose_calibration`)."""
    folds = np.fromiter(
        (stable_bucket(f"calibration:{g}") % 2 for g in validation["group"]), dtype=np.int64
    )
    maps: dict[str, Calibration] = {}
    report: dict[str, Any] = {}
    for label in schema.LABELS:
        known = validation[label].notna().to_numpy()
        y = (validation[label].to_numpy()[known] >= 0.5).astype(np.float64)
        found, report[label] = choose_calibration(y, scores[label].to_numpy()[known], folds[known])
        if found is not None:
            maps[label] = found
    return maps, report


def calibrate(
    model: HostilityModel, validation: pd.DataFrame
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Fit ``model``'s calibration maps on ``validation`` and return its calibrated scores there.

    Sets ``model.calibration_`` (applied by every later ``predict``); returns the validation
    scores after calibration (to choose thresholds on) and the per-label choice report.
    """
    raw = model.predict(validation["text"].tolist())
    model.calibration_, report = fit_calibration(validation, raw)
    calibrated = apply_calibration(raw.to_numpy(), model.labels, model.calibration_)
    return pd.DataFrame(calibrated, columns=raw.columns), report


def calibration_metrics(test: pd.DataFrame, scores: pd.DataFrame) -> dict[str, Any]:
    """Per label, expected calibration error and Brier score on the (held-out) ``test`` rows."""
    out: dict[str, Any] = {}
    for label in schema.LABELS:
        known = test[label].notna().to_numpy()
        if not known.any():
            continue
        y = (test[label].to_numpy()[known] >= 0.5).astype(np.float64)
        p = scores[label].to_numpy()[known]
        out[label] = {
            "n": int(known.sum()),
            "positive_rate": round(float(y.mean()), 4),
            "mean_score": round(float(p.mean()), 4),
            "ece": round(expected_calibration_error(y, p), 4),
            "brier": round(brier(y, p), 5),
        }
    return out


THRESHOLD_METHOD = (
    "per label, the score maximising F1 on validation rows: train-split rows of the training "
    f"sources whose text hash bucket is in {VALIDATION_BUCKETS.start}.."
    f"{VALIDATION_BUCKETS.stop - 1} of 0..99; these rows were not used for fitting"
)
AT_PRECISION_METHOD = (
    "per label and target precision, the lowest score threshold (highest recall) whose precision "
    "on the validation rows reaches the target, every training source weighing the same (so "
    "Davidson's 83 % toxic tweets do not set it); test_precision / test_recall are measured the "
    "same way at that threshold on the test rows of the training sources (whole toxic-spans "
    "posts, all toxic, excluded), test_by_source per source. Precision depends on how common "
    "the label is: on a comment section with fewer toxic comments than these rows (on average "
    "about 30 % toxic per source), expect lower precision at the same threshold"
)


def precision_thresholds(
    model: Any,
    rows: TrainingRows,
    corpus: pd.DataFrame,
    val_scores: pd.DataFrame | None = None,
    targets: Sequence[float] = PRECISION_TARGETS,
) -> dict[str, dict[str, dict[str, Any]]]:
    """Thresholds at target precisions on validation rows, checked on held-out test rows.

    Returns
    -------
    dict
        ``{label: {"0.8": {"threshold", "precision", "recall", ..., "test_precision",
        "test_recall", "test_flagged", "test_n", "test_positives"}}}``; the plain keys are
        measured on the validation rows the threshold was chosen on.
    """
    if val_scores is None:
        val_scores = model.predict(rows.validation["text"].tolist())
    chosen = thresholds_at_precision(rows.validation, val_scores, targets)
    pooled = list(set(rows.heldout_sources) - NOT_FITTED)
    test = corpus[(corpus["split"] == "test") & corpus["source"].isin(pooled)]
    test = test.reset_index(drop=True)
    test_scores = model.predict(test["text"].tolist())
    for key in (f"{t:g}" for t in targets):
        checked = precision_recall_at(
            test, test_scores, {label: chosen[label][key]["threshold"] for label in chosen}
        )
        for label, entry in chosen.items():
            got = checked.get(label, {})
            for field in ("precision", "recall", "flagged", "n", "positives", "by_source"):
                entry[key][f"test_{field}"] = got.get(field)
    return chosen


def _identity_neutral_summary() -> dict[str, Any]:
    neutral = identity_neutral_sentences()
    return {
        "licence": str(neutral["licence"].iloc[0]),
        "redistributable": True,
        "folder": None,
        "labels": {
            label: {"rows": len(neutral), "positives": 0}
            for label in schema.LABELS
            if neutral[label].notna().any()
        },
        "rows": len(neutral),
        "weight": IDENTITY_NEUTRAL_WEIGHT,
        "note": "neutral identity-mention sentences written for this project "
        "(moderation.corpus.identity_neutral_sentences); identity-term bias mitigation",
    }


def _hostile_templates_summary() -> dict[str, Any]:
    hostile = hostile_template_sentences()
    return {
        "licence": str(hostile["licence"].iloc[0]),
        "redistributable": True,
        "folder": None,
        "labels": label_counts(hostile),
        "rows": len(hostile),
        "weight": HOSTILE_TEMPLATE_WEIGHT,
        "family_weights": dict(HOSTILE_FAMILY_WEIGHTS),
        "note": "threats without swear words, group derogation and hard negatives (among them "
        "praise of a person and positive statements about groups) written for this project "
        "(moderation.corpus.hostile_template_sentences)",
    }


def label_counts(frame: pd.DataFrame) -> dict[str, dict[str, int]]:
    """Per hostility label the rows know: rows annotated and positives."""
    return {
        label: {
            "rows": int(frame[label].notna().sum()),
            "positives": int((frame[label] >= 0.5).sum()),
        }
        for label in schema.LABELS
        if frame[label].notna().any()
    }


def source_summary(frame: pd.DataFrame) -> dict[str, Any]:
    """Per corpus source: licence, labels annotated, rows (the manifest's ``sources``)."""
    out: dict[str, Any] = {}
    for name, group in frame.groupby("source", sort=True):
        source = SOURCES[str(name)]
        out[str(name)] = {
            "licence": source.licence,
            "redistributable": source.redistributable,
            "folder": source.folder,
            "labels": label_counts(group),
            "rows": len(group),
        }
    return out


def train_bundle(
    datasets_dir: Path,
    out_dir: Path,
    *,
    seed: int = 0,
    include_restricted: bool = False,
) -> Bundle:
    """Train the hostility model and off-topic scorer and write a bundle.

    Parameters
    ----------
    datasets_dir
        Folder with the labelled datasets (``../shared/datasets`` in a checkout).
    out_dir
        Bundle directory to write (replaced atomically if it exists).
    seed
        Random seed; the same seed and data give the same bundle.
    include_restricted
        Also train on sources whose licence does not allow redistributing a model
        (non-commercial, research-only, unlicensed). Such a bundle must not be shipped.

    Returns
    -------
    Bundle
        The written bundle, loaded back through :func:`moderation.bundle.load_bundle`.

    Raises
    ------
    TrainingError
        If the datasets are missing or leave no training rows.
    """

    started = time.monotonic()
    datasets_dir = Path(datasets_dir)
    corpus = load_corpus(datasets_dir)
    rows = split_training_rows(corpus, include_restricted=include_restricted)
    if rows.fit.empty:
        raise TrainingError(f"no training rows found under {datasets_dir}")
    logger.info(
        "training on %d rows (%d validation) from %s",
        len(rows.fit),
        len(rows.validation),
        ", ".join(rows.trained_sources),
    )
    # Word vectors also learn from the whole training posts that are not fitted (unlabelled use).
    unlabelled = list(dict.fromkeys([*rows.background, *rows.fit["text"].tolist()]))
    model = fit_hostility(rows.fit, seed=seed, unlabelled=unlabelled)
    pooled = corpus[
        (corpus["split"] == "test")
        & corpus["source"].isin(list(set(rows.heldout_sources) - NOT_FITTED))
    ].reset_index(drop=True)
    raw_test_calibration = calibration_metrics(pooled, model.predict(pooled["text"].tolist()))
    val_scores, calibration_choice = calibrate(model, rows.validation)
    thresholds = choose_thresholds(rows.validation, val_scores)
    metrics = evaluate_model(model, corpus, thresholds, rows.heldout_sources, datasets_dir)
    at_precision = precision_thresholds(model, rows, corpus, val_scores)

    off_topic = fit_off_topic(
        datasets_dir, rows.background, seed=seed, include_restricted=include_restricted
    )
    metrics["off_topic"] = getattr(off_topic, "metrics", {})
    elapsed = round(time.monotonic() - started, 1)

    test_rows = corpus[(corpus["split"] == "test") & corpus["source"].isin(rows.heldout_sources)]
    config = model.config
    sources = source_summary(rows.fit)
    if IDENTITY_NEUTRAL_WEIGHT > 0:
        sources[IDENTITY_NEUTRAL] = _identity_neutral_summary()
    if HOSTILE_TEMPLATE_WEIGHT > 0:
        sources[HOSTILE_TEMPLATES] = _hostile_templates_summary()
    manifest_extra: dict[str, Any] = {
        "thresholds": thresholds,
        "threshold_method": THRESHOLD_METHOD,
        "thresholds_at_precision": at_precision,
        "thresholds_at_precision_method": AT_PRECISION_METHOD,
        "calibration": {
            "method": CALIBRATION_METHOD,
            "validation": calibration_choice,
            "test_raw": raw_test_calibration,
        },
        "sources": sources,
        "heldout_sources": rows.heldout_sources,
        "heldout_rows": {str(k): int(v) for k, v in test_rows["source"].value_counts().items()},
        "training": {
            "seed": seed,
            "include_restricted": include_restricted,
            "fit_rows": len(rows.fit),
            "validation_rows": len(rows.validation),
            "features": {
                k: list(v) if isinstance(v, tuple) else v for k, v in asdict(config).items()
            },
            "C": model.C,
            "sentence_weight": SENTENCE_WEIGHT,
            "word_vectors": {
                "dim": WORD_VECTOR_DIM,
                "window": WORD_VECTOR_WINDOW,
                "scale": WORD_VECTOR_SCALE,
            },
            "identity_neutral_weight": IDENTITY_NEUTRAL_WEIGHT,
            "hostile_template_weight": HOSTILE_TEMPLATE_WEIGHT,
            "blind_labels": list(model.blind_labels),
            "blind_terms": list(model.blind_terms),
            "blind_min_chars": BLIND_MIN_CHARS,
            "blind_features": int(term_columns(model.features_, model.blind_terms).sum())
            if model.blind_terms
            else 0,
            "counterfactual_weight": COUNTERFACTUAL_WEIGHT,
            "not_fitted": sorted(NOT_FITTED),
            "n_features": len(next(iter(model.coef_.values()))),
            "seconds": elapsed,
        },
        "metrics": metrics,
    }
    card = render_card(out_dir.name, manifest_extra)
    save_bundle(
        out_dir, hostility=model, off_topic=off_topic, manifest_extra=manifest_extra, card=card
    )
    logger.info("trained %s in %.0f s", out_dir, time.monotonic() - started)
    return load_bundle(out_dir)


def _olid_line(metrics: Mapping[str, Any]) -> str:
    olid = metrics.get("olid_subtask_a") or {}
    if not olid:
        return ""
    return (
        f"\nOLID sub-task A official test (tweets, n={olid['n']}): macro-F1 "
        f"**{olid['macro_f1']:.3f}**, ROC-AUC {olid['roc_auc']:.3f} (OFF when toxicity >= "
        f"{olid['threshold']:.3f}, the manifest threshold). Anchors: TF-IDF+LR trained on OLID "
        "0.73, best BERT 0.829.\n"
    )


def _spans_line(metrics: Mapping[str, Any]) -> str:
    spans = metrics.get("toxic_spans_test") or {}
    if not spans:
        return ""
    return (
        f"\nSemEval-2021 Task 5 toxic-spans official test ({spans['posts']} posts, never "
        f"trained on), sentence level: toxicity ROC-AUC **{spans['sentence_roc_auc']:.3f}**, "
        f"PR-AUC {spans['sentence_pr_auc']:.3f} ({spans['toxic_sentences']} of "
        f"{spans['sentences']} sentences overlap a gold span). Span F1 with every sentence at "
        f"or above the toxicity threshold as the predicted span: "
        f"{spans['span_f1_sentence_granularity']:.3f} (sentence granularity; the task's best "
        "system, a token tagger, reached 0.708).\n"
    )


def _num(value: Any, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def precision_table(at_precision: Mapping[str, Mapping[str, Mapping[str, Any]]]) -> str:
    """Markdown table of the thresholds at target precision (validation, test, per source).

    A threshold whose test precision falls more than 0.1 below its target is marked *not
    confirmed*: the validation rows had too few positives to choose it reliably.
    """
    lines = [
        "| label | target precision | threshold | validation precision / recall "
        "| test precision / recall | test precision by source |",
        "|---|---|---|---|---|---|",
    ]
    for label, by_target in at_precision.items():
        for target, m in by_target.items():
            threshold = m.get("threshold")
            if threshold is None:
                lines.append(f"| {label} | {target} | unreachable | | | |")
                continue
            test_p = m.get("test_precision")
            shaky = test_p is not None and test_p < float(target) - 0.1
            note = " (*not confirmed on test*)" if shaky else ""
            sources = m.get("test_by_source") or {}
            per_source = ", ".join(
                f"{name} {_num(v.get('precision'), 2)}" for name, v in sources.items()
            )
            lines.append(
                f"| {label} | {target} | {_num(threshold)}{note} "
                f"| {_num(m.get('precision'))} / {_num(m.get('recall'))} "
                f"| {_num(test_p)} / {_num(m.get('test_recall'))} | {per_source} |"
            )
    return "\n".join(lines)


def identity_table(templates: Mapping[str, Any]) -> str:
    """Markdown table of Subgroup / BPSN / BNSP AUC per identity, worst BPSN first."""
    per = templates.get("per_identity", {})
    lines = [
        "| identity | Subgroup AUC | BPSN AUC | BNSP AUC | n |",
        "|---|---|---|---|---|",
    ]
    for term, m in sorted(per.items(), key=lambda kv: kv[1]["bpsn_auc"] or 0.0):
        flag = (
            " **below target**"
            if (m["subgroup_auc"] or 0) < SUBGROUP_AUC_TARGET
            or (m["bpsn_auc"] or 0) < BPSN_AUC_TARGET
            else ""
        )
        lines.append(
            f"| {term}{flag} | {_num(m['subgroup_auc'])} | {_num(m['bpsn_auc'])} "
            f"| {_num(m['bnsp_auc'])} | {m['n']} |"
        )
    return "\n".join(lines)


def identity_summary(templates: Mapping[str, Any]) -> str:
    """One paragraph: the Jigsaw bias metric, its parts and the identities below target."""
    if not templates:
        return "Identity-term templates not scored (datasets absent)."

    def worst(key: str) -> str:
        return ", ".join(f"{t} {v:.3f}" for t, v in templates[key])

    return (
        f"Identity-term sentence templates (`{templates['templates']}`, Dixon et al. 2018, "
        f"CC BY 4.0; n={templates['n']}, {templates['identities']} identities): Jigsaw bias "
        f"metric **{templates['final_metric']:.3f}** = 0.25 x overall AUC "
        f"{templates['overall_auc']:.3f} + 0.25 x each power mean (p = -5) of Subgroup AUC "
        f"{templates['subgroup_auc_power_mean']:.3f}, BPSN AUC "
        f"{templates['bpsn_auc_power_mean']:.3f}, BNSP AUC "
        f"{templates['bnsp_auc_power_mean']:.3f}. Identities below target (Subgroup AUC >= "
        f"{SUBGROUP_AUC_TARGET}, BPSN >= {BPSN_AUC_TARGET}): "
        f"{templates['identities_below_subgroup_target']} on Subgroup AUC, "
        f"{templates['identities_below_bpsn_target']} on BPSN. Worst Subgroup AUC: "
        f"{worst('worst_subgroup_auc')}; worst BPSN: {worst('worst_bpsn_auc')}; worst BNSP: "
        f"{worst('worst_bnsp_auc')}."
    )


def _cell(block: Mapping[str, Any], source: str, label: str, key: str) -> str:
    return _num(block.get(source, {}).get(label, {}).get(key))


def _robustness_rows(metrics: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """Headline rows of the evasion and dilution probes (:mod:`moderation.robustness`)."""
    rows: list[tuple[str, str, str]] = []
    evasion = metrics.get("obfuscation") or {}
    if evasion:
        kinds = evasion["kinds"]
        clean = kinds["clean"]
        disguised = ", ".join(
            f"{k} {v['roc_auc']:.3f} / {v['recall']:.2f}" for k, v in kinds.items() if k != "clean"
        )
        rows.append(
            (
                f"Evasion: toxic-spans test posts ({evasion['posts']}) with their gold spans "
                f"disguised vs {evasion['negatives']} civil held-out comments: toxicity ROC-AUC "
                "/ recall at the threshold",
                f"clean {clean['roc_auc']:.3f} / {clean['recall']:.2f}; {disguised}",
                "close to clean",
            )
        )
    dilution = metrics.get("long_text_insults") or {}
    for label in (schema.INSULT, schema.TOXICITY):
        entry = dilution.get(label)
        if not entry:
            continue
        rows.append(
            (
                f"One held-out insult inside a held-out civil comment of >= 4 sentences "
                f"({dilution['pairs']} pairs): share with {label} >= its threshold "
                f"{entry['threshold']:.3f} (insult alone / civil alone / together; kept)",
                f"{entry['insult_alone']:.2f} / {entry['civil_alone']:.2f} / "
                f"**{entry['combined']:.2f}**; kept {_num(entry['kept'], 2)}",
                "above the threshold",
            )
        )
    return rows


def calibration_table(heldout: Mapping[str, Any], fitted: Mapping[str, Any]) -> str:
    """How the scores were calibrated and how well they are on held-out test rows."""
    if not heldout:
        return "n/a"
    choice = fitted.get("validation") or {}
    raw = fitted.get("test_raw") or {}
    lines = [
        f"{fitted.get('method', 'No calibration maps were fitted')}.",
        "",
        "Validation rows (where maps were chosen) and held-out test rows of the training sources "
        "(toxic-spans posts excluded); ECE = expected calibration error over 10 equal-width "
        "bins, lower is better:",
        "",
        "| label | map applied | validation Brier raw -> cross-fitted | test rows | test "
        "positive rate | test mean score | test ECE raw -> calibrated | test Brier raw -> "
        "calibrated |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for label, m in heldout.items():
        c = choice.get(label) or {}
        cross = (
            f"{c['brier_raw']:.4f} -> {c['brier_cross_fitted']:.4f}" if "brier_raw" in c else "n/a"
        )
        r = raw.get(label) or {}
        ece = f"{r['ece']:.4f} -> {m['ece']:.4f}" if r else f"{m['ece']:.4f}"
        score = f"{r['brier']:.4f} -> {m['brier']:.4f}" if r else f"{m['brier']:.4f}"
        lines.append(
            f"| {label} | {'yes' if c.get('applied') else 'no'} | {cross} | {m['n']} | "
            f"{m['positive_rate']:.3f} | {m['mean_score']:.3f} | {ece} | {score} |"
        )
    return "\n".join(lines)


def headline_table(metrics: Mapping[str, Any], evaluation: Mapping[str, Any]) -> str:
    """The issue's headline numbers, one row each (held-out or never-trained-on data only)."""
    held, cross = metrics.get("heldout", {}), metrics.get("cross_domain", {})
    rows: list[tuple[str, str, str]] = []
    olid = metrics.get("olid_subtask_a") or {}
    if olid:
        rows.append(
            (
                "OLID sub-task A official test, macro-F1 (never trained on OLID)",
                f"**{olid['macro_f1']:.3f}** (ROC-AUC {olid['roc_auc']:.3f})",
                ">= 0.80; SVM 0.69, CNN 0.80, BERT 0.829",
            )
        )
    research = evaluation.get("olid_research") or {}
    if research:
        rows.append(
            (
                "OLID sub-task A, *research protocol*: same recipe fitted on OLID train only "
                "(not shippable: OLID has no licence)",
                f"{research['macro_f1']:.3f} (ROC-AUC {research['roc_auc']:.3f})",
                "TF-IDF+LR on OLID 0.73",
            )
        )
    cv = evaluation.get("davidson_cv") or {}
    if cv:
        rows.append(
            (
                f"Davidson {cv['folds']}-fold CV, 3 classes: weighted F1 / hate-class F1",
                f"**{cv['weighted_f1']:.3f}** / **{cv['hate_f1']:.3f}**",
                ">= 0.91 / >= 0.55; paper LR 0.90 / 0.51",
            )
        )
    rows.append(
        (
            "Davidson held-out 20 %, toxicity (hate or offensive): ROC-AUC / F1",
            f"{_cell(held, 'davidson', 'toxicity', 'roc_auc')} / "
            f"{_cell(held, 'davidson', 'toxicity', 'f1')}",
            "",
        )
    )
    for source, name, block in (
        ("toxichat", "ToxiChat official test", held),
        ("cad", "CAD official test (never trained on)", cross),
        ("ucc", "UCC official test, hostile / antagonize (never trained on)", cross),
        ("cat", "CAT held-out 20 %", held),
        ("jigsaw", "Jigsaw subset held-out 20 % (never trained on)", cross),
    ):
        if source not in block:
            continue
        for label in block[source]:
            rows.append(
                (
                    f"{name}: {label} ROC-AUC / PR-AUC / F1",
                    " / ".join(_cell(block, source, label, k) for k in ("roc_auc", "pr_auc", "f1")),
                    "",
                )
            )
    spans = metrics.get("toxic_spans_test") or {}
    if spans:
        value = (
            f"**{spans['span_f1']:.3f}** (model spans); sentence granularity "
            f"{spans['span_f1_sentence_granularity']:.3f}"
            if "span_f1" in spans
            else f"{spans['span_f1_sentence_granularity']:.3f} (sentence granularity)"
        )
        rows.append(
            ("SemEval-2021 toxic spans official test, span F1", value, ">= 0.65; best 0.708")
        )
    rows += _robustness_rows(metrics)
    templates = metrics.get("identity_templates") or {}
    if templates:
        per = templates["per_identity"].values()
        low_sub = min(m["subgroup_auc"] for m in per)
        low_bpsn = min(m["bpsn_auc"] for m in per)
        rows.append(
            (
                "Identity templates: Jigsaw bias metric / min Subgroup AUC / min BPSN AUC",
                f"{templates['final_metric']:.3f} / {low_sub:.3f} / {low_bpsn:.3f}",
                ">= 0.95 / >= 0.90 per identity",
            )
        )
    lines = ["| metric | measured | target / anchor |", "|---|---|---|"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    return "\n".join(lines)


def loso_table(loso: Mapping[str, Any]) -> str:
    """Markdown table of leave-one-source-out results against the full model."""
    lines = [
        "| left-out source | label | ROC-AUC without it | ROC-AUC with it | F1 without | n |",
        "|---|---|---|---|---|---|",
    ]
    for source, labels in loso.items():
        for label, m in labels.items():
            lines.append(
                f"| {source} | {label} | {_num(m.get('roc_auc'))} | "
                f"{_num(m.get('in_domain_roc_auc'))} | {_num(m.get('f1'))} | {m.get('n')} |"
            )
    return "\n".join(lines)


_BIAS_MITIGATED = """\
- **Identity-term bias is mitigated, not removed.** Identity words are hidden from every label
  but `identity_attack`, and neutral identity-mention sentences are fitted as non-toxic; check
  the per-identity table above for the groups still below target. Hiding the words costs
  signal where a group's name is the abuse (a slur spelled like an identity word, "queer" used
  as an insult) and the letter pairs of those words elsewhere (held-out toxicity ROC-AUC -0.005,
  see `data/README.md`). `identity_attack` is not blinded and can still flag a friendly
  sentence that names a group: the training data ties group nouns ("women", "muslims") to
  attacks, and the project's positive group sentences did not outweigh that.
  Why this is not training on the test set: the sentences come from our own frames (news
  comment register, unlike the test's "<name> is a <adjective> <identity>" patterns) and our
  own identity word list; no test sentence, frame or label is used, and the real-comment bias
  sets (Wikipedia, fuzzed / non-fuzzed) and the held-out tables measure what it does elsewhere."""
_BIAS_NOT_MITIGATED = """\
- **Identity-term bias is not mitigated in this bundle** (it predates the neutral
  identity-mention sentences). Mentions of identity groups ("queer", "muslim", "gay", "black")
  raise scores in neutral sentences; see the per-identity table above."""


def review_load_table(load: Mapping[str, Mapping[str, Any]]) -> str:
    """Markdown table of :func:`moderation.evaluate.review_load`."""
    lines = [
        "| source | comments | toxic | civil sent to review | toxic sent to review | "
        "precision of the review list |",
        "|---|---|---|---|---|---|",
    ]
    for source, row in load.items():
        precision = "n/a" if row.get("precision") is None else f"{row['precision']:.2f}"
        lines.append(
            f"| {source} | {row['n']} | {row['toxic_share']:.1%} | {row['civil_escalated']:.1%} "
            f"| {row['toxic_escalated']:.1%} | {precision} |"
        )
    return "\n".join(lines)


#: Why a target of issues #3 and #4 is missed, one line each (the verdict itself is computed).
_WHY_MISSED = {
    "olid": "OLID has no licence, so the shipped model never sees a tweet of it; a linear "
    "bag-of-n-grams model trained on other platforms (even fitted on OLID train the recipe "
    "stays near the 0.73 TF-IDF baseline; 0.80 took a CNN)",
    "davidson_weighted": "a linear bag-of-n-grams model, on par with the paper's logistic "
    "regression (0.90); see data/README.md",
    "davidson_hate": "hate and offensive tweets share most of their words (slurs, profanity), "
    "which n-grams separate weakly (paper's logistic regression 0.51); see data/README.md",
    "spans": "spans are the words whose n-grams raise the score, not a trained token tagger "
    "(the task's best system, 0.708, fine-tuned a transformer)",
    "subgroup": "identity-term bias is mitigated, not removed; see the per-identity table",
    "bpsn": "identity-term bias is mitigated, not removed; see the per-identity table",
    "long": "sentence scoring halves the dilution of one insult, it does not remove it",
    "semeval": "the shipped scorer never trains on SemEval (research-only licence); intruder "
    "worlds cannot teach that chit-chat inside a thread (SemEval's Dialogue, its weakest part) "
    "is off-topic (docs/off-topic.md)",
    "intruders": "the scorer sees word overlap with the article, parent and thread only: "
    "intruders from similar threads share the thread's names, and real replies often share "
    "few words with their parent (docs/off-topic.md)",
}


def _verdict(value: float | None, target: float) -> str:
    if value is None:
        return "not measured"
    return "met" if value >= target else "**not met**"


def targets_table(metrics: Mapping[str, Any], evaluation: Mapping[str, Any]) -> str:
    """Markdown table: each target of issues #3 and #4, its measured value and met / not met.

    Verdicts are computed from the recorded metrics; a target whose data or refit was not run
    reads "not measured" (Davidson needs ``moderation evaluate --full``).
    """
    rows: list[tuple[str, str, str, str]] = []

    def add(
        target: str,
        measured: str,
        value: float | None,
        goal: float,
        why: str,
        note: str = "",
        partly: float | None = None,
    ) -> None:
        verdict = _verdict(value, goal)
        if verdict == "**not met**" and partly is not None and value is not None:
            verdict = "**partly met**" if value >= partly else verdict
        rows.append((target, measured, verdict, note if verdict == "met" else why))

    olid = metrics.get("olid_subtask_a") or {}
    research = evaluation.get("olid_research") or {}
    olid_text = f"{olid['macro_f1']:.3f}" if olid else "n/a"
    if olid and research:
        olid_text += f" (research protocol, fitted on OLID train: {research['macro_f1']:.3f})"
    add(
        "#3 OLID sub-task A official test, macro-F1 >= 0.80",
        olid_text,
        olid.get("macro_f1"),
        0.80,
        _WHY_MISSED["olid"],
    )
    cv = evaluation.get("davidson_cv") or {}
    missing_cv = "n/a (`moderation evaluate --full --update-card`)"
    add(
        "#3 Davidson 5-fold CV, weighted F1 >= 0.91",
        f"{cv['weighted_f1']:.3f}" if cv else missing_cv,
        cv.get("weighted_f1"),
        0.91,
        _WHY_MISSED["davidson_weighted"],
    )
    add(
        "#3 Davidson 5-fold CV, hate-class F1 >= 0.55",
        f"{cv['hate_f1']:.3f}" if cv else missing_cv,
        cv.get("hate_f1"),
        0.55,
        _WHY_MISSED["davidson_hate"],
    )
    spans = metrics.get("toxic_spans_test") or {}
    span_f1 = spans.get("span_f1", spans.get("span_f1_sentence_granularity"))
    add(
        "#3 Toxic-spans official test, span F1 >= 0.65",
        "n/a" if span_f1 is None else f"{span_f1:.3f}",
        span_f1,
        0.65,
        _WHY_MISSED["spans"],
    )
    per = list(((metrics.get("identity_templates") or {}).get("per_identity") or {}).values())
    for key, name, goal in (
        ("subgroup", "Subgroup", SUBGROUP_AUC_TARGET),
        ("bpsn", "BPSN", BPSN_AUC_TARGET),
    ):
        known = [m[f"{key}_auc"] for m in per if m[f"{key}_auc"] is not None]
        low = min(known) if known else None
        below = sum(v < goal for v in known)
        add(
            f"#3 Identity templates, {name} AUC >= {goal:.2f} for every identity",
            "n/a" if low is None else f"lowest {low:.3f}; {below} of {len(known)} below",
            low,
            goal,
            _WHY_MISSED[key],
        )
    long = metrics.get("long_text_insults") or {}
    shares = [
        long[label]["combined"] for label in (schema.INSULT, schema.TOXICITY) if label in long
    ]
    lowest = min(shares) if shares else None
    add(
        "#3 One insult in a long civil comment lifts `insult` / `toxicity` to the threshold "
        "(met: in >= 95 % of the held-out pairs; partly: in at least half)",
        " / ".join(_pct(v) for v in shares) + " of pairs" if shares else "n/a",
        lowest,
        0.95,
        "" if lowest is None else f"{_WHY_MISSED['long']}: {_pct(1 - lowest)} stay below",
        partly=0.5,
    )
    off_topic = metrics.get("off_topic") or {}
    semeval = off_topic.get("semeval2015_cqa_test") or {}
    add(
        "#4 SemEval-2015 CQA official test, ROC-AUC >= 0.80 (Bad + Dialogue vs Good)",
        f"{semeval['roc_auc']:.3f}; official macro-F1 {semeval['macro_f1_official']:.3f} "
        f"(published best {semeval['published_best_macro_f1']})"
        if semeval
        else "n/a",
        semeval.get("roc_auc"),
        0.80,
        _WHY_MISSED["semeval"],
    )
    intruders = off_topic.get("intruders_heldout") or {}
    add(
        "#4 Swapped-context replies on held-out threads, ROC-AUC >= 0.90 (judged within "
        "strata: no credit for being a reply)",
        f"{intruders['roc_auc_within_strata']:.3f} within strata, {intruders['roc_auc']:.3f} pooled"
        if intruders
        else "n/a",
        intruders.get("roc_auc_within_strata"),
        0.90,
        _WHY_MISSED["intruders"],
    )
    lines = ["| target | measured | verdict | why not met (or a caveat) |", "|---|---|---|---|"]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    return "\n".join(lines)


def _duration(seconds: float | None, fallback: str) -> str:
    """``about 2 min`` from seconds (``fallback`` when not recorded)."""
    if seconds is None:
        return fallback
    if seconds < 90:
        return f"about {seconds:.0f} s"
    return f"about {seconds / 60:.0f} min"


def toxic_shares(manifest_extra: Mapping[str, Any]) -> dict[str, Any]:
    """How toxic the rows behind the thresholds are, from the manifest (``None`` if unknown).

    ``validation``: share of toxic rows among the validation rows (what the F1-optimal
    thresholds and the calibration maps see); ``per_source``: the mean over training sources
    of their test rows' toxic share, what the thresholds at target precision see (every source
    weighing the same); ``lowest`` / ``highest``: ``(source, share)``.
    """
    val = ((manifest_extra.get("calibration") or {}).get("validation") or {}).get(
        schema.TOXICITY
    ) or {}
    at: Mapping[str, Any] = (manifest_extra.get("thresholds_at_precision") or {}).get(
        schema.TOXICITY
    ) or {}
    first: Mapping[str, Any] = next(iter(at.values()), {})
    by_source: Mapping[str, Any] = first.get("test_by_source") or {}
    share = {source: m["positives"] / m["n"] for source, m in by_source.items() if m.get("n")}
    return {
        "validation": val["positives"] / val["rows"] if val.get("rows") else None,
        "per_source": float(np.mean(list(share.values()))) if share else None,
        "lowest": min(share.items(), key=lambda kv: kv[1]) if share else None,
        "highest": max(share.items(), key=lambda kv: kv[1]) if share else None,
    }


def _pct(value: float | None, fallback: str = "n/a") -> str:
    """``32 %``; one decimal below 10 % (``1.5 %``)."""
    if value is None:
        return fallback
    return f"{100 * value:.1f} %" if value < 0.1 else f"{100 * value:.0f} %"


def _word_vector_line(training: Mapping[str, Any]) -> str:
    vectors = training.get("word_vectors") or {}
    if not vectors.get("dim"):
        return ""
    return (
        f"Each classifier also sees the text's tf-idf weighted sum of {vectors['dim']}-dimensional "
        "word vectors learned from the training texts' co-occurrences (window "
        f"{vectors['window']}; `moderation.wordvectors`), folded into the n-gram coefficients, "
        "so a word used like a label's words shares some of its weight even when no labelled "
        "row contains it.\n\n"
    )


def render_card(name: str, manifest_extra: Mapping[str, Any]) -> str:
    """The bundle's MODEL_CARD.md, filled from the manifest contents."""
    sources = manifest_extra["sources"]
    metrics = manifest_extra["metrics"]
    training = manifest_extra["training"]
    source_lines = "\n".join(
        f"| {src} | {info['licence']} | {', '.join(info['labels'])} | {info['rows']} |"
        for src, info in sources.items()
    )
    thresholds = ", ".join(f"{k} {v:.3f}" for k, v in manifest_extra["thresholds"].items())
    evaluation = manifest_extra.get("evaluation") or {}
    at_precision = manifest_extra.get("thresholds_at_precision") or {}
    shares = toxic_shares(manifest_extra)
    per_source = _pct(shares["per_source"])
    validation_share = _pct(shares["validation"])
    spread = (
        f" (`{shares['lowest'][0]}` has {_pct(shares['lowest'][1])} toxic comments, "
        f"`{shares['highest'][0]}` {_pct(shares['highest'][1])})"
        if shares["lowest"] and shares["highest"]
        else ""
    )
    precision_part = (
        "\n### Thresholds at a target precision\n\n"
        "Use these to write rules you can reason about: a `hold` rule at the 0.8 threshold "
        "is right about 4 times in 5 on data like the validation rows, a `review` rule at the "
        "0.6 threshold 3 times in 5. **Precision follows the base rate**: the per-source "
        f"column shows it on each platform's test rows{spread}; for a community with few toxic "
        "comments, use the 0.8 thresholds for `review` and tune them on your own review "
        "decisions. "
        f"{manifest_extra.get('thresholds_at_precision_method', '')}."
        "\n\n" + precision_table(at_precision) + "\n"
        if at_precision
        else ""
    )
    templates = metrics.get("identity_templates") or {}
    neutral = sources.get(IDENTITY_NEUTRAL, {})
    blind = training.get("blind_labels") or []
    blinding = (
        f"\n**Mitigation:** the `{'`, `'.join(blind)}` classifiers are fitted without the "
        f"{training.get('blind_features', 0)} identity-term n-grams (word n-grams holding one of "
        f'{len(training.get("blind_terms") or [])} identity words, e.g. "gay", "muslims", '
        '"black", or a plural of one; character n-grams of at least '
        f'{training.get("blind_min_chars", 2)} letters inside one, such as "musl" or "sl"), '
        "so naming a group can neither raise nor lower those scores: the words around the "
        'name must ("gay" alone is neutral, "disgusting gay" scores through '
        '"disgusting"). `identity_attack` keeps them, since it is about who is attacked.\n'
        if blind
        else ""
    )
    mitigation = blinding + (
        f"\n**Mitigation:** {neutral['rows']} neutral sentences mentioning identity groups "
        "(source `identity-neutral` above) were fitted with every label 0, each term's "
        "sentences weighted to balance that term's toxic rate in the training rows (at least "
        f"{neutral.get('weight', 1.0):g} each); before/after numbers in "
        "[`data/README.md`](../../data/README.md).\n"
        if neutral
        else ""
    )
    bias_limitation = _BIAS_MITIGATED if IDENTITY_NEUTRAL in sources else _BIAS_NOT_MITIGATED
    evaluation_part = ""
    if evaluation.get("leave_one_source_out"):
        evaluation_part += (
            "\n## Cross-domain: leave one training source out\n\n"
            "The same recipe refitted without one source (its thresholds re-chosen on the "
            "validation rows of the others), tested on that source's test split, next to the "
            "full model's score on the same rows.\n\n"
            + loso_table(evaluation["leave_one_source_out"])
            + "\n"
        )
    if evaluation.get("review_load"):
        evaluation_part += (
            "\n## What the default rules send to review\n\n"
            "Each source's test comments (at most 3,000) scored with the shipped rules as one "
            "flat export (no threads or articles): the share of civil and of toxic comments "
            "that reach `review` or a stronger action. The `precision 0.8` / `precision 0.6` "
            "thresholds reach that precision on the validation rows with every training "
            f"source weighing the same (a source is on average {per_source} toxic on its test "
            "rows); a section with fewer hostile comments gets a review list with lower "
            "precision, as below. Raise the `insult` and `toxicity` thresholds in your rules "
            "for a quieter queue.\n\n" + review_load_table(evaluation["review_load"]) + "\n"
        )
    bias = metrics.get("identity_bias") or {}
    bias_lines = "\n".join(f"- `{k}`: toxicity ROC-AUC {v['roc_auc']:.3f}" for k, v in bias.items())
    reproduce = (
        f"moderation train --datasets ../shared/datasets -o models/{name} "
        f"--seed {training['seed']}\n"
        f"moderation evaluate --model models/{name} --datasets ../shared/datasets "
        "-o evaluation/\n"
        f"moderation evaluate --model models/{name} --datasets ../shared/datasets "
        "-o evaluation/ --full --update-card"
    )
    untimed = "not timed for this card"
    timings = (
        f"Training: {_duration(training.get('seconds'), untimed)}. Evaluation: "
        f"{_duration(evaluation.get('evaluate_seconds'), f'a few minutes ({untimed})')}. "
        "With `--full` (Davidson cross-validation and leave-one-source-out refits; "
        "`--update-card` records the report in this card): "
        f"{_duration(evaluation.get('evaluate_full_seconds'), f'about 30 minutes ({untimed})')}."
    )
    restricted = (
        "\n**This bundle was trained with `--include-restricted` (non-commercial / unlicensed "
        "data): do not redistribute it.**\n"
        if training["include_restricted"]
        else ""
    )
    return f"""# Model card: `{name}`

Hostility scores (`{"`, `".join(schema.LABELS)}`) from word 1-2-gram + character 2-5-gram
TF-IDF features and one logistic regression per label, plus the `off_topic` scorer
(`moderation.offtopic`). Scores are in [0, 1]; the labels listed under "Calibration" below
are mapped to calibrated probabilities.

{_word_vector_line(training)}A comment of several sentences is scored as a whole and sentence by
sentence: `score = (1 - w) * p_whole + w * max(p_whole, p_best_sentence)` with
w = {training.get("sentence_weight", 0.0)} (chosen on the validation slice), so one hostile
sentence inside a long civil reply is diluted much less. The words quoted for a score come from
the best sentence when it scores above the whole comment.
{restricted}
## Intended use

Human-assisted moderation of English comment threads: rank and route comments to a review
queue, quote the words behind a score. It is **not** meant for fully automatic removal; a
person should confirm every `remove`. Do not use it to judge individuals or groups.

## Training data and licences

Only sources whose licence allows redistributing a derived model are used for the shipped
bundle. Rows fitted per source (train split minus the validation slice):

| source | licence | labels annotated | rows |
|---|---|---|---|
{source_lines}

Labels a source does not annotate are unknown (not negative): each label's classifier is
fitted only on the rows that annotate it. The label mappings (e.g. toxic-spans sentences: toxic
when more than half of the sentence's voters marked a span in it, clean when none did; Ruddit:
toxicity = offensiveness > 1/3) are documented in [`data/README.md`](../../data/README.md).
Whole toxic-spans posts (`toxic-spans-civil`) are **not fitted**: all of them are toxic, so
they taught news and political vocabulary as toxicity; only their sentences are, which gives
civil in-domain negatives. The posts of the official SemEval-2021 Task 5 test set are held out
(never fitted, neither whole nor as sentences).
Evaluation-only sets (OLID, CAD, UCC, C3, SFU, Jigsaw subset; no licence or non-commercial)
were never trained on.

## Evaluation summary (held-out or never-trained-on data only)

{headline_table(metrics, evaluation)}

`moderation evaluate` writes these (and per-label ROC / precision-recall curves) to
`report.md` / `report.json`; `moderation evaluate --full` adds the Davidson cross-validation
and the leave-one-source-out refits, and `--update-card` records them here.

## Targets (issue #3 and #4)

Each verdict is computed from the numbers recorded in this card (held-out or never-trained-on
data only).

{targets_table(metrics, evaluation)}

## Thresholds

F1-optimal thresholds (used when a rule says nothing more specific): {thresholds}

{manifest_extra["threshold_method"]}.
{precision_part}
## Calibration

{calibration_table(metrics.get("calibration") or {}, manifest_extra.get("calibration") or {})}

## Held-out metrics (test split of the training sources)

Official test splits for ConvAbuse and ToxiChat; for toxic spans (posts and their sentences)
the 2,000 posts of the SemEval-2021 test set; a stable 20 % split by text hash elsewhere.
Toxic-spans posts were all pre-selected as toxic, so their toxicity has no negatives and no AUC.
"mean over sources" is the unweighted mean of the per-source rows.

{metrics_table(metrics["heldout"])}

## Cross-domain metrics (unseen platforms, never trained on)

{metrics_table(metrics["cross_domain"])}
{_olid_line(metrics)}{evaluation_part}
## Identity-term bias

{identity_summary(templates)}
{mitigation}
Sentence-level test sets of the same release (toxicity ROC-AUC):

{bias_lines}

Per identity (Borkan et al. 2019: Subgroup AUC on the identity's sentences; BPSN on its
non-toxic sentences against other toxic ones; BNSP on its toxic sentences against other
non-toxic ones):

{identity_table(templates) if templates else "n/a"}
{_spans_line(metrics)}
Reproduce from the repository root:

```
{reproduce}
```

Wall-clock times on 2 cores, measured when these numbers were recorded. {timings}

{off_topic_card(metrics.get("off_topic") or {})}

## Known limitations

{bias_limitation}
- **Obfuscation:** look-alikes, zero-width characters, stretched letters, leetspeak, masking,
  spaced letters and glued words (a token of six or more letters that splits wholly into
  common words) are normalised before scoring (evasion row above); masking that hides most of
  a word ("f***") loses the most, a glued token of five letters or fewer ("ihate") or with a
  rare word in it stays whole (left to the character n-grams), and spellings outside these
  families (phonetic ones, "phuck") are only partly caught.
- **Long texts:** sentence scoring halves the dilution of one insult inside a long civil
  comment (w = 0.5), it does not remove it (long-comment rows above). Sentences are cut by
  punctuation and line breaks;
  an insult split across sentences, or one that needs the whole argument to read as hostile,
  is still scored weakly.
- **Words, not meaning.** A linear n-gram model learns the words it is shown. The project's
  template families (`data/README.md`) teach threats with a harm verb, group derogation,
  contempt, stereotypes, exclusion and their negated, quoted and condemned forms, and the
  taught words carry to new frames and groups; unseen wording mostly does not (the word
  vectors carry some weight to words used like taught ones: on held-out insult words insult
  ROC-AUC 0.66 -> 0.75, far from the taught words' 0.99). Known gaps:
  veiled threats without a harm verb ("you will regret this"), hate in wording no template
  or source uses, counter-speech and negation on `toxicity` (it sees the quoted insult; the
  negated-derogation negatives teach `identity_attack` only), reclaimed slurs, sarcasm.
- **English only.** Domains: tweets, Reddit, Wikipedia talk, news comments, chatbot logs.
- Davidson tweets are lexicon-sampled and over-label African-American English as offensive.
- `severe_toxicity` and `threat` have few training positives; treat them as rough signals.
- **Thresholds follow the training mix.** They maximise F1 on validation rows where
  {validation_share} of the toxicity rows are toxic (most of them Davidson's tweets and
  toxic-spans sentences); on naturally distributed news
  comments (UCC: 2 % hostile) the toxicity threshold flags far too much (F1 above). Tune
  thresholds per community from review decisions. Calibration has the same limit: a score of
  0.3 means about 30 % toxic *in the validation mix*, not in every community.

## Security: pickle files run code

The pipeline file (`pipeline.pkl.gz`; `pipeline.joblib` in format-1 bundles) is a pickle.
Loading it executes code, so **load only bundles you trust**.
`load_bundle` checks SHA-256 hashes and library versions, which catches damaged or mismatched
files, not a deliberately crafted bundle.
"""
