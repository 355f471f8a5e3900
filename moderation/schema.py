"""Column names, vocabularies and the validation step shared by every step of the flow.

The flow is read → **validate** → thread context → features → models → rules → write.
The contract users rely on lives here: canonical input columns, the score columns,
the decision columns and the actions. Steps refer to these constants rather than
spelling column names out.

`validate_comments` is the boundary check: it gives the canonical columns their
canonical dtype and states every per-row problem (empty text, duplicate or missing
ids, broken parent links) in the ``problems`` column instead of dropping rows,
because the output promises one row per input comment, in order.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd

# The contract's names live in moderation.contract (importable without pandas); they are
# re-exported here, where the rest of the batch flow looks for them.
from moderation.contract import (
    ACTION,
    ARTICLE_AUTHOR,
    ARTICLE_BODY,
    ARTICLE_TITLE,
    AUTHOR,
    COMMENT_ID,
    DEPTH,
    IDENTITY_ATTACK,
    INSULT,
    LABELS,
    MAX_TEXT_CHARS,
    OFF_TOPIC,
    PARENT_ID,
    PARENT_TEXT,
    PRIORITY,
    PROBLEM_SEPARATOR,
    PROBLEMS,
    PROFANITY,
    REASONS,
    ROOT_ID,
    ROOT_TEXT,
    SCORES,
    SEVERE_TOXICITY,
    SIBLING_INDEX,
    TEXT,
    THREAD_ID,
    THREAD_PATH,
    THREAT,
    TOXICITY,
    Action,
)
from moderation.errors import InputError

__all__ = [
    "ACTION",
    "ARTICLE_AUTHOR",
    "ARTICLE_BODY",
    "ARTICLE_COLUMNS",
    "ARTICLE_TITLE",
    "AUTHOR",
    "BODY",
    "COMMENT_ID",
    "CONTEXT_COLUMNS",
    "CREATED_AT",
    "DEPTH",
    "IDENTITY_ATTACK",
    "INPUT_COLUMNS",
    "INSULT",
    "LABELS",
    "MAX_TEXT_CHARS",
    "MISSING_PARENT",
    "OFF_TOPIC",
    "PARENT_ID",
    "PARENT_TEXT",
    "PRIORITY",
    "PROBLEMS",
    "PROBLEM_SEPARATOR",
    "PROFANITY",
    "REASONS",
    "REQUIRED_COLUMNS",
    "ROOT_ID",
    "ROOT_TEXT",
    "SCORES",
    "SEVERE_TOXICITY",
    "SIBLING_INDEX",
    "TEXT",
    "TEXT_COLUMNS",
    "THREAD_ID",
    "THREAD_PATH",
    "THREAT",
    "TITLE",
    "TOP_LEVEL",
    "TOXICITY",
    "Action",
    "find_cycles",
    "has_surrogates",
    "invalid_text_problem",
    "replace_surrogates",
    "require_columns",
    "resolve_parents",
    "validate_comments",
]

CREATED_AT = "created_at"
INPUT_COLUMNS = (COMMENT_ID, THREAD_ID, PARENT_ID, AUTHOR, TEXT, CREATED_AT)
REQUIRED_COLUMNS = (COMMENT_ID, TEXT)

# Canonical columns of an articles file.
TITLE = "title"
BODY = "body"
ARTICLE_COLUMNS = (THREAD_ID, TITLE, BODY)

# Thread context added by `thread.attach_context` (internal; only some reach the output).
CONTEXT_COLUMNS = (
    PARENT_TEXT,
    ROOT_ID,
    ROOT_TEXT,
    DEPTH,
    THREAD_PATH,
    SIBLING_INDEX,
    ARTICLE_TITLE,
    ARTICLE_BODY,
    ARTICLE_AUTHOR,
)

# Validation ---------------------------------------------------------------------------------

TEXT_COLUMNS = (COMMENT_ID, THREAD_ID, PARENT_ID, AUTHOR, TEXT)
"""Canonical columns held as strings (missing values become "")."""

TOP_LEVEL = -1
"""`resolve_parents` value for a comment without a parent."""
MISSING_PARENT = -2
"""`resolve_parents` value for a comment whose parent is not in the export."""

_SURROGATES = re.compile("[\ud800-\udfff]")
_CYCLE_IDS_SHOWN = 8
_QUOTE_CHARS = 80


def replace_surrogates(value: str) -> str:
    """Return `value` with undecodable bytes replaced by U+FFFD.

    Readers decode with ``errors="surrogateescape"`` so that one bad byte does not
    abort a whole file; this turns the smuggled bytes back into the replacement
    character a browser would show (any other lone surrogate becomes U+FFFD too).
    """
    try:
        return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    except UnicodeEncodeError:
        return _SURROGATES.sub("\ufffd", value)


def has_surrogates(value: str) -> bool:
    """Return whether `value` holds undecodable bytes (lone surrogates)."""
    return _SURROGATES.search(value) is not None


def invalid_text_problem(column: str) -> str:
    """Problem recorded for a cell whose undecodable bytes were replaced."""
    return f"invalid UTF-8 in '{column}' (bytes replaced with U+FFFD)"


def require_columns(frame: pd.DataFrame, required: Sequence[str], *, source: str) -> None:
    """Raise `InputError` naming the first required column `frame` lacks.

    Parameters
    ----------
    frame : DataFrame
        Table to check.
    required : sequence of str
        Canonical column names that must be present.
    source : str
        Where the table came from (a path), used to start the message.

    Raises
    ------
    InputError
        Naming the missing column, listing the columns found and how to map one.
    """
    missing = [name for name in required if name not in frame.columns]
    if not missing:
        return
    name = missing[0]
    found = ", ".join(f"'{column}'" for column in frame.columns) or "none"
    raise InputError(
        f"{source}: missing required column '{name}'; columns found: {found}. "
        f"Map one of yours with --map {name}=<column> "
        f"(library: columns={{'{name}': '<column>'}})."
    )


def validate_comments(comments: pd.DataFrame) -> pd.DataFrame:
    """Return a copy of `comments` with canonical dtypes and every per-row problem stated.

    Rows are never dropped or reordered: the output promises one row per input
    comment, so a bad row keeps its place and says what is wrong with it.

    Parameters
    ----------
    comments : DataFrame
        A comment export, e.g. from `moderation.io.read_comments`. Needs
        ``comment_id`` and ``text``; ``thread_id``, ``parent_id``, ``author`` and
        ``created_at`` are optional and are not added when absent (downstream
        steps treat them as empty; without ``thread_id`` all comments form one
        thread). Other columns pass through untouched.

    Returns
    -------
    DataFrame
        Same index, rows and columns (plus ``problems`` if it was absent). The
        canonical text columns are ``str`` with "" for missing values; ``problems``
        holds ``"; "``-joined sentence fragments, "" when the row is fine.

    Raises
    ------
    InputError
        If ``comment_id`` or ``text`` is missing, or column names repeat.

    Notes
    -----
    A ``parent_id`` that names no comment counts as top-level when it is empty,
    ``"0"`` (WordPress) or the comment's own ``thread_id`` (Reddit's ``t3_`` link
    ids); otherwise it is reported as not found. Duplicate ids resolve to their
    first occurrence. Everything is vectorised or dict-based: a million rows
    validate in seconds.
    """
    require_columns(comments, REQUIRED_COLUMNS, source="comments")
    if comments.columns.has_duplicates:
        repeated = sorted({str(c) for c in comments.columns[comments.columns.duplicated()]})
        raise InputError(f"comments: column names repeat: {', '.join(repeated)}")
    out = comments.copy()
    found: dict[int, list[str]] = {}

    for column in TEXT_COLUMNS:
        if column in out.columns:
            out[column], repaired = _as_text(out[column])
            _note(found, repaired, invalid_text_problem(column))
    if CREATED_AT in out.columns and not pd.api.types.is_datetime64_any_dtype(out[CREATED_AT]):
        out[CREATED_AT], repaired = _as_text(out[CREATED_AT])
        _note(found, repaired, invalid_text_problem(CREATED_AT))

    ids = out[COMMENT_ID].to_numpy(dtype=object)
    text = out[TEXT]
    _note(found, np.flatnonzero(text.str.strip() == ""), "empty text")
    _note(found, np.flatnonzero(out[COMMENT_ID].str.strip() == ""), "missing comment_id")

    index, first_pos = _first_occurrences(ids)
    duplicate = np.flatnonzero(pd.Series(ids).duplicated().to_numpy() & (ids != ""))
    firsts = first_pos[index.get_indexer(pd.Index(ids[duplicate], dtype=object))]
    for pos, first in zip(duplicate.tolist(), firsts.tolist(), strict=True):
        _add(found, pos, f"duplicate comment_id {_quote(ids[pos])} (first at row {first + 1})")

    parents = resolve_parents(out)
    parent_ids = _values(out, PARENT_ID)
    for pos in np.flatnonzero(parents == MISSING_PARENT).tolist():
        _add(found, pos, f"parent_id {_quote(parent_ids[pos])} not found in this export")
    for cycle in find_cycles(parents):
        names = [str(ids[pos]) for pos in cycle]
        for offset, pos in enumerate(cycle):
            _add(found, pos, f"parent cycle: {_cycle_text(names[offset:] + names[:offset])}")
    if THREAD_ID in out.columns:
        threads = out[THREAD_ID].to_numpy(dtype=object)
        linked = np.flatnonzero(parents >= 0)
        elsewhere = linked[threads[linked] != threads[parents[linked]]]
        for pos in elsewhere.tolist():
            _add(
                found,
                pos,
                f"parent {_quote(parent_ids[pos])} is in thread "
                f"{_quote(threads[parents[pos]])}, not {_quote(threads[pos])}",
            )

    lengths = text.str.len().to_numpy()
    for pos in np.flatnonzero(lengths > MAX_TEXT_CHARS).tolist():
        _add(
            found,
            pos,
            f"text is {lengths[pos]:,} characters; scored on the first {MAX_TEXT_CHARS:,}",
        )

    out[PROBLEMS] = _merge_problems(out, found)
    return out


def resolve_parents(comments: pd.DataFrame) -> npt.NDArray[np.int64]:
    """Return the row position of each comment's parent.

    Parameters
    ----------
    comments : DataFrame
        Comments with ``comment_id`` and optionally ``parent_id`` and ``thread_id``.

    Returns
    -------
    ndarray of int64
        For each row: the position of the parent's first occurrence, `TOP_LEVEL`
        (no parent; see `validate_comments` for what counts as none) or
        `MISSING_PARENT` (the parent is not in the export).
    """
    ids = np.asarray(_values(comments, COMMENT_ID), dtype=object)
    parents = pd.Series(_values(comments, PARENT_ID), dtype="str")
    threads = np.asarray(_values(comments, THREAD_ID), dtype=object)
    index, first_pos = _first_occurrences(ids)
    hit = index.get_indexer(pd.Index(parents, dtype=object))
    # No usable ids at all (every comment_id empty): nothing can be a parent.
    found = first_pos[np.maximum(hit, 0)] if len(first_pos) else np.zeros(len(hit), dtype=np.intp)
    positions = np.where(hit >= 0, found, MISSING_PARENT).astype(np.int64)
    parent_values = parents.to_numpy(dtype=object)
    blank = (parents.str.strip() == "").to_numpy(dtype=bool)
    marker = (positions == MISSING_PARENT) & ((parent_values == "0") | (parent_values == threads))
    positions[blank | marker] = TOP_LEVEL
    return positions


def find_cycles(parents: npt.NDArray[np.int64]) -> list[list[int]]:
    """Return every parent cycle, each as row positions in parent-following order.

    Pointer doubling finds the rows on a cycle in O(n log n) array operations
    (after n steps up the parent links every walk is on its cycle), so even a
    million rows take no Python loop; only cycle members are then walked.

    Parameters
    ----------
    parents : ndarray of int64
        Output of `resolve_parents`.

    Returns
    -------
    list of list of int
        One list per cycle, starting at its lowest position; a comment that is
        its own parent is a cycle of one.
    """
    n = len(parents)
    step = np.append(np.where(parents >= 0, parents, n), n)
    reach = 1
    while reach <= n:
        step = step[step]
        reach *= 2
    on_cycle = np.zeros(n + 1, dtype=bool)
    on_cycle[step] = True
    cycles: list[list[int]] = []
    seen: set[int] = set()
    for start in np.flatnonzero(on_cycle[:n]).tolist():
        if start in seen:
            continue
        cycle = [start]
        node = int(parents[start])
        while node != start:
            cycle.append(node)
            node = int(parents[node])
        seen.update(cycle)
        cycles.append(cycle)
    return cycles


def _as_text(series: pd.Series) -> tuple[pd.Series, list[int]]:
    """Return `series` as ``str`` with "" for missing values, and the positions repaired."""
    if isinstance(series.dtype, pd.StringDtype):
        return series.fillna("").astype("str"), []
    if pd.api.types.is_float_dtype(series.dtype):
        values: list[str] = [_float_text(value) for value in series.tolist()]
    elif series.dtype == object:
        values = [_scalar_text(value) for value in series.tolist()]
    else:
        values = series.astype("str").fillna("").tolist()
    try:
        return pd.Series(values, index=series.index, name=series.name, dtype="str"), []
    except UnicodeEncodeError:
        repaired = [pos for pos, value in enumerate(values) if has_surrogates(value)]
        for pos in repaired:
            values[pos] = replace_surrogates(values[pos])
        return pd.Series(values, index=series.index, name=series.name, dtype="str"), repaired


def _scalar_text(value: object) -> str:
    if isinstance(value, str):
        return value
    if value is None or value is pd.NA or value is pd.NaT:
        return ""
    if isinstance(value, float):
        return _float_text(value)
    return str(value)


def _float_text(value: float) -> str:
    # Ids read into a float column (because one was missing) should print as 7, not 7.0.
    if value != value:
        return ""
    return str(int(value)) if value.is_integer() else repr(value)


def _values(frame: pd.DataFrame, column: str) -> list[str]:
    if column not in frame.columns:
        return [""] * len(frame)
    values: list[str] = _as_text(frame[column])[0].tolist()
    return values


def _first_occurrences(
    ids: npt.NDArray[np.object_],
) -> tuple[pd.Index, npt.NDArray[np.intp]]:
    """Index of the distinct non-empty ids and the row position of each one's first occurrence."""
    first = ~pd.Series(ids).duplicated().to_numpy() & (ids != "")
    return pd.Index(ids[first], dtype=object), np.flatnonzero(first)


def _note(found: dict[int, list[str]], positions: Iterable[int], message: str) -> None:
    for pos in positions:
        _add(found, int(pos), message)


def _add(found: dict[int, list[str]], pos: int, message: str) -> None:
    found.setdefault(pos, []).append(message)


def _merge_problems(frame: pd.DataFrame, found: dict[int, list[str]]) -> pd.Series:
    """Extend the existing ``problems`` column, skipping messages already stated."""
    existing = _values(frame, PROBLEMS)
    for pos, messages in found.items():
        parts = [part for part in existing[pos].split(PROBLEM_SEPARATOR) if part]
        parts.extend(message for message in messages if message not in parts)
        existing[pos] = PROBLEM_SEPARATOR.join(parts)
    return pd.Series(existing, index=frame.index, name=PROBLEMS, dtype="str")


def _quote(value: object) -> str:
    text = str(value)
    if len(text) > _QUOTE_CHARS:
        text = text[: _QUOTE_CHARS - 1] + "…"
    return f"'{text}'"


def _cycle_text(names: list[str]) -> str:
    shown = [_quote(name)[1:-1] for name in names[:_CYCLE_IDS_SHOWN]]
    if len(names) > _CYCLE_IDS_SHOWN:
        shown.append(f"... ({len(names)} comments)")
    return " -> ".join([*shown, shown[0]])
