"""Labelled training and evaluation data: one adapter per public dataset.

Flow: ``labelled data -> **read (corpus)** -> validate -> train -> evaluate -> model bundle``.
Each adapter reads one folder of the shared datasets directory in its published schema and maps
its labels onto the contract labels in :data:`moderation.schema.LABELS`. A label a source does
not annotate is NaN (unknown) and is never read as "not toxic". Every row carries its source,
licence and whether a model trained on it may be redistributed, so the shipped model can be
restricted to redistributable data. The mapping of every source is documented in
``data/README.md``.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import html
import json
import logging
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from moderation import schema
from moderation.errors import TrainingError
from moderation.normalize import normalize_text, split_sentences

__all__ = [
    "CORPUS_COLUMNS",
    "DAVIDSON_CLASSES",
    "DEFAULT_DATASETS_DIR",
    "HOSTILE_TEMPLATES",
    "IDENTITY_NEUTRAL",
    "IDENTITY_TERMS",
    "SOURCES",
    "TEST_PERCENT",
    "Source",
    "davidson_classes",
    "hostile_template_sentences",
    "identity_neutral_sentences",
    "load_corpus",
    "stable_bucket",
]

logger = logging.getLogger(__name__)

#: Where the shared datasets live, relative to the repository root.
DEFAULT_DATASETS_DIR = Path("../shared/datasets")

#: Share of rows (by text hash) that go to ``test`` for sources without an official test split.
TEST_PERCENT = 20

CORPUS_COLUMNS = (
    "text", "group", "source", "split", "licence", "redistributable", *schema.LABELS,
)  # fmt: skip

TRAIN = "train"
TEST = "test"

Adapter = Callable[[Path], pd.DataFrame]


@dataclass(frozen=True)
class Source:
    """A labelled dataset: where it lives, its licence and which contract labels it annotates."""

    name: str
    folder: str
    licence: str
    redistributable: bool
    labels: tuple[str, ...]
    official_test: bool
    adapter: Adapter


# --------------------------------------------------------------------------- helpers


_SPLIT_ZERO_WIDTH = re.compile("[\u00ad\u180e\u200b-\u200f\u2060-\u2064\u206a-\u206f\ufeff]")
_SPLIT_URL = re.compile(r"(?:https?://|www\.)\S+|\burl\b", re.IGNORECASE)
_SPLIT_MENTION = re.compile(r"(?<![\w@])@\w+")
_SPLIT_STRETCH = re.compile(r"(\w)\1{2,}")


def split_key(text: str) -> str:
    """The text as the train/test split sees it: frozen, independent of the model's normaliser.

    Case, Unicode form, zero-width characters, spacing, stretched letters, links and
    mentions are ignored, so near-duplicates share a side. It deliberately does not follow
    later changes to :func:`moderation.normalize.normalize_text` (leetspeak, masking, ...):
    improving the features must not move rows between train and test.
    """
    out = text
    for _ in range(8):  # each rewrite can expose another (NFKC after a zero-width is gone)
        step = unicodedata.normalize("NFKC", _SPLIT_ZERO_WIDTH.sub("", out)).casefold()
        step = _SPLIT_MENTION.sub(" xxuser ", _SPLIT_URL.sub(" xxurl ", step))
        step = " ".join(_SPLIT_STRETCH.sub(r"\1\1", step).split())
        if step == out:
            break
        out = step
    return out


def stable_bucket(text: str) -> int:
    """Return a bucket in ``0..99`` from a hash of :func:`split_key`.

    Stable across runs, platforms and Python versions (unlike ``hash``), and identical for
    texts that differ only in case, spacing or stretched letters, so near-duplicates land on the
    same side of a split.
    """
    digest = hashlib.blake2b(split_key(text).encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % 100


def _hash_split(texts: pd.Series) -> np.ndarray:
    buckets = np.fromiter((stable_bucket(t) for t in texts), dtype=np.int64, count=len(texts))
    return np.where(buckets < TEST_PERCENT, TEST, TRAIN)


def _find(folder: Path, name: str) -> Path:
    """Locate ``name`` or ``name.gz`` so the small test fixtures can be stored uncompressed."""
    for candidate in (folder / f"{name}.gz", folder / name):
        if candidate.is_file():
            return candidate
    raise TrainingError(f"{folder}: expected file {name}(.gz) is missing")


def _read_csv(path: Path, **kwargs: Any) -> pd.DataFrame:
    try:
        frame: pd.DataFrame = pd.read_csv(path, **kwargs)
    except (OSError, ValueError, csv.Error) as exc:
        raise TrainingError(f"{path}: cannot be read as CSV ({exc})") from exc
    return frame


def _require(frame: pd.DataFrame, columns: Iterable[str], path: Path) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise TrainingError(
            f"{path}: missing column(s) {', '.join(missing)}; found {', '.join(map(str, frame))}"
        )


def _frame(
    text: Iterable[Any],
    split: Iterable[str] | np.ndarray,
    labels: dict[str, Any],
    group: Iterable[Any] | None = None,
) -> pd.DataFrame:
    out = pd.DataFrame({"text": pd.Series(list(text), dtype=object), "split": list(split)})
    if group is not None:
        out["group"] = pd.Series(list(group), dtype=object).to_numpy()
    for label in schema.LABELS:
        value = labels.get(label, np.nan)
        out[label] = np.asarray(value, dtype=np.float64) if np.ndim(value) else float(value)
    return out


def _clean_text(texts: pd.Series) -> pd.Series:
    """Decode HTML entities (tweets and Reddit dumps carry ``&amp;``) and coerce to ``str``."""
    return texts.fillna("").astype(str).map(html.unescape)


def _majority(fraction: pd.Series | np.ndarray, *, at_least_half: bool = False) -> np.ndarray:
    frac = np.asarray(fraction, dtype=np.float64)
    hit = frac >= 0.5 if at_least_half else frac > 0.5
    return np.where(np.isnan(frac), np.nan, hit.astype(np.float64))


# --------------------------------------------------------------------------- redistributable


#: ACL 2022 span type names (truncated ones included) -> contract label. "Other Toxicity" maps
#: to no type label (it still makes the text toxic).
_SPAN_TYPES = {
    schema.INSULT: ("Insult", "Insu"),
    schema.THREAT: ("Threat",),
    schema.IDENTITY_ATTACK: ("Identity based Attack", "Identity based"),
    schema.PROFANITY: ("Profane/Obscene",),
}
#: The official SemEval-2021 Task 5 test set: never trained on.
TSD_TEST = "semeval2021_tsd_test.csv"


def _tsd_test_texts(folder: Path) -> frozenset[str] | None:
    """Normalised texts of the SemEval-2021 toxic-spans test set, or None if it is absent."""
    for name in (f"{TSD_TEST}.gz", TSD_TEST):
        path = folder / name
        if path.is_file():
            frame = _read_csv(path)
            _require(frame, ("spans", "text"), path)
            return frozenset(normalize_text(t) for t in frame["text"].fillna("").astype(str))
    return None


def _tsd_split(texts: pd.Series, folder: Path) -> np.ndarray:
    """``test`` exactly for the texts in the SemEval-2021 test set (hash split if it is absent).

    Every ACL 2022 post that is also a SemEval test post (all 2,000 of them) is held out, so
    the shipped model never trains on the official span test set.
    """
    held = _tsd_test_texts(folder)
    if held is None:
        return _hash_split(texts)
    in_test = np.fromiter((normalize_text(t) in held for t in texts), dtype=bool, count=len(texts))
    return np.where(in_test, TEST, TRAIN)


def _acl2022(folder: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Comments, per-rater votes and typed spans of the ACL 2022 release.

    A rater's vote: marked at least one span or ticked only "all toxic" -> toxic; ticked only
    "not toxic" and marked nothing -> not toxic. Raters who ticked both boxes (21k rows, almost
    all without spans, on posts that read as toxic) or neither without marking anything gave no
    usable judgement (``voting`` 0). ``votes`` has one row per rater x comment with ``toxic``,
    ``voting``, ``has_span``, ``clean`` and one 0/1 column per type label (marked a span of it).
    """
    comments_path = _find(folder, "acl2022_comments.csv")
    comments = _read_csv(comments_path)
    annotations = _read_csv(_find(folder, "acl2022_annotations.csv"))
    spans = _read_csv(_find(folder, "acl2022_spans.csv"))
    _require(comments, ("comment_id", "comment_text"), comments_path)
    _require(annotations, ("annotation", "comment_id", "all toxic", "not toxic"), folder)
    _require(spans, ("annotation", "type", "start", "end"), folder)

    all_toxic = annotations["all toxic"].astype(str).str.lower().eq("true")
    not_toxic = annotations["not toxic"].astype(str).str.lower().eq("true")
    has_span = annotations["annotation"].isin(spans["annotation"])
    toxic_vote = has_span | (all_toxic & ~not_toxic)
    clean_vote = ~has_span & not_toxic & ~all_toxic
    votes = pd.DataFrame(
        {
            "comment_id": annotations["comment_id"],
            "annotation": annotations["annotation"],
            "toxic": toxic_vote.astype(float),
            "voting": (toxic_vote | clean_vote).astype(float),
            "has_span": has_span.to_numpy(),
            "clean": clean_vote.to_numpy(),
        }
    )
    for label, names in _SPAN_TYPES.items():
        marked = spans.loc[spans["type"].isin(names), "annotation"]
        votes[label] = votes["annotation"].isin(marked).astype(float)
    comments = comments[comments["comment_text"].fillna("").astype(str).str.strip() != ""]
    return comments, votes, spans


def _toxic_spans(folder: Path) -> pd.DataFrame:
    """Civil Comments toxic spans (ACL 2022 release): whole posts, labelled by rater vote.

    toxicity = more than half of the voting raters voted toxic (see :func:`_acl2022`). A span
    type counts when at least half of the voting raters marked a span of that type. Posts in
    the SemEval-2021 test set are the ``test`` split; all others are ``train``.
    """
    comments, votes, _ = _acl2022(folder)
    votes = votes[votes["voting"] > 0]
    per_comment = votes.groupby("comment_id").agg(
        n=("voting", "sum"), **{c: (c, "mean") for c in ("toxic", *_SPAN_TYPES)}
    )
    frame = comments.merge(per_comment, left_on="comment_id", right_index=True, how="inner")
    labels: dict[str, Any] = {schema.TOXICITY: _majority(frame["toxic"])}
    for label in _SPAN_TYPES:
        labels[label] = _majority(frame[label], at_least_half=True)
    texts = _clean_text(frame["comment_text"])
    return _frame(texts, _tsd_split(texts, folder), labels)


def _toxic_span_sentences(folder: Path) -> pd.DataFrame:
    """Sentences of the toxic-spans posts, labelled by the raters' spans inside them.

    Each post is cut with :func:`moderation.normalize.split_sentences`. A rater who marked
    spans votes a sentence toxic when one of their spans overlaps it and not toxic otherwise;
    a rater who ticked only "not toxic" votes every sentence not toxic; raters who gave no span
    (ticked "all toxic", both boxes or nothing) do not vote on sentences. toxicity = 1 when
    more than half of the sentence voters marked it, 0 when none did; sentences marked by some
    but at most half of the voters are ambiguous and left out. A type label counts when at
    least half of the voters marked a span of that type in the sentence (0 for clean
    sentences). These are the in-domain negatives the whole posts lack: civil sentences of
    news comments. Sentences follow their post's split (``group`` is the post text).
    """
    comments, votes, spans = _acl2022(folder)
    raw = comments["comment_text"].astype(str)
    comments = comments.assign(split=_tsd_split(_clean_text(raw), folder))
    rows = [
        (cid, k, start, end)
        for cid, text in zip(comments["comment_id"], raw, strict=True)
        for k, (start, end) in enumerate(split_sentences(text))
    ]
    sentences = pd.DataFrame(rows, columns=["comment_id", "k", "s_start", "s_end"])
    voters = votes[votes["has_span"] | votes["clean"]]
    n_voters = voters.groupby("comment_id").size().rename("n")
    marks = spans.merge(voters[["annotation", "comment_id"]], on="annotation")
    marks = marks.merge(sentences, on="comment_id")
    marks = marks[(marks["start"] < marks["s_end"]) & (marks["end"] > marks["s_start"])]
    for label, names in _SPAN_TYPES.items():
        marks[label] = marks["type"].isin(names)
    per_rater = marks.groupby(["comment_id", "k", "annotation"])[list(_SPAN_TYPES)].any()
    per_sentence = per_rater.groupby(level=["comment_id", "k"]).agg(["size", "sum"])
    counts = pd.DataFrame(
        {
            "toxic": per_sentence[(schema.INSULT, "size")],
            **{label: per_sentence[(label, "sum")] for label in _SPAN_TYPES},
        }
    )
    frame = sentences.merge(n_voters, left_on="comment_id", right_index=True, how="inner")
    frame = frame.merge(counts, left_on=["comment_id", "k"], right_index=True, how="left")
    frame = frame.fillna({c: 0.0 for c in ("toxic", *_SPAN_TYPES)})
    share = frame["toxic"] / frame["n"]
    toxic = np.where(share > 0.5, 1.0, np.where(share == 0, 0.0, np.nan))
    keep = ~np.isnan(toxic)
    frame = frame[keep]
    toxic = toxic[keep]
    labels: dict[str, Any] = {schema.TOXICITY: toxic}
    for label in _SPAN_TYPES:
        labels[label] = np.where(toxic > 0, (frame[label] / frame["n"] >= 0.5), 0.0)
    posts = comments.set_index("comment_id")
    text_of = raw.set_axis(comments["comment_id"])
    texts = [
        html.unescape(text_of[cid][start:end])
        for cid, start, end in zip(
            frame["comment_id"], frame["s_start"], frame["s_end"], strict=True
        )
    ]
    split = posts.loc[frame["comment_id"], "split"].to_numpy()
    group = _clean_text(text_of[frame["comment_id"]]).to_numpy()
    return _frame(texts, split, labels, group=group)


def _davidson(folder: Path) -> pd.DataFrame:
    """Davidson et al. tweets: class 0 hate, 1 offensive, 2 neither (majority of 3+ coders).

    toxicity = hate or offensive; profanity = hate or offensive (the "offensive" class is
    overwhelmingly slurs and swearing, and hate tweets swear too). The hate class is *not*
    used as identity_attack: measured, it lowered identity_attack ROC-AUC on ConvAbuse
    (0.90 -> 0.85) and ToxiChat (0.79 -> 0.73), so that label stays unknown here.
    """
    path = _find(folder, "labeled_data.csv")
    frame = _read_csv(path, index_col=0)
    _require(frame, ("class", "tweet"), path)
    toxic = (frame["class"].astype(int).to_numpy() <= 1).astype(float)
    texts = _clean_text(frame["tweet"])
    labels = {schema.TOXICITY: toxic, schema.PROFANITY: toxic}
    return _frame(texts, _hash_split(texts), labels)


def davidson_classes(datasets_dir: Path) -> pd.DataFrame:
    """Davidson tweets with their 3-way class, for the paper's evaluation protocol.

    Returns
    -------
    pandas.DataFrame
        ``text`` (as in the corpus), ``label`` (``hate``, ``offensive`` or ``neither``) and
        ``group`` (the text, whose hash assigns cross-validation folds).
    """
    path = _find(Path(datasets_dir) / SOURCES["davidson"].folder, "labeled_data.csv")
    frame = _read_csv(path, index_col=0)
    _require(frame, ("class", "tweet"), path)
    names = np.array(DAVIDSON_CLASSES)
    texts = _clean_text(frame["tweet"])
    return pd.DataFrame(
        {
            "text": texts.to_numpy(),
            "label": names[frame["class"].astype(int).to_numpy()],
            "group": texts.to_numpy(),
        }
    )


#: Davidson et al. class ids 0, 1, 2.
DAVIDSON_CLASSES = ("hate", "offensive", "neither")


def _cat(folder: Path) -> pd.DataFrame:
    """CAT Wikipedia talk replies: the crowd toxicity label (LARGE gc/gn, SMALL out-of-context)."""
    parts = []
    for name in ("CAT_LARGE_gc.csv", "CAT_LARGE_gn.csv"):
        path = _find(folder, name)
        frame = _read_csv(path)
        _require(frame, ("text", "label"), path)
        parts.append(frame[["text", "label"]])
    small_path = _find(folder, "CAT_SMALL_cat_small.csv")
    small = _read_csv(small_path)
    _require(small, ("text", "label_oc"), small_path)
    parts.append(small[["text", "label_oc"]].rename(columns={"label_oc": "label"}))
    frame = pd.concat(parts, ignore_index=True)
    texts = _clean_text(frame["text"])
    keep = (texts.str.strip() != "").to_numpy()
    texts = texts[keep]
    label = frame["label"].astype(float).to_numpy()[keep]
    return _frame(texts, _hash_split(texts), {schema.TOXICITY: label})


_CONVABUSE_SPLITS = {
    "ConvAbuseEMNLPtrain.csv": TRAIN,
    "ConvAbuseEMNLPvalid.csv": TRAIN,
    "ConvAbuseEMNLPtest.csv": TEST,
}
_CONVABUSE_IDENTITY = ("ableist", "homophobic", "racist", "sexist", "transphobic")


def _first_flag(column: pd.Series) -> pd.Series:
    """Cells hold "", "0", "1" or repeats like "1, 0"; the first value is the annotation."""
    first = column.fillna("").astype(str).str.split(",").str[0].str.strip()
    return pd.to_numeric(first, errors="coerce")


def _flagged(raw: pd.DataFrame, column: str) -> np.ndarray:
    if column not in raw.columns:
        return np.zeros(len(raw), dtype=bool)
    return np.asarray(_first_flag(raw[column]).to_numpy() == 1)


def _convabuse(folder: Path) -> pd.DataFrame:
    """ConvAbuse user utterances to chatbots, one to eight annotators per row.

    Each annotator's rating is the ``is_abuse`` column they set (1 not abusive, 0 ambiguous,
    -1/-2/-3 mildly/strongly/very strongly abusive). toxicity = more than half of the annotators
    rate it abusive (exact ties -> unknown); severe_toxicity = more than half rate it -2/-3;
    identity_attack = more than half mark it abusive with an ableist/homophobic/racist/sexist/
    transphobic type; insult = more than half mark it abusive towards an individual (the agent)
    or as an attack on intellect.
    """
    parts = []
    for name, split in _CONVABUSE_SPLITS.items():
        path = _find(folder, name)
        raw = _read_csv(path, dtype=str, keep_default_na=False)
        _require(raw, ("user", "Annotator1_is_abuse.1"), path)
        # The 7th/8th annotators' transphobic columns are misnamed in the release.
        raw = raw.rename(
            columns={
                "Annotator6_transphobic.1": "Annotator7_transphobic",
                "Annotator6_transphobic.2": "Annotator8_transphobic",
            }
        )
        n = np.zeros(len(raw))
        abusive = np.zeros(len(raw))
        severe = np.zeros(len(raw))
        identity = np.zeros(len(raw))
        insult = np.zeros(len(raw))
        for k in range(1, 9):
            pre = f"Annotator{k}_"
            if f"{pre}is_abuse.1" not in raw.columns:
                continue
            rating = np.full(len(raw), np.nan)
            for value in ("1", "0", "-1", "-2", "-3"):
                flag = _first_flag(raw[f"{pre}is_abuse.{value}"]).to_numpy()
                rating = np.where(np.isnan(rating) & (flag == 1), float(value), rating)
            rated = ~np.isnan(rating)
            is_abuse = rated & (rating < 0)

            id_type = np.zeros(len(raw), dtype=bool)
            for kind in _CONVABUSE_IDENTITY:
                id_type |= _flagged(raw, f"{pre}{kind}")
            personal = _flagged(raw, f"{pre}target.individual") | _flagged(
                raw, f"{pre}intellectual"
            )
            n += rated
            abusive += is_abuse
            severe += rated & (rating <= -2)
            identity += is_abuse & id_type
            insult += is_abuse & personal
        with np.errstate(invalid="ignore", divide="ignore"):
            frac = abusive / np.where(n > 0, n, np.nan)
            tox = np.where(np.isclose(frac, 0.5), np.nan, _majority(frac))
            labels = {
                schema.TOXICITY: tox,
                schema.SEVERE_TOXICITY: _majority(severe / np.where(n > 0, n, np.nan)),
                schema.IDENTITY_ATTACK: _majority(identity / np.where(n > 0, n, np.nan)),
                schema.INSULT: _majority(insult / np.where(n > 0, n, np.nan)),
            }
        part = _frame(_clean_text(raw["user"]), [split] * len(raw), labels)
        parts.append(part[n > 0])
    frame = pd.concat(parts, ignore_index=True)
    return frame[frame["text"].str.strip() != ""]


#: Ruddit offensiveness (Best-Worst Scaling, -1 supportive .. +1 offensive) cut-offs.
RUDDIT_TOXIC = 1 / 3
RUDDIT_SEVERE = 2 / 3


def _ruddit(folder: Path) -> pd.DataFrame:
    """Ruddit Reddit comments with graded offensiveness scores (text re-hydrated, Apache-2.0).

    toxicity = score > 1/3, severe_toxicity = score > 2/3. Below 1/3 the comments read as heated
    but rarely hostile; above 2/3 they combine slurs, profanity and attacks. [deleted]/[removed]
    bodies are skipped.
    """
    path = _find(folder, "ruddit_with_text.csv")
    frame = _read_csv(path)
    _require(frame, ("txt", "offensiveness_score"), path)
    texts = _clean_text(frame["txt"])
    keep = (~texts.str.strip().isin(["", "[deleted]", "[removed]"])).to_numpy()
    texts = texts[keep]
    score = frame["offensiveness_score"].astype(float).to_numpy()[keep]
    labels = {
        schema.TOXICITY: (score > RUDDIT_TOXIC).astype(float),
        schema.SEVERE_TOXICITY: (score > RUDDIT_SEVERE).astype(float),
    }
    return _frame(texts, _hash_split(texts), labels)


_TOXICHAT_SPLITS = {"train.jsonl": TRAIN, "dev.jsonl": TRAIN, "test.jsonl": TEST}
#: ToxiChat offense targets that are a person in or near the conversation (-> insult).
TOXICHAT_PERSON_TARGETS = frozenset(
    {"individual/redditor", "comment author", "celebrity/personality"}
)
#: ToxiChat targets that are not protected identity groups (political or "other").
TOXICHAT_NON_IDENTITY_TARGETS = TOXICHAT_PERSON_TARGETS | frozenset(
    {
        "Not in the list",
        "leftists",
        "liberals",
        "democrats",
        "republicans",
        "conservatives",
        "communists",
        "socialists",
        "independents/libertarians",
    }
)


def _toxichat(folder: Path) -> pd.DataFrame:
    """ToxiChat Reddit threads: every human turn (post and replies), bot replies excluded.

    toxicity = "Offensive"; insult = offensive towards a person (redditor, comment author,
    celebrity); identity_attack = offensive towards an identity group (political groups
    excluded). A text repeated across threads keeps the majority label and goes to ``test``
    if any copy is in the official test split.
    """
    rows: list[tuple[str, str, float, float, float]] = []
    for name, split in _TOXICHAT_SPLITS.items():
        path = _find(folder, name)
        opener = gzip.open if path.suffix == ".gz" else open
        line_no = 0
        try:
            with opener(path, "rt", encoding="utf-8") as handle:
                for line in handle:
                    line_no += 1
                    if not line.strip():
                        continue
                    thread = json.loads(line)
                    for turn in thread["reddit_thread"]:
                        offensive = turn["offense_label"] == "Offensive"
                        targets = set(turn.get("offense_targets") or [])
                        person = bool(targets & TOXICHAT_PERSON_TARGETS)
                        group = bool(targets - TOXICHAT_NON_IDENTITY_TARGETS)
                        rows.append(
                            (
                                html.unescape(str(turn["text"])).strip(),
                                split,
                                float(offensive),
                                float(offensive and person),
                                float(offensive and group),
                            )
                        )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise TrainingError(f"{path}, line {line_no}: not a ToxiChat thread ({exc!r})") from exc
    raw = pd.DataFrame(rows, columns=["text", "split", "tox", "insult", "identity"])
    raw = raw[raw["text"] != ""]
    grouped = raw.groupby("text", sort=True).agg(
        split=("split", lambda s: TEST if (s == TEST).any() else TRAIN),
        tox=("tox", "mean"),
        insult=("insult", "mean"),
        identity=("identity", "mean"),
    )
    labels = {
        schema.TOXICITY: _majority(grouped["tox"], at_least_half=True),
        schema.INSULT: _majority(grouped["insult"], at_least_half=True),
        schema.IDENTITY_ATTACK: _majority(grouped["identity"], at_least_half=True),
    }
    return _frame(grouped.index.astype(str), grouped["split"], labels)


# --------------------------------------------------------------------------- evaluation only


#: OLID level C target -> the contract label a targeted offence there is (``OTH``: neither).
OLID_TARGETS = {"IND": schema.INSULT, "GRP": schema.IDENTITY_ATTACK}


def _olid_target_labels(
    subtask_a: pd.Series, subtask_b: pd.Series, subtask_c: pd.Series
) -> dict[str, Any]:
    """insult and identity_attack from OLID levels A-C (``NULL``/missing = not annotated).

    An offence targeted at an individual (``TIN`` + ``IND``) is an insult, at a group
    (``TIN`` + ``GRP``) an identity attack; every other annotated tweet is 0 for both
    (``NOT``; untargeted ``UNT``; ``TIN`` at the other target or at ``OTH``, an organisation,
    event or issue). An offensive tweet whose level B or (when targeted) level C is missing is
    unknown for both: the data says nothing about its target.
    """
    off = subtask_a.eq("OFF").to_numpy()
    b = subtask_b.fillna("NULL").astype(str).to_numpy()
    c = subtask_c.fillna("NULL").astype(str).to_numpy()
    known = ~off | (b == "UNT") | ((b == "TIN") & np.isin(c, ["IND", "GRP", "OTH"]))
    return {
        label: np.where(known, (off & (b == "TIN") & (c == target)).astype(float), np.nan)
        for target, label in OLID_TARGETS.items()
    }


def _olid(folder: Path) -> pd.DataFrame:
    """OLID tweets: toxicity = level A ``OFF``; insult / identity_attack from levels B and C.

    See :func:`_olid_target_labels`: insult = targeted at an individual (``TIN`` + ``IND``),
    identity_attack = targeted at a group (``TIN`` + ``GRP``).
    """
    train_path = _find(folder, "olid-training-v1.0.tsv")
    train = _read_csv(train_path, sep="\t", quoting=csv.QUOTE_NONE, keep_default_na=False)
    _require(train, ("tweet", "subtask_a", "subtask_b", "subtask_c"), train_path)
    test_path = _find(folder, "testset-levela.tsv")
    test = _read_csv(test_path, sep="\t", quoting=csv.QUOTE_NONE, keep_default_na=False)
    gold = _read_csv(_find(folder, "labels-levela.csv"), header=None, names=["id", "subtask_a"])
    _require(test, ("id", "tweet"), test_path)
    test = test.merge(gold, on="id", how="inner")
    for level in ("b", "c"):
        column = f"subtask_{level}"
        found = _read_csv(
            _find(folder, f"labels-level{level}.csv"), header=None, names=["id", column]
        )
        test = test.merge(found, on="id", how="left")
    frame = pd.concat(
        [train.assign(split=TRAIN), test.assign(split=TEST)], ignore_index=True, sort=False
    )
    off = (frame["subtask_a"] == "OFF").to_numpy()
    labels = {
        schema.TOXICITY: off.astype(float),
        **_olid_target_labels(frame["subtask_a"], frame["subtask_b"], frame["subtask_c"]),
    }
    return _frame(_clean_text(frame["tweet"]), frame["split"], labels)


_CAD_SPLITS = {"cad_v1_1_train.tsv": TRAIN, "cad_v1_1_dev.tsv": TRAIN, "cad_v1_1_test.tsv": TEST}


def _cad(folder: Path) -> pd.DataFrame:
    """CAD Reddit entries (labelled in thread context by experts).

    toxicity = any abuse category (identity-, affiliation- or person-directed); identity_attack
    = IdentityDirectedAbuse; insult = PersonDirectedAbuse. Neutral and CounterSpeech -> 0.
    """
    parts = []
    for name, split in _CAD_SPLITS.items():
        path = _find(folder, name)
        frame = _read_csv(path, sep="\t", quoting=csv.QUOTE_NONE, keep_default_na=False)
        _require(frame, ("text", "labels"), path)
        cats = frame["labels"].astype(str)
        texts = frame["text"].astype(str).str.replace("[linebreak]", "\n", regex=False)
        labels = {
            schema.TOXICITY: cats.str.contains("Abuse").to_numpy().astype(float),
            schema.IDENTITY_ATTACK: cats.str.contains("IdentityDirectedAbuse")
            .to_numpy()
            .astype(float),
            schema.INSULT: cats.str.contains("PersonDirectedAbuse").to_numpy().astype(float),
        }
        parts.append(_frame(_clean_text(texts), [split] * len(frame), labels))
    frame = pd.concat(parts, ignore_index=True)
    return frame[frame["text"].str.strip() != ""]


def _ucc(folder: Path) -> pd.DataFrame:
    """UCC Globe and Mail comments (val -> train, test -> test).

    toxicity = ``hostile``; insult = ``antagonize`` ("antagonistic, insulting, provocative or
    trolling"): in this data it marks mostly jibes at another commenter or a public figure,
    the mild person-directed insults the other sources rarely label (``data/README.md``).
    """
    parts = []
    for name, split in (("val.csv", TRAIN), ("test.csv", TEST)):
        path = _find(folder, name)
        frame = _read_csv(path)
        _require(frame, ("comment", "hostile", "antagonize"), path)
        labels = {
            schema.TOXICITY: frame["hostile"].astype(float).to_numpy(),
            schema.INSULT: frame["antagonize"].astype(float).to_numpy(),
        }
        parts.append(_frame(_clean_text(frame["comment"]), [split] * len(frame), labels))
    return pd.concat(parts, ignore_index=True)


def _jigsaw(folder: Path) -> pd.DataFrame:
    """Balanced Jigsaw Wikipedia subset (third-party copy): toxicity = ``toxic``."""
    path = _find(folder, "robtest_jigsaw_test.csv")
    frame = _read_csv(path, header=None, names=["comment_text", "toxic"])
    texts = _clean_text(frame["comment_text"])
    label = pd.to_numeric(frame["toxic"], errors="coerce").to_numpy(dtype=float)
    return _frame(texts, _hash_split(texts), {schema.TOXICITY: label})


def _c3(folder: Path) -> pd.DataFrame:
    """C3 Globe and Mail comments: toxicity = mean crowd toxicity level >= 2 ("mildly" or more)."""
    path = _find(folder, "C3_anonymized.csv")
    frame = _read_csv(path)
    _require(frame, ("comment_text", "crowd_toxicity_level"), path)
    texts = _clean_text(frame["comment_text"])
    level = frame["crowd_toxicity_level"].astype(float).to_numpy()
    label = np.where(np.isnan(level), np.nan, (level >= 2).astype(float))
    return _frame(texts, _hash_split(texts), {schema.TOXICITY: label})


def _sfu(folder: Path) -> pd.DataFrame:
    """SFU constructiveness/toxicity: toxicity = most popular answer >= 2 ("mildly toxic")."""
    path = _find(folder, "SFU_constructiveness_toxicity.csv")
    frame = _read_csv(path)
    _require(frame, ("comment", "is_toxic_popular_answer_1"), path)
    texts = _clean_text(frame["comment"])
    level = pd.to_numeric(frame["is_toxic_popular_answer_1"], errors="coerce").to_numpy(float)
    label = np.where(np.isnan(level), np.nan, (level >= 2).astype(float))
    return _frame(texts, _hash_split(texts), {schema.TOXICITY: label})


# --------------------------------------------------------------------------- registry

_T, _S, _I, _TH, _ID, _P = schema.LABELS

SOURCES: dict[str, Source] = {
    s.name: s
    for s in (
        Source("toxic-spans-civil", "toxic-spans-civil", "CC0-1.0", True,
               (_T, _I, _TH, _ID, _P), True, _toxic_spans),
        Source("toxic-spans-sentences", "toxic-spans-civil", "CC0-1.0", True,
               (_T, _I, _TH, _ID, _P), True, _toxic_span_sentences),
        Source("davidson", "davidson-hate-offensive", "MIT", True,
               (_T, _P), False, _davidson),
        Source("cat", "cat-context-toxicity", "Apache-2.0 (text CC-BY-SA-3.0)", True,
               (_T,), False, _cat),
        Source("convabuse", "convabuse", "CC-BY-4.0", True,
               (_T, _S, _I, _ID), True, _convabuse),
        Source("ruddit", "ruddit", "MIT (scores), Apache-2.0 (text)", True,
               (_T, _S), False, _ruddit),
        Source("toxichat", "toxichat", "CC-BY-SA-4.0", True,
               (_T, _I, _ID), True, _toxichat),
        Source("olid", "olid", "none stated", False, (_T, _I, _ID), True, _olid),
        Source("cad", "cad-contextual-abuse", "none stated", False,
               (_T, _I, _ID), True, _cad),
        Source("ucc", "unhealthy-comments-ucc", "CC-BY-NC-SA-4.0", False, (_T, _I), True, _ucc),
        Source("jigsaw", "jigsaw-wiki-toxic-binary-subset", "none stated", False,
               (_T,), False, _jigsaw),
        Source("c3", "c3-constructive-comments", "none stated", False, (_T,), False, _c3),
        Source("sfu", "sfu-constructiveness-toxicity", "CC-BY-NC-SA-4.0", False,
               (_T,), False, _sfu),
    )
}  # fmt: skip


def load_corpus(datasets_dir: Path, sources: Sequence[str] | None = None) -> pd.DataFrame:
    """Read labelled datasets and map them onto the contract labels.

    Parameters
    ----------
    datasets_dir
        Directory holding one folder per dataset (``../shared/datasets`` in a checkout).
    sources
        Names from :data:`SOURCES` to load. ``None`` loads every source whose folder exists
        (missing folders are logged and skipped); naming a missing source is an error.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`CORPUS_COLUMNS`: ``text``, ``group`` (the text that decides the row's
        hash split and validation bucket: the row's own text, or for a sentence its post),
        ``source``, ``split`` (``train``/``test``),
        ``licence``, ``redistributable`` and one float column per label (0/1, NaN = the source
        does not annotate that label for this row).

    Raises
    ------
    TrainingError
        If a requested source or file is missing or unreadable, or nothing could be loaded.
    """
    datasets_dir = Path(datasets_dir)
    if not datasets_dir.is_dir():
        raise TrainingError(
            f"datasets directory {datasets_dir} does not exist; pass the folder that holds the "
            "labelled datasets (default ../shared/datasets relative to the repository root)"
        )
    wanted = list(SOURCES) if sources is None else list(sources)
    unknown = [name for name in wanted if name not in SOURCES]
    if unknown:
        raise TrainingError(f"unknown source(s) {', '.join(unknown)}; known: {', '.join(SOURCES)}")
    frames = []
    for name in wanted:
        source = SOURCES[name]
        folder = datasets_dir / source.folder
        if not folder.is_dir():
            if sources is not None:
                raise TrainingError(f"source {name}: folder {folder} does not exist")
            logger.warning("source %s skipped: %s does not exist", name, folder)
            continue
        frame = source.adapter(folder)
        frame = frame.assign(
            source=name, licence=source.licence, redistributable=source.redistributable
        )
        if "group" not in frame.columns:
            frame["group"] = frame["text"]
        logger.info("loaded %s: %d rows", name, len(frame))
        frames.append(frame)
    if not frames:
        raise TrainingError(f"no labelled dataset found under {datasets_dir}")
    corpus = pd.concat(frames, ignore_index=True)[list(CORPUS_COLUMNS)]
    corpus["text"] = corpus["text"].astype(str)
    corpus["group"] = corpus["group"].astype(str)
    corpus["redistributable"] = corpus["redistributable"].astype(bool)
    return corpus


def label_counts(corpus: pd.DataFrame) -> pd.DataFrame:
    """Known rows and positives per source and label (for the manifest and the data README)."""
    rows = []
    for (source, split), group in corpus.groupby(["source", "split"], sort=True):
        for label in schema.LABELS:
            known = group[label].notna()
            if known.any():
                rows.append(
                    {
                        "source": source,
                        "split": split,
                        "label": label,
                        "n": int(known.sum()),
                        "positives": int((group.loc[known, label] >= 0.5).sum()),
                    }
                )
    return pd.DataFrame(rows, columns=["source", "split", "label", "n", "positives"])


# --------------------------------------------------------------------------- bias mitigation

#: Name and licence of the neutral identity-mention sentences generated below.
IDENTITY_NEUTRAL = "identity-neutral"
IDENTITY_NEUTRAL_LICENCE = "Apache-2.0 (written for this project)"

#: Identity words used *as adjectives* ("a {term} teacher"), written for this project. They are
#: ordinary English vocabulary for groups that comment threads discuss (sexuality, gender,
#: ethnicity and nationality, religion, age, disability). Overlap with any bias test set's word
#: list is unavoidable -- mitigating bias about "gay" needs sentences that say "gay" -- but no
#: test sentence, template frame or label is used.
IDENTITY_TERMS = (
    # sexuality and gender
    "gay", "lesbian", "bisexual", "queer", "homosexual", "heterosexual", "straight",
    "transgender", "trans", "nonbinary", "lgbt", "lgbtq", "female", "male", "intersex",
    "asexual", "cisgender",
    # ethnicity and nationality
    "black", "white", "african", "african american", "asian", "asian american", "hispanic",
    "latino", "latina", "latinx", "mexican", "arab", "middle eastern", "indigenous",
    "native american", "european", "american", "canadian", "chinese", "japanese", "korean",
    "indian", "pakistani", "nigerian", "somali", "syrian", "iranian", "irish", "italian",
    "polish", "russian", "ukrainian", "jamaican", "filipino", "vietnamese", "brazilian",
    "romani", "immigrant", "refugee",
    # religion and belief
    "muslim", "islamic", "jewish", "christian", "catholic", "protestant", "evangelical",
    "mormon", "hindu", "sikh", "buddhist", "taoist", "atheist", "orthodox",
    # age
    "young", "younger", "old", "older", "elderly", "teenage", "middle aged", "millennial",
    "retired",
    # disability
    "deaf", "blind", "disabled", "autistic", "paralyzed", "wheelchair-using",
)  # fmt: skip

#: Neutral sentence frames, written for this project in the register of news comments. None is
#: toxic, whatever identity word fills ``{t}`` (or ``{T}``, the same word capitalised).
#: Deliberately unlike the bias test templates ("<name> is a <adjective> <identity>", "Being
#: <identity> is <adjective>", "You are a <adjective> <identity>", "I am <identity>", "<verb>
#: <identity>"): the test measures whether the model generalises, so it is not mirrored.
IDENTITY_FRAMES = (
    "My neighbour is {t} and runs the bakery on the corner.",
    "The {t} community centre is hosting a book fair on Saturday.",
    "She grew up in a {t} family and became a nurse.",
    "{T} voters will decide this election, according to the poll.",
    "As a {t} parent, I want the school to fix the bus schedule.",
    "The article quotes three {t} students about tuition fees.",
    "He is {t} and has coached the youth football team for ten years.",
    "Our town elected its first {t} mayor last spring.",
    "There are {t} people on both sides of this debate.",
    "I'm {t} too, and I agree with most of what the author says.",
    "The museum opened an exhibition on {t} history.",
    "A {t} woman won the cooking contest with a lemon pie.",
    "My {t} colleague recommended this article to me.",
    "The survey asked {t} residents about public transport.",
    "Thanks for sharing your story as a {t} veteran.",
    "The {t} man who reported the fire was thanked by the mayor.",
    "Her grandparents were {t} and moved here in the sixties.",
    "The new clinic serves {t} patients and everyone else in the county.",
    "We need more {t} teachers in our schools.",
    "He wrote a thoughtful letter about being {t} in a small town.",
    "The {t} choir sang at the opening of the bridge.",
    "Several {t} business owners spoke at the council meeting.",
    "I have {t} friends who see this issue differently.",
    "The film follows a {t} family on a road trip.",
    # Short mentions: in a short text the identity word carries most of the weight, which is
    # where a learned "identity word = abuse" association does the most harm.
    "My neighbour is {t}.",
    "She is {t}.",
    "He's {t}.",
    "My wife is {t}.",
    "Both my parents are {t}.",
    "I'm {t} myself.",
    "Speaking as a {t} person, thanks.",
    "{T} people live here too.",
    "Lots of {t} readers here.",
    "A {t} friend sent me this.",
    "{T} and proud.",
    "Greetings from a {t} reader.",
    "Our {t} neighbours agree.",
    "The {t} vote matters.",
    "{T} families, welcome.",
    "{T}",
)

#: Every label is known and 0 on these sentences: a neutral mention attacks nobody.
IDENTITY_NEUTRAL_LABELS = schema.LABELS


def identity_neutral_sentences(
    terms: Sequence[str] = IDENTITY_TERMS, frames: Sequence[str] = IDENTITY_FRAMES
) -> pd.DataFrame:
    """Neutral, non-toxic sentences mentioning identity groups, for bias mitigation.

    Every frame of :data:`IDENTITY_FRAMES` is filled with every term of
    :data:`IDENTITY_TERMS`; every label is 0. Fitted alongside the corpus they teach the model
    that naming a group is not an attack, which the training data alone does not (identity
    words there appear mostly in abuse). The text is written for this project, so a model
    trained on it stays redistributable.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`CORPUS_COLUMNS`, source :data:`IDENTITY_NEUTRAL`, split ``train``.
    """
    texts = [
        frame.format(t=term, T=term[:1].upper() + term[1:]) for frame in frames for term in terms
    ]
    labels = {label: np.zeros(len(texts)) for label in IDENTITY_NEUTRAL_LABELS}
    out = _frame(texts, [TRAIN] * len(texts), labels)
    out["group"] = out["text"]
    out = out.assign(
        source=IDENTITY_NEUTRAL, licence=IDENTITY_NEUTRAL_LICENCE, redistributable=True
    )
    return out[list(CORPUS_COLUMNS)]


# --------------------------------------------------------------------------- hostile templates

#: Name and licence of the threat / group-derogation sentences generated below.
HOSTILE_TEMPLATES = "hostile-templates"
HOSTILE_TEMPLATES_LICENCE = IDENTITY_NEUTRAL_LICENCE

#: Every ``HOLDOUT_EVERY``-th part of each list (index % n == n - 1) is held out of
#: :func:`hostile_template_sentences` ``part="train"``: measuring on sentences built only from
#: held-out parts shows whether the model generalises beyond the templates it saw.
HOLDOUT_EVERY = 4

#: Who a person threat is aimed at: subject, object, possessive, 3rd-person ``-s``.
THREAT_TARGETS: tuple[tuple[str, str, str, str], ...] = (
    ("you", "you", "your", ""),
    ("he", "him", "his", "s"),
    ("she", "her", "her", "s"),
    ("they", "them", "their", ""),
    ("your brother", "your brother", "his", "s"),
    ("that reporter", "that reporter", "her", "s"),
    ("your kids", "your kids", "their", ""),
    ("the mayor", "the mayor", "his", "s"),
)

#: Harm done to ``{o}`` (object) / ``{p}`` (possessive), base form, no swear word. Written for
#: this project; the smoke-check sentences' wording is deliberately not used.
THREAT_HARMS = (
    "break {p} legs",
    "burn {p} house down",
    "put {o} in the hospital",
    "beat {o} senseless",
    "stab {o}",
    "strangle {o} with my bare hands",
    "make {o} disappear",
    "run {o} over with my truck",
    "slit {p} throat",
    "bury {o} in the woods",
    "smash {p} skull in",
    "drown {o} in the river",
    "cut {o} into pieces",
    "set {o} on fire",
    "kill {o}",
    "hunt {o} down",
    "wipe {o} off the face of the earth",
    "make {o} pay with {p} life",
    "poison {p} food",
    "choke {o} unconscious",
)

#: Harm in the passive, after "deserve(s) to be" / "should be" / "will be".
THREAT_PASSIVES = (
    "hanged",
    "beaten to death",
    "stabbed",
    "burned alive",
    "strangled",
    "executed in public",
    "dragged behind a car",
    "buried alive",
    "tortured",
    "put down like a dog",
    "killed",
    "thrown off a bridge",
)

#: Threat frames: ``{harm}`` / ``{passive}`` filled for each target (``{S}``: the subject
#: capitalised, ``{s}``: its verb ending).
THREAT_FRAMES = (
    "I'm going to {harm}.",
    "I will {harm}, I promise.",
    "If {S} show{s} up here again I will {harm}.",
    "One of these nights I'm going to {harm}.",
    "I know where {S} live{s}, and I will {harm}.",
    "Watch your back, because I'm going to {harm}.",
    "Someone should {harm}.",
    "Somebody needs to {harm} before it is too late.",
    "Keep talking and I'll {harm}.",
    "My friends and I are coming to {harm}.",
    "Next time I see {o}, I will {harm}.",
    "I swear I will {harm} if this happens again.",
    "Sleep well tonight, tomorrow we {harm}.",
    "It would be easy to {harm}, and nobody would find out.",
    "I'll wait outside {p} house and {harm}.",
    "Mark my words, I am going to {harm}.",
)
THREAT_PASSIVE_FRAMES = (
    "{S} deserve{s} to be {passive}.",
    "{S} should be {passive}.",
    "{S} will be {passive} soon, mark my words.",
    "I hope {S} get{s} {passive}.",
    "{S} ought to be {passive} for this.",
    "Soon {S} will be {passive}, and I'll be watching.",
)

#: Groups named in derogation (plural noun phrases, written for this project).
GROUPS = (
    "Muslims", "Jews", "Christians", "Hindus", "Sikhs", "atheists", "gay people", "lesbians",
    "trans people", "bisexual people", "immigrants", "refugees", "women", "black people",
    "Asians", "Mexicans", "Arabs", "Africans", "Latinos", "Chinese people", "Roma",
    "disabled people", "deaf people", "old people", "Pakistanis", "Somalis", "Catholics",
    "Mormons",
)  # fmt: skip

#: Dehumanising or demeaning predicates after "are".
DEROGATIONS = (
    "subhuman",
    "a disease",
    "rats",
    "filth",
    "savages",
    "inferior to us",
    "a cancer on this country",
    "cockroaches",
    "worthless",
    "unfit to live among decent people",
    "a stain on this nation",
    "born liars",
    "dirty",
    "less than human",
    "a burden on society",
    "an infestation",
    # Added later (appended).
    "animals",
    "a plague on this country",
    "not real people",
    "a virus",
    "an invasive species",
    "leeches",
    "trash",
    "degenerates",
    "barbarians",
    "a danger to our children",
    "a lower form of life",
    "breeding like rabbits",
)
DEROGATION_FRAMES = (
    "{G} are {pred}.",
    "All {g} are {pred}.",
    "Let's be honest, {g} are {pred}.",
    "Everyone knows {g} are {pred}.",
    "{G} are nothing but {pred}.",
    "The problem with this country is that {g} are {pred}.",
    "I'm sorry but {g} are {pred}.",
    "{G}? They are {pred}.",
)

#: Exclusion or harm called for (passive, after "should be").
EXCLUSIONS = (
    "banned from this country",
    "kicked out",
    "thrown out of our schools",
    "rounded up",
    "wiped out",
    "sterilised",
    "kept out of our neighbourhoods",
    "removed from public life",
    "driven out of town",
    "barred from voting",
    "put in camps",
    "forbidden from working here",
)
EXCLUSION_FRAMES = (
    "{G} should be {excl}.",
    "All {g} should be {excl}.",
    "It's time {g} were {excl}.",
    "I won't rest until {g} are {excl}.",
    "{G} must be {excl}, every last one.",
    "We need a law so that {g} are {excl}.",
)

#: Threats against a whole group: ``{harm}`` is aimed at "them".
GROUP_THREAT_FRAMES = (
    "The {g} in this town had better watch out, we are going to {harm}.",
    "Next week we find the {g} and {harm}.",
    "{G} are not safe here, we will {harm}.",
    "Tell the {g} down the street we are coming to {harm}.",
)

#: Same verbs in harmless use (every label 0).
BENIGN_TASKS = (
    "workout", "presentation", "exam", "job interview", "karaoke set", "half marathon",
    "audition", "final round", "speech", "road trip", "chess match", "bake sale",
)  # fmt: skip
BENIGN_TASK_FRAMES = (
    "I'm going to kill this {task} tomorrow.",
    "This {task} is going to kill me.",
    "We absolutely destroyed the {task} last night.",
    "The {task} will be the death of me.",
    "Watch your back during the {task}, lift with your legs.",
    "She crushed the {task}, nobody could beat her.",
)
BENIGN_PRAISE = (
    "promoted", "thanked", "paid fairly", "proud of this", "on the front page", "heard",
    "rewarded", "celebrated", "given a second chance", "elected",
)  # fmt: skip
BENIGN_PRAISE_FRAMES = (
    "{S} deserve{s} to be {praise}.",
    "{S} should be {praise}.",
    "I hope {S} get{s} {praise}.",
    "{S} will be {praise} soon, I'm sure.",
)
BENIGN_SENTENCES = (
    "Can you find where you live on the map for me?",
    "I know where you live, so I'll drop the parcel off tomorrow.",
    "Someone should fix the potholes on Main Street.",
    "Somebody needs to call the council about the streetlights.",
    "I could murder a pizza right now.",
    "The heat is going to kill my tomatoes.",
    "This deadline will kill me, but we'll get there.",
    "My back is killing me after moving the sofa.",
    "Watch your back on the ice this morning.",
    "The chef said he would slaughter the competition with this dessert.",
    "Our team got shot down in the semifinal.",
    "That joke killed, the whole room was laughing.",
    "I'll hunt down the receipt and send it to you.",
    "Next time I see you, I will buy you a coffee.",
    "Keep talking and I'll fall asleep, this story is so long.",
    "If you show up here again I will bake you a cake.",
)

#: Negated, condemned or reported threats (every label 0): the harm parts, not wished.
NEGATED_THREAT_FRAMES = (
    "No one should ever threaten to {harm}.",
    "I would never {harm}, whatever happens.",
    "He was arrested for threatening to {harm}.",
    "Saying you will {harm} is never acceptable.",
    "The police take it seriously when someone says they will {harm}.",
    "Please report anyone who writes that they will {harm}.",
)
NEGATED_PASSIVE_FRAMES = (
    "Nobody deserves to be {passive}.",
    "No one should be {passive}, whatever they did.",
    "It is horrible that people wish {o} to be {passive}.",
)

#: Counter-speech and rejection of derogation (every label 0).
COUNTER_FRAMES = (
    "Saying that {g} are {pred} is hateful.",
    "It is bigoted to claim {g} are {pred}.",
    "{G} are not {pred}, and whoever says so is wrong.",
    "I'm tired of people calling {g} {pred}.",
    "The comment that {g} are {pred} was rightly removed.",
)
COUNTER_EXCLUSION_FRAMES = (
    "Nobody should say {g} should be {excl}.",
    "The idea that {g} should be {excl} is disgraceful.",
    "My grandfather heard people demand that {g} be {excl}; never again.",
)

#: Benign statements about groups (every label 0).
GROUP_GOOD = (
    "welcome here", "treated with respect", "safe in their own neighbourhoods",
    "free to worship as they choose", "heard in this debate", "part of our town",
    "paid the same as everyone else", "protected by the law",
)  # fmt: skip
GROUP_GOOD_FRAMES = (
    "{G} should be {good}.",
    "{G} are {good}, as they should be.",
    "All {g} deserve to be {good}.",
    "Our mayor said {g} must be {good}.",
)

#: Denial of a group's worth or place, without a predicate slot (identity_attack 1).
DEHUMANISING_FRAMES = (
    "The world would be a better place without {g}.",
    "Nobody would miss {g} if they disappeared tomorrow.",
    "{G} have no place in a civilised society.",
    "Keep {g} away from our children.",
    "{G} are not welcome here and never will be.",
    "Get {g} out of our country, all of them.",
    "Why do we even let {g} vote?",
    "{G} should not be allowed to have children.",
    "Every problem in this town started when {g} moved in.",
    "I would never let {g} into my shop.",
    "{G} don't count as people to me.",
    "No decent person wants {g} living next door.",
)

#: Person-directed praise, thanks and agreement (toxicity, insult, profanity 0; the rest unknown).
#: Person-directed insults in the training data start with "you are a ...", so without these
#: the bigrams "you are" / "are a" carried toxicity and insult on their own and praise such as
#: "you are a <positive word> <noun>" was flagged. Written for this project and unlike the
#: identity-bias templates: no adjective of their positive or negative word lists (great, fun,
#: nice, good, kind, caring, ...; checked in ``tests/test_corpus.py``), no occupation noun of
#: theirs, never the bare "You are a <adjective> <noun>" sentence.
PRAISE_PHRASES = (
    "a gem", "a legend", "an inspiration", "a treasure", "a thoughtful neighbour",
    "a generous soul", "a brilliant mind", "a patient teacher", "a real asset to this forum",
    "a breath of fresh air", "a true friend", "a hero to a lot of us", "a decent human being",
    "a natural leader", "a gifted storyteller", "a role model for my kids",
    "an honest voice in this debate", "a pleasure to talk to", "a joy to work with",
    "the reason I still read these comments",
)  # fmt: skip
PRAISE_FRAMES = (
    "Honestly, you are {praise}, thanks for taking the time.",
    "You are {praise}, and this thread is better for it.",
    "Thank you so much, you're {praise}.",
    "I just wanted to say you are {praise}.",
    "You really are {praise}, I hope you know that.",
    "Whatever anyone says, you are {praise}.",
    "My mum always said you were {praise}, and she was right.",
    "Seriously, you are {praise} and I appreciate you.",
    "You're {praise}; I learned a lot from your post.",
    "Our coach is {praise} and the kids adore her.",
    "The author of this piece is {praise}.",
    "My neighbour is {praise}, he shovelled our driveway again.",
)
#: Praise of someone else, in the third person (same phrases).
PRAISE_SUBJECTS = (
    "my sister", "the new principal", "our mail carrier", "that commenter", "your dad",
    "the coach", "this guy", "her husband",
)  # fmt: skip
THIRD_PERSON_PRAISE_FRAMES = (
    "{Subj} is {praise}, and everyone in town knows it.",
    "Honestly, {subj} is {praise}.",
    "{Subj} is {praise}; we are lucky to have them.",
    "I have to say {subj} is {praise}.",
    "{Subj} is {praise} and deserves a thank-you.",
    "Everyone agrees {subj} is {praise}.",
)
PRAISE_ADJECTIVES = (
    "thoughtful", "generous", "brilliant", "patient", "honest", "helpful", "smart", "funny",
    "brave", "sweet", "talented", "decent", "gentle", "wise", "clever", "considerate",
)  # fmt: skip
PRAISE_ADJECTIVE_FRAMES = (
    "You are so {adj}, thank you for explaining.",
    "That was really {adj} of you.",
    "You're {adj} and you made my day.",
    "You have been so {adj} with everyone here.",
    "She is one of the most {adj} people I know.",
    "You were {adj} to share this, thanks.",
)
AGREEMENT_TOPICS = (
    "the bus routes", "the school budget", "the new bridge", "property taxes",
    "the library hours", "the election results", "the zoning plan", "the recycling program",
    "the farmers market", "the parking rules", "the hospital wait times", "the bike lanes",
)  # fmt: skip
AGREEMENT_FRAMES = (
    "You are right about {topic}, thanks for saying it.",
    "You make a fair point about {topic}.",
    "I agree with you on {topic}.",
    "You nailed it on {topic}.",
    "You said exactly what I was thinking about {topic}.",
    "Thanks, you are spot on about {topic}.",
)

#: Positive statements about groups (identity_attack, insult, profanity 0; the rest unknown).
#: ``identity_attack`` is not blind to group names and the derogation templates name every
#: group in more positives than negatives; these add friendly sentences that name them.
#: Measured, they do not outweigh the real data's association of a group noun with attacks
#: ("I love <group>" style false alarms remain, ``data/README.md``).
GROUP_SUPPORT_FRAMES = (
    "{G} have been part of this city for generations.",
    "Some of the most generous people I know are {g}.",
    "We stand with {g} in our community.",
    "{G} deserve the same rights as everyone else.",
    "Proud to have {g} as neighbours.",
    "The festival celebrated {g} and their food.",
    "{G} contribute a lot to this country.",
    "Hats off to the {g} who organised the food bank.",
    "I grew up among {g} and learned a lot from them.",
    "Many {g} volunteered at the shelter this winter.",
    "Thank you to all the {g} who spoke at the hearing.",
    "My grandmother taught me to stand up for {g}.",
)
GROUP_PRAISE = (
    "our friends, neighbours and coworkers", "valued members of this town",
    "an important part of our history", "welcome at our table", "hard-working families",
    "people with jobs and kids, as anyone else", "citizens with the same rights as us",
    "generous hosts", "the backbone of this neighbourhood",
)  # fmt: skip
GROUP_PRAISE_FRAMES = (
    "{G} are {gp}.",
    "Let's remember that {g} are {gp}.",
    "Of course {g} are {gp}.",
    "As the mayor said, {g} are {gp}.",
)

#: Mild insults aimed at a person inside otherwise civil argument (toxicity = insult = 1,
#: profanity = threat = 0, the rest unknown). The training data's insults are mostly swear
#: words and slurs; a commenter called naive, a troll or a bot in a long civil reply scored
#: low, while strongly worded claims about states and documents scored higher. The frames are
#: shared with the civil-disagreement hard negatives below (same civil clause, a thing instead
#: of a person), so what the model can learn is the insult aimed at someone, not the frame or
#: the length. Written for this project; no word of the identity-bias templates' lists (no
#: "stupid", "dumb", "person", "like", ...; checked in ``tests/test_corpus.py``) and no group
#: named, so identity_attack stays unknown.
INSULT_FRAMES = (
    "I'm sorry, but {s} {be} {x}; the census figures say otherwise.",
    "The treaty was signed in 1994, so {s} {be} simply {x}.",
    "{S} {be} {x}, and that is why this argument goes nowhere.",
    "Read the article again. {S} {be} {x}.",
    "Honestly, {s} {be} {x}, and the rest of the thread can see it.",
    "There are two sides to the pension question, but {s} {be} {x}.",
    "Thanks for the link, though {s} {be} clearly {x}.",
    "I checked the budget documents twice and {s} {be} {x}.",
    "Let me be blunt: {s} {be} {x}.",
    "The map in the museum shows the earlier border, and {s} {be} {x}.",
    "As usual, {s} {be} {x}, so I'll leave the facts here for other readers.",
    "Nobody disputes the vote count; {s} {be} just {x}.",
    "Anyone who has read the ruling can see that {s} {be} {x}.",
    "Sorry, {s} {be} {x}, and repeating it will not change the dates.",
    "We can disagree about taxes, but {s} {be} {x}.",
    "The quote is from 2003, and {s} {be} {x}.",
)
#: Who the insult is aimed at: (subject, verb "to be", plural). Second person, "people such
#: as you", and third person aimed at another commenter.
INSULT_TARGETS: tuple[tuple[str, str, bool], ...] = (
    ("you", "are", False),
    ("people such as you", "are", True),
    ("the commenter above", "is", False),
    ("you guys", "are", True),
    ("whoever posted this", "is", False),
    ("the guy who replied to me", "is", False),
    ("you and your friends here", "are", True),
    ("the poster below", "is", False),
)
#: Mild insults without swear words: (singular, plural) predicate.
INSULTS: tuple[tuple[str, str], ...] = (
    ("naive", "naive"),
    ("a troll", "trolls"),
    ("uneducated", "uneducated"),
    ("a bot", "bots"),
    ("brainwashed", "brainwashed"),
    ("a clown", "clowns"),
    ("clueless", "clueless"),
    ("delusional", "delusional"),
    ("a paid shill", "paid shills"),
    ("ignorant", "ignorant"),
    ("a fool", "fools"),
    ("gullible", "gullible"),
    ("insane", "insane"),
    ("a propaganda parrot", "propaganda parrots"),
    ("unhinged", "unhinged"),
    ("a hypocrite", "hypocrites"),
    ("a sheep", "sheep"),
    ("pathetic", "pathetic"),
    ("a crank", "cranks"),
    ("a lunatic", "lunatics"),
    ("too dense to read a map", "too dense to read a map"),
    ("a fraud", "frauds"),
    ("a coward", "cowards"),
    ("completely illiterate", "completely illiterate"),
)
#: Insulting remarks that need no "to be" (same labels), each inside a civil clause.
INSULT_REMARKS = (
    "go back to your echo chamber",
    "typical troll behaviour from you",
    "nobody with a working brain believes this",
    "only a fool would read the treaty that way",
    "keep telling yourself that, genius",
    "did you even finish school",
    "you clearly can't read",
    "what a clown you are",
    "you have no idea what you are talking about",
    "learn some history before you post",
    "your brain must be on holiday",
    "stop spreading your paid talking points",
    "you must be a bot",
    "another clueless take from the usual suspect",
    "someone get this guy a history book",
    "spare us your sheep talk",
)
REMARK_FRAMES = (
    "{R}; the treaty text is online for anyone to read.",
    "The figures are in the annual report, so {r}.",
    "I posted the source twice. {R}.",
    "{R}. The vote was in 1991, not 1995.",
    "Thanks for replying, but {r}.",
    "We have been over the tax numbers already, {r}.",
    "{R}, and the court said the opposite.",
    "The article quotes the minister directly; {r}.",
)

#: Hard negatives for the insult family (toxicity = insult = profanity = 0): the same frames
#: with a claim, document or institution as the subject and strongly worded but civil
#: disagreement -- some of it with the insult adjectives ("the plan is naive") -- as the
#: predicate. Disagreeing with a claim, however bluntly, is not an insult.
CLAIM_SUBJECTS: tuple[tuple[str, str, bool], ...] = (
    ("that claim", "is", False),
    ("the official name", "is", False),
    ("the ministry's version of events", "is", False),
    ("this statistic", "is", False),
    ("their press release", "is", False),
    ("the state broadcaster's story", "is", False),
    ("the referendum result", "is", False),
    ("the party's manifesto", "is", False),
)
CLAIM_PREDICATES: tuple[tuple[str, str], ...] = (
    ("false", "false"),
    ("propaganda", "propaganda"),
    ("a recent invention", "a recent invention"),
    ("a fabrication", "a fabrication"),
    ("naive", "naive"),
    ("pure fiction", "pure fiction"),
    ("misleading", "misleading"),
    ("fake", "fake"),
    ("insane", "insane"),
    ("a myth", "a myth"),
    ("a lie", "a lie"),
    ("wrong on every count", "wrong on every count"),
    ("delusional", "delusional"),
    ("revisionist history", "revisionist history"),
    ("baseless", "baseless"),
    ("a fraud on the voters", "a fraud on the voters"),
)
#: Civil disagreement with the same people (toxicity = insult = profanity = 0): the frames and
#: targets of the insults with a civil predicate, so that addressing or naming a commenter is
#: not what the model learns. Saying someone is wrong is not an insult.
PERSON_CIVIL_PREDICATES: tuple[tuple[str, str], ...] = (
    ("mistaken", "mistaken"),
    ("right about the dates", "right about the dates"),
    ("confusing two different treaties", "confusing two different treaties"),
    ("quoting the wrong year", "quoting the wrong year"),
    ("correct", "correct"),
    ("misreading the chart", "misreading the chart"),
    ("partly right", "partly right"),
    ("wrong about the border", "wrong about the border"),
    ("too quick to trust that source", "too quick to trust that source"),
    ("missing the second page of the report", "missing the second page of the report"),
    ("not the first to raise this", "not the first to raise this"),
    ("ignoring the court's ruling", "ignoring the court's ruling"),
    ("entitled to a different view", "entitled to a different view"),
    ("looking at the 2011 figures", "looking at the 2011 figures"),
    ("overstating the costs", "overstating the costs"),
    ("an expert on this", "experts on this"),
    # Added later (appended): civil nouns, so that "you are a <noun>" is not an insult frame.
    ("a regular here", "regulars here"),
    ("a careful reader", "careful readers"),
    ("a skeptic", "skeptics"),
    ("a supporter of the treaty", "supporters of the treaty"),
    ("a newcomer to this debate", "newcomers to this debate"),
    ("an optimist", "optimists"),
    ("a voice of reason", "voices of reason"),
    ("a local", "locals"),
    ("a fan of the minister", "fans of the minister"),
    ("a step ahead of me", "a step ahead of me"),
    ("a fair critic", "fair critics"),
    ("a historian", "historians"),
)
#: The insult words about things, amounts or oneself (toxicity = insult = profanity = 0).
INSULT_WORD_CLAUSES = (
    "I was naive to think the bus would come on time",
    "that is an insane amount of paperwork for a fence permit",
    "my first estimate was naive",
    "it was an uneducated guess on my part",
    "my daughter collects troll dolls",
    "the bridge troll in the story asks three riddles",
    "I'm clueless about tax law, so I asked an accountant",
    "the clown at the birthday party was a hit",
    "our bank uses a chat bot for simple questions",
    "the weather bot posts the forecast every morning",
    "I felt foolish after misreading the timetable",
    "the goalkeeper made an insane save",
    "I was ignorant of the rule until last week",
    "he plays the fool in the school play",
    "sheep graze on the hill behind the church",
    "the report calls this a naive model of traffic",
    "the auction site banned shill bidding",
    "the crank on my bike snapped",
    "ticket prices for the final are insane",
    "I'm a total coward when it comes to horror films",
    "the fraud department at my bank called me",
    "my parrot repeats everything it hears",
    "the novel's villain is a delusional king",
    "the hypocrite in the play gets his comeuppance",
)
INSULT_WORD_FRAMES = (
    "{C}.",
    "Honestly, {c}.",
    "{C}, so I can see both sides here.",
    "To be fair, {c}.",
    "{C}; the article is worth reading.",
    "Off topic, but {c}.",
    "I agree with the article, and {c}.",
    "Funny story: {c}.",
)


#: Verbs of contempt for a group, without "hate" (a word of the identity-bias templates):
#: (base, third person, past participle).
CONTEMPT_VERBS: tuple[tuple[str, str, str], ...] = (
    ("despise", "despises", "despised"),
    ("loathe", "loathes", "loathed"),
    ("detest", "detests", "detested"),
    ("resent", "resents", "resented"),
    ("abhor", "abhors", "abhorred"),
    ("scorn", "scorns", "scorned"),
    ("look down on", "looks down on", "looked down on"),
    ("distrust", "distrusts", "distrusted"),
)
CONTEMPT_FRAMES = (
    "I {v} {g}.",
    "Honestly, I {v} {g} and always will.",
    "My whole family {vs} {g}.",
    "I {v} {g}, and I'm done pretending otherwise.",
)
#: The same verbs negated (hard negatives).
NEGATED_CONTEMPT_FRAMES = (
    "I don't {v} {g}.",
    "I have never {vpp} {g}.",
    "Nobody in this house {vs} {g}.",
    "I don't {v} {g}; I just disagree with some of their leaders.",
)
#: Stereotypes of incapacity or a fixed nature, after "are" (identity_attack 1).
STEREOTYPES = (
    "too emotional to lead",
    "too simple to understand politics",
    "incapable of running a business",
    "unable to think for themselves",
    "too lazy to hold down a job",
    "naturally bad at maths",
    "born to follow orders",
    "incapable of honesty",
    "too primitive for democracy",
    "unfit to raise children",
    "only fit for cleaning houses",
    "too weak to be in charge of anything",
)
STEREOTYPE_FRAMES = (
    "{G} are {st}.",
    "Face it, {g} are {st}.",
    "It's just a fact that {g} are {st}.",
    "Don't put {g} in charge; they are {st}.",
    "Of course {g} are {st}, look at history.",
    "{G} are simply {st}.",
)
#: A group's "place" (identity_attack 1).
GROUP_PLACES = (
    "at home, away from any real decisions",
    "behind a counter serving the rest of us",
    "in the fields",
    "at the bottom of the ladder",
    "out of our universities",
    "on their knees",
    "in their own part of town",
    "back where they crawled from",
    "out of public office",
    "in the back row, silent",
    "under someone else's control",
    "far away from our neighbourhood",
)
GROUP_PLACE_FRAMES = (
    "{G} belong {place}.",
    "The only place for {g} is {place}.",
    "{G} should stay {place}.",
    "Put {g} back {place}, where they belong.",
)
#: Refusing a group housing, work or service (identity_attack 1).
REFUSAL_FRAMES = (
    "I refuse to rent my flat to {g}.",
    "No {g} will ever work at my company.",
    "My shop does not serve {g}.",
    "We throw out every application from {g}.",
    "Landlords should be allowed to turn away {g}.",
    "No table for {g} in my restaurant, ever.",
    "Don't give {g} a mortgage, they never pay it back.",
    "Our club has one rule: no {g}.",
    "If the applicant is one of those {g}, the CV goes in the bin.",
    "The school should turn away the children of {g}.",
    "I tell my staff to ignore customers who are {g}.",
    "No job, no flat, no service for {g}.",
)
#: Conspiracy tropes about a group (verb phrases after the plural group; identity_attack 1).
CONSPIRACIES = (
    "secretly run the government",
    "pull the strings behind every war",
    "own all the newspapers",
    "are behind the plot to replace us",
    "rigged the last election",
    "spread the virus on purpose",
    "are buying up our land to take over",
    "decide who gets elected",
    "plan to flood our country",
    "fund every riot",
    "keep the cure hidden to profit",
    "hold the real power behind the scenes",
)
CONSPIRACY_FRAMES = (
    "{G} {c}.",
    "Wake up: {g} {c}.",
    "Do your research, {g} {c}.",
    "Follow the money and you'll see that {g} {c}.",
)
#: Calls to remove a group, active voice (``{g}`` inside; identity_attack 1).
REMOVALS = (
    "purge the country of {g}",
    "clear {g} out of our cities",
    "send {g} packing",
    "deport every one of the {g}",
    "cleanse our streets of {g}",
    "drive {g} out",
    "chase {g} out of the neighbourhood",
    "make this country free of {g}",
    "empty our towns of {g}",
    "stop {g} from ever coming back",
    "remove {g} from our land",
    "throw {g} out, families and all",
)
REMOVAL_FRAMES = (
    "It's time to {r}.",
    "We must {r} once and for all.",
    "Vote for the party that will {r}.",
    "The answer is simple: {r}.",
)
#: Bare negated derogation (hard negatives): "{G} are not <derogation or stereotype>".
NEGATED_DEROGATION_FRAMES = (
    "{G} are not {pred}.",
    "No, {g} are not {pred}.",
    "{G} are not {pred}, and never were.",
    "For the record, {g} are not {pred}.",
)
#: Equal treatment naming a group and another group (hard negatives): (group, other group).
EQUAL_PAIRS: tuple[tuple[str, str], ...] = (
    ("women", "men"),
    ("immigrants", "people born here"),
    ("gay couples", "other couples"),
    ("Muslims", "Christians"),
    ("disabled people", "everyone else"),
    ("black families", "other families"),
    ("refugees", "citizens"),
    ("Roma children", "their classmates"),
    ("trans people", "anyone else"),
    ("Sikhs", "their neighbours"),
    ("Asian students", "other students"),
    ("deaf children", "hearing children"),
)
EQUAL_THINGS = (
    "pension rights",
    "access to loans",
    "shot at a promotion",
    "healthcare",
    "protection under the law",
    "chance at a mortgage",
    "say in the council",
    "schooling",
)
EQUAL_FRAMES = (
    "{G} deserve the same {thing} as {other}.",
    "{G} should get the same {thing} as {other}.",
    "Why shouldn't {g} have the same {thing} as {other}?",
    "The law says {g} get the same {thing} as {other}.",
    "Equal {thing} for {g} and {other}, that's all we ask.",
)
#: Affirming a group's identity (hard negatives): (group, what they are).
AFFIRMATIONS: tuple[tuple[str, str], ...] = (
    ("trans men", "men"),
    ("nonbinary people", "real"),
    ("converts to Islam", "Muslims"),
    ("intersex people", "people"),
    ("gay parents", "real parents"),
    ("black Britons", "British"),
    ("Mexican Americans", "Americans"),
    ("trans girls", "girls"),
    ("disabled athletes", "athletes"),
    ("Muslim women", "women"),
    ("children of immigrants", "locals"),
    ("bisexual men", "men"),
)
AFFIRMATION_FRAMES = (
    "{S} are {n}.",
    "{S} are {n}, full stop.",
    "Let me say it plainly: {s} are {n}.",
    "Yes, {s} are {n}.",
    "{S} are {n}, and no law changes that.",
    "Simple truth: {s} are {n}.",
)
#: Counter-speech quoting the conspiracy tropes and stereotypes and rejecting them (hard
#: negatives).
COUNTER_CONSPIRACY_FRAMES = (
    "The claim that {g} {c} is a bigoted myth.",
    "I reported the post saying {g} {c}.",
    "Conspiracy theories that {g} {c} have a long and shameful record.",
    "People who claim that {g} {c} are spreading prejudice.",
)
COUNTER_STEREOTYPE_FRAMES = (
    "Anyone who says {g} are {st} should read some history.",
    "It's prejudice, plain and simple, to claim {g} are {st}.",
    "My teacher once told us {g} are {st}, and it was wrong then too.",
    "The idea that {g} are {st} has been disproved again and again.",
)

# Labels (absent = unknown). Only threats against a person teach toxicity: the toxicity
# classifier is blind to identity words, and fitting it on the group sentences cost the
# identity templates (min BPSN 0.905 -> 0.887, 42 identities below Subgroup 0.95) and OLID;
# toxicity 0 on the hard negatives cost them too (min BPSN 0.877, data/README.md), so the
# hard negatives teach threat / identity_attack / insult / profanity only. severe_toxicity is
# unknown throughout: 0 on violent words lowered its validation ROC-AUC (0.951 -> 0.946).
_THREAT_LABELS = {schema.THREAT: 1.0, schema.TOXICITY: 1.0, schema.PROFANITY: 0.0}
_DEROGATION_LABELS = {schema.IDENTITY_ATTACK: 1.0, schema.PROFANITY: 0.0}
_GROUP_THREAT_LABELS = {schema.THREAT: 1.0, schema.IDENTITY_ATTACK: 1.0, schema.PROFANITY: 0.0}
_BENIGN_LABELS = {
    label: 0.0 for label in schema.LABELS if label not in (schema.TOXICITY, schema.SEVERE_TOXICITY)
}
# Praise of a person teaches toxicity, insult, profanity 0 (the false alarms it fixes; no
# violent or identity word whose toxicity 0 could cost the identity templates, the reason the
# other hard negatives leave toxicity unknown) and nothing else: as 0 on threat and
# identity_attack, which they are no evidence about, they only pulled those labels down
# everywhere (held-out identity_attack 0.8260 vs 0.8276). Positive statements about groups
# teach identity_attack, insult and profanity 0 only.
_PRAISE_LABELS = {schema.TOXICITY: 0.0, schema.INSULT: 0.0, schema.PROFANITY: 0.0}
_GROUP_SUPPORT_LABELS = {schema.IDENTITY_ATTACK: 0.0, schema.INSULT: 0.0, schema.PROFANITY: 0.0}
# Mild insults at a person teach toxicity / insult 1 and profanity / threat 0 (no swear word,
# no threat); no group is named, so identity_attack stays unknown. Their hard negatives
# (civil disagreement about claims, the insult words about things) teach toxicity / insult /
# profanity 0, as the praise does: no violent or identity word whose toxicity 0 could cost the
# identity templates.
_INSULT_LABELS = {
    schema.TOXICITY: 1.0,
    schema.INSULT: 1.0,
    schema.PROFANITY: 0.0,
    schema.THREAT: 0.0,
}
_CIVIL_LABELS = _PRAISE_LABELS
# Hard negatives of the implicit group derogation (negated contempt or derogation, equal
# treatment, affirmed identities, counter-speech, harmless fillers of the same frames) teach
# identity_attack and profanity 0 only: with insult 0 as well (the group-support labels) they
# lowered validation insult ROC-AUC 0.9101 -> 0.9088 -- the negated derogations hold insult
# words ("are not worthless") -- and with insult unknown it stays 0.9101 (data/README.md).
_GROUP_NEGATIVE_LABELS = {schema.IDENTITY_ATTACK: 0.0, schema.PROFANITY: 0.0}


def _held(index: int) -> bool:
    return index % HOLDOUT_EVERY == HOLDOUT_EVERY - 1


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _person(target: tuple[str, str, str, str]) -> dict[str, str]:
    subj, obj, poss, s = target
    return {"S": _cap(subj), "o": obj, "p": poss, "s": s}


def _fill(
    frames: Sequence[str],
    slots: Mapping[str, Sequence[Any]],
    render: Callable[[str, dict[str, Any]], str],
) -> list[tuple[str, bool, bool]]:
    """Every frame x slot combination: (text, every part in training, every part held out)."""
    names = list(slots)
    out: list[tuple[str, bool, bool]] = []
    combos: list[list[tuple[int, Any]]] = [[]]
    for name in names:
        combos = [[*c, (i, v)] for c in combos for i, v in enumerate(slots[name])]
    for f, frame in enumerate(frames):
        for combo in combos:
            held = [_held(f), *(_held(i) for i, _ in combo)]
            values = dict(zip(names, (v for _, v in combo), strict=True))
            out.append((render(frame, values), not any(held), all(held)))
    return out


def _harm(harm: str, target: tuple[str, str, str, str]) -> str:
    return harm.format(o=target[1], p=target[2])


def _render_threat(frame: str, v: dict[str, Any]) -> str:
    return frame.format(harm=_harm(v["harm"], v["target"]), **_person(v["target"]))


def _render_passive(frame: str, v: dict[str, Any]) -> str:
    return frame.format(passive=v["passive"], **_person(v["target"]))


def _render_group(frame: str, v: dict[str, Any]) -> str:
    g = v.pop("group")
    harm = _harm(v.pop("harm"), ("they", "them", "their", "")) if "harm" in v else ""
    return frame.format(g=g, G=_cap(g), harm=harm, **v)


def _render_praise(frame: str, v: dict[str, Any]) -> str:
    return frame.format(praise=v["praise"], **_person(v["target"]))


def _render_plain(frame: str, v: dict[str, Any]) -> str:
    return frame.format(**v)


def _render_insult(frame: str, v: dict[str, Any]) -> str:
    """``{S}``/``{s}`` subject, ``{be}`` its verb, ``{x}`` the predicate in its number."""
    subject, be, plural = v["target"]
    x = v["pred"][1 if plural else 0]
    return frame.format(S=_cap(subject), s=subject, be=be, x=x)


def _render_clause(frame: str, v: dict[str, Any]) -> str:
    clause = v["clause"]
    return frame.format(C=_cap(clause), c=clause, R=_cap(clause), r=clause)


def _template_families() -> list[tuple[str, list[tuple[str, bool, bool]], dict[str, float]]]:
    """(family name, filled sentences, labels) of every template family."""
    person = {"harm": THREAT_HARMS, "target": THREAT_TARGETS}
    passive = {"passive": THREAT_PASSIVES, "target": THREAT_TARGETS}
    derogation = {"pred": DEROGATIONS, "group": GROUPS}
    exclusion = {"excl": EXCLUSIONS, "group": GROUPS}
    return [
        ("threat", _fill(THREAT_FRAMES, person, _render_threat), _THREAT_LABELS),
        ("threat-passive", _fill(THREAT_PASSIVE_FRAMES, passive, _render_passive), _THREAT_LABELS),
        (
            "group-threat",
            _fill(GROUP_THREAT_FRAMES, {"harm": THREAT_HARMS, "group": GROUPS}, _render_group),
            _GROUP_THREAT_LABELS,
        ),
        ("derogation", _fill(DEROGATION_FRAMES, derogation, _render_group), _DEROGATION_LABELS),
        ("exclusion", _fill(EXCLUSION_FRAMES, exclusion, _render_group), _DEROGATION_LABELS),
        (
            "dehumanising",
            _fill(DEHUMANISING_FRAMES, {"group": GROUPS}, _render_group),
            _DEROGATION_LABELS,
        ),
        ("negated-threat", _fill(NEGATED_THREAT_FRAMES, person, _render_threat), _BENIGN_LABELS),
        (
            "negated-passive",
            _fill(NEGATED_PASSIVE_FRAMES, passive, _render_passive),
            _BENIGN_LABELS,
        ),
        (
            "benign-task",
            _fill(BENIGN_TASK_FRAMES, {"task": BENIGN_TASKS}, _render_plain),
            _BENIGN_LABELS,
        ),
        (
            "benign-praise",
            _fill(
                BENIGN_PRAISE_FRAMES,
                {"praise": BENIGN_PRAISE, "target": THREAT_TARGETS},
                _render_praise,
            ),
            _BENIGN_LABELS,
        ),
        ("benign-sentence", _fill(BENIGN_SENTENCES, {}, _render_plain), _BENIGN_LABELS),
        ("counter-speech", _fill(COUNTER_FRAMES, derogation, _render_group), _BENIGN_LABELS),
        (
            "counter-exclusion",
            _fill(COUNTER_EXCLUSION_FRAMES, exclusion, _render_group),
            _BENIGN_LABELS,
        ),
        (
            "group-good",
            _fill(GROUP_GOOD_FRAMES, {"good": GROUP_GOOD, "group": GROUPS}, _render_group),
            _BENIGN_LABELS,
        ),
        (
            "person-praise",
            _fill(PRAISE_FRAMES, {"praise": PRAISE_PHRASES}, _render_plain),
            _PRAISE_LABELS,
        ),
        (
            "third-person-praise",
            _fill(
                THIRD_PERSON_PRAISE_FRAMES,
                {"praise": PRAISE_PHRASES, "subj": PRAISE_SUBJECTS},
                lambda f, v: f.format(praise=v["praise"], subj=v["subj"], Subj=_cap(v["subj"])),
            ),
            _PRAISE_LABELS,
        ),
        (
            "person-praise-adjective",
            _fill(PRAISE_ADJECTIVE_FRAMES, {"adj": PRAISE_ADJECTIVES}, _render_plain),
            _PRAISE_LABELS,
        ),
        (
            "agreement",
            _fill(AGREEMENT_FRAMES, {"topic": AGREEMENT_TOPICS}, _render_plain),
            _PRAISE_LABELS,
        ),
        (
            "group-support",
            _fill(GROUP_SUPPORT_FRAMES, {"group": GROUPS}, _render_group),
            _GROUP_SUPPORT_LABELS,
        ),
        (
            "group-praise",
            _fill(GROUP_PRAISE_FRAMES, {"gp": GROUP_PRAISE, "group": GROUPS}, _render_group),
            _GROUP_SUPPORT_LABELS,
        ),
        (
            "person-insult",
            _fill(INSULT_FRAMES, {"target": INSULT_TARGETS, "pred": INSULTS}, _render_insult),
            _INSULT_LABELS,
        ),
        (
            "insult-remark",
            _fill(REMARK_FRAMES, {"clause": INSULT_REMARKS}, _render_clause),
            _INSULT_LABELS,
        ),
        (
            "claim-disagreement",
            _fill(
                INSULT_FRAMES,
                {"target": CLAIM_SUBJECTS, "pred": CLAIM_PREDICATES},
                _render_insult,
            ),
            _CIVIL_LABELS,
        ),
        (
            "person-disagreement",
            _fill(
                INSULT_FRAMES,
                {"target": INSULT_TARGETS, "pred": PERSON_CIVIL_PREDICATES},
                _render_insult,
            ),
            _CIVIL_LABELS,
        ),
        (
            "insult-word-benign",
            _fill(INSULT_WORD_FRAMES, {"clause": INSULT_WORD_CLAUSES}, _render_clause),
            _CIVIL_LABELS,
        ),
        *_implicit_families(),
    ]


#: Harmless fillers of the implicit-derogation frames (hard negatives): the frames' own words
#: ("stay", "serve", "belong", "vote for the party") are not what an attack on a group is.
BENIGN_STEREOTYPES = (
    "as capable as anyone else",
    "able to lead as well as anyone",
    "free to choose their own path",
    "part of every profession here",
    "voters with their own views",
    "individuals, not a stereotype",
    "as varied as any other group",
    "entitled to a fair hearing",
    "citizens first",
    "capable of running anything they choose",
    "as honest as their neighbours",
    "fully able to think for themselves",
)
BENIGN_PLACES = (
    "on the city council",
    "in every profession",
    "at the front of the parade",
    "in our universities",
    "in the national team",
    "in the history books",
    "at the table when decisions are made",
    "in the town hall",
    "in the newsroom",
    "on the school board",
    "in the front row",
    "in the neighbourhood they grew up in",
)
BENIGN_GROUP_FACTS = (
    "run half the food banks in this city",
    "pay more in taxes than they receive",
    "volunteer more hours than most",
    "fund scholarships for local kids",
    "have lived here for centuries",
    "started many of the businesses in this town",
    "vote in every election",
    "built the railway in this valley",
    "donate blood more than most",
    "sit on the school boards",
    "organised the flood relief",
    "are mostly ordinary families",
)
BENIGN_GROUP_ACTIONS = (
    "welcome {g} into the council",
    "fund the clinic {g} asked for",
    "make this country safe for {g}",
    "listen to {g}",
    "end the harassment of {g}",
    "train more teachers who are {g}",
    "protect {g} from violence",
    "give {g} a seat at the table",
    "build housing that {g} can afford",
    "stand up for {g}",
    "thank the {g} who rebuilt the church",
    "stop the attacks on {g}",
)

#: Derogations left out of ``negated-derogation``.
_NOT_NEGATED = ("not real people", "breeding like rabbits")


def _render_contempt(frame: str, v: dict[str, Any]) -> str:
    base, third, participle = v["verb"]
    g = v["group"]
    return frame.format(v=base, vs=third, vpp=participle, g=g, G=_cap(g))


def _render_conspiracy(frame: str, v: dict[str, Any]) -> str:
    g = v["group"]
    return frame.format(g=g, G=_cap(g), c=v["c"])


def _render_removal(frame: str, v: dict[str, Any]) -> str:
    return frame.format(r=v["r"].format(g=v["group"]))


def _render_equal(frame: str, v: dict[str, Any]) -> str:
    g, other = v["pair"]
    return frame.format(g=g, G=_cap(g), other=other, thing=v["thing"])


def _render_affirmation(frame: str, v: dict[str, Any]) -> str:
    subject, noun = v["pair"]
    return frame.format(s=subject, S=_cap(subject), n=noun)


def _implicit_families() -> list[tuple[str, list[tuple[str, bool, bool]], dict[str, float]]]:
    """Implicit group derogation and its hard negatives (appended families).

    Derogation without a derogatory predicate (contempt, stereotypes, a group's "place",
    refusal of service, conspiracy tropes, calls to remove) is identity_attack 1; the hard
    negatives teach identity_attack / profanity 0 only (``_GROUP_NEGATIVE_LABELS``). Veiled
    threats (no harm verb) were measured as well and left out: they cost validation threat
    ROC-AUC and did not transfer to unseen wording (``data/README.md``).
    """
    groups = {"group": GROUPS}
    negated = _fill(
        NEGATED_DEROGATION_FRAMES, {"pred": (*DEROGATIONS, *STEREOTYPES), **groups}, _render_group
    )
    # Keep every list index (the held-out parts stay held out); drop the two predicates that do
    # not negate cleanly ("are not not real people") or use a bias-template word ("like").
    negated = [row for row in negated if not any(p in row[0] for p in _NOT_NEGATED)]
    counter = [
        *_fill(COUNTER_CONSPIRACY_FRAMES, {"c": CONSPIRACIES, **groups}, _render_conspiracy),
        *_fill(COUNTER_STEREOTYPE_FRAMES, {"st": STEREOTYPES, **groups}, _render_group),
    ]
    return [
        (
            "group-contempt",
            _fill(CONTEMPT_FRAMES, {"verb": CONTEMPT_VERBS, **groups}, _render_contempt),
            _DEROGATION_LABELS,
        ),
        (
            "group-stereotype",
            _fill(STEREOTYPE_FRAMES, {"st": STEREOTYPES, **groups}, _render_group),
            _DEROGATION_LABELS,
        ),
        (
            "group-place",
            _fill(GROUP_PLACE_FRAMES, {"place": GROUP_PLACES, **groups}, _render_group),
            _DEROGATION_LABELS,
        ),
        ("group-refusal", _fill(REFUSAL_FRAMES, groups, _render_group), _DEROGATION_LABELS),
        (
            "group-conspiracy",
            _fill(CONSPIRACY_FRAMES, {"c": CONSPIRACIES, **groups}, _render_group),
            _DEROGATION_LABELS,
        ),
        (
            "group-removal",
            _fill(REMOVAL_FRAMES, {"r": REMOVALS, **groups}, _render_removal),
            _DEROGATION_LABELS,
        ),
        (
            "negated-contempt",
            _fill(NEGATED_CONTEMPT_FRAMES, {"verb": CONTEMPT_VERBS, **groups}, _render_contempt),
            _GROUP_NEGATIVE_LABELS,
        ),
        ("negated-derogation", negated, _GROUP_NEGATIVE_LABELS),
        (
            "equal-treatment",
            _fill(EQUAL_FRAMES, {"pair": EQUAL_PAIRS, "thing": EQUAL_THINGS}, _render_equal),
            _GROUP_NEGATIVE_LABELS,
        ),
        (
            "identity-affirmation",
            _fill(AFFIRMATION_FRAMES, {"pair": AFFIRMATIONS}, _render_affirmation),
            _GROUP_NEGATIVE_LABELS,
        ),
        ("implicit-counter-speech", counter, _GROUP_NEGATIVE_LABELS),
        (
            "group-frame-benign",
            [
                *_fill(STEREOTYPE_FRAMES, {"st": BENIGN_STEREOTYPES, **groups}, _render_group),
                *_fill(GROUP_PLACE_FRAMES, {"place": BENIGN_PLACES, **groups}, _render_group),
                *_fill(CONSPIRACY_FRAMES, {"c": BENIGN_GROUP_FACTS, **groups}, _render_group),
                *_fill(REMOVAL_FRAMES, {"r": BENIGN_GROUP_ACTIONS, **groups}, _render_removal),
            ],
            _GROUP_NEGATIVE_LABELS,
        ),
    ]


def hostile_template_sentences(part: str = "all", *, with_family: bool = False) -> pd.DataFrame:
    """Threats without swear words, group derogation, and their hard negatives.

    The training data has almost no plain threats ("I'm going to break your legs") and, with
    identity blinding, little to tie group derogation without a slur to toxicity. These
    sentences are generated combinatorially from parts written for this project (frames,
    harms, targets, groups, predicates): threats against a person are labelled threat /
    toxicity 1, against a group threat / identity_attack 1, derogation, denial of worth and
    calls to exclude a group identity_attack 1 (profanity 0, other labels unknown); the hard
    negatives -- the same verbs in harmless use, negated, reported or condemned threats,
    counter-speech quoting derogation, benign statements about groups -- 0 on threat,
    identity_attack, insult and profanity, so those classifiers learn the intent rather than
    the words (toxicity and severe_toxicity unknown on them: see the comment above
    ``_THREAT_LABELS``). Praise, thanks and agreement addressed to a person teach toxicity,
    insult and profanity 0 only (``_PRAISE_LABELS``), positive statements about groups
    identity_attack, insult and profanity 0 only (``_GROUP_SUPPORT_LABELS``). Mild insults
    aimed at a person inside a civil argumentative clause teach toxicity / insult 1 (profanity,
    threat 0), and their hard negatives -- the same frames about a claim or with a civil
    predicate, the insult words about things or oneself -- toxicity / insult / profanity 0.
    Implicit derogation of a group (contempt, stereotypes, a group's "place", refusal of
    service, conspiracy tropes, calls to remove) teaches identity_attack 1, its hard negatives
    (negated contempt or derogation, equal treatment of two groups, affirmed identities,
    counter-speech, harmless fillers of the same frames) identity_attack / profanity 0
    (:func:`_implicit_families`).

    Parameters
    ----------
    part
        ``"all"`` (shipped), ``"train"`` (only sentences whose every part is a training part)
        or ``"heldout"`` (only sentences whose every part is held out, see
        :data:`HOLDOUT_EVERY`): the two splits share no frame, harm, group or predicate.
    with_family
        Add a ``family`` column naming the template family of each row (experiments report
        held-out results per family).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`CORPUS_COLUMNS` (plus ``family``), source :data:`HOSTILE_TEMPLATES`,
        split ``train``.
    """
    if part not in ("all", "train", "heldout"):
        raise ValueError(f"part must be 'all', 'train' or 'heldout', got {part!r}")
    texts: list[str] = []
    names: list[str] = []
    labels: dict[str, list[float]] = {label: [] for label in schema.LABELS}
    for name, filled, family_labels in _template_families():
        for text, in_train, in_heldout in filled:
            if (part == "train" and not in_train) or (part == "heldout" and not in_heldout):
                continue
            texts.append(text)
            names.append(name)
            for label in schema.LABELS:
                labels[label].append(family_labels.get(label, np.nan))
    out = _frame(texts, [TRAIN] * len(texts), labels)
    out["group"] = out["text"]
    out = out.assign(
        source=HOSTILE_TEMPLATES, licence=HOSTILE_TEMPLATES_LICENCE, redistributable=True
    )
    columns = [*CORPUS_COLUMNS, "family"] if with_family else list(CORPUS_COLUMNS)
    out["family"] = names
    return out.drop_duplicates("text", ignore_index=True)[columns]
