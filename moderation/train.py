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
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict
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
from moderation.corpus import SOURCES, TSD_TEST, load_corpus, stable_bucket
from moderation.errors import TrainingError
from moderation.features import FeatureConfig
from moderation.model import HostilityModel
from moderation.normalize import split_sentences

__all__ = [
    "VALIDATION_BUCKETS",
    "binary_metrics",
    "choose_thresholds",
    "evaluate_model",
    "metrics_table",
    "render_card",
    "train_bundle",
]

logger = logging.getLogger(__name__)

#: Hash buckets (of :func:`moderation.corpus.stable_bucket`, 0..99) of ``train`` rows that are
#: kept out of fitting to choose thresholds. Buckets below 20 are the hash test split.
VALIDATION_BUCKETS = range(20, 32)

#: Regularisation of each label's logistic regression (chosen on held-out AUC).
DEFAULT_C = 4.0

#: Weight of the best sentence in a multi-sentence text's score (see
#: :meth:`moderation.model.HostilityModel.predict`). Chosen on the validation slice: toxicity
#: ROC-AUC (mean over the comment-level sources) 0.905 / 0.916 / 0.917 / 0.916 / 0.915 for
#: w = 0 / 0.25 / 0.5 / 0.75 / 1.
SENTENCE_WEIGHT = 0.5

#: Redistributable sources that are evaluated but not fitted. Every whole toxic-spans post is
#: toxic (pre-selected), so fitting them taught news/political vocabulary as toxicity (C3
#: toxicity ROC-AUC 0.684 with them vs 0.750 without); their sentences
#: (``toxic-spans-sentences``) are fitted instead, and the posts' test split measures how the
#: sentence-aware scores rank whole posts.
NOT_FITTED = frozenset({"toxic-spans-civil"})

#: Sentence-level sources: excluded from the off-topic scorer's background texts.
SENTENCE_SOURCES = frozenset({"toxic-spans-sentences"})


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


def _toxic_spans_test(model: Any, datasets_dir: Path, threshold: float) -> dict[str, Any]:
    """Sentence-level scores on the official SemEval-2021 Task 5 test set (never trained on).

    Each post is cut into sentences; a sentence is toxic when it overlaps the gold span
    offsets. Reports the sentence toxicity ROC-AUC and the task's span F1 (mean per-post F1 of
    character offsets) when the predicted span is every sentence scoring at least the toxicity
    threshold -- sentence granularity, so precision is bounded by the civil words around an
    insult.
    """
    folder = datasets_dir / "toxic-spans-civil"
    found = [p for p in (folder / f"{TSD_TEST}.gz", folder / TSD_TEST) if p.is_file()]
    if not found:
        return {}
    frame = pd.read_csv(found[0])
    posts: list[tuple[set[int], list[tuple[int, int]]]] = []
    sentences: list[str] = []
    gold: list[bool] = []
    for text, spans in zip(frame["text"].astype(str), frame["spans"].astype(str), strict=True):
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
        if not truth or not predicted:
            f1s.append(float(truth == predicted))
            continue
        hit = len(truth & predicted)
        f1s.append(2 * hit / (len(truth) + len(predicted)))
    y = np.asarray(gold)
    return {
        "sentence_roc_auc": round(float(roc_auc_score(y, scores)), 4),
        "sentence_pr_auc": round(float(average_precision_score(y, scores)), 4),
        "sentences": len(y),
        "toxic_sentences": int(y.sum()),
        "span_f1_sentence_granularity": round(float(np.mean(f1s)), 4),
        "posts": len(posts),
        "threshold": round(threshold, 4),
    }


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
        ``{"heldout": ..., "cross_domain": ..., "olid_subtask_a": ..., "identity_bias": ...,
        "toxic_spans_test": ...}`` (the last two only with ``datasets_dir``).
    """
    test = corpus[corpus["split"] == "test"].reset_index(drop=True)
    scores = model.predict(test["text"].tolist())
    trained = test["source"].isin(list(trained_sources))
    report: dict[str, Any] = {
        "heldout": evaluate_predictions(test[trained], scores, thresholds),
        "cross_domain": evaluate_predictions(test[~trained], scores, thresholds),
    }
    if "olid" not in trained_sources:
        report["olid_subtask_a"] = _olid_subtask_a(
            test, scores, float(thresholds.get(schema.TOXICITY, 0.5))
        )
    if datasets_dir is not None:
        report["identity_bias"] = _bias_sets(model, Path(datasets_dir))
        spans = _toxic_spans_test(
            model, Path(datasets_dir), float(thresholds.get(schema.TOXICITY, 0.5))
        )
        if spans:
            report["toxic_spans_test"] = spans
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


def _source_summary(frame: pd.DataFrame) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, group in frame.groupby("source", sort=True):
        source = SOURCES[str(name)]
        out[str(name)] = {
            "licence": source.licence,
            "redistributable": source.redistributable,
            "folder": source.folder,
            "labels": {
                label: {
                    "rows": int(group[label].notna().sum()),
                    "positives": int((group[label] >= 0.5).sum()),
                }
                for label in schema.LABELS
                if group[label].notna().any()
            },
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
    from moderation.offtopic import fit_off_topic  # written in parallel; imported lazily

    started = time.monotonic()
    datasets_dir = Path(datasets_dir)
    corpus = load_corpus(datasets_dir)
    usable = corpus["redistributable"] | include_restricted
    candidates = corpus[(corpus["split"] == "train") & usable].reset_index(drop=True)
    bucket = np.fromiter((stable_bucket(t) for t in candidates["group"]), dtype=np.int64)
    in_val = np.isin(bucket, np.asarray(VALIDATION_BUCKETS))
    # Off-topic background: comment-level training texts (as before sentences were added).
    background = candidates.loc[
        ~in_val & ~candidates["source"].isin(list(SENTENCE_SOURCES)), "text"
    ].tolist()
    fitted = ~candidates["source"].isin(list(NOT_FITTED)).to_numpy()
    train_rows = candidates[fitted].reset_index(drop=True)
    if train_rows.empty:
        raise TrainingError(f"no training rows found under {datasets_dir}")
    is_val = in_val[fitted]
    fit_rows = train_rows[~is_val].reset_index(drop=True)
    val_rows = train_rows[is_val].reset_index(drop=True)
    trained_sources = sorted(train_rows["source"].unique())
    heldout_sources = sorted({*trained_sources, *(set(candidates["source"]) & NOT_FITTED)})
    logger.info(
        "training on %d rows (%d validation) from %s",
        len(fit_rows),
        len(val_rows),
        ", ".join(trained_sources),
    )

    config = FeatureConfig()
    model = HostilityModel(config, C=DEFAULT_C, sentence_weight=SENTENCE_WEIGHT)
    model.fit(fit_rows, seed=seed)
    thresholds = choose_thresholds(val_rows, model.predict(val_rows["text"].tolist()))
    metrics = evaluate_model(model, corpus, thresholds, heldout_sources, datasets_dir)

    off_topic = fit_off_topic(datasets_dir, background, include_restricted=include_restricted)
    metrics["off_topic"] = getattr(off_topic, "metrics", {})
    elapsed = round(time.monotonic() - started, 1)

    test_rows = corpus[(corpus["split"] == "test") & corpus["source"].isin(heldout_sources)]
    manifest_extra: dict[str, Any] = {
        "thresholds": thresholds,
        "threshold_method": (
            "per label, the score maximising F1 on validation rows: train-split rows of the "
            f"training sources whose text hash bucket is in {VALIDATION_BUCKETS.start}.."
            f"{VALIDATION_BUCKETS.stop - 1} of 0..99; these rows were not used for fitting"
        ),
        "sources": _source_summary(fit_rows),
        "heldout_sources": heldout_sources,
        "heldout_rows": {str(k): int(v) for k, v in test_rows["source"].value_counts().items()},
        "training": {
            "seed": seed,
            "include_restricted": include_restricted,
            "fit_rows": len(fit_rows),
            "validation_rows": len(val_rows),
            "features": {
                k: list(v) if isinstance(v, tuple) else v for k, v in asdict(config).items()
            },
            "C": DEFAULT_C,
            "sentence_weight": SENTENCE_WEIGHT,
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
    bias = metrics.get("identity_bias") or {}
    bias_lines = "\n".join(f"- `{k}`: toxicity ROC-AUC {v['roc_auc']:.3f}" for k, v in bias.items())
    restricted = (
        "\n**This bundle was trained with `--include-restricted` (non-commercial / unlicensed "
        "data): do not redistribute it.**\n"
        if training["include_restricted"]
        else ""
    )
    return f"""# Model card: `{name}`

Hostility scores (`{"`, `".join(schema.LABELS)}`) from word 1-2-gram + character 2-5-gram
TF-IDF features and one logistic regression per label, plus the `off_topic` scorer
(`moderation.offtopic`). Scores are in [0, 1]; they are *not* calibrated probabilities yet.

A comment of several sentences is scored as a whole and sentence by sentence:
`score = (1 - w) * p_whole + w * max(p_whole, p_best_sentence)` with
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

## Thresholds

{thresholds}

{manifest_extra["threshold_method"]}.

## Held-out metrics (test split of the training sources)

Official test splits for ConvAbuse and ToxiChat; for toxic spans (posts and their sentences)
the 2,000 posts of the SemEval-2021 test set; a stable 20 % split by text hash elsewhere.
Toxic-spans posts were all pre-selected as toxic, so their toxicity has no negatives and no AUC.
"mean over sources" is the unweighted mean of the per-source rows.

{metrics_table(metrics["heldout"])}

## Cross-domain metrics (unseen platforms, never trained on)

{metrics_table(metrics["cross_domain"])}
{_olid_line(metrics)}
Identity-term bias test sets (Dixon et al. 2018, CC BY 4.0):

{bias_lines}
{_spans_line(metrics)}
Reproduce (from the repository root; about {training["seconds"]:.0f} s on 2 cores):

```
moderation train --datasets ../shared/datasets -o models/{name} --seed {training["seed"]}
moderation evaluate --model models/{name} --datasets ../shared/datasets -o evaluation/
```

## Known limitations

- **Identity-term bias is only partly mitigated** (by no longer fitting all-toxic news posts).
  Mentions of identity groups ("gay", "muslim", "black") still raise scores in neutral
  sentences; check the bias test numbers above.
- **Obfuscation:** only Unicode look-alikes, zero-width characters and stretched letters are
  normalised; leetspeak and masking ("f*ck", "1d10t") are only partly caught by char n-grams.
- **Long texts:** sentence scoring halves the dilution of one insult inside a long civil
  comment (w = 0.5), it does not remove it. Sentences are cut by punctuation and line breaks;
  an insult split across sentences, or one that needs the whole argument to read as hostile,
  is still scored weakly.
- **English only.** Domains: tweets, Reddit, Wikipedia talk, news comments, chatbot logs.
- Davidson tweets are lexicon-sampled and over-label African-American English as offensive.
- `severe_toxicity` and `threat` have few training positives; treat them as rough signals.
- **Thresholds follow the training mix.** They maximise F1 on validation rows where about half
  of the toxicity rows are toxic (Davidson, toxic spans); on naturally distributed news
  comments (UCC: 2 % hostile) the toxicity threshold flags far too much (F1 above). Tune
  thresholds per community from review decisions; calibration is planned.

## Security: pickle files run code

`pipeline.joblib` is a pickle. Loading it executes code, so **load only bundles you trust**.
`load_bundle` checks SHA-256 hashes and library versions, which catches damaged or mismatched
files, not a deliberately crafted bundle.
"""
