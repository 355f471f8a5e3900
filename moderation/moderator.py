"""The library's front door: load a bundle and rules, score comments, decide actions.

`Moderator` composes the steps of the flow in one direction::

    comments ─ validate ─ thread context ─ hostility + off-topic scores ─ rules ─ explanations

It holds no state beyond the loaded bundle and rules, never prints, and
returns a new DataFrame with one row per input comment in input order.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import cached_property, partial
from importlib import import_module
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np

from moderation.bundle import Bundle, default_bundle_path, load_bundle
from moderation.contract import (
    ACTION,
    AUTHOR_ESCALATED,
    BACK_AND_FORTH,
    DERAILED_AT,
    HOSTILITY_TREND,
    LABELS,
    PARTICIPANTS,
    PRIORITY,
    PROBLEMS,
    REASONS,
    SCORES,
    USER_DIRECTED_INSULT,
)
from moderation.rules import EVIDENCE_LABELS, Rules, load_rules
from moderation.single import (
    EXPLAIN_AT,
    TERMS_PER_LABEL,
    LoneComment,
    SingleScorer,
    evidence_labels,
    quote_evidence,
)

log = logging.getLogger(__name__)


class _Lazy:
    """A module imported on first attribute access.

    The batch path's modules import pandas; binding them lazily lets ``import moderation``,
    :meth:`Moderator.load` and :meth:`Moderator.score_one` run without pandas, while
    :meth:`Moderator.score` imports them on its first call.
    """

    def __init__(self, name: str) -> None:
        self._name = name
        self._module: ModuleType | None = None

    def __getattr__(self, attr: str) -> Any:
        if self._module is None:
            self._module = import_module(self._name)
        return getattr(self._module, attr)


def _deferred(module: str, name: str) -> Callable[..., Any]:
    """A function of ``module`` imported on first call (see :class:`_Lazy`)."""
    where = _Lazy(module)

    def call(*args: Any, **kwargs: Any) -> Any:
        return getattr(where, name)(*args, **kwargs)

    call.__name__ = call.__qualname__ = name
    return call


if TYPE_CHECKING:
    import pandas as pd

    from moderation import schema
    from moderation.dynamics import author_escalations, comment_signals, thread_dynamics
    from moderation.rules import apply_rules
    from moderation.schema import validate_comments
    from moderation.thread import attach_context
else:
    pd = _Lazy("pandas")
    schema = _Lazy("moderation.schema")
    author_escalations = _deferred("moderation.dynamics", "author_escalations")
    comment_signals = _deferred("moderation.dynamics", "comment_signals")
    thread_dynamics = _deferred("moderation.dynamics", "thread_dynamics")
    apply_rules = _deferred("moderation.rules", "apply_rules")
    validate_comments = _deferred("moderation.schema", "validate_comments")
    attach_context = _deferred("moderation.thread", "attach_context")

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
__all__ = [
    "EXPLAIN_AT",
    "SPANS",
    "TERMS_PER_LABEL",
    "THREAD_OUTPUT",
    "Explanation",
    "Moderator",
    "ScoredComment",
]


@dataclass(frozen=True)
class Explanation:
    """Why a comment got its action: what :class:`ScoredComment` computes on first access.

    ``reasons`` are the rules' reasons, the words behind each hostile score quoted in them;
    ``terms``, ``spans`` and ``word_spans`` cover each hostility label whose score is at or
    above its bundle threshold (see :class:`ScoredComment`).
    """

    reasons: list[str]
    terms: dict[str, list[tuple[str, float]]] = field(default_factory=dict)
    spans: dict[str, list[dict[str, int | float]]] = field(default_factory=dict)
    word_spans: dict[str, list[dict[str, int | float]]] = field(default_factory=dict)


@dataclass(frozen=True, eq=False)
class ScoredComment:
    """The result of :meth:`Moderator.score_one`.

    ``scores``, ``action``, ``priority`` and ``problems`` are computed by the call. The
    explanation -- ``reasons``, ``terms``, ``spans`` and ``word_spans`` -- is computed on the
    first access of any of them (all four at once, then kept), with the same values as an
    eager computation: a comment system that only reads the action does not pay for quoting
    words and finding spans, which cost several times the scoring of a flagged comment.
    ``reasons`` is part of it because it quotes the words behind high scores.

    ``terms``, ``spans`` and ``word_spans`` are filled for each hostility label whose score is
    at or above its bundle threshold. ``spans`` are Perspective-style sentence spans
    (``{"begin", "end", "score"}`` in character offsets of ``text``, every sentence scoring at
    or above the threshold); ``word_spans`` are the offending words inside them, as typed
    (``1d10t`` and ``i d i o t`` included).

    A frozen dataclass whose explanation fields are properties over one cached
    :class:`Explanation` (``explain`` is that explanation, or the function computing it):
    equality and pickling compute it; ``repr`` shows it only once computed.
    """

    text: str
    scores: dict[str, float]
    action: str
    priority: int
    problems: list[str]
    explain: Explanation | Callable[[], Explanation] = field(repr=False)

    @cached_property
    def explanation(self) -> Explanation:
        """Reasons, terms and spans (computed on first access, then kept)."""
        return self.explain if isinstance(self.explain, Explanation) else self.explain()

    @property
    def reasons(self) -> list[str]:
        """Why the action: each matched rule's reason, then the words behind high scores."""
        return self.explanation.reasons

    @property
    def terms(self) -> dict[str, list[tuple[str, float]]]:
        """Per flagged label: the top n-grams behind its score, with their contributions."""
        return self.explanation.terms

    @property
    def spans(self) -> dict[str, list[dict[str, int | float]]]:
        """Per flagged label: the sentences at or above its threshold."""
        return self.explanation.spans

    @property
    def word_spans(self) -> dict[str, list[dict[str, int | float]]]:
        """Per flagged label: the offending words inside those sentences, as typed."""
        return self.explanation.word_spans

    def _key(self) -> tuple[Any, ...]:
        return (self.text, self.scores, self.action, self.priority, self.problems)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ScoredComment):
            return NotImplemented
        return self._key() == other._key() and self.explanation == other.explanation

    __hash__ = None  # type: ignore[assignment]  # mutable dicts inside, as before

    def __repr__(self) -> str:
        known = "explanation" in self.__dict__ or isinstance(self.explain, Explanation)
        explained = self.explanation if known else "(computed on access)"
        return (
            f"ScoredComment(text={self.text!r}, scores={self.scores!r}, action={self.action!r}, "
            f"priority={self.priority!r}, problems={self.problems!r}, explanation={explained!r})"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (ScoredComment, (*self._key(), self.explanation))


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
        from moderation.normalize import memoized

        with memoized():  # each distinct text is normalised and split into sentences once
            return self._score(comments, articles, author_history)

    def _score(
        self,
        comments: pd.DataFrame,
        articles: pd.DataFrame | None,
        author_history: pd.DataFrame | None,
    ) -> pd.DataFrame:
        valid = validate_comments(comments)
        context = attach_context(valid, articles)
        texts = valid[schema.TEXT].astype(str)
        empty = texts.str.strip() == ""
        hostility = self.bundle.hostility.predict(texts.tolist())
        hostility.index = valid.index
        hostility[empty.to_numpy()] = np.nan
        similarity = self._off_topic(valid, context)
        scores = hostility.assign(**{schema.OFF_TOPIC: similarity[schema.OFF_TOPIC]})
        dynamics = thread_dynamics(
            valid, scores, stop_words=self._stop_words(scores[schema.OFF_TOPIC])
        )

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
            evidence=True,
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
                evidence=True,
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

    def _stop_words(self, off_topic: pd.Series) -> frozenset[str] | None:
        """The off-topic vectoriser's stop words, when comments were scored for off-topic.

        Asked only then, so the scorer is loaded already (a lone comment without an article
        never loads it). None (thread dynamics then import scikit-learn's list) for a stand-in
        scorer without a list.
        """
        if not off_topic.notna().any():
            return None
        words = getattr(self.bundle.off_topic, "stop_words", None)
        return words if isinstance(words, frozenset) and words else None

    def _off_topic(self, comments: pd.DataFrame, context: pd.DataFrame) -> pd.DataFrame:
        """``off_topic`` and the similarities behind it (see ``OffTopicScorer.score_frame``).

        A lone comment without an article has nothing to compare with, so all four are NaN
        whatever the scorer; answering that directly spares :meth:`score_one` from loading
        the off-topic scorer (and scikit-learn) at all. "Lone" also inside a larger export: no
        article, and alone in its thread (or, in an export without ``thread_id``, in its reply
        chain). The scorer would otherwise judge it from its own words, and a flat export of
        short civil comments ("Eloquently put.") reached the review queue as off-topic.
        """
        columns = [schema.OFF_TOPIC, "sim_article", "sim_parent", "sim_thread"]
        if len(comments) == 0:  # an empty export: the vectorisers refuse zero rows
            return pd.DataFrame(columns=columns, index=comments.index, dtype=np.float64)
        lone = _without_context(comments, context)
        if lone.all():
            return pd.DataFrame(np.nan, index=comments.index, columns=columns)
        out: pd.DataFrame = self.bundle.off_topic.score_frame(comments, context)
        out.loc[lone, columns] = np.nan
        return out

    def _spans(
        self, comments: pd.DataFrame, facts: pd.DataFrame, decisions: pd.DataFrame
    ) -> pd.Series:
        """JSON ``{label: [{begin, end, score}]}``: the offending words of escalated comments.

        For each hostility label at or above the bundle's threshold, the words
        behind it in original-text offsets (the review page highlights them).
        Empty for allowed comments and labels below threshold; only those labels are
        looked for.
        """
        thresholds = self.bundle.thresholds
        values = facts[list(schema.LABELS)].to_numpy(dtype=float)
        cuts = np.array([thresholds.get(label, 0.5) for label in schema.LABELS])
        escalated = (decisions[schema.ACTION] != schema.Action.ALLOW.value).to_numpy()
        with np.errstate(invalid="ignore"):
            flagged = (values >= cuts) & escalated[:, None]  # NaN compares False
        rows = np.flatnonzero(flagged.any(axis=1))
        out = [""] * len(decisions)
        if len(rows):
            texts = comments[schema.TEXT].astype(str).to_numpy()[rows].tolist()
            wanted = [[schema.LABELS[j] for j in np.flatnonzero(flagged[i])] for i in rows]
            found = self.bundle.hostility.span_maps_each(texts, wanted, thresholds)
            for i, labels, spans in zip(rows.tolist(), wanted, found, strict=True):
                hits = {
                    label: [s.to_dict() for s in spans[label]["word"]]
                    for label in labels
                    if spans[label]["word"]
                }
                if hits:
                    out[i] = json.dumps(hits)
        return pd.Series(out, index=decisions.index, dtype=object)

    def _explain(
        self, comments: pd.DataFrame, facts: pd.DataFrame, decisions: pd.DataFrame
    ) -> pd.Series:
        """Add to the reasons of escalated rows the evidence a moderator needs.

        For each hostility label at 0.5 or more, or tested by a rule that escalated the row
        (``_evidence_labels`` of ``decisions``, dropped here), the words that pushed it up;
        for an off-topic comment, its similarity to the article and parent and
        the words it shares with its chain but not with the article. Computed
        only for escalated rows: quoting costs far more than scoring.
        """
        column = decisions[schema.REASONS]
        tested = decisions.pop(EVIDENCE_LABELS).tolist()
        reasons = column.tolist()
        escalated = np.flatnonzero(
            (decisions[schema.ACTION] != schema.Action.ALLOW.value).to_numpy()
        )
        values = facts[list(schema.LABELS)].to_numpy(dtype=float)
        off = facts[schema.OFF_TOPIC].to_numpy(dtype=float)
        texts = comments[schema.TEXT].astype(str).to_numpy()
        with np.errstate(invalid="ignore"):
            hot = values[escalated] >= EXPLAIN_AT  # NaN compares False
        explained = [
            [label for j, label in enumerate(schema.LABELS) if row[j] or label in tested[i]]
            for i, row in zip(escalated.tolist(), hot, strict=True)
        ]
        terms = self.bundle.hostility.top_terms_maps(
            texts[escalated].tolist(), explained, k=TERMS_PER_LABEL
        )
        off_rows = escalated[off[escalated] >= EXPLAIN_AT]
        notes: dict[int, str] = {}
        if len(off_rows):
            article = (facts[schema.ARTICLE_TITLE] + "\n" + facts[schema.ARTICLE_BODY]).to_numpy()
            chain = (facts[schema.PARENT_TEXT] + "\n" + facts[schema.ROOT_TEXT]).to_numpy()
            sim_article = facts["sim_article"].to_numpy()
            sim_parent = facts["sim_parent"].to_numpy()
            for i in off_rows.tolist():
                shared = self.bundle.off_topic.explain(texts[i], article[i], [chain[i]])
                note = (
                    f"off-topic: similarity to article {sim_article[i]:.2f}, "
                    f"to parent {sim_parent[i]:.2f}"
                )
                if shared:
                    note += "; shares with its chain, not the article: " + ", ".join(
                        f"'{w}'" for w in shared
                    )
                notes[i] = note
        for i, labels, found in zip(escalated.tolist(), explained, terms, strict=True):
            evidence = []
            quoted = [
                f"{label}: " + ", ".join(f"'{t}'" for t, _ in found[label])
                for label in labels
                if found[label]
            ]
            if quoted:
                evidence.append("words: " + " | ".join(quoted))
            if i in notes:
                evidence.append(notes[i])
            if evidence:
                reasons[i] = "; ".join([reasons[i], *evidence])
        return pd.Series(reasons, index=column.index, dtype=column.dtype, name=column.name)

    def score_one(
        self, text: str, parent: str | None = None, article: str | None = None
    ) -> ScoredComment:
        """Score a single comment, optionally with its parent's text and its article's text.

        Gives what :meth:`score` gives the comment in a one-row export (same scores, action,
        priority and reasons). Without ``parent`` and ``article`` it is computed without data
        frames (:mod:`moderation.single`: a fraction of a millisecond, no pandas import); with
        them, or when the rules test what that path does not compute, by :meth:`score`.
        """
        if parent is None and article is None and isinstance(text, str) and self._single.supported:
            lone = self._single.score(text)
            return ScoredComment(
                text=text,
                scores=lone.scores,
                action=lone.action,
                priority=lone.priority,
                problems=_split("; ".join(lone.problems)),
                explain=partial(self._explain_lone, text, lone),
            )
        row = self._score_row(text, parent, article)
        scores = {label: float(row[label]) for label in SCORES}
        return ScoredComment(
            text=text,
            scores=scores,
            action=str(row[ACTION]),
            priority=int(row[PRIORITY]),
            problems=_split(row[PROBLEMS]),
            explain=partial(self._explain_row, text, scores, row[REASONS]),
        )

    def _explain_lone(self, text: str, lone: LoneComment) -> Explanation:
        """The explanation of a comment scored by :mod:`moderation.single`."""
        thresholds = self.bundle.thresholds
        flagged = _flagged(lone.scores, thresholds)
        quoted = evidence_labels(lone.decision, lone.scores)
        if lone.text == text:  # explained from the same arrays, without the full model
            terms, found = self._single.model.explain(
                text, list(dict.fromkeys([*flagged, *quoted])), flagged, thresholds
            )
            reasons = quote_evidence(lone.decision, quoted, terms)
            terms = {label: terms[label] for label in flagged}
        else:  # undecodable bytes: the model explains the text as typed, as it always has
            said = self.bundle.hostility.top_terms_map(lone.text, quoted, k=TERMS_PER_LABEL)
            reasons = quote_evidence(lone.decision, quoted, said)
            terms, found = self._explain_one(text, flagged)
        return _explanation(reasons, terms, found)

    def _explain_row(self, text: str, scores: dict[str, float], reasons: Any) -> Explanation:
        """The explanation of a comment scored by :meth:`score` (its reasons, as the row says)."""
        terms, found = self._explain_one(text, _flagged(scores, self.bundle.thresholds))
        return _explanation(reasons, terms, found)

    def _explain_one(
        self, text: str, flagged: list[str]
    ) -> tuple[dict[str, list[tuple[str, float]]], dict[str, dict[str, Any]]]:
        """Terms and spans of ``flagged`` labels by the full model (imports pandas)."""
        if not flagged:
            return {}, {}
        model = self.bundle.hostility
        terms = model.top_terms_map(text, flagged, k=TERMS_PER_LABEL)
        return terms, model.span_map(text, flagged, self.bundle.thresholds)

    @cached_property
    def _single(self) -> SingleScorer:
        """The frame-free scorer of :meth:`score_one` (vocabularies built on first use)."""
        return SingleScorer(self.bundle, self.rules)

    def _score_row(self, text: str, parent: str | None, article: str | None) -> pd.Series:
        """:meth:`score` of a one-row export (plus the parent's row), the comment's output row."""
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
        row: pd.Series = self.score(frame, articles).iloc[-1]
        return row


def _flagged(scores: dict[str, float], thresholds: dict[str, float]) -> list[str]:
    """Labels at or above their threshold (0.5 without one): the ones explained."""
    return [
        label
        for label in LABELS
        if scores[label] >= thresholds.get(label, 0.5)  # NaN compares False
    ]


def _explanation(
    reasons: Any, terms: dict[str, list[tuple[str, float]]], found: dict[str, dict[str, Any]]
) -> Explanation:
    return Explanation(
        reasons=_split(reasons),
        terms=terms,
        spans={k: [s.to_dict() for s in v["sentence"]] for k, v in found.items()},
        word_spans={k: [s.to_dict() for s in v["word"]] for k, v in found.items()},
    )


def _split(value: Any) -> list[str]:
    return [part for part in str(value).split("; ") if part] if isinstance(value, str) else []


def _without_context(comments: pd.DataFrame, context: pd.DataFrame) -> np.ndarray:
    """Comments with nothing to be off-topic from: no article and no other comment around.

    The other comments are the thread's when the export has ``thread_id`` and the reply
    chain's (same ``root_id``) when it does not.
    """
    article = context[schema.ARTICLE_TITLE].astype(str) + context[schema.ARTICLE_BODY].astype(str)
    no_article = (article.str.strip() == "").to_numpy()
    group = comments[schema.THREAD_ID] if schema.THREAD_ID in comments else context[schema.ROOT_ID]
    alone = (group.astype(str).map(group.astype(str).value_counts()) == 1).to_numpy()
    lone: np.ndarray = no_article & alone
    return lone
