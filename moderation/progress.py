"""A one-line progress bar for long batch runs: rows done, rows/s and time left.

The library never prints, so `moderation.batch` only calls a `Progress`'s
``start`` / ``advance`` / ``finish``; the CLI decides whether it draws. A bar is
drawn on standard error only when that is a terminal (a redirected or piped run
stays clean) and never with ``--quiet``. It is a small class of our own rather
than tqdm or rich: the CLI needs one bar, redrawn at most a few times a second,
and a dependency for that would be paid by every install.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

__all__ = ["Progress", "render"]

#: Redraw at most this often (seconds).
REDRAW_EVERY = 0.2
_BAR = 24


def render(label: str, done: int, total: int | None, elapsed: float, base: int = 0) -> str:
    """The bar's text: ``label  42% |██████    | 4,200/10,000 rows  1,234 rows/s  ETA 0:00:05``.

    The rate counts the rows done in `elapsed` seconds, i.e. beyond `base` (rows a
    resumed run found done). Without a `total` there is no percentage, bar or ETA.
    """
    rate = (done - base) / elapsed if elapsed > 0 else 0.0
    speed = f"{rate:,.0f} rows/s"
    if not total:
        return f"{label}  {done:,} rows  {speed}"
    share = min(done / total, 1.0)
    filled = round(share * _BAR)
    bar = "█" * filled + " " * (_BAR - filled)
    left = (total - done) / rate if rate > 0 else None
    eta = "ETA --:--:--" if left is None else f"ETA {_clock(left)}"
    return f"{label} {share:4.0%} |{bar}| {done:,}/{total:,} rows  {speed}  {eta}"


def _clock(seconds: float) -> str:
    whole = max(round(seconds), 0)
    return f"{whole // 3600}:{whole // 60 % 60:02d}:{whole % 60:02d}"


class Progress:
    """Draws `render` on a terminal stream; does nothing when disabled.

    Parameters
    ----------
    stream
        Where to draw (default: standard error).
    enabled
        Draw at all; None draws only when `stream` is a terminal.
    clock
        Monotonic time source (tests pass their own).
    """

    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        enabled: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.clock = clock
        self.label = ""
        self.total: int | None = None
        self.done = 0
        self.base = 0
        self.shown = -1
        self.started = 0.0
        self.drawn = -1.0
        self.width = 0

    def start(self, label: str, total: int | None = None, done: int = 0) -> None:
        """Begin a phase; `done` rows already finished (a resumed run) do not count in the rate."""
        self.label, self.total, self.done, self.base = label, total, done, done
        self.started = self.clock()
        self.drawn = -1.0
        self._draw(force=True)

    def advance(self, rows: int) -> None:
        """`rows` more rows are done."""
        self.update(self.done + rows)

    def update(self, done: int) -> None:
        """`done` rows are done in all."""
        self.done = done
        self._draw(force=False)

    def finish(self) -> None:
        """Draw the final state and end the line."""
        if self.enabled and self.drawn >= 0:
            if self.shown != self.done:
                self._draw(force=True)
            self.stream.write("\n")
            self.stream.flush()
        self.drawn = -1.0

    def _draw(self, *, force: bool) -> None:
        if not self.enabled:
            return
        now = self.clock()
        if not force and self.drawn >= 0 and now - self.drawn < REDRAW_EVERY:
            return
        self.drawn, self.shown = now, self.done
        text = render(self.label, self.done, self.total, now - self.started, self.base)
        pad = " " * max(self.width - len(text), 0)
        self.width = len(text)
        self.stream.write("\r" + text + pad)
        self.stream.flush()
