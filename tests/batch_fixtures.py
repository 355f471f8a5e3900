"""Synthetic comment exports for the batch tests: many interleaved threads and bad rows."""

from __future__ import annotations

import random
from pathlib import Path

import pandas as pd

from moderation.io import read_articles, read_export, write_table
from moderation.moderator import Moderator

EXAMPLE = Path(__file__).resolve().parents[1] / "data" / "examples" / "azerbaijan-csto"

_CIVIL = [
    "The sanctions will hurt the economy more than the article admits",
    "I think the minister made a reasonable point about the pipeline",
    "Interesting analysis of the border talks, thanks for posting",
    "The treaty was signed in 1994 and renewed twice since then",
    "Does anyone know what the trade figures were last year?",
    "well said",
    "ok bye",
]
_HOSTILE = [
    "you are an idiot and a troll",
    "shut up you stupid moron",
    "what a naive and uneducated take, typical",
    "I will find you and make you pay",
]
_OFF = [
    "My cat likes to sleep on the keyboard all afternoon",
    "Best pizza recipe: lots of cheese and a very hot oven",
    "Check out my channel for free giveaways www.spam-site.com",
]


def synthetic_comments(rows: int, threads: int, seed: int = 0) -> pd.DataFrame:
    """A comment export of `rows` comments over `threads` interleaved threads.

    Authors write in several threads; it includes an empty text, a duplicate id
    in another thread, a reply to a comment of another thread, a missing parent,
    a parent cycle, a "\\r" in a text and an extra pass-through column.
    """
    rng = random.Random(seed)
    authors = [f"user{i}" for i in range(max(rows // 6, 3))]
    by_thread: dict[str, list[str]] = {}
    records = []
    for i in range(rows):
        thread = f"t{rng.randrange(threads)}"
        earlier = by_thread.setdefault(thread, [])
        parent = rng.choice(earlier) if earlier and rng.random() < 0.7 else ""
        draw = rng.random()
        pool = _HOSTILE if draw < 0.05 else _OFF if draw < 0.12 else _CIVIL
        text = rng.choice(pool) + ("" if rng.random() < 0.5 else f" #{i % 13}")
        cid = f"c{i}"
        earlier.append(cid)
        records.append(
            {
                "comment_id": cid,
                "thread_id": thread,
                "parent_id": parent,
                "author": rng.choice(authors),
                "text": text,
                "site": rng.choice(["news", "kids"]),
            }
        )
    frame = pd.DataFrame(records)
    n = len(frame)
    if n >= 12:
        frame.loc[3, "text"] = "   "  # empty text
        frame.loc[n - 1, "comment_id"] = "c5"  # duplicate id (maybe another thread)
        frame.loc[n - 2, "parent_id"] = "c1"  # parent possibly in another thread
        frame.loc[n - 3, "parent_id"] = "nowhere"  # missing parent
        frame.loc[7, "parent_id"] = "c8"  # c7 <-> c8 cycle, across threads if they differ
        frame.loc[8, "parent_id"] = "c7"
        frame.loc[9, "text"] = "first line\rsecond line you idiot"
    return frame


def write_export(frame: pd.DataFrame, path: Path) -> Path:
    """Write as the project does (a "\r" in a cell makes the file "\r\n"-terminated)."""
    write_table(frame, path)
    return path


def synthetic_articles(threads: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "thread_id": [f"t{i}" for i in range(threads)],
            "title": [f"Border talks and sanctions, part {i}" for i in range(threads)],
            "body": [
                "The minister discussed the pipeline, the treaty and trade sanctions."
                for _ in range(threads)
            ],
        }
    )


def score_whole(moderator: Moderator, export: Path, articles: Path | None = None) -> pd.DataFrame:
    """One `Moderator.score` call over the whole export: what every batch run must equal."""
    comments = read_export(export).comments
    return moderator.score(comments, read_articles(articles) if articles else None)
