"""Rule conditions: numeric ranges, text matches, value sets, and all / any / not.

Used by :mod:`moderation.rules` (… → scores → dynamics → **rules**). Every
condition turns a frame into a boolean mask, vectorised where it can be, and
answers for one record (a mapping of column -> value) with the same semantics,
which the single-comment path uses without building a frame (pandas is imported
only by the frame methods).

Text matching runs on RE2 (``google-re2``), a regular-expression engine that
guarantees linear time: a rules file cannot contain a pattern that takes
exponential time on one crafted comment and stalls a batch. Unless a rule is
case-sensitive, a text is matched both as written (case-folded) and in the
obfuscation-aware normal form the model uses (:func:`moderation.normalize.normalize_text`:
full-width letters, zero-width characters, stretched letters), so a word list
catches full-width "idiot" and "idiooooot" as "idiot".
"""

from __future__ import annotations

import contextlib
import math
import operator
import os
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import re2

from moderation.normalize import normalize_text

if TYPE_CHECKING:
    import pandas as pd

#: How a text condition matches its patterns.
TEXT_KINDS = ("includes-word", "includes", "starts-with", "ends-with", "full-exact", "regex")
COMPARISONS: dict[str, Callable[[Any, Any], Any]] = {
    ">=": operator.ge,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
    ">": operator.gt,
    "<": operator.lt,
}


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Silence RE2's C++ logger, which writes parse errors straight to file descriptor 2."""
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def compile_safe(pattern: str) -> re2._Regexp[str]:
    """Compile with RE2 or raise ``ValueError`` saying why (e.g. look-behind is unsupported)."""
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"not a valid regular expression: {exc}") from None
    try:
        with _quiet_stderr():
            return re2.compile(pattern)
    except re2.error as exc:
        detail = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        raise ValueError(
            f"not supported by the linear-time engine (RE2): {detail}; "
            "back-references and look-around are not available"
        ) from None


@dataclass(frozen=True)
class Range:
    """``column`` compared with one bound, or inside an inclusive ``[low, high]``.

    ``precision`` set (e.g. ``"0.8"``) means the bound is the model bundle's
    threshold for ``column`` at that held-out precision, filled in by
    :func:`moderation.rules.apply_rules` before the rule runs.
    """

    column: str
    op: str
    value: float
    high: float | None = None
    precision: str | None = None

    def mask(self, frame: pd.DataFrame) -> np.ndarray:
        import pandas as pd

        values = pd.to_numeric(frame[self.column], errors="coerce").to_numpy(dtype=float)
        with np.errstate(invalid="ignore"):
            if self.high is not None:
                hit = np.asarray((values >= self.value) & (values <= self.high), dtype=bool)
            else:
                hit = np.asarray(COMPARISONS[self.op](values, self.value), dtype=bool)
        out: np.ndarray = hit & ~np.isnan(values)
        return out

    def holds(self, row: Mapping[str, object]) -> bool:
        """:meth:`mask` for one record: a value that is not a number never holds."""
        value = _number(row[self.column])
        if math.isnan(value):
            return False
        if self.high is not None:
            return self.value <= value <= self.high
        return bool(COMPARISONS[self.op](value, self.value))

    def columns(self) -> list[str]:
        return [self.column]

    def matched(self, row: dict[str, object]) -> list[str]:
        return []


def _number(value: object) -> float:
    """``pd.to_numeric(errors="coerce")`` of one value (NaN when it is not a number)."""
    if type(value) is float:  # the common case, first
        return value
    if isinstance(value, bool | int | float | np.integer | np.floating):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return math.nan
    return math.nan


@dataclass(frozen=True)
class TextMatch:
    """A text column matched against patterns; a list matches if any item does."""

    column: str
    kind: str
    patterns: tuple[str, ...]
    case_sensitive: bool = False

    def regex(self) -> re2._Regexp[str]:
        """The whole condition as one RE2 pattern."""
        if self.kind == "regex":
            body = "|".join(f"(?:{p})" for p in self.patterns)
        else:
            body = "|".join(re.escape(p) for p in self.patterns)
        shaped = {
            "includes-word": rf"(?:^|\W)({body})(?:\W|$)",
            "includes": f"({body})",
            "starts-with": rf"^\s*({body})",
            "ends-with": rf"({body})\s*$",
            "full-exact": rf"^\s*({body})\s*$",
            "regex": f"({body})",
        }[self.kind]
        return compile_safe(shaped if self.case_sensitive else f"(?i){shaped}")

    def _forms(self, value: str) -> tuple[str, ...]:
        return (value,) if self.case_sensitive else (value, normalize_text(value))

    def find(self, value: str, compiled: re2._Regexp[str] | None = None) -> str | None:
        """The first matching piece of ``value`` (as written or normalised), or ``None``."""
        compiled = compiled or self._compiled()
        for form in self._forms(value):
            found = compiled.search(form)
            if found is not None:
                return str(found.group(1))
        return None

    def mask(self, frame: pd.DataFrame) -> np.ndarray:
        compiled = self.regex()
        values = frame[self.column].astype(str).fillna("").to_numpy()
        return np.array([self.find(str(v), compiled) is not None for v in values], dtype=bool)

    def holds(self, row: Mapping[str, object]) -> bool:
        """:meth:`mask` for one record (the value must be a string)."""
        return self.find(str(row[self.column]), self._compiled()) is not None

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "_regex"}  # RE2 does not pickle

    def _compiled(self) -> re2._Regexp[str]:
        """:meth:`regex`, compiled once per condition (a record is matched many times)."""
        found: re2._Regexp[str] | None = self.__dict__.get("_regex")
        if found is None:
            found = self.regex()
            object.__setattr__(self, "_regex", found)
        return found

    def columns(self) -> list[str]:
        return [self.column]

    def matched(self, row: dict[str, object]) -> list[str]:
        found = self.find(str(row.get(self.column, "")))
        return [found] if found is not None else []


@dataclass(frozen=True)
class InSet:
    """``column`` equals one of ``values`` exactly (scoping a rule to threads or sites)."""

    column: str
    values: frozenset[str]

    def mask(self, frame: pd.DataFrame) -> np.ndarray:
        return frame[self.column].astype(str).isin(self.values).to_numpy(dtype=bool)

    def holds(self, row: Mapping[str, object]) -> bool:
        """:meth:`mask` for one record (the value must be a string)."""
        return str(row[self.column]) in self.values

    def columns(self) -> list[str]:
        return [self.column]

    def matched(self, row: dict[str, object]) -> list[str]:
        return []


@dataclass(frozen=True)
class All:
    """Every part holds."""

    parts: tuple[Condition, ...]

    def mask(self, frame: pd.DataFrame) -> np.ndarray:
        masks = [part.mask(frame) for part in self.parts]
        return np.logical_and.reduce(masks) if masks else np.ones(len(frame), dtype=bool)

    def holds(self, row: Mapping[str, object]) -> bool:
        # Every part is evaluated, as the masks are (a missing column raises either way).
        return all([part.holds(row) for part in self.parts])

    def columns(self) -> list[str]:
        return [c for p in self.parts for c in p.columns()]

    def matched(self, row: dict[str, object]) -> list[str]:
        return [m for p in self.parts for m in p.matched(row)]


@dataclass(frozen=True)
class Any_(All):
    """At least one part holds."""

    def mask(self, frame: pd.DataFrame) -> np.ndarray:
        masks = [part.mask(frame) for part in self.parts]
        return np.logical_or.reduce(masks) if masks else np.zeros(len(frame), dtype=bool)

    def holds(self, row: Mapping[str, object]) -> bool:
        return any([part.holds(row) for part in self.parts])


@dataclass(frozen=True)
class Not:
    """The part does not hold."""

    part: Condition

    def mask(self, frame: pd.DataFrame) -> np.ndarray:
        return ~self.part.mask(frame)

    def holds(self, row: Mapping[str, object]) -> bool:
        return not self.part.holds(row)

    def columns(self) -> list[str]:
        return self.part.columns()

    def matched(self, row: dict[str, object]) -> list[str]:
        return []


Condition = Range | TextMatch | InSet | All | Any_ | Not
