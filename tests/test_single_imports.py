"""A cold start that scores single comments does not import what only batch scoring needs."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("pandas", "sklearn", "joblib", "scipy", "pyarrow")


def imported_after(code: str) -> list[str]:
    """The heavy top-level packages in ``sys.modules`` after running ``code`` in a new process."""
    probe = (
        f"{code}\nimport json, sys\n"
        f"print(json.dumps(sorted({{k.split('.')[0] for k in sys.modules}} & set({HEAVY!r}))))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    )
    found: list[str] = json.loads(done.stdout.strip().splitlines()[-1])
    return found


def test_import_load_and_score_one_import_no_pandas_scikit_learn_or_joblib() -> None:
    code = "import moderation; m = moderation.Moderator.load(); m.score_one('x')"
    assert imported_after(code) == []


def test_import_alone_imports_nothing_heavy() -> None:
    assert imported_after("import moderation; moderation.__version__") == []


@pytest.mark.parametrize(
    ("text", "flagged"),
    [
        ("", False),
        ("Thanks for the article, I learned something today.", False),
        ("Lovely photos.\n\nReally!", False),
        ("Nice photos. Shut up, you stupid 1d10t.", True),  # terms, spans and quoted reasons
    ],
)
def test_single_comments_import_nothing_heavy(text: str, flagged: bool) -> None:
    code = (
        f"import moderation; one = moderation.Moderator.load().score_one({text!r})\n"
        f"assert bool(one.terms) == bool(one.spans) == {flagged}, one"
    )
    assert imported_after(code) == []


def test_batch_scoring_still_imports_what_it_needs() -> None:
    code = (
        "import moderation, pandas as pd; m = moderation.Moderator.load()\n"
        "out = m.score(pd.DataFrame({'comment_id': ['1'], 'text': ['hello there']}))\n"
        "assert out['action'].tolist() == ['allow']"
    )
    assert "pandas" in imported_after(code)
