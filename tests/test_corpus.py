"""Dataset adapters: each maps its source's labels onto the contract labels, unknown stays NaN.

Runs on the tiny invented fixtures in ``tests/data/labelled/`` (same schemas as the real
datasets, uncompressed).
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from labelled_fixtures import labelled_dir

from moderation import schema
from moderation.corpus import (
    AFFIRMATIONS,
    CORPUS_COLUMNS,
    DAVIDSON_CLASSES,
    EQUAL_PAIRS,
    GROUPS,
    HOSTILE_TEMPLATES,
    IDENTITY_NEUTRAL,
    SOURCES,
    _olid_target_labels,
    davidson_classes,
    hostile_template_sentences,
    identity_neutral_sentences,
    load_corpus,
    stable_bucket,
)
from moderation.errors import TrainingError

LABELLED = labelled_dir()


@pytest.fixture(scope="module")
def corpus() -> pd.DataFrame:
    return load_corpus(LABELLED)


def row(corpus: pd.DataFrame, source: str, text: str) -> pd.Series:
    hits = corpus[(corpus["source"] == source) & (corpus["text"] == text)]
    assert len(hits) == 1, f"{source}: expected one row for {text!r}, found {len(hits)}"
    return hits.iloc[0]


def labels(r: pd.Series) -> dict[str, float | None]:
    return {k: (None if math.isnan(r[k]) else r[k]) for k in schema.LABELS}


def test_columns_and_types(corpus: pd.DataFrame) -> None:
    assert tuple(corpus.columns) == CORPUS_COLUMNS
    assert set(corpus["source"]) == set(SOURCES)
    assert set(corpus["split"]) == {"train", "test"}
    assert corpus["redistributable"].dtype == bool
    for label in schema.LABELS:
        values = corpus[label].dropna()
        assert ((values >= 0) & (values <= 1)).all()
    assert (corpus["text"].str.strip() != "").all()


def test_labels_a_source_does_not_annotate_are_nan(corpus: pd.DataFrame) -> None:
    for name, source in SOURCES.items():
        part = corpus[corpus["source"] == name]
        for label in schema.LABELS:
            if label not in source.labels:
                assert part[label].isna().all(), f"{name}/{label} should be unknown"


def test_redistributable_flags(corpus: pd.DataFrame) -> None:
    shipped = set(corpus.loc[corpus["redistributable"], "source"])
    assert shipped == {
        "toxic-spans-civil", "toxic-spans-sentences", "davidson", "cat", "convabuse", "ruddit",
        "toxichat",
    }  # fmt: skip


def test_toxic_spans_votes_and_span_types(corpus: pd.DataFrame) -> None:
    insult = row(
        corpus, "toxic-spans-civil", "You are a pathetic idiot and everyone here knows it."
    )
    # Two raters marked Insult; the third ticked both boxes and gave no usable vote.
    assert labels(insult) == {
        "toxicity": 1.0, "severe_toxicity": None, "insult": 1.0,
        "threat": 0.0, "identity_attack": 0.0, "profanity": 0.0,
    }  # fmt: skip
    threat = row(corpus, "toxic-spans-civil", "I will find you and make you regret this.")
    assert threat["threat"] == 1.0  # 2 of 3 raters
    clean = row(
        corpus,
        "toxic-spans-civil",
        "I think the council vote was rushed and the budget needs another look.",
    )
    assert clean["toxicity"] == 0.0  # 2 of 3 raters said "not toxic"
    half = row(corpus, "toxic-spans-civil", "Only a brainless troll would write this crap.")
    assert half["profanity"] == 1.0  # exactly half of the raters is enough for a span type
    # A comment whose raters all ticked both boxes has no usable vote and is dropped.
    assert "Go to hell, you absolute fool." not in set(
        corpus.loc[corpus["source"] == "toxic-spans-civil", "text"]
    )


def test_toxic_span_sentences_are_labelled_by_the_spans_inside_them(
    corpus: pd.DataFrame,
) -> None:
    post = (
        "The council met on Tuesday to discuss the budget. The mayor is a corrupt idiot. "
        "Parking fees will rise next year."
    )
    part = corpus[corpus["source"] == "toxic-spans-sentences"]
    # Two of three raters marked "corrupt idiot" as an insult (one of them also as profane);
    # the third ticked "not toxic" and votes every sentence clean.
    hostile = row(corpus, "toxic-spans-sentences", "The mayor is a corrupt idiot.")
    assert labels(hostile) == {
        "toxicity": 1.0, "severe_toxicity": None, "insult": 1.0,
        "threat": 0.0, "identity_attack": 0.0, "profanity": 0.0,
    }  # fmt: skip
    for civil in (
        "The council met on Tuesday to discuss the budget.",
        "Parking fees will rise next year.",
    ):
        r = row(corpus, "toxic-spans-sentences", civil)
        assert (r["toxicity"], r["insult"], r["profanity"]) == (0.0, 0.0, 0.0)
        assert r["group"] == post  # sentences follow their post's split and buckets
    # One of the two sentence voters marked "clueless": ambiguous, left out. The rater who
    # only ticked "all toxic" votes on the post, not on its sentences.
    assert "Frankly the judge is clueless." not in set(part["text"])
    assert row(corpus, "toxic-spans-sentences", "Appeal it soon.")["toxicity"] == 0.0
    assert row(corpus, "toxic-spans-civil", post)["insult"] == 1.0
    assert row(corpus, "toxic-spans-civil", post)["group"] == post


def test_toxic_spans_semeval_test_posts_are_never_train(corpus: pd.DataFrame) -> None:
    crap = "Only a brainless troll would write this crap."  # also in semeval2021_tsd_test
    assert row(corpus, "toxic-spans-civil", crap)["split"] == "test"
    assert row(corpus, "toxic-spans-sentences", crap)["split"] == "test"
    spans = corpus[corpus["source"].str.startswith("toxic-spans")]
    assert set(spans.loc[spans["split"] == "test", "group"]) == {crap}
    assert "A test post that is not in the ACL 2022 files." not in set(corpus["text"])


def test_toxic_spans_test_set_matches_normalised_text(tmp_path: Path) -> None:
    folder = tmp_path / "toxic-spans-civil"
    folder.mkdir()
    for path in (LABELLED / "toxic-spans-civil").glob("acl2022_*.csv"):
        (folder / path.name).write_bytes(path.read_bytes())
    (folder / "semeval2021_tsd_test.csv").write_text(
        'spans,text\n[],"  go to HELL, you absolute fool. "\n'
        '[],"stupid idiot,   learn to read before you comment."\n',
        encoding="utf-8",
    )
    frame = load_corpus(tmp_path, sources=["toxic-spans-civil"])
    held = frame.loc[frame["split"] == "test", "text"].tolist()
    assert held == ["Stupid idiot, learn to read before you comment."]  # case/space-insensitive
    # Without the test file the posts fall back to the hash split.
    (folder / "semeval2021_tsd_test.csv").unlink()
    frame = load_corpus(tmp_path, sources=["toxic-spans-civil"])
    expected = ["test" if stable_bucket(t) < 20 else "train" for t in frame["text"]]
    assert frame["split"].tolist() == expected


def test_davidson(corpus: pd.DataFrame) -> None:
    hate = row(corpus, "davidson", "Those people are vermin, all of them.")
    assert (hate["toxicity"], hate["profanity"]) == (1.0, 1.0)
    assert math.isnan(hate["identity_attack"])  # the hate class is deliberately not mapped
    offensive = row(corpus, "davidson", "Go to hell, you absolute fool.")
    assert (offensive["toxicity"], offensive["profanity"]) == (1.0, 1.0)
    neither = corpus[(corpus["source"] == "davidson") & corpus["text"].str.startswith("RT")]
    assert (neither["toxicity"] == 0).all()
    assert neither["text"].str.contains("& more").all()  # HTML entities decoded


def test_convabuse_majorities(corpus: pd.DataFrame) -> None:
    bot = row(corpus, "convabuse", "you are a useless stupid bot")
    assert labels(bot) == {
        "toxicity": 1.0, "severe_toxicity": 1.0, "insult": 1.0,
        "threat": None, "identity_attack": 0.0, "profanity": None,
    }  # fmt: skip
    sexist = row(corpus, "convabuse", "women should not be allowed to talk")
    assert (sexist["identity_attack"], sexist["insult"]) == (1.0, 0.0)
    tie = row(corpus, "convabuse", "shut up")
    assert math.isnan(tie["toxicity"])  # 1 of 2 annotators: a tie is unknown
    assert row(corpus, "convabuse", "tell me a joke")["toxicity"] == 0.0  # "1, 1" repeat cell
    assert "nobody rated this" not in set(corpus["text"])
    assert row(corpus, "convabuse", "you are so dumb")["split"] == "test"
    assert row(corpus, "convabuse", "fuck off you piece of junk")["split"] == "train"  # valid


def test_ruddit_thresholds_and_deleted(corpus: pd.DataFrame) -> None:
    part = corpus[corpus["source"] == "ruddit"]
    assert not part["text"].isin(["[deleted]", "[removed]"]).any()
    assert (
        row(corpus, "ruddit", "You are a pathetic idiot and everyone here knows it.")["toxicity"]
        == 1.0
    )  # score 0.4 > 1/3
    worthless = row(corpus, "ruddit", "What a worthless clown, crawl back under your rock.")
    assert worthless["severe_toxicity"] == 1.0  # 0.7 > 2/3
    assert (
        row(corpus, "ruddit", "Good point about the schedule, I had not considered the holidays.")[
            "toxicity"
        ]
        == 0.0
    )  # score 0.3


def test_toxichat_human_turns_only(corpus: pd.DataFrame) -> None:
    part = corpus[corpus["source"] == "toxichat"]
    assert not part["text"].str.contains("BOT REPLY").any()
    # The same post appears in a train and a test thread: one row, on the test side.
    fair = row(corpus, "toxichat", "Title: Town fair this weekend")
    assert fair["split"] == "test"
    women = row(corpus, "toxichat", "Women cannot do engineering, period.")
    assert (women["toxicity"], women["identity_attack"], women["insult"]) == (1.0, 1.0, 0.0)
    liberals = row(corpus, "toxichat", "Liberals are all clowns.")
    assert liberals["identity_attack"] == 0.0  # political groups are not identity groups
    loser = row(corpus, "toxichat", "This is the dumbest garbage take I have ever read, loser.")
    assert loser["insult"] == 1.0
    assert "Title: Hiring news & updates" in set(part["text"])


def test_evaluation_only_sources(corpus: pd.DataFrame) -> None:
    olid = corpus[corpus["source"] == "olid"]
    assert (olid["split"] == "test").sum() == 4
    assert olid["redistributable"].eq(False).all()
    vermin = row(
        corpus, "olid", "@USER People like you are vermin and should be thrown out of the country."
    )
    # Levels B and C: targeted at an individual -> insult, at a group -> identity_attack;
    # untargeted (UNT), other targets (OTH) and not offensive (NOT) -> 0 for both.
    assert (vermin["toxicity"], vermin["insult"], vermin["identity_attack"]) == (1.0, 0.0, 0.0)
    idiot = row(corpus, "olid", "@USER Stupid idiot, learn to read before you comment.")
    assert (idiot["insult"], idiot["identity_attack"]) == (1.0, 0.0)  # test TIN + IND
    take = row(corpus, "olid", "@USER This is the dumbest garbage take I have ever read, loser.")
    assert (take["insult"], take["identity_attack"]) == (0.0, 1.0)  # TIN + GRP
    troll = row(corpus, "olid", "@USER Only a brainless troll would write this crap.")
    assert (troll["insult"], troll["identity_attack"]) == (0.0, 0.0)  # TIN + OTH
    assert olid[["insult", "identity_attack"]].notna().all().all()
    ucc = row(corpus, "ucc", "You are a pathetic idiot and everyone here knows it.")
    assert (ucc["toxicity"], ucc["insult"]) == (1.0, 1.0)  # hostile, antagonize
    assert math.isnan(ucc["identity_attack"])
    cad = row(corpus, "cad", "Shut up, moron, nobody asked for your stupid opinion.")
    assert (cad["toxicity"], cad["insult"], cad["identity_attack"]) == (1.0, 1.0, 1.0)
    assert row(corpus, "cad", "Calling people vermin is not okay.")["toxicity"] == 0.0
    assert "\n" in row(corpus, "cad", "Weekly thread \n Post your plans here.")["text"]
    sfu = row(corpus, "sfu", "Interesting read, especially the part about rainfall patterns.")
    assert sfu["toxicity"] == 1.0  # "mildly toxic" counts


def test_olid_offence_without_a_target_annotation_is_unknown() -> None:
    # The data says nothing about whom such a tweet targets: neither label is guessed.
    labels = _olid_target_labels(
        pd.Series(["OFF", "OFF", "NOT", "OFF"]),
        pd.Series(["TIN", None, None, "UNT"]),
        pd.Series([None, None, None, None]),
    )
    np.testing.assert_array_equal(labels["insult"], [np.nan, np.nan, 0.0, 0.0])
    np.testing.assert_array_equal(labels["identity_attack"], [np.nan, np.nan, 0.0, 0.0])


def test_hash_split_is_stable_and_case_insensitive() -> None:
    assert stable_bucket("You are an idiot") == stable_bucket("  you are an IDIOT ")
    assert stable_bucket("stuuuupid") == stable_bucket("stuupid")
    assert 0 <= stable_bucket("anything") < 100
    assert stable_bucket("") == stable_bucket("")


def test_select_sources_and_missing_ones(tmp_path: Path) -> None:
    only = load_corpus(LABELLED, sources=["ruddit"])
    assert set(only["source"]) == {"ruddit"}
    with pytest.raises(TrainingError, match="does not exist"):
        load_corpus(tmp_path / "nowhere")
    with pytest.raises(TrainingError, match="unknown source"):
        load_corpus(LABELLED, sources=["reddit-2030"])
    with pytest.raises(TrainingError, match="no labelled dataset"):
        load_corpus(tmp_path)
    (tmp_path / "ruddit").mkdir()
    with pytest.raises(TrainingError, match=r"ruddit_with_text\.csv"):
        load_corpus(tmp_path, sources=["ruddit"])


def test_bad_schema_names_the_file(tmp_path: Path) -> None:
    folder = tmp_path / "ruddit"
    folder.mkdir()
    (folder / "ruddit_with_text.csv").write_text("id,body\n1,hello\n", encoding="utf-8")
    with pytest.raises(TrainingError, match=r"ruddit_with_text\.csv: missing column"):
        load_corpus(tmp_path, sources=["ruddit"])


def test_unknown_is_never_zero(corpus: pd.DataFrame) -> None:
    cat = corpus[corpus["source"] == "cat"]
    assert cat["insult"].isna().all()
    assert not np.any(cat["toxicity"].isna())


def test_davidson_classes_match_the_corpus_rows(corpus: pd.DataFrame) -> None:
    classes = davidson_classes(LABELLED)
    assert set(classes["label"]) == set(DAVIDSON_CLASSES)
    rows = corpus[corpus["source"] == "davidson"]
    assert sorted(classes["text"]) == sorted(rows["text"])
    toxic = dict(zip(rows["text"], rows[schema.TOXICITY], strict=True))
    for text, label in zip(classes["text"], classes["label"], strict=True):
        assert toxic[text] == float(label != "neither")


def test_identity_neutral_sentences_cover_every_term_and_frame() -> None:
    neutral = identity_neutral_sentences(
        terms=("deaf", "middle aged"), frames=("{T} here.", "a {t}")
    )
    assert neutral["text"].tolist() == [
        "Deaf here.",
        "Middle aged here.",
        "a deaf",
        "a middle aged",
    ]
    assert list(neutral.columns) == list(CORPUS_COLUMNS)
    assert neutral["source"].eq(IDENTITY_NEUTRAL).all()


def test_hostile_templates_label_threats_derogation_and_hard_negatives() -> None:
    rows = hostile_template_sentences().set_index("text")
    assert list(hostile_template_sentences().columns) == list(CORPUS_COLUMNS)
    assert rows["source"].eq(HOSTILE_TEMPLATES).all() and rows["redistributable"].all()
    assert rows.index.is_unique
    threat = rows.loc["I'm going to break your legs."]
    assert (threat[schema.THREAT], threat[schema.TOXICITY], threat[schema.PROFANITY]) == (1, 1, 0)
    assert np.isnan(threat[schema.SEVERE_TOXICITY]) and np.isnan(threat[schema.INSULT])
    hate = rows.loc["All immigrants are subhuman."]
    assert hate[schema.IDENTITY_ATTACK] == 1
    # The identity-blind toxicity classifier is not taught from sentences naming a group.
    assert np.isnan(hate[schema.TOXICITY]) and np.isnan(hate[schema.INSULT])
    group_threat = rows.loc["Next week we find the Jews and break their legs."]
    assert (group_threat[schema.THREAT], group_threat[schema.IDENTITY_ATTACK]) == (1, 1)
    # Hard negatives: the same words, harmless, negated or condemned -- 0 for the labels that
    # learn intent from them; toxicity / severe_toxicity unknown.
    zero = [schema.THREAT, schema.IDENTITY_ATTACK, schema.INSULT, schema.PROFANITY]
    for text in (
        "I'm going to kill this workout tomorrow.",
        "No one should ever threaten to break your legs.",
        "Saying that immigrants are subhuman is hateful.",
        "Immigrants should be welcome here.",
    ):
        assert (rows.loc[text, zero] == 0).all(), text
        assert rows.loc[text, [schema.TOXICITY, schema.SEVERE_TOXICITY]].isna().all(), text


def test_praise_and_group_support_are_hard_negatives() -> None:
    rows = hostile_template_sentences(with_family=True).set_index("text")
    praise = rows[rows["family"].isin(["person-praise", "third-person-praise", "agreement"])]
    assert len(praise) > 300
    # Praise of a person teaches toxicity / insult / profanity 0 and nothing else (threat,
    # identity_attack and severe_toxicity unknown); positive statements about groups teach
    # identity_attack / insult / profanity 0.
    known = [schema.TOXICITY, schema.INSULT, schema.PROFANITY]
    unknown = [schema.THREAT, schema.IDENTITY_ATTACK, schema.SEVERE_TOXICITY]
    assert (praise[known] == 0).all().all() and praise[unknown].isna().all().all()
    support = rows[rows["family"].isin(["group-support", "group-praise"])]
    known = [schema.IDENTITY_ATTACK, schema.INSULT, schema.PROFANITY]
    unknown = [schema.TOXICITY, schema.THREAT, schema.SEVERE_TOXICITY]
    assert (support[known] == 0).all().all() and support[unknown].isna().all().all()
    dehumanising = rows[rows["family"] == "dehumanising"]
    assert (dehumanising[schema.IDENTITY_ATTACK] == 1).all()
    assert "family" not in hostile_template_sentences().columns


BIAS_WORDS = Path(__file__).resolve().parents[2] / "shared/datasets/identity-bias-templates"


def bias_test_words(*lists: str) -> set[str]:
    """The words of the identity-bias test's word lists (all of them when none is named)."""
    lists = lists or (
        "adjectives_positive", "adjectives_negative", "verbs_positive", "verbs_negative",
        "occupations", "adjectives_people", "names",
    )  # fmt: skip
    return {
        word
        for name in lists
        for line in (BIAS_WORDS / f"bias_madlibs_wordlists/{name}.txt").read_text().splitlines()
        for word in line.lower().split()
    }


@pytest.mark.skipif(not BIAS_WORDS.is_dir(), reason="identity-bias-templates not available")
def test_praise_does_not_mirror_the_identity_bias_templates() -> None:
    """No adjective, verb or occupation of the bias test's word lists, no bare test frame."""
    test_words = bias_test_words(
        "adjectives_positive", "adjectives_negative", "verbs_positive", "verbs_negative",
        "occupations",
    )  # fmt: skip
    assert {"kind", "caring", "love", "architect"} <= test_words
    rows = hostile_template_sentences(with_family=True)
    new = rows[
        rows["family"].isin(
            ["person-praise", "third-person-praise", "person-praise-adjective", "agreement",
             "group-support", "group-praise"]
        )
    ]  # fmt: skip
    words = {w for text in new["text"] for w in re.findall(r"[a-z]+", text.lower())}
    assert not words & test_words
    assert not new["text"].str.match(r"^(?:You are a \w+ \w+\.?|\w+ is a \w+ \w+)$").any()


def test_hostile_template_parts_split_train_and_heldout_disjointly() -> None:
    train = hostile_template_sentences("train")
    heldout = hostile_template_sentences("heldout")
    assert len(heldout) > 100 and len(train) > 10 * len(heldout)
    assert not set(train["text"]) & set(heldout["text"])
    assert set(train["text"]) | set(heldout["text"]) < set(hostile_template_sentences()["text"])
    # A held-out harm never appears in training sentences.
    assert heldout["text"].str.contains("drown them in the river").any()
    assert not train["text"].str.contains("drown").any()
    for label in (schema.THREAT, schema.IDENTITY_ATTACK):
        assert heldout[label].eq(1).any() and heldout[label].eq(0).any()
    with pytest.raises(ValueError, match="part"):
        hostile_template_sentences("test")


INSULT_FAMILIES = ["person-insult", "insult-remark"]
CIVIL_FAMILIES = ["claim-disagreement", "person-disagreement", "insult-word-benign"]


def test_mild_person_insults_and_civil_disagreement_labels() -> None:
    rows = hostile_template_sentences(with_family=True).set_index("text")
    insult = rows[rows["family"].isin(INSULT_FAMILIES)]
    civil = rows[rows["family"].isin(CIVIL_FAMILIES)]
    assert len(insult) > 1000 and len(civil) > 1000
    # Insults at a person: toxicity / insult 1, profanity / threat 0; no group is named, so
    # identity_attack (and severe_toxicity) stay unknown.
    ones, zeros = [schema.TOXICITY, schema.INSULT], [schema.PROFANITY, schema.THREAT]
    unknown = [schema.IDENTITY_ATTACK, schema.SEVERE_TOXICITY]
    assert (insult[ones] == 1).all().all() and (insult[zeros] == 0).all().all()
    assert insult[unknown].isna().all().all()
    # Hard negatives: toxicity / insult / profanity 0, the rest unknown.
    known = [schema.TOXICITY, schema.INSULT, schema.PROFANITY]
    assert (civil[known] == 0).all().all()
    assert civil[[schema.THREAT, *unknown]].isna().all().all()
    # Second person, "people such as you" and another commenter; the same frame with a claim
    # as its subject is a hard negative.
    for text in (
        "I'm sorry, but you are naive; the census figures say otherwise.",
        "Let me be blunt: people such as you are trolls.",
        "Thanks for the link, though the commenter above is clearly a paid shill.",
        "I posted the source twice. Go back to your echo chamber.",
    ):
        assert rows.loc[text, "family"] in INSULT_FAMILIES, text
    for text in (
        "I'm sorry, but that claim is naive; the census figures say otherwise.",
        "Let me be blunt: their press release is propaganda.",
        "Honestly, that is an insane amount of paperwork for a fence permit.",
        "Off topic, but my daughter collects troll dolls.",
        "I'm sorry, but you are mistaken; the census figures say otherwise.",
    ):
        assert rows.loc[text, "family"] in CIVIL_FAMILIES, text


def test_insult_families_hold_out_their_own_parts() -> None:
    train = hostile_template_sentences("train", with_family=True)
    heldout = hostile_template_sentences("heldout", with_family=True)
    new = INSULT_FAMILIES + CIVIL_FAMILIES
    held_new, train_new = heldout[heldout["family"].isin(new)], train[train["family"].isin(new)]
    assert set(held_new["family"]) == set(new)
    assert not set(train["text"]) & set(held_new["text"])
    # A held-out insult, target, frame and hard-negative clause never appear in training.
    for part in ("illiterate", "you guys", "budget documents", "horror films", "sheep talk"):
        assert held_new["text"].str.contains(part).any(), part
        assert not train_new["text"].str.contains(part).any(), part
    assert held_new[schema.INSULT].eq(1).any() and held_new[schema.INSULT].eq(0).any()


@pytest.mark.skipif(not BIAS_WORDS.is_dir(), reason="identity-bias-templates not available")
def test_insult_families_do_not_mirror_the_identity_bias_templates() -> None:
    """No word of the bias test's adjective, verb, occupation, identity or name lists."""
    test_words = bias_test_words()
    assert {"stupid", "like", "person", "muslim"} <= test_words
    rows = hostile_template_sentences(with_family=True)
    new = rows[rows["family"].isin(INSULT_FAMILIES + CIVIL_FAMILIES)]
    words = {w for text in new["text"] for w in re.findall(r"[a-z]+", text.lower())}
    assert not words & test_words


IMPLICIT_HATE_FAMILIES = [
    "group-contempt", "group-stereotype", "group-place", "group-refusal", "group-conspiracy",
    "group-removal",
]  # fmt: skip
GROUP_NEGATIVE_FAMILIES = [
    "negated-contempt", "negated-derogation", "equal-treatment", "identity-affirmation",
    "implicit-counter-speech", "group-frame-benign",
]  # fmt: skip
IMPLICIT_FAMILIES = IMPLICIT_HATE_FAMILIES + GROUP_NEGATIVE_FAMILIES


def test_implicit_hate_and_its_hard_negatives_labels() -> None:
    rows = hostile_template_sentences(with_family=True).set_index("text")
    assert set(IMPLICIT_FAMILIES) <= set(rows["family"])
    # Veiled threats were measured and left out (data/README.md).
    assert not rows["family"].str.startswith("veiled").any()
    # Implicit group derogation carries identity_attack, never toxicity (blind to group names).
    hate = rows[rows["family"].isin(IMPLICIT_HATE_FAMILIES)]
    assert (hate[schema.IDENTITY_ATTACK] == 1).all() and hate[schema.TOXICITY].isna().all()
    # Their hard negatives teach identity_attack / profanity 0 only (insult 0 on "are not
    # worthless" cost validation insult).
    support = rows[rows["family"].isin(GROUP_NEGATIVE_FAMILIES)]
    known = [schema.IDENTITY_ATTACK, schema.PROFANITY]
    unknown = [schema.TOXICITY, schema.INSULT, schema.THREAT, schema.SEVERE_TOXICITY]
    assert (support[known] == 0).all().all() and support[unknown].isna().all().all()
    expected = {
        "I despise immigrants.": "group-contempt",
        "Face it, refugees are too emotional to lead.": "group-stereotype",
        "Catholics belong on their knees.": "group-place",
        "My shop does not serve Sikhs.": "group-refusal",
        "Wake up: Mormons secretly run the government.": "group-conspiracy",
        "It's time to send atheists packing.": "group-removal",
        "I don't despise immigrants.": "negated-contempt",
        "Refugees are not a disease.": "negated-derogation",
        "Refugees are not too lazy to hold down a job.": "negated-derogation",
        "Refugees deserve the same healthcare as citizens.": "equal-treatment",
        "Trans men are men.": "identity-affirmation",
        "Catholics belong on the school board.": "group-frame-benign",
        "The claim that Catholics secretly run the government is a bigoted myth.": (
            "implicit-counter-speech"
        ),
    }
    for text, family in expected.items():
        assert rows.loc[text, "family"] == family, text
    # The list index of each part is kept, but "not real people" is never negated twice.
    negated = rows[rows["family"] == "negated-derogation"]
    assert not negated.index.str.contains(" not not ").any()


def test_implicit_families_hold_out_their_own_parts() -> None:
    train = hostile_template_sentences("train", with_family=True)
    heldout = hostile_template_sentences("heldout", with_family=True)
    held_new = heldout[heldout["family"].isin(IMPLICIT_FAMILIES)]
    assert set(held_new["family"]) == set(IMPLICIT_FAMILIES)
    assert not set(train["text"]) & set(held_new["text"])
    # Held-out verb of contempt, stereotype, place, trope, call, pairs never in training.
    for part in (
        "resent", "unable to think for themselves",
        "at the bottom of the ladder", "behind the plot to replace us", "deport every one",
        "as Christians", "intersex",
    ):  # fmt: skip
        pattern = rf"\b{re.escape(part)}\b"
        assert held_new["text"].str.contains(pattern).any(), part
        assert not train["text"].str.contains(pattern).any(), part
    assert held_new[schema.IDENTITY_ATTACK].eq(1).any()
    assert held_new[schema.IDENTITY_ATTACK].eq(0).any()


#: The lead's probe sentences for these categories: never template rows, nor their wording.
PROBES = (
    "I hate Muslims.", "Women belong in the kitchen, not in parliament.",
    "Jews control the banks and the media.", "We should get rid of all the Roma.",
    "I'd never hire a black person.", "I will find you and you will pay.",
    "You'll regret this when I see you tomorrow.",
    "Say that again and I'll make sure you never walk again.",
    "Your family won't be safe after this.", "I don't hate Muslims.",
    "Gay people are not disgusting.", "Immigrants are not criminals.", "Trans women are women.",
    "Women should be paid the same as men.",
)  # fmt: skip
PROBE_WORDING = (
    "hate", "kitchen", "control the", "get rid", "hire", "you will pay", "regret",
    "won't be safe", "never walk", "disgusting", "criminals", "trans women",
    "paid the same as",
)  # fmt: skip


def test_implicit_families_avoid_the_probe_sentences() -> None:
    rows = hostile_template_sentences(with_family=True)
    texts = set(rows["text"].str.lower().str.strip())
    assert not texts & {probe.lower() for probe in PROBES}
    new = rows.loc[rows["family"].isin(IMPLICIT_FAMILIES), "text"].str.lower()
    for wording in PROBE_WORDING:
        assert not new.str.contains(rf"\b{re.escape(wording)}\b").any(), wording


@pytest.mark.skipif(not BIAS_WORDS.is_dir(), reason="identity-bias-templates not available")
def test_implicit_families_do_not_mirror_the_identity_bias_templates() -> None:
    """No word of the bias test's lists outside the group names themselves ("hate", "old", ...)."""
    test_words = bias_test_words()
    assert {"hate", "kill", "respect", "old", "reporter"} <= test_words
    group_names = [*GROUPS, *(p for pair in (*EQUAL_PAIRS, *AFFIRMATIONS) for p in pair)]
    group_words = {w for name in group_names for w in re.findall(r"[a-z]+", name.lower())}
    rows = hostile_template_sentences(with_family=True)
    new = rows[rows["family"].isin(IMPLICIT_FAMILIES)]
    words = {w for text in new["text"] for w in re.findall(r"[a-z]+", text.lower())}
    assert not (words - group_words) & test_words
