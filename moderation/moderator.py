"""The library's front door: load a bundle and rules, score comments, decide actions.

`Moderator` composes the steps of the flow in one direction::

    comments ─ validate ─ thread context ─ hostility + off-topic scores ─ rules ─ explanations

It holds no state beyond the loaded bundle and rules, never prints, and
returns a new DataFrame with one row per input comment in input order.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from moderation import schema
from moderation.bundle import Bundle, default_bundle_path, load_bundle
from moderation.dynamics import (
    AUTHOR_ESCALATED,
    BACK_AND_FORTH,
    DERAILED_AT,
    HOSTILITY_TREND,
    PARTICIPANTS,
    USER_DIRECTED_INSULT,
    author_escalations,
    comment_signals,
    thread_dynamics,
)
from moderation.rules import Rules, apply_rules, load_rules
from moderation.schema import validate_comments
from moderation.thread import attach_context

log = logging.getLogger(__name__)

#: Output column: JSON word spans behind each hostile score of an escalated comment.
SPANS = "spans"
#: Thread dynamics that reach the output after ``depth`` and ``root_id``.
THREAD_OUTPUT = (
    DERAILED_AT,
    BACK_AND_FORTH,
    PARTICIPANTS,
    HOSTILITY_TREND,
    USER_DIRECTED_INSULT,
)
#: How many n-grams to quote in a reason.
TERMS_PER_LABEL = 3
#: Scores from which a reason quotes its evidence.
EXPLAIN_AT = 0.5


@dataclass(frozen=True)
class ScoredComment:
    """The result of :meth:`Moderator.score_one`.

    ``terms``, ``spans`` and ``word_spans`` are filled for each hostility label whose score is
    at or above its bundle threshold. ``spans`` are Perspective-style sentence spans
    (``{"begin", "end", "score"}`` in character offsets of ``text``, every sentence scoring at
    or above the threshold); ``word_spans`` are the offending words inside them, as typed
    (``1d10t`` and ``i d i o t`` included).
    """

    text: str
    scores: dict[str, float]
    action: str
    priority: int
    reasons: list[str]
    terms: dict[str, list[tuple[str, float]]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    spans: dict[str, list[dict[str, int | float]]] = field(default_factory=dict)
    word_spans: dict[str, list[dict[str, int | float]]] = field(default_factory=dict)


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

    def score(
        self,
        comments: pd.DataFrame,
        articles: pd.DataFrame | None = None,
        *,
        author_history: pd.DataFrame | None = None,
    ) -> pd.DataFrame:
        """Score every comment and decide what to do with it.

        Parameters
        ----------
        comments
            A comment export with the canonical columns (see :mod:`moderation.schema`);
            extra columns pass through untouched.
        articles
            Optional ``thread_id``, ``title``, ``body`` per thread, used for ``off_topic``.
        author_history
            Optional ``author``, ``escalated``, ``rejected`` counts from the review
            queue (:meth:`moderation.reviewqueue.ReviewQueue.author_history`), for
            rules on an author's history.

        Returns
        -------
        DataFrame
            One row per input comment, same order: the input columns, then the
            scores (``toxicity`` … ``off_topic``), ``action``, ``priority``,
            ``reasons``, the thread fields ``depth``, ``root_id``, ``derailed_at``,
            ``back_and_forth``, ``participants``, ``hostility_trend``,
            ``user_directed_insult``, and ``problems``. Input columns that share a
            name with an output column are kept as ``<name>_input``.
        """
        valid = validate_comments(comments)
        context = attach_context(valid, articles)
        texts = valid[schema.TEXT].astype(str)
        empty = texts.str.strip() == ""
        hostility = self.bundle.hostility.predict(texts.tolist())
        hostility.index = valid.index
        hostility[empty.to_numpy()] = np.nan
        similarity = self._off_topic(valid, context)
        scores = hostility.assign(**{schema.OFF_TOPIC: similarity[schema.OFF_TOPIC]})
        dynamics = thread_dynamics(valid, scores)

        signals = comment_signals(valid, context, scores, author_history=author_history)
        facts = pd.concat(
            [scores, context, similarity.drop(columns=schema.OFF_TOPIC), dynamics, signals], axis=1
        )
        facts["length"] = texts.str.len()
        facts[schema.TEXT] = texts
        facts[schema.AUTHOR] = (
            valid[schema.AUTHOR].astype(str) if schema.AUTHOR in valid.columns else ""
        )
        for column in valid.columns:  # input columns rules may scope on (thread_id, site, ...)
            if column not in facts.columns:
                facts[column] = valid[column]
        decisions = apply_rules(
            facts,
            self.rules,
            precision_thresholds=self.bundle.precision_thresholds,
            decision_thresholds=self.bundle.thresholds,
        )
        if AUTHOR_ESCALATED in self.rules.columns():
            # Rules on an author's escalations in this export need a first decision pass.
            facts[AUTHOR_ESCALATED] = author_escalations(
                facts[schema.AUTHOR], decisions[schema.ACTION]
            )
            decisions = apply_rules(
                facts,
                self.rules,
                precision_thresholds=self.bundle.precision_thresholds,
                decision_thresholds=self.bundle.thresholds,
            )
        decisions[schema.REASONS] = self._explain(valid, facts, decisions)
        decisions.insert(3, SPANS, self._spans(valid, facts, decisions))

        thread_fields = pd.concat(
            [context[[schema.DEPTH, schema.ROOT_ID]], dynamics[list(THREAD_OUTPUT)]], axis=1
        )
        inputs = valid.drop(columns=[schema.PROBLEMS])
        output_names = {*schema.SCORES, *decisions.columns, *thread_fields.columns, schema.PROBLEMS}
        inputs = inputs.rename(
            columns={c: f"{c}_input" for c in inputs.columns if c in output_names}
        )
        out = pd.concat(
            [inputs, scores, decisions, thread_fields, valid[[schema.PROBLEMS]]], axis=1
        )
        log.info(
            "scored %d comments: %s",
            len(out),
            ", ".join(f"{k} {v}" for k, v in out[schema.ACTION].value_counts().items()),
        )
        return out

    def _off_topic(self, comments: pd.DataFrame, context: pd.DataFrame) -> pd.DataFrame:
        """``off_topic`` and the similarities behind it (see ``OffTopicScorer.score_frame``).

        A lone comment without an article has nothing to compare with, so all four are NaN
        whatever the scorer; answering that directly spares :meth:`score_one` from loading
        the off-topic scorer (and scikit-learn) at all.
        """
        columns = [schema.OFF_TOPIC, "sim_article", "sim_parent", "sim_thread"]
        if len(comments) == 0:  # an empty export: the vectorisers refuse zero rows
            return pd.DataFrame(columns=columns, index=comments.index, dtype=np.float64)
        if len(comments) == 1:
            article = (
                f"{context[schema.ARTICLE_TITLE].iat[0]}\n{context[schema.ARTICLE_BODY].iat[0]}"
            )
            if not article.strip():
                return pd.DataFrame(np.nan, index=comments.index, columns=columns)
        out: pd.DataFrame = self.bundle.off_topic.score_frame(comments, context)
        return out

    def _spans(
        self, comments: pd.DataFrame, facts: pd.DataFrame, decisions: pd.DataFrame
    ) -> pd.Series:
        """JSON ``{label: [{begin, end, score}]}``: the offending words of escalated comments.

        For each hostility label at or above the bundle's threshold, the words
        behind it in original-text offsets (the review page highlights them).
        Empty for allowed comments and labels below threshold.
        """
        out = pd.Series("", index=decisions.index, dtype=object)
        rows = np.flatnonzero((decisions[schema.ACTION] != schema.Action.ALLOW.value).to_numpy())
        if len(rows) == 0:
            return out
        thresholds = self.bundle.thresholds
        texts = comments[schema.TEXT].astype(str).to_numpy()[rows].tolist()
        found = self.bundle.hostility.span_maps(texts, list(schema.LABELS), thresholds)
        values = facts[list(schema.LABELS)].to_numpy(dtype=float)[rows]
        for k, (i, spans) in enumerate(zip(rows, found, strict=True)):
            hits = {
                label: [s.to_dict() for s in spans[label]["word"]]
                for j, label in enumerate(schema.LABELS)
                if values[k, j] >= thresholds.get(label, 0.5) and spans[label]["word"]
            }
            if hits:
                out.iloc[int(i)] = json.dumps(hits)
        return out

    def _explain(
        self, comments: pd.DataFrame, facts: pd.DataFrame, decisions: pd.DataFrame
    ) -> pd.Series:
        """Add to the reasons of escalated rows the evidence a moderator needs.

        For each hostility label at 0.5 or more, the words that pushed it up;
        for an off-topic comment, its similarity to the article and parent and
        the words it shares with its chain but not with the article. Computed
        only for escalated rows: quoting costs far more than scoring.
        """
        reasons = decisions[schema.REASONS].copy()
        escalated = np.flatnonzero(
            (decisions[schema.ACTION] != schema.Action.ALLOW.value).to_numpy()
        )
        values = facts[list(schema.LABELS)].to_numpy(dtype=float)
        off = facts[schema.OFF_TOPIC].to_numpy(dtype=float)
        texts = comments[schema.TEXT].astype(str).to_numpy()
        article = (facts[schema.ARTICLE_TITLE] + "\n" + facts[schema.ARTICLE_BODY]).to_numpy()
        chain = (facts[schema.PARENT_TEXT] + "\n" + facts[schema.ROOT_TEXT]).to_numpy()
        explained = [
            [
                label
                for label, value in zip(schema.LABELS, values[i], strict=True)
                if value >= EXPLAIN_AT  # NaN compares False
            ]
            for i in map(int, escalated)
        ]
        terms = self.bundle.hostility.top_terms_maps(
            texts[escalated].tolist(), explained, k=TERMS_PER_LABEL
        )
        for i, labels, found in zip(map(int, escalated), explained, terms, strict=True):
            evidence = []
            quoted = [
                f"{label}: " + ", ".join(f"'{t}'" for t, _ in found[label])
                for label in labels
                if found[label]
            ]
            if quoted:
                evidence.append("words: " + " | ".join(quoted))
            if off[i] >= EXPLAIN_AT:
                sims = facts.iloc[i]
                shared = self.bundle.off_topic.explain(texts[i], article[i], [chain[i]])
                note = (
                    f"off-topic: similarity to article {sims['sim_article']:.2f}, "
                    f"to parent {sims['sim_parent']:.2f}"
                )
                if shared:
                    note += "; shares with its chain, not the article: " + ", ".join(
                        f"'{w}'" for w in shared
                    )
                evidence.append(note)
            if evidence:
                reasons.iloc[i] = "; ".join([reasons.iloc[i], *evidence])
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
        thresholds = self.bundle.thresholds
        flagged = [
            label
            for label in schema.LABELS
            if not np.isnan(scores[label]) and scores[label] >= thresholds.get(label, 0.5)
        ]
        model = self.bundle.hostility
        terms = model.top_terms_map(text, flagged, k=TERMS_PER_LABEL)
        found = model.span_map(text, flagged, thresholds) if flagged else {}
        return ScoredComment(
            text=text,
            scores=scores,
            action=str(row[schema.ACTION]),
            priority=int(row[schema.PRIORITY]),
            reasons=_split(row[schema.REASONS]),
            terms=terms,
            problems=_split(row[schema.PROBLEMS]),
            spans={k: [s.to_dict() for s in v["sentence"]] for k, v in found.items()},
            word_spans={k: [s.to_dict() for s in v["word"]] for k, v in found.items()},
        )


def _split(value: Any) -> list[str]:
    return [part for part in str(value).split("; ") if part] if isinstance(value, str) else []
