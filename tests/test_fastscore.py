"""The compiled scorer gives the scikit-learn pipeline's scores (to 1e-6), loads without it."""

from __future__ import annotations

import csv
import gzip
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from labelled_fixtures import labelled_dir

from moderation import Moderator, fastscore, schema
from moderation.bundle import COMPILED, MANIFEST, Bundle, default_bundle_path, load_bundle
from moderation.corpus import load_corpus
from moderation.errors import ModelLoadError
from moderation.fastscore import CompiledModel, compile_block
from moderation.model import HostilityModel, Span
from moderation.thread import attach_context

ROOT = Path(__file__).resolve().parents[1]
REAL_DATASETS = ROOT.parent / "shared" / "datasets"
TOLERANCE = 1e-6

# Characters that trip up tokenisers: zero-width and bidi controls, combining marks, RTL
# scripts, emoji (astral, with ZWJ and skin tones), odd whitespace, look-alikes, a lone
# surrogate (decoded JSON can carry one), leet and masking symbols.
NASTY = (
    "\u200b\u200c\u200d\u2060\ufeff\u00ad\u202e\u202d\u0301\u0308\u0336\u20dd"
    "\u05e9\u05dc\u05d5\u05dd\u0645\u0631\u062d\u0628\u0627\u0456\u043e\u0430\u03bf"
    "\U0001f600\U0001f44d\U0001f3fd\U0001f1fa\U0001f1f8\U0001d41a\uff29\u00df\u0130"
    "\u00a0\u2003\u3000\t\n\r\x0b\x0c\x1c\x85\u2028_-.'!?@$*#1305 aAbBzZ\ud800"
)
nasty_text = st.one_of(
    st.text(alphabet=NASTY, max_size=60),
    st.text(max_size=60),
    st.builds(
        lambda w, n: " ".join([w] * n), st.text(alphabet="aio1!", min_size=1), st.integers(1, 4)
    ),
    st.builds(
        lambda c, n: c * n, st.sampled_from("a\u0301\U0001f600 \u200b"), st.integers(0, 3000)
    ),
    st.just(""),
    st.just("   \n\t "),
)


def assert_same_scores(model: HostilityModel, texts: list[str]) -> None:
    """Both engines: same whole-text log-odds and same final scores, to TOLERANCE."""
    reference = model.with_engine("sklearn")
    assert model.engine == "compiled"
    fast_parts = model.score_parts(texts)
    ref_parts = reference.score_parts(texts)
    for fast, ref in zip(fast_parts, ref_parts, strict=True):
        np.testing.assert_allclose(fast, ref, rtol=0, atol=10 * TOLERANCE)
    np.testing.assert_allclose(
        model.predict(texts).to_numpy(), reference.predict(texts).to_numpy(), rtol=0, atol=TOLERANCE
    )


@pytest.fixture(scope="module")
def small() -> HostilityModel:
    frame = load_corpus(labelled_dir())
    return HostilityModel().fit(frame[frame["redistributable"]], seed=0)


@pytest.fixture(scope="module")
def shipped() -> HostilityModel:
    return load_bundle(default_bundle_path()).hostility


def fixture_texts() -> list[str]:
    frame = load_corpus(labelled_dir())
    return frame["text"].astype(str).tolist()


def shipped_texts() -> list[str]:
    """Text that ships with the repository: the example thread, raw page, fixtures."""
    texts: list[str] = []
    for path in sorted((ROOT / "data").rglob("*.csv")):
        with path.open(encoding="utf-8", newline="") as handle:
            for row in csv.DictReader(handle):
                texts.extend(v for k, v in row.items() if k in ("text", "body", "title") and v)
    for path in sorted((ROOT / "data" / "raw").glob("*.txt")):
        raw = path.read_text(encoding="utf-8")
        texts.extend(p for p in raw.split("\n\n") if p.strip())
    return texts


def real_comments(limit: int = 3000) -> list[str]:
    """Comments from three public datasets (tweets, Reddit, news comments)."""
    texts: list[str] = []
    olid = REAL_DATASETS / "olid" / "olid-training-v1.0.tsv"
    with olid.open(encoding="utf-8", newline="") as handle:
        texts.extend(
            row["tweet"]
            for _, row in zip(
                range(limit // 3), csv.DictReader(handle, delimiter="\t"), strict=False
            )
        )
    cad = REAL_DATASETS / "cad-contextual-abuse" / "cad_v1_1_train.tsv.gz"
    with gzip.open(cad, "rt", encoding="utf-8", newline="") as handle:
        rows = csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        texts.extend(row["text"] or "" for _, row in zip(range(limit // 3), rows, strict=False))
    c3 = REAL_DATASETS / "c3-constructive-comments" / "C3_anonymized.csv.gz"
    with gzip.open(c3, "rt", encoding="utf-8", newline="") as handle:
        rows = csv.DictReader(handle)
        texts.extend(
            row["comment_text"] for _, row in zip(range(limit - len(texts)), rows, strict=False)
        )
    return texts


# parity -----------------------------------------------------------------------------------------


@pytest.mark.skipif(not REAL_DATASETS.is_dir(), reason=f"no shared datasets at {REAL_DATASETS}")
def test_shipped_model_matches_sklearn_on_real_comments(shipped: HostilityModel) -> None:
    texts = real_comments()
    assert len(texts) == 3000
    assert_same_scores(shipped, texts)


def test_shipped_model_matches_sklearn_on_shipped_text(shipped: HostilityModel) -> None:
    texts = shipped_texts() + fixture_texts()
    assert len(texts) > 100
    assert_same_scores(shipped, texts)


def test_small_model_matches_sklearn_on_its_fixtures(small: HostilityModel) -> None:
    assert_same_scores(small, fixture_texts() + shipped_texts())


@settings(max_examples=60, deadline=None)
@given(st.lists(nasty_text, min_size=1, max_size=6))
def test_nasty_unicode_matches_sklearn(
    small: HostilityModel, shipped: HostilityModel, texts: list[str]
) -> None:
    assert_same_scores(small, texts)
    assert_same_scores(shipped, texts)


def test_feature_matrix_is_the_union_of_both_blocks(small: HostilityModel) -> None:
    texts = [*fixture_texts()[:40], "", "a", "ab cd", "x" * 300]
    fast = small.transform(texts)
    ref = small.with_engine("sklearn").transform(texts)
    assert fast.shape == ref.shape
    np.testing.assert_array_equal(fast.indptr, ref.indptr)
    np.testing.assert_array_equal(fast.indices, ref.indices)
    np.testing.assert_allclose(fast.data, ref.data, rtol=1e-6)


def test_chunks_give_the_batch_scores(
    small: HostilityModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    texts = fixture_texts()
    whole = small.compiled().logits(texts)
    monkeypatch.setattr(fastscore, "CHUNK_CHARS", 50)
    np.testing.assert_allclose(small.compiled().logits(texts), whole, rtol=0, atol=1e-12)
    assert small.compiled().logits([]).shape == (0, len(schema.LABELS))


# compiling --------------------------------------------------------------------------------------


def test_word_terms_the_analyzer_cannot_produce_are_never_counted() -> None:
    vocabulary = {"idiot": 0, "you idiot": 1, "a-b": 2, "x  y": 3, " lead": 4}
    block = compile_block("word", (1, 2), vocabulary, np.ones(5), np.eye(5)[:, :1])
    assert len(block.keys) == 2  # only "idiot" and "you idiot" can ever occur
    counts = block.counts(["you idiot a-b x  y idiot", "a b"]).toarray()
    np.testing.assert_array_equal(counts[:, :2], [[2, 1], [0, 0]])
    assert counts[:, 2:].sum() == 0


def test_char_grams_of_short_words_follow_sklearn() -> None:
    from sklearn.feature_extraction.text import CountVectorizer

    docs = ["a bc def ghij", "  a\u00a0b  ", "\U0001f600x"]
    for low, high in [(2, 5), (4, 6), (1, 3)]:
        sk = CountVectorizer(analyzer="char_wb", ngram_range=(low, high), lowercase=False)
        expected = sk.fit_transform(docs).toarray()
        n = len(sk.vocabulary_)
        block = compile_block("char_wb", (low, high), sk.vocabulary_, np.ones(n), np.ones((n, 1)))
        np.testing.assert_array_equal(block.counts(docs).toarray(), expected)


def test_unsupported_analyzer_is_refused() -> None:
    with pytest.raises(ValueError, match="cannot compile analyzer 'char'"):
        compile_block("char", (1, 2), {"a": 0}, np.ones(1), np.ones((1, 1)))


def test_arrays_round_trip_and_name_what_is_wrong(small: HostilityModel) -> None:
    compiled = small.compiled()
    arrays = compiled.to_arrays()
    again = CompiledModel.from_arrays(arrays)
    texts = fixture_texts()[:20]
    np.testing.assert_array_equal(again.logits(texts), compiled.logits(texts))
    assert again.blocks[1].column_names() == compiled.blocks[1].column_names()
    with pytest.raises(ValueError, match="lack 'b1_keys'"):
        CompiledModel.from_arrays({k: v for k, v in arrays.items() if k != "b1_keys"})
    with pytest.raises(ValueError, match="format 99"):
        CompiledModel.from_arrays({**arrays, "format": np.array([99])})
    with pytest.raises(ValueError, match="coefficients"):
        CompiledModel.from_arrays({**arrays, "b0_coef": arrays["b0_coef"][:, :2]})


def test_top_terms_agree_between_engines(small: HostilityModel) -> None:
    text = "Thanks for the photos. Shut up you stupid idiot."
    for label in ("toxicity", "insult"):
        fast = small.top_terms(text, label)
        ref = small.with_engine("sklearn").top_terms(text, label)
        assert [t for t, _ in fast] == [t for t, _ in ref]
        assert [s for _, s in fast] == pytest.approx([s for _, s in ref], abs=1e-5)


# explanations -----------------------------------------------------------------------------------
#
# The explanations are computed with whole-array operations (fastscore.top_terms and
# HostilityModel.span_maps_each). The references below are the plain per-row loops that define
# them; the fast path must give exactly their terms, spans and figures.


def reference_top_terms(
    model: HostilityModel, text: str, labels: list[str], k: int
) -> dict[str, list[tuple[str, float]]]:
    """Per label: tf-idf x coefficient per column of the part behind the score (its best
    sentence when that beats the whole text); word n-grams count for themselves, a character
    n-gram is shared equally by the words whose padded form holds it."""
    from moderation.model import _TOKEN, _as_text
    from moderation.normalize import normalize_text, split_sentences

    text = _as_text(text)
    sentences = [text[a:b] for a, b in split_sentences(text)] if model.sentence_weight else []
    docs = [text, *sentences] if len(sentences) >= 2 else [text]
    logits = model.decision_function(docs).to_numpy()
    compiled = model.compiled()
    word_block, char_block = compiled.blocks
    word_names, char_names = word_block.column_names(), char_block.column_names()
    out: dict[str, list[tuple[str, float]]] = {}
    for label in labels:
        j = model.labels.index(label)
        best = int(np.argmax(logits[:, j]))
        part = docs[best] if logits[best, j] > logits[0, j] else text
        row = model.transform([part])
        words = list(dict.fromkeys(_TOKEN.findall(normalize_text(part))))
        scores: dict[str, float] = {}
        for col, value in zip(row.indices.tolist(), row.data.tolist(), strict=True):
            value *= float(compiled.coef64()[col, j])
            if value == 0.0:
                continue
            if col < word_block.n_columns:
                term = word_names[col]
                scores[term] = scores.get(term, 0.0) + value
                continue
            gram = char_names[col - word_block.n_columns]
            owners = [w for w in words if gram in f" {w} "]
            for w in owners:
                scores[w] = scores.get(w, 0.0) + value / len(owners)
        ranked = sorted(
            ((t, v) for t, v in scores.items() if v > 0), key=lambda tv: (-tv[1], tv[0])
        )
        out[label] = [(t, round(v, 6)) for t, v in ranked[:k]]
    return out


def reference_spans(
    model: HostilityModel, text: str, labels: list[str], thresholds: dict[str, float]
) -> dict[str, dict[str, list[Span]]]:
    """Per label: the sentences at or above the threshold, and inside them the words whose own
    score reaches WORD_THRESHOLD, neighbours merged, in original offsets."""
    from moderation.model import _TOKEN, WORD_THRESHOLD, _as_text, _expit
    from moderation.normalize import normalize_with_offsets, split_sentences

    text = _as_text(text)
    sentences = split_sentences(text)
    norm = normalize_with_offsets(text)
    tokens = [(m.group(), *norm.original_span(*m.span())) for m in _TOKEN.finditer(norm.text)]
    distinct = list(dict.fromkeys(t for t, _, _ in tokens))
    docs = [text[a:b] for a, b in sentences] + distinct
    if not docs:
        return {label: {"sentence": [], "word": []} for label in labels}
    probs = model.calibrate(_expit(model.decision_function(docs).to_numpy()))
    out: dict[str, dict[str, list[Span]]] = {}
    for label in labels:
        j = model.labels.index(label)
        flagged = [float(probs[i, j]) >= thresholds[label] for i in range(len(sentences))]
        found = [Span(a, b, float(probs[i, j])) for i, (a, b) in enumerate(sentences) if flagged[i]]
        words: list[Span] = []
        previous = -2
        for t, (token, begin, end) in enumerate(tokens):
            inside = [i for i, (a, b) in enumerate(sentences) if a <= begin < b]
            score = float(probs[len(sentences) + distinct.index(token), j])
            if not inside or not flagged[inside[0]] or score < WORD_THRESHOLD:
                continue
            if words and previous == t - 1:
                words[-1] = Span(words[-1].begin, end, max(words[-1].score, score))
            else:
                words.append(Span(begin, end, score))
            previous = t
        out[label] = {"sentence": found, "word": words}
    return out


def assert_same_explanations(model: HostilityModel, texts: list[str]) -> None:
    labels = list(model.labels)
    thresholds = {label: 0.2 + 0.1 * j for j, label in enumerate(labels)}
    # Each text asks for its own labels (some for none), as Moderator.score does.
    wanted = [labels[i % 3 : i % 3 + i % 4] for i in range(len(texts))]
    terms = model.top_terms_maps(texts, wanted, k=4)
    spans = model.span_maps_each(texts, wanted, thresholds)
    everything = model.span_maps(texts, labels, thresholds)
    for text, labels_of, got_terms, got_spans, all_spans in zip(
        texts, wanted, terms, spans, everything, strict=True
    ):
        assert got_terms == reference_top_terms(model, text, labels_of, 4), text
        assert got_spans == reference_spans(model, text, labels_of, thresholds), text
        assert all_spans == reference_spans(model, text, labels, thresholds), text


def test_explanations_match_the_reference_loops(small: HostilityModel) -> None:
    texts = fixture_texts()[:150] + shipped_texts()[:50]
    texts += ["", "   ", "You 1d10t. Shut up, i d i o t!", "x" * 30_000, "\u200b idi\u043et"]
    assert_same_explanations(small, texts)


@settings(max_examples=60, deadline=None)
@given(st.lists(nasty_text, min_size=1, max_size=6))
def test_explanations_of_nasty_text_match_the_reference_loops(
    small: HostilityModel, texts: list[str]
) -> None:
    assert_same_explanations(small, texts)


@pytest.mark.skipif(not REAL_DATASETS.is_dir(), reason=f"no shared datasets at {REAL_DATASETS}")
def test_shipped_explanations_match_the_reference_on_real_comments(
    shipped: HostilityModel,
) -> None:
    texts = real_comments(600)
    assert_same_explanations(shipped, texts)


# loading ----------------------------------------------------------------------------------------


def test_loading_reads_arrays_and_unpickles_only_on_demand() -> None:
    bundle = load_bundle(default_bundle_path())
    assert bundle.pipeline._payload is None
    assert bundle.hostility.predict(["you idiot"]).shape == (1, len(schema.LABELS))
    assert bundle.hostility.spans("Nice. You stupid idiot.", "toxicity", 0.3)
    assert bundle.pipeline._payload is None
    assert bundle.fitted_off_topic is not None  # first use unpickles
    assert bundle.pipeline._payload is not None


def test_a_lazy_model_pickles_lazily_and_scores_the_same() -> None:
    import pickle

    model = load_bundle(default_bundle_path()).hostility
    copy = pickle.loads(pickle.dumps(model))
    assert "features_" not in copy.__dict__
    texts = ["You are a moron.", "Lovely harbour."]
    pd.testing.assert_frame_equal(copy.predict(texts), model.predict(texts))


def test_scoring_one_comment_imports_no_scikit_learn() -> None:
    code = (
        "import sys\n"
        "from moderation import Moderator\n"
        "m = Moderator.load()\n"
        "one = m.score_one('Shut up, you stupid 1d10t.')\n"
        "assert one.terms and one.spans, one\n"
        "print(sorted(k for k in sys.modules if k.split('.')[0] in ('sklearn', 'joblib')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("text", ["Shut up, you idiot.", "", "I disagree with the article."])
def test_a_lone_comment_needs_no_off_topic_scorer(text: str) -> None:
    m = Moderator.load()
    comments = pd.DataFrame({"comment_id": ["c"], "thread_id": ["t"], "text": [text]})
    valid = schema.validate_comments(comments)
    context = attach_context(valid, None)
    pd.testing.assert_frame_equal(
        m._off_topic(valid, context), m.bundle.off_topic.score_frame(valid, context)
    )


def test_damaged_compiled_arrays_are_named(tmp_path: Path) -> None:
    import json
    import shutil

    from moderation.bundle import sha256_file

    copy = tmp_path / "bundle"
    shutil.copytree(default_bundle_path(), copy)
    (copy / COMPILED).write_bytes(b"not a zip")
    with pytest.raises(ModelLoadError, match=r"compiled\.npz does not match its SHA-256"):
        load_bundle(copy)
    manifest = json.loads((copy / MANIFEST).read_text(encoding="utf-8"))
    manifest["files"][COMPILED] = sha256_file(copy / COMPILED)
    (copy / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(ModelLoadError, match=r"compiled\.npz cannot be read"):
        load_bundle(copy)


def test_bundle_without_compiled_arrays_still_loads(tmp_path: Path) -> None:
    import json
    import shutil

    copy = tmp_path / "old"
    shutil.copytree(default_bundle_path(), copy)
    manifest = json.loads((copy / MANIFEST).read_text(encoding="utf-8"))
    del manifest["compiled"], manifest["files"][COMPILED]
    (copy / COMPILED).unlink()
    (copy / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    old: Bundle = load_bundle(copy)
    new = load_bundle(default_bundle_path())
    texts = ["You are a moron. Really.", "Lovely harbour."]
    pd.testing.assert_frame_equal(old.hostility.predict(texts), new.hostility.predict(texts))


def test_a_model_from_arrays_alone_scores_and_says_what_it_lacks(small: HostilityModel) -> None:
    alone = HostilityModel.from_compiled(small.compiled(), sentence_weight=small.sentence_weight)
    texts = fixture_texts()[:30]
    pd.testing.assert_frame_equal(alone.predict(texts), small.predict(texts))
    assert alone.top_terms("You stupid idiot", "insult") == small.top_terms(
        "You stupid idiot", "insult"
    )
    with pytest.raises(AttributeError, match="built from compiled arrays"):
        alone.with_engine("sklearn")


def test_groups_of_texts_give_the_batch_scores(
    small: HostilityModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    from moderation import model as model_module

    texts = [*fixture_texts(), "One. Two sentences here.", ""]
    whole = small.predict(texts)
    monkeypatch.setattr(model_module, "GROUP_CHARS", 40)
    pd.testing.assert_frame_equal(small.predict(texts), whole)
