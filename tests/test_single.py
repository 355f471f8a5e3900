"""score_one without data frames: the same scores, action, priority and reasons as score()."""

from __future__ import annotations

import math
import pickle
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from labelled_fixtures import labelled_dir

from moderation import Moderator, ScoredComment, contract, schema, single
from moderation.corpus import load_corpus
from moderation.errors import RulesError
from moderation.normalize import normalize_text, split_sentences
from moderation.rules import by_priority, check_rules_text, decide, verdict
from moderation.single import TextScorer, _char_grams, _word_grams

ROOT = Path(__file__).resolve().parents[1]
SOURCES = [
    ROOT / "tests" / "data" / "threads.csv",
    ROOT / "data" / "examples" / "azerbaijan-csto" / "comments.csv",
]


def real_texts() -> list[str]:
    """Comments of the labelled fixtures (toxic ones included) and of the example exports."""
    texts: list[str] = load_corpus(labelled_dir())["text"].astype(str).tolist()
    for path in SOURCES:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        texts += frame["text"].tolist()
    return list(dict.fromkeys(texts))


@pytest.fixture(scope="module")
def moderator() -> Moderator:
    return Moderator.load()


def fast(moderator: Moderator, text: str) -> ScoredComment:
    """score_one, failing if it would fall back to the frame path."""
    assert moderator._single.supported
    original = moderator._score_row
    try:
        object.__setattr__(moderator, "_score_row", _no_frames)
        return moderator.score_one(text)
    finally:
        object.__delattr__(moderator, "_score_row")
        assert moderator._score_row == original


def _no_frames(*args: object) -> None:
    raise AssertionError("score_one took the frame path")


def one_row(moderator: Moderator, text: str) -> pd.Series:
    """What score() gives the comment as a one-row export (object dtype keeps bad bytes)."""
    frame = pd.DataFrame(
        {"comment_id": ["comment"], "thread_id": ["t"], "text": [text]}, dtype=object
    )
    row: pd.Series = moderator.score(frame).iloc[-1]
    return row


def split(value: str) -> list[str]:
    return [part for part in value.split("; ") if part]


def assert_same(one: ScoredComment, row: pd.Series) -> None:
    for label in schema.SCORES:
        expected = float(row[label])
        if math.isnan(expected):
            assert math.isnan(one.scores[label]), label
        else:
            assert one.scores[label] == pytest.approx(expected, abs=1e-9, rel=0), label
    assert one.action == row[schema.ACTION], (one.reasons, row[schema.REASONS])
    assert one.priority == row[schema.PRIORITY]
    assert one.reasons == split(row[schema.REASONS])
    assert one.problems == split(row[schema.PROBLEMS])


def assert_same_explanations(moderator: Moderator, one: ScoredComment) -> None:
    """Terms and spans of the flagged labels are the full model's (scores to rounding)."""
    model, thresholds = moderator.bundle.hostility, moderator.bundle.thresholds
    flagged = [
        label
        for label in schema.LABELS
        if not math.isnan(one.scores[label]) and one.scores[label] >= thresholds[label]
    ]
    assert sorted(one.terms) == sorted(one.spans) == sorted(one.word_spans) == sorted(flagged)
    if not flagged:
        return
    terms = model.top_terms_map(one.text, flagged, k=3)
    found = model.span_map(one.text, flagged, thresholds)
    for label in flagged:
        assert [t for t, _ in one.terms[label]] == [t for t, _ in terms[label]], label
        assert [s for _, s in one.terms[label]] == pytest.approx(
            [s for _, s in terms[label]], abs=2e-6
        )
        for level, got in (("sentence", one.spans), ("word", one.word_spans)):
            expected = [s.to_dict() for s in found[label][level]]
            assert [(s["begin"], s["end"]) for s in got[label]] == [
                (s["begin"], s["end"]) for s in expected
            ], (label, level)
            assert [s["score"] for s in got[label]] == pytest.approx(
                [s["score"] for s in expected], abs=2e-4
            )


def test_real_texts_score_and_decide_as_the_frame_path(moderator: Moderator) -> None:
    texts = real_texts()
    assert len(texts) > 50
    actions = set()
    for text in texts:
        one = fast(moderator, text)
        assert_same(one, one_row(moderator, text))
        assert_same_explanations(moderator, one)
        actions.add(one.action)
    assert len(actions) >= 3  # the texts reach several decisions


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   \n\t ",
        "\u3000",
        "x",
        "You are a stupid idiot. Get lost, moron!!! 1d10t",
        "I will find you and hurt you.",
        "Great article. Thanks!\n\nBut the second point is wrong.",
        "f***ing m0r0n",
        "y o u   a r e   a n   i d i o t",
        "bad \udcff byte, idiot",
        "idiot " * 4000,  # past MAX_TEXT_CHARS: scored on its start, a problem says so
        ("A long civil sentence about the harbour and its boats. " * 500) + "You idiot.",
    ],
)
def test_edge_texts(moderator: Moderator, text: str) -> None:
    one = fast(moderator, text)
    assert_same(one, one_row(moderator, text))
    assert_same_explanations(moderator, one)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.text(
        alphabet=st.characters(exclude_categories=["Cs"]) | st.sampled_from(" .!?\n@#*01"),
        max_size=300,
    )
)
def test_generated_unicode_texts(moderator: Moderator, text: str) -> None:
    one = fast(moderator, text)
    assert_same(one, one_row(moderator, text))
    assert_same_explanations(moderator, one)


@pytest.mark.parametrize(
    "text",
    # CPython hashes a string's stored bytes: "\u7464" (2 bytes a character) hashes like the
    # vocabulary's "dt", "\U00010100" (4 bytes) like "\u0100\x01". Found by the fuzz below.
    ["\u7464", "dt \u7464", "\U00010100 \u0100\x01", "caf\u00e9 \u65e5\u672c"],
)
def test_wide_characters_do_not_borrow_ascii_columns(moderator: Moderator, text: str) -> None:
    assert_same(fast(moderator, text), one_row(moderator, text))


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.text(alphabet=st.characters(), max_size=60))
def test_generated_texts_with_undecodable_bytes(moderator: Moderator, text: str) -> None:
    assert_same(fast(moderator, text), one_row(moderator, text))


#: Rules that test every fact of a lone comment, so that values and their formatting agree.
EVERY_FACT = """
rules:
  - name: every-number
    when:
      all:
        - depth: "== 0"
        - sibling_index: "== 1"
        - length: ">= 0"
        - derailed: "== 0"
        - back_and_forth: "== 0"
        - participants: "== 0"
        - hostility_trend: "<= 0"
        - user_directed_insult: "<= 0"
        - is_reply: "== 0"
        - author_comments: "== 0"
        - author_flagged: "== 0"
        - author_first: "== 0"
        - author_is_article_author: "== 0"
        - author_escalated: "== 0"
        - author_queue_escalated: "== 0"
        - author_queue_rejected: "== 0"
    action: review
    priority: 10
    reason: "length {length}, trend {hostility_trend}, depth {depth:d}"
  - name: never-numbers
    when:
      any:
        - off_topic: ">= 0"
        - sim_article: ">= 0"
        - sim_parent: ">= 0"
        - sim_thread: ">= 0"
        - parent_toxicity: ">= 0"
        - parent_off_topic: ">= 0"
    action: hold
    priority: 90
  - name: words
    when: {text: {includes-word: [idiot, harbour]}}
    action: review
    priority: 40
    reason: "says {match}"
  - name: empty-author-and-parent
    when:
      all:
        - author: {full-exact: "x"}
        - parent_text: {includes: "x"}
        - article_title: {includes: "x"}
    action: remove
    priority: 99
  - name: scoped
    scope: {thread_id: t, comment_id: [comment, other]}
    when: {toxicity: ">= precision 0.8"}
    action: hold
    priority: 77
    reason: "scoped ({toxicity:.3f})"
  - name: calm
    when: {toxicity: "< 0.2"}
    action: allow
    priority: 5
"""


@pytest.mark.parametrize(
    "text", ["You idiot.", "Lovely harbour.", "", "The harbour is full of idiots, you idiot."]
)
def test_rules_on_every_fact_decide_as_the_frame_path(moderator: Moderator, text: str) -> None:
    rules, problems = check_rules_text(EVERY_FACT)
    assert not problems
    custom = moderator.with_rules(rules)
    assert_same(fast(custom, text), one_row(custom, text))


def test_rules_on_what_the_fast_path_does_not_compute_take_the_frame_path(
    moderator: Moderator,
) -> None:
    text = "Visit www.example.com NOW, @bob"
    for when in ('{links: ">= 1"}', '{caps_ratio: ">= 0.1"}', '{mentions: ">= 1"}'):
        rules, problems = check_rules_text(
            f"rules:\n  - name: r\n    when: {when}\n    action: review\n"
        )
        assert not problems
        custom = moderator.with_rules(rules)
        assert not custom._single.supported
        one = custom.score_one(text)
        assert one.action == "review"
        assert_same(one, one_row(custom, text))


def test_a_scope_on_a_column_a_lone_comment_lacks_fails_as_score_does(
    moderator: Moderator,
) -> None:
    rules, problems = check_rules_text(
        "rules:\n  - name: r\n    scope: {site: news}\n    when: {toxicity: '>= 0'}\n"
        "    action: review\n"
    )
    assert not problems
    custom = moderator.with_rules(rules)
    assert not custom._single.supported
    with pytest.raises(RulesError, match="site"):
        custom.score_one("hello")
    with pytest.raises(RulesError, match="site"):
        one_row(custom, "hello")


@pytest.mark.parametrize(("parent", "article"), [("I like it.", None), (None, "Harbour news")])
def test_context_takes_the_frame_path(
    moderator: Moderator, parent: str | None, article: str | None
) -> None:
    calls = []

    def frame_path(text: str, parent: str | None, article: str | None) -> pd.Series:
        calls.append((text, parent, article))
        return one_row(moderator, text)  # the off-topic scorer is not what is tested here

    object.__setattr__(moderator, "_score_row", frame_path)
    try:
        one = moderator.score_one("You idiot.", parent=parent, article=article)
    finally:
        object.__delattr__(moderator, "_score_row")
    assert calls == [("You idiot.", parent, article)]
    assert_same(one, one_row(moderator, "You idiot."))


def test_flagged_labels_get_terms_and_spans(moderator: Moderator) -> None:
    one = fast(moderator, "Nice photos. You stupid idiot.")
    assert one.terms and one.spans and one.word_spans
    assert set(one.terms) == set(one.spans)
    calm = fast(moderator, "Nice photos of the harbour.")
    assert (calm.terms, calm.spans, calm.word_spans) == ({}, {}, {})


def test_analyzers_match_scikit_learn() -> None:
    from sklearn.feature_extraction.text import TfidfVectorizer

    texts = ["a bb ccc dddd", "x", "  spaced   out\ttabs\n", "", "it's a b-c test, ok?"]
    char = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5)).build_analyzer()
    word = TfidfVectorizer(
        analyzer="word", ngram_range=(1, 2), token_pattern=r"(?u)\b\w+\b", lowercase=False
    ).build_analyzer()
    for text in texts:
        assert _char_grams(text, 2, 5) == char(text)
        assert _word_grams(text, 1, 2) == word(text)


def test_text_scorer_matches_the_model_on_many_texts(moderator: Moderator) -> None:
    texts = real_texts()
    scorer = TextScorer.from_bundle(moderator.bundle)
    expected = moderator.bundle.hostility.predict(texts).to_numpy()
    for text, row in zip(texts, expected, strict=True):
        assert scorer.scores(text) == pytest.approx(row, abs=1e-9, rel=0)


def test_contract_names_are_the_schema_and_dynamics_names() -> None:
    from moderation import dynamics, model

    for name in dir(contract):
        if name.isupper() and hasattr(schema, name):
            assert getattr(contract, name) == getattr(schema, name), name
        if name.isupper() and hasattr(dynamics, name):
            assert getattr(contract, name) == getattr(dynamics, name), name
    assert contract.DYNAMICS_RULE_COLUMNS == dynamics.RULE_COLUMNS
    assert [(a.name, a.value, a.severity) for a in contract.Action] == [
        (a.name, a.value, a.severity) for a in schema.Action
    ]
    assert model.MAX_SCORED_CHARS == contract.MAX_TEXT_CHARS
    assert model.WORD_THRESHOLD == single.WORD_THRESHOLD


def test_long_words_are_not_remembered(moderator: Moderator) -> None:
    long_word = "idiot" * 30  # past CACHED_WORD_CHARS: would make the caches unbounded
    one = fast(moderator, f"You {long_word}. Really, you idiot.")
    scorer = moderator._single.model
    assert "idiot." in scorer.blocks[1].words or "idiot" in scorer._word_logits
    assert all(len(w) <= single.CACHED_WORD_CHARS for b in scorer.blocks for w in b.words)
    assert all(len(w) <= single.CACHED_WORD_CHARS for w in scorer._word_logits)
    assert_same(one, one_row(moderator, f"You {long_word}. Really, you idiot."))


def test_the_explanation_is_computed_once_on_first_access(moderator: Moderator) -> None:
    """Scores and action come with the call; reasons, terms and spans when first read."""
    scorer = moderator._single.model
    calls: list[str] = []

    def counting(text: str, *args: object, **kwargs: object) -> object:
        calls.append(text)
        return type(scorer).explain(scorer, text, *args, **kwargs)  # type: ignore[arg-type]

    text = "Nice photos. You stupid idiot."
    scorer.explain = counting  # type: ignore[method-assign,assignment]
    try:
        one = fast(moderator, text)
        assert one.action != "allow" and one.scores["insult"] > 0.5 and one.priority > 0
        assert calls == []
        assert "computed on access" in repr(one)
        assert one.reasons == split(one_row(moderator, text)[schema.REASONS])
        assert calls == [text]
        assert one.terms and one.spans and one.word_spans
        assert calls == [text]  # all four from one computation
        assert "computed on access" not in repr(one)
    finally:
        del scorer.explain
    assert_same_explanations(moderator, one)


def test_results_compare_and_pickle_with_their_explanation(moderator: Moderator) -> None:
    one = fast(moderator, "You stupid idiot.")
    again = fast(moderator, "You stupid idiot.")
    assert one == again
    copy = pickle.loads(pickle.dumps(one))  # NaN scores compare unequal once copied: repr
    assert repr(copy) == repr(one) and copy.explanation == one.explanation
    assert one != fast(moderator, "You stupid fool.")
    with pytest.raises(TypeError):
        hash(one)


@pytest.mark.parametrize(
    "text",
    [
        "Nice photos. You stupid idiot!",
        "y o u.\nare an idiot",  # spaced letters across the break: not its sentences joined
        "Ok. Fine. Go away you moron moron moron.",
        "\u4e00\u4e8c\u4e09. qqqzzx jjjvvk.",  # n-grams outside the vocabulary
        "idiot. \u200b\u200b\u200b. idiot",
    ],
)
def test_a_text_and_its_sentences_score_together_as_each_alone(
    moderator: Moderator, text: str
) -> None:
    scorer = moderator._single.model
    docs = [normalize_text(text)] + [normalize_text(text[a:b]) for a, b in split_sentences(text)]
    together = scorer.logits(docs)
    for row, doc in zip(together, docs, strict=True):
        assert row.tolist() == pytest.approx(scorer.logits([doc])[0].tolist(), abs=1e-12)
        cols, values = scorer.vector(doc)
        assert (cols < scorer.miss).all() and (values > 0).all()
        alone = cols < scorer.n_word
        for part in (values[alone], values[~alone]):  # l2-normalised per block
            assert len(part) == 0 or float(part @ part) == pytest.approx(1.0)


# ---------------------------------------------------------------- speed shortcuts of score_one


def test_the_hash_index_finds_every_vocabulary_n_gram_and_nothing_else(
    moderator: Moderator,
) -> None:
    scorer = moderator._single.model
    assert scorer._index is not None
    word, char = scorer.blocks
    assert (word.analyzer, char.analyzer) == ("word", "char_wb")
    word_names, char_names = list(word.vocabulary), list(char.vocabulary)
    outside = ["", " ", "zzqxj", "a b c", "\u4e00\u4e8c", *(n + "\x00" for n in char_names[:999])]
    word_queries = word_names + outside + char_names
    char_queries = char_names + outside + word_names
    got = scorer._index.lookup(word_queries, char_queries).tolist()
    assert got == [word.vocabulary.get(g, scorer.miss) for g in word_queries] + [
        char.vocabulary.get(g, scorer.miss) for g in char_queries
    ]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.text(max_size=5), unique=True, max_size=200),
    st.lists(st.text(max_size=5), unique=True, max_size=200),
    st.lists(st.text(max_size=5), max_size=50),
    st.integers(min_value=-8, max_value=3),
)
def test_the_hash_index_answers_as_dictionaries_however_crowded_its_buckets(
    word_names: list[str], char_names: list[str], others: list[str], spare_bits: int
) -> None:
    miss = len(word_names) + len(char_names)
    index = single._HashIndex.build(
        [("word", word_names), ("char_wb", char_names)], miss, spare_bits=spare_bits
    )
    if not word_names and not char_names:
        assert index is None
        return
    assert index is not None
    words = dict(zip(word_names, range(len(word_names)), strict=True))
    chars = dict(zip(char_names, range(len(word_names), miss), strict=True))
    queries = word_names + char_names + others
    got = index.lookup(queries, queries).tolist()
    assert got == [words.get(q, miss) for q in queries] + [chars.get(q, miss) for q in queries]


def test_a_word_n_gram_and_a_character_n_gram_written_alike_keep_their_columns() -> None:
    index = single._HashIndex.build([("word", ["ab", "x"]), ("char_wb", ["ab", " x"])], 4)
    assert index is not None
    got = index.lookup(["ab", "zz", " x"], ["ab", " x", "x", "q"])
    assert got.tolist() == [0, 4, 4, 2, 3, 4, 4]


def test_indexed_lookups_count_as_the_dictionaries(
    moderator: Moderator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The hash index and the remembered words give exactly the dictionaries' entries: new
    and remembered words, words too long to remember, and a cache emptied mid-comment."""
    indexed = TextScorer.from_bundle(moderator.bundle)
    plain = TextScorer.from_bundle(moderator.bundle)
    plain._index = None
    monkeypatch.setattr(single, "WORD_CACHE", 25)
    long_word = "idiot" * 30
    texts = [*real_texts()[:150], f"You {long_word}. Really, you idiot.", "", "  . !"]
    for text in texts + texts:  # the second time, most words are remembered
        docs = [normalize_text(text)]
        offsets = split_sentences(text)
        if len(offsets) > 1:
            docs += [normalize_text(text[a:b]) for a, b in offsets]
        got, expected = indexed._entries(docs), plain._entries(docs)
        assert got[0] == expected[0]
        assert got[1].tolist() == expected[1].tolist()
        assert got[2].tolist() == expected[2].tolist()
    assert 0 < len(indexed.blocks[1].words) <= 25


SENTENCE_PIECES = st.sampled_from(
    [*"ab Z1", *".!?\u2026", *"\"')]\u201d\u2019", " ", "\n", "\t", "\r", "\u2028", "\x85",
     "\u3000", "Ok", "1.", "word"]
)  # fmt: skip


@settings(max_examples=1500, deadline=None)
@given(st.one_of(st.lists(SENTENCE_PIECES, max_size=20).map("".join), st.text(max_size=40)))
def test_one_sentence_shortcut_is_only_taken_for_at_most_one_sentence(text: str) -> None:
    if single._one_sentence(text):
        assert len(split_sentences(text)) <= 1


@pytest.mark.parametrize(
    ("text", "taken"),
    [
        ("you are an idiot", True),
        ("  You are an idiot!!\u201d) \n", True),
        ("What? No way", False),
        ("one.\ntwo", False),
        ("e.g. this", False),  # "e.g." cuts nothing here, but the shortcut does not know
    ],
)
def test_one_sentence_shortcut_examples(text: str, taken: bool) -> None:
    assert single._one_sentence(text) is taken
    if taken:
        assert len(split_sentences(text)) <= 1


RULES_YAML = """
rules:
  - name: plain
    when: {toxicity: ">= 0.3"}
    action: review
  - name: between
    when: {insult: [0.2, 0.6]}
    action: hold
  - name: never
    when:
      all:
        - off_topic: ">= 0.5"
        - toxicity: ">= 0.1"
    action: review
  - name: always
    when: {depth: "== 0"}
    action: allow
  - name: mixed
    when:
      any:
        - derailed: "== 1"
        - all:
            - threat: "> 0.1"
            - not: {identity_attack: "< 0.2"}
        - not: {sibling_index: ">= 1"}
    action: remove
    priority: 7
  - name: negated
    when:
      not:
        any:
          - is_reply: "== 1"
          - profanity: ">= 0.4"
    action: review
    priority: 3
  - name: long-and-not-half-severe
    when:
      all:
        - length: "> 10"
        - severe_toxicity: "!= 0.5"
    action: review
"""

SCORE = st.one_of(st.floats(min_value=0, max_value=1), st.just(math.nan))


@settings(max_examples=300, deadline=None)
@given(st.fixed_dictionaries({label: SCORE for label in contract.LABELS}), st.text(max_size=20))
def test_specialised_rules_match_as_the_rules(scores: dict[str, float], text: str) -> None:
    rules, problems = check_rules_text(RULES_YAML)
    assert not problems
    ordered = by_priority(rules)
    checks = single._checks(ordered)
    assert "never" not in [rule.name for rule, _ in checks]
    assert [rule.name for rule, test in checks if test is None] == ["always"]
    record = single._facts(text, {**scores, contract.OFF_TOPIC: math.nan}, "")
    matched = [rule for rule, test in checks if test is None or test(record)]
    assert matched == [rule for rule in ordered if rule.when.holds(record)]
    decision = decide(record, ordered)
    assert verdict(matched) == (decision.action, decision.priority)


def test_reasons_are_worded_when_read(moderator: Moderator) -> None:
    lone = moderator._single.score("You stupid idiot.")
    assert lone.action != "allow" and "decision" not in lone.__dict__
    assert (lone.decision.action, lone.decision.priority) == (lone.action, lone.priority)
    assert lone.decision.reasons
    calm = moderator._single.score("Nice photos of the harbour.")
    assert (calm.action, calm.priority, calm.decision.reasons) == ("allow", 0, "")
