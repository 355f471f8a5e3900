"""The tiny invented training fixtures, laid out like the real datasets folder.

Files under ``tests/data/labelled/`` carry a ``.sample`` infix (``labeled_data.sample.csv``)
so nobody mistakes them for the public datasets they imitate (they are invented text in the
same schemas). :func:`labelled_dir` copies them once per test session into a temporary folder
under the real file names, which is what ``moderation.corpus.load_corpus`` reads.
"""

from __future__ import annotations

import atexit
import gzip
import shutil
import tempfile
from functools import cache
from pathlib import Path

SOURCE = Path(__file__).parent / "data" / "labelled"
INFIX = ".sample"


@cache
def labelled_dir() -> Path:
    """A temporary copy of the fixtures with the datasets' own file names."""
    root = Path(tempfile.mkdtemp(prefix="moderation-labelled-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    for path in SOURCE.rglob("*"):
        if path.is_file():
            target = root / path.relative_to(SOURCE)
            target = target.with_name(path.name.replace(INFIX, "", 1))
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
    return root


def release_copy(root: Path, ruddit_threads: list[tuple[str, str, list[str]]]) -> Path:
    """The fixtures under ``root`` as the real release ships them, plus extra Ruddit threads.

    ToxiChat and Ruddit are gzipped (the off-topic fit reads them that way); the extra
    threads (post id, title slug, comments) give the off-topic fit a non-empty held-out fifth.
    """
    shutil.copytree(labelled_dir(), root, dirs_exist_ok=True)
    ruddit = root / "ruddit" / "ruddit_with_text.csv"
    extra = [
        f"{post},{post}c{k},{text},https://www.reddit.com/r/test/comments/{post}/{slug}//{k}/,-0.5"
        for post, slug, texts in ruddit_threads
        for k, text in enumerate(texts)
    ]
    ruddit.write_text(ruddit.read_text(encoding="utf-8") + "\n".join(extra) + "\n", "utf-8")
    for path in [*(root / "toxichat").glob("*.jsonl"), ruddit]:
        with path.open("rb") as src, gzip.open(f"{path}.gz", "wb") as dst:
            dst.write(src.read())
        path.unlink()
    return root
