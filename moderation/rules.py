"""Rules: turn scores and thread fields into an action, a priority and readable reasons.

Sits after the models in the flow (… → scores → **rules** → queue / write). It
reads columns only; it never calls a model. A rules file is YAML, ordered, one
mapping per rule::

    rules:
      - name: likely-threat
        when: {threat: ">= 0.6"}
        action: hold
        priority: 95
        reason: "Possible threat ({threat:.2f})"

``when`` is a condition: a mapping of column → range (every entry must hold),
or ``all: [...]``, ``any: [...]``, ``not: {...}``. A range is a comparison
string (``">= 0.8"``, ``"< 0.2"``, ``"== 1"``) or an inclusive ``[low, high]``
pair. A missing value (NaN) never satisfies a range.

Semantics: every rule is evaluated. No rule matches → ``allow``. Matching
rules that disagree between ``allow`` and anything stronger → ``review`` (a
person decides), otherwise the strongest matched action wins
(``remove`` > ``hold`` > ``review``). ``priority`` is the highest priority
among matched escalating rules, and ``reasons`` lists every matched rule,
highest priority first, with the values that made it match.

Problems in a rules file are reported all at once, each with file, line and
column; unknown keys and unknown columns are errors so a typo cannot make a
rule silently match nothing.
"""

from __future__ import annotations

import difflib
import logging
import re
import string
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import yaml

from moderation import contract
from moderation.conditions import (
    TEXT_KINDS,
    All,
    Any_,
    Condition,
    InSet,
    Not,
    Range,
    TextMatch,
    compile_safe,
)
from moderation.contract import DERAILED_AT, DYNAMICS_RULE_COLUMNS, SIGNAL_COLUMNS
from moderation.errors import RulesError

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

#: Columns a rule may test: every score, numeric thread fields and thread dynamics.
RULE_COLUMNS = (
    *contract.SCORES,
    contract.DEPTH,
    contract.SIBLING_INDEX,
    "length",
    "sim_article",
    "sim_parent",
    "sim_thread",
    *DYNAMICS_RULE_COLUMNS,
    *SIGNAL_COLUMNS,
)
#: Text columns a rule may match with includes-word, regex, ...
TEXT_COLUMNS = (contract.TEXT, contract.AUTHOR, contract.PARENT_TEXT, contract.ARTICLE_TITLE)
#: Option keys of a text condition besides its one match kind.
TEXT_OPTIONS = ("case-sensitive",)
WORDS_FILE = "words-file"
RULE_KEYS = ("name", "when", "action", "priority", "reason", "group", "scope")
#: How a rule's escalations reach the queue: one item per comment or per derailed sub-thread.
GROUPS = ("comment", "subthread")
REVIEW_GROUP = "review_group"
#: Column :func:`apply_rules` adds with ``evidence=True`` (not an output column).
EVIDENCE_LABELS = "_evidence_labels"
COMBINATORS = ("all", "any", "not")

_RANGE = re.compile(r"^\s*(>=|<=|==|!=|>|<)\s*(-?\d+(?:\.\d+)?|-?\.\d+)\s*$")
#: ``">= precision 0.8"``: at or above the bundle's threshold for 80 % held-out precision.
_AT_PRECISION = re.compile(r"^\s*(>=|>|<=|<)\s*precision\s+(0?\.\d+|1(?:\.0+)?)\s*$")


@dataclass(frozen=True)
class Rule:
    """One named rule: a condition, the action it asks for, a priority and a reason."""

    name: str
    when: Condition
    action: contract.Action
    priority: int = 0
    reason: str = ""
    group: str = "comment"
    scope_columns: tuple[str, ...] = ()
    line: int = 0
    column: int = 0

    def describe(self, row: Mapping[str, Any]) -> str:
        """The reason text for one matched row, followed by the values that matched.

        Text conditions show the piece of text that matched (also available to
        the reason as ``{match}``), never the whole comment.
        """
        record = dict(row)
        columns = dict.fromkeys(self.when.columns())
        values = {c: record.get(c) for c in columns if c not in TEXT_COLUMNS}
        found = self.when.matched(record)
        match = ", ".join(f"'{m}'" for m in dict.fromkeys(found))
        text = self.reason.format(**values, match=match) if self.reason else self.name
        shown = [f"{c} {_fmt(v)}" for c, v in values.items() if c not in self.scope_columns]
        if match:
            shown.append(f"matched {match}")
        return f"{text} [{self.name}: {', '.join(shown)}]"


def _fmt(value: Any) -> str:
    if isinstance(value, float | np.floating):
        return f"{value:.2f}"
    return str(value)


@dataclass(frozen=True)
class Rules:
    """An ordered, validated set of rules (see the module docstring for semantics)."""

    rules: tuple[Rule, ...]
    source: str = "<rules>"

    def columns(self) -> list[str]:
        """Every column some rule tests."""
        return list(dict.fromkeys(c for r in self.rules for c in r.when.columns()))


# --- loading with positions ------------------------------------------------------------------


class _Located(dict[Any, Any]):
    """A mapping that remembers the line and column of each key and of itself."""

    positions: dict[Any, tuple[int, int]]
    start: tuple[int, int]


class _LocatingLoader(yaml.SafeLoader):
    """SafeLoader whose mappings are :class:`_Located`, for error positions."""


def _construct_located(loader: _LocatingLoader, node: yaml.MappingNode) -> _Located:
    loader.flatten_mapping(node)
    out = _Located()
    out.positions = {}
    out.start = (node.start_mark.line + 1, node.start_mark.column + 1)
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        out[key] = loader.construct_object(value_node, deep=True)
        out.positions[key] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
    return out


_LocatingLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _construct_located,
)


@dataclass(frozen=True)
class RuleProblem:
    """One problem in a rules file, with where it is."""

    source: str
    line: int
    column: int
    message: str

    def __str__(self) -> str:
        return f"{self.source}:{self.line}:{self.column}: {self.message}"


class _Parser:
    """Builds :class:`Rules` from loaded YAML, collecting every problem on the way."""

    def __init__(self, source: str, base_dir: Path | None = None) -> None:
        self.source = source
        self.base_dir = base_dir or Path.cwd()
        self.problems: list[RuleProblem] = []

    def problem(self, where: tuple[int, int], message: str) -> None:
        self.problems.append(RuleProblem(self.source, where[0], where[1], message))

    def unknown(self, key: object, choices: Iterable[str], what: str) -> str:
        close = difflib.get_close_matches(str(key), list(choices), n=1)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        return f"unknown {what} '{key}'.{hint} Known: {', '.join(choices)}"

    def document(self, data: Any) -> tuple[Rule, ...]:
        if not isinstance(data, _Located):
            self.problem((1, 1), "a rules file must be a mapping with a 'rules:' list")
            return ()
        for key in data:
            if key not in ("rules", "version"):
                self.problem(data.positions[key], self.unknown(key, ("rules", "version"), "key"))
        if data.get("version", 1) != 1:
            self.problem(data.positions["version"], "unsupported version; this release reads 1")
        items = data.get("rules")
        if not isinstance(items, list):
            self.problem(data.positions.get("rules", data.start), "'rules' must be a list of rules")
            return ()
        rules = [self.rule(item, data.positions["rules"]) for item in items]
        seen: dict[str, int] = {}
        for rule in rules:
            if rule is None:
                continue
            if rule.name in seen:
                self.problem(
                    (rule.line, rule.column),
                    f"duplicate rule name '{rule.name}' (first at line {seen[rule.name]})",
                )
            seen.setdefault(rule.name, rule.line)
        return tuple(r for r in rules if r is not None)

    def rule(self, item: Any, where: tuple[int, int]) -> Rule | None:
        if not isinstance(item, _Located):
            self.problem(where, f"each rule must be a mapping, got {item!r}")
            return None
        before = len(self.problems)
        for key in item:
            if key not in RULE_KEYS:
                self.problem(item.positions[key], self.unknown(key, RULE_KEYS, "rule key"))
        for key in ("name", "when", "action"):
            if key not in item:
                self.problem(item.start, f"rule is missing '{key}'")
        name = item.get("name")
        if "name" in item and not (isinstance(name, str) and name.strip()):
            self.problem(item.positions["name"], "'name' must be a non-empty string")
        action = item.get("action")
        actions = [a.value for a in contract.Action]
        if "action" in item and action not in actions:
            self.problem(item.positions["action"], self.unknown(action, actions, "action"))
        priority = item.get("priority", 0)
        if not isinstance(priority, int) or isinstance(priority, bool):
            self.problem(
                item.positions["priority"], f"'priority' must be an integer, got {priority!r}"
            )
        when = self.condition(item["when"], item.positions["when"]) if "when" in item else None
        reason = item.get("reason", "")
        if not isinstance(reason, str):
            self.problem(item.positions["reason"], "'reason' must be a string")
        elif when is not None:
            self.reason_fields(reason, when, item.positions.get("reason", item.start))
        group = item.get("group", "comment")
        if group not in GROUPS:
            self.problem(item.positions["group"], self.unknown(group, GROUPS, "group"))
        scope = self.scope(item["scope"], item.positions["scope"]) if "scope" in item else ()
        if len(self.problems) > before or when is None or scope is None:
            return None
        return Rule(
            name=str(name),
            when=All((*scope, when)) if scope else when,
            scope_columns=tuple(c.column for c in scope),
            action=contract.Action(str(action)),
            priority=int(priority),
            reason=reason,
            group=str(group),
            line=item.start[0],
            column=item.start[1],
        )

    def condition(self, node: Any, where: tuple[int, int]) -> Condition | None:
        if not isinstance(node, _Located) or not node:
            self.problem(
                where,
                "a condition must be a non-empty mapping of column: range, or all / any / not",
            )
            return None
        parts: list[Condition | None] = []
        for key, value in node.items():
            at = node.positions[key]
            if key in ("all", "any"):
                if not isinstance(value, list) or not value:
                    self.problem(at, f"'{key}' needs a non-empty list of conditions")
                    parts.append(None)
                    continue
                subs = [self.condition(v, at) for v in value]
                ok = [s for s in subs if s is not None]
                parts.append(
                    None
                    if len(ok) < len(subs)
                    else (All(tuple(ok)) if key == "all" else Any_(tuple(ok)))
                )
            elif key == "not":
                sub = self.condition(value, at)
                parts.append(None if sub is None else Not(sub))
            elif key in RULE_COLUMNS:
                parts.append(self.range(str(key), value, at))
            elif key in TEXT_COLUMNS:
                parts.append(self.text(str(key), value, at))
            else:
                known = (*COMBINATORS, *TEXT_COLUMNS, *RULE_COLUMNS)
                self.problem(at, self.unknown(key, known, "column or operator"))
                parts.append(None)
        if any(p is None for p in parts):
            return None
        done = [p for p in parts if p is not None]
        return done[0] if len(done) == 1 else All(tuple(done))

    def range(self, column: str, value: Any, where: tuple[int, int]) -> Range | None:
        if isinstance(value, str):
            match = _RANGE.match(value)
            if match:
                return Range(column, match.group(1), float(match.group(2)))
            at = _AT_PRECISION.match(value)
            if at and column in contract.LABELS:
                return Range(column, at.group(1), float("nan"), precision=str(float(at.group(2))))
            if at:
                self.problem(
                    where, f"'precision' thresholds exist for model labels only, not '{column}'"
                )
                return None
        elif (
            isinstance(value, list)
            and len(value) == 2
            and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
        ):
            low, high = float(value[0]), float(value[1])
            if low <= high:
                return Range(column, "between", low, high)
            self.problem(where, f"range for '{column}' has low {low} above high {high}")
            return None
        self.problem(
            where,
            f"bad range for '{column}': {value!r}. Write a comparison such as \">= 0.8\", "
            'an inclusive pair such as [0.6, 1], or ">= precision 0.8" for the model\'s '
            "threshold at that precision",
        )
        return None

    def text(self, column: str, value: Any, where: tuple[int, int]) -> TextMatch | None:
        """``text: {includes-word: [...], case-sensitive: false}`` and the other match kinds."""
        kinds = (*TEXT_KINDS, WORDS_FILE)
        if not isinstance(value, _Located):
            self.problem(where, f"'{column}' needs a mapping such as {{includes-word: [idiot]}}")
            return None
        for key in value:
            if key not in (*kinds, *TEXT_OPTIONS):
                self.problem(
                    value.positions[key], self.unknown(key, (*kinds, *TEXT_OPTIONS), "match kind")
                )
        chosen = [k for k in value if k in kinds]
        if len(chosen) != 1:
            self.problem(where, f"'{column}' needs exactly one of {', '.join(kinds)}")
            return None
        kind, at = chosen[0], value.positions[chosen[0]]
        sensitive = value.get("case-sensitive", False)
        if not isinstance(sensitive, bool):
            self.problem(
                value.positions["case-sensitive"], "'case-sensitive' must be true or false"
            )
            return None
        raw = value[kind]
        items = raw if isinstance(raw, list) else [raw]
        if not items or not all(isinstance(i, str) and i != "" for i in items):
            self.problem(at, f"'{kind}' needs a non-empty string or list of non-empty strings")
            return None
        if kind == WORDS_FILE:
            words = [w for f in items for w in self.words(f, at)]
            if not words:
                return None
            kind, items = "includes-word", words
        condition = TextMatch(column, kind, tuple(items), case_sensitive=sensitive)
        try:
            if kind == "regex":
                for pattern in items:
                    compile_safe(pattern)
            condition.regex()
        except ValueError as exc:
            self.problem(at, f"{kind} for '{column}': {exc}")
            return None
        return condition

    def words(self, name: str, where: tuple[int, int]) -> list[str]:
        """A word list: one word or phrase per line; blank lines and ``#`` comments skipped."""
        path = (self.base_dir / name).resolve()
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            self.problem(where, f"words file not found: {path}")
            return []
        except (UnicodeDecodeError, OSError) as exc:
            self.problem(where, f"cannot read words file {path}: {exc}")
            return []
        words = [line.split("#", 1)[0].strip() for line in lines]
        found = [w for w in words if w]
        if not found:
            self.problem(where, f"words file {path} has no words")
        return found

    def scope(self, node: Any, where: tuple[int, int]) -> tuple[InSet, ...] | None:
        """``scope: {thread_id: [a, b], site: news}``: the rule applies only to those rows."""
        if not isinstance(node, _Located) or not node:
            self.problem(where, "'scope' needs a mapping of column: value or list of values")
            return None
        out = []
        for key, value in node.items():
            values = value if isinstance(value, list) else [value]
            if not values or not all(
                isinstance(v, str | int) and not isinstance(v, bool) for v in values
            ):
                self.problem(
                    node.positions[key], f"scope '{key}' needs a value or a list of values"
                )
                return None
            out.append(InSet(str(key), frozenset(str(v) for v in values)))
        return tuple(out)

    def reason_fields(self, reason: str, when: Condition, where: tuple[int, int]) -> None:
        allowed = {*RULE_COLUMNS, "match"}
        try:
            fields = [f for _, f, _, _ in string.Formatter().parse(reason) if f is not None]
        except ValueError as exc:
            self.problem(where, f"bad placeholder in reason: {exc}")
            return
        for name in fields:
            if name not in allowed:
                self.problem(where, self.unknown(name, sorted(allowed), "placeholder"))
            elif name == "match":
                if not any(c in TEXT_COLUMNS for c in when.columns()):
                    self.problem(where, "placeholder '{match}' needs a text condition in 'when'")
            elif name not in when.columns():
                self.problem(where, f"placeholder '{{{name}}}' is not tested by this rule's 'when'")


def check_rules_text(
    text: str, source: str = "<rules>", *, base_dir: Path | None = None
) -> tuple[Rules, list[RuleProblem]]:
    """Parse rules from YAML text; return what parsed and every problem found.

    ``base_dir`` is where ``words-file`` paths are looked up (the rules
    file's directory; the current directory by default).
    """
    parser = _Parser(source, base_dir)
    try:
        data = yaml.load(text, Loader=_LocatingLoader)  # a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        problem = getattr(exc, "problem", None) or str(exc)
        return Rules((), source), [
            RuleProblem(source, where[0], where[1], f"not valid YAML: {problem}")
        ]
    rules = parser.document(data)
    return Rules(rules, source), sorted(parser.problems, key=lambda p: (p.line, p.column))


def check_rules(path: str | Path) -> list[RuleProblem]:
    """Every problem in the rules file at ``path`` (empty when it is valid)."""
    return check_rules_text(_read(path), str(path), base_dir=Path(path).parent)[1]


#: Columns that say a comment left the article: evidence for a person, not for removal.
OFF_TOPIC_COLUMNS = (contract.OFF_TOPIC, contract.DERAILED)


def rule_warnings(rules: Rules) -> list[RuleProblem]:
    """Valid rules that are probably a mistake, each with the rule's line: a warning, not an error.

    A rule that removes comments for being off-topic or derailed: the model's off-topic
    score is the weakest evidence it gives (a reply can share no word with the article and
    still answer it), so off-topic replies should go to a person (``review``), never to
    automatic removal. Only tests that select off-topic comments count: ``off_topic < 0.2``
    or ``not: {derailed: "== 1"}`` in a ``remove`` rule selects on-topic ones.
    """
    found = []
    for rule in rules.rules:
        if rule.action is not contract.Action.REMOVE:
            continue
        columns = list(dict.fromkeys(_selects_off_topic(rule.when, negated=False)))
        if columns:
            tested = " and ".join(f"'{c}'" for c in columns)
            found.append(
                RuleProblem(
                    rules.source,
                    rule.line,
                    rule.column,
                    f"warning: rule '{rule.name}' removes comments for {tested}; off-topic "
                    "and derailed replies should go to review, never to automatic removal "
                    "(use action: review)",
                )
            )
    return found


def _selects_off_topic(condition: Condition, *, negated: bool) -> list[str]:
    """The off-topic columns `condition` tests in the off-topic direction (see `rule_warnings`)."""
    if isinstance(condition, Not):
        return _selects_off_topic(condition.part, negated=not negated)
    if isinstance(condition, All):  # Any_ too
        return [c for part in condition.parts for c in _selects_off_topic(part, negated=negated)]
    if not isinstance(condition, Range) or condition.column not in OFF_TOPIC_COLUMNS:
        return []
    if condition.op in (">", ">="):
        high = True
    elif condition.op in ("<", "<="):
        high = False
    elif condition.op == "==":
        high = condition.value > 0
    elif condition.op == "!=":
        high = condition.value <= 0
    else:  # an inclusive [low, high] range
        high = (condition.high or 0.0) > 0
    return [condition.column] if high != negated else []


def load_rules(path: str | Path | None = None) -> Rules:
    """Load and validate a rules file; ``None`` loads the shipped default rules.

    Raises
    ------
    RulesError
        Listing every problem, each as ``file:line:column: message``.
    """
    if path is None:
        text = resources.files("moderation").joinpath("defaults/rules.yaml").read_text("utf-8")
        source = "default rules (moderation/defaults/rules.yaml)"
    else:
        text, source = _read(path), str(path)
    base = Path(path).parent if path is not None else None
    rules, problems = check_rules_text(text, source, base_dir=base)
    if problems:
        raise RulesError("\n".join(str(p) for p in problems))
    return rules


def _read(path: str | Path) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RulesError(f"{path}: rules file not found") from None
    except UnicodeDecodeError as exc:
        raise RulesError(f"{path}: not UTF-8 text (byte {exc.start}); save it as UTF-8") from None


# --- applying --------------------------------------------------------------------------------


def resolve_precision(
    rules: Rules,
    thresholds: Mapping[str, Mapping[str, float]] | None,
    fallback: Mapping[str, float] | None = None,
) -> Rules:
    """Fill ``">= precision 0.8"`` bounds with the bundle's thresholds at that precision.

    ``thresholds`` maps label → precision (as ``"0.8"``) → threshold, as a model
    bundle's manifest records them (``thresholds_at_precision``). Where the
    bundle's held-out data never reached that precision (a small retrain),
    the label's ``fallback`` decision threshold stands in, with a warning.
    """

    def fill(condition: Condition, rule: Rule) -> Condition:
        if isinstance(condition, Range) and condition.precision is not None:
            value = (thresholds or {}).get(condition.column, {}).get(condition.precision)
            if value is None and condition.column in (fallback or {}):
                value = (fallback or {})[condition.column]
                log.warning(
                    "rule '%s': the model bundle has no %s threshold for precision %s; "
                    "using its decision threshold %.3f",
                    rule.name,
                    condition.column,
                    condition.precision,
                    value,
                )
            if value is None:
                raise RulesError(
                    f"{rules.source}:{rule.line}: rule '{rule.name}' compares {condition.column} "
                    f"with the threshold for precision {condition.precision}, which this model "
                    "bundle does not have (it was not reached on held-out data, or the bundle "
                    "predates such thresholds); write a number instead"
                )
            return replace(condition, value=float(value))
        if isinstance(condition, Not):
            return Not(fill(condition.part, rule))
        if isinstance(condition, All):  # Any_ too
            return type(condition)(tuple(fill(p, rule) for p in condition.parts))
        return condition

    return replace(rules, rules=tuple(replace(r, when=fill(r.when, r)) for r in rules.rules))


def apply_rules(
    frame: pd.DataFrame,
    rules: Rules,
    *,
    precision_thresholds: Mapping[str, Mapping[str, float]] | None = None,
    decision_thresholds: Mapping[str, float] | None = None,
    evidence: bool = False,
) -> pd.DataFrame:
    """Decide ``action``, ``priority``, ``reasons`` and ``review_group`` for every row.

    With ``evidence``, also :data:`EVIDENCE_LABELS`: per row the tuple of hostility labels
    the escalating rules tested (:attr:`Decision.labels`), for the caller to quote words for
    and drop.

    ``frame`` must hold every column the rules test (scores and thread
    fields). ``review_group`` is the ``derailed_at`` id for a row escalated
    only by ``group: subthread`` rules (the queue shows the sub-thread as one
    item), else "". Returns a new frame with the same index; rows are never
    dropped or reordered.
    """
    rules = resolve_precision(rules, precision_thresholds, decision_thresholds)
    columns = rules.columns()
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise RulesError(
            f"{rules.source}: rules test column(s) {', '.join(missing)} that the scored "
            f"frame does not have. Found: {', '.join(map(str, frame.columns))}"
        )
    ordered = by_priority(rules)
    n = len(frame)
    actions = np.full(n, contract.Action.ALLOW.value, dtype=object)
    priorities = np.zeros(n, dtype=int)
    reasons = np.full(n, "", dtype=object)
    groups = np.full(n, "", dtype=object)
    tested = np.empty(n, dtype=object)
    tested[:] = [()] * n
    if ordered:
        masks = np.column_stack([r.when.mask(frame) for r in ordered])
        values = frame[columns].to_numpy(dtype=object)
        derailed_at = (
            frame[DERAILED_AT].astype(str).to_numpy() if DERAILED_AT in frame.columns else None
        )
        for i in map(int, np.flatnonzero(masks.any(axis=1))):
            matched = [r for r, hit in zip(ordered, masks[i], strict=True) if hit]
            record = dict(zip(columns, values[i], strict=True))
            found = _decision(matched, record, None if derailed_at is None else derailed_at[i])
            actions[i] = found.action
            priorities[i] = found.priority
            reasons[i] = found.reasons
            groups[i] = found.review_group
            tested[i] = found.labels
    import pandas as pd

    columns_out = {
        contract.ACTION: actions,
        contract.PRIORITY: priorities,
        contract.REASONS: reasons,
        REVIEW_GROUP: groups,
    }
    if evidence:
        columns_out[EVIDENCE_LABELS] = tested
    return pd.DataFrame(columns_out, index=frame.index)


@dataclass(frozen=True)
class Decision:
    """What the rules decide for one comment: the columns :func:`apply_rules` adds."""

    action: str
    priority: int
    reasons: str
    review_group: str
    #: The hostility labels the escalating rules tested: their words belong in the reasons
    #: even when the score is modest (a rule on ``insult >= 0.34`` fired).
    labels: tuple[str, ...] = ()


#: The decision of a comment no rule matches.
ALLOWED = Decision(contract.Action.ALLOW.value, 0, "", "")


def by_priority(rules: Rules) -> tuple[Rule, ...]:
    """The rules highest priority first (ties keep file order): the order of ``reasons``."""
    return tuple(sorted(rules.rules, key=lambda r: -r.priority))


def decide(record: Mapping[str, Any], ordered: Iterable[Rule]) -> Decision:
    """:func:`apply_rules` for one comment given as a mapping of column -> value.

    ``ordered`` is :func:`by_priority` of rules whose precision bounds are filled in
    (:func:`resolve_precision`); ``record`` must hold every column they test, with the values
    (and Python types: ``int`` counts, ``float`` scores) the scored frame would hold. Used by
    the single-comment path, which builds no frame.
    """
    matched = [r for r in ordered if r.when.holds(record)]
    if not matched:
        return ALLOWED
    derailed_at = record.get(DERAILED_AT)
    return _decision(matched, record, None if derailed_at is None else str(derailed_at))


def verdict(matched: Sequence[Rule]) -> tuple[str, int]:
    """The action and priority of a comment that ``matched`` rules: :func:`decide` without
    the reasons, which cost more to word (the single-comment path words them when read)."""
    escalating = [r for r in matched if r.action is not contract.Action.ALLOW]
    if escalating and len(escalating) < len(matched):
        action = contract.Action.REVIEW  # an allow rule disagrees: a person decides
    elif escalating:
        action = max((r.action for r in escalating), key=lambda a: a.severity)
    else:
        action = contract.Action.ALLOW
    return action.value, max((r.priority for r in escalating), default=0)


def _decision(matched: list[Rule], record: Mapping[str, Any], derailed_at: str | None) -> Decision:
    """The action, priority, reasons and review group of a comment that ``matched`` rules."""
    action, priority = verdict(matched)
    escalating = [r for r in matched if r.action is not contract.Action.ALLOW]
    group = ""
    if derailed_at is not None and escalating and all(r.group == "subthread" for r in escalating):
        group = derailed_at
    tested = (c for r in escalating for c in r.when.columns() if c in contract.LABELS)
    return Decision(
        action=action,
        priority=priority,
        reasons="; ".join(r.describe(record) for r in matched),
        review_group=group,
        labels=tuple(dict.fromkeys(tested)),
    )
