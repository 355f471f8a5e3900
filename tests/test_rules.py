"""Rules: parsing with positions, every problem reported, and the decision semantics."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from moderation import schema
from moderation.errors import RulesError
from moderation.rules import (
    EVIDENCE_LABELS,
    RULE_COLUMNS,
    Rules,
    apply_rules,
    check_rules,
    check_rules_text,
    load_rules,
    rule_warnings,
)

RULES = """\
version: 1
rules:
  - name: remove-severe
    when: {severe_toxicity: ">= 0.9"}
    action: remove
    priority: 100
    reason: "Severe ({severe_toxicity:.2f})"
  - name: review-insult
    when:
      all:
        - insult: [0.5, 1]
        - not: {depth: "== 0"}
    action: review
    priority: 50
  - name: trusted-short
    when: {length: "< 5"}
    action: allow
"""


def frame(**columns: list[float]) -> pd.DataFrame:
    n = len(next(iter(columns.values())))
    base: dict[str, list[float]] = {c: [0.0] * n for c in RULE_COLUMNS}
    base["length"] = [100.0] * n
    base.update(columns)
    return pd.DataFrame(base)


@pytest.fixture
def rules() -> Rules:
    parsed, problems = check_rules_text(RULES, "test.yaml")
    assert problems == []
    return parsed


def test_default_rules_are_valid_and_never_remove_off_topic() -> None:
    default = load_rules()
    assert default.rules
    for rule in default.rules:
        if "off_topic" in rule.when.columns():
            assert rule.action != schema.Action.REMOVE.value
    assert rule_warnings(default) == []


@pytest.mark.parametrize(
    "when",
    [
        "{off_topic: '>= 0.9'}",
        "{derailed: '== 1'}",
        "{derailed: '!= 0'}",
        "{off_topic: [0.8, 1]}",
        "{all: [{toxicity: '>= 0.5'}, {any: [{links: '>= 1'}, {off_topic: '> 0.7'}]}]}",
        "{not: {off_topic: '< 0.5'}}",
    ],
)
def test_removing_off_topic_comments_is_a_warning_with_the_rules_line(when: str) -> None:
    text = (
        "rules:\n  - name: fine\n    when: {toxicity: '>= 0.9'}\n    action: remove\n"
        f"  - name: drop-off-topic\n    when: {when}\n    action: remove\n"
    )
    rules, problems = check_rules_text(text, "r.yaml")
    assert problems == []  # still valid: it loads and scores
    warnings = rule_warnings(rules)
    assert len(warnings) == 1
    assert (warnings[0].line, warnings[0].column) == (5, 5)
    assert str(warnings[0]).startswith("r.yaml:5:5: warning: rule 'drop-off-topic' removes")
    assert "never to automatic removal" in warnings[0].message


@pytest.mark.parametrize(
    ("when", "action"),
    [
        ("{off_topic: '>= 0.9'}", "review"),
        ("{derailed: '== 1'}", "hold"),
        ("{all: [{toxicity: '>= 0.9'}, {off_topic: '< 0.2'}]}", "remove"),  # on-topic only
        ("{all: [{toxicity: '>= 0.9'}, {derailed: '== 0'}]}", "remove"),
        ("{all: [{toxicity: '>= 0.9'}, {not: {derailed: '== 1'}}]}", "remove"),
        ("{derailed_something: '== 1'}", "remove"),  # not a column: an error, not a warning
    ],
)
def test_no_warning_unless_a_remove_rule_selects_off_topic_comments(when: str, action: str) -> None:
    text = f"rules:\n  - name: r\n    when: {when}\n    action: {action}\n"
    rules, _ = check_rules_text(text, "r.yaml")
    assert rule_warnings(rules) == []


def test_no_match_allows(rules: Rules) -> None:
    out = apply_rules(frame(insult=[0.1]), rules)
    assert out.loc[0, schema.ACTION] == "allow"
    assert out.loc[0, schema.PRIORITY] == 0
    assert out.loc[0, schema.REASONS] == ""


def test_evidence_labels_are_the_scores_the_escalating_rules_tested(rules: Rules) -> None:
    data = frame(severe_toxicity=[0.95, 0.1, 0.1], insult=[0.7, 0.6, 0.1], depth=[1, 1, 1])
    out = apply_rules(data, rules, evidence=True)
    # depth is tested too, but only hostility labels have words to quote.
    assert out[EVIDENCE_LABELS].tolist() == [("severe_toxicity", "insult"), ("insult",), ()]
    assert EVIDENCE_LABELS not in apply_rules(data, rules).columns  # not an output column


def test_strongest_action_and_highest_priority_win(rules: Rules) -> None:
    out = apply_rules(frame(severe_toxicity=[0.95], insult=[0.7], depth=[1]), rules)
    assert out.loc[0, schema.ACTION] == "remove"
    assert out.loc[0, schema.PRIORITY] == 100
    reasons = out.loc[0, schema.REASONS]
    assert reasons.startswith("Severe (0.95) [remove-severe: severe_toxicity 0.95]")
    assert "review-insult" in reasons


def test_allow_disagreeing_with_escalation_goes_to_review(rules: Rules) -> None:
    out = apply_rules(frame(severe_toxicity=[0.95], length=[3]), rules)
    assert out.loc[0, schema.ACTION] == "review"
    assert "trusted-short" in out.loc[0, schema.REASONS]


def test_not_and_ranges(rules: Rules) -> None:
    out = apply_rules(frame(insult=[0.7, 0.7, 0.4], depth=[0, 2, 2]), rules)
    assert out[schema.ACTION].tolist() == ["allow", "review", "allow"]


def test_missing_value_never_matches() -> None:
    parsed, _ = check_rules_text(
        "rules:\n  - {name: a, when: {off_topic: '<= 0.5'}, action: review}\n"
    )
    out = apply_rules(frame(off_topic=[math.nan, 0.2]), parsed)
    assert out[schema.ACTION].tolist() == ["allow", "review"]


def test_keeps_index_and_rows(rules: Rules) -> None:
    scored = frame(insult=[0.9, 0.1, 0.9], depth=[1, 1, 1])
    scored.index = [10, 5, 7]
    out = apply_rules(scored, rules)
    assert out.index.tolist() == [10, 5, 7]


def test_missing_column_is_an_error(rules: Rules) -> None:
    with pytest.raises(RulesError, match="severe_toxicity"):
        apply_rules(pd.DataFrame({"insult": [0.3]}), rules)


@pytest.mark.parametrize(
    ("text", "where", "message"),
    [
        (
            "rules:\n  - name: a\n    when: {toxicty: '>= 0.8'}\n    action: review\n",
            "3:12",
            "unknown column or operator 'toxicty'. Did you mean 'toxicity'?",
        ),
        (
            "rules:\n  - name: a\n    when: {toxicity: '>= 0.8'}\n    action: hodl\n",
            "4:5",
            "unknown action 'hodl'. Did you mean 'hold'?",
        ),
        (
            "rules:\n  - name: a\n    when: {toxicity: '>= 0.8'}\n    action: hold\n    prio: 3\n",
            "5:5",
            "unknown rule key 'prio'. Did you mean 'priority'?",
        ),
        (
            "rules:\n  - name: a\n    when: {toxicity: '=> 0.8'}\n    action: hold\n",
            "3:12",
            "bad range for 'toxicity'",
        ),
        (
            "rules:\n  - name: a\n    when: {toxicity: [0.9, 0.1]}\n    action: hold\n",
            "3:12",
            "low 0.9 above high 0.1",
        ),
        (
            "rules:\n  - name: a\n    when: {toxicity: '>= 0.8'}\n    action: hold\n    priority: high\n",
            "5:5",
            "'priority' must be an integer",
        ),
        ("rules:\n  - name: a\n    action: hold\n", "2:5", "rule is missing 'when'"),
        (
            "rules:\n  - name: a\n    when: {toxicity: '>= 0.8'}\n    action: hold\n"
            "  - name: a\n    when: {insult: '>= 0.8'}\n    action: hold\n",
            "5:5",
            "duplicate rule name 'a'",
        ),
        (
            "rules:\n  - name: a\n    when: {toxicity: '>= 0.8'}\n    action: hold\n    reason: '{insult}'\n",
            "5:5",
            "placeholder '{insult}' is not tested",
        ),
        (
            "rules:\n  - name: a\n    when: {toxicity: '>= 0.8'}\n    action: hold\n"
            "    reason: '{toxicity.__class__}'\n",
            "5:5",
            "unknown placeholder",
        ),
        ("rulez: []\n", "1:1", "unknown key 'rulez'"),
        ("rules: [\n  - name: x\n   when", "2:3", "not valid YAML"),
        ("- just\n- a list\n", "1:1", "must be a mapping with a 'rules:' list"),
    ],
)
def test_problems_have_line_and_column(text: str, where: str, message: str) -> None:
    _, problems = check_rules_text(text, "r.yaml")
    rendered = [str(p) for p in problems]
    assert any(r.startswith(f"r.yaml:{where}") and message in r for r in rendered), rendered


def test_every_problem_is_reported_at_once() -> None:
    text = "rules:\n  - name: a\n    when: {toxicty: '>= 0.8'}\n    action: hodl\n    prio: 1\n"
    _, problems = check_rules_text(text)
    assert len(problems) == 3
    assert [p.line for p in problems] == sorted(p.line for p in problems)


def test_load_rules_raises_with_all_problems(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("rules:\n  - name: a\n    when: {toxicty: '>= 0.8'}\n    action: hodl\n")
    assert len(check_rules(path)) == 2
    with pytest.raises(RulesError) as info:
        load_rules(path)
    assert str(info.value).count(str(path)) == 2


def test_unreadable_rules_files(tmp_path: Path) -> None:
    with pytest.raises(RulesError, match="not found"):
        load_rules(tmp_path / "missing.yaml")
    latin = tmp_path / "latin.yaml"
    latin.write_bytes(b"rules: []\n# caf\xe9\n")
    with pytest.raises(RulesError, match="not UTF-8"):
        load_rules(latin)


@given(st.text(max_size=300))
@settings(deadline=None, max_examples=200)
def test_any_text_gives_rules_or_problems_never_a_crash(text: str) -> None:
    parsed, problems = check_rules_text(text)
    assert isinstance(parsed, Rules)
    assert all(p.line >= 1 for p in problems)


@given(
    st.lists(st.floats(0, 1) | st.just(math.nan), min_size=1, max_size=30),
    st.lists(st.floats(0, 1) | st.just(math.nan), min_size=1, max_size=30),
)
@settings(deadline=None, max_examples=100)
def test_default_rules_match_a_slow_reference(tox: list[float], off: list[float]) -> None:
    n = min(len(tox), len(off))
    scored = frame(toxicity=tox[:n], off_topic=off[:n])
    at_precision = {label: {"0.6": 0.6, "0.8": 0.6} for label in schema.LABELS}
    out = apply_rules(scored, load_rules(), precision_thresholds=at_precision)
    for i in range(n):
        expected = "allow"
        if (not np.isnan(tox[i]) and tox[i] >= 0.6) or (not np.isnan(off[i]) and off[i] >= 0.75):
            expected = "review"
        assert out.loc[i, schema.ACTION] == expected


def test_precision_bounds_use_the_bundles_thresholds() -> None:
    rules, problems = check_rules_text(
        "rules:\n  - {name: tox, when: {toxicity: '>= precision 0.8'}, action: review}\n"
    )
    assert problems == []
    scored = frame(toxicity=[0.2, 0.35])
    out = apply_rules(scored, rules, precision_thresholds={"toxicity": {"0.8": 0.3}})
    assert out["action"].tolist() == ["allow", "review"]
    with pytest.raises(RulesError, match=r"precision 0\.8"):
        apply_rules(scored, rules)


def test_precision_bounds_only_for_model_labels() -> None:
    _, problems = check_rules_text(
        "rules:\n  - {name: d, when: {depth: '>= precision 0.8'}, action: review}\n"
    )
    assert "model labels only" in problems[0].message


def test_missing_precision_threshold_falls_back_to_the_decision_threshold(
    caplog: pytest.LogCaptureFixture,
) -> None:
    rules, _ = check_rules_text(
        "rules:\n  - {name: tox, when: {toxicity: '>= precision 0.8'}, action: review}\n"
    )
    out = apply_rules(frame(toxicity=[0.2, 0.5]), rules, decision_thresholds={"toxicity": 0.4})
    assert out["action"].tolist() == ["allow", "review"]
    assert "decision threshold 0.400" in caplog.text
