"""Text conditions, word lists, scoping and regex safety in rules files."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
import re2

from moderation.conditions import TextMatch, compile_safe
from moderation.rules import apply_rules, check_rules_text


def frame(texts: list[str], **extra: list[object]) -> pd.DataFrame:
    return pd.DataFrame({"text": texts, "author": ["a"] * len(texts), **extra})


def decide(rules_text: str, data: pd.DataFrame, base: Path | None = None) -> list[str]:
    rules, problems = check_rules_text(rules_text, "r.yaml", base_dir=base)
    assert problems == [], problems
    return apply_rules(data, rules)["action"].tolist()


@pytest.mark.parametrize(
    ("kind", "pattern", "texts", "expected"),
    [
        ("includes-word", "idiot", ["you idiot", "idiotic plan", "IDIOT!"], [True, False, True]),
        ("includes", "idiot", ["you idiot", "idiotic plan", "fine"], [True, True, False]),
        ("starts-with", "buy", ["  Buy now", "please buy"], [True, False]),
        ("ends-with", "now", ["buy now ", "now buy"], [True, False]),
        ("full-exact", "ok bye", ["OK bye", "ok bye then"], [True, False]),
        ("regex", r"\bfree\s+money\b", ["get FREE   money", "money free"], [True, False]),
    ],
)
def test_match_kinds(kind: str, pattern: str, texts: list[str], expected: list[bool]) -> None:
    condition = TextMatch("text", kind, (pattern,))
    assert condition.mask(frame(texts)).tolist() == expected


def test_case_sensitive_matching() -> None:
    condition = TextMatch("text", "includes-word", ("BAN",), case_sensitive=True)
    assert condition.mask(frame(["BAN this", "ban this"])).tolist() == [True, False]


def test_a_list_matches_if_any_item_does() -> None:
    condition = TextMatch("text", "includes-word", ("idiot", "moron"))
    assert condition.mask(frame(["what a moron", "nice", "idiot"])).tolist() == [True, False, True]


def test_obfuscated_spellings_match_through_normalisation() -> None:
    condition = TextMatch("text", "includes-word", ("idiot",))
    full_width = "".join(chr(ord(c) + 0xFEE0) for c in "idiot")
    texts = [full_width, "id\u200biot", "IDIOT"]  # zero-width joiner inside, capitals
    assert condition.mask(frame(texts)).all()


def test_reason_quotes_what_matched() -> None:
    rules, _ = check_rules_text(
        "rules:\n  - name: banned\n    when: {text: {includes-word: [idiot, moron]}}\n"
        "    action: hold\n    reason: 'Banned word {match}'\n"
    )
    out = apply_rules(frame(["what a Moron you are"]), rules)
    assert out.loc[0, "reasons"] == "Banned word 'Moron' [banned: matched 'Moron']"


def test_words_file_relative_to_the_rules_file(tmp_path: Path) -> None:
    (tmp_path / "banned.txt").write_text("# banned words\nidiot\n\nscum bag  # phrase\n")
    rules = (
        "rules:\n  - name: banned\n    when: {text: {words-file: banned.txt}}\n    action: hold\n"
    )
    data = frame(["you scum bag", "a scumbag", "IDIOT", "fine"])
    assert decide(rules, data, tmp_path) == ["hold", "allow", "hold", "allow"]


def test_missing_words_file_is_reported_with_its_line(tmp_path: Path) -> None:
    text = "rules:\n  - name: banned\n    when: {text: {words-file: nope.txt}}\n    action: hold\n"
    _, problems = check_rules_text(text, "r.yaml", base_dir=tmp_path)
    assert len(problems) == 1
    assert problems[0].line == 3
    assert "words file not found" in problems[0].message


def test_negated_text_condition_and_parent_text() -> None:
    rules = (
        "rules:\n  - name: reply-to-spam\n    when:\n      all:\n"
        "        - parent_text: {includes: [buy now]}\n"
        "        - not: {text: {includes-word: [report]}}\n    action: review\n"
    )
    data = frame(["sure", "I will report this"], parent_text=["Buy now!", "buy now"])
    assert decide(rules, data) == ["review", "allow"]


def test_scope_limits_a_rule_to_some_threads() -> None:
    rules = (
        "rules:\n  - name: strict-site\n    scope: {site: [kids]}\n"
        "    when: {text: {includes-word: [damn]}}\n    action: hold\n"
    )
    data = frame(["damn", "damn"], site=["kids", "news"])
    assert decide(rules, data) == ["hold", "allow"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("when: {text: {includes-wrd: [x]}}", "unknown match kind 'includes-wrd'"),
        ("when: {text: {includes: []}}", "needs a non-empty string or list"),
        ("when: {text: {includes: [a], regex: b}}", "needs exactly one of"),
        ("when: {text: {regex: '(unclosed'}}", "not a valid regular expression"),
        ("when: {text: {regex: '(?<=a)b'}}", "not supported by the linear-time engine"),
        ("when: {text: {regex: '(a)\\1'}}", "not supported by the linear-time engine"),
        ("when: {text: {includes: [x], case-sensitive: maybe}}", "must be true or false"),
        ("when: {text: idiot}", "needs a mapping"),
        ("when: {txt: {includes: [x]}}", "Did you mean 'text'?"),
        ("when: {text: {includes: [x]}}\n    reason: '{match} {toxicity}'", "is not tested"),
        ("when: {toxicity: '>= 0.5'}\n    reason: '{match}'", "needs a text condition"),
        ("scope: thread\n    when: {toxicity: '>= 0.5'}", "'scope' needs a mapping"),
    ],
)
def test_text_problems_are_reported(text: str, message: str) -> None:
    rules = f"rules:\n  - name: r\n    action: review\n    {text}\n"
    _, problems = check_rules_text(rules, "r.yaml")
    assert any(message in p.message for p in problems), problems
    assert all(p.line >= 2 for p in problems)


def test_catastrophic_regex_runs_on_the_linear_time_engine() -> None:
    # Deterministic stand-in for a timing bound: the pattern is compiled by RE2, whose matching
    # cost is O(program size x text length), and the program stays small for a nested
    # quantifier that makes Python's backtracking engine take exponential time.
    condition = TextMatch("text", "regex", ("(a+)+$",))
    compiled = condition.regex()
    assert isinstance(compiled, re2._Regexp)
    assert not isinstance(compiled, re.Pattern)
    assert compiled.programsize < 100  # independent of the text it will be run on
    hostile = "a" * 100_000 + "!"
    assert condition.mask(frame([hostile] * 3)).tolist() == [False] * 3


def test_compile_safe_accepts_ordinary_patterns() -> None:
    assert compile_safe(r"(?i)\bfree\s+money\b").search("Free money") is not None
