"""Evaluation of a hostility model on held-out and cross-domain labelled data.

Flow: ``labelled data -> read -> train -> **evaluate** -> model bundle``. Metrics are computed
only on ``test`` rows: the held-out part of the sources the model was trained on, and the test
part of evaluation-only sources the model never saw (reported separately as cross-domain,
because they measure transfer to a new platform, not fit). Decision thresholds always come from
the bundle's manifest or from validation rows (train split, kept out of fitting), never from a
test set.

:func:`evaluate_bundle` scores a bundle as it is (a few minutes). With ``full=True`` it also
refits the training recipe several times: Davidson et al.'s 5-fold cross-validation (3 classes)
and leave-one-source-out cross-domain tests. :func:`refresh_card` records a report in an
existing bundle's manifest and model card without touching the pickled pipeline.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, f1_score, roc_auc_score

from moderation import schema
from moderation.bundle import MANIFEST, MODEL_CARD, load_bundle, sha256_file
from moderation.corpus import (
    DAVIDSON_CLASSES,
    SOURCES,
    davidson_classes,
    load_corpus,
    stable_bucket,
)
from moderation.errors import TrainingError
from moderation.offtopic import (
    evaluate_off_topic,
    intruder_threads,
    measure_intruders,
    off_topic_table,
)
from moderation.train import (
    AT_PRECISION_METHOD,
    NOT_FITTED,
    VALIDATION_BUCKETS,
    choose_thresholds,
    evaluate_model,
    evaluate_predictions,
    fit_hostility,
    headline_table,
    identity_summary,
    identity_table,
    known_rows,
    loso_table,
    metrics_table,
    precision_table,
    precision_thresholds,
    render_card,
    review_load_table,
    split_training_rows,
)

__all__ = [
    "CURVE_GRID",
    "METRIC_KEYS",
    "REPORT_JSON",
    "REPORT_MD",
    "curves",
    "davidson_cv",
    "evaluate_bundle",
    "leave_one_source_out",
    "off_topic_metrics",
    "olid_research",
    "refresh_card",
    "render_report",
    "review_load",
    "write_report",
]

logger = logging.getLogger(__name__)

REPORT_MD = "report.md"
REPORT_JSON = "report.json"

#: Score thresholds at which the curves in the report are sampled (0.00, 0.01, ..., 1.00).
CURVE_GRID = np.round(np.linspace(0.0, 1.0, 101), 2)

#: Folds of the Davidson cross-validation (the paper's protocol).
DAVIDSON_FOLDS = 5

#: Sources left out together in the leave-one-source-out test (whole posts and sentences of
#: the toxic-spans release are one platform).
_SAME_PLATFORM = {"toxic-spans-sentences": ("toxic-spans-sentences", "toxic-spans-civil")}


# --------------------------------------------------------------------------- curves


def curves(
    labels: pd.DataFrame, scores: pd.DataFrame, grid: np.ndarray = CURVE_GRID
) -> dict[str, dict[str, Any]]:
    """Precision, recall and false-positive rate of ``score >= t`` at every ``t`` in ``grid``.

    One entry per label with both classes among its known rows, for the ROC and precision-recall
    plots of ``notebooks/02-evaluation-curves.ipynb``. With a ``source`` column every source
    weighs the same (as for the thresholds at target precision); the AUCs are computed with the
    same weights. Precision is ``None`` where nothing is flagged.
    """
    out: dict[str, dict[str, Any]] = {}
    for label in schema.LABELS:
        if label not in labels:
            continue
        y, s, w = known_rows(labels, scores, label)
        if y.all() or not y.any():
            continue
        flagged = s[None, :] >= grid[:, None]
        tp = (flagged & y[None, :]) @ w
        fp = (flagged & ~y[None, :]) @ w
        n_flagged = flagged @ w
        pairs = zip(tp, n_flagged, strict=True)
        precision = [round(float(a / b), 4) if b > 0 else None for a, b in pairs]
        out[label] = {
            "thresholds": [float(t) for t in grid],
            "precision": precision,
            "recall": [round(float(v), 4) for v in tp / w[y].sum()],
            "fpr": [round(float(v), 4) for v in fp / w[~y].sum()],
            "roc_auc": round(float(roc_auc_score(y, s, sample_weight=w)), 4),
            "pr_auc": round(float(average_precision_score(y, s, sample_weight=w)), 4),
            "n": len(y),
            "positives": int(y.sum()),
        }
    return out


# --------------------------------------------------------------------------- refits


def olid_research(corpus: pd.DataFrame, *, seed: int = 0) -> dict[str, Any]:
    """OLID sub-task A under the shared task's protocol: fit on OLID train, test on OLID test.

    The shipped recipe (features, classifier, sentence scoring) fitted on the OLID training
    tweets only, without the identity-neutral sentences; the toxicity threshold maximises F1 on
    the training tweets in the validation hash buckets, which are not fitted. OLID has no
    licence, so such a model is a research number, never a shipped one.
    """
    olid = corpus[corpus["source"] == "olid"]
    train = olid[olid["split"] == "train"].reset_index(drop=True)
    test = olid[olid["split"] == "test"].reset_index(drop=True)
    if train.empty or test.empty:
        return {}
    bucket = np.fromiter((stable_bucket(t) for t in train["group"]), dtype=np.int64)
    in_val = np.isin(bucket, np.asarray(VALIDATION_BUCKETS))
    model = fit_hostility(
        train[~in_val].reset_index(drop=True), seed=seed, identity_neutral_weight=0
    )
    val = train[in_val].reset_index(drop=True)
    threshold = choose_thresholds(val, model.predict(val["text"].tolist()))[schema.TOXICITY]
    y = test[schema.TOXICITY].to_numpy() >= 0.5
    s = model.predict(test["text"].tolist())[schema.TOXICITY].to_numpy()
    return {
        "macro_f1": round(float(f1_score(y, s >= threshold, average="macro")), 4),
        "roc_auc": round(float(roc_auc_score(y, s)), 4),
        "threshold": threshold,
        "n": len(test),
        "fit_rows": int((~in_val).sum()),
        "note": "research protocol: the recipe fitted on OLID train only (OLID has no licence; "
        "not shippable)",
    }


#: Inverse regularisation strength of the Davidson head (logistic regression, balanced weights).
DAVIDSON_HEAD_C = 4.0


def _davidson_head_features(model: Any, texts: Sequence[str]) -> Any:
    """The refitted recipe's TF-IDF features of ``texts`` (word and character n-grams).

    ``model.transform`` is not identity-blinded (blinding only zeroes columns while fitting the
    blinded labels), so the slurs and group names most Davidson hate rests on are here. The
    recipe's label log-odds are left out: on the training tweets they are in-sample (the refit
    saw those tweets), so the head would trust them more than they deserve on the held-out
    fold, and their scale made each head fit take minutes (about 20 s without them).
    """
    return model.transform(list(texts))


def davidson_cv(
    corpus: pd.DataFrame, datasets_dir: Path, *, folds: int = DAVIDSON_FOLDS, seed: int = 0
) -> dict[str, Any]:
    """Davidson et al.'s protocol: k-fold cross-validation over hate / offensive / neither.

    For each fold (by text hash, so duplicates stay together) the hostility recipe is refitted
    on the other folds plus every other training source, then a 3-class logistic regression
    head (balanced class weights, ``C`` = :data:`DAVIDSON_HEAD_C`) is fitted on the other folds'
    tweets using the refitted model's TF-IDF features (:func:`_davidson_head_features`). The
    fold's tweets are only predicted by that head. Reports weighted F1 and per-class F1 over all
    folds' predictions.

    Nothing is chosen per fold. Measured on cached refit features (2026-11-30; weighted /
    hate F1 0.895 / 0.435 with this head, 0.894 / 0.424 last reported with the log-odds): an
    offset on the hate log-probability chosen by inner cross-validation over the training folds
    (macro-F1) picked about 0 and moved no F1 by more than 0.001; unweighted classes plus that
    offset gave 0.897 / 0.429; extra Davidson-only word 1-3-grams 0.898 / 0.433. None is kept.
    """
    tweets = davidson_classes(datasets_dir)
    fold = np.fromiter((stable_bucket(t) % folds for t in tweets["group"]), dtype=np.int64)
    others = split_training_rows(corpus, exclude=["davidson"])
    predicted = np.empty(len(tweets), dtype=object)
    for k in range(folds):
        inside = fold != k
        if inside.all():
            continue  # an empty fold (tiny data)
        train = tweets[inside].reset_index(drop=True)
        toxic = (train["label"] != "neither").astype(float).to_numpy()
        rows = pd.DataFrame({"text": train["text"], "group": train["group"]})
        for label in schema.LABELS:
            rows[label] = np.nan
        rows[schema.TOXICITY] = toxic
        rows[schema.PROFANITY] = toxic
        rows["source"] = "davidson"
        model = fit_hostility(pd.concat([others.fit, rows], ignore_index=True), seed=seed)
        test_texts = tweets.loc[~inside, "text"].tolist()
        if train["label"].nunique() < 2:
            predicted[~inside] = train["label"].iloc[0]
            continue
        head = LogisticRegression(
            C=DAVIDSON_HEAD_C, class_weight="balanced", max_iter=2000, random_state=seed
        )
        head.fit(_davidson_head_features(model, train["text"].tolist()), train["label"])
        predicted[~inside] = head.predict(_davidson_head_features(model, test_texts))
        logger.info("davidson fold %d of %d done", k + 1, folds)
    truth = tweets["label"].to_numpy()
    per_class = f1_score(truth, predicted, labels=list(DAVIDSON_CLASSES), average=None)
    return {
        "folds": folds,
        "weighted_f1": round(float(f1_score(truth, predicted, average="weighted")), 4),
        "macro_f1": round(float(f1_score(truth, predicted, average="macro")), 4),
        "hate_f1": round(float(per_class[0]), 4),
        "class_f1": {
            c: round(float(v), 4) for c, v in zip(DAVIDSON_CLASSES, per_class, strict=True)
        },
        "n": len(truth),
        "method": "per fold: recipe refitted on the other folds + all other training sources; "
        "3-class logistic-regression head (balanced) on its TF-IDF features",
    }


def leave_one_source_out(
    corpus: pd.DataFrame,
    in_domain: Mapping[str, Mapping[str, Mapping[str, Any]]],
    *,
    sources: Sequence[str] | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Refit the recipe without each training source and test on that source's test split.

    Parameters
    ----------
    corpus
        The loaded corpus.
    in_domain
        The full model's ``heldout`` metrics, quoted next to each result
        (``in_domain_roc_auc``).
    sources
        Sources to leave out (default: every fitted training source).
    """
    full = split_training_rows(corpus)
    out: dict[str, Any] = {}
    for source in sources or full.trained_sources:
        left_out = _SAME_PLATFORM.get(source, (source,))
        rows = split_training_rows(corpus, exclude=left_out)
        model = fit_hostility(rows.fit, seed=seed)
        thresholds = choose_thresholds(
            rows.validation, model.predict(rows.validation["text"].tolist())
        )
        test = corpus[(corpus["split"] == "test") & (corpus["source"] == source)]
        test = test.reset_index(drop=True)
        if test.empty:
            continue
        scores = model.predict(test["text"].tolist())
        metrics = evaluate_predictions(test, scores, thresholds).get(source, {})
        for label, m in metrics.items():
            m["in_domain_roc_auc"] = in_domain.get(source, {}).get(label, {}).get("roc_auc")
        out[source] = metrics
        logger.info("leave-one-source-out: %s done", source)
    return out


# --------------------------------------------------------------------------- report


#: Test comments per source scored through the default rules for :func:`review_load`.
REVIEW_LOAD_ROWS = 3_000


def review_load(
    bundle: Any, corpus: pd.DataFrame, *, rows: int = REVIEW_LOAD_ROWS, seed: int = 0
) -> dict[str, Any]:
    """How much the default rules send to review, per source: civil and hostile test comments.

    The precision a rule's ``precision 0.8`` threshold reaches follows the base rate of the rows
    it was chosen on; this is what a moderator sees instead. Each source's ``test`` comments
    with a known ``toxicity`` label (at most ``rows``, a fixed sample) are scored by
    :class:`~moderation.moderator.Moderator` with the shipped rules as one flat export (no
    threads, no articles, so off-topic rules stay silent) and the escalated share of the civil
    and of the toxic ones is counted.
    """
    from moderation.moderator import Moderator
    from moderation.rules import load_rules

    moderator = Moderator(bundle, load_rules(None))
    out: dict[str, Any] = {}
    test = corpus[(corpus["split"] == "test") & corpus[schema.TOXICITY].notna()]
    for source, group in test.groupby("source", sort=True):
        if len(group) > rows:
            group = group.sample(rows, random_state=seed)
        toxic = group[schema.TOXICITY].to_numpy(dtype=float) >= 0.5
        if toxic.all() or not toxic.any():
            continue
        frame = pd.DataFrame(
            {schema.COMMENT_ID: [str(i) for i in range(len(group))], schema.TEXT: group["text"]}
        )
        escalated = (moderator.score(frame)[schema.ACTION] != "allow").to_numpy()
        out[str(source)] = {
            "n": len(group),
            "toxic_share": round(float(toxic.mean()), 4),
            "civil_escalated": round(float(escalated[~toxic].mean()), 4),
            "toxic_escalated": round(float(escalated[toxic].mean()), 4),
            "precision": round(float(toxic[escalated].mean()), 4) if escalated.any() else None,
        }
    return out


def off_topic_metrics(bundle: Any, datasets_dir: Path) -> tuple[dict[str, Any], list[str]]:
    """The bundle's off-topic scorer measured again, and what could only be copied.

    The held-out intruder worlds are rebuilt from ``datasets_dir`` with the training split
    (:func:`~moderation.offtopic.intruder_threads`) and the seed the bundle was trained with,
    so the scorer, whose vocabulary never saw those threads, gives the ROC-AUCs recorded at
    training time (the shipped bundle's to the last digit). SemEval-2015, C3 and YouTube spam
    are measured as :func:`~moderation.offtopic.evaluate_off_topic` does.

    Returns
    -------
    tuple
        The metrics (named as in the manifest's ``metrics.off_topic``), and the names of the
        entries that could not be measured here (their data absent) and are copied from the
        manifest.
    """
    manifest = bundle.manifest
    recorded = dict(manifest.get("metrics", {}).get("off_topic", {}))
    scorer = bundle.off_topic  # the compiled arrays: the same scores as the pickled scorer
    measured: dict[str, Any] = {}
    try:
        split = intruder_threads(datasets_dir)
    except TrainingError as error:
        logger.warning("held-out intruders not measured again: %s", error)
    else:
        seed = int(manifest.get("training", {}).get("seed", 0))
        measured.update(measure_intruders(scorer, split, seed=seed))
    measured.update(evaluate_off_topic(scorer, datasets_dir))
    copied = [name for name in recorded if name not in measured]
    return {**{name: recorded[name] for name in copied}, **measured}, copied


def evaluate_bundle(
    bundle: Any, datasets_dir: Path, *, full: bool = False, seed: int = 0
) -> dict[str, Any]:
    """Evaluate a loaded :class:`~moderation.bundle.Bundle` on the labelled datasets.

    Parameters
    ----------
    bundle
        A loaded bundle (its manifest supplies thresholds and the training sources).
    datasets_dir
        Folder with the labelled datasets (``../shared/datasets``).
    full
        Also run the refits: Davidson 5-fold cross-validation and leave-one-source-out
        (11 refits of the recipe; about 30 minutes on 2 cores with the full datasets).
    seed
        Random seed of the refits.

    Returns
    -------
    dict
        The report: bundle name, thresholds, ``heldout`` and ``cross_domain`` metrics per
        source and label, OLID sub-task A (shipped model and research protocol), identity-bias
        metrics, toxic spans, thresholds at target precision, ``curves`` per label on the
        held-out test rows (source-balanced), ``off_topic`` (:func:`off_topic_metrics`; the
        entries copied from the manifest are listed in ``off_topic_copied``), and with
        ``full`` ``davidson_cv`` and ``leave_one_source_out``. ``evaluation`` also records
        how long this run took (``evaluate_seconds``, or ``evaluate_full_seconds`` with
        ``full``; wall-clock).
    """
    started = time.monotonic()
    datasets_dir = Path(datasets_dir)
    manifest = bundle.manifest
    trained = list(manifest.get("heldout_sources") or manifest.get("sources", {}))
    corpus = load_corpus(datasets_dir)
    thresholds = {k: float(v) for k, v in manifest.get("thresholds", {}).items()}
    model = bundle.hostility
    report: dict[str, Any] = {
        "bundle": str(bundle.path),
        "name": manifest.get("name"),
        "thresholds": thresholds,
        "trained_sources": trained,
        **evaluate_model(model, corpus, thresholds, trained, datasets_dir),
    }
    include_restricted = bool(manifest.get("training", {}).get("include_restricted", False))
    rows = split_training_rows(corpus, include_restricted=include_restricted)
    report["thresholds_at_precision"] = precision_thresholds(model, rows, corpus)
    pooled = [s for s in trained if s not in NOT_FITTED]
    test = corpus[(corpus["split"] == "test") & corpus["source"].isin(pooled)]
    test = test.reset_index(drop=True)
    report["curves"] = curves(test, model.predict(test["text"].tolist()))
    report["curves_data"] = "test rows of " + ", ".join(pooled) + ", every source weighing the same"
    evaluation: dict[str, Any] = {}
    if "olid" not in trained:
        evaluation["olid_research"] = olid_research(corpus, seed=seed)
    if full:
        evaluation["davidson_cv"] = davidson_cv(corpus, datasets_dir, seed=seed)
        evaluation["leave_one_source_out"] = leave_one_source_out(
            corpus, report["heldout"], seed=seed
        )
    evaluation["review_load"] = review_load(bundle, corpus, seed=seed)
    report["off_topic"], report["off_topic_copied"] = off_topic_metrics(bundle, datasets_dir)
    seconds = round(time.monotonic() - started, 1)
    evaluation["evaluate_full_seconds" if full else "evaluate_seconds"] = seconds
    report["evaluation"] = evaluation
    return report


def render_report(report: Mapping[str, Any]) -> str:
    """The Markdown version of an evaluation report."""
    evaluation = report.get("evaluation") or {}
    parts = [
        f"# Evaluation of `{report.get('name')}`",
        "",
        "All metrics are on `test` rows only (official test splits where they exist, otherwise "
        "a stable 20 % hash split). Thresholds come from the bundle manifest or from validation "
        "rows, never from a test set.",
        "",
        "## Summary",
        "",
        headline_table(report, evaluation),
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
    research = evaluation.get("olid_research")
    if research:
        parts += [
            "",
            f"OLID research protocol (fitted on {research['fit_rows']} OLID training tweets, "
            f"threshold {research['threshold']:.3f} from OLID validation tweets): macro-F1 "
            f"{research['macro_f1']:.3f}, ROC-AUC {research['roc_auc']:.3f}. Not shippable.",
        ]
    cv = evaluation.get("davidson_cv")
    if cv:
        classes = ", ".join(f"{c} {v:.3f}" for c, v in cv["class_f1"].items())
        parts += [
            "",
            f"## Davidson {cv['folds']}-fold cross-validation (n={cv['n']})",
            "",
            f"Weighted F1 {cv['weighted_f1']:.3f}, macro F1 {cv['macro_f1']:.3f}; per class "
            f"{classes}. Method: {cv['method']}.",
        ]
    loso = evaluation.get("leave_one_source_out")
    if loso:
        parts += ["", "## Leave one training source out", "", loso_table(loso)]
    load = evaluation.get("review_load")
    if load:
        parts += ["", "## What the default rules send to review", "", review_load_table(load)]
    at_precision = report.get("thresholds_at_precision")
    if at_precision:
        parts += ["", "## Thresholds at a target precision", "", precision_table(at_precision)]
    templates = report.get("identity_templates")
    if templates:
        parts += [
            "",
            "## Identity-term bias (Borkan et al. 2019)",
            "",
            identity_summary(templates),
            "",
            identity_table(templates),
        ]
    bias = report.get("identity_bias")
    if bias:
        parts += ["", "Sentence-level identity test sets (toxicity ROC-AUC):", ""]
        parts += [f"- {name}: {m['roc_auc']:.3f} (n={m['n']})" for name, m in bias.items()]
    off_topic = report.get("off_topic")
    if off_topic:
        copied = report.get("off_topic_copied") or []
        parts += [
            "",
            "## Off-topic scorer (held-out intruder threads and cross-domain sets)",
            "",
            "Measured by this run: the held-out fifth of the ToxiChat and Ruddit threads (the "
            "training split, worlds drawn with the bundle's training seed) and the "
            "evaluation-only SemEval-2015, C3 and YouTube spam sets.",
            "",
            off_topic_table(off_topic),
        ]
        if copied:
            parts += [
                "",
                "Copied from the manifest, not measured again (their data is absent): "
                + ", ".join(f"`{name}`" for name in copied)
                + ".",
            ]
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


#: Report keys copied into the manifest's ``metrics`` by :func:`refresh_card`: every section
#: :func:`evaluate_bundle` measures that the model card shows (training time writes the same
#: keys, see ``train.train_bundle``).
METRIC_KEYS = (
    "heldout",
    "cross_domain",
    "calibration",
    "olid_subtask_a",
    "identity_bias",
    "identity_templates",
    "toxic_spans_test",
    "obfuscation",
    "long_text_insults",
    "off_topic",
)


def refresh_card(
    bundle_dir: Path,
    datasets_dir: Path,
    *,
    report: Mapping[str, Any] | None = None,
    full: bool = False,
) -> Path:
    """Record an evaluation in an existing bundle's manifest and model card.

    The pickled pipeline is not touched: every metrics section the report holds
    (:data:`METRIC_KEYS`: held-out and cross-domain tables, calibration, OLID, identity bias,
    toxic spans, evasion, long comments, off-topic), thresholds at target precision and
    ``evaluation`` (OLID research protocol, Davidson cross-validation, leave-one-source-out,
    review load and run times, when measured) are replaced, the card is re-rendered from the
    manifest, and the card's SHA-256 in the manifest is updated so the bundle still loads. A
    previous metrics section or ``evaluation`` entry not measured again is kept. What training
    alone knows (thresholds, how calibration maps were chosen, training data) is kept as is.

    Parameters
    ----------
    bundle_dir
        The bundle to update.
    datasets_dir
        Folder with the labelled datasets.
    report
        An :func:`evaluate_bundle` report of this bundle (evaluated here if omitted).
    full
        Passed to :func:`evaluate_bundle` when ``report`` is omitted.

    Returns
    -------
    pathlib.Path
        ``bundle_dir``.
    """
    bundle_dir = Path(bundle_dir)
    bundle = load_bundle(bundle_dir)
    if report is None:
        report = evaluate_bundle(bundle, datasets_dir, full=full)
    manifest = dict(bundle.manifest)
    metrics = dict(manifest.get("metrics", {}))
    metrics.update({k: report[k] for k in METRIC_KEYS if k in report})
    manifest["metrics"] = metrics
    manifest["thresholds_at_precision"] = report["thresholds_at_precision"]
    manifest["thresholds_at_precision_method"] = AT_PRECISION_METHOD
    evaluation = dict(manifest.get("evaluation", {}))
    evaluation.update(report.get("evaluation", {}))
    manifest["evaluation"] = evaluation
    card = render_card(bundle_dir.name, manifest)
    card_path = bundle_dir / MODEL_CARD
    card_path.write_text(card, encoding="utf-8")
    files = dict(manifest.get("files", {}))
    files[MODEL_CARD] = sha256_file(card_path)
    manifest["files"] = files
    (bundle_dir / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    logger.info("refreshed %s and %s in %s", MANIFEST, MODEL_CARD, bundle_dir)
    return bundle_dir


def known_sources() -> list[str]:
    """Names of all corpus sources (for help texts)."""
    return list(SOURCES)
