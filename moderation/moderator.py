"""The library's front door: load a bundle and rules, score comments, decide actions.

`Moderator` composes the steps of the flow in one direction::

    comments ─ validate ─ thread context ─ hostility + off-topic scores ─ rules ─ explanations

It holds no state beyond the loaded bundle and rules, never prints, and
returns a new DataFrame with one row per input comment in input order.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from moderation import schema
from moderation.bundle import Bundle, default_bundle_path, load_bundle
from moderation.rules import Rules, apply_rules, load_rules
from moderation.schema import validate_comments
from moderation.thread import attach_context

log = logging.getLogger(__name__)

#: Thread fields that reach the output (the rest of the context is internal).
THREAD_OUTPUT = (schema.DEPTH, schema.ROOT_ID)
#: How many n-grams to quote in a reason.
TERMS_PER_LABEL = 3


@dataclass(frozen=True)
class ScoredComment:
    """The result of :meth:`Moderator.score_one`."""

    text: str
    scores: dict[str, float]
    action: str
    priority: int
    reasons: list[str]
    terms: dict[str, list[tuple[str, float]]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Moderator:
    """A loaded model bundle plus the rules that turn its scores into actions.

    Examples
    --------
    >>> from moderation import Moderator
    >>> m = Moderator.load()                                  # doctest: +SKIP
    >>> m.score_one("you are an idiot").action                # doctest: +SKIP
    'review'
    """

    bundle: Bundle
    rules: Rules

    @classmethod
    def load(
        cls, path: str | Path | None = None, *, rules: str | Path | Rules | None = None
    ) -> Moderator:
        """Load a model bundle (default: the bundled one) and rules (default: shipped rules).

        Bundles are pickles, which run code when loaded: load only bundles you trust.
        """
        bundle = load_bundle(default_bundle_path() if path is None else Path(path))
        loaded = rules if isinstance(rules, Rules) else load_rules(rules)
        return cls(bundle, loaded)

    def with_rules(self, rules: str | Path | Rules) -> Moderator:
        """The same model with other rules."""
        return replace(self, rules=rules if isinstance(rules, Rules) else load_rules(rules))

    def score(self, comments: pd.DataFrame, articles: pd.DataFrame | None = None) -> pd.DataFrame:
        """Score every comment and decide what to do with it.

        Parameters
        ----------
        comments
            A comment export with the canonical columns (see :mod:`moderation.schema`);
            extra columns pass through untouched.
        articles
            Optional ``thread_id``, ``title``, ``body`` per thread, used for ``off_topic``.

        Returns
        -------
        DataFrame
            One row per input comment, same order: the input columns, then the
            scores (``toxicity`` … ``off_topic``), ``action``, ``priority``,
            ``reasons``, ``depth``, ``root_id`` and ``problems``. Input columns
            that share a name with an output column are kept as ``<name>_input``.
        """
        valid = validate_comments(comments)
        context = attach_context(valid, articles)
        texts = valid[schema.TEXT].astype(str)
        empty = texts.str.strip() == ""
        hostility = self.bundle.hostility.predict(texts.tolist())
        hostility.index = valid.index
        hostility[empty.to_numpy()] = np.nan
        off_topic = self.bundle.off_topic.score_frame(valid, context)
        scores = hostility.assign(**{schema.OFF_TOPIC: off_topic})

        facts = pd.concat([scores, context], axis=1)
        facts["length"] = texts.str.len()
        decisions = apply_rules(facts, self.rules)
        decisions[schema.REASONS] = self._explain(valid, facts, decisions)

        inputs = valid.drop(columns=[schema.PROBLEMS])
        output_names = {*schema.SCORES, *decisions.columns, *THREAD_OUTPUT, schema.PROBLEMS}
        inputs = inputs.rename(
            columns={c: f"{c}_input" for c in inputs.columns if c in output_names}
        )
        out = pd.concat(
            [inputs, scores, decisions, context[list(THREAD_OUTPUT)], valid[[schema.PROBLEMS]]],
            axis=1,
        )
        log.info(
            "scored %d comments: %s",
            len(out),
            ", ".join(f"{k} {v}" for k, v in out[schema.ACTION].value_counts().items()),
        )
        return out

    def _explain(
        self, comments: pd.DataFrame, facts: pd.DataFrame, decisions: pd.DataFrame
    ) -> pd.Series:
        """Add the words behind each hostile score to the reasons of escalated rows.

        Computed only for escalated rows: moderators read these, and quoting
        n-grams costs far more than scoring.
        """
        reasons = decisions[schema.REASONS].copy()
        thresholds = self.bundle.manifest.get("thresholds", {})
        escalated = decisions[schema.ACTION] != schema.Action.ALLOW.value
        values = facts[list(schema.LABELS)].to_numpy(dtype=float)
        texts = comments[schema.TEXT].astype(str).to_numpy()
        for i in map(int, np.flatnonzero(escalated.to_numpy())):
            text = texts[i]
            quoted = []
            for label, value in zip(schema.LABELS, values[i], strict=True):
                if value >= float(thresholds.get(label, 0.5)):  # NaN compares False
                    terms = self.bundle.hostility.top_terms(text, label, k=TERMS_PER_LABEL)
                    if terms:
                        quoted.append(f"{label}: " + ", ".join(f"'{t}'" for t, _ in terms))
            if quoted:
                reasons.iloc[i] = f"{reasons.iloc[i]}; words: " + " | ".join(quoted)
        return reasons

    def score_one(
        self, text: str, parent: str | None = None, article: str | None = None
    ) -> ScoredComment:
        """Score a single comment, optionally with its parent's text and its article's text."""
        rows = [{schema.COMMENT_ID: "comment", schema.THREAD_ID: "t", schema.TEXT: text}]
        if parent is not None:
            rows[0][schema.PARENT_ID] = "parent"
            rows.insert(
                0, {schema.COMMENT_ID: "parent", schema.THREAD_ID: "t", schema.TEXT: parent}
            )
        frame = pd.DataFrame(rows).fillna("")
        articles = None
        if article is not None:
            articles = pd.DataFrame(
                {schema.THREAD_ID: ["t"], schema.TITLE: [""], schema.BODY: [article]}
            )
        row = self.score(frame, articles).iloc[-1]
        scores = {label: float(row[label]) for label in schema.SCORES}
        terms = {
            label: self.bundle.hostility.top_terms(text, label, k=TERMS_PER_LABEL)
            for label in schema.LABELS
            if not np.isnan(scores[label]) and scores[label] >= 0.5
        }
        return ScoredComment(
            text=text,
            scores=scores,
            action=str(row[schema.ACTION]),
            priority=int(row[schema.PRIORITY]),
            reasons=_split(row[schema.REASONS]),
            terms=terms,
            problems=_split(row[schema.PROBLEMS]),
        )


def _split(value: Any) -> list[str]:
    return [part for part in str(value).split("; ") if part] if isinstance(value, str) else []
