"""The tiny invented training fixtures, laid out like the real datasets folder.

Files under ``tests/data/labelled/`` carry a ``.sample`` infix (``labeled_data.sample.csv``)
so nobody mistakes them for the public datasets they imitate (they are invented text in the
same schemas). :func:`labelled_dir` copies them once per test session into a temporary folder
under the real file names, which is what ``moderation.corpus.load_corpus`` reads.
"""

from __future__ import annotations

import atexit
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
